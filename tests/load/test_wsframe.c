/* SPDX-License-Identifier: MIT */
/* zerg-load --ws (examples/load/wsframe.c): the client's frame is
 * gcannon's bytes; a stream of server frames (7-bit, 16-bit and 64-bit
 * lengths, empty, masked, a close) fed whole, cut at every byte into two
 * pieces, and one byte at a time gives the same frames; payloads are
 * checked against the expected echo; an impossible length fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsframe.h"

static void test_client_bytes(void **state)
{
	/* SPEC-HEAD 9.2: what gcannon --ws sends, and the upgrade */
	static const uint8_t want[] = { 0x81, 0x85, 0x12, 0x34, 0x56, 0x78, 0x7a, 0x51, 0x3a, 0x14, 0x7d };
	static const uint8_t key[4] = ZL_WS_MASK_KEY;
	uint8_t f[64];
	char up[512];
	size_t n;

	(void)state;
	assert_int_equal(zl_ws_frame(f, ZL_WS_TEXT, key, "hello", 5), sizeof(want));
	assert_memory_equal(f, want, sizeof(want));
	n = zl_ws_upgrade(up, sizeof(up), "/ws", "localhost:8080");
	assert_int_equal(n, strlen(up));
	assert_string_equal(up, "GET /ws HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\n"
				"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				"Sec-WebSocket-Version: 13\r\n\r\n");
	assert_int_equal(zl_ws_upgrade(up, 20, "/ws", "localhost:8080"), 0);
}

/* A server frame: unmasked unless key. */
static size_t server_frame(uint8_t *out, uint8_t op, const uint8_t *key, const uint8_t *p, size_t n)
{
	size_t h;

	if (key) {
		h = zl_ws_frame(out, op, key, p, n);
	} else {
		/* the client encoder, then the mask bit and key taken out */
		static const uint8_t zero[4] = { 0 };
		h = zl_ws_frame(out, op, zero, p, n);
		size_t hl = h - n; /* head with the 4 key bytes */
		out[1] &= 0x7f;
		memmove(out + hl - 4, out + hl, n);
		h -= 4;
	}
	return h;
}

struct frame {
	uint8_t op;
	size_t len;
	bool mismatch, masked;
};

/* Feed s[0..len) in pieces of at most `piece` bytes, or cut once at
 * `cut` (piece 0). Returns the frames seen, -1 on an error. */
static int feed(const uint8_t *s, size_t len, size_t cut, size_t piece, const void *msg,
		size_t msglen, struct frame *fr, int max)
{
	struct zl_ws w;
	size_t pos = 0;
	int nf = 0;

	zl_ws_init(&w);
	zl_ws_expect(&w, ZL_WS_TEXT, msg, msglen);
	while (pos < len) {
		size_t end = piece ? (pos + piece < len ? pos + piece : len) : (pos < cut ? cut : len);
		while (pos < end) {
			size_t used;
			int rc = zl_ws_feed(&w, s + pos, end - pos, &used);
			pos += used;
			if (rc < 0)
				return -1;
			if (rc == ZL_WS_DONE) {
				assert_true(nf < max);
				fr[nf++] = (struct frame){ w.opcode, (size_t)w.len, w.mismatch, w.masked };
				zl_ws_next(&w);
			}
		}
	}
	assert_int_equal(w.have, 0); /* nothing left half-read */
	return nf;
}

static void test_stream_cuts(void **state)
{
	static const uint8_t key[4] = { 1, 2, 3, 4 };
	size_t big = 70000, mid = 300, len = 0;
	uint8_t *msg = malloc(big), *s = malloc(4 * big + 1024);
	struct frame fr[16];
	/* expected: the echo of "hello" is the only matching frame shape */
	struct frame want[] = {
		{ ZL_WS_TEXT, 5, false, false },   /* the echo                        */
		{ ZL_WS_TEXT, 5, false, true },    /* the echo, masked (unmasked here)*/
		{ ZL_WS_TEXT, 5, true, false },    /* another payload                 */
		{ ZL_WS_BINARY, 5, true, false },  /* hello as binary: wrong opcode   */
		{ ZL_WS_TEXT, 0, true, false },    /* empty                           */
		{ ZL_WS_TEXT, 300, true, false },  /* 16-bit length                   */
		{ ZL_WS_BINARY, 70000, true, false }, /* 64-bit length                */
		{ 0x9, 3, true, false },           /* a ping                          */
		{ ZL_WS_CLOSE, 2, true, false },   /* close 1000                      */
		{ ZL_WS_TEXT, 5, false, false },   /* the echo again                  */
	};
	int n;

	(void)state;
	assert_non_null(msg);
	assert_non_null(s);
	for (size_t i = 0; i < big; i++)
		msg[i] = (uint8_t)(i * 7 + 1);
	len += server_frame(s + len, ZL_WS_TEXT, NULL, (const uint8_t *)"hello", 5);
	len += server_frame(s + len, ZL_WS_TEXT, key, (const uint8_t *)"hello", 5);
	len += server_frame(s + len, ZL_WS_TEXT, NULL, (const uint8_t *)"hellO", 5);
	len += server_frame(s + len, ZL_WS_BINARY, NULL, (const uint8_t *)"hello", 5);
	len += server_frame(s + len, ZL_WS_TEXT, NULL, msg, 0);
	len += server_frame(s + len, ZL_WS_TEXT, NULL, msg, mid);
	len += server_frame(s + len, ZL_WS_BINARY, NULL, msg, big);
	len += server_frame(s + len, 0x9, NULL, (const uint8_t *)"abc", 3);
	len += server_frame(s + len, ZL_WS_CLOSE, NULL, (const uint8_t *)"\x03\xe8", 2);
	len += server_frame(s + len, ZL_WS_TEXT, NULL, (const uint8_t *)"hello", 5);
	/* whole; one byte at a time; cut in two at every byte of the small
	 * frames' region and around the big frame's head */
	for (size_t cut = 0; cut <= len; cut += cut < 400 || (cut > len - 400) ? 1 : 997) {
		for (int mode = 0; mode < (cut == 0 ? 3 : 1); mode++) {
			size_t piece = mode == 1 ? 1 : mode == 2 ? 4096 : 0;
			n = feed(s, len, cut, piece, "hello", 5, fr, 16);
			assert_int_equal(n, (int)(sizeof(want) / sizeof(want[0])));
			for (int i = 0; i < n; i++) {
				assert_int_equal(fr[i].op, want[i].op);
				assert_int_equal(fr[i].len, want[i].len);
				assert_int_equal(fr[i].mismatch, want[i].mismatch);
				assert_int_equal(fr[i].masked, want[i].masked);
			}
		}
	}
	free(msg);
	free(s);
}

static void test_bad_length(void **state)
{
	uint8_t s[] = { 0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 'x' };
	struct zl_ws w;
	size_t used;

	(void)state;
	zl_ws_init(&w);
	assert_int_equal(zl_ws_feed(&w, s, sizeof(s), &used), ZL_WS_ERR);
	/* one byte at a time: the error comes on the last length byte */
	zl_ws_init(&w);
	for (size_t i = 0; i < 9; i++)
		assert_int_equal(zl_ws_feed(&w, s + i, 1, &used), ZL_WS_MORE);
	assert_int_equal(zl_ws_feed(&w, s + 9, 1, &used), ZL_WS_ERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_bytes),
		cmocka_unit_test(test_stream_cuts),
		cmocka_unit_test(test_bad_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
