/* SPDX-License-Identifier: MIT */
/* zerg-load's response parser (examples/load/resp.c): streams of several
 * responses (Content-Length, chunked with extensions and trailers, empty
 * bodies, interim 100s, HEAD, 204/304, HTTP/1.0, Connection: close, a
 * body that runs until the end of the stream) fed whole, cut at every
 * byte into two pieces, and one byte at a time, must give the same
 * responses; malformed ones must fail however they are cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "resp.h"

struct want {
	unsigned status;
	uint64_t body;
	unsigned flags; /* ZL_RESP_F_* that must be set */
	unsigned interim;
};

#define MAXR 16

struct got {
	unsigned n;
	struct want r[MAXR];
	int err;       /* a ZL_RESP_ERR was returned */
	size_t err_at; /* stream offset of the offending byte */
};

/* Feed `s` cut at the offsets in cuts[] (increasing, inside s); no_body
 * marks responses (by index) that answer HEAD. eof: end the stream
 * after the last byte. */
static void run(const char *s, size_t len, const size_t *cuts, unsigned ncuts, unsigned head_mask,
		bool eof, struct got *g)
{
	struct zl_resp r;
	size_t pos = 0;

	memset(g, 0, sizeof(*g));
	zl_resp_init(&r, head_mask & 1);
	for (unsigned k = 0; k <= ncuts && !g->err; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		const uint8_t *p = (const uint8_t *)s + pos;
		size_t n = end - pos;

		while (n) {
			size_t used;
			int rc = zl_resp_feed(&r, p, n, &used);

			assert_true(used <= n);
			p += used;
			n -= used;
			pos += used;
			if (rc == ZL_RESP_DONE) {
				assert_true(g->n < MAXR);
				g->r[g->n].status = r.status;
				g->r[g->n].body = r.body;
				g->r[g->n].flags = r.flags;
				g->r[g->n].interim = r.interim;
				g->n++;
				zl_resp_init(&r, (head_mask >> g->n) & 1);
			} else if (rc == ZL_RESP_ERR) {
				g->err = 1;
				g->err_at = pos;
				return;
			} else {
				assert_int_equal(n, 0);
			}
		}
		pos = end;
	}
	if (eof) {
		int rc = zl_resp_eof(&r);
		if (rc == ZL_RESP_DONE) {
			g->r[g->n].status = r.status;
			g->r[g->n].body = r.body;
			g->r[g->n].flags = r.flags;
			g->r[g->n].interim = r.interim;
			g->n++;
		} else if (rc == ZL_RESP_ERR) {
			g->err = 1;
			g->err_at = len;
		}
	}
}

static void check(const struct got *g, const struct want *w, unsigned nw, const char *how)
{
	if (g->err)
		fail_msg("%s: error at %zu", how, g->err_at);
	if (g->n != nw)
		fail_msg("%s: %u responses, want %u", how, g->n, nw);
	for (unsigned i = 0; i < nw; i++) {
		if (g->r[i].status != w[i].status || g->r[i].body != w[i].body ||
		    (g->r[i].flags & w[i].flags) != w[i].flags || g->r[i].interim != w[i].interim)
			fail_msg("%s: response %u: status %u body %llu flags %#x interim %u; want %u %llu %#x %u",
				 how, i, g->r[i].status, (unsigned long long)g->r[i].body, g->r[i].flags,
				 g->r[i].interim, w[i].status, (unsigned long long)w[i].body, w[i].flags,
				 w[i].interim);
	}
}

/* Whole, every two-piece cut, every three-piece cut around the
 * boundaries of short streams, byte by byte. */
