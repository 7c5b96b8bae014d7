/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of zerg_ws's pure parts (examples/ws/ws.c): the handshake
 * checks and the accept key, the response heads, UTF-8, the frame
 * writer, and the frame parser on every case of SPEC-HEAD.md 9.5. Every
 * parser input is also fed cut at every byte (two pieces), one byte at
 * a time, and cut at random places, and must give the same transcript
 * (ws_test.h) as when fed whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ws_test.h"

/* ------------------------------------------------------------------ */
/* Handshake                                                           */
/* ------------------------------------------------------------------ */

#define S(lit) ((struct ws_str){ (lit), sizeof(lit) - 1 })
#define NONE ((struct ws_str){ NULL, 0 })

static struct ws_request good_request(void)
{
	return (struct ws_request){
		.upgrade = S("websocket"),
		.connection = S("Upgrade"),
		.key = S("dGhlIHNhbXBsZSBub25jZQ=="),
		.version = S("13"),
	};
}

static void test_token_list(void **state)
{
	(void)state;
	assert_true(ws_token_in_list("Upgrade", 7, "upgrade"));
	assert_true(ws_token_in_list("keep-alive, Upgrade", 19, "upgrade"));
	assert_true(ws_token_in_list("keep-alive,upgrade", 18, "upgrade"));
	assert_true(ws_token_in_list(" UPGRADE ,x", 11, "upgrade"));
	assert_true(ws_token_in_list("a,\tupgrade\t", 11, "upgrade"));
	assert_true(ws_token_in_list(",,upgrade,,", 11, "upgrade"));
	assert_true(ws_token_in_list("WebSocket", 9, "websocket"));
	assert_false(ws_token_in_list("upgrades", 8, "upgrade"));
	assert_false(ws_token_in_list("upgrad", 6, "upgrade"));
	assert_false(ws_token_in_list("keep-alive", 10, "upgrade"));
	assert_false(ws_token_in_list("up grade", 8, "upgrade"));
	assert_false(ws_token_in_list("", 0, "upgrade"));
	assert_false(ws_token_in_list(NULL, 0, "upgrade"));
	/* the length bounds the list, not a NUL */
	assert_false(ws_token_in_list("upgradeX", 6, "upgrade"));
	assert_true(ws_token_in_list("x,upgrade,y", 9, "upgrade"));
}

