/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 request-head parser, chunked decoder, response head writer. */
#include "http.h"
#include "http_fmt.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* Character classes                                                   */
/* ------------------------------------------------------------------ */

enum {
	C_TCHAR = 1,   /* token: methods, header names, chunk extensions   */
	C_TARGET = 2,  /* request-target: the characters of a URI (RFC 3986) */
	C_VALUE = 4,   /* field-value: VCHAR, obs-text, SP, HTAB           */
	C_HEX = 8,
	C_HOST = 16,   /* reg-name: unreserved, pct-encoded, sub-delims but ','
	                * (RFC 3986 3.2.2)                                  */
	C_QDTEXT = 32, /* quoted-string text (RFC 9110 5.6.4)              */
};

/* Shorthands for the table below. Every visible ASCII character may
 * appear in a field value (and in a quoted string, but for '"' and '\\'). */
#define V  (C_VALUE | C_QDTEXT)
#define TK C_TCHAR
#define TG C_TARGET
#define HO C_HOST

/* const, so reactor threads share it read-only: a table filled on first
 * use was a data race between them. Each index appears once (gcc's
 * -Woverride-init would catch a second). */
static const uint8_t cls[256] = {
	['\t'] = V, [' '] = V,
	['!'] = V | TK | TG | HO,
	['"'] = C_VALUE,
	['#'] = V | TK,                   /* starts a fragment: not in a target */
	['$'] = V | TK | TG | HO,
	['%'] = V | TK | TG | HO,
	['&'] = V | TK | TG | HO,
	['\''] = V | TK | TG | HO,
	['('] = V | TG | HO,
	[')'] = V | TG | HO,
	['*'] = V | TK | TG | HO,
	['+'] = V | TK | TG | HO,
	[','] = V | TG,                   /* a list separator: never in a Host */
	['-'] = V | TK | TG | HO,
	['.'] = V | TK | TG | HO,
	['/'] = V | TG,
	['0' ... '9'] = V | TK | TG | HO | C_HEX,
	[':'] = V | TG,
	[';'] = V | TG | HO,
	['<'] = V,
	['='] = V | TG | HO,
	['>'] = V,
	['?'] = V | TG,
	['@'] = V | TG,
	['A' ... 'F'] = V | TK | TG | HO | C_HEX,
	['G' ... 'Z'] = V | TK | TG | HO,
	['['] = V | TG,
	['\\'] = C_VALUE,
	[']'] = V | TG,
	['^'] = V | TK,
	['_'] = V | TK | TG | HO,
	['`'] = V | TK,
	['a' ... 'f'] = V | TK | TG | HO | C_HEX,
	['g' ... 'z'] = V | TK | TG | HO,
	['{'] = V,
	['|'] = V | TK,
	['}'] = V,
	['~'] = V | TK | TG | HO,
	[0x80 ... 0xff] = V,              /* obs-text */
};

#undef V
#undef TK
#undef TG
#undef HO

static int hexval(uint8_t c)
{
	if (c <= '9')
		return c - '0';
	return (c | 0x20) - 'a' + 10;
}

/* Case-insensitive compare of s[0..n) against a lowercase literal. For
 * the letters, '-' and digits in our literals, c | 0x20 == l holds only
 * for the two cases of l. */
static bool ieq(const uint8_t *s, size_t n, const char *lit)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (!lit[i] || (s[i] | 0x20) != (uint8_t)lit[i])
			return false;
	return lit[i] == 0;
}

/* ------------------------------------------------------------------ */
/* Request head                                                        */
/* ------------------------------------------------------------------ */

enum {
	S_START = 0, S_START_LF, S_METHOD, S_TARGET, S_VERSION, S_REQ_LF,
	S_FIELD, S_NAME, S_OWS, S_VALUE, S_FIELD_LF, S_END_LF, S_DONE, S_ERROR,
};

void http_request_init(struct http_request *r)
{
	memset(r, 0, offsetof(struct http_request, fields));
}

static int fail(struct http_request *r, unsigned status)
{
	r->state = S_ERROR;
	r->status = (uint16_t)status;
	return -1;
}

