/* SPDX-License-Identifier: MIT */
/* The client side attacked from outside (the outsider pass of #10):
 * outbound connections against peers that refuse, vanish, reset at
 * once or never answer; connections closed from inside each of their
 * callbacks; watches freed from their own and from another watch's
 * callback; many connects in flight when the reactor stops; and calls
 * on a connection that is closing. Everything on 127.0.0.1 or a Unix
 * path in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/un.h>

#include "itest.h"

struct client {
	int opens, datas, drains, closes, reason;
	unsigned close_in;   /* which callback closes (CB_*) */
	unsigned close_flags;
	int write_after;     /* what a write after the close returned */
	size_t got;
	struct zg_conn *c;
};

enum { CB_NONE, CB_OPEN, CB_DATA, CB_DRAIN, CB_CLOSE };

static void shut(struct client *k, struct zg_conn *c)
{
	zg_conn_close(c, k->close_flags);
	zg_conn_close(c, k->close_flags); /* twice: idempotent */
	k->write_after = zg_conn_write(c, "x", 1);
}

static void cl_open(struct zg_conn *c)
{
	struct client *k = zg_conn_udata(c);

	k->opens++;
	if (k->close_in == CB_DRAIN) /* more than half of max_output: on_drain */
		for (int i = 0; i < 40; i++)
			assert_int_equal(zg_conn_write(c, (char[1024]){ 0 }, 1024), 0);
	if (k->close_in == CB_OPEN)
		shut(k, c);
	else
		zg_conn_write(c, "hello", 5);
}

static void cl_data(struct zg_conn *c)
{
	struct client *k = zg_conn_udata(c);
	struct zg_read_view v;

	k->datas++;
	zg_conn_read(c, &v);
	k->got += v.len;
	zg_conn_advance(c, v.len, v.len);
	if (k->close_in == CB_DATA)
		shut(k, c);
}

static void cl_drain(struct zg_conn *c)
{
	struct client *k = zg_conn_udata(c);

	k->drains++;
	if (k->close_in == CB_DRAIN)
		shut(k, c);
}

static void cl_close(struct zg_conn *c, int reason)
{
	struct client *k = zg_conn_udata(c);

	k->closes++;
	k->reason = reason;
	if (k->close_in == CB_CLOSE) {
		/* calls on a connection in its on_close: no effect, no crash */
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		zg_conn_close(c, ZG_CLOSE_ABORT);
		k->write_after = zg_conn_write(c, "x", 1);
		assert_int_equal(zg_conn_shutdown(c), -EPIPE);
	}
}

static const struct zg_handler client_h = { .on_open = cl_open, .on_data = cl_data,
					    .on_drain = cl_drain, .on_close = cl_close };
static const struct zg_handler echo_h = { .on_data = it_echo_on_data };

static struct zg_reactor *reactor(size_t max_output)
{
	struct zg_reactor_config cfg;
	struct zg_reactor *r;

	it_reactor_config(&cfg);
	if (max_output)
		cfg.max_output = max_output;
	assert_int_equal(zg_reactor_new(&cfg, &echo_h, NULL, &r), 0);
	return r;
}

static int connect_to(struct zg_reactor *r, const struct sockaddr *a, socklen_t len,
		      struct client *k, unsigned timeout_ms)
{
	struct zg_connect_opts o;

	zg_connect_opts_init(&o);
	o.handler = &client_h;
	o.udata = k;
	o.timeout_ms = timeout_ms;
	return zg_reactor_connect(r, a, len, &o, &k->c);
}

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* Peers that refuse or do not exist: on_close with the error, no
 * on_open, nothing left open. */
static void test_refused_and_missing(void **state)
{
	struct zg_reactor *r = reactor(0);
	struct sockaddr_storage ss;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct client k[3] = { 0 };
	int fds = open_fds(), fd = socket(AF_INET, SOCK_STREAM, 0);
	socklen_t len = it_addr(AF_INET, 0, &ss);

	(void)state;
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	len = it_addr(AF_INET, it_local_port(fd), &ss);
	close(fd); /* a port that was just free */
	assert_int_equal(connect_to(r, (struct sockaddr *)&ss, len, &k[0], 2000), 0);
	snprintf(un.sun_path, sizeof(un.sun_path), "/tmp/zg-atk-no-such-%d", getpid());
	assert_int_equal(connect_to(r, (struct sockaddr *)&un, sizeof(un), &k[1], 2000), 0);
	/* a Unix socket file nobody listens on any more */
	snprintf(un.sun_path, sizeof(un.sun_path), "/tmp/zg-atk-dead-%d", getpid());
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	close(fd);
	assert_int_equal(connect_to(r, (struct sockaddr *)&un, sizeof(un), &k[2], 2000), 0);
	assert_true(IT_PUMP(r, k[0].closes + k[1].closes + k[2].closes == 3));
	unlink(un.sun_path);
	for (int i = 0; i < 3; i++)
		assert_int_equal(k[i].opens, 0);
	assert_int_equal(k[0].reason, -ECONNREFUSED);
	assert_int_equal(k[1].reason, -ENOENT);
	assert_int_equal(k[2].reason, -ECONNREFUSED);
	assert_int_equal(open_fds(), fds);
	it_reactor_end(r);
}