static void test_key_valid(void **state)
{
	(void)state;
	assert_true(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
	assert_true(ws_key_valid(" AAAAAAAAAAAAAAAAAAAAAA== ", 26));
	assert_true(ws_key_valid("+/+/+/+/+/+/+/+/+/+/+w==", 24));
	assert_false(ws_key_valid(NULL, 0));
	assert_false(ws_key_valid("", 0));
	assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
	assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ===", 25));
	assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZQAA", 24)); /* 18 bytes */
	assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZQA=", 24)); /* 17 bytes */
	assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZ===", 24));
	assert_false(ws_key_valid("dGhlIHNhbXBsZSBub2*jZQ==", 24));
	assert_false(ws_key_valid("dGhlIHNhbXBsZ SBub25jZQ==", 25));
	assert_false(ws_key_valid("aGVsbG8=", 8));
	/* 16 bytes, but base64url */
	assert_false(ws_key_valid("-_-_-_-_-_-_-_-_-_-_-w==", 24));
	/* a NUL inside */
	assert_false(ws_key_valid("dGhlIHNhbXBsZSBu\0025jZQ==", 24));
}

static void test_handshake_check(void **state)
{
	struct ws_request r;
	(void)state;

	r = good_request();
	assert_int_equal(ws_handshake_check(&r), 0);
	r.connection = S("keep-alive, Upgrade");
	r.upgrade = S("WebSocket");
	assert_int_equal(ws_handshake_check(&r), 0);
	r.upgrade = S("h2c, websocket");
	assert_int_equal(ws_handshake_check(&r), 0);
	r.version = S(" 13 ");
	assert_int_equal(ws_handshake_check(&r), 0);

	/* not an upgrade to WebSocket: 426 (the plain GET /ws) */
	r = good_request();
	r.upgrade = NONE;
	assert_int_equal(ws_handshake_check(&r), 426);
	r = good_request();
	r.upgrade = S("h2c");
	assert_int_equal(ws_handshake_check(&r), 426);
	r = good_request();
	r.connection = S("keep-alive");
	assert_int_equal(ws_handshake_check(&r), 426);
	r = good_request();
	r.connection = NONE;
	assert_int_equal(ws_handshake_check(&r), 426);
	r = (struct ws_request){ .connection = S("keep-alive") };
	assert_int_equal(ws_handshake_check(&r), 426);

	/* version: 13 only */
	static const char *bad_versions[] = { "8", "12", "14", "130", "1", "", "13,8", "0x0d" };
	for (size_t i = 0; i < sizeof(bad_versions) / sizeof(*bad_versions); i++) {
		r = good_request();
		r.version = (struct ws_str){ bad_versions[i], strlen(bad_versions[i]) };
		assert_int_equal(ws_handshake_check(&r), 426);
	}
	r = good_request();
	r.version = NONE;
	assert_int_equal(ws_handshake_check(&r), 426);

	/* key: 16 bytes of base64 */
	r = good_request();
	r.key = NONE;
	assert_int_equal(ws_handshake_check(&r), 400);
	r.key = S("");
	assert_int_equal(ws_handshake_check(&r), 400);
	r.key = S("aGVsbG8=");
	assert_int_equal(ws_handshake_check(&r), 400);
	r.key = S("dGhlIHNhbXBsZSBub25jZQAA");
	assert_int_equal(ws_handshake_check(&r), 400);
}

static void test_accept_key(void **state)
{
	char out[WS_ACCEPT_LEN + 1];
	(void)state;

	/* RFC 6455 1.3 */
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	ws_accept_key("  dGhlIHNhbXBsZSBub25jZQ==\t", 27, out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* python3 -c 'import base64,hashlib;print(base64.b64encode(hashlib.sha1(
	 *   b"AAAAAAAAAAAAAAAAAAAAAA==258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()))' */
	ws_accept_key("AAAAAAAAAAAAAAAAAAAAAA==", 24, out);
	assert_string_equal(out, "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
}

static void test_write_101(void **state)
{
	char out[WS_101_MAX];
	static const char want[] = "HTTP/1.1 101 Switching Protocols\r\n"
				   "Upgrade: websocket\r\n"
				   "Connection: Upgrade\r\n"
				   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
	(void)state;

	size_t n = ws_write_101(out, "dGhlIHNhbXBsZSBub25jZQ==", 24);
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, n);
	assert_true(n <= WS_101_MAX);
}

/* The response parses: status, the headers asked, Content-Length equal
 * to what follows the head. */
static void check_reject(int status, bool close, int want_status, const char *const *want)
{
	char out[WS_REJECT_MAX + 1];
	size_t n = ws_write_reject(out, status, close);
	char line[32];

	assert_true(n <= WS_REJECT_MAX);
	out[n] = 0;
	snprintf(line, sizeof(line), "HTTP/1.1 %d ", want_status);
	assert_memory_equal(out, line, strlen(line));
	for (; *want; want++)
		assert_non_null(strstr(out, *want));
	char *end = strstr(out, "\r\n\r\n");
	assert_non_null(end);
	char *cl = strstr(out, "Content-Length: ");
	assert_non_null(cl);
	assert_true(cl < end);
	assert_int_equal(strtoul(cl + 16, NULL, 10), n - (size_t)(end + 4 - out));
	assert_int_equal(close, strstr(out, "close\r\n") != NULL);
}

static void test_write_reject(void **state)
{
	static const char *const h426[] = { "\r\nUpgrade: websocket\r\n",
					    "\r\nSec-WebSocket-Version: 13\r\n",
					    "\r\nConnection: Upgrade", NULL };
	static const char *const h426c[] = { "\r\nConnection: Upgrade, close\r\n",
					     "\r\nSec-WebSocket-Version: 13\r\n", NULL };
	static const char *const h400[] = { "Content-Type: text/plain\r\n", NULL };
	(void)state;

	check_reject(426, false, 426, h426);
	check_reject(426, true, 426, h426c);
	check_reject(400, false, 400, h400);
	check_reject(400, true, 400, h400);
	check_reject(500, false, 400, h400);
}

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */
/* ------------------------------------------------------------------ */

struct u8case {
	const char *s;
	size_t n;
	bool ok;
};
#define U(lit, ok) { (lit), sizeof(lit) - 1, (ok) }

static const struct u8case u8cases[] = {
	U("", true),
	U("hello", true),
	U("\x7f", true),
	U("\xc2\x80", true),             /* U+0080 */
	U("\xdf\xbf", true),             /* U+07FF */
	U("\xe0\xa0\x80", true),         /* U+0800 */
	U("\xed\x9f\xbf", true),         /* U+D7FF */
	U("\xee\x80\x80", true),         /* U+E000 */
	U("\xef\xbf\xbf", true),         /* U+FFFF */
	U("\xf0\x90\x80\x80", true),     /* U+10000 */
	U("\xf4\x8f\xbf\xbf", true),     /* U+10FFFF */
	U("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true), /* "kosme" */
	U("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", true),
	U("\xe2\x82\xac 1234567890 abcdefgh", true),
	/* overlongs */
	U("\xc0\x80", false),
	U("\xc1\xbf", false),
	U("\xe0\x80\x80", false),
	U("\xe0\x9f\xbf", false),
	U("\xf0\x80\x80\x80", false),
	U("\xf0\x8f\xbf\xbf", false),
	U("\xc0\xaf", false),
	U("\xe0\x80\xaf", false),
	U("\xf8\x88\x80\x80\x80", false),
	/* surrogates */
	U("\xed\xa0\x80", false),
	U("\xed\xbf\xbf", false),
	U("\xed\xa0\x80\xed\xb0\x80", false),
	/* past U+10FFFF */
	U("\xf4\x90\x80\x80", false),
	U("\xf5\x80\x80\x80", false),
	U("\xf7\xbf\xbf\xbf", false),
	U("\xfe", false),
	U("\xff", false),
	/* lone continuation bytes, truncated sequences */
	U("\x80", false),
	U("a\xbf", false),
	U("\xc2", false),
	U("\xe2\x82", false),
	U("\xf0\x90\x80", false),
	U("\xc2" "a", false),
	U("\xe2\x82" "a", false),
	U("\xf0\x90\x80" "a", false),
	U("abcdefgh\xe2\x82", false),
	U("abcdefghijklmnop\x80qrstuvw", false),
	U("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", false),
};

static void test_utf8(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(u8cases) / sizeof(*u8cases); i++) {
		const struct u8case *c = &u8cases[i];
		const uint8_t *p = (const uint8_t *)c->s;
		if (ws_utf8_valid(p, c->n) != c->ok)
			fail_msg("case %zu: expected %s", i, c->ok ? "valid" : "invalid");
		/* every cut, state carried across */
		for (size_t k = 0; k <= c->n; k++) {
			unsigned st = ws_utf8_feed(WS_UTF8_OK, p, k);
			st = ws_utf8_feed(st, p + k, c->n - k);
			assert_int_equal(st == WS_UTF8_OK, c->ok);
		}
	}
}

/* Every code point, encoded the right way: valid, except surrogates
 * (which the encoding rule of RFC 3629 excludes); and every 2-byte
 * sequence decided the same way as a decoder that works it out. */
static void test_utf8_exhaustive(void **state)
{
	(void)state;
	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		uint8_t b[4];
		size_t n;
		if (cp < 0x80) {
			b[0] = (uint8_t)cp;
			n = 1;
		} else if (cp < 0x800) {
			b[0] = (uint8_t)(0xc0 | cp >> 6);
			b[1] = (uint8_t)(0x80 | (cp & 63));
			n = 2;
		} else if (cp < 0x10000) {
			b[0] = (uint8_t)(0xe0 | cp >> 12);
			b[1] = (uint8_t)(0x80 | (cp >> 6 & 63));
			b[2] = (uint8_t)(0x80 | (cp & 63));
			n = 3;
		} else {
			b[0] = (uint8_t)(0xf0 | cp >> 18);
			b[1] = (uint8_t)(0x80 | (cp >> 12 & 63));
			b[2] = (uint8_t)(0x80 | (cp >> 6 & 63));
			b[3] = (uint8_t)(0x80 | (cp & 63));
			n = 4;
		}
		bool want = cp < 0xd800 || cp > 0xdfff;
		if (ws_utf8_valid(b, n) != want)
			fail_msg("U+%04X", cp);
	}
	/* past U+10FFFF, 4-byte form */
	for (uint32_t cp = 0x110000; cp < 0x200000; cp += 0x1111) {
		uint8_t b[4] = { (uint8_t)(0xf0 | cp >> 18), (uint8_t)(0x80 | (cp >> 12 & 63)),
				 (uint8_t)(0x80 | (cp >> 6 & 63)), (uint8_t)(0x80 | (cp & 63)) };
		assert_false(ws_utf8_valid(b, 4));
	}
	/* every 2-byte string */
	for (unsigned x = 0; x < 65536; x++) {
		uint8_t b[2] = { (uint8_t)(x >> 8), (uint8_t)x };
		bool want;
		if (b[0] < 0x80)
			want = b[1] < 0x80;
		else
			want = b[0] >= 0xc2 && b[0] <= 0xdf && (b[1] & 0xc0) == 0x80;
		if (ws_utf8_valid(b, 2) != want)
			fail_msg("%02x %02x", b[0], b[1]);
	}
}

/* ------------------------------------------------------------------ */
/* Frame writer                                                        */
/* ------------------------------------------------------------------ */

static void test_frame_head(void **state)
{
	uint8_t h[WS_MAX_HEAD];
	(void)state;

	assert_int_equal(ws_frame_head(h, WS_OP_TEXT, 5), 2);
	assert_memory_equal(h, "\x81\x05", 2);
	assert_int_equal(ws_frame_head(h, WS_OP_BINARY, 0), 2);
	assert_memory_equal(h, "\x82\x00", 2);
	assert_int_equal(ws_frame_head(h, WS_OP_PONG, 125), 2);
	assert_memory_equal(h, "\x8a\x7d", 2);
	assert_int_equal(ws_frame_head(h, WS_OP_TEXT, 126), 4);
	assert_memory_equal(h, "\x81\x7e\x00\x7e", 4);
	assert_int_equal(ws_frame_head(h, WS_OP_TEXT, 65535), 4);
	assert_memory_equal(h, "\x81\x7e\xff\xff", 4);
	assert_int_equal(ws_frame_head(h, WS_OP_BINARY, 65536), 10);
	assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	assert_int_equal(ws_frame_head(h, WS_OP_BINARY, 0x123456789aull), 10);
	assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x12\x34\x56\x78\x9a", 10);
	assert_int_equal(ws_frame_head(h, WS_OP_CLOSE, 2), 2);
	assert_memory_equal(h, "\x88\x02", 2);
	for (uint64_t n = 0; n < 70000; n++)
		assert_int_equal(ws_head_len(n), n < 126 ? 2 : n < 65536 ? 4 : 10);
}

/* ------------------------------------------------------------------ */
/* Parser                                                              */
/* ------------------------------------------------------------------ */

#define RANDOM_SETS 8

static uint64_t rng_s = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_s ^= rng_s << 13;
	rng_s ^= rng_s >> 7;
	rng_s ^= rng_s << 17;
	return rng_s;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static void same(const struct wt_out *a, const struct wt_out *b, const char *how, size_t at)
{
	if (strcmp(a->log, b->log) || a->end != b->end)
		fail_msg("fed %s %zu: \"%s\" (end %zu), whole: \"%s\" (end %zu)", how, at, b->log,
			 b->end, a->log, a->end);
}

/* Parse in[0..n) whole, then in pieces; every way must give the same
 * transcript, which must be `want`. Long inputs (big payloads) are cut
 * at every byte of their first and last 300 bytes and at random. */
static void expect_limit(const uint8_t *in, size_t n, uint64_t limit, const char *want)
{
	struct wt_out whole, o;
	size_t cuts[16];

	wt_run(&whole, limit, in, n, NULL, 0);
	if (strcmp(whole.log, want))
		fail_msg("got \"%s\", want \"%s\"", whole.log, want);
	for (size_t k = 1; k < n; k++) {
		if (n > 700 && k > 300 && k < n - 300)
			continue;
		wt_run(&o, limit, in, n, &k, 1);
		same(&whole, &o, "cut at", k);
		wt_free(&o);
	}
	if (n <= 70000) {
		/* one byte at a time */
		struct ws_parser p;
		ws_parser_init(&p, limit);
		wt_init(&o);
		for (size_t i = 0; i < n; i++)
			wt_feed(&p, &o, in + i, 1, i);
		wt_feed(&p, &o, in + n, 0, n);
		same(&whole, &o, "bytewise, length", n);
		wt_free(&o);
	}
	for (int r = 0; r < RANDOM_SETS && n > 1; r++) {
		size_t k = 0;
		for (size_t i = 0; i < 16; i++)
			cuts[i] = 1 + (size_t)(rng() % (n - 1));
		qsort(cuts, 16, sizeof(*cuts), cmp_size);
		for (size_t i = 0; i < 16; i++)
			if (!k || cuts[i] != cuts[k - 1])
				cuts[k++] = cuts[i];
		wt_run(&o, limit, in, n, cuts, k);
		same(&whole, &o, "random cuts, set", (size_t)r);
		wt_free(&o);
	}
	wt_free(&whole);
}

static void expect(const uint8_t *in, size_t n, const char *want)
{
	expect_limit(in, n, 0, want);
}

/* A helper for building: frames appended to one buffer. */
struct fb {
	uint8_t *p;
	size_t n;
};

static void fb_add(struct fb *f, uint8_t b0, const void *p, size_t n)
{
	wt_add(&f->p, &f->n, b0, p, n);
}

static void fb_raw(struct fb *f, uint8_t b0, const void *p, uint64_t n, const uint8_t *key,
		   int form)
{
	wt_frame(&f->p, &f->n, b0, p, n, key, form);
}

static void fb_expect(struct fb *f, const char *want)
{
	expect(f->p, f->n, want);
	free(f->p);
	f->p = NULL;
	f->n = 0;
}

static void test_benchmark_frame(void **state)
{
	/* SPEC-HEAD.md 9.2: gcannon's frame */
	static const uint8_t gc[] = { 0x81, 0x85, 0x12, 0x34, 0x56, 0x78, 0x7a, 0x51, 0x3a, 0x14, 0x7d };
	(void)state;
	expect(gc, sizeof(gc), "M1:68656c6c6f\n");
	/* and back to back, as -p 1 would never but a pipeline could */
	uint8_t three[3 * sizeof(gc)];
	for (int i = 0; i < 3; i++)
		memcpy(three + i * sizeof(gc), gc, sizeof(gc));
	expect(three, sizeof(three), "M1:68656c6c6f\nM1:68656c6c6f\nM1:68656c6c6f\n");
}

static void test_lengths(void **state)
{
	static const size_t sizes[] = { 0, 1, 4, 5, 125, 126, 127, 1000, 65535, 65536, 100000 };
	struct fb f = { 0 };
	(void)state;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		size_t n = sizes[i];
		uint8_t *p = malloc(n + 1);
		struct wt_out o;
		for (size_t k = 0; k < n; k++)
			p[k] = (uint8_t)(k * 7 + 3);
		/* binary, shortest length form */
		fb_add(&f, 0x82, p, n);
		wt_init(&o);
		wt_logf_payload(&o, "M2", p, n);
		fb_expect(&f, o.log);
		/* text (ASCII) */
		for (size_t k = 0; k < n; k++)
			p[k] = (uint8_t)('a' + k % 26);
		fb_add(&f, 0x81, p, n);
		free(o.log);
		wt_init(&o);
		wt_logf_payload(&o, "M1", p, n);
		fb_expect(&f, o.log);
		/* every length form that can hold n (longer than needed is
		 * accepted: the minimal-length rule binds the sender) */
		for (int form = LEN_7; form <= LEN_64; form++) {
			if ((form == LEN_7 && n > 125) || (form == LEN_16 && n > 65535))
				continue;
			fb_raw(&f, 0x81, p, n, wt_key, form);
			fb_expect(&f, o.log);
		}
		wt_free(&o);
		free(p);
	}
}

