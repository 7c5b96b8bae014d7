/* SPDX-License-Identifier: MIT */
/*
 * http_chunked_step: the input is a chunked body as it follows a request
 * head (chunk sizes, extensions, data, trailers, maybe bytes after it).
 *
 * Decoded in one piece, and again in pieces (every 2-piece split of
 * short inputs, one byte at a time, random cut sets), each piece in a
 * block of exactly its size as the decoder never looks back, every way
 * gives the same payload bytes, the same outcome (done, error, or more
 * needed) and the same input offset where it ended. Each step keeps its
 * contract (used <= given, DATA within what was used, MORE uses all).
 * A finished body is decoded once more by a naive reader that trusts
 * the framing, and must give the same payload.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "http.h"

#define ALL_SPLITS_MAX 256
#define RANDOM_SETS    4
#define RANDOM_CUTS    16

struct decoded {
	uint8_t *body;
	size_t len, cap;
	int rc;     /* HTTP_CHUNK_DONE, _ERROR or _MORE        */
	size_t end; /* input offset where DONE or ERROR struck */
	bool over;  /* DONE or ERROR seen: stop feeding        */
};

static void body_add(struct decoded *d, const uint8_t *p, size_t n)
{
	if (d->len + n > d->cap) {
		d->cap = (d->len + n) * 2;
		d->body = realloc(d->body, d->cap);
		if (!d->body)
			abort();
	}
	memcpy(d->body + d->len, p, n);
	d->len += n;
}

/* One piece of input at absolute offset base, stepped through as the
 * server does (server.c chunked_segment). */
static void feed(struct http_chunked *st, struct decoded *d, const uint8_t *piece,
		 size_t n, size_t base)
{
	uint8_t *p = fuzz_dup(piece, n);
	size_t off = 0;

	while (!d->over && off < n) {
		size_t used = SIZE_MAX, doff = SIZE_MAX, dlen = SIZE_MAX;
		int rc = http_chunked_step(st, p + off, n - off, &used, &doff, &dlen);

		CHECK(used <= n - off);
		switch (rc) {
		case HTTP_CHUNK_DATA:
			CHECK(dlen > 0 && doff + dlen == used);
			body_add(d, p + off + doff, dlen);
			break;
		case HTTP_CHUNK_MORE:
			CHECK(used == n - off);
			break;
		case HTTP_CHUNK_DONE:
		case HTTP_CHUNK_ERROR:
			d->over = true;
			d->end = base + off + used;
			d->rc = rc;
			break;
		default:
			CHECK(!"unknown return");
		}
		off += used;
	}
	free(p);
}

/* The input cut at cuts[0..k), decoded piece by piece. */
static void decode(const uint8_t *in, size_t n, const size_t *cuts, size_t k,
		   struct decoded *d)
{
	struct http_chunked st;
	size_t from = 0;

	memset(d, 0, sizeof(*d));
	d->rc = HTTP_CHUNK_MORE;
	http_chunked_init(&st);
	for (size_t i = 0; i <= k && !d->over; i++) {
		size_t to = i < k ? cuts[i] : n;
		feed(&st, d, in + from, to - from, from);
		from = to;
	}
	if (!d->over) {
		d->end = n;
	} else {
		/* Settled: a further call changes nothing. */
		size_t used = 1, doff, dlen;
		CHECK(http_chunked_step(&st, in, n, &used, &doff, &dlen) == d->rc);
		CHECK(used == 0);
	}
}

static void same(const struct decoded *a, const struct decoded *b)
{
	CHECK(a->rc == b->rc && a->end == b->end && a->len == b->len);
	CHECK(!a->len || !memcmp(a->body, b->body, a->len));
}

/* Payload of a body the decoder accepted, read naively: hex size, skip
 * to the end of the line, size bytes, CRLF; until size 0. */
static void naive_check(const uint8_t *in, const struct decoded *d)
{
	size_t i = 0, got = 0;

	for (;;) {
		uint64_t size = 0;
		for (; i < d->end && in[i] && strchr("0123456789abcdefABCDEF", in[i]); i++)
			size = size << 4 | (uint64_t)(in[i] <= '9' ? in[i] - '0' : (in[i] | 0x20) - 'a' + 10);
		while (i < d->end && in[i] != '\n')
			i++;
		CHECK(i < d->end);
		i++;
		if (!size)
			break;
		CHECK(size <= d->end - i && size <= d->len - got);
		CHECK(!memcmp(in + i, d->body + got, (size_t)size));
		i += (size_t)size;
		got += (size_t)size;
		CHECK(i + 2 <= d->end && in[i] == '\r' && in[i + 1] == '\n');
		i += 2;
	}
	CHECK(got == d->len);
	CHECK(d->end >= 2 && in[d->end - 2] == '\r' && in[d->end - 1] == '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decoded whole, alt;
	struct fuzz_rng g;
	size_t cuts[RANDOM_CUTS];

	fuzz_rng_seed(&g, data, size);
	decode(data, size, NULL, 0, &whole);
	if (whole.rc == HTTP_CHUNK_DONE)
		naive_check(data, &whole);
	if (size <= ALL_SPLITS_MAX) {
		for (size_t k = 1; k < size; k++) {
			decode(data, size, &k, 1, &alt);
			same(&whole, &alt);
			free(alt.body);
		}
	}
	{
		size_t *all = malloc((size ? size : 1) * sizeof(*all));
		for (size_t k = 1; k < size; k++)
			all[k - 1] = k;
		decode(data, size, all, size ? size - 1 : 0, &alt);
		free(all);
		same(&whole, &alt);
		free(alt.body);
	}
	for (int s = 0; s < RANDOM_SETS; s++) {
		size_t k = fuzz_cuts(&g, size, cuts, RANDOM_CUTS);
		decode(data, size, cuts, k, &alt);
		same(&whole, &alt);
		free(alt.body);
	}
	free(whole.body);
	return 0;
}
