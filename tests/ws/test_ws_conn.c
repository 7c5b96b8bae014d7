/* SPDX-License-Identifier: MIT */
/*
 * The connection driver (examples/ws/ws_conn.c) against a fake libzerg
 * (fake_zg.c): what a client's bytes make the server write, and how the
 * connection ends. Each input is also delivered cut at every byte, as
 * two on_data calls and as one view of two segments, one byte per call,
 * and as one view of one-byte segments, with the built-in echo (straight
 * into the output) and with ws_echo_message (the callback path), and
 * must give the same output every way. The driver must consume all its
 * input on every call, and keep no buffer for unfragmented messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_zg.h"
#include "ws_test.h"

/* ---- what the server wrote ---------------------------------------- */

/* Server frames as text: "T:<hex>", "B:<hex>", "PONG:<hex>",
 * "PING:<hex>", "CLOSE:<code>" ("CLOSE:" for an empty one), each with
 * '\n', then "end:<how>" (open, graceful, abort). Every frame must have
 * FIN, RSV 0, no mask and the shortest length; nothing may follow a
 * Close. Payloads over 64 bytes are a length and a checksum. */
static void decode_output(const struct zg_conn *c, struct wt_out *o)
{
	const uint8_t *p = c->out;
	size_t n = c->out_len, at = 0;
	bool closed = false;

	wt_init(o);
	while (at < n) {
		assert_false(closed);
		assert_true(n - at >= 2);
		uint8_t b0 = p[at], b1 = p[at + 1];
		assert_int_equal(b0 & 0xf0, 0x80); /* FIN, no RSV */
		assert_int_equal(b1 & 0x80, 0);    /* unmasked    */
		uint64_t len = b1 & 0x7f;
		size_t h = 2;
		if (len == 126) {
			assert_true(n - at >= 4);
			len = (uint64_t)p[at + 2] << 8 | p[at + 3];
			assert_true(len >= 126);
			h = 4;
		} else if (len == 127) {
			assert_true(n - at >= 10);
			len = 0;
			for (int k = 0; k < 8; k++)
				len = len << 8 | p[at + 2 + k];
			assert_true(len > 0xffff);
			h = 10;
		}
		assert_true(n - at - h >= len);
		const uint8_t *pl = p + at + h;
		char tag[32];
		switch (b0 & 0x0f) {
		case WS_OP_TEXT:
			assert_true(ws_utf8_valid(pl, (size_t)len));
			wt_logf_payload(o, "T", pl, (size_t)len);
			break;
		case WS_OP_BINARY:
			wt_logf_payload(o, "B", pl, (size_t)len);
			break;
		case WS_OP_PING:
		case WS_OP_PONG:
			assert_true(len <= 125);
			wt_logf_payload(o, (b0 & 0x0f) == WS_OP_PING ? "PING" : "PONG", pl, (size_t)len);
			break;
		case WS_OP_CLOSE:
			assert_true(len == 0 || len == 2);
			if (len)
				snprintf(tag, sizeof(tag), "CLOSE:%u\n", (unsigned)pl[0] << 8 | pl[1]);
			else
				snprintf(tag, sizeof(tag), "CLOSE:\n");
			wt_log(o, tag, strlen(tag));
			closed = true;
			break;
		default:
			fail_msg("server frame with opcode %u", b0 & 0x0f);
		}
		at += h + (size_t)len;
	}
	static const char *const how[] = { "end:open\n", "end:graceful\n", "end:abort\n" };
	wt_log(o, how[c->closed], strlen(how[c->closed]));
	/* a Close is always followed by the TCP close */
	if (closed)
		assert_int_equal(c->closed, FZ_GRACEFUL);
}

/* ---- driving ------------------------------------------------------ */

enum { M_ECHO, M_CALLBACK, M_MODES };

struct drive {
	uint64_t limit;
	int mode;
	bool eof;          /* the peer's FIN after the input          */
	size_t max_output; /* 0: none                                  */
	bool keep_buf_ok;  /* a buffer may be left (fragmented input)  */
};

/* Deliver in[0..n) cut at cuts[0..k); `per_view` pieces go into each
 * on_data call (1: a call per piece; SIZE_MAX: one view of them all). */