static void all_cuts(const char *s, unsigned head_mask, bool eof, const struct want *w, unsigned nw)
{
	size_t len = strlen(s), cuts[2];
	struct got g;
	char how[64];

	run(s, len, NULL, 0, head_mask, eof, &g);
	check(&g, w, nw, "whole");
	for (size_t i = 1; i < len; i++) {
		cuts[0] = i;
		run(s, len, cuts, 1, head_mask, eof, &g);
		snprintf(how, sizeof(how), "cut at %zu", i);
		check(&g, w, nw, how);
	}
	if (len <= 400)
		for (size_t i = 1; i < len; i++)
			for (size_t j = i + 1; j < len; j++) {
				cuts[0] = i;
				cuts[1] = j;
				run(s, len, cuts, 2, head_mask, eof, &g);
				if (g.err || g.n != nw) {
					snprintf(how, sizeof(how), "cut at %zu and %zu", i, j);
					check(&g, w, nw, how);
				}
			}
	{
		size_t bytes[1024];
		unsigned nb = 0;

		assert_true(len <= 1025);
		for (size_t i = 1; i < len; i++)
			bytes[nb++] = i;
		run(s, len, bytes, nb, head_mask, eof, &g);
		check(&g, w, nw, "byte by byte");
	}
}

/* Must fail in every cut, and never report a response past good. */
static void all_cuts_fail(const char *s, unsigned good)
{
	size_t len = strlen(s), cut;
	struct got g;

	run(s, len, NULL, 0, 0, false, &g);
	if (!g.err || g.n != good)
		fail_msg("whole: err %d after %u responses (want an error after %u): %s", g.err, g.n,
			 good, s);
	for (size_t i = 1; i < len; i++) {
		cut = i;
		run(s, len, &cut, 1, 0, false, &g);
		if (!g.err || g.n != good)
			fail_msg("cut at %zu: err %d after %u responses: %s", i, g.err, g.n, s);
	}
}

static void test_content_length(void **state)
{
	static const char s[] =
		"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\nDate: now\r\n\r\n55"
		"HTTP/1.1 404 Not Found\r\ncontent-length:0\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCONTENT-LENGTH:   12  \r\n\r\nhello world!"
		"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc";
	static const struct want w[] = {
		{ 200, 2, ZL_RESP_F_CL, 0 },
		{ 404, 0, ZL_RESP_F_CL, 0 },
		{ 200, 12, ZL_RESP_F_CL, 0 },
		{ 500, 3, ZL_RESP_F_CL, 0 },
	};

	(void)state;
	all_cuts(s, 0, false, w, 4);
}

static void test_chunked(void **state)
{
	static const char s[] =
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n7;ext=1;q=\"x\"\r\n, world\r\nA \r\n0123456789\r\n0\r\n\r\n"
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\nX: y\r\n\r\n"
		"1f\r\n0123456789012345678901234567890\r\n0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n"
		"HTTP/1.1 201 Created\r\ntransfer-encoding:chunked\r\n\r\n0\r\n\r\n";
	static const struct want w[] = {
		{ 200, 22, ZL_RESP_F_CHUNKED | ZL_RESP_F_TE, 0 },
		{ 200, 31, ZL_RESP_F_CHUNKED, 0 },
		{ 201, 0, ZL_RESP_F_CHUNKED, 0 },
	};

	(void)state;
	all_cuts(s, 0, false, w, 3);
}

static void test_no_body_cases(void **state)
{
	/* 100 Continue then the answer; 204, 304 with a Content-Length they
	 * do not send; HEAD's answer to a Content-Length (mask bit 3) */
	static const char s[] =
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: 1\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"
		"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
	static const struct want w[] = {
		{ 200, 4, ZL_RESP_F_CL, 2 },
		{ 204, 0, 0, 0 },
		{ 304, 0, 0, 0 },
		{ 200, 0, ZL_RESP_F_CL, 0 },
		{ 200, 1, ZL_RESP_F_CL, 0 },
	};

	(void)state;
	all_cuts(s, 1u << 3, false, w, 5);
}

