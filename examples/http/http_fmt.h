/* SPDX-License-Identifier: MIT */
/*
 * zerg_http: hand-written number formatting for the hot path (response
 * heads, and bodies: integers, two-decimal fixed point): no printf, no
 * locale, no division loop per digit beyond one per two digits. Inline,
 * so a writer of large documents pays no call per number.
 */
#ifndef HTTP_FMT_H
#define HTTP_FMT_H

#include <stdint.h>
#include <string.h>

static const char http_fmt_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

static inline unsigned http_fmt_digits(uint64_t v)
{
	unsigned n = 1;
	/* Four at a time keeps the common small values to one or two tests. */
	for (;;) {
		if (v < 10) return n;
		if (v < 100) return n + 1;
		if (v < 1000) return n + 2;
		if (v < 10000) return n + 3;
		v /= 10000;
		n += 4;
	}
}

/* Write v in decimal at p; returns the end. */
static inline char *http_fmt_u64(char *p, uint64_t v)
{
	unsigned n = http_fmt_digits(v);
	char *e = p + n;
	char *q = e;
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		q -= 2;
		memcpy(q, http_fmt_pairs + 2 * r, 2);
	}
	if (v >= 10) {
		q -= 2;
		memcpy(q, http_fmt_pairs + 2 * v, 2);
	} else {
		*--q = (char)('0' + v);
	}
	return e;
}

static inline char *http_fmt_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return http_fmt_u64(p, (uint64_t)0 - (uint64_t)v);
	}
	return http_fmt_u64(p, (uint64_t)v);
}

/*
 * A fixed-point value with two decimals (v = 1234 is 12.34), written the
 * way a shortest-round-trip float printer writes the rounded double:
 * at least one decimal, no trailing zero after it ("12.3", "5.0",
 * "0.05"). Matches the reference data's formatting.
 */
static inline char *http_fmt_cents(char *p, int64_t v)
{
	uint64_t u;
	if (v < 0) {
		*p++ = '-';
		u = (uint64_t)0 - (uint64_t)v;
	} else {
		u = (uint64_t)v;
	}
	p = http_fmt_u64(p, u / 100);
	unsigned c = (unsigned)(u % 100);
	*p++ = '.';
	*p++ = (char)('0' + c / 10);
	if (c % 10)
		*p++ = (char)('0' + c % 10);
	return p;
}

#endif
