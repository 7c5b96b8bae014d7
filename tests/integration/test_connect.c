/* SPDX-License-Identifier: MIT */
/* Outbound connections (zg_reactor_connect) and Unix-domain listeners:
 *  - connect to an echo server over IPv4 (and IPv6 where the host has
 *    it) with a handler of its own, writing before the connect completes;
 *  - refused: on_close(-ECONNREFUSED) without on_open, nothing leaks;
 *  - a peer that never completes the handshake: -ETIMEDOUT;
 *  - a graceful close while connecting sends what was queued, then FIN;
 *  - a source address (port 0: chosen at connect);
 *  - Unix-domain sockets: a path, the abstract namespace, what happens to
 *    an existing file (ZG_LISTEN_UNLINK), and a two-thread server on a
 *    "unix:" host;
 *  - immediate errors: no callback at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "itest.h"

struct client {
	int opens, closes, reason;
	size_t got;
	char buf[256];
	struct zg_conn *c;
};

static void cl_open(struct zg_conn *c)
{
	struct client *k = zg_conn_udata(c);
	k->opens++;
}

static void cl_data(struct zg_conn *c)
{
	struct client *k = zg_conn_udata(c);
	struct zg_read_view v;

	zg_conn_read(c, &v);
	for (unsigned i = 0; i < v.nsegs; i++) {
		size_t n = v.segs[i].iov_len;
		if (k->got + n > sizeof(k->buf))
			n = sizeof(k->buf) - k->got;
		memcpy(k->buf + k->got, v.segs[i].iov_base, n);
		k->got += n;
	}
	zg_conn_advance(c, v.len, v.len);
}

static void cl_close(struct zg_conn *c, int reason)
{
	struct client *k = zg_conn_udata(c);
	k->closes++;
	k->reason = reason;
}

static const struct zg_handler client_h = { .on_open = cl_open, .on_data = cl_data,
					    .on_close = cl_close };
static const struct zg_handler echo_h = { .on_data = it_echo_on_data };

/* A lone reactor whose own handler echoes; clients get client_h. */
static struct zg_reactor *reactor(void)
{
	struct zg_reactor_config cfg;
	struct zg_reactor *r;

	it_reactor_config(&cfg);
	assert_int_equal(zg_reactor_new(&cfg, &echo_h, NULL, &r), 0);
	return r;
}

static int connect_client(struct zg_reactor *r, const struct sockaddr *a, socklen_t len,
			  struct client *k, unsigned timeout_ms)
{
	struct zg_connect_opts o;

	zg_connect_opts_init(&o);
	o.handler = &client_h;
	o.udata = k;
	o.timeout_ms = timeout_ms;
	return zg_reactor_connect(r, a, len, &o, &k->c);
}

/* Connect, write before connected, get the echo, close: on_open once,
 * on_close(0) once. */
static void echo_roundtrip(struct zg_reactor *r, const struct sockaddr *a, socklen_t len)
{
	struct client k = { 0 };

	assert_int_equal(connect_client(r, a, len, &k, 5000), 0);
	assert_int_equal(zg_conn_write(k.c, "hello", 5), 0); /* still connecting */
	assert_true(IT_PUMP(r, k.got == 5));
	assert_int_equal(k.opens, 1);
	assert_memory_equal(k.buf, "hello", 5);
	zg_conn_close(k.c, ZG_CLOSE_GRACEFUL);
	assert_true(IT_PUMP(r, k.closes == 1));
	assert_int_equal(k.reason, 0);
}

static void test_connect_tcp(void **state)
{
	struct sockaddr_storage ss;
	struct zg_reactor *r = reactor();
	socklen_t len = it_addr(AF_INET, 0, &ss);
	uint16_t port;

	(void)state;
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss, len, 0, 0, &port), 0);
	len = it_addr(AF_INET, port, &ss);
	echo_roundtrip(r, (struct sockaddr *)&ss, len);
	if (it_have_ipv6()) {
		len = it_addr(AF_INET6, 0, &ss);
		assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss, len, 0,
						   ZG_LISTEN_V6ONLY, &port), 0);
		len = it_addr(AF_INET6, port, &ss);
		echo_roundtrip(r, (struct sockaddr *)&ss, len);
	}
	assert_true(IT_PUMP(r, zg_reactor_conn_count(r) == 0));
	it_reactor_end(r);
}