static void test_connection_close(void **state)
{
	static const char s[] =
		"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\n1"
		"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n2"
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n3"
		"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
	static const struct want w[] = {
		{ 200, 1, ZL_RESP_F_CLOSE | ZL_RESP_F_KEEPALIVE, 0 },
		{ 200, 1, ZL_RESP_F_CLOSE, 0 },
		{ 200, 1, ZL_RESP_F_KEEPALIVE, 0 },
		{ 400, 0, ZL_RESP_F_CLOSE, 0 },
	};
	struct got g;

	(void)state;
	all_cuts(s, 0, false, w, 4);
	/* the third one must not carry CLOSE */
	run(s, strlen(s), NULL, 0, 0, false, &g);
	assert_false(g.r[2].flags & ZL_RESP_F_CLOSE);
}

static void test_until_eof(void **state)
{
	static const char s1[] = "HTTP/1.1 200 OK\r\nX: y\r\n\r\nall of this until the end";
	static const char s2[] = "HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc";
	static const char s3[] = "HTTP/1.1 200 OK\r\n\r\n";
	static const struct want w1 = { 200, 25, ZL_RESP_F_UNTIL_EOF | ZL_RESP_F_CLOSE, 0 };
	static const struct want w2 = { 200, 3, ZL_RESP_F_UNTIL_EOF | ZL_RESP_F_TE, 0 };
	static const struct want w3 = { 200, 0, ZL_RESP_F_UNTIL_EOF, 0 };
	struct zl_resp r;
	size_t used;

	(void)state;
	all_cuts(s1, 0, true, &w1, 1);
	all_cuts(s2, 0, true, &w2, 1);
	all_cuts(s3, 0, true, &w3, 1);
	/* eof with nothing begun: nothing pending; in the middle: an error */
	zl_resp_init(&r, false);
	assert_int_equal(zl_resp_eof(&r), ZL_RESP_MORE);
	assert_false(zl_resp_started(&r));
	assert_int_equal(zl_resp_feed(&r, (const uint8_t *)"HTT", 3, &used), ZL_RESP_MORE);
	assert_true(zl_resp_started(&r));
	assert_int_equal(zl_resp_eof(&r), ZL_RESP_ERR);
	zl_resp_init(&r, false);
	assert_int_equal(zl_resp_feed(&r, (const uint8_t *)"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
				      40, &used), ZL_RESP_MORE);
	assert_int_equal(zl_resp_eof(&r), ZL_RESP_ERR);
}

static void test_big_lengths(void **state)
{
	static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387000\r\n\r\n";
	struct zl_resp r;
	size_t used;
	uint8_t body[4096] = { 0 };

	(void)state;
	zl_resp_init(&r, false);
	assert_int_equal(zl_resp_feed(&r, (const uint8_t *)s, strlen(s), &used), ZL_RESP_MORE);
	assert_int_equal(used, strlen(s));
	assert_int_equal(zl_resp_feed(&r, body, sizeof(body), &used), ZL_RESP_MORE);
	assert_int_equal(r.body, sizeof(body));
	/* one more digit overflows the limit */
	all_cuts_fail("HTTP/1.1 200 OK\r\nContent-Length: 46116860184273870000\r\n\r\n", 0);
	all_cuts_fail("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 0);
}

static void test_errors(void **state)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const char *bad[] = {
		"HTTP/2.0 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 099 OK\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",
		"HTTP/1.x 200 OK\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n",
		"<html>\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\rX",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\rX",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\rX",
		"HTTP/1.1 200 OK\r\n\rX",
	};
	char buf[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		all_cuts_fail(bad[i], 0);
		/* after a good response, the bad one still fails, and the good
		 * one is reported first */
		snprintf(buf, sizeof(buf), "%s%s", ok, bad[i]);
		all_cuts_fail(buf, 1);
	}
}

