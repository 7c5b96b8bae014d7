/* SPDX-License-Identifier: MIT */
/* zerg-load's latency histogram (examples/load/hist.h): bucket bounds
 * tile the range without gaps, a bucket's width is at most 1/64 of its
 * values, percentiles are within 1/128 (+1 ns) of the exact ones on
 * several distributions, small values are exact, merge adds up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_buckets_tile(void **state)
{
	(void)state;
	assert_int_equal(zl_hist_bucket_lo(0), 0);
	for (unsigned i = 0; i + 1 < ZL_HIST_BUCKETS; i++) {
		uint64_t lo = zl_hist_bucket_lo(i), hi = zl_hist_bucket_hi(i);

		assert_true(lo <= hi);
		assert_int_equal(zl_hist_bucket(lo), i);
		assert_int_equal(zl_hist_bucket(hi), i);
		assert_int_equal(zl_hist_bucket_lo(i + 1), hi + 1);
		if (lo >= ZL_HIST_SUB)
			assert_true((hi - lo + 1) * ZL_HIST_SUB <= lo); /* width <= lo / 64 */
		else
			assert_int_equal(lo, hi); /* exact below 64 */
	}
	/* beyond the range: the last bucket */
	assert_int_equal(zl_hist_bucket(UINT64_MAX), ZL_HIST_BUCKETS - 1);
	assert_int_equal(zl_hist_bucket(1ull << ZL_HIST_MAX_BITS), ZL_HIST_BUCKETS - 1);
	assert_int_equal(zl_hist_bucket((1ull << ZL_HIST_MAX_BITS) - 1), ZL_HIST_BUCKETS - 1);
}

static struct zl_hist h, h2;
static uint64_t vals[200000];

static void check_pcts(const struct zl_hist *hh, uint64_t *v, size_t n)
{
	static const double pcts[] = { 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99 };

	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++) {
		size_t rank = (size_t)ceil(pcts[k] / 100.0 * (double)n);
		uint64_t exact = v[(rank ? rank : 1) - 1], got = zl_hist_percentile(hh, pcts[k]);
		double err = fabs((double)got - (double)exact);

		if (err > (double)exact / 128.0 + 1)
			fail_msg("p%g: %llu, exact %llu", pcts[k], (unsigned long long)got,
				 (unsigned long long)exact);
	}
	assert_int_equal(zl_hist_percentile(hh, 100), v[n - 1]);
	assert_int_equal(hh->max, v[n - 1]);
	assert_int_equal(hh->min, v[0]);
	assert_int_equal(hh->count, n);
}

static void test_percentiles(void **state)
{
	size_t n = sizeof(vals) / sizeof(vals[0]);

	(void)state;
	srand(42);
	/* uniform over 10 us .. 10 ms */
	zl_hist_reset(&h);
	for (size_t i = 0; i < n; i++) {
		vals[i] = 10000 + (uint64_t)rand() % 10000000;
		zl_hist_add(&h, vals[i]);
	}
	check_pcts(&h, vals, n);
	/* log-normal-ish: exp of a uniform, 100 ns .. 10 s, with a tail */
	zl_hist_reset(&h);
	for (size_t i = 0; i < n; i++) {
		double u = (double)rand() / RAND_MAX;
		vals[i] = (uint64_t)exp(log(100.0) + u * (log(1e10) - log(100.0)));
		zl_hist_add(&h, vals[i]);
	}
	check_pcts(&h, vals, n);
	/* bimodal, and all values the same */
	zl_hist_reset(&h);
	for (size_t i = 0; i < n; i++) {
		vals[i] = (i % 10) ? 150000 + i % 97 : 40000000 + i;
		zl_hist_add(&h, vals[i]);
	}
	check_pcts(&h, vals, n);
	zl_hist_reset(&h);
	for (size_t i = 0; i < 1000; i++) {
		vals[i] = 123456;
		zl_hist_add(&h, vals[i]);
	}
	check_pcts(&h, vals, 1000);
	assert_int_equal(zl_hist_percentile(&h, 50), 123456); /* clamped to [min, max] */
}

static void test_small_exact(void **state)
{
	(void)state;
	zl_hist_reset(&h);
	assert_int_equal(zl_hist_percentile(&h, 50), 0);
	assert_true(zl_hist_mean(&h) == 0);
	for (uint64_t v = 0; v < 64; v++)
		zl_hist_add(&h, v);
	/* 64 values 0..63: the k-th smallest is k-1 */
	assert_int_equal(zl_hist_percentile(&h, 50), 31);
	assert_int_equal(zl_hist_percentile(&h, 100), 63);
	assert_int_equal(zl_hist_percentile(&h, 1), 0);
	assert_true(fabs(zl_hist_mean(&h) - 31.5) < 1e-9);
}

static void test_merge(void **state)
{
	size_t n = 100000;

	(void)state;
	zl_hist_reset(&h);
	zl_hist_reset(&h2);
	srand(7);
	for (size_t i = 0; i < n; i++) {
		vals[i] = 1000 + (uint64_t)rand() % 5000000;
		zl_hist_add(i % 3 ? &h : &h2, vals[i]);
	}
	zl_hist_merge(&h, &h2);
	check_pcts(&h, vals, n);
	/* merging an empty one changes nothing; into an empty one copies */
	zl_hist_reset(&h2);
	zl_hist_merge(&h, &h2);
	assert_int_equal(h.count, n);
	zl_hist_merge(&h2, &h);
	assert_int_equal(h2.count, n);
	assert_int_equal(h2.min, h.min);
	assert_int_equal(h2.max, h.max);
	assert_int_equal(zl_hist_percentile(&h2, 99), zl_hist_percentile(&h, 99));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_tile),
		cmocka_unit_test(test_percentiles),
		cmocka_unit_test(test_small_exact),
		cmocka_unit_test(test_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
