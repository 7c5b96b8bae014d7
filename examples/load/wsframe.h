/* SPDX-License-Identifier: MIT */
/* zerg-load --ws: the client's frames and an incremental parser of the
 * server's (RFC 6455 5.2). Pure: no libzerg, no allocation. The parser
 * takes the bytes in any pieces, keeps its state between calls, and says
 * where each frame ends, like zl_resp:
 *
 *   struct zl_ws w;
 *   zl_ws_init(&w);
 *   zl_ws_expect(&w, ZL_WS_TEXT, "hello", 5);     optional
 *   while (n) {
 *       size_t used;
 *       int rc = zl_ws_feed(&w, p, n, &used);
 *       p += used, n -= used;
 *       if (rc == ZL_WS_DONE) { ... w.opcode, w.len, w.mismatch ...; zl_ws_next(&w); }
 *       else if (rc < 0) { ... }
 *   }
 *
 * Every complete frame counts, whatever its opcode (gcannon counts frames
 * the same way). A masked server frame is unmasked for the comparison
 * (gcannon would lose its place on one; RFC 6455 forbids them, so
 * zl_ws.masked tells). Errors: a 64-bit length with its top bit set. */
#ifndef ZL_WSFRAME_H
#define ZL_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	ZL_WS_MORE = 0, /* all bytes used, the frame is not complete yet */
	ZL_WS_DONE = 1, /* a frame ended at *used                        */
	ZL_WS_ERR = -1, /* an impossible length                          */
};

#define ZL_WS_TEXT 0x1
#define ZL_WS_BINARY 0x2
#define ZL_WS_CLOSE 0x8

/* gcannon's masking key (src/ws.c ws_build_frame) */
#define ZL_WS_MASK_KEY { 0x12, 0x34, 0x56, 0x78 }

struct zl_ws {
	uint8_t hdr[14];   /* the frame's head so far                     */
	uint8_t have;      /* bytes of hdr                                */
	uint8_t need;      /* bytes the head has (known after 2)          */
	uint8_t opcode;    /* valid once the head is complete             */
	bool fin, masked;
	bool mismatch;     /* the payload or opcode is not the expected   */
	uint64_t len;      /* payload length                              */
	uint64_t pos;      /* payload bytes seen                          */
	const uint8_t *expect; /* zl_ws_expect                            */
	size_t expect_len;
	uint8_t expect_op;
};

void zl_ws_init(struct zl_ws *w);
/* Ready for the next frame, keeping the expectation. */
void zl_ws_next(struct zl_ws *w);
/* Every frame must be opcode with payload p[0..n) (p outlives w);
 * mismatch is set on a done frame that is not. */
void zl_ws_expect(struct zl_ws *w, uint8_t opcode, const void *p, size_t n);
int zl_ws_feed(struct zl_ws *w, const uint8_t *p, size_t n, size_t *used);

/* The client frame: FIN, opcode, masked with key, payload p[0..n), into
 * out (at least n + 14 bytes); returns its length. */
size_t zl_ws_frame(uint8_t *out, uint8_t opcode, const uint8_t key[4], const void *p, size_t n);

/* The upgrade request gcannon sends (src/ws.c ws_build_upgrade_request),
 * for path and host, into out[0..cap); its length, 0 if it does not fit. */
size_t zl_ws_upgrade(char *out, size_t cap, const char *path, const char *host);

#endif
