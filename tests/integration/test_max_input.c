/* SPDX-License-Identifier: MIT */
/* max_input: the bound on a connection's unconsumed input.
 *  - an application that examines everything and consumes nothing is
 *    closed with on_close(-E2BIG) once max_input is reached, the peer
 *    sees the end of the stream, and the ring buffers come back;
 *  - an application that waits for a full view (view.full) and then
 *    consumes gets called at the limit even though it examined all, and
 *    the whole stream gets through in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

#define MAX_INPUT (64u * 1024)

static atomic_uint closes, fulls;
static atomic_int last_reason;
static atomic_ullong consumed, bad, max_seen;

/* First byte: 'H' hoard (examine, never consume), 'W' wait for full. */
struct app_conn {
	char mode;
	size_t skip;
};

static void on_open(struct zg_conn *c)
{
	it_conn_alloc(c, sizeof(struct app_conn));
}

static void on_data(struct zg_conn *c)
{
	struct app_conn *a = zg_conn_udata(c);
	struct zg_read_view v;

	zg_conn_read(c, &v);
	if (v.len > atomic_load(&max_seen))
		atomic_store(&max_seen, v.len);
	if (!a->mode && v.len) {
		a->mode = ((const char *)v.segs[0].iov_base)[0];
		a->skip = 1;
	}
	if (v.full)
		atomic_fetch_add(&fulls, 1);
	if (a->mode == 'W' && (v.full || v.eof)) {
		unsigned long long off = atomic_load(&consumed);
		size_t pos = 0;
		for (unsigned i = 0; i < v.nsegs; i++) {
			const uint8_t *p = v.segs[i].iov_base;
			for (size_t k = 0; k < v.segs[i].iov_len; k++, pos++) {
				if (pos < a->skip)
					continue;
				if (p[k] != it_byte(9, off))
					atomic_fetch_add(&bad, 1);
				off++;
			}
		}
		a->skip = 0;
		atomic_store(&consumed, off);
		zg_conn_advance(c, v.len, v.len);
		return;
	}
	zg_conn_advance(c, 0, v.len); /* seen, kept */
}

static void on_close(struct zg_conn *c, int reason)
{
	free(zg_conn_udata(c));
	atomic_store(&last_reason, reason);
	atomic_fetch_add(&closes, 1);
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

static struct zg_server *start(void)
{
	struct zg_server_config cfg;

	atomic_store(&closes, 0);
	atomic_store(&fulls, 0);
	atomic_store(&consumed, 0);
	atomic_store(&bad, 0);
	atomic_store(&max_seen, 0);
	it_server_config(&cfg, 1);
	cfg.reactor.max_input = MAX_INPUT;
	return it_server_start(&cfg, &handler, NULL);
}

static void stop(struct zg_server *s)
{
	struct zg_reactor_stats st;
	struct zg_reactor_config rc;

	zg_reactor_config_init(&rc);
	assert_true(IT_WAIT(it_server_quiescent(s, rc.buf_count, &st), 10000));
	it_server_end(s);
}

static void test_hoarder_closed_e2big(void **state)
{
	struct zg_server *s = start();
	int fd = it_connect(zg_server_port(s));
	static uint8_t buf[4u << 20];
	int ret;

	(void)state;
	assert_true(fd >= 0);
	buf[0] = 'H';
	/* the server closes before taking all of it: errors are fine */
	(void)it_send_all(fd, buf, sizeof(buf), 5000);
	if (!IT_WAIT(atomic_load(&closes) == 1, 10000))
		fail_msg("a connection holding max_input of unconsumed input was not closed");
	assert_int_equal(atomic_load(&last_reason), -E2BIG);
	/* reading stopped near the limit: a multishot recv may post a burst
	 * of completions (a socket buffer's worth) before its cancel lands,
	 * but not the whole 4 MiB */
	print_message("largest view: %llu bytes (max_input %u)\n", atomic_load(&max_seen),
		      MAX_INPUT);
	assert_true(atomic_load(&max_seen) >= MAX_INPUT);
	if (atomic_load(&max_seen) > MAX_INPUT + (2u << 20))
		fail_msg("%llu bytes of unconsumed input with max_input %u: reading did not "
			 "pause at the limit", atomic_load(&max_seen), MAX_INPUT);
	ret = it_expect_eof(fd, 5000);
	assert_true(ret == 0 || ret == -ECONNRESET || ret == -EPROTO);
	close(fd);
	stop(s); /* the hoarded ring buffers are all back */
}

static void test_full_view_consumer(void **state)
{
	struct zg_server *s = start();
	int fd = it_connect(zg_server_port(s));
	size_t total = 4u << 20;
	uint8_t *buf = malloc(total + 1);

	(void)state;
	assert_non_null(buf);
	assert_true(fd >= 0);
	buf[0] = 'W';
	it_fill(buf + 1, total, 9, 0);
	assert_int_equal(it_send_all(fd, buf, total + 1, 20000), 0);
	shutdown(fd, SHUT_WR); /* the tail that does not fill a view comes with EOF */
	assert_true(IT_WAIT(atomic_load(&consumed) == total, 20000));
	assert_int_equal(atomic_load(&bad), 0);
	assert_true(atomic_load(&fulls) >= 1); /* called at the limit */
	assert_int_equal(it_expect_eof(fd, 5000), 0);
	assert_true(IT_WAIT(atomic_load(&closes) == 1, 5000));
	assert_int_equal(atomic_load(&last_reason), 0);
	close(fd);
	free(buf);
	stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hoarder_closed_e2big),
		cmocka_unit_test(test_full_view_consumer),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