/* A peer that accepts and resets at once, with output queued before
 * the connect completed: on_close with a reset (or 0 if our bytes went
 * out before the reset came), never a hang, nothing left open. */
static void test_peer_accepts_and_resets(void **state)
{
	struct zg_reactor *r = reactor(0);
	struct sockaddr_storage ss;
	socklen_t len = it_addr(AF_INET, 0, &ss);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fds;
	struct client k[20] = { 0 };
	int done = 0;

	(void)state;
	assert_int_equal(bind(lfd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(lfd, 64), 0);
	it_set_nonblock(lfd, true);
	len = it_addr(AF_INET, it_local_port(lfd), &ss);
	fds = open_fds();
	for (int i = 0; i < 20; i++) {
		assert_int_equal(connect_to(r, (struct sockaddr *)&ss, len, &k[i], 2000), 0);
		assert_int_equal(zg_conn_write(k[i].c, "before", 6), 0);
	}
	assert_true(IT_PUMP(r, ({
		int fd;
		while ((fd = accept(lfd, NULL, NULL)) >= 0)
			it_close_rst(fd);
		done = 0;
		for (int i = 0; i < 20; i++)
			done += k[i].closes;
		done == 20;
	})));
	for (int i = 0; i < 20; i++)
		if (k[i].reason != -ECONNRESET && k[i].reason != -EPIPE && k[i].reason != 0)
			fail_msg("connection %d: on_close(%d)", i, k[i].reason);
	assert_int_equal(open_fds(), fds);
	close(lfd);
	it_reactor_end(r);
}

/* Close (graceful and abort) from inside each callback, then again,
 * then a write: the write fails with -EPIPE, on_close comes once. */
static void test_close_from_every_callback(void **state)
{
	static const unsigned where[] = { CB_OPEN, CB_DATA, CB_DRAIN, CB_CLOSE };
	struct zg_reactor *r = reactor(64 << 10);
	struct sockaddr_storage ss;
	uint16_t port;
	int fds = open_fds();

	(void)state;
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss, it_addr(AF_INET, 0, &ss),
					   0, 0, &port), 0);
	for (unsigned i = 0; i < 4; i++) {
		for (unsigned f = 0; f < 2; f++) {
			struct client k = { .close_in = where[i],
					    .close_flags = f ? ZG_CLOSE_ABORT : ZG_CLOSE_GRACEFUL };
			socklen_t len = it_addr(AF_INET, port, &ss);

			assert_int_equal(connect_to(r, (struct sockaddr *)&ss, len, &k, 2000), 0);
			if (where[i] == CB_CLOSE) /* the client closes once echoed */
				k.close_in = CB_DATA, k.close_flags = 0;
			if (!IT_PUMP(r, k.closes == 1))
				fail_msg("close in callback %u flags %u: opens %d datas %d drains %d",
					 where[i], f, k.opens, k.datas, k.drains);
			assert_int_equal(k.opens, 1);
			assert_int_equal(k.write_after, -EPIPE);
			if (where[i] == CB_DRAIN)
				assert_int_equal(k.drains, 1);
			/* nothing is called after on_close */
			assert_true(IT_PUMP(r, zg_reactor_conn_count(r) == 0));
			assert_int_equal(k.closes, 1);
		}
	}
	assert_int_equal(open_fds(), fds + 1); /* the listener */
	it_reactor_end(r);
}

/* Many connects to a peer that never answers (its accept queue full,
 * so SYNs are dropped) when the reactor stops: each gets on_close, the
 * reactor stops within its deadline, nothing is left open; a connect
 * after the stop is refused at once. */
