/* Buffer ring bookkeeping: every buffer is free at start, buffers taken
 * by recvs come back when the input is consumed, and a connection that
 * closes with unread input returns its buffers too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"

static struct zg_conn *conn;
static int closed;
static bool consume;

static void on_open(struct zg_conn *c) { conn = c; }
static void on_close(struct zg_conn *c, int r) { (void)c; (void)r; closed++; }
static void on_data(struct zg_conn *c)
{
	struct zg_read_view v;
	zg_conn_read(c, &v);
	zg_conn_advance(c, consume ? v.len : 0, v.len);
}

static void test_buffers_come_back(void **state)
{
	struct zg_reactor_config cfg;
	struct zg_handler h = { .on_open = on_open, .on_data = on_data, .on_close = on_close };
	struct zg_reactor *r;
	struct zg_reactor_stats st;
	int sv[2];
	char data[100];
	(void)state;

	zg_reactor_config_init(&cfg);
	cfg.buf_count = 16;
	cfg.buf_size = 64;
	cfg.max_input = 4096;
	assert_int_equal(zg_reactor_new(&cfg, &h, NULL, &r), 0);
	zg_reactor_stats(r, &st);
	assert_int_equal(st.bufs_free, 16);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(zg_reactor_adopt(r, sv[0]), 0);

	memset(data, 'a', sizeof(data));
	consume = false;
	assert_int_equal(write(sv[1], data, sizeof(data)), sizeof(data));
	for (int i = 0; i < 10; i++)
		zg_reactor_run_once(r, 5);
	zg_reactor_stats(r, &st);
	assert_int_equal(conn->in_len, 100);
	assert_int_equal(st.bufs_free, 16 - conn->nsegs);

	consume = true;
	assert_int_equal(write(sv[1], data, 10), 10);
	for (int i = 0; i < 10; i++)
		zg_reactor_run_once(r, 5);
	zg_reactor_stats(r, &st);
	assert_int_equal(st.bufs_free, 16);

	/* unread input at close goes back as well */
	consume = false;
	assert_int_equal(write(sv[1], data, sizeof(data)), sizeof(data));
	for (int i = 0; i < 10; i++)
		zg_reactor_run_once(r, 5);
	assert_true(conn->in_len > 0);
	zg_conn_close(conn, ZG_CLOSE_GRACEFUL);
	close(sv[1]);
	for (int i = 0; i < 50 && !closed; i++)
		zg_reactor_run_once(r, 5);
	zg_reactor_run_once(r, 0);
	zg_reactor_stats(r, &st);
	assert_int_equal(closed, 1);
	assert_int_equal(st.bufs_free, 16);
	zg_reactor_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buffers_come_back),
	};
	return cmocka_run_group_tests_name("bufring", tests, NULL, NULL);
}