static void test_fragments(void **state)
{
	struct fb f = { 0 };
	(void)state;

	/* text in three fragments */
	fb_add(&f, 0x01, "hel", 3);
	fb_add(&f, 0x00, "l", 1);
	fb_add(&f, 0x80, "o", 1);
	fb_expect(&f, "M1:68656c6c6f\n");
	/* binary, with empty fragments */
	fb_add(&f, 0x02, "", 0);
	fb_add(&f, 0x00, "ab", 2);
	fb_add(&f, 0x00, "", 0);
	fb_add(&f, 0x80, "", 0);
	fb_expect(&f, "M2:6162\n");
	/* all empty */
	fb_add(&f, 0x01, "", 0);
	fb_add(&f, 0x80, "", 0);
	fb_expect(&f, "M1:\n");
	/* control frames between fragments */
	fb_add(&f, 0x01, "he", 2);
	fb_add(&f, 0x89, "p1", 2);
	fb_add(&f, 0x00, "ll", 2);
	fb_add(&f, 0x8a, "", 0);
	fb_add(&f, 0x89, "", 0);
	fb_add(&f, 0x80, "o", 1);
	fb_add(&f, 0x82, "x", 1);
	fb_expect(&f, "PING:7031\nPONG:\nPING:\nM1:68656c6c6f\nM2:78\n");
	/* a Close between fragments ends it all */
	fb_add(&f, 0x01, "he", 2);
	fb_add(&f, 0x88, "\x03\xe8", 2);
	fb_add(&f, 0x80, "llo", 3);
	fb_expect(&f, "CLOSE:1000:\n");
	/* a multi-byte character cut by fragments: U+20AC, U+10348 */
	fb_add(&f, 0x01, "\xe2", 1);
	fb_add(&f, 0x00, "\x82", 1);
	fb_add(&f, 0x80, "\xac", 1);
	fb_expect(&f, "M1:e282ac\n");
	fb_add(&f, 0x01, "a\xf0\x90", 3);
	fb_add(&f, 0x89, "", 0);
	fb_add(&f, 0x00, "\x8d", 1);
	fb_add(&f, 0x80, "\x88", 1);
	fb_expect(&f, "PING:\nM1:61f0908d88\n");
	/* many fragments */
	for (int i = 0; i < 100; i++)
		fb_add(&f, i ? 0x00 : 0x02, "z", 1);
	fb_add(&f, 0x80, "", 0);
	{
		uint8_t z[100];
		struct wt_out o;
		memset(z, 'z', sizeof(z));
		wt_init(&o);
		wt_logf_payload(&o, "M2", z, sizeof(z));
		fb_expect(&f, o.log);
		wt_free(&o);
	}
}

