/* SPDX-License-Identifier: MIT */
/* zerg-load: an incremental HTTP/1.1 response parser. Pure: no libzerg,
 * no allocation. Feed it the bytes of a connection in any pieces (down to
 * one byte at a time); it keeps its state between calls and says where a
 * response ends, so the caller consumes everything it receives at once.
 *
 *   struct zl_resp r;
 *   zl_resp_init(&r, false);
 *   while (n) {
 *       size_t used;
 *       int rc = zl_resp_feed(&r, p, n, &used);
 *       p += used, n -= used;
 *       if (rc == ZL_RESP_DONE) { ... r.status, r.flags ...; zl_resp_init(&r, false); }
 *       else if (rc < 0) { ... protocol error ... }
 *   }
 *
 * Understood: the status line (HTTP/1.x), Content-Length, Transfer-Encoding
 * (chunked as the final coding; another final coding means "until close"),
 * Connection (close / keep-alive; HTTP/1.0 closes unless keep-alive),
 * interim 1xx responses (skipped and counted, except 101), bodies that
 * responses to HEAD and 1xx/204/304 responses do not have, chunk
 * extensions and trailers (skipped), and a body delimited by the end of
 * the stream (zl_resp_eof). Every other header line is skipped with
 * memchr, without looking at it. */
#ifndef ZL_RESP_H
#define ZL_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	ZL_RESP_MORE = 0, /* all bytes used, the response is not complete yet */
	ZL_RESP_DONE = 1, /* a response ended at *used                        */
	ZL_RESP_ERR = -1, /* not HTTP/1.x or a malformed response             */
};

/* zl_resp.flags */
#define ZL_RESP_F_CLOSE     (1u << 0) /* the server closes after it       */
#define ZL_RESP_F_CHUNKED   (1u << 1) /* the body was chunked              */
#define ZL_RESP_F_CL        (1u << 2) /* a Content-Length was given        */
#define ZL_RESP_F_TE        (1u << 3) /* a Transfer-Encoding was given     */
#define ZL_RESP_F_KEEPALIVE (1u << 4) /* Connection: keep-alive            */
#define ZL_RESP_F_UNTIL_EOF (1u << 5) /* the body runs until end of stream */
#define ZL_RESP_F_MISMATCH  (1u << 6) /* the body is not the expected one  */

/* Limits: a response head longer than this, or with more header lines,
 * is an error (a load generator is not a browser). */
#define ZL_RESP_MAX_HEAD  65536u
#define ZL_RESP_MAX_LINES 256u

struct zl_resp {
	uint8_t state;
	uint8_t idx;       /* position in a literal or a name/token buffer   */
	uint8_t hdr;       /* the header whose value is being read            */
	uint8_t tok_len;   /* length of tok[]                                 */
	uint16_t status;   /* the status code, valid from the head on         */
	uint16_t flags;    /* ZL_RESP_F_*                                     */
	bool no_body;      /* the request was HEAD: the response has no body  */
	bool minor0;       /* HTTP/1.0                                        */
	bool had_digit;    /* Content-Length / chunk size: a digit was seen   */
	bool tok_over;     /* the current token is longer than tok[]          */
	bool in_param;     /* in a ";param" of a Transfer-Encoding coding     */
	bool te_chunked;   /* the last transfer coding so far is "chunked"    */
	uint16_t lines;    /* header lines so far                             */
	uint32_t head_len; /* bytes of the head so far (interim ones included) */
	uint32_t interim;  /* 1xx responses skipped before this one           */
	uint64_t n;        /* Content-Length, or bytes of body / chunk left   */
	uint64_t cl;       /* the Content-Length value being read             */
	uint64_t body;     /* body bytes (chunked: the data only)             */
	char tok[20];      /* lower-cased header name or value token          */
	const uint8_t *expect; /* zl_resp_expect: the body it must have       */
	size_t expect_len;
};

/* Ready the parser for the next response; no_body when that response
 * answers a HEAD request. */
void zl_resp_init(struct zl_resp *r, bool no_body);

/* After zl_resp_init: compare the body (chunked: its data) with
 * p[0..n) as it streams past; ZL_RESP_F_MISMATCH is set on the done
 * response when it differs. p must outlive the response. */
static inline void zl_resp_expect(struct zl_resp *r, const void *p, size_t n)
{
	r->expect = (const uint8_t *)p;
	r->expect_len = n;
}

/* Parse up to n bytes. Returns ZL_RESP_DONE with *used = the bytes up to
 * and including the response's last one, ZL_RESP_MORE with *used = n, or
 * ZL_RESP_ERR (with *used = the bytes before the offending one). After
 * DONE the fields describe the response until zl_resp_init. */
int zl_resp_feed(struct zl_resp *r, const uint8_t *p, size_t n, size_t *used);

/* The stream ended. Returns ZL_RESP_DONE if that completes a response
 * whose body runs until the end, ZL_RESP_MORE if no response was begun
 * (nothing pending), ZL_RESP_ERR if one was cut short. */
int zl_resp_eof(struct zl_resp *r);

/* Has any byte of the current response been seen? */
bool zl_resp_started(const struct zl_resp *r);

#endif
