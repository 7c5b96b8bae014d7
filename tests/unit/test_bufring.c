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
#include "unit.h"

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

/* A recv bundle of a connection that is closing goes straight back:
 * each of its buffers exactly once, also while another buffer is held.
 * (Giving back slice 0 first rewrote the ring position the later slices
 * were found by, so one buffer went back twice and one never.) The
 * kernel is not involved: the CQE is made up over buffers 1..3, which
 * the ring handed out in order at setup. */
static void test_bundle_drop_each_once(void **state)
{
	struct zg_reactor *r;
	struct zg_bufring *b;
	struct zg_rxbufs it;
	unsigned bid, len, seen[4] = { 0 };
	uint8_t *p;

	(void)state;
	assert_int_equal(zg_reactor_new(NULL, NULL, NULL, &r), 0);
	b = &r->buf;
	b->bundle = true; /* the bookkeeping under test, whatever the kernel */
	/* buffer 0 is held by some connection */
	zg__bufring_rx_begin(b, &it, 0, 10, 0);
	assert_true(zg__bufring_rx_next(b, &it, &bid, &p, &len));
	assert_int_equal(bid, 0);
	/* a 3-buffer bundle from buffer 1 on, dropped */
	zg__bufring_drop(b, 1, (int)(2 * b->size + 7), 0);
	assert_int_equal(b->staged, 3);
	for (unsigned i = 0; i < b->staged; i++) {
		unsigned id = b->br->bufs[(uint16_t)(b->br->tail + i) & b->mask].bid;
		assert_in_range(id, 1, 3);
		seen[id]++;
	}
	assert_int_equal(seen[1], 1);
	assert_int_equal(seen[2], 1);
	assert_int_equal(seen[3], 1);
	zg__bufring_release(b, 0);
	zg__bufring_publish(b);
	assert_int_equal(b->free, b->count);
	zg_reactor_free(r);
}

static void test_plain(void **state) { (void)state; buffers_come_back(0); }
static void test_bundle(void **state) { (void)state; buffers_come_back(ZG_RF_RECV_BUNDLE); }
static void test_incremental(void **state) { (void)state; buffers_come_back(ZG_RF_BUF_INC); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bundle_drop_each_once),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_bundle),
		cmocka_unit_test(test_incremental),
	};
	unit_need_ring();
	return cmocka_run_group_tests_name("bufring", tests, NULL, NULL);
}
