/* Output queue unit tests over a socketpair: copied, reserved and
 * by-reference writes go out in order in one send, references are
 * released exactly once, limits are enforced, and a close releases what
 * was never sent. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "unit.h"

static struct zg_conn *conn;
static int released, drained, closed;

static void on_open(struct zg_conn *c) { conn = c; }
static void on_drain(struct zg_conn *c) { (void)c; drained++; }
static void on_close(struct zg_conn *c, int reason) { (void)c; (void)reason; closed++; }
static void release(void *arg) { (void)arg; released++; }

struct fx {
	struct zg_reactor *r;
	int peer;
};

static int setup(void **state)
{
	static struct fx f;
	struct zg_reactor_config cfg;
	struct zg_handler h = { .on_open = on_open, .on_drain = on_drain, .on_close = on_close };
	int sv[2];

	zg_reactor_config_init(&cfg);
	cfg.max_output = 1 << 20;
	released = drained = closed = 0;
	assert_int_equal(zg_reactor_new(&cfg, &h, NULL, &f.r), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(zg_reactor_adopt(f.r, sv[0]), 0);
	f.peer = sv[1];
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	zg_reactor_free(f->r);
	close(f->peer);
	return 0;
}

static void run_until_sent(struct fx *f)
{
	for (int i = 0; i < 100 && zg_conn_pending(conn); i++)
		zg_reactor_run_once(f->r, 10);
	assert_int_equal(zg_conn_pending(conn), 0);
}

static void read_exact(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);
		assert_true(k > 0);
		got += (size_t)k;
	}
}

static void test_order_and_one_send(void **state)
{
	struct fx *f = *state;
	static const char ref[] = "REF";
	char buf[32];
	char *p;
	uint64_t sends = f->r->st.sends;

	assert_int_equal(zg_conn_write(conn, "hello ", 6), 0);
	p = zg_conn_reserve(conn, 16);
	assert_non_null(p);
	memcpy(p, "world ", 6);
	zg_conn_commit(conn, 6);
	assert_int_equal(zg_conn_write_ref(conn, ref, 3, release, NULL), 0);
	assert_int_equal(zg_conn_write(conn, "!", 1), 0);
	assert_int_equal(zg_conn_pending(conn), 16);
	run_until_sent(f);
	assert_int_equal(f->r->st.sends, sends + 1); /* one sendmsg */
	read_exact(f->peer, buf, 16);
	assert_memory_equal(buf, "hello world REF!", 16);
	assert_int_equal(released, 1);
}

static void test_large_write(void **state)
{
	struct fx *f = *state;
	size_t n = 200000;
	char *src = malloc(n), *dst = malloc(n);

	for (size_t i = 0; i < n; i++)
		src[i] = (char)(i * 7);
	assert_int_equal(zg_conn_write(conn, src, n), 0);
	/* the peer reads while the reactor sends */
	for (size_t got = 0; got < n;) {
		ssize_t k;
		zg_reactor_run_once(f->r, 1);
		k = recv(f->peer, dst + got, n - got, MSG_DONTWAIT);
		if (k > 0)
			got += (size_t)k;
	}
	assert_memory_equal(src, dst, n);
	free(src);
	free(dst);
}

static void test_limit(void **state)
{
	(void)state;
	assert_int_equal(zg_conn_write(conn, "x", (1 << 20) + 1), -ENOBUFS);
	assert_null(zg_conn_reserve(conn, (1 << 20) + 1));
	assert_int_equal(zg_conn_write_ref(conn, "x", (1 << 20) + 1, release, NULL), -ENOBUFS);
	assert_int_equal(released, 0);
}

static void test_close_releases_unsent(void **state)
{
	struct fx *f = *state;
	static const char ref[] = "never sent";

	assert_int_equal(zg_conn_write_ref(conn, ref, sizeof(ref), release, NULL), 0);
	zg_conn_close(conn, ZG_CLOSE_ABORT);
	assert_int_equal(zg_conn_write(conn, "x", 1), -EPIPE);
	for (int i = 0; i < 100 && !closed; i++)
		zg_reactor_run_once(f->r, 10);
	assert_int_equal(closed, 1);
	assert_int_equal(released, 1);
}

static void test_graceful_close_sends_then_fin(void **state)
{
	struct fx *f = *state;
	char buf[16];

	zg_conn_write(conn, "bye", 3);
	zg_conn_close(conn, ZG_CLOSE_GRACEFUL);
	for (int i = 0; i < 100 && zg_conn_pending(conn); i++)
		zg_reactor_run_once(f->r, 10);
	read_exact(f->peer, buf, 3);
	assert_memory_equal(buf, "bye", 3);
	assert_int_equal(read(f->peer, buf, sizeof(buf)), 0); /* FIN */
	shutdown(f->peer, SHUT_WR); /* the peer's FIN ends the linger */
	for (int i = 0; i < 100 && !closed; i++)
		zg_reactor_run_once(f->r, 10);
	assert_int_equal(closed, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_and_one_send, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_releases_unsent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_graceful_close_sends_then_fin, setup, teardown),
	};
	unit_need_ring();
	return cmocka_run_group_tests_name("write", tests, NULL, NULL);
}
