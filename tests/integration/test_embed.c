/* SPDX-License-Identifier: MIT */
/* Embedding: a lone zg_reactor driven by the test's own thread with
 * zg_reactor_run_once, the test being the client too (non-blocking
 * sockets). Listeners from zg_reactor_listen on 127.0.0.1 and ::1 (with
 * the bound port returned), from zg_reactor_listen_fd on a socket the
 * test bound, SO_REUSEPORT sharing; connections from zg_reactor_adopt of
 * a socketpair and of an accepted TCP socket; accessors; timers waking
 * run_once; adopt after stop; the connection's fd and peer in on_close. */
#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <stddef.h>
#include <sys/un.h>
#include <cmocka.h>

#include "itest.h"

struct app {
	unsigned opens, closes, datas;
	int last_reason;
	struct zg_conn *last;
	struct zg_reactor *r;
	bool bad_reactor;
	/* on_close probe (test_peer_in_on_close) */
	bool probe;
	uint16_t probe_listen_port;
	int probe_fd;          /* a socket opened inside on_close */
	int probe_conn_fd;     /* zg_conn_fd() inside on_close */
	int probe_peer_ret;
	uint16_t probe_peer_port;
};

static void on_open(struct zg_conn *c)
{
	struct zg_reactor *r = zg_conn_reactor(c);
	struct app *a = zg_reactor_udata(r);

	a->opens++;
	a->last = c;
	if (r != a->r || zg_reactor_id(r) != 0)
		a->bad_reactor = true;
}

static void on_data(struct zg_conn *c)
{
	struct app *a = zg_reactor_udata(zg_conn_reactor(c));

	a->datas++;
	it_echo_on_data(c);
}

