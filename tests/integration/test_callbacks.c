/* SPDX-License-Identifier: MIT */
/* What an application may do from its callbacks:
 *  - write a greeting in on_open (the client reads it without sending);
 *  - close in on_open, gracefully after a last write (the client gets it,
 *    then EOF) or by abort (a reset); on_close(0) either way;
 *  - use a zero-length zg_conn_write_ref as a flush-completion callback:
 *    it runs once, only after everything queued before it was accepted
 *    by the kernel (zg_conn_pending() is 0 then);
 *  - call zg_conn_close twice, and abort after a graceful close;
 *  - write from on_close (-EPIPE), bad zg_conn_advance/zg_conn_contig
 *    arguments (-EINVAL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

enum scenario { SC_GREET, SC_CLOSE_GRACEFUL, SC_CLOSE_ABORT, SC_FLUSH_CB, SC_MISC };

#define FLUSH_BYTES (32u << 20)

static enum scenario scenario;
static atomic_uint closes, flush_calls, written, misc_ok, misc_bad;
static atomic_int last_reason, close_write_ret;
static atomic_ullong pending_at_flush;
static uint8_t *big;

static void flushed(void *arg)
{
	struct zg_conn *c = arg;

	atomic_store(&pending_at_flush, zg_conn_pending(c));
	atomic_fetch_add(&flush_calls, 1);
}

static void on_open(struct zg_conn *c)
{
	zg_conn_set_udata(c, &scenario);
	switch (scenario) {
	case SC_GREET:
		IT_ASSERT(zg_conn_write(c, "hello\n", 6) == 0);
		break;
	case SC_CLOSE_GRACEFUL:
		IT_ASSERT(zg_conn_write(c, "go away\n", 8) == 0);
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		zg_conn_close(c, ZG_CLOSE_GRACEFUL); /* idempotent */
		IT_ASSERT(zg_conn_write(c, "x", 1) == -EPIPE);
		break;
	case SC_CLOSE_ABORT:
		IT_ASSERT(zg_conn_write(c, "never sent", 10) == 0);
		zg_conn_close(c, ZG_CLOSE_ABORT);
		break;
	default:
		break;
	}
}

static void on_data(struct zg_conn *c)
{
	struct zg_read_view v;
	const uint8_t *p;

	IT_ASSERT(zg_conn_udata(c) == &scenario);
	zg_conn_read(c, &v);
	if (scenario == SC_FLUSH_CB) {
		zg_conn_advance(c, v.len, v.len);
		if (v.len) {
			IT_ASSERT(zg_conn_write(c, big, FLUSH_BYTES) == 0);
			IT_ASSERT(zg_conn_write_ref(c, NULL, 0, flushed, c) == 0);
			atomic_store(&written, 1);
		}
		return;
	}
	if (scenario == SC_MISC && v.len) {
		bool ok = zg_conn_advance(c, 2, 1) == -EINVAL &&          /* consumed > examined */
			  zg_conn_advance(c, 0, v.len + 1) == -EINVAL &&  /* beyond the input */
			  zg_conn_contig(c, v.len + 1, &p) == -EINVAL &&
			  zg_conn_contig(c, v.len, &p) == 0 &&
			  zg_conn_write(c, "", 0) == 0 &&
			  zg_conn_write(c, p, v.len) == 0;
		atomic_fetch_add(ok ? &misc_ok : &misc_bad, 1);
		zg_conn_advance(c, v.len, v.len);
		/* graceful, then abort: the abort wins, no double on_close */
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		zg_conn_close(c, ZG_CLOSE_ABORT);
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return;
	}
	it_echo_on_data(c);
}