static void test_control(void **state)
{
	struct fb f = { 0 };
	uint8_t p125[125];
	(void)state;

	memset(p125, 'p', sizeof(p125));
	fb_add(&f, 0x89, "hello", 5);
	fb_expect(&f, "PING:68656c6c6f\n");
	fb_add(&f, 0x89, "", 0);
	fb_expect(&f, "PING:\n");
	fb_add(&f, 0x89, p125, 125);
	{
		struct wt_out o;
		wt_init(&o);
		wt_logf_payload(&o, "PING", p125, 125);
		fb_expect(&f, o.log);
		wt_free(&o);
	}
	/* unsolicited Pong: reported (the driver ignores it) */
	fb_add(&f, 0x8a, "x", 1);
	fb_add(&f, 0x81, "y", 1);
	fb_expect(&f, "PONG:78\nM1:79\n");
	/* a Ping's payload is bytes, not text */
	fb_add(&f, 0x89, "\xff\xfe", 2);
	fb_expect(&f, "PING:fffe\n");
	/* a control frame's length in the 16-bit form, even of a value
	 * under 126: refused at its second byte (RFC 6455 5.5: control
	 * frames carry 125 bytes at most, which the 7-bit form holds) */
	fb_raw(&f, 0x89, "ab", 2, wt_key, LEN_16);
	fb_expect(&f, "ERR:1002\n");
}