static uint8_t method_of(const uint8_t *m, size_t n)
{
	switch (n) {
	case 3:
		if (!memcmp(m, "GET", 3)) return HTTP_M_GET;
		if (!memcmp(m, "PUT", 3)) return HTTP_M_PUT;
		break;
	case 4:
		if (!memcmp(m, "POST", 4)) return HTTP_M_POST;
		if (!memcmp(m, "HEAD", 4)) return HTTP_M_HEAD;
		break;
	case 5:
		if (!memcmp(m, "PATCH", 5)) return HTTP_M_PATCH;
		if (!memcmp(m, "TRACE", 5)) return HTTP_M_TRACE;
		break;
	case 6:
		if (!memcmp(m, "DELETE", 6)) return HTTP_M_DELETE;
		break;
	case 7:
		if (!memcmp(m, "OPTIONS", 7)) return HTTP_M_OPTIONS;
		if (!memcmp(m, "CONNECT", 7)) return HTTP_M_CONNECT;
		break;
	}
	return HTTP_M_OTHER;
}

/* Content-Length = 1*DIGIT; a repeat must carry the same value. */
static int on_content_length(struct http_request *r, const uint8_t *v, size_t n)
{
	uint64_t x = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (x > (UINT64_C(0x7fffffffffffffff) - 9) / 10)
			return -1; /* overflow */
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if ((r->flags & HTTP_F_CONTENT_LENGTH) && r->content_length != x)
		return -1;
	r->flags |= HTTP_F_CONTENT_LENGTH;
	r->content_length = x;
	return 0;
}

/* Calls fn on each non-empty element of a comma list (OWS trimmed).
 * Stops at the first nonzero return. */
static int each_element(const uint8_t *v, size_t n,
			int (*fn)(struct http_request *, const uint8_t *, size_t),
			struct http_request *r)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s) {
			int rc = fn(r, v + s, e - s);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Only a single "chunked" is understood; any other coding (or chunked
 * twice) is ambiguous framing for us: reject. */
static int te_element(struct http_request *r, const uint8_t *v, size_t n)
{
	if (!ieq(v, n, "chunked") || (r->flags & HTTP_F_CHUNKED))
		return -1;
	r->flags |= HTTP_F_CHUNKED;
	return 0;
}

static int conn_element(struct http_request *r, const uint8_t *v, size_t n)
{
	if (ieq(v, n, "close"))
		r->flags |= HTTP_F_CONN_CLOSE;
	else if (ieq(v, n, "keep-alive"))
		r->flags |= HTTP_F_KEEP_ALIVE;
	return 0;
}

static bool all_digits(const uint8_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

/* Is p[i] the start of a pct-encoded "%" HEXDIG HEXDIG? */
static bool pct_at(const uint8_t *p, size_t n, size_t i)
{
	return n - i >= 3 && (cls[p[i + 1]] & C_HEX) && (cls[p[i + 2]] & C_HEX);
}

/* A reg-name or IPv4 address (RFC 3986 3.2.2), not empty. */
static bool reg_name_ok(const uint8_t *v, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '%') {
			if (!pct_at(v, n, i))
				return false;
			i += 2;
		} else if (!(cls[v[i]] & C_HOST)) {
			return false;
		}
	}
	return true;
}

/*
 * uri-host [ ":" port ] (RFC 9110 7.2), the port required for CONNECT's
 * authority-form. The host is an IP literal in brackets or a non-empty
 * reg-name. No userinfo, path or comma list: a Host that two parsers
 * read differently is how requests reach a back end past a front end's
 * rules, so anything but the plain form is a 400.
 */
static bool authority_ok(const uint8_t *v, size_t n, bool need_port)
{
	size_t i;
	if (n && v[0] == '[') {
		/* IPv6 / IPvFuture: its characters, loosely; no nesting. */
		for (i = 1; i < n && v[i] != ']'; i++)
			if (!(cls[v[i]] & C_HOST) && v[i] != ':')
				return false;
		if (i == n || i == 1)
			return false;
		i++;
	} else {
		for (i = 0; i < n && v[i] != ':'; i++)
			;
		if (!reg_name_ok(v, i))
			return false;
	}
	if (i == n)
		return !need_port;
	if (v[i] != ':' || (need_port && i + 1 == n))
		return false;
	return all_digits(v + i + 1, n - i - 1);
}