static void drive(const struct drive *d, const uint8_t *in, size_t n, const size_t *cuts,
		  size_t k, size_t per_view, struct wt_out *o)
{
	struct zg_conn c;
	struct ws_state s;
	size_t at = 0, piece = 0;
	int rc = 0;

	fz_init(&c);
	c.max_output = d->max_output;
	ws_state_init(&s, d->limit, d->mode == M_CALLBACK ? ws_echo_message : NULL, NULL);
	while (piece <= k && !rc) {
		for (size_t j = 0; j < per_view && piece <= k; j++, piece++) {
			size_t to = piece < k ? cuts[piece] : n;
			fz_push(&c, in + at, to - at);
			at = to;
		}
		if (piece > k && d->eof)
			c.eof = true;
		if (!c.in_len && !c.eof)
			continue;
		unsigned adv = c.advances;
		rc = ws_on_data(&c, &s);
		if (!rc) {
			/* all consumed, and said so */
			assert_int_equal(c.in_len, 0);
			assert_int_equal(c.advances, adv + 1);
			assert_int_equal(c.closed, FZ_OPEN);
		} else {
			assert_int_equal(rc, 1);
			assert_int_equal(c.closed, FZ_GRACEFUL);
		}
	}
	decode_output(&c, o);
	if (!d->keep_buf_ok)
		assert_null(s.buf);
	ws_state_free(&s);
	fz_free(&c);
}

static void same(const struct wt_out *a, const struct wt_out *b, const char *how, size_t at,
		 int mode)
{
	if (strcmp(a->log, b->log))
		fail_msg("mode %d, %s %zu:\n%s\nwhole:\n%s", mode, how, at, b->log, a->log);
}

/* The output for in[0..n) must be `want` (then "end:..."), for every
 * delivery and both modes. Long inputs are cut at every byte of their
 * first and last 200 bytes only. */
static void expect_d(const struct drive *d0, const uint8_t *in, size_t n, const char *want)
{
	for (int mode = 0; mode < M_MODES; mode++) {
		struct drive d = *d0;
		struct wt_out whole, o;

		d.mode = mode;
		drive(&d, in, n, NULL, 0, 1, &whole);
		if (strcmp(whole.log, want))
			fail_msg("mode %d: got\n%swant\n%s", mode, whole.log, want);
		for (size_t k = 1; k < n; k++) {
			if (n > 500 && k > 200 && k < n - 200)
				continue;
			drive(&d, in, n, &k, 1, 1, &o);
			same(&whole, &o, "two calls, cut at", k, mode);
			wt_free(&o);
			drive(&d, in, n, &k, 1, SIZE_MAX, &o);
			same(&whole, &o, "one view of two segments, cut at", k, mode);
			wt_free(&o);
		}
		if (n > 1 && n <= 20000) {
			size_t *cuts = malloc(n * sizeof(*cuts));
			for (size_t i = 0; i < n - 1; i++)
				cuts[i] = i + 1;
			drive(&d, in, n, cuts, n - 1, 1, &o);
			same(&whole, &o, "a byte per call, length", n, mode);
			wt_free(&o);
			drive(&d, in, n, cuts, n - 1, SIZE_MAX, &o);
			same(&whole, &o, "one view of 1-byte segments, length", n, mode);
			wt_free(&o);
			drive(&d, in, n, cuts, n - 1, 3, &o);
			same(&whole, &o, "three 1-byte segments per call, length", n, mode);
			wt_free(&o);
			free(cuts);
		}
		wt_free(&whole);
	}
}

static void expect(const uint8_t *in, size_t n, const char *want)
{
	struct drive d = { .keep_buf_ok = true };
	expect_d(&d, in, n, want);
}

struct fb {
	uint8_t *p;
	size_t n;
};

static void fb_add(struct fb *f, uint8_t b0, const void *p, size_t n)
{
	wt_add(&f->p, &f->n, b0, p, n);
}

static void fb_expect(struct fb *f, const char *want)
{
	expect(f->p, f->n, want);
	free(f->p);
	f->p = NULL;
	f->n = 0;
}