static void test_close(void **state)
{
	struct fb f = { 0 };
	(void)state;

	fb_add(&f, 0x88, "", 0);
	fb_expect(&f, "CLOSE:0:\n");
	fb_add(&f, 0x88, "\x03\xe8", 2);
	fb_expect(&f, "CLOSE:1000:\n");
	fb_add(&f, 0x88, "\x03\xe8validate done", 15);
	fb_expect(&f, "CLOSE:1000:76616c696461746520646f6e65\n");
	/* nothing after a Close is read, not even garbage */
	fb_add(&f, 0x88, "\x03\xe9", 2);
	fb_add(&f, 0x81, "x", 1);
	fb_raw(&f, 0xff, "", 0, NULL, LEN_7);
	fb_expect(&f, "CLOSE:1001:\n");
	/* a 1-byte payload */
	fb_add(&f, 0x88, "\x03", 1);
	fb_expect(&f, "ERR:1002\n");
	/* codes */
	static const unsigned good[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
					 3000, 3999, 4000, 4999 };
	static const unsigned bad[] = { 0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015,
					1016, 1100, 2000, 2999, 5000, 65535 };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		uint8_t b[3] = { (uint8_t)(good[i] >> 8), (uint8_t)good[i], 'r' };
		char want[32];
		snprintf(want, sizeof(want), "CLOSE:%u:72\n", good[i]);
		fb_add(&f, 0x88, b, 3);
		fb_expect(&f, want);
		assert_true(ws_close_code_valid(good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		uint8_t b[2] = { (uint8_t)(bad[i] >> 8), (uint8_t)bad[i] };
		fb_add(&f, 0x88, b, 2);
		fb_expect(&f, "ERR:1002\n");
		assert_false(ws_close_code_valid(bad[i]));
	}
	/* the reason must be UTF-8 */
	fb_add(&f, 0x88, "\x03\xe8\xce\xba", 4);
	fb_expect(&f, "CLOSE:1000:ceba\n");
	fb_add(&f, 0x88, "\x03\xe8\xce", 3);
	fb_expect(&f, "ERR:1007\n");
	fb_add(&f, 0x88, "\x03\xe8\xed\xa0\x80", 5);
	fb_expect(&f, "ERR:1007\n");
	/* fragmented Close */
	fb_add(&f, 0x08, "\x03\xe8", 2);
	fb_expect(&f, "ERR:1002\n");
}

static void test_protocol_errors(void **state)
{
	struct fb f = { 0 };
	uint8_t big[126];
	(void)state;

	memset(big, 'b', sizeof(big));
	/* unmasked client frames: data and control */
	fb_raw(&f, 0x81, "hello", 5, NULL, LEN_7);
	fb_expect(&f, "ERR:1002\n");
	fb_raw(&f, 0x89, "", 0, NULL, LEN_7);
	fb_expect(&f, "ERR:1002\n");
	fb_raw(&f, 0x88, "\x03\xe8", 2, NULL, LEN_7);
	fb_expect(&f, "ERR:1002\n");
	/* after good frames */
	fb_add(&f, 0x81, "ok", 2);
	fb_raw(&f, 0x82, "no", 2, NULL, LEN_7);
	fb_expect(&f, "M1:6f6b\nERR:1002\n");
	/* RSV bits, on data and control frames */
	for (uint8_t rsv = 1; rsv < 8; rsv++) {
		fb_add(&f, (uint8_t)(0x81 | rsv << 4), "x", 1);
		fb_expect(&f, "ERR:1002\n");
		fb_add(&f, (uint8_t)(0x89 | rsv << 4), "", 0);
		fb_expect(&f, "ERR:1002\n");
	}
	/* reserved opcodes */
	for (uint8_t op = 3; op < 16; op++) {
		if (op >= 8 && op <= 10)
			continue;
		fb_add(&f, (uint8_t)(0x80 | op), "x", 1);
		fb_expect(&f, "ERR:1002\n");
		fb_add(&f, op, "", 0);
		fb_expect(&f, "ERR:1002\n");
	}
	/* control frames: payload > 125 (in both long forms), FIN = 0 */
	fb_raw(&f, 0x89, big, 126, wt_key, LEN_16);
	fb_expect(&f, "ERR:1002\n");
	fb_raw(&f, 0x8a, big, 126, wt_key, LEN_64);
	fb_expect(&f, "ERR:1002\n");
	fb_raw(&f, 0x88, big, 126, wt_key, LEN_16);
	fb_expect(&f, "ERR:1002\n");
	fb_add(&f, 0x09, "x", 1);
	fb_expect(&f, "ERR:1002\n");
	fb_add(&f, 0x0a, "", 0);
	fb_expect(&f, "ERR:1002\n");
	/* a control frame between fragments with FIN = 0 */
	fb_add(&f, 0x01, "a", 1);
	fb_add(&f, 0x09, "", 0);
	fb_expect(&f, "ERR:1002\n");
	/* a continuation with no message, also right after one */
	fb_add(&f, 0x80, "x", 1);
	fb_expect(&f, "ERR:1002\n");
	fb_add(&f, 0x00, "x", 1);
	fb_expect(&f, "ERR:1002\n");
	fb_add(&f, 0x81, "a", 1);
	fb_add(&f, 0x80, "b", 1);
	fb_expect(&f, "M1:61\nERR:1002\n");
	fb_add(&f, 0x01, "a", 1);
	fb_add(&f, 0x80, "b", 1);
	fb_add(&f, 0x00, "c", 1);
	fb_expect(&f, "M1:6162\nERR:1002\n");
	/* a new data frame inside a fragmented message */
	fb_add(&f, 0x01, "a", 1);
	fb_add(&f, 0x81, "b", 1);
	fb_expect(&f, "ERR:1002\n");
	fb_add(&f, 0x02, "a", 1);
	fb_add(&f, 0x01, "b", 1);
	fb_expect(&f, "ERR:1002\n");
	fb_add(&f, 0x01, "a", 1);
	fb_add(&f, 0x89, "", 0);
	fb_add(&f, 0x82, "b", 1);
	fb_expect(&f, "PING:\nERR:1002\n");
	/* a 64-bit length with the top bit set */
	static const uint8_t top[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4 };
	expect(top, sizeof(top), "ERR:1002\n");
	static const uint8_t top2[] = { 0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	expect(top2, sizeof(top2), "ERR:1002\n");
	/* no payload needs to arrive for an error in the header */
	static const uint8_t hdr_only[] = { 0x81, 0x05 };
	expect(hdr_only, sizeof(hdr_only), "ERR:1002\n");
}

static void test_limits(void **state)
{
	struct fb f = { 0 };
	uint8_t *p = calloc(1, 4097);
	(void)state;

	/* one frame: at the limit, one byte over */
	fb_add(&f, 0x82, p, 1000);
	{
		struct wt_out o;
		wt_init(&o);
		wt_logf_payload(&o, "M2", p, 1000);
		expect_limit(f.p, f.n, 1000, o.log);
		wt_free(&o);
	}
	free(f.p);
	f.p = NULL;
	f.n = 0;
	fb_add(&f, 0x82, p, 1001);
	expect_limit(f.p, f.n, 1000, "ERR:1009\n");
	free(f.p);
	f.p = NULL;
	f.n = 0;
	/* the header alone is enough to refuse */
	static const uint8_t huge[] = { 0x82, 0xff, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 1, 2, 3, 4 };
	expect(huge, sizeof(huge), "ERR:1009\n");
	static const uint8_t huge2[] = { 0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0xff, 1, 2, 3, 4 };
	expect(huge2, sizeof(huge2), "ERR:1009\n");
	/* fragments add up: 600 + 400 fits 1000, 600 + 401 does not */
	fb_add(&f, 0x02, p, 600);
	fb_add(&f, 0x80, p, 400);
	{
		struct wt_out o;
		wt_init(&o);
		wt_logf_payload(&o, "M2", p, 1000);
		expect_limit(f.p, f.n, 1000, o.log);
		wt_free(&o);
	}
	free(f.p);
	f.p = NULL;
	f.n = 0;
	fb_add(&f, 0x02, p, 600);
	fb_add(&f, 0x89, "", 0);
	fb_add(&f, 0x80, p, 401);
	expect_limit(f.p, f.n, 1000, "PING:\nERR:1009\n");
	free(f.p);
	f.p = NULL;
	f.n = 0;
	/* the count starts again with each message */
	for (int i = 0; i < 5; i++)
		fb_add(&f, 0x81, p, 0), fb_add(&f, 0x02, "aaaa", 4), fb_add(&f, 0x80, p, 996);
	{
		struct wt_out o;
		uint8_t m[1000];
		memset(m, 0, sizeof(m));
		memcpy(m, "aaaa", 4);
		wt_init(&o);
		for (int i = 0; i < 5; i++) {
			wt_logf_payload(&o, "M1", m, 0);
			wt_logf_payload(&o, "M2", m, 1000);
		}
		expect_limit(f.p, f.n, 1000, o.log);
		wt_free(&o);
	}
	free(f.p);
	free(p);
}

static void test_text_utf8(void **state)
{
	struct fb f = { 0 };
	(void)state;

	for (size_t i = 0; i < sizeof(u8cases) / sizeof(*u8cases); i++) {
		const struct u8case *c = &u8cases[i];
		struct wt_out o;
		/* one frame */
		fb_add(&f, 0x81, c->s, c->n);
		wt_init(&o);
		if (c->ok)
			wt_logf_payload(&o, "M1", (const uint8_t *)c->s, c->n);
		else
			wt_log(&o, "ERR:1007\n", 9);
		fb_expect(&f, o.log);
		/* the same bytes as binary: fine */
		fb_add(&f, 0x82, c->s, c->n);
		free(o.log);
		wt_init(&o);
		wt_logf_payload(&o, "M2", (const uint8_t *)c->s, c->n);
		fb_expect(&f, o.log);
		/* cut into fragments at every byte, a Ping in between */
		for (size_t k = 0; k <= c->n; k++) {
			fb_add(&f, 0x01, c->s, k);
			fb_add(&f, 0x89, "", 0);
			fb_add(&f, 0x80, c->s + k, c->n - k);
			free(o.log);
			wt_init(&o);
			/* the error comes before the Ping when the first part
			 * is bad already, else after it */
			if (c->ok || ws_utf8_feed(WS_UTF8_OK, (const uint8_t *)c->s, k) != WS_UTF8_BAD)
				wt_log(&o, "PING:\n", 6);
			if (c->ok)
				wt_logf_payload(&o, "M1", (const uint8_t *)c->s, c->n);
			else
				wt_log(&o, "ERR:1007\n", 9);
			fb_expect(&f, o.log);
		}
		wt_free(&o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_list),
		cmocka_unit_test(test_key_valid),
		cmocka_unit_test(test_handshake_check),
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test(test_write_101),
		cmocka_unit_test(test_write_reject),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_utf8_exhaustive),
		cmocka_unit_test(test_frame_head),
		cmocka_unit_test(test_benchmark_frame),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_control),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_protocol_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_text_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