/* Interpret the header fields that decide framing and connection use. */
static int on_field(struct http_request *r, const uint8_t *buf,
		    const struct http_field *f)
{
	const uint8_t *name = buf + f->name, *v = buf + f->value;
	switch (f->name_len) {
	case 4:
		if (ieq(name, 4, "host")) {
			if ((r->flags & HTTP_F_HOST_SEEN) ||
			    !authority_ok(v, f->value_len, false))
				return -1;
			r->flags |= HTTP_F_HOST_SEEN;
		}
		break;
	case 6:
		if (ieq(name, 6, "expect") && ieq(v, f->value_len, "100-continue"))
			r->flags |= HTTP_F_EXPECT;
		break;
	case 10:
		if (ieq(name, 10, "connection"))
			return each_element(v, f->value_len, conn_element, r);
		break;
	case 14:
		if (ieq(name, 14, "content-length"))
			return on_content_length(r, v, f->value_len);
		break;
	case 17:
		if (ieq(name, 17, "transfer-encoding")) {
			r->flags |= HTTP_F_TE;
			int rc = each_element(v, f->value_len, te_element, r);
			/* An empty Transfer-Encoding names no coding: invalid. */
			if (rc || !(r->flags & HTTP_F_CHUNKED))
				return -1;
		}
		break;
	}
	return 0;
}

/* The head is complete: settle framing and persistence (RFC 9112 6.3,
 * 9.3). */
static int finish(struct http_request *r)
{
	uint32_t f = r->flags;
	if ((f & HTTP_F_TE) && (f & HTTP_F_CONTENT_LENGTH))
		return -1; /* request smuggling material */
	if ((f & HTTP_F_TE) && r->minor == 0)
		return -1; /* chunked is not HTTP/1.0 */
	if (r->minor >= 1 && !(f & HTTP_F_HOST_SEEN))
		return -1;
	if (r->minor == 0) {
		f &= ~HTTP_F_EXPECT;
		if (!(f & HTTP_F_KEEP_ALIVE) || (f & HTTP_F_CONN_CLOSE))
			f |= HTTP_F_CLOSE;
	} else if (f & HTTP_F_CONN_CLOSE) {
		f |= HTTP_F_CLOSE;
	}
	r->flags = f;
	return 0;
}

/* path-abempty / absolute-path [ "?" query ]: the scan admitted URI
 * characters only; here '%' must start a pct-encoding, and brackets
 * belong to an IP literal, not to a path. */
static bool path_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '[' || p[i] == ']')
			return false;
		if (p[i] == '%') {
			if (!pct_at(p, n, i))
				return false;
			i += 2;
		}
	}
	return true;
}

/* absolute-form, for the http and https schemes only (what else would
 * an origin server serve): scheme "://" authority, then the path. No
 * userinfo (RFC 9110 4.2.4) and no empty host (4.2.1): authority_ok. */
static int absolute_form(struct http_request *r, const uint8_t *t, size_t n)
{
	size_t s, e;
	/* ieq is exact for ':' and '/' here: only control characters,
	 * which the target scan refused, fold onto them. */
	if (n >= 7 && ieq(t, 7, "http://"))
		s = 7;
	else if (n >= 8 && ieq(t, 8, "https://"))
		s = 8;
	else
		return -1;
	for (e = s; e < n && t[e] != '/' && t[e] != '?'; e++)
		;
	if (!authority_ok(t + s, e - s, false) || !path_ok(t + e, n - e))
		return -1;
	r->form = HTTP_FORM_ABSOLUTE;
	r->path = r->target + (uint32_t)e;
	r->path_len = (uint32_t)(n - e);
	return 0;
}

/* The request-target is complete: which form is it, and does the
 * method allow it (RFC 9112 3.2)? */
static int target_form(struct http_request *r, const uint8_t *buf)
{
	const uint8_t *t = buf + r->target;
	size_t n = r->target_len;

	if (r->method == HTTP_M_CONNECT) {
		r->form = HTTP_FORM_AUTHORITY;
		return authority_ok(t, n, true) ? 0 : -1;
	}
	if (n == 1 && t[0] == '*') {
		r->form = HTTP_FORM_ASTERISK;
		return r->method == HTTP_M_OPTIONS ? 0 : -1;
	}
	if (t[0] != '/')
		return absolute_form(r, t, n);
	r->form = HTTP_FORM_ORIGIN;
	r->path = r->target;
	r->path_len = r->target_len;
	return path_ok(t, n) ? 0 : -1;
}

static const char version_prefix[] = "HTTP/1.";