/* ---- tests -------------------------------------------------------- */

static void test_benchmark_bytes(void **state)
{
	static const uint8_t gc[] = { 0x81, 0x85, 0x12, 0x34, 0x56, 0x78, 0x7a, 0x51, 0x3a, 0x14, 0x7d };
	static const uint8_t echo[] = { 0x81, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f };
	(void)state;

	for (int mode = 0; mode < M_MODES; mode++) {
		struct zg_conn c;
		struct ws_state s;
		fz_init(&c);
		ws_state_init(&s, 0, mode == M_CALLBACK ? ws_echo_message : NULL, NULL);
		for (int round = 0; round < 1000; round++) {
			fz_push(&c, gc, sizeof(gc));
			assert_int_equal(ws_on_data(&c, &s), 0);
			assert_int_equal(c.out_len, (round + 1) * sizeof(echo));
			assert_memory_equal(c.out + round * sizeof(echo), echo, sizeof(echo));
		}
		/* no buffer for any of it */
		assert_null(s.buf);
		assert_int_equal(s.cap, 0);
		ws_state_free(&s);
		fz_free(&c);
	}
	expect(gc, sizeof(gc), "T:68656c6c6f\nend:open\n");
}

static void test_validation_flow(void **state)
{
	struct fb f = { 0 };
	uint8_t bin[256];
	(void)state;

	/* SPEC-HEAD.md 9.3, after the upgrade */
	for (int i = 0; i < 256; i++)
		bin[i] = (uint8_t)(i * 37 + 11);
	fb_add(&f, 0x81, "HttpArena-validate-0123456789abcdef", 35);
	fb_add(&f, 0x82, bin, sizeof(bin));
	for (int i = 0; i < 5; i++) {
		char m[16];
		snprintf(m, sizeof(m), "msg-%d", i);
		fb_add(&f, 0x81, m, strlen(m));
	}
	fb_add(&f, 0x88, "\x03\xe8validate done", 15);
	struct wt_out o;
	wt_init(&o);
	wt_logf_payload(&o, "T", (const uint8_t *)"HttpArena-validate-0123456789abcdef", 35);
	wt_logf_payload(&o, "B", bin, sizeof(bin));
	for (int i = 0; i < 5; i++) {
		char m[16];
		snprintf(m, sizeof(m), "msg-%d", i);
		wt_logf_payload(&o, "T", (const uint8_t *)m, strlen(m));
	}
	wt_log(&o, "CLOSE:1000\nend:graceful\n", 24);
	fb_expect(&f, o.log);
	wt_free(&o);
	/* the health check */
	fb_add(&f, 0x81, "health", 6);
	fb_add(&f, 0x88, "\x03\xe8", 2);
	fb_expect(&f, "T:6865616c7468\nCLOSE:1000\nend:graceful\n");
}

static void test_control_and_close(void **state)
{
	struct fb f = { 0 };
	(void)state;

	fb_add(&f, 0x89, "ping!", 5);
	fb_expect(&f, "PONG:70696e6721\nend:open\n");
	fb_add(&f, 0x89, "", 0);
	fb_add(&f, 0x8a, "unsolicited", 11);
	fb_add(&f, 0x82, "b", 1);
	fb_expect(&f, "PONG:\nB:62\nend:open\n");
	fb_add(&f, 0x88, "", 0);
	fb_expect(&f, "CLOSE:\nend:graceful\n");
	fb_add(&f, 0x88, "\x0f\xa0reason", 8);
	fb_expect(&f, "CLOSE:4000\nend:graceful\n");
	fb_add(&f, 0x88, "\x03\xe9", 2);
	fb_add(&f, 0x81, "after the close", 15);
	fb_expect(&f, "CLOSE:1001\nend:graceful\n");
	/* fragmented, control frames between */
	fb_add(&f, 0x01, "frag", 4);
	fb_add(&f, 0x89, "1", 1);
	fb_add(&f, 0x00, "men", 3);
	fb_add(&f, 0x8a, "x", 1);
	fb_add(&f, 0x80, "ted", 3);
	fb_add(&f, 0x81, "next", 4);
	fb_expect(&f, "PONG:31\nT:667261676d656e746564\nT:6e657874\nend:open\n");
}

