/* SPDX-License-Identifier: MIT */
/*
 * Shared by the zerg_ws unit tests and the fuzz harness: building client
 * frames, and a transcript of what ws_parse makes of an input fed in
 * pieces (the way ws_conn.c feeds it: each piece in a block of exactly
 * its size, every DATA unmasked before the next call). Two feedings of
 * the same bytes must give the same transcript, whatever the pieces.
 */
#ifndef WS_TEST_H
#define WS_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

#ifndef WS_T_CHECK
#define WS_T_CHECK(c)                                                              \
	do {                                                                       \
		if (!(c)) {                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                   \
		}                                                                  \
	} while (0)
#endif

/* ---- building client frames --------------------------------------- */

enum { LEN_MIN = 0, LEN_7, LEN_16, LEN_64 };

/* A frame: first byte b0 (FIN|RSV|opcode), payload p[0..n), masked with
 * key (NULL: unmasked), the length in the shortest form or the one
 * asked. Appended to *buf (realloc'ed); returns the frame's size. */
static inline size_t wt_frame(uint8_t **buf, size_t *len, uint8_t b0, const void *p,
			      uint64_t n, const uint8_t *key, int form)
{
	uint8_t *o;
	size_t h = 2, at = *len;

	if (form == LEN_MIN)
		form = n < 126 ? LEN_7 : n <= 0xffff ? LEN_16 : LEN_64;
	h += form == LEN_16 ? 2 : form == LEN_64 ? 8 : 0;
	h += key ? 4 : 0;
	*buf = realloc(*buf, at + h + (size_t)n + 1);
	WS_T_CHECK(*buf);
	o = *buf + at;
	o[0] = b0;
	o[1] = key ? 0x80 : 0;
	if (form == LEN_7) {
		o[1] |= (uint8_t)n;
		o += 2;
	} else if (form == LEN_16) {
		o[1] |= 126;
		o[2] = (uint8_t)(n >> 8);
		o[3] = (uint8_t)n;
		o += 4;
	} else {
		o[1] |= 127;
		for (int k = 0; k < 8; k++)
			o[2 + k] = (uint8_t)(n >> (56 - 8 * k));
		o += 10;
	}
	if (key) {
		memcpy(o, key, 4);
		o += 4;
	}
	for (uint64_t i = 0; i < n; i++)
		o[i] = ((const uint8_t *)p)[i] ^ (key ? key[i & 3] : 0);
	*len = at + h + (size_t)n;
	return h + (size_t)n;
}

static const uint8_t wt_key[4] = { 0x12, 0x34, 0x56, 0x78 };

/* A masked frame with the fixed key, shortest length. */
static inline void wt_add(uint8_t **buf, size_t *len, uint8_t b0, const void *p, size_t n)
{
	wt_frame(buf, len, b0, p, n, wt_key, LEN_MIN);
}

/* ---- the transcript ------------------------------------------------ */

/* Events as text: "M1:<hex>" a text message, "M2:<hex>" binary,
 * "PING:<hex>", "PONG:<hex>", "CLOSE:<code>:<hex>", "ERR:<code>", each
 * followed by '\n'; payloads longer than 64 bytes are given as their
 * length and a checksum. */
struct wt_out {
	char *log;
	size_t log_len, log_cap;
	uint8_t *msg; /* the message being reassembled */
	size_t msg_len, msg_cap;
	bool over;    /* CLOSE or ERR seen: nothing more is read */
	size_t end;   /* input offset where a CLOSE or protocol ERR struck */
	bool have_frame;
	uint64_t frame_left;
};

static inline void wt_log(struct wt_out *o, const char *s, size_t n)
{
	if (o->log_len + n + 1 > o->log_cap) {
		o->log_cap = (o->log_len + n + 1) * 2;
		o->log = realloc(o->log, o->log_cap);
		WS_T_CHECK(o->log);
	}
	memcpy(o->log + o->log_len, s, n);
	o->log_len += n;
	o->log[o->log_len] = 0;
}

static inline void wt_logf_payload(struct wt_out *o, const char *tag, const uint8_t *p,
				   size_t n)
{
	char b[160];
	int k = snprintf(b, sizeof(b), "%s:", tag);
	wt_log(o, b, (size_t)k);
	if (n > 64) {
		uint64_t h = 0xcbf29ce484222325ull;
		for (size_t i = 0; i < n; i++)
			h = (h ^ p[i]) * 0x100000001b3ull;
		k = snprintf(b, sizeof(b), "<%zu bytes %016llx>", n, (unsigned long long)h);
		wt_log(o, b, (size_t)k);
	} else {
		for (size_t i = 0; i < n; i++) {
			snprintf(b, sizeof(b), "%02x", p[i]);
			wt_log(o, b, 2);
		}
	}
	wt_log(o, "\n", 1);
}

