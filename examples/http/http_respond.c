/* SPDX-License-Identifier: MIT */
/* zerg_http: the response writer, errors, the request buffer, queries. */
#include "http_internal.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

static void head_init(struct http_conn *h, unsigned status, const char *type,
		      const char *encoding, const char *allow)
{
	struct http_out *o = &h->out;
	o->head = (struct http_head){
		.status = status, .type = type, .encoding = encoding, .allow = allow,
		.vary = h->vary,
		.date = h->hr->date, .server = h->hr->cfg->server,
		.close = h->close, .keep_alive = h->keep_alive,
	};
	o->fixed = http_head_fixed(&o->head);
	o->extra = NULL;
	o->extra_len = 0;
}

static char *begin(struct http_conn *h, unsigned status, const char *type,
		   const char *encoding, const char *allow, const char *extra,
		   size_t extra_len, size_t max_len)
{
	struct http_out *o = &h->out;
	head_init(h, status, type, encoding, allow);
	o->extra = extra;
	o->extra_len = extra_len;
	o->fixed += extra_len;
	o->digits = http_digits(max_len);
	o->base = zg_conn_reserve(h->c, o->fixed + o->digits + max_len);
	if (!o->base) {
		h->failed = true;
		return NULL;
	}
	return o->base + o->fixed + o->digits;
}

/* The resource's Allow goes with a 405 and with any answer to OPTIONS. */
static const char *allow_for(const struct http_conn *h, unsigned status)
{
	return status == 405 || h->method == HTTP_M_OPTIONS ? h->allow : NULL;
}

char *http_begin_coded(struct http_conn *h, unsigned status, const char *type,
		       const char *encoding, size_t max_len)
{
	const char *allow = allow_for(h, status);
	return begin(h, status, type, encoding, allow, NULL, 0, max_len);
}

char *http_begin(struct http_conn *h, unsigned status, const char *type, size_t max_len)
{
	return http_begin_coded(h, status, type, NULL, max_len);
}

/* Whole "Name: value\r\n" lines: a token, a colon, no CR or LF but the
 * CRLF that ends each line (anything else could split the response). */
static bool extra_ok(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t name = i;
		while (i < n && p[i] != ':' && p[i] > ' ' && p[i] < 0x7f)
			i++;
		if (i == name || i == n || p[i] != ':')
			return false;
		while (i < n && p[i] != '\r' && p[i] != '\n')
			i++;
		if (i + 1 >= n || p[i] != '\r' || p[i + 1] != '\n')
			return false;
		i += 2;
	}
	return true;
}

char *http_begin_extra(struct http_conn *h, unsigned status, const char *type,
		       const char *extra, size_t max_len)
{
	size_t n = extra ? strlen(extra) : 0;
	if (n > HTTP_EXTRA_MAX || !extra_ok(extra, n))
		return NULL;
	const char *allow = allow_for(h, status);
	return begin(h, status, type, NULL, allow, n ? extra : NULL, n, max_len);
}

int http_end(struct http_conn *h, char *end)
{
	struct http_out *o = &h->out;
	if (!o->base)
		return -1;
	char *body = o->base + o->fixed + o->digits;
	size_t len = (size_t)(end - body);
	unsigned digits = http_digits(len);
	if (digits != o->digits && !h->head_only)
		memmove(o->base + o->fixed + digits, body, len);
	size_t hl = http_head_write(o->base, &o->head, len);
	if (o->extra_len) {
		/* The extra lines go before the blank line that ends the head. */
		memcpy(o->base + hl - 2, o->extra, o->extra_len);
		hl += o->extra_len;
		memcpy(o->base + hl - 2, "\r\n", 2);
	}
	zg_conn_commit(h->c, hl + (h->head_only ? 0 : len));
	o->base = NULL;
	h->responded = true;
	return 0;
}

static int respond_with(struct http_conn *h, char *p, const void *src, size_t n)
{
	if (!p)
		return -1;
	if (n)
		memcpy(p, src, n); /* src may be NULL when n is 0 */
	return http_end(h, p + n);
}

int http_respond(struct http_conn *h, unsigned status, const char *type, const void *p,
		 size_t n)
{
	return respond_with(h, http_begin(h, status, type, n), p, n);
}

/* The head, with the body's exact length, then the body by reference:
 * bytes that live as long as the server (a file store) are never copied. */