static void test_failures(void **state)
{
	struct fb f = { 0 };
	uint8_t big[126];
	(void)state;

	memset(big, 'b', sizeof(big));
	/* unmasked */
	{
		uint8_t *p = NULL;
		size_t n = 0;
		wt_frame(&p, &n, 0x81, "hello", 5, NULL, LEN_7);
		expect(p, n, "CLOSE:1002\nend:graceful\n");
		free(p);
	}
	fb_add(&f, 0xc1, "x", 1); /* RSV1 */
	fb_expect(&f, "CLOSE:1002\nend:graceful\n");
	fb_add(&f, 0x83, "x", 1); /* opcode 3 */
	fb_expect(&f, "CLOSE:1002\nend:graceful\n");
	fb_add(&f, 0x8b, "x", 1); /* opcode 11 */
	fb_expect(&f, "CLOSE:1002\nend:graceful\n");
	fb_add(&f, 0x89, big, 126);
	fb_expect(&f, "CLOSE:1002\nend:graceful\n");
	fb_add(&f, 0x09, "", 0);
	fb_expect(&f, "CLOSE:1002\nend:graceful\n");
	fb_add(&f, 0x80, "x", 1);
	fb_expect(&f, "CLOSE:1002\nend:graceful\n");
	fb_add(&f, 0x01, "a", 1);
	fb_add(&f, 0x81, "b", 1);
	fb_expect(&f, "CLOSE:1002\nend:graceful\n");
	fb_add(&f, 0x88, "\x03", 1);
	fb_expect(&f, "CLOSE:1002\nend:graceful\n");
	fb_add(&f, 0x88, "\x03\xed", 2); /* 1005 */
	fb_expect(&f, "CLOSE:1002\nend:graceful\n");
	/* UTF-8: in one frame (the echo's reservation is given back), at
	 * the end, across fragments */
	fb_add(&f, 0x81, "ok", 2);
	fb_add(&f, 0x81, "abc\xed\xa0\x80zzz", 9);
	fb_expect(&f, "T:6f6b\nCLOSE:1007\nend:graceful\n");
	fb_add(&f, 0x81, "abc\xe2\x82", 5);
	fb_expect(&f, "CLOSE:1007\nend:graceful\n");
	fb_add(&f, 0x01, "abc\xe2", 4);
	fb_add(&f, 0x80, "\x82", 1);
	fb_expect(&f, "CLOSE:1007\nend:graceful\n");
	fb_add(&f, 0x01, "abc\xe2", 4);
	fb_add(&f, 0x89, "p", 1);
	fb_add(&f, 0x80, "\x82\xac", 2);
	fb_expect(&f, "PONG:70\nT:616263e282ac\nend:open\n");
	/* 64-bit length, top bit */
	static const uint8_t top[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 0 };
	expect(top, sizeof(top), "CLOSE:1002\nend:graceful\n");
}

static void test_limit(void **state)
{
	struct drive d = { .limit = 1000, .keep_buf_ok = true };
	uint8_t *p = calloc(1, 2000);
	uint8_t *in = NULL;
	size_t n = 0;
	(void)state;

	wt_add(&in, &n, 0x82, p, 1000);
	{
		struct wt_out o;
		wt_init(&o);
		wt_logf_payload(&o, "B", p, 1000);
		wt_log(&o, "end:open\n", 9);
		expect_d(&d, in, n, o.log);
		wt_free(&o);
	}
	n = 0;
	wt_add(&in, &n, 0x82, p, 1001);
	expect_d(&d, in, n, "CLOSE:1009\nend:graceful\n");
	n = 0;
	wt_add(&in, &n, 0x02, p, 999);
	wt_add(&in, &n, 0x80, p, 2);
	expect_d(&d, in, n, "CLOSE:1009\nend:graceful\n");
	/* a header announcing 2^40 bytes: refused at once, nothing held */
	static const uint8_t huge[] = { 0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4 };
	d.limit = 0;
	expect_d(&d, huge, sizeof(huge), "CLOSE:1009\nend:graceful\n");
	free(in);
	free(p);
}