int http_parse(struct http_request *r, const uint8_t *buf, size_t len)
{
	size_t i = r->pos;
	unsigned st = r->state;
	uint32_t mark = r->mark, vend;
	struct http_field *f;

	if (st == S_ERROR)
		return -1;
	if (st == S_DONE)
		return (int)r->pos;
	while (i < len) {
		uint8_t ch = buf[i];
		switch (st) {
		case S_START:
			/* RFC 9112 2.2: ignore CRLFs before the request line. */
			if (ch == '\r') {
				if (++r->empty_lines > HTTP_MAX_EMPTY_LINES)
					return fail(r, 400);
				st = S_START_LF;
				i++;
				break;
			}
			if (!(cls[ch] & C_TCHAR))
				return fail(r, 400);
			r->start = mark = (uint32_t)i;
			st = S_METHOD;
			break;
		case S_START_LF:
			if (ch != '\n')
				return fail(r, 400);
			st = S_START;
			i++;
			break;
		case S_METHOD:
			while (i < len && (cls[buf[i]] & C_TCHAR))
				i++;
			if (i - mark > HTTP_MAX_METHOD)
				return fail(r, 400);
			if (i == len)
				break;
			if (buf[i] != ' ')
				return fail(r, 400);
			r->method_len = (uint32_t)(i - mark);
			r->method = method_of(buf + mark, i - mark);
			mark = (uint32_t)++i;
			st = S_TARGET;
			break;
		case S_TARGET:
			while (i < len && (cls[buf[i]] & C_TARGET))
				i++;
			if (i - r->start > HTTP_MAX_LINE)
				return fail(r, 414);
			if (i == len)
				break;
			if (buf[i] != ' ' || i == mark)
				return fail(r, 400);
			r->target = mark;
			r->target_len = (uint32_t)(i - mark);
			if (target_form(r, buf))
				return fail(r, 400);
			mark = (uint32_t)++i;
			st = S_VERSION;
			break;
		case S_VERSION: {
			size_t k = i - mark;
			if (k < 7) {
				if (ch != (uint8_t)version_prefix[k])
					return fail(r, 400);
			} else if (k == 7) {
				if (ch < '0' || ch > '9')
					return fail(r, 400);
				r->minor = (uint8_t)(ch - '0');
			} else if (ch == '\r') {
				st = S_REQ_LF;
			} else {
				return fail(r, 400);
			}
			i++;
			if (i - r->start > HTTP_MAX_LINE + 1)
				return fail(r, 414);
			break;
		}
		case S_REQ_LF:
			if (ch != '\n')
				return fail(r, 400);
			r->fields_at = (uint32_t)++i;
			st = S_FIELD;
			break;
		case S_FIELD:
			/* Whole lines, CRLF included, count against the limit. */
			if (i - r->fields_at > HTTP_MAX_FIELD_BYTES)
				return fail(r, 431);
			if (ch == '\r') {
				st = S_END_LF;
				i++;
				break;
			}
			/* Leading whitespace here is obs-fold (or a smuggling
			 * attempt): RFC 9112 5.2 lets us reject it. */
			if (!(cls[ch] & C_TCHAR))
				return fail(r, 400);
			if (r->nfields == HTTP_MAX_FIELDS)
				return fail(r, 431);
			mark = (uint32_t)i;
			st = S_NAME;
			break;
		case S_NAME:
			while (i < len && (cls[buf[i]] & C_TCHAR))
				i++;
			if (i - r->fields_at > HTTP_MAX_FIELD_BYTES)
				return fail(r, 431);
			if (i == len)
				break;
			if (buf[i] != ':') /* includes space before the colon */
				return fail(r, 400);
			f = &r->fields[r->nfields];
			f->name = (uint16_t)mark;
			f->name_len = (uint16_t)(i - mark);
			i++;
			st = S_OWS;
			break;
		case S_OWS:
			while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
				i++;
			if (i - r->fields_at > HTTP_MAX_FIELD_BYTES)
				return fail(r, 431);
			if (i == len)
				break;
			mark = (uint32_t)i;
			st = S_VALUE;
			break;
		case S_VALUE:
			while (i < len && (cls[buf[i]] & C_VALUE))
				i++;
			if (i - r->fields_at > HTTP_MAX_FIELD_BYTES)
				return fail(r, 431);
			if (i == len)
				break;
			if (buf[i] != '\r') /* CTL, bare LF, DEL */
				return fail(r, 400);
			/* Trailing OWS is not part of the value. */
			vend = (uint32_t)i;
			while (vend > mark && (buf[vend - 1] == ' ' || buf[vend - 1] == '\t'))
				vend--;
			f = &r->fields[r->nfields];
			f->value = (uint16_t)mark;
			f->value_len = (uint16_t)(vend - mark);
			i++;
			st = S_FIELD_LF;
			break;
		case S_FIELD_LF:
			if (ch != '\n')
				return fail(r, 400);
			i++;
			if (on_field(r, buf, &r->fields[r->nfields]))
				return fail(r, 400);
			r->nfields++;
			st = S_FIELD;
			break;
		case S_END_LF:
			if (ch != '\n')
				return fail(r, 400);
			i++;
			if (finish(r))
				return fail(r, 400);
			r->state = S_DONE;
			r->pos = (uint32_t)i;
			return (int)i;
		}
	}
	r->pos = (uint32_t)i;
	r->state = (uint8_t)st;
	r->mark = mark;
	return 0;
}

