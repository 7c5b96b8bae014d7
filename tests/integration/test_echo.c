/* SPDX-License-Identifier: MIT */
/* Echo over zg_server with 1 and 2 reactor threads: messages from 1 byte
 * to 16 MiB come back byte for byte, on one connection after another and
 * on several connections at once; at the end every connection is closed
 * and every ring buffer is back (accepted == closed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

static struct it_counts counts;

static const struct zg_handler echo_handler = {
	.on_open = it_count_open, .on_data = it_echo_on_data, .on_close = it_count_close,
};

static const size_t sizes[] = {
	1, 2, 3, 100, 255, 256, 1000, 4095, 4096, 4097, 16383, 16384, 16385,
	65536 + 7, 100000, 1u << 20, (1u << 20) + 1, 3u << 20, 16u << 20,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static struct zg_server *start(unsigned threads)
{
	struct zg_server_config cfg;
	struct zg_server *s;

	it_server_config(&cfg, threads);
	it_counts_reset(&counts);
	s = it_server_start(&cfg, &echo_handler, &counts);
	assert_int_not_equal(zg_server_port(s), 0);
	assert_int_equal(zg_server_threads(s), threads);
	return s;
}

static void finish(struct zg_server *s, unsigned nconns)
{
	struct zg_reactor_config rc;

	zg_reactor_config_init(&rc);
	assert_true(IT_WAIT(atomic_load(&counts.closes) == nconns, 10000));
	it_server_drained(s, rc.buf_count, nconns, NULL);
	assert_int_equal(atomic_load(&counts.opens), nconns);
	assert_int_equal(atomic_load(&counts.bad_reasons), 0);
	it_server_end(s);
}

/* One message of `n` bytes on a fresh connection, then FIN and EOF. */
static void echo_one(uint16_t port, size_t n, uint64_t seed)
{
	uint8_t *out = malloc(n), *in = malloc(n);
	int fd = it_connect(port);
	ssize_t got;

	assert_non_null(out);
	assert_non_null(in);
	assert_true(fd >= 0);
	it_fill(out, n, seed, 0);
	got = it_exchange(fd, out, n, in, n, false, 30000);
	assert_int_equal(got, (ssize_t)n);
	assert_int_equal(it_check(in, n, seed, 0), n);
	shutdown(fd, SHUT_WR);
	assert_int_equal(it_expect_eof(fd, 10000), 0);
	close(fd);
	free(out);
	free(in);
}

static void sizes_on(unsigned threads)
{
	struct zg_server *s = start(threads);
	uint16_t port = zg_server_port(s);

	for (unsigned i = 0; i < NSIZES; i++)
		echo_one(port, sizes[i], i * 7 + threads);
	finish(s, NSIZES);
}

static void test_sizes_1_thread(void **state) { (void)state; sizes_on(1); }
static void test_sizes_2_threads(void **state) { (void)state; sizes_on(2); }

/* Many messages of mixed sizes on one connection, each echoed before the
 * next is sent (request/response over a kept-alive connection). */
static void test_sequence_on_one_conn(void **state)
{
	struct zg_server *s = start(2);
	int fd = it_connect(zg_server_port(s));
	uint8_t *out = malloc(1u << 20), *in = malloc(1u << 20);
	size_t off = 0;

	(void)state;
	assert_true(fd >= 0);
	for (unsigned k = 0; k < 300; k++) {
		size_t n = (k * 7919u) % 70000 + 1;
		if (k % 50 == 0)
			n = (1u << 20) - k;
		it_fill(out, n, 42, off);
		assert_int_equal(it_exchange(fd, out, n, in, n, false, 20000), (ssize_t)n);
		assert_int_equal(it_check(in, n, 42, off), n);
		off += n;
	}
	close(fd);
	free(out);
	free(in);
	finish(s, 1);
}

/* 8 client threads at once, each echoing sizes up to 4 MiB. */
struct par_arg {
	uint16_t port;
	unsigned id;
	int err;
};

static void *par_client(void *arg)
{
	struct par_arg *a = arg;
	static const size_t psizes[] = { 1, 4096, 70000, 4u << 20, 513 };

	for (unsigned i = 0; i < sizeof(psizes) / sizeof(psizes[0]); i++) {
		size_t n = psizes[i];
		uint64_t seed = a->id * 100 + i;
		uint8_t *out = malloc(n), *in = malloc(n);
		int fd = it_connect(a->port);
		if (fd < 0 || !out || !in) {
			a->err = 1;
		} else {
			it_fill(out, n, seed, 0);
			if (it_exchange(fd, out, n, in, n, true, 30000) != (ssize_t)n ||
			    it_check(in, n, seed, 0) != n || it_expect_eof(fd, 10000) != 0)
				a->err = 2;
		}
		if (fd >= 0)
			close(fd);
		free(out);
		free(in);
		if (a->err)
			break;
	}
	return NULL;
}

static void parallel_on(unsigned threads)
{
	struct zg_server *s = start(threads);
	pthread_t t[8];
	struct par_arg a[8];

	for (unsigned i = 0; i < 8; i++) {
		a[i] = (struct par_arg){ zg_server_port(s), i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, par_client, &a[i]), 0);
	}
	for (unsigned i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].err, 0);
	}
	finish(s, 8 * 5);
}

static void test_parallel_1_thread(void **state) { (void)state; parallel_on(1); }
static void test_parallel_2_threads(void **state) { (void)state; parallel_on(2); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes_1_thread),
		cmocka_unit_test(test_sizes_2_threads),
		cmocka_unit_test(test_sequence_on_one_conn),
		cmocka_unit_test(test_parallel_1_thread),
		cmocka_unit_test(test_parallel_2_threads),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