static void on_close(struct zg_conn *c, int reason)
{
	atomic_store(&close_write_ret, zg_conn_write(c, "late", 4));
	atomic_store(&last_reason, reason);
	atomic_fetch_add(&closes, 1);
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

static struct zg_server *start(enum scenario sc)
{
	struct zg_server_config cfg;

	scenario = sc;
	atomic_store(&closes, 0);
	atomic_store(&flush_calls, 0);
	atomic_store(&written, 0);
	atomic_store(&misc_ok, 0);
	atomic_store(&misc_bad, 0);
	atomic_store(&last_reason, 1);
	atomic_store(&close_write_ret, 1);
	it_server_config(&cfg, 1);
	return it_server_start(&cfg, &handler, NULL);
}

static void finish(struct zg_server *s, unsigned n)
{
	assert_true(IT_WAIT(atomic_load(&closes) == n, 10000));
	assert_int_equal(atomic_load(&close_write_ret), -EPIPE);
	it_server_end(s);
}

static void test_greeting_in_on_open(void **state)
{
	struct zg_server *s = start(SC_GREET);
	int fd = it_connect(zg_server_port(s));
	char b[8];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(it_recv_exact(fd, b, 6, 5000), 6);
	assert_memory_equal(b, "hello\n", 6);
	assert_int_equal(it_send_all(fd, "and you", 7, 5000), 0);
	assert_int_equal(it_recv_exact(fd, b, 7, 5000), 7);
	assert_memory_equal(b, "and you", 7);
	close(fd);
	finish(s, 1);
	assert_int_equal(atomic_load(&last_reason), 0);
}

static void test_close_in_on_open(void **state)
{
	struct zg_server *s = start(SC_CLOSE_GRACEFUL);
	char b[16];
	int fd, ret;

	(void)state;
	fd = it_connect(zg_server_port(s));
	assert_true(fd >= 0);
	assert_int_equal(it_recv_exact(fd, b, 8, 5000), 8);
	assert_memory_equal(b, "go away\n", 8);
	assert_int_equal(it_expect_eof(fd, 5000), 0);
	close(fd);
	finish(s, 1);
	assert_int_equal(atomic_load(&last_reason), 0);

	s = start(SC_CLOSE_ABORT);
	fd = it_connect(zg_server_port(s));
	assert_true(fd >= 0);
	ret = it_expect_eof(fd, 5000);
	assert_true(ret == -ECONNRESET || ret == 0); /* nothing of the dropped output */
	close(fd);
	finish(s, 1);
	assert_int_equal(atomic_load(&last_reason), 0); /* asked for by the application */
}

static void test_flush_completion_callback(void **state)
{
	struct zg_server *s = start(SC_FLUSH_CB);
	int fd = it_connect(zg_server_port(s));
	uint8_t *in = malloc(FLUSH_BYTES);
	ssize_t got;

	(void)state;
	assert_non_null(in);
	assert_true(fd >= 0);
	assert_int_equal(it_send_all(fd, "?", 1, 5000), 0);
	assert_true(IT_WAIT(atomic_load(&written) == 1, 5000));
	/* 32 MiB cannot all sit in socket buffers while we don't read */
	assert_int_equal(atomic_load(&flush_calls), 0);
	got = it_recv_exact(fd, in, FLUSH_BYTES, 20000);
	assert_int_equal(got, (ssize_t)FLUSH_BYTES);
	assert_memory_equal(in, big, FLUSH_BYTES);
	assert_true(IT_WAIT(atomic_load(&flush_calls) == 1, 5000));
	assert_int_equal(atomic_load(&pending_at_flush), 0);
	close(fd);
	finish(s, 1);
	assert_int_equal(atomic_load(&flush_calls), 1);
	free(in);
}

static void test_misc_arguments(void **state)
{
	struct zg_server *s = start(SC_MISC);
	int fd = it_connect(zg_server_port(s));
	char b[8];
	ssize_t k;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(it_send_all(fd, "abcdef", 6, 5000), 0);
	assert_true(IT_WAIT(atomic_load(&closes) == 1, 5000));
	assert_int_equal(atomic_load(&misc_ok), 1);
	assert_int_equal(atomic_load(&misc_bad), 0);
	/* the abort dropped the echo or sent part of it, then a reset */
	k = it_recv_exact(fd, b, sizeof(b), 5000);
	assert_true(k == -ECONNRESET || (k >= 0 && k <= 6));
	close(fd);
	finish(s, 1);
	assert_int_equal(atomic_load(&last_reason), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_in_on_open),
		cmocka_unit_test(test_close_in_on_open),
		cmocka_unit_test(test_flush_completion_callback),
		cmocka_unit_test(test_misc_arguments),
	};
	int ret;

	it_init();
	big = malloc(FLUSH_BYTES);
	if (!big)
		return 1;
	it_fill(big, FLUSH_BYTES, 11, 0);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	free(big);
	return ret;
}