static void test_connects_in_flight_at_stop(void **state)
{
	static struct client k[200];
	int fds = open_fds(), fill[4], ret, closes;
	struct zg_reactor *r = reactor(0);
	struct sockaddr_storage ss;
	socklen_t len = it_addr(AF_INET, 0, &ss);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	uint64_t end;

	(void)state;
	assert_int_equal(bind(lfd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(lfd, 0), 0);
	len = it_addr(AF_INET, it_local_port(lfd), &ss);
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&ss, len);
	}
	it_nap_us(50000);
	memset(k, 0, sizeof(k));
	for (int i = 0; i < 200; i++) {
		assert_int_equal(connect_to(r, (struct sockaddr *)&ss, len, &k[i], 30000), 0);
		zg_conn_write(k[i].c, "never", 5);
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(zg_reactor_run_once(r, 10), 1);
	zg_reactor_stop(r, 300);
	assert_int_equal(zg_reactor_run_once(r, 0), 1); /* the stop begins */
	assert_int_equal(connect_to(r, (struct sockaddr *)&ss, len, &(struct client){ 0 }, 0),
			 -ESHUTDOWN);
	end = it_now_ms() + 5000;
	while ((ret = zg_reactor_run_once(r, 10)) == 1 && it_now_ms() < end)
		;
	assert_int_equal(ret, 0);
	closes = 0;
	for (int i = 0; i < 200; i++) {
		closes += k[i].closes;
		assert_int_equal(k[i].opens, 0);
		assert_int_not_equal(k[i].reason, 0);
	}
	assert_int_equal(closes, 200);
	zg_reactor_free(r);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
	assert_int_equal(open_fds(), fds);
}

/* ---- watches ------------------------------------------------------- */

struct wpair {
	struct zg_watch *a, *b;
	int fa[2], fb[2];
	int a_calls, b_calls;
	bool a_frees_b, a_frees_self;
};

static void wa_cb(struct zg_watch *w, unsigned ev, void *arg)
{
	struct wpair *p = arg;
	char c;

	(void)ev;
	p->a_calls++;
	(void)!read(p->fa[0], &c, 1);
	if (p->a_frees_b && p->b) {
		zg_watch_free(p->b);
		zg_watch_free(p->b); /* twice: a no-op */
		p->b = NULL;
	}
	if (p->a_frees_self) {
		zg_watch_free(w);
		assert_int_equal(zg_watch_set(w, ZG_WATCH_READ), -EINVAL); /* freed */
		p->a = NULL;
	}
}

static void wb_cb(struct zg_watch *w, unsigned ev, void *arg)
{
	struct wpair *p = arg;
	char c;

	(void)w;
	(void)ev;
	p->b_calls++;
	(void)!read(p->fb[0], &c, 1);
}

/* Both fds ready in the same batch; A's callback frees B (whose event
 * is already in the completion queue), or itself: B's callback never
 * runs after its free, nothing is called twice, new watches reuse the
 * slots safely. */
static void test_watch_free_from_callbacks(void **state)
{
	struct zg_reactor *r = reactor(0);

	(void)state;
	for (int round = 0; round < 50; round++) {
		struct wpair p = { .a_frees_b = round % 2 == 0, .a_frees_self = round % 3 == 0 };
		int b_before;

		assert_int_equal(pipe(p.fa), 0);
		assert_int_equal(pipe(p.fb), 0);
		assert_int_equal(zg_watch_new(r, p.fa[0], ZG_WATCH_READ, wa_cb, &p, &p.a), 0);
		assert_int_equal(zg_watch_new(r, p.fb[0], ZG_WATCH_READ, wb_cb, &p, &p.b), 0);
		assert_int_equal(zg_reactor_run_once(r, 0), 1); /* polls armed */
		/* B first, then A: B's CQE may come after A's in the batch */
		assert_int_equal(write(p.fb[1], "b", 1), 1);
		assert_int_equal(write(p.fa[1], "a", 1), 1);
		assert_true(IT_PUMP(r, p.a_calls >= 1));
		b_before = p.b_calls;
		assert_int_equal(write(p.fb[1], "b", 1), 1);
		if (p.a)
			assert_int_equal(write(p.fa[1], "a", 1), 1);
		for (int i = 0; i < 5; i++)
			assert_int_equal(zg_reactor_run_once(r, 5), 1);
		if (p.a_frees_b)
			assert_true(p.b_calls <= b_before); /* none after the free */
		else
			assert_true(p.b_calls > b_before);
		zg_watch_free(p.a);
		zg_watch_free(p.b);
		for (int i = 0; i < 3; i++)
			assert_int_equal(zg_reactor_run_once(r, 0), 1);
		close(p.fa[0]);
		close(p.fa[1]);
		close(p.fb[0]);
		close(p.fb[1]);
	}
	it_reactor_end(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_and_missing),
		cmocka_unit_test(test_peer_accepts_and_resets),
		cmocka_unit_test(test_close_from_every_callback),
		cmocka_unit_test(test_connects_in_flight_at_stop),
		cmocka_unit_test(test_watch_free_from_callbacks),
	};

	it_init();
	return cmocka_run_group_tests_name("attack_client", tests, NULL, NULL);
}
