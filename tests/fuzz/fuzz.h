/* SPDX-License-Identifier: MIT */
/* Helpers shared by the libFuzzer harnesses (see docs/fuzzing.md). */
#ifndef ZG_FUZZ_H
#define ZG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken property aborts, so libFuzzer saves the input as a crash and
 * the corpus replay fails; the message says which property. */
#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond))                                              \
			fuzz_fail(__FILE__, __LINE__, #cond);             \
	} while (0)

static inline void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	abort();
}

/* A copy in a block of exactly n bytes, so AddressSanitizer catches any
 * read past what the code under test was given. */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	if (!q)
		abort();
	if (n)
		memcpy(q, p, n);
	return q;
}

/* Split points are drawn from a generator seeded by the input itself:
 * the same input always tries the same splits, so a crash reproduces. */
struct fuzz_rng {
	uint64_t s;
};

static inline void fuzz_rng_seed(struct fuzz_rng *g, const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	g->s = h | 1;
}

static inline uint64_t fuzz_rng_next(struct fuzz_rng *g)
{
	g->s ^= g->s << 13; /* xorshift64 */
	g->s ^= g->s >> 7;
	g->s ^= g->s << 17;
	return g->s;
}

static int fuzz_cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* k sorted cut points in [1, n), duplicates dropped; returns how many. */
static inline size_t fuzz_cuts(struct fuzz_rng *g, size_t n, size_t *cuts, size_t k)
{
	size_t m = 0;
	if (n < 2)
		return 0;
	for (size_t i = 0; i < k; i++)
		cuts[i] = 1 + (size_t)(fuzz_rng_next(g) % (n - 1));
	qsort(cuts, k, sizeof(*cuts), fuzz_cmp_size);
	for (size_t i = 0; i < k; i++)
		if (!m || cuts[i] != cuts[m - 1])
			cuts[m++] = cuts[i];
	return m;
}

/* The harness's own input, read a field at a time; past the end every
 * read gives zero, so any byte string is a valid program. */
struct fuzz_in {
	const uint8_t *p;
	size_t n, at;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	return in->at < in->n ? in->p[in->at++] : 0;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | fuzz_u8(in);
	return v;
}

static inline size_t fuzz_left(const struct fuzz_in *in)
{
	return in->n - in->at;
}

#endif
