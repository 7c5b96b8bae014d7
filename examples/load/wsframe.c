/* SPDX-License-Identifier: MIT */
/* zerg-load --ws: client frames, the upgrade request, the frame parser. */
#include "wsframe.h"

#include <stdio.h>
#include <string.h>

void zl_ws_init(struct zl_ws *w)
{
	memset(w, 0, sizeof(*w));
	w->need = 2;
}

void zl_ws_next(struct zl_ws *w)
{
	const uint8_t *e = w->expect;
	size_t elen = w->expect_len;
	uint8_t op = w->expect_op;

	zl_ws_init(w);
	w->expect = e;
	w->expect_len = elen;
	w->expect_op = op;
}

void zl_ws_expect(struct zl_ws *w, uint8_t opcode, const void *p, size_t n)
{
	w->expect = p;
	w->expect_len = n;
	w->expect_op = opcode;
}

/* The head is complete: its length, and whether the frame is done. */
static int head_done(struct zl_ws *w)
{
	const uint8_t *h = w->hdr;
	uint8_t l7 = h[1] & 0x7f;

	w->fin = h[0] & 0x80;
	w->opcode = h[0] & 0x0f;
	w->masked = h[1] & 0x80;
	if (l7 == 126) {
		w->len = (uint64_t)h[2] << 8 | h[3];
	} else if (l7 == 127) {
		w->len = 0;
		for (int i = 0; i < 8; i++)
			w->len = w->len << 8 | h[2 + i];
		if (w->len >> 63)
			return ZL_WS_ERR;
	} else {
		w->len = l7;
	}
	if (w->expect && (w->opcode != w->expect_op || w->len != w->expect_len))
		w->mismatch = true;
	return w->len ? ZL_WS_MORE : ZL_WS_DONE;
}

int zl_ws_feed(struct zl_ws *w, const uint8_t *p, size_t n, size_t *used)
{
	size_t i = 0;

	while (w->have < w->need) {
		if (i == n) {
			*used = n;
			return ZL_WS_MORE;
		}
		w->hdr[w->have++] = p[i++];
		if (w->have == 2) {
			uint8_t l7 = w->hdr[1] & 0x7f;
			w->need = (uint8_t)(2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) +
					    (w->hdr[1] & 0x80 ? 4 : 0));
		}
		if (w->have == w->need) {
			int rc = head_done(w);
			if (rc) {
				*used = rc == ZL_WS_ERR ? i - 1 : i;
				return rc;
			}
		}
	}
	size_t k = n - i;
	if (k > w->len - w->pos)
		k = (size_t)(w->len - w->pos);
	if (w->expect && !w->mismatch) {
		/* the key is the head's last 4 bytes */
		const uint8_t *key = w->hdr + w->need - 4;
		for (size_t j = 0; j < k; j++) {
			uint8_t c = p[i + j];
			if (w->masked)
				c ^= key[(w->pos + j) & 3];
			if (c != w->expect[w->pos + j]) {
				w->mismatch = true;
				break;
			}
		}
	}
	w->pos += k;
	*used = i + k;
	return w->pos == w->len ? ZL_WS_DONE : ZL_WS_MORE;
}

size_t zl_ws_frame(uint8_t *out, uint8_t opcode, const uint8_t key[4], const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t h = 2;

	out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (n < 126) {
		out[1] = (uint8_t)(0x80 | n);
	} else if (n < 65536) {
		out[1] = 0x80 | 126;
		out[2] = (uint8_t)(n >> 8);
		out[3] = (uint8_t)n;
		h = 4;
	} else {
		out[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
		h = 10;
	}
	memcpy(out + h, key, 4);
	h += 4;
	for (size_t i = 0; i < n; i++)
		out[h + i] = s[i] ^ key[i & 3];
	return h + n;
}

size_t zl_ws_upgrade(char *out, size_t cap, const char *path, const char *host)
{
	int n = snprintf(out, cap,
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
			 path, host);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