const struct http_field *http_find(const struct http_request *r,
				   const uint8_t *buf, const char *name)
{
	size_t n = strlen(name);
	for (unsigned i = 0; i < r->nfields; i++) {
		const struct http_field *f = &r->fields[i];
		if (f->name_len == n && ieq(buf + f->name, n, name))
			return f;
	}
	return NULL;
}

/* q=0 (or 0.000) turns a coding off. */
static bool q_is_zero(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ';'))
			i++;
		if (i + 1 < n && (p[i] | 0x20) == 'q' && p[i + 1] == '=') {
			i += 2;
			if (i >= n || p[i] != '0')
				return false;
			for (i++; i < n && p[i] != ';'; i++)
				if (p[i] != '.' && p[i] != '0' && p[i] != ' ' && p[i] != '\t')
					return false;
			return true;
		}
		while (i < n && p[i] != ';')
			i++;
	}
	return false;
}

bool http_accepts(const uint8_t *v, size_t n, const char *coding)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',' && v[i] != ';' && v[i] != ' ' && v[i] != '\t')
			i++;
		size_t e = i;
		while (i < n && v[i] != ',')
			i++;
		if (e > s && ieq(v + s, e - s, coding))
			return !q_is_zero(v + e, i - e);
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Chunked decoder                                                     */
/* ------------------------------------------------------------------ */

enum {
	C_SIZE0 = 0, C_SIZE, C_SIZE_WS,
	/* chunk-ext, C_EXT_FIRST .. C_EXT_LAST */
	C_EXT_BWS, C_EXT_NAME, C_EXT_NAME_WS, C_EXT_VAL_BWS, C_EXT_TOKEN,
	C_EXT_QUOTED, C_EXT_QPAIR, C_EXT_VAL_END, C_EXT_VAL_WS,
	C_SIZE_LF, C_DATA, C_DATA_CR,
	C_DATA_LF, C_TRAILER, C_TNAME, C_TVALUE, C_TRAILER_LF, C_FINAL_LF,
	C_DONE, C_ERR,
	C_EXT_FIRST = C_EXT_BWS, C_EXT_LAST = C_EXT_VAL_WS,
};

void http_chunked_init(struct http_chunked *d)
{
	memset(d, 0, sizeof(*d));
}

static bool is_ws(uint8_t ch)
{
	return ch == ' ' || ch == '\t';
}

/*
 * One byte of the chunk extensions (RFC 9112 7.1.1):
 *   chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
 * Whitespace is only allowed where BWS is, so it must lead to a ';' or
 * '=' (none before the CRLF). Anything else, a bare ';' included, is
 * malformed framing: 400, like a bad size.
 */