static void on_close(struct zg_conn *c, int reason)
{
	struct app *a = zg_reactor_udata(zg_conn_reactor(c));

	a->closes++;
	a->last_reason = reason;
	if (a->probe) {
		/* Open a socket connected to our own listener: it gets the
		 * lowest free fd, which is the connection's if that was closed
		 * already. Then ask the connection who its peer is. */
		struct sockaddr_storage ss;
		socklen_t sl = it_addr(AF_INET, a->probe_listen_port, &ss);
		a->probe_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (a->probe_fd >= 0)
			(void)connect(a->probe_fd, (struct sockaddr *)&ss, sl);
		a->probe_conn_fd = zg_conn_fd(c);
		sl = sizeof(ss);
		a->probe_peer_ret = zg_conn_peer(c, (struct sockaddr *)&ss, &sl);
		if (a->probe_peer_ret == 0)
			a->probe_peer_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

static struct zg_reactor *new_reactor(struct app *a)
{
	struct zg_reactor *r;

	memset(a, 0, sizeof(*a));
	a->probe_fd = -1;
	struct zg_reactor_config cfg;

	it_reactor_config(&cfg);
	assert_int_equal(zg_reactor_new(&cfg, &handler, a, &r), 0);
	a->r = r;
	assert_ptr_equal(zg_reactor_udata(r), a);
	assert_int_equal(zg_reactor_id(r), 0);
	return r;
}

/* Send msg on fd (non-blocking) and pump until the echo is back. */
static void echo_via(struct zg_reactor *r, int fd, const char *msg)
{
	size_t n = strlen(msg), got = 0;
	char b[256];

	assert_true(n < sizeof(b));
	assert_int_equal(send(fd, msg, n, MSG_NOSIGNAL), (ssize_t)n);
	assert_true(IT_PUMP(r, ({
		ssize_t k = recv(fd, b + got, sizeof(b) - got, MSG_DONTWAIT);
		if (k > 0)
			got += (size_t)k;
		got >= n;
	})));
	assert_int_equal(got, n);
	assert_memory_equal(b, msg, n);
}

static int nb_connect(int family, uint16_t port)
{
	int fd = it_connect_af(family, port);
	if (fd >= 0)
		it_set_nonblock(fd, true);
	return fd;
}

static void test_listen_v4_and_v6(void **state)
{
	struct app a;
	struct zg_reactor *r = new_reactor(&a);
	struct zg_reactor_stats st;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint16_t p4 = 0, p6 = 0;
	int c4, c6 = -1;
	bool v6 = it_have_ipv6();

	(void)state;
	sl = it_addr(AF_INET, 0, &ss);
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss, sl, 0, 0, &p4), 0);
	assert_int_not_equal(p4, 0);
	if (v6) {
		sl = it_addr(AF_INET6, 0, &ss);
		assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss, sl, 16,
						   ZG_LISTEN_V6ONLY, &p6), 0);
		assert_int_not_equal(p6, 0);
	} else {
		print_message("IPv6 loopback unavailable: ::1 part skipped\n");
	}

	c4 = nb_connect(AF_INET, p4);
	assert_true(c4 >= 0);
	assert_true(IT_PUMP(r, a.opens == 1));
	assert_false(a.bad_reactor);
	assert_int_equal(zg_reactor_conn_count(r), 1);
	echo_via(r, c4, "over IPv4");
	{
		struct sockaddr_in peer, me;
		socklen_t pl = sizeof(peer), ml = sizeof(me);
		assert_int_equal(zg_conn_peer(a.last, (struct sockaddr *)&peer, &pl), 0);
		getsockname(c4, (struct sockaddr *)&me, &ml);
		assert_int_equal(peer.sin_family, AF_INET);
		assert_int_equal(peer.sin_port, me.sin_port);
		assert_true(zg_conn_fd(a.last) >= 0);
	}
	if (v6) {
		struct sockaddr_in6 peer, me;
		socklen_t pl = sizeof(peer), ml = sizeof(me);
		c6 = nb_connect(AF_INET6, p6);
		assert_true(c6 >= 0);
		assert_true(IT_PUMP(r, a.opens == 2));
		echo_via(r, c6, "over IPv6");
		assert_int_equal(zg_conn_peer(a.last, (struct sockaddr *)&peer, &pl), 0);
		getsockname(c6, (struct sockaddr *)&me, &ml);
		assert_int_equal(peer.sin6_family, AF_INET6);
		assert_int_equal(peer.sin6_port, me.sin6_port);
		assert_memory_equal(&peer.sin6_addr, &in6addr_loopback, 16);
		assert_int_equal(zg_reactor_conn_count(r), 2);
	}
	close(c4);
	if (c6 >= 0)
		close(c6);
	assert_true(IT_PUMP(r, a.closes == a.opens));
	assert_int_equal(a.last_reason, 0);
	assert_int_equal(zg_reactor_conn_count(r), 0);
	zg_reactor_stats(r, &st);
	assert_int_equal(st.accepted, a.opens);
	assert_int_equal(st.closed, a.opens);
	it_reactor_end(r);
}

