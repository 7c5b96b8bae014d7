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

static void buffers_come_back(unsigned flags)
{
	struct zg_reactor_config cfg;
	struct zg_handler h = { .on_open = on_open, .on_data = on_data, .on_close = on_close };
	struct zg_reactor *r;
	struct zg_reactor_stats st;
	int sv[2];
	char data[100];
	zg_reactor_config_init(&cfg);
	cfg.flags = flags;
	cfg.buf_count = 16;
	cfg.buf_size = 64;
	cfg.max_input = 4096;
	closed = 0;
	assert_int_equal(zg_reactor_new(&cfg, &h, NULL, &r), 0);
	if (flags && !(zg_reactor_features(r) & (ZG_FEAT_RECV_BUNDLE | ZG_FEAT_BUF_INC))) {
		zg_reactor_free(r);
		skip(); /* the kernel lacks the mode: nothing to check */
	}
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
	/* 100 bytes in 64-byte buffers: two buffers, however they were
	 * filled (incremental mode may leave the second one the kernel's) */
	assert_true(st.bufs_free >= 14 && st.bufs_free < 16);

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

static void test_plain(void **state) { (void)state; buffers_come_back(0); }
static void test_bundle(void **state) { (void)state; buffers_come_back(ZG_RF_RECV_BUNDLE); }
static void test_incremental(void **state) { (void)state; buffers_come_back(ZG_RF_BUF_INC); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_bundle),
		cmocka_unit_test(test_incremental),
	};
	return cmocka_run_group_tests_name("bufring", tests, NULL, NULL);
}
