/* SPDX-License-Identifier: MIT */
/* zerg-load: the incremental HTTP/1.1 response parser (see resp.h). */
#include "resp.h"

#include <string.h>

enum {
	/* head */
	ST_VER,        /* "HTTP/1." (idx: bytes matched)                     */
	ST_MINOR,      /* the minor version digit                            */
	ST_SP,         /* the space before the code                          */
	ST_CODE,       /* three digits (idx: digits read)                    */
	ST_AFTER_CODE, /* SP, CR or LF after the code                        */
	ST_REASON,     /* the reason phrase, skipped to LF                   */
	ST_LINE,       /* the start of a header line (or of the blank one)   */
	ST_NAME,       /* a header name, lower-cased into tok                */
	ST_SKIP,       /* an uninteresting header value, skipped to LF       */
	ST_CL,         /* a Content-Length value                             */
	ST_TOKENS,     /* a Transfer-Encoding or Connection value            */
	ST_END_LF,     /* the LF of the blank line                           */
	/* body */
	ST_BODY,       /* Content-Length bytes left in n                     */
	ST_EOF,        /* the body runs until the end of the stream          */
	ST_CSIZE,      /* chunk size digits                                  */
	ST_CEXT,       /* chunk extension, skipped to LF                     */
	ST_CSIZE_LF,   /* the LF after the chunk size line's CR              */
	ST_CDATA,      /* chunk data, n bytes left                           */
	ST_CDATA_CR,   /* the CRLF after the chunk data                      */
	ST_CDATA_LF,
	ST_TRAILER,    /* the start of a trailer line (or the last blank one) */
	ST_TRAILER_SKIP,
	ST_TRAILER_LF,
	ST_DONE,
};

enum { H_OTHER, H_CL, H_TE, H_CONN };

#define MAX_CL   (1ull << 62)
#define MAX_CHUNK (1ull << 56)

void zl_resp_init(struct zl_resp *r, bool no_body)
{
	memset(r, 0, sizeof(*r));
	r->state = ST_VER;
	r->no_body = no_body;
}

bool zl_resp_started(const struct zl_resp *r)
{
	return r->head_len || r->state != ST_VER || r->idx;
}

static inline uint8_t lower(uint8_t ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch + 32 : ch;
}

static inline bool is_digit(uint8_t ch)
{
	return ch >= '0' && ch <= '9';
}