/* Large messages: one frame the view holds (straight to the output), one
 * frame that comes in several calls, fragments (reassembled; echoed by
 * reference from 64 KiB) and 16/64-bit lengths. */
static void test_large(void **state)
{
	static const size_t sizes[] = { 125, 126, 4000, 65535, 65536, 200000 };
	(void)state;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		size_t len = sizes[i];
		uint8_t *p = malloc(len), *in = NULL;
		size_t n = 0;
		struct wt_out want;

		for (size_t k = 0; k < len; k++)
			p[k] = (uint8_t)(k * 131 + 7);
		wt_init(&want);
		wt_logf_payload(&want, "B", p, len);
		wt_logf_payload(&want, "B", p, len);
		wt_log(&want, "end:open\n", 9);
		wt_add(&in, &n, 0x82, p, len);
		wt_add(&in, &n, 0x02, p, len / 3);
		wt_add(&in, &n, 0x89, "", 0);
		wt_add(&in, &n, 0x00, p + len / 3, len / 3);
		wt_add(&in, &n, 0x80, p + 2 * (len / 3), len - 2 * (len / 3));
		/* the Ping's Pong comes before the reassembled message */
		struct wt_out w2;
		wt_init(&w2);
		wt_logf_payload(&w2, "B", p, len);
		wt_log(&w2, "PONG:\n", 6);
		wt_logf_payload(&w2, "B", p, len);
		wt_log(&w2, "end:open\n", 9);
		expect(in, n, w2.log);
		/* in chunks of 1000 bytes, a call each */
		for (int mode = 0; mode < M_MODES; mode++) {
			struct drive d = { .mode = mode, .keep_buf_ok = true };
			size_t k = 0, *cuts = malloc((n / 1000 + 1) * sizeof(*cuts));
			for (size_t at = 1000; at < n; at += 1000)
				cuts[k++] = at;
			struct wt_out o;
			drive(&d, in, n, cuts, k, 1, &o);
			assert_string_equal(o.log, w2.log);
			wt_free(&o);
			free(cuts);
		}
		wt_free(&w2);
		wt_free(&want);
		free(in);
		free(p);
	}
}

/* Text that is valid only once its fragments are joined, and a callback
 * that sees the message whole. */
static unsigned got_calls;
static size_t got_len;
static void count_message(struct zg_conn *c, struct ws_state *s, unsigned opcode, uint8_t *data,
			  size_t len, void *arg)
{
	(void)s;
	assert_ptr_equal(arg, &got_calls);
	got_calls++;
	got_len = len;
	/* the payload is writable and unmasked */
	if (len)
		data[0] ^= 0;
	assert_int_equal(ws_send(c, opcode, data, len), 0);
	assert_int_equal(ws_send(c, WS_OP_PING, "x", 1), 0);
}

static void test_callback(void **state)
{
	struct zg_conn c;
	struct ws_state s;
	uint8_t *in = NULL;
	size_t n = 0;
	(void)state;

	fz_init(&c);
	ws_state_init(&s, 0, count_message, &got_calls);
	wt_add(&in, &n, 0x01, "\xf0\x90", 2);
	wt_add(&in, &n, 0x80, "\x8d\x88", 2);
	wt_add(&in, &n, 0x81, "", 0);
	fz_push(&c, in, n);
	assert_int_equal(ws_on_data(&c, &s), 0);
	assert_int_equal(got_calls, 2);
	assert_int_equal(got_len, 0);
	struct wt_out o;
	decode_output(&c, &o);
	assert_string_equal(o.log, "T:f0908d88\nPING:78\nT:\nPING:78\nend:open\n");
	wt_free(&o);
	ws_state_free(&s);
	fz_free(&c);
	free(in);
}

/* A callback that closes: the rest of the input is not read. */
static void close_on_message(struct zg_conn *c, struct ws_state *s, unsigned opcode, uint8_t *data,
			     size_t len, void *arg)
{
	(void)opcode;
	(void)data;
	(void)len;
	(void)arg;
	ws_close(c, s, 4001);
	ws_close(c, s, 4002); /* once only */
}

