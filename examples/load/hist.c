/* SPDX-License-Identifier: MIT */
/* zerg-load: the latency histogram (see hist.h). */
#include "hist.h"

#include <math.h>
#include <string.h>

void zl_hist_reset(struct zl_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void zl_hist_merge(struct zl_hist *dst, const struct zl_hist *src)
{
	if (!src->count)
		return;
	for (unsigned i = 0; i < ZL_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	if (!dst->count || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
}

uint64_t zl_hist_bucket_lo(unsigned i)
{
	unsigned shift;

	if (i < ZL_HIST_SUB)
		return i;
	shift = (i >> ZL_HIST_SUB_BITS) - 1;
	return (uint64_t)((i & (ZL_HIST_SUB - 1)) + ZL_HIST_SUB) << shift;
}

uint64_t zl_hist_bucket_hi(unsigned i)
{
	if (i == ZL_HIST_BUCKETS - 1)
		return UINT64_MAX;
	return zl_hist_bucket_lo(i + 1) - 1;
}

uint64_t zl_hist_percentile(const struct zl_hist *h, double pct)
{
	uint64_t rank, seen = 0, lo, hi, mid;
	unsigned i;

	if (!h->count)
		return 0;
	if (pct >= 100)
		return h->max;
	rank = (uint64_t)ceil(pct / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < ZL_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	if (i == ZL_HIST_BUCKETS)
		return h->max;
	lo = zl_hist_bucket_lo(i);
	hi = zl_hist_bucket_hi(i);
	if (hi > h->max)
		hi = h->max;
	if (lo < h->min)
		lo = h->min;
	mid = lo + (hi - lo) / 2;
	return mid;
}

double zl_hist_mean(const struct zl_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0;
}