static inline int hexval(uint8_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = lower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static bool tok_is(const struct zl_resp *r, const char *s, size_t n)
{
	return !r->tok_over && r->tok_len == n && !memcmp(r->tok, s, n);
}

/* The header name in tok ended with ':'. */
static unsigned which_header(const struct zl_resp *r)
{
	if (tok_is(r, "content-length", 14))
		return H_CL;
	if (tok_is(r, "transfer-encoding", 17))
		return H_TE;
	if (tok_is(r, "connection", 10))
		return H_CONN;
	return H_OTHER;
}

/* A token of a Transfer-Encoding or Connection value ended. */
static void token_end(struct zl_resp *r)
{
	if (!r->tok_len && !r->tok_over)
		return;
	if (r->hdr == H_TE) {
		r->te_chunked = tok_is(r, "chunked", 7);
	} else if (tok_is(r, "close", 5)) {
		r->flags |= ZL_RESP_F_CLOSE;
	} else if (tok_is(r, "keep-alive", 10)) {
		r->flags |= ZL_RESP_F_KEEPALIVE;
	}
	r->tok_len = 0;
	r->tok_over = false;
}

/* The blank line: an interim response starts over, a final one decides
 * how its body is delimited. Returns the next state. */
static unsigned head_done(struct zl_resp *r)
{
	unsigned s = r->status;

	if (s < 200 && s != 101) {
		uint32_t head_len = r->head_len, interim = r->interim + 1;
		bool no_body = r->no_body;

		zl_resp_init(r, no_body);
		r->head_len = head_len;
		r->interim = interim;
		return ST_VER;
	}
	if (r->minor0 && !(r->flags & ZL_RESP_F_KEEPALIVE))
		r->flags |= ZL_RESP_F_CLOSE;
	if (s == 101)
		r->flags |= ZL_RESP_F_CLOSE; /* the protocol is not HTTP any more */
	if (r->no_body || s < 200 || s == 204 || s == 304)
		return ST_DONE;
	if (r->flags & ZL_RESP_F_TE) {
		if (r->te_chunked) {
			r->flags |= ZL_RESP_F_CHUNKED;
			r->n = 0;
			r->had_digit = false;
			return ST_CSIZE;
		}
		r->flags |= ZL_RESP_F_UNTIL_EOF | ZL_RESP_F_CLOSE;
		return ST_EOF;
	}
	if (r->flags & ZL_RESP_F_CL)
		return r->n ? ST_BODY : ST_DONE;
	r->flags |= ZL_RESP_F_UNTIL_EOF | ZL_RESP_F_CLOSE;
	return ST_EOF;
}

static inline bool in_head(unsigned st)
{
	return st <= ST_END_LF;
}

int zl_resp_feed(struct zl_resp *r, const uint8_t *p, size_t n, size_t *used)
{
	size_t i = 0, h0 = 0;
	unsigned st = r->state;
	uint8_t ch;
	const uint8_t *nl;

#define FAIL()                                                        \
	do {                                                          \
		r->state = st;                                        \
		*used = i;                                            \
		return ZL_RESP_ERR;                                   \
	} while (0)
	/* leaving the head: count its bytes */
#define HEAD_END()                                                    \
	do {                                                          \
		r->head_len += (uint32_t)(i - h0);                    \
	} while (0)

	if (st == ST_DONE) {
		*used = 0;
		return ZL_RESP_ERR; /* not re-initialised */
	}
head:
	h0 = i;
	while (in_head(st)) {
		if (i == n) {
			r->head_len += (uint32_t)(i - h0);
			if (r->head_len > ZL_RESP_MAX_HEAD)
				FAIL();
			r->state = st;
			*used = n;
			return ZL_RESP_MORE;
		}
		switch (st) {
		case ST_VER:
			/* the whole status line's start in one piece: the common case */
			if (r->idx == 0 && n - i >= 13 && !memcmp(p + i, "HTTP/1.", 7) &&
			    is_digit(p[i + 7]) && p[i + 8] == ' ' && p[i + 9] >= '1' &&
			    p[i + 9] <= '9' && is_digit(p[i + 10]) && is_digit(p[i + 11])) {
				r->minor0 = p[i + 7] == '0';
				r->status = (uint16_t)((p[i + 9] - '0') * 100 + (p[i + 10] - '0') * 10 +
						       (p[i + 11] - '0'));
				i += 12;
				st = ST_AFTER_CODE;
				break;
			}
			if (p[i] != (uint8_t)"HTTP/1."[r->idx])
				FAIL();
			i++;
			if (++r->idx == 7) {
				r->idx = 0;
				st = ST_MINOR;
			}
			break;
		case ST_MINOR:
			if (!is_digit(p[i]))
				FAIL();
			r->minor0 = p[i++] == '0';
			st = ST_SP;
			break;
		case ST_SP:
			if (p[i] != ' ')
				FAIL();
			i++;
			st = ST_CODE;
			break;
		case ST_CODE:
			ch = p[i];
			if (!is_digit(ch) || (r->idx == 0 && ch == '0'))
				FAIL();
			r->status = (uint16_t)(r->status * 10 + (ch - '0'));
			i++;
			if (++r->idx == 3) {
				r->idx = 0;
				st = ST_AFTER_CODE;
			}
			break;
		case ST_AFTER_CODE:
			ch = p[i];
			if (ch == '\n') {
				i++;
				st = ST_LINE;
			} else if (ch == ' ' || ch == '\r') {
				i++;
				st = ST_REASON;
			} else {
				FAIL();
			}
			break;
		case ST_REASON:
		case ST_SKIP:
			nl = memchr(p + i, '\n', n - i);
			if (!nl) {
				i = n;
				break;
			}
			i = (size_t)(nl - p) + 1;
			st = ST_LINE;
			break;
		case ST_LINE:
			ch = p[i];
			if (ch == '\r') {
				i++;
				st = ST_END_LF;
				break;
			}
			if (ch == '\n') { /* a bare LF ends the head too */
				i++;
				HEAD_END();
				st = head_done(r);
				goto body;
			}
			if (++r->lines > ZL_RESP_MAX_LINES ||
			    r->head_len + (i - h0) > ZL_RESP_MAX_HEAD)
				FAIL();
			r->tok_len = 0;
			r->tok_over = false;
			st = ST_NAME;
			break;
		case ST_NAME:
			/* the name up to ':', lower-cased while it fits */
			while (i < n) {
				ch = p[i];
				if (ch == ':')
					break;
				if (ch == '\n' || ch == '\r')
					FAIL();
				if (r->tok_len < sizeof(r->tok))
					r->tok[r->tok_len++] = (char)lower(ch);
				else
					r->tok_over = true;
				i++;
			}
			if (i == n)
				break;
			i++; /* ':' */
			r->hdr = (uint8_t)which_header(r);
			r->tok_len = 0;
			r->tok_over = false;
			switch (r->hdr) {
			case H_CL:
				r->cl = 0;
				r->had_digit = false;
				r->idx = 0; /* 1: the digits ended (whitespace after them) */
				st = ST_CL;
				break;
			case H_TE:
				r->flags |= ZL_RESP_F_TE;
				r->in_param = false;
				st = ST_TOKENS;
				break;
			case H_CONN:
				r->in_param = false;
				st = ST_TOKENS;
				break;
			default:
				st = ST_SKIP;
			}
			break;
		case ST_CL:
			ch = p[i++];
			if (is_digit(ch)) {
				if (r->idx || r->cl > (MAX_CL - 9) / 10)
					FAIL();
				r->cl = r->cl * 10 + (ch - '0');
				r->had_digit = true;
			} else if (ch == ' ' || ch == '\t' || ch == '\r') {
				if (r->had_digit)
					r->idx = 1;
			} else if (ch == '\n') {
				r->idx = 0;
				if (!r->had_digit || ((r->flags & ZL_RESP_F_CL) && r->n != r->cl))
					FAIL();
				r->n = r->cl;
				r->flags |= ZL_RESP_F_CL;
				st = ST_LINE;
			} else {
				FAIL();
			}
			break;
		case ST_TOKENS:
			ch = p[i++];
			if (ch == '\n') {
				token_end(r);
				st = ST_LINE;
			} else if (ch == ',') {
				token_end(r);
				r->in_param = false;
			} else if (ch == ';') {
				token_end(r);
				r->in_param = true;
			} else if (ch == ' ' || ch == '\t' || ch == '\r') {
				token_end(r);
			} else if (!r->in_param) {
				if (r->tok_len < sizeof(r->tok))
					r->tok[r->tok_len++] = (char)lower(ch);
				else
					r->tok_over = true;
			}
			break;
		case ST_END_LF:
			if (p[i] != '\n')
				FAIL();
			i++;
			HEAD_END();
			st = head_done(r);
			if (st == ST_VER) /* an interim response: the next head */
				goto head;
			goto body;
		}
	}
body:
	if (st == ST_VER)
		goto head; /* after a bare-LF interim head */
	for (;;) {
		size_t left = n - i, take;

		if (st == ST_DONE) {
			if (r->expect && r->body != r->expect_len)
				r->flags |= ZL_RESP_F_MISMATCH;
			r->state = ST_DONE;
			*used = i;
			return ZL_RESP_DONE;
		}
		if (!left) {
			r->state = st;
			*used = n;
			return ZL_RESP_MORE;
		}
		switch (st) {
		case ST_BODY:
		case ST_CDATA:
			take = left < r->n ? left : (size_t)r->n;
			if (r->expect && !(r->flags & ZL_RESP_F_MISMATCH) &&
			    (r->body + take > r->expect_len || memcmp(p + i, r->expect + r->body, take)))
				r->flags |= ZL_RESP_F_MISMATCH;
			r->n -= take;
			r->body += take;
			i += take;
			if (!r->n)
				st = st == ST_BODY ? ST_DONE : ST_CDATA_CR;
			break;
		case ST_EOF:
			if (r->expect && !(r->flags & ZL_RESP_F_MISMATCH) &&
			    (r->body + left > r->expect_len || memcmp(p + i, r->expect + r->body, left)))
				r->flags |= ZL_RESP_F_MISMATCH;
			r->body += left;
			i = n;
			break;
		case ST_CSIZE:
			ch = p[i];
			if (hexval(ch) >= 0) {
				if (r->n >= MAX_CHUNK)
					FAIL();
				r->n = r->n * 16 + (unsigned)hexval(ch);
				r->had_digit = true;
				i++;
				break;
			}
			if (!r->had_digit)
				FAIL();
			i++;
			if (ch == ';' || ch == ' ' || ch == '\t')
				st = ST_CEXT;
			else if (ch == '\r')
				st = ST_CSIZE_LF;
			else if (ch == '\n')
				st = r->n ? ST_CDATA : ST_TRAILER;
			else
				FAIL();
			break;
		case ST_CEXT:
			nl = memchr(p + i, '\n', left);
			if (!nl) {
				i = n;
				break;
			}
			i = (size_t)(nl - p) + 1;
			st = r->n ? ST_CDATA : ST_TRAILER;
			break;
		case ST_CSIZE_LF:
			if (p[i] != '\n')
				FAIL();
			i++;
			st = r->n ? ST_CDATA : ST_TRAILER;
			break;
		case ST_CDATA_CR:
			ch = p[i];
			if (ch == '\r') {
				st = ST_CDATA_LF;
			} else if (ch == '\n') {
				st = ST_CSIZE;
				r->had_digit = false;
			} else {
				FAIL();
			}
			i++;
			break;
		case ST_CDATA_LF:
			if (p[i] != '\n')
				FAIL();
			i++;
			st = ST_CSIZE;
			r->had_digit = false;
			break;
		case ST_TRAILER:
			ch = p[i];
			if (ch == '\r') {
				i++;
				st = ST_TRAILER_LF;
			} else if (ch == '\n') {
				i++;
				st = ST_DONE;
			} else {
				if (++r->lines > 2 * ZL_RESP_MAX_LINES)
					FAIL();
				st = ST_TRAILER_SKIP;
			}
			break;
		case ST_TRAILER_SKIP:
			nl = memchr(p + i, '\n', left);
			if (!nl) {
				i = n;
				break;
			}
			i = (size_t)(nl - p) + 1;
			st = ST_TRAILER;
			break;
		case ST_TRAILER_LF:
			if (p[i] != '\n')
				FAIL();
			i++;
			st = ST_DONE;
			break;
		default:
			FAIL();
		}
	}
#undef FAIL
#undef HEAD_END
}

int zl_resp_eof(struct zl_resp *r)
{
	if (r->state == ST_EOF) {
		if (r->expect && r->body != r->expect_len)
			r->flags |= ZL_RESP_F_MISMATCH;
		r->state = ST_DONE;
		return ZL_RESP_DONE;
	}
	if (r->state == ST_DONE)
		return ZL_RESP_DONE;
	return zl_resp_started(r) ? ZL_RESP_ERR : ZL_RESP_MORE;
}