static unsigned ext_byte(unsigned st, uint8_t ch)
{
	bool tchar = (cls[ch] & C_TCHAR) != 0;
	switch (st) {
	case C_EXT_BWS: /* after ';': a name must come */
		return is_ws(ch) ? C_EXT_BWS : tchar ? C_EXT_NAME : C_ERR;
	case C_EXT_NAME:
		if (tchar)
			return C_EXT_NAME;
		/* fall through */
	case C_EXT_NAME_WS: /* BWS after the name: '=' or the next ';' */
		if (is_ws(ch))
			return C_EXT_NAME_WS;
		if (ch == '=')
			return C_EXT_VAL_BWS;
		if (ch == ';')
			return C_EXT_BWS;
		return ch == '\r' && st == C_EXT_NAME ? C_SIZE_LF : C_ERR;
	case C_EXT_VAL_BWS:
		if (is_ws(ch))
			return C_EXT_VAL_BWS;
		if (ch == '"')
			return C_EXT_QUOTED;
		return tchar ? C_EXT_TOKEN : C_ERR;
	case C_EXT_TOKEN:
		if (tchar)
			return C_EXT_TOKEN;
		/* fall through */
	case C_EXT_VAL_END: /* after a value: the next ';' or the end */
		if (ch == '\r')
			return C_SIZE_LF;
		/* fall through */
	case C_EXT_VAL_WS:
		if (is_ws(ch))
			return C_EXT_VAL_WS;
		return ch == ';' ? C_EXT_BWS : C_ERR;
	case C_EXT_QUOTED:
		if (ch == '"')
			return C_EXT_VAL_END;
		if (ch == '\\')
			return C_EXT_QPAIR;
		return (cls[ch] & C_QDTEXT) ? C_EXT_QUOTED : C_ERR;
	case C_EXT_QPAIR: /* HTAB, SP, VCHAR, obs-text */
		return (cls[ch] & C_VALUE) ? C_EXT_QUOTED : C_ERR;
	}
	return C_ERR;
}

/* One byte of the size line / trailers; returns the next state, or
 * C_ERR. */
static unsigned chunk_byte(struct http_chunked *d, unsigned st, uint8_t ch)
{
	if (st >= C_EXT_FIRST && st <= C_EXT_LAST)
		return ext_byte(st, ch);
	switch (st) {
	case C_SIZE0:
		if (!(cls[ch] & C_HEX))
			return C_ERR;
		d->left = (uint64_t)hexval(ch);
		return C_SIZE;
	case C_SIZE:
		if (cls[ch] & C_HEX) {
			if (d->left >> 59)
				return C_ERR; /* would overflow */
			d->left = d->left << 4 | (uint64_t)hexval(ch);
			return C_SIZE;
		}
		if (ch == '\r')
			return C_SIZE_LF;
		/* What may follow the digits is also what may follow BWS. */
		/* fall through */
	case C_SIZE_WS:
		if (is_ws(ch))
			return C_SIZE_WS; /* BWS, only before ';' */
		if (ch == ';')
			return C_EXT_BWS;
		return C_ERR;
	case C_SIZE_LF:
		if (ch != '\n')
			return C_ERR;
		d->count = 0;
		return d->left ? C_DATA : C_TRAILER;
	case C_DATA_CR:
		return ch == '\r' ? C_DATA_LF : C_ERR;
	case C_DATA_LF:
		d->count = 0;
		return ch == '\n' ? C_SIZE0 : C_ERR;
	case C_TRAILER:
		if (ch == '\r')
			return C_FINAL_LF;
		return (cls[ch] & C_TCHAR) ? C_TNAME : C_ERR;
	case C_TNAME:
		if (ch == ':')
			return C_TVALUE;
		return (cls[ch] & C_TCHAR) ? C_TNAME : C_ERR;
	case C_TVALUE:
		if (ch == '\r')
			return C_TRAILER_LF;
		return (cls[ch] & C_VALUE) ? C_TVALUE : C_ERR;
	case C_TRAILER_LF:
		return ch == '\n' ? C_TRAILER : C_ERR;
	case C_FINAL_LF:
		return ch == '\n' ? C_DONE : C_ERR;
	}
	return C_ERR;
}

int http_chunked_step(struct http_chunked *d, const uint8_t *p, size_t n,
		      size_t *used, size_t *data_off, size_t *data_len)
{
	size_t i = 0;
	unsigned st = d->state;

	while (i < n) {
		if (st == C_DATA) {
			size_t take = n - i;
			if (take > d->left)
				take = (size_t)d->left;
			d->left -= take;
			d->state = (uint8_t)(d->left ? C_DATA : C_DATA_CR);
			*data_off = i;
			*data_len = take;
			*used = i + take;
			return HTTP_CHUNK_DATA;
		}
		if (st == C_DONE || st == C_ERR)
			break;
		st = chunk_byte(d, st, p[i++]);
		/* Bound the size line (with extensions) and the trailers:
		 * both are otherwise unlimited input we would have to scan. */
		if (st != C_DATA && ++d->count >
		    (st >= C_TRAILER ? HTTP_CHUNK_MAX_TRAILERS : HTTP_CHUNK_MAX_LINE))
			st = C_ERR;
	}
	d->state = (uint8_t)st;
	*used = i;
	if (st == C_ERR)
		return HTTP_CHUNK_ERROR;
	if (st == C_DONE)
		return HTTP_CHUNK_DONE;
	return HTTP_CHUNK_MORE;
}