static void test_connect_refused(void **state)
{
	struct sockaddr_storage ss;
	struct zg_reactor *r = reactor();
	struct zg_reactor_stats st;
	struct client k = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	socklen_t len = it_addr(AF_INET, 0, &ss);
	uint16_t port;

	(void)state;
	/* a port that was just free: bound, then closed */
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	port = it_local_port(fd);
	close(fd);
	len = it_addr(AF_INET, port, &ss);
	assert_int_equal(connect_client(r, (struct sockaddr *)&ss, len, &k, 5000), 0);
	assert_int_equal(zg_conn_write(k.c, "lost", 4), 0);
	assert_true(IT_PUMP(r, k.closes == 1));
	assert_int_equal(k.opens, 0);
	assert_int_equal(k.reason, -ECONNREFUSED);
	zg_reactor_stats(r, &st);
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.closed, 1);
	assert_int_equal(zg_reactor_conn_count(r), 0);
	it_reactor_end(r);
}

/* A listener with a full accept queue drops SYNs: the handshake never
 * completes, so only the connect timeout ends it. */
static void test_connect_timeout(void **state)
{
	struct sockaddr_storage ss;
	struct zg_reactor *r = reactor();
	struct client k = { 0 };
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4];
	socklen_t len = it_addr(AF_INET, 0, &ss);
	uint64_t t0;

	(void)state;
	assert_int_equal(bind(lfd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(lfd, 0), 0);
	len = it_addr(AF_INET, it_local_port(lfd), &ss);
	for (int i = 0; i < 4; i++) { /* fill the queue; later ones hang */
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&ss, len);
	}
	it_nap_us(50000);
	t0 = it_now_ms();
	assert_int_equal(connect_client(r, (struct sockaddr *)&ss, len, &k, 300), 0);
	assert_true(IT_PUMP(r, k.closes == 1));
	print_message("connect timed out after %llu ms\n", (unsigned long long)(it_now_ms() - t0));
	assert_int_equal(k.opens, 0);
	assert_int_equal(k.reason, -ETIMEDOUT);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
	it_reactor_end(r);
}

/* A plain peer: accept one connection, read until EOF. */
static ssize_t accept_read_all(int lfd, char *buf, size_t cap)
{
	int fd = accept(lfd, NULL, NULL);
	size_t got = 0;
	ssize_t k;

	if (fd < 0)
		return -errno;
	while ((k = it_recv_exact(fd, buf + got, 1, 5000)) == 1 && got < cap)
		got++;
	close(fd);
	return k == 0 ? (ssize_t)got : -EPROTO;
}

struct peer_arg {
	int lfd;
	char buf[64];
	ssize_t got;
};

static void *peer_main(void *p)
{
	struct peer_arg *a = p;
	a->got = accept_read_all(a->lfd, a->buf, sizeof(a->buf));
	return NULL;
}

static void test_close_while_connecting_sends_first(void **state)
{
	struct sockaddr_storage ss, src;
	struct zg_reactor *r = reactor();
	struct zg_connect_opts o;
	struct client k = { 0 };
	struct peer_arg pa;
	pthread_t t;
	socklen_t len = it_addr(AF_INET, 0, &ss), sl = sizeof(src);

	(void)state;
	pa.lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(pa.lfd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(pa.lfd, 4), 0);
	len = it_addr(AF_INET, it_local_port(pa.lfd), &ss);
	assert_int_equal(pthread_create(&t, NULL, peer_main, &pa), 0);
	zg_connect_opts_init(&o);
	o.handler = &client_h;
	o.udata = &k;
	it_addr(AF_INET, 0, &src); /* 127.0.0.1, port chosen at connect */
	o.bind_addr = (struct sockaddr *)&src;
	o.bind_len = sizeof(struct sockaddr_in);
	assert_int_equal(zg_reactor_connect(r, (struct sockaddr *)&ss, len, &o, &k.c), 0);
	assert_int_equal(zg_conn_write(k.c, "queued then FIN", 15), 0);
	zg_conn_close(k.c, ZG_CLOSE_GRACEFUL);
	/* closed, though the close waits for the connect: no more writes */
	assert_int_equal(zg_conn_write(k.c, "late", 4), -EPIPE);
	assert_null(zg_conn_reserve(k.c, 4));
	assert_int_equal(zg_conn_shutdown(k.c), -EPIPE);
	assert_true(IT_PUMP(r, k.closes == 1));
	pthread_join(t, NULL);
	assert_int_equal(k.opens, 1);
	assert_int_equal(k.reason, 0);
	assert_int_equal(pa.got, 15);
	assert_memory_equal(pa.buf, "queued then FIN", 15);
	(void)sl;
	close(pa.lfd);
	it_reactor_end(r);
}