static void test_callback_close(void **state)
{
	struct zg_conn c;
	struct ws_state s;
	uint8_t *in = NULL;
	size_t n = 0;
	(void)state;

	fz_init(&c);
	ws_state_init(&s, 0, close_on_message, NULL);
	wt_add(&in, &n, 0x81, "a", 1);
	wt_add(&in, &n, 0x81, "b", 1);
	fz_push(&c, in, n);
	assert_int_equal(ws_on_data(&c, &s), 1);
	struct wt_out o;
	decode_output(&c, &o);
	assert_string_equal(o.log, "CLOSE:4001\nend:graceful\n");
	assert_int_equal(ws_on_data(&c, &s), 1); /* closing: nothing more */
	wt_free(&o);
	ws_state_free(&s);
	fz_free(&c);
	free(in);
}

static void test_eof_and_refusal(void **state)
{
	struct fb f = { 0 };
	(void)state;

	/* the peer leaves without a Close, after a message and mid-frame */
	struct drive d = { .eof = true, .keep_buf_ok = true };
	fb_add(&f, 0x81, "bye", 3);
	expect_d(&d, f.p, f.n, "T:627965\nend:graceful\n");
	fb_add(&f, 0x81, "cut short", 9);
	expect_d(&d, f.p, f.n - 3, "T:627965\nend:graceful\n");
	free(f.p);
	f.p = NULL;
	f.n = 0;

	/* the output refuses: Close 1011 (when it fits) and the close */
	uint8_t *p = calloc(1, 10000);
	fb_add(&f, 0x82, p, 10000);
	d = (struct drive){ .max_output = 5000, .keep_buf_ok = true };
	expect_d(&d, f.p, f.n, "CLOSE:1011\nend:graceful\n");
	free(f.p);
	f.p = NULL;
	f.n = 0;
	fb_add(&f, 0x89, p, 100);
	d.max_output = 50;
	expect_d(&d, f.p, f.n, "CLOSE:1011\nend:graceful\n");
	free(f.p);
	f.p = NULL;
	f.n = 0;
	fb_add(&f, 0x89, p, 100);
	d.max_output = 3;
	expect_d(&d, f.p, f.n, "end:graceful\n");
	free(f.p);
	free(p);
}

/* After a large reassembled message the buffer goes; small ones reuse
 * it without growing it; write_ref hands it over. */
static void test_buffer_life(void **state)
{
	struct zg_conn c;
	struct ws_state s;
	uint8_t *in = NULL, *p = calloc(1, 300000);
	size_t n = 0;
	(void)state;

	fz_init(&c);
	ws_state_init(&s, 0, NULL, NULL);
	wt_add(&in, &n, 0x02, p, 10);
	wt_add(&in, &n, 0x80, p, 10);
	fz_push(&c, in, n);
	assert_int_equal(ws_on_data(&c, &s), 0);
	assert_non_null(s.buf); /* kept for the next fragmented message */
	assert_true(s.cap <= 64 << 10);
	n = 0;
	wt_add(&in, &n, 0x02, p, 100000);
	wt_add(&in, &n, 0x80, p, 100000);
	fz_push(&c, in, n);
	assert_int_equal(ws_on_data(&c, &s), 0);
	assert_null(s.buf); /* handed to write_ref */
	assert_int_equal(c.nrefs, 1);
	fz_release(&c);
	struct wt_out o, w;
	decode_output(&c, &o);
	wt_init(&w);
	wt_logf_payload(&w, "B", p, 20);
	wt_logf_payload(&w, "B", p, 200000);
	wt_log(&w, "end:open\n", 9);
	assert_string_equal(o.log, w.log);
	wt_free(&o);
	wt_free(&w);
	ws_state_free(&s);
	fz_free(&c);
	free(in);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_benchmark_bytes),
		cmocka_unit_test(test_validation_flow),
		cmocka_unit_test(test_control_and_close),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_callback),
		cmocka_unit_test(test_callback_close),
		cmocka_unit_test(test_eof_and_refusal),
		cmocka_unit_test(test_buffer_life),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
