/* SPDX-License-Identifier: MIT */
/* Public entry points given sizes, deadlines and sockets at their limits
 * or simply wrong: each is refused with an error (or saturates), never
 * corrupts memory, sends what it must not, or spins.
 *  - write/write_ref/reserve of sizes that would wrap out_len + n;
 *  - commit of more than was reserved, or with no reservation;
 *  - zg_reactor_stop / zg_server_stop with UINT_MAX, and timers started
 *    with UINT64_MAX, which used to wrap to "now";
 *  - zg_reactor_listen_fd on sockets accept cannot work on, and a
 *    listener that breaks after it was added;
 *  - zg_server_start twice, and adopting a live connection's fd. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

static struct zg_conn *conn;
static int closes, close_reason;

static void on_open(struct zg_conn *c) { conn = c; }
static void on_close(struct zg_conn *c, int reason)
{
	(void)c;
	closes++;
	close_reason = reason;
	conn = NULL;
}

/* A lone reactor with one adopted socketpair end; *peer is the other. */
static struct zg_reactor *reactor_with_conn(int *peer)
{
	struct zg_reactor_config cfg;
	struct zg_handler h = { .on_open = on_open, .on_data = it_echo_on_data,
				.on_close = on_close };
	struct zg_reactor *r;
	int sv[2];