/* ------------------------------------------------------------------ */
/* Response head                                                       */
/* ------------------------------------------------------------------ */

static const char wdays[] = "SunMonTueWedThuFriSat";
static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

static char *two(char *p, int v)
{
	memcpy(p, http_fmt_pairs + 2 * v, 2);
	return p + 2;
}

void http_format_date(char out[HTTP_DATE_LEN], time_t t)
{
	struct tm tm;
	char *p = out;
	gmtime_r(&t, &tm);
	memcpy(p, wdays + 3 * tm.tm_wday, 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	p = two(p, tm.tm_mday);
	*p++ = ' ';
	memcpy(p, months + 3 * tm.tm_mon, 3);
	p += 3;
	*p++ = ' ';
	int y = tm.tm_year + 1900;
	p = two(p, (y / 100) % 100);
	p = two(p, y % 100);
	*p++ = ' ';
	p = two(p, tm.tm_hour);
	*p++ = ':';
	p = two(p, tm.tm_min);
	*p++ = ':';
	p = two(p, tm.tm_sec);
	memcpy(p, " GMT", 4);
}

const char *http_reason(unsigned status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

#define LIT(s) s, sizeof(s) - 1

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_field(char *p, const char *name, size_t n, const char *v)
{
	p = put(p, name, n);
	p = put(p, v, strlen(v));
	return put(p, LIT("\r\n"));
}

static const char *head_server(const struct http_head *h)
{
	return h->server ? h->server : HTTP_SERVER_NAME;
}

size_t http_head_fixed(const struct http_head *h)
{
	size_t n = sizeof("HTTP/1.1 200 \r\n") - 1 + strlen(http_reason(h->status));
	size_t server = strlen(head_server(h));
	if (server)
		n += sizeof("Server: \r\n") - 1 + server;
	n += sizeof("Date: \r\n") - 1 + HTTP_DATE_LEN;
	if (h->type)
		n += sizeof("Content-Type: \r\n") - 1 + strlen(h->type);
	if (h->encoding)
		n += sizeof("Content-Encoding: \r\n") - 1 + strlen(h->encoding);
	if (h->allow)
		n += sizeof("Allow: \r\n") - 1 + strlen(h->allow);
	if (h->vary)
		n += sizeof("Vary: \r\n") - 1 + strlen(h->vary);
	n += sizeof("Content-Length: \r\n") - 1;
	if (h->close)
		n += sizeof("Connection: close\r\n") - 1;
	else if (h->keep_alive)
		n += sizeof("Connection: keep-alive\r\n") - 1;
	return n + 2;
}

unsigned http_digits(uint64_t v)
{
	return http_fmt_digits(v);
}

size_t http_head_write(char *out, const struct http_head *h, uint64_t length)
{
	char *p = out;
	const char *reason = http_reason(h->status), *server;
	p = put(p, LIT("HTTP/1.1 "));
	p = http_fmt_u64(p, h->status);
	*p++ = ' ';
	p = put(p, reason, strlen(reason));
	p = put(p, LIT("\r\n"));
	server = head_server(h);
	if (*server)
		p = put_field(p, LIT("Server: "), server);
	p = put(p, LIT("Date: "));
	p = put(p, h->date, HTTP_DATE_LEN);
	p = put(p, LIT("\r\n"));
	if (h->type)
		p = put_field(p, LIT("Content-Type: "), h->type);
	if (h->encoding)
		p = put_field(p, LIT("Content-Encoding: "), h->encoding);
	if (h->allow)
		p = put_field(p, LIT("Allow: "), h->allow);
	if (h->vary)
		p = put_field(p, LIT("Vary: "), h->vary);
	p = put(p, LIT("Content-Length: "));
	p = http_fmt_u64(p, length);
	if (h->close)
		p = put(p, LIT("\r\nConnection: close"));
	else if (h->keep_alive)
		p = put(p, LIT("\r\nConnection: keep-alive"));
	p = put(p, LIT("\r\n\r\n"));
	return (size_t)(p - out);
}