static void test_listen_fd(void **state)
{
	struct app a;
	struct zg_reactor *r = new_reactor(&a);
	struct sockaddr_storage ss;
	socklen_t sl = it_addr(AF_INET, 0, &ss);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	uint16_t port;
	int c;

	(void)state;
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&ss, sl), 0);
	assert_int_equal(listen(lfd, 64), 0);
	port = it_local_port(lfd);
	assert_int_equal(zg_reactor_listen_fd(r, lfd), 0);
	for (unsigned i = 0; i < 5; i++) {
		c = nb_connect(AF_INET, port);
		assert_true(c >= 0);
		echo_via(r, c, "through a socket the test bound");
		close(c);
	}
	assert_true(IT_PUMP(r, a.closes == 5));
	it_reactor_end(r);
	/* the reactor owned the listening socket and closed it */
	assert_int_equal(fcntl(lfd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

static void test_adopt_socketpair(void **state)
{
	struct app a;
	struct zg_reactor *r = new_reactor(&a);
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	it_set_nonblock(sv[1], true);
	assert_int_equal(zg_reactor_adopt(r, sv[0]), 0);
	assert_int_equal(a.opens, 1); /* on_open runs in adopt, on this thread */
	assert_int_equal(zg_conn_fd(a.last), sv[0]);
	for (unsigned i = 0; i < 20; i++)
		echo_via(r, sv[1], "over a socketpair");
	/* a graceful close by the application: FIN to the peer */
	zg_conn_close(a.last, ZG_CLOSE_GRACEFUL);
	{
		char b;
		assert_true(IT_PUMP(r, recv(sv[1], &b, 1, MSG_DONTWAIT) == 0));
	}
	close(sv[1]);
	assert_true(IT_PUMP(r, a.closes == 1));
	assert_int_equal(a.last_reason, 0);
	it_reactor_end(r);
}

static void test_adopt_tcp(void **state)
{
	struct app a;
	struct zg_reactor *r = new_reactor(&a);
	struct sockaddr_storage ss;
	socklen_t sl = it_addr(AF_INET, 0, &ss);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c, s;

	(void)state;
	assert_int_equal(bind(lfd, (struct sockaddr *)&ss, sl), 0);
	assert_int_equal(listen(lfd, 4), 0);
	c = nb_connect(AF_INET, it_local_port(lfd));
	assert_true(c >= 0);
	s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(s >= 0);
	close(lfd);
	assert_int_equal(zg_reactor_adopt(r, s), 0);
	assert_int_equal(a.opens, 1);
	{
		struct sockaddr_in peer, me;
		socklen_t pl = sizeof(peer), ml = sizeof(me);
		assert_int_equal(zg_conn_peer(a.last, (struct sockaddr *)&peer, &pl), 0);
		getsockname(c, (struct sockaddr *)&me, &ml);
		assert_int_equal(peer.sin_port, me.sin_port);
	}
	echo_via(r, c, "adopted TCP");
	/* the peer resets: on_close with an error or 0 */
	it_close_rst(c);
	assert_true(IT_PUMP(r, a.closes == 1));
	assert_true(a.last_reason == 0 || a.last_reason == -ECONNRESET);
	it_reactor_end(r);
}

static void test_reuseport_two_reactors(void **state)
{
	struct app a1, a2;
	struct zg_reactor *r1 = new_reactor(&a1), *r2 = new_reactor(&a2);
	struct sockaddr_storage ss;
	socklen_t sl = it_addr(AF_INET, 0, &ss);
	uint16_t port = 0, port2 = 0;
	int fds[64];

	(void)state;
	assert_int_equal(zg_reactor_listen(r1, (struct sockaddr *)&ss, sl, 0,
					   ZG_LISTEN_REUSEPORT, &port), 0);
	sl = it_addr(AF_INET, port, &ss);
	/* without SO_REUSEPORT the port is taken */
	assert_int_equal(zg_reactor_listen(r2, (struct sockaddr *)&ss, sl, 0, 0, NULL),
			 -EADDRINUSE);
	assert_int_equal(zg_reactor_listen(r2, (struct sockaddr *)&ss, sl, 0,
					   ZG_LISTEN_REUSEPORT, &port2), 0);
	assert_int_equal(port, port2);
	for (unsigned i = 0; i < 64; i++) {
		fds[i] = nb_connect(AF_INET, port);
		assert_true(fds[i] >= 0);
	}
	{
		uint64_t end = it_now_ms() + 5000;
		while (a1.opens + a2.opens < 64 && it_now_ms() < end) {
			zg_reactor_run_once(r1, 0);
			zg_reactor_run_once(r2, 5);
		}
	}
	assert_int_equal(a1.opens + a2.opens, 64);
	for (unsigned i = 0; i < 64; i++)
		close(fds[i]);
	{
		uint64_t end = it_now_ms() + 5000;
		while (a1.closes + a2.closes < 64 && it_now_ms() < end) {
			zg_reactor_run_once(r1, 0);
			zg_reactor_run_once(r2, 5);
		}
	}
	assert_int_equal(a1.closes + a2.closes, 64);
	it_reactor_end(r1);
	it_reactor_end(r2);
}

static unsigned fired;

static void tick(struct zg_timer *t, void *arg)
{
	(void)arg;
	if (++fired == 5)
		zg_timer_stop(t);
}

/* A timer wakes run_once(-1) by itself: nothing else happens here, so
 * a reactor that did not sleep until the timer would block forever (a
 * helper thread stops it after 10 s to keep the test bounded). */
static void *watchdog(void *arg)
{
	struct zg_reactor *r = arg;
	for (int i = 0; i < 1000 && fired < 5; i++)
		it_nap_us(10000);
	if (fired < 5)
		zg_reactor_stop(r, 0);
	return NULL;
}

static void test_timer_wakes_run_once(void **state)
{
	struct app a;
	struct zg_reactor *r = new_reactor(&a);
	struct zg_timer *t;
	pthread_t wd;
	uint64_t t0;

	(void)state;
	fired = 0;
	assert_int_equal(zg_timer_new(r, tick, NULL, &t), 0);
	t0 = zg_reactor_now_ms(r);
	zg_timer_start(t, 20, 20);
	assert_true(zg_timer_active(t));
	assert_int_equal(pthread_create(&wd, NULL, watchdog, r), 0);
	while (fired < 5 && zg_reactor_run_once(r, -1) == 1)
		;
	pthread_join(wd, NULL);
	assert_int_equal(fired, 5);
	assert_false(zg_timer_active(t));
	assert_true(zg_reactor_now_ms(r) >= t0 + 100); /* 5 periods of 20 ms */
	zg_timer_free(t);
	it_reactor_end(r);
}

static void test_adopt_after_stop(void **state)
{
	struct app a;
	struct zg_reactor *r = new_reactor(&a);
	int sv[2];

	(void)state;
	zg_reactor_stop(r, 0);
	while (zg_reactor_run_once(r, 10) == 1)
		;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(zg_reactor_adopt(r, sv[0]), -ESHUTDOWN);
	assert_int_equal(a.opens, 0);
	/* the reactor owns fd even on failure: closed, the peer sees EOF */
	{
		char b;
		assert_int_equal(recv(sv[1], &b, 1, 0), 0);
	}
	close(sv[1]);
	zg_reactor_free(r);
}

/* on_close: "the zg_conn is valid until on_close returns", so
 * zg_conn_fd/zg_conn_peer there must not describe another socket. If
 * the fd is already closed when on_close runs, any socket opened
 * meanwhile (here: by on_close itself) takes its number, and
 * zg_conn_peer answers with that socket's peer. */
static void test_peer_in_on_close(void **state)
{
	struct app a;
	struct zg_reactor *r = new_reactor(&a);
	struct sockaddr_storage ss;
	socklen_t sl = it_addr(AF_INET, 0, &ss);
	uint16_t port, cport;
	int c;

	(void)state;
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss, sl, 0, 0, &port), 0);
	c = nb_connect(AF_INET, port);
	assert_true(c >= 0);
	cport = it_local_port(c);
	echo_via(r, c, "probe");
	a.probe = true;
	a.probe_listen_port = port;
	shutdown(c, SHUT_WR); /* c keeps its fd number: the conn's is the lowest free */
	assert_true(IT_PUMP(r, a.closes == 1));
	if (a.probe_fd >= 0 && a.probe_fd == a.probe_conn_fd && a.probe_peer_ret == 0 &&
	    a.probe_peer_port != cport) {
		close(a.probe_fd);
		fail_msg("in on_close, zg_conn_fd() is %d, already reused by another socket, and "
			 "zg_conn_peer() reports that socket's peer (port %u) instead of the "
			 "client's (port %u)", a.probe_conn_fd, a.probe_peer_port, cport);
	}
	if (a.probe_peer_ret == 0)
		assert_int_equal(a.probe_peer_port, cport);
	if (a.probe_fd >= 0)
		close(a.probe_fd);
	a.probe = false;
	close(c);
	it_reactor_end(r);
}