	it_reactor_config(&cfg);
	cfg.max_output = 1u << 20;
	closes = 0;
	conn = NULL;
	assert_int_equal(zg_reactor_new(&cfg, &h, NULL, &r), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(zg_reactor_adopt(r, sv[0]), 0);
	assert_non_null(conn);
	*peer = sv[1];
	return r;
}

/* Read what arrives within 200 ms of quiet. */
static size_t drain_peer(struct zg_reactor *r, int peer, uint8_t *b, size_t cap)
{
	size_t got = 0;
	uint64_t quiet = it_now_ms() + 200;
	ssize_t k;

	it_set_nonblock(peer, true);
	while (it_now_ms() < quiet) {
		zg_reactor_run_once(r, 10);
		while (got < cap && (k = recv(peer, b + got, cap - got, 0)) > 0) {
			got += (size_t)k;
			quiet = it_now_ms() + 200;
		}
	}
	return got;
}

static void test_write_sizes_cannot_wrap(void **state)
{
	static uint8_t first[4096], got[8192];
	static const char small[16] = "0123456789abcdef";
	int peer;
	struct zg_reactor *r = reactor_with_conn(&peer);

	(void)state;
	memset(first, 'x', sizeof(first));
	assert_int_equal(zg_conn_write(conn, first, sizeof(first)), 0);
	/* out_len + n wraps to a small number for these */
	assert_int_equal(zg_conn_write_ref(conn, small, SIZE_MAX - 100, NULL, NULL), -ENOBUFS);
	assert_int_equal(zg_conn_write_ref(conn, small, SIZE_MAX, NULL, NULL), -ENOBUFS);
	assert_int_equal(zg_conn_write(conn, small, SIZE_MAX - 10), -ENOBUFS);
	assert_null(zg_conn_reserve(conn, SIZE_MAX - 1000));
	assert_int_equal(zg_conn_pending(conn), sizeof(first));
	/* and with a send in flight */
	zg_reactor_run_once(r, 0);
	assert_int_equal(zg_conn_write_ref(conn, small, SIZE_MAX - 4000, NULL, NULL), -ENOBUFS);
	assert_int_equal(zg_conn_write_ref(conn, small, sizeof(small), NULL, NULL), 0);
	/* exactly the bytes queued arrive, and nothing past them */
	assert_int_equal(drain_peer(r, peer, got, sizeof(got)), sizeof(first) + sizeof(small));
	assert_memory_equal(got, first, sizeof(first));
	assert_memory_equal(got + sizeof(first), small, sizeof(small));
	assert_int_equal(closes, 0);
	it_reactor_end(r);
	close(peer);
}

static void test_commit_beyond_reservation(void **state)
{
	uint8_t got[64];
	char *p;
	int peer;
	struct zg_reactor *r = reactor_with_conn(&peer);

	(void)state;
	assert_int_equal(zg_conn_commit(conn, 1), -EINVAL); /* nothing reserved */
	p = zg_conn_reserve(conn, 8);
	assert_non_null(p);
	memcpy(p, "abcdefgh", 8);
	assert_int_equal(zg_conn_commit(conn, 9), -EINVAL);
	assert_int_equal(zg_conn_commit(conn, SIZE_MAX), -EINVAL);
	assert_int_equal(zg_conn_pending(conn), 0);
	assert_int_equal(zg_conn_commit(conn, 5), 0); /* part, then the rest */
	assert_int_equal(zg_conn_commit(conn, 3), 0);
	assert_int_equal(zg_conn_commit(conn, 1), -EINVAL);
	assert_int_equal(zg_conn_pending(conn), 8);
	assert_int_equal(drain_peer(r, peer, got, sizeof(got)), 8);
	assert_memory_equal(got, "abcdefgh", 8);
	it_reactor_end(r);
	close(peer);
}

static void test_reactor_stop_uint_max(void **state)
{
	int peer;
	struct zg_reactor *r = reactor_with_conn(&peer);
	uint64_t end = it_now_ms() + 5000;

	(void)state;
	zg_reactor_stop(r, UINT_MAX);
	/* an idle connection closes at once, and the reactor stops */
	while (zg_reactor_run_once(r, 10) == 1 && it_now_ms() < end)
		;
	assert_int_equal(closes, 1);
	assert_int_equal(close_reason, -ESHUTDOWN);
	assert_int_equal(zg_reactor_run_once(r, 10), 0);
	zg_reactor_free(r);
	close(peer);
}

static void *wait_server(void *arg)
{
	return (void *)(intptr_t)zg_server_wait(arg);
}

static void test_server_stop_uint_max_and_start_twice(void **state)
{
	struct zg_server_config cfg;
	struct zg_handler h = { .on_data = it_echo_on_data };
	struct zg_server *s;
	struct timespec ts;
	pthread_t t;
	void *ret;

	(void)state;
	it_server_config(&cfg, 2);
	s = it_server_start(&cfg, &h, NULL);
	assert_int_equal(zg_server_start(s), -EALREADY);
	zg_server_stop(s, UINT_MAX);
	assert_int_equal(pthread_create(&t, NULL, wait_server, s), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	assert_int_equal(pthread_timedjoin_np(t, &ret, &ts), 0);
	assert_int_equal((intptr_t)ret, 0);
	zg_server_free(s);
}

static int fired;
static void count_fire(struct zg_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	fired++;
}

static void test_timer_uint64_max(void **state)
{
	struct zg_reactor *r;
	struct zg_timer *t, *rep;

	(void)state;
	assert_int_equal(zg_reactor_new(NULL, NULL, NULL, &r), 0);
	assert_int_equal(zg_timer_new(r, count_fire, NULL, &t), 0);
	assert_int_equal(zg_timer_new(r, count_fire, NULL, &rep), 0);
	fired = 0;
	zg_timer_start(t, UINT64_MAX, 0);
	zg_timer_start(rep, 0, UINT64_MAX); /* once now, then never */
	for (int i = 0; i < 5; i++)
		assert_int_equal(zg_reactor_run_once(r, 10), 1);
	assert_int_equal(fired, 1);
	assert_true(zg_timer_active(t));
	zg_timer_free(t);
	zg_timer_free(rep);
	it_reactor_end(r);
}

static void test_listen_fd_refuses_non_listeners(void **state)
{
	struct sockaddr_storage ss;
	struct zg_reactor *r;
	int tcp, udp, pfd[2];

	(void)state;
	assert_int_equal(zg_reactor_new(NULL, NULL, NULL, &r), 0);
	tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(tcp, (struct sockaddr *)&ss, it_addr(AF_INET, 0, &ss)), 0);
	assert_int_equal(zg_reactor_listen_fd(r, tcp), -EINVAL); /* bound, not listening */
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(zg_reactor_listen_fd(r, udp), -EINVAL);
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(zg_reactor_listen_fd(r, pfd[0]), -EINVAL);
	assert_int_equal(listen(tcp, 16), 0);
	assert_int_equal(zg_reactor_listen_fd(r, tcp), 0); /* the reactor owns it now */
	close(udp);
	close(pfd[0]);
	close(pfd[1]);
	it_reactor_end(r);
}

static int stopped_logs;
static void log_cb(int level, const char *msg, void *arg)
{
	(void)arg;
	if (level == ZG_LOG_ERROR && strstr(msg, "listener stopped"))
		stopped_logs++;
}

/* A listener shut down under the reactor fails every accept at once:
 * re-arming it would loop at full speed. */
static void test_broken_listener_does_not_spin(void **state)
{
	struct zg_reactor_config cfg;
	struct zg_reactor *r;
	struct sockaddr_storage ss;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unsigned passes = 0;
	uint64_t end;

	(void)state;
	it_reactor_config(&cfg);
	cfg.log = log_cb;
	stopped_logs = 0;
	assert_int_equal(zg_reactor_new(&cfg, NULL, NULL, &r), 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&ss, it_addr(AF_INET, 0, &ss)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(zg_reactor_listen_fd(r, lfd), 0);
	zg_reactor_run_once(r, 0);
	shutdown(lfd, SHUT_RDWR);
	/* 300 ms of 20 ms passes: a spinning accept makes thousands */
	for (end = it_now_ms() + 300; it_now_ms() < end; passes++)
		assert_int_equal(zg_reactor_run_once(r, 20), 1);
	print_message("passes in 300 ms: %u\n", passes);
	assert_int_equal(stopped_logs, 1);
	assert_true(passes < 200);
	it_reactor_end(r);
}

static void test_adopt_live_fd_refused(void **state)
{
	uint8_t got[8];
	int peer, fd;
	struct zg_reactor *r = reactor_with_conn(&peer);

	(void)state;
	fd = zg_conn_fd(conn);
	assert_int_equal(zg_reactor_adopt(r, fd), -EEXIST);
	/* the first connection is untouched: it still echoes */
	assert_int_equal(write(peer, "ping", 4), 4);
	assert_int_equal(it_pump_recv(r, peer, got, 4), 4);
	assert_memory_equal(got, "ping", 4);
	assert_int_equal(closes, 0);
	it_reactor_end(r);
	close(peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_sizes_cannot_wrap),
		cmocka_unit_test(test_commit_beyond_reservation),
		cmocka_unit_test(test_reactor_stop_uint_max),
		cmocka_unit_test(test_server_stop_uint_max_and_start_twice),
		cmocka_unit_test(test_timer_uint64_max),
		cmocka_unit_test(test_listen_fd_refuses_non_listeners),
		cmocka_unit_test(test_broken_listener_does_not_spin),
		cmocka_unit_test(test_adopt_live_fd_refused),
	};

	it_init();
	return cmocka_run_group_tests_name("misuse", tests, NULL, NULL);
}