static inline void wt_init(struct wt_out *o)
{
	memset(o, 0, sizeof(*o));
	wt_log(o, "", 0);
}

static inline void wt_free(struct wt_out *o)
{
	free(o->log);
	free(o->msg);
	memset(o, 0, sizeof(*o));
}

/* Feed piece[0..n), at input offset base, through p into o. */
static inline void wt_feed(struct ws_parser *p, struct wt_out *o, const uint8_t *piece,
			   size_t n, size_t base)
{
	uint8_t *in = malloc(n ? n : 1); /* exactly n: overreads are caught */
	size_t off = 0;
	char b[64];

	WS_T_CHECK(in);
	if (n)
		memcpy(in, piece, n);
	while (!o->over) {
		struct ws_event ev;
		size_t used = SIZE_MAX;
		int t = ws_parse(p, in + off, n - off, &used, &ev);

		WS_T_CHECK(used <= n - off);
		off += used;
		switch (t) {
		case WS_EV_MORE:
			WS_T_CHECK(off == n);
			free(in);
			return;
		case WS_EV_FRAME:
			WS_T_CHECK(!o->have_frame || !o->frame_left);
			WS_T_CHECK(ev.opcode == WS_OP_TEXT || ev.opcode == WS_OP_BINARY);
			o->have_frame = true;
			o->frame_left = ev.len;
			break;
		case WS_EV_DATA:
			WS_T_CHECK(o->have_frame && ev.len && ev.len <= o->frame_left);
			WS_T_CHECK(ev.data == in + off - ev.len);
			o->frame_left -= ev.len;
			if (o->msg_len + ev.len > o->msg_cap) {
				o->msg_cap = (o->msg_len + (size_t)ev.len) * 2;
				o->msg = realloc(o->msg, o->msg_cap);
				WS_T_CHECK(o->msg);
			}
			if (ws_unmask(p, &ev, o->msg + o->msg_len)) {
				wt_log(o, "ERR:1007\n", 9);
				o->over = true; /* where depends on the pieces: no end */
				break;
			}
			o->msg_len += (size_t)ev.len;
			break;
		case WS_EV_MESSAGE:
			WS_T_CHECK(o->have_frame && !o->frame_left);
			WS_T_CHECK(ev.len == o->msg_len);
			WS_T_CHECK(ev.opcode != WS_OP_TEXT || ws_utf8_valid(o->msg, o->msg_len));
			wt_logf_payload(o, ev.opcode == WS_OP_TEXT ? "M1" : "M2", o->msg, o->msg_len);
			o->msg_len = 0;
			o->have_frame = false;
			break;
		case WS_EV_PING:
		case WS_EV_PONG:
			WS_T_CHECK(ev.len <= WS_MAX_CONTROL);
			wt_logf_payload(o, t == WS_EV_PING ? "PING" : "PONG", ev.data, (size_t)ev.len);
			break;
		case WS_EV_CLOSE:
			snprintf(b, sizeof(b), "CLOSE:%u", ev.code);
			wt_logf_payload(o, b, ev.data, (size_t)ev.len);
			o->over = true;
			o->end = base + off;
			/* and nothing more comes out */
			WS_T_CHECK(ws_parse(p, in + off, n - off, &used, &ev) == WS_EV_END && !used);
			break;
		case WS_EV_ERROR: {
			int k = snprintf(b, sizeof(b), "ERR:%u\n", ev.code);
			WS_T_CHECK(ev.code == 1002 || ev.code == 1007 || ev.code == 1009);
			wt_log(o, b, (size_t)k);
			o->over = true;
			o->end = base + off;
			WS_T_CHECK(ws_parse(p, in + off, n - off, &used, &ev) == WS_EV_ERROR && !used);
			break;
		}
		default:
			WS_T_CHECK(!"unexpected event");
		}
	}
	free(in);
}

/* The transcript of in[0..n) cut at cuts[0..k) (sorted, inside (0, n)).
 * The result is the caller's (wt_free). */
static inline void wt_run(struct wt_out *o, uint64_t limit, const uint8_t *in, size_t n,
			  const size_t *cuts, size_t k)
{
	struct ws_parser p;
	size_t at = 0;

	ws_parser_init(&p, limit);
	wt_init(o);
	for (size_t i = 0; i <= k; i++) {
		size_t to = i < k ? cuts[i] : n;
		wt_feed(&p, o, in + at, to - at, at);
		at = to;
	}
	/* a last call with nothing: any event due without bytes comes out */
	wt_feed(&p, o, in + n, 0, n);
}

#endif