/* A write (or close) made on the reactor's thread between two run_once
 * calls goes out with the next run_once, even when nothing else
 * happens: the next call must not sleep on it. */
static void test_write_between_run_once_calls(void **state)
{
	struct app a;
	struct zg_reactor *r = new_reactor(&a);
	int sv[2];
	char b[16];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	it_set_nonblock(sv[1], true);
	assert_int_equal(zg_reactor_adopt(r, sv[0]), 0);
	echo_via(r, sv[1], "warm up");
	/* let the loop settle: nothing pending */
	for (int i = 0; i < 3; i++)
		zg_reactor_run_once(r, 0);
	assert_int_equal(zg_conn_write(a.last, "pushed", 6), 0);
	/* one call: it must submit the send (5 s at most, then give up) */
	assert_int_equal(zg_reactor_run_once(r, 5000), 1);
	if (it_recv_exact(sv[1], b, 6, 1000) != 6)
		fail_msg("a write made between run_once calls was not sent by the next call");
	assert_memory_equal(b, "pushed", 6);
	/* the same for a close: FIN with the next call */
	zg_conn_close(a.last, ZG_CLOSE_GRACEFUL);
	assert_int_equal(zg_reactor_run_once(r, 5000), 1);
	if (it_expect_eof(sv[1], 1000) != 0)
		fail_msg("a close made between run_once calls was not carried out by the next call");
	close(sv[1]);
	assert_true(IT_PUMP(r, a.closes == 1));
	it_reactor_end(r);
}

