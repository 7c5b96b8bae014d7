/* SPDX-License-Identifier: MIT */
/*
 * The response-head writer: from the input, a status (three digits, as
 * every HTTP status is), a body length (any 64-bit value), a date (any
 * time from 1970 to 9999), Connection flags and optional Content-Type,
 * Content-Encoding and Allow values (visible ASCII and inner spaces,
 * as the server's constants are).
 *
 * http_head_write writes into a block of exactly http_head_fixed() +
 * http_digits(length) bytes (what routes.c reserves), so an overflow is
 * an AddressSanitizer error; it returns that size; the bytes are a
 * well-formed head: status line, the expected fields in order with the
 * given values, the empty line, nothing after. With values of up to 100
 * bytes each it fits HTTP_HEAD_MAX. The date matches strftime's.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <time.h>

#include "fuzz.h"
#include "http.h"

#define VALUE_MAX   150 /* value lengths drawn up to this           */
#define SHORT_VALUE 100 /* each at most this: the head fits 512     */
#define YEAR_10000  INT64_C(253402300800)

static const unsigned known[] = { 100, 200, 400, 404, 405, 408, 413, 414, 431, 500, 503 };

static unsigned pick_status(struct fuzz_in *in)
{
	unsigned v = (unsigned)fuzz_u64(in, 2);
	if (v & 0x8000)
		return known[(v & 0x7fff) % (sizeof(known) / sizeof(known[0]))];
	return 100 + v % 900;
}

/* A field value from the input: VCHAR and SP, no space at either end. */
static char *pick_value(struct fuzz_in *in)
{
	size_t n = fuzz_u8(in) % (VALUE_MAX + 1);
	char *s = malloc(n + 1);

	for (size_t i = 0; i < n; i++) {
		s[i] = (char)(0x20 + fuzz_u8(in) % 95);
		if (s[i] == ' ' && (i == 0 || i == n - 1))
			s[i] = 'x';
	}
	s[n] = 0;
	return s;
}

struct cursor {
	const char *p, *end;
};

static void expect(struct cursor *c, const char *s, size_t n)
{
	CHECK((size_t)(c->end - c->p) >= n && !memcmp(c->p, s, n));
	c->p += n;
}

static void expect_str(struct cursor *c, const char *s)
{
	expect(c, s, strlen(s));
}

static void expect_field(struct cursor *c, const char *name, const char *value, size_t n)
{
	expect_str(c, name);
	expect(c, ": ", 2);
	expect(c, value, n);
	expect(c, "\r\n", 2);
}

static void check_date(time_t t, const char date[HTTP_DATE_LEN])
{
	char ref[64];
	struct tm tm;

	gmtime_r(&t, &tm);
	CHECK(strftime(ref, sizeof(ref), "%a, %d %b %Y %H:%M:%S GMT", &tm) == HTTP_DATE_LEN);
	CHECK(!memcmp(ref, date, HTTP_DATE_LEN));
}

static void check_head(const char *out, size_t n, const struct http_head *h, uint64_t length)
{
	struct cursor c = { out, out + n };
	char num[32];

	expect_str(&c, "HTTP/1.1 ");
	snprintf(num, sizeof(num), "%u ", h->status);
	expect_str(&c, num);
	expect_str(&c, http_reason(h->status));
	expect(&c, "\r\n", 2);
	expect_field(&c, "Server", "zerg", 4);
	expect_field(&c, "Date", h->date, HTTP_DATE_LEN);
	if (h->type)
		expect_field(&c, "Content-Type", h->type, strlen(h->type));
	if (h->encoding)
		expect_field(&c, "Content-Encoding", h->encoding, strlen(h->encoding));
	if (h->allow)
		expect_field(&c, "Allow", h->allow, strlen(h->allow));
	snprintf(num, sizeof(num), "%" PRIu64, length);
	expect_field(&c, "Content-Length", num, strlen(num));
	if (h->close)
		expect_field(&c, "Connection", "close", 5);
	else if (h->keep_alive)
		expect_field(&c, "Connection", "keep-alive", 10);
	expect(&c, "\r\n", 2);
	CHECK(c.p == c.end);
}

static size_t len_or_0(const char *s)
{
	return s ? strlen(s) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size, 0 };
	struct http_head h = { 0 };
	char date[HTTP_DATE_LEN], num[32], *type, *enc, *allow, *out;
	uint64_t length;
	time_t t;
	unsigned flags;
	size_t fixed, w;

	h.status = pick_status(&in);
	length = fuzz_u64(&in, 8);
	t = (time_t)(fuzz_u64(&in, 5) % YEAR_10000);
	flags = fuzz_u8(&in);
	type = pick_value(&in);
	enc = pick_value(&in);
	allow = pick_value(&in);
	http_format_date(date, t);
	check_date(t, date);
	h.date = date;
	h.close = flags & 1;
	h.keep_alive = flags & 2;
	h.type = flags & 4 ? type : NULL;
	h.encoding = flags & 8 ? enc : NULL;
	h.allow = flags & 16 ? allow : NULL;

	CHECK(http_digits(length) == (unsigned)snprintf(num, sizeof(num), "%" PRIu64, length));
	fixed = http_head_fixed(&h);
	out = malloc(fixed + http_digits(length));
	w = http_head_write(out, &h, length);
	CHECK(w == fixed + http_digits(length));
	check_head(out, w, &h, length);
	if (len_or_0(h.type) <= SHORT_VALUE && len_or_0(h.encoding) <= SHORT_VALUE &&
	    len_or_0(h.allow) <= SHORT_VALUE)
		CHECK(w <= HTTP_HEAD_MAX);
	free(out);
	free(type);
	free(enc);
	free(allow);
	return 0;
}