static void test_immediate_errors(void **state)
{
	struct sockaddr_storage ss;
	struct zg_reactor *r = reactor();
	struct client k = { 0 };
	struct sockaddr sa = { .sa_family = AF_APPLETALK };

	(void)state;
	assert_int_equal(connect_client(r, &sa, sizeof(sa), &k, 100), -EAFNOSUPPORT);
	assert_int_equal(connect_client(r, (struct sockaddr *)&ss, 1, &k, 100), -EINVAL);
	assert_int_equal(zg_reactor_connect(NULL, &sa, sizeof(sa), NULL, NULL), -EINVAL);
	for (int i = 0; i < 3; i++)
		zg_reactor_run_once(r, 5);
	assert_int_equal(k.opens + k.closes, 0);
	it_reactor_end(r);
}

static socklen_t unix_addr(struct sockaddr_un *un, const char *path, bool abstract)
{
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path + abstract, path);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + abstract + strlen(path) +
			   !abstract);
}

static void test_unix_sockets(void **state)
{
	char dir[] = "/tmp/zg-unix-XXXXXX", path[128], name[64];
	struct sockaddr_un un;
	struct zg_reactor *r = reactor();
	socklen_t len;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	len = unix_addr(&un, path, false);
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&un, len, 0, 0, NULL), 0);
	echo_roundtrip(r, (struct sockaddr *)&un, len);
	/* REUSEPORT means nothing for a Unix socket: refused, not ignored */
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&un, len, 0,
					   ZG_LISTEN_REUSEPORT, NULL), -EINVAL);

	/* the abstract namespace: no file at all */
	snprintf(name, sizeof(name), "zg-test-%d", getpid());
	len = unix_addr(&un, name, true);
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&un, len, 0, 0, NULL), 0);
	echo_roundtrip(r, (struct sockaddr *)&un, len);
	it_reactor_end(r);

	/* a socket file left behind: refused unless ZG_LISTEN_UNLINK */
	r = reactor();
	len = unix_addr(&un, path, false);
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&un, len, 0, 0, NULL), -EADDRINUSE);
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&un, len, 0, ZG_LISTEN_UNLINK,
					   NULL), 0);
	echo_roundtrip(r, (struct sockaddr *)&un, len);
	it_reactor_end(r);
	unlink(path);

	/* a regular file at the path is never removed */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	r = reactor();
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&un, len, 0, ZG_LISTEN_UNLINK,
					   NULL), -EADDRINUSE);
	assert_int_equal(access(path, F_OK), 0);
	it_reactor_end(r);
	unlink(path);
	rmdir(dir);
}

static void test_server_on_unix_path(void **state)
{
	char dir[] = "/tmp/zg-unix-XXXXXX", host[128], got[8];
	struct zg_server_config cfg;
	struct zg_server *s;
	struct sockaddr_un un;
	socklen_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(host, sizeof(host), "unix:%s/srv", dir);
	it_server_config(&cfg, 2);
	cfg.host = host;
	s = it_server_start(&cfg, &echo_h, NULL);
	assert_int_equal(zg_server_port(s), 0);
	len = unix_addr(&un, host + 5, false);
	for (int i = 0; i < 8; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(fd, (struct sockaddr *)&un, len), 0);
		assert_int_equal(it_send_all(fd, "ping", 4, 5000), 0);
		assert_int_equal(it_recv_exact(fd, got, 4, 5000), 4);
		assert_memory_equal(got, "ping", 4);
		close(fd);
	}
	it_server_end(s);
	unlink(host + 5);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_tcp),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_close_while_connecting_sends_first),
		cmocka_unit_test(test_immediate_errors),
		cmocka_unit_test(test_unix_sockets),
		cmocka_unit_test(test_server_on_unix_path),
	};

	it_init();
	return cmocka_run_group_tests_name("connect", tests, NULL, NULL);
}