static unsigned zero_fired;

static void zero_again(struct zg_timer *t, void *arg)
{
	(void)arg;
	zero_fired++;
	zg_timer_start(t, 0, 0); /* due at once, again and again */
}

static void on_alarm(int sig)
{
	static const char msg[] = "test_zero_delay_timer_restart: run_once never returned "
				  "(a zero-delay timer restarted from its callback starves the loop)\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/* A timer restarted with zero delay from its own callback runs once per
 * loop iteration, not forever within one. */
static void test_zero_delay_timer_restart(void **state)
{
	struct app a;
	struct zg_reactor *r = new_reactor(&a);
	struct zg_timer *t;

	(void)state;
	zero_fired = 0;
	assert_int_equal(zg_timer_new(r, zero_again, NULL, &t), 0);
	zg_timer_start(t, 0, 0);
	signal(SIGALRM, on_alarm);
	alarm(10);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(zg_reactor_run_once(r, 0), 1);
	alarm(0);
	assert_true(zero_fired >= 1);
	assert_true(zero_fired <= 10);
	zg_timer_free(t);
	it_reactor_end(r);
}

/* A callback may free its own (repeating) timer; other timers go on. */
static unsigned self_fired, other_fired;
static struct zg_timer *self_t;

static void self_free(struct zg_timer *t, void *arg)
{
	(void)arg;
	if (++self_fired == 3) {
		zg_timer_free(t);
		self_t = NULL;
	}
}

static void other(struct zg_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	other_fired++;
}

static void test_timer_frees_itself(void **state)
{
	struct app a;
	struct zg_reactor *r = new_reactor(&a);
	struct zg_timer *o;
	uint64_t end = it_now_ms() + 5000;

	(void)state;
	self_fired = other_fired = 0;
	assert_int_equal(zg_timer_new(r, self_free, NULL, &self_t), 0);
	assert_int_equal(zg_timer_new(r, other, NULL, &o), 0);
	zg_timer_start(self_t, 5, 5);
	zg_timer_start(o, 5, 5);
	while (other_fired < 10 && it_now_ms() < end)
		zg_reactor_run_once(r, -1);
	assert_int_equal(self_fired, 3);
	assert_null(self_t);
	assert_true(other_fired >= 10);
	zg_timer_free(o);
	it_reactor_end(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_v4_and_v6),
		cmocka_unit_test(test_listen_fd),
		cmocka_unit_test(test_adopt_socketpair),
		cmocka_unit_test(test_adopt_tcp),
		cmocka_unit_test(test_reuseport_two_reactors),
		cmocka_unit_test(test_timer_wakes_run_once),
		cmocka_unit_test(test_adopt_after_stop),
		cmocka_unit_test(test_peer_in_on_close),
		cmocka_unit_test(test_write_between_run_once_calls),
		cmocka_unit_test(test_zero_delay_timer_restart),
		cmocka_unit_test(test_timer_frees_itself),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
