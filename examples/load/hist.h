/* SPDX-License-Identifier: MIT */
/* zerg-load: a log-linear latency histogram. Values (nanoseconds) below
 * 2^ZL_HIST_SUB_BITS are counted exactly; above, each power of two is cut
 * into 2^ZL_HIST_SUB_BITS equal buckets, so a bucket is at most 1/64 of
 * its values wide and a percentile read back (a bucket's midpoint) is
 * within 1/128 of the true value. Fixed size, no allocation: adding a
 * value is a count-leading-zeros, a shift and an increment. */
#ifndef ZL_HIST_H
#define ZL_HIST_H

#include <stdint.h>

#define ZL_HIST_SUB_BITS 6
#define ZL_HIST_SUB      (1u << ZL_HIST_SUB_BITS)
/* largest value kept apart: 2^42 ns (73 minutes); larger ones land in
 * the last bucket (and max still says what they were) */
#define ZL_HIST_MAX_BITS 42
#define ZL_HIST_BUCKETS  ((ZL_HIST_MAX_BITS - ZL_HIST_SUB_BITS + 1) * ZL_HIST_SUB)

struct zl_hist {
	uint64_t count, sum, min, max;
	uint64_t b[ZL_HIST_BUCKETS];
};

static inline unsigned zl_hist_bucket(uint64_t v)
{
	unsigned msb, shift, i;

	if (v < ZL_HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - ZL_HIST_SUB_BITS;
	i = ((shift + 1) << ZL_HIST_SUB_BITS) + (unsigned)((v >> shift) - ZL_HIST_SUB);
	return i < ZL_HIST_BUCKETS ? i : ZL_HIST_BUCKETS - 1;
}

static inline void zl_hist_add(struct zl_hist *h, uint64_t v)
{
	h->b[zl_hist_bucket(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	if (v < h->min || h->count == 1)
		h->min = v;
}

void zl_hist_reset(struct zl_hist *h);
void zl_hist_merge(struct zl_hist *dst, const struct zl_hist *src);
/* Lowest and highest value bucket i holds. */
uint64_t zl_hist_bucket_lo(unsigned i);
uint64_t zl_hist_bucket_hi(unsigned i);
/* The value at percentile pct (0 < pct <= 100): the midpoint of the
 * bucket that holds the ceil(pct% * count)-th smallest value, clamped to
 * [min, max]. 0 when empty. */
uint64_t zl_hist_percentile(const struct zl_hist *h, double pct);
double zl_hist_mean(const struct zl_hist *h);

#endif