static void test_limits(void **state)
{
	static char s[ZL_RESP_MAX_HEAD + 4096];
	struct zl_resp r;
	size_t n, used;
	int rc = ZL_RESP_MORE;

	(void)state;
	/* too many header lines */
	n = (size_t)sprintf(s, "HTTP/1.1 200 OK\r\n");
	for (unsigned i = 0; i <= ZL_RESP_MAX_LINES; i++)
		n += (size_t)sprintf(s + n, "X-%u: v\r\n", i);
	n += (size_t)sprintf(s + n, "\r\n");
	zl_resp_init(&r, false);
	assert_int_equal(zl_resp_feed(&r, (const uint8_t *)s, n, &used), ZL_RESP_ERR);
	/* a head over the size limit, fed in pieces */
	n = (size_t)sprintf(s, "HTTP/1.1 200 OK\r\nX: ");
	memset(s + n, 'a', sizeof(s) - n);
	zl_resp_init(&r, false);
	for (size_t off = 0; off < sizeof(s) && rc == ZL_RESP_MORE; off += 1000)
		rc = zl_resp_feed(&r, (const uint8_t *)s + off, 1000, &used);
	assert_int_equal(rc, ZL_RESP_ERR);
	/* feeding without re-initialising after DONE is refused */
	zl_resp_init(&r, false);
	assert_int_equal(zl_resp_feed(&r, (const uint8_t *)"HTTP/1.1 204 No\r\n\r\n", 19, &used),
			 ZL_RESP_DONE);
	assert_int_equal(used, 19);
	assert_int_equal(zl_resp_feed(&r, (const uint8_t *)"H", 1, &used), ZL_RESP_ERR);
}

/* The answers httparena-server gives, as they are on the wire. */
static void test_httparena_like(void **state)
{
	static const char s[] =
		"HTTP/1.1 200 OK\r\nServer: zerg\r\nDate: Mon, 01 Dec 2026 23:00:00 GMT\r\n"
		"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n55"
		"HTTP/1.1 200 OK\r\nServer: zerg\r\nDate: Mon, 01 Dec 2026 23:00:00 GMT\r\n"
		"Content-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"items\":[],\"c\":0}"
		"HTTP/1.1 400 Bad Request\r\nServer: zerg\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request";
	static const struct want w[] = {
		{ 200, 2, ZL_RESP_F_CL, 0 },
		{ 200, 18, ZL_RESP_F_CL, 0 },
		{ 400, 11, ZL_RESP_F_CL | ZL_RESP_F_CLOSE, 0 },
	};

	(void)state;
	all_cuts(s, 0, false, w, 3);
}

/* zl_resp_expect: the body compared as it streams, cut anywhere */
static void test_expect(void **state)
{
	static const char *streams[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n20971520",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n209\r\n5\r\n71520\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n20971521",
		"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n2097152",
		"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n209715200",
		"HTTP/1.1 204 No Content\r\n\r\n",
	};
	static const bool good[] = { true, true, false, false, false, false };

	(void)state;
	for (size_t k = 0; k < sizeof(streams) / sizeof(streams[0]); k++) {
		size_t len = strlen(streams[k]);

		for (size_t cut = 0; cut < len; cut++) {
			struct zl_resp r;
			size_t used, off = 0;
			int rc = ZL_RESP_MORE;

			zl_resp_init(&r, false);
			zl_resp_expect(&r, "20971520", 8);
			if (cut) {
				rc = zl_resp_feed(&r, (const uint8_t *)streams[k], cut, &used);
				assert_int_equal(rc, ZL_RESP_MORE);
				off = cut;
			}
			rc = zl_resp_feed(&r, (const uint8_t *)streams[k] + off, len - off, &used);
			assert_int_equal(rc, ZL_RESP_DONE);
			if (!(r.flags & ZL_RESP_F_MISMATCH) != good[k])
				fail_msg("stream %zu cut at %zu: mismatch %d", k, cut,
					 !!(r.flags & ZL_RESP_F_MISMATCH));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_no_body_cases),
		cmocka_unit_test(test_connection_close),
		cmocka_unit_test(test_until_eof),
		cmocka_unit_test(test_big_lengths),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_httparena_like),
		cmocka_unit_test(test_expect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