int http_respond_ref(struct http_conn *h, unsigned status, const char *type,
		     const char *encoding, const void *p, size_t n)
{
	struct http_out *o = &h->out;
	const char *allow = allow_for(h, status);
	char *head;

	head_init(h, status, type, encoding, allow);
	head = zg_conn_reserve(h->c, o->fixed + http_digits(n));
	if (!head) {
		h->failed = true;
		return -1;
	}
	zg_conn_commit(h->c, http_head_write(head, &o->head, n));
	h->responded = true;
	if (!h->head_only && n && zg_conn_write_ref(h->c, p, n, NULL, NULL)) {
		h->failed = true;
		return -1;
	}
	return 0;
}

int http_respond_raw(struct http_conn *h, const void *p, size_t n)
{
	if (zg_conn_write(h->c, p, n)) {
		h->failed = true;
		return -1;
	}
	h->responded = true;
	return 0;
}

int http_respond_status(struct http_conn *h, unsigned status)
{
	const char *text = http_reason(status);
	return http_respond(h, status, "text/plain", text, strlen(text));
}

static int error_status(struct http_conn *h, unsigned status)
{
	const char *text = http_reason(status);
	size_t n = strlen(text);
	h->close = true;
	h->keep_alive = false;
	return respond_with(h, begin(h, status, "text/plain", NULL,
				     status == 405 ? h->allow : NULL, NULL, 0, n),
			    text, n);
}

int http_error(struct http_conn *h, unsigned status)
{
	return error_status(h, status);
}

int http__reject_status(struct http_conn *h, unsigned status)
{
	h->head_only = false; /* the method may be unknown */
	return error_status(h, status);
}

/* No content: Content-Length: 0 and no Content-Type (RFC 9110 9.3.7
 * asks for the former in an OPTIONS answer). */
int http__respond_empty(struct http_conn *h)
{
	return http_respond(h, 200, NULL, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* The request buffer                                                  */
/* ------------------------------------------------------------------ */

bool http_grow(char **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 1024;
	while (n < need)
		n *= 2;
	char *q = realloc(*p, n);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

static bool buf_room(struct http_conn *h, size_t more)
{
	struct http_buf *b = &h->buf;
	if (more > h->hr->cfg->body_max - b->len)
		return false;
	return http_grow(&b->p, &b->cap, b->len + more);
}

static void buf_put(struct http_buf *b, const void *p, size_t n)
{
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void http__buf_free(struct http_conn *h)
{
	free(h->buf.p);
	h->buf = (struct http_buf){ 0 };
}

int http_buffer_put(struct http_conn *h, const void *p, size_t n)
{
	if (!buf_room(h, n))
		return -1;
	if (n)
		buf_put(&h->buf, p, n);
	return 0;
}

/* The head section is at most HTTP_MAX_FIELD_BYTES, and this is no
 * longer. */
int http_buffer_fields(struct http_conn *h, const struct http_req *r)
{
	const struct http_request *rq = r->rq;
	size_t need = 0;
	for (unsigned i = 0; i < rq->nfields; i++)
		need += rq->fields[i].name_len + rq->fields[i].value_len + 3;
	if (!buf_room(h, need))
		return -1;
	for (unsigned i = 0; i < rq->nfields; i++) {
		const struct http_field *f = &rq->fields[i];
		buf_put(&h->buf, r->buf + f->name, f->name_len);
		buf_put(&h->buf, ": ", 2);
		buf_put(&h->buf, r->buf + f->value, f->value_len);
		buf_put(&h->buf, "\n", 1);
	}
	return 0;
}

const uint8_t *http_buffer(const struct http_conn *h, size_t *len)
{
	*len = h->buf.len;
	return (const uint8_t *)h->buf.p;
}

/* ------------------------------------------------------------------ */
/* Query strings                                                       */
/* ------------------------------------------------------------------ */

bool http_query_next(const uint8_t **q, const uint8_t *end, struct http_qpair *p)
{
	while (*q < end) {
		const uint8_t *s = *q, *amp = memchr(s, '&', (size_t)(end - s));
		const uint8_t *e = amp ? amp : end;
		const uint8_t *eq = memchr(s, '=', (size_t)(e - s));
		*q = amp ? amp + 1 : end;
		if (eq) {
			p->k = s;
			p->klen = (size_t)(eq - s);
			p->v = eq + 1;
			p->vlen = (size_t)(e - eq - 1);
			return true;
		}
	}
	return false;
}
