/* SPDX-License-Identifier: MIT */
/*
 * http_parse: the input is a byte stream as a client sends it (one or
 * more pipelined requests). For each request in it:
 *
 * - parsed in one call, the result is well formed (offsets inside the
 *   head, the head ends in CRLF CRLF, framing rules hold);
 * - parsed over a growing buffer (the server's way: a prefix, then more
 *   of the same bytes, each call in a block of exactly that size), the
 *   result is the same as in one call: same return, same status, same
 *   method, target, version, flags, Content-Length and fields. Tried for
 *   every single split of short requests, byte at a time, and at random
 *   cut sets;
 * - HTTP_MAX_HEAD bytes always settle it (the server never gives the
 *   parser more, so a 0 there would stall the connection).
 *
 * A complete head is followed by its body (Content-Length bytes, or a
 * chunked body run through http_chunked_step), then the next request.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "http.h"

#define MAX_REQUESTS   8
#define ALL_SPLITS_MAX 256  /* every 2-piece split up to this size  */
#define BYTEWISE_COPY  1024 /* byte at a time with exact copies     */
#define RANDOM_SETS    4
#define RANDOM_CUTS    8

struct result {
	int rc;
	struct http_request r;
};

static void parse_once(const uint8_t *buf, size_t n, struct result *out)
{
	uint8_t *b = fuzz_dup(buf, n);

	http_request_init(&out->r);
	out->rc = http_parse(&out->r, b, n);
	/* Once settled, asking again gives the same answer. */
	if (out->rc)
		CHECK(http_parse(&out->r, b, n) == out->rc);
	free(b);
}

/* Prefixes cuts[0] < cuts[1] < ... then all n bytes, each in a block of
 * its own size (the buffer may move between calls, as when the server
 * makes the head contiguous), until the parser settles. */
static void parse_growing(const uint8_t *buf, size_t n, const size_t *cuts,
			  size_t ncuts, struct result *out)
{
	http_request_init(&out->r);
	out->rc = 0;
	for (size_t k = 0; k <= ncuts && !out->rc; k++) {
		size_t len = k < ncuts ? cuts[k] : n;
		uint8_t *b = fuzz_dup(buf, len);
		out->rc = http_parse(&out->r, b, len);
		free(b);
	}
}

/* Byte at a time over one buffer without copies: cheap enough for any
 * size, where the exact-copy variant would be quadratic. */
static void parse_bytewise_inplace(const uint8_t *buf, size_t n, struct result *out)
{
	http_request_init(&out->r);
	out->rc = 0;
	for (size_t len = 1; len <= n && !out->rc; len++)
		out->rc = http_parse(&out->r, buf, len);
	if (!n)
		out->rc = http_parse(&out->r, buf, 0);
}

static void same_result(const struct result *a, const struct result *b)
{
	const struct http_request *x = &a->r, *y = &b->r;

	CHECK(a->rc == b->rc);
	if (a->rc < 0)
		CHECK(x->status == y->status);
	if (a->rc <= 0)
		return;
	CHECK(x->method == y->method && x->minor == y->minor);
	CHECK(x->start == y->start && x->method_len == y->method_len);
	CHECK(x->target == y->target && x->target_len == y->target_len);
	CHECK(x->form == y->form && x->path == y->path && x->path_len == y->path_len);
	CHECK(x->flags == y->flags && x->nfields == y->nfields);
	if (x->flags & HTTP_F_CONTENT_LENGTH)
		CHECK(x->content_length == y->content_length);
	CHECK(!memcmp(x->fields, y->fields, x->nfields * sizeof(x->fields[0])));
}

static bool is_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_request_line(const struct http_request *r, const uint8_t *b, size_t hl)
{
	size_t v = r->target + r->target_len + 1;

	CHECK(r->method_len >= 1 && r->method_len <= HTTP_MAX_METHOD);
	for (size_t i = 0; i < r->start; i++)
		CHECK(b[i] == (i % 2 ? '\n' : '\r')); /* only empty lines before */
	for (size_t i = 0; i < r->method_len; i++)
		CHECK(is_tchar(b[r->start + i]));
	CHECK(r->target == r->start + r->method_len + 1 && b[r->target - 1] == ' ');
	CHECK(r->target_len >= 1 && v + 10 <= hl && b[v - 1] == ' ');
	for (size_t i = 0; i < r->target_len; i++)
		CHECK(b[r->target + i] >= 0x21 && b[r->target + i] <= 0x7e);
	CHECK(!memcmp(b + v, "HTTP/1.", 7) && b[v + 7] - '0' == r->minor);
	CHECK(b[v + 8] == '\r' && b[v + 9] == '\n');
}

/* The target's form and the origin-form part of it (http.h). */
static void check_form(const struct http_request *r, const uint8_t *b)
{
	const uint8_t *t = b + r->target;

	CHECK((r->form == HTTP_FORM_AUTHORITY) == (r->method == HTTP_M_CONNECT));
	switch (r->form) {
	case HTTP_FORM_ORIGIN:
		CHECK(t[0] == '/' && r->path == r->target && r->path_len == r->target_len);
		break;
	case HTTP_FORM_ABSOLUTE:
		CHECK(r->path > r->target && r->path + r->path_len == r->target + r->target_len);
		CHECK(!r->path_len || b[r->path] == '/' || b[r->path] == '?');
		CHECK(r->target_len >= 8 && (t[4] == ':' || t[5] == ':'));
		break;
	case HTTP_FORM_AUTHORITY:
		CHECK(r->path_len == 0);
		break;
	case HTTP_FORM_ASTERISK:
		CHECK(r->method == HTTP_M_OPTIONS && r->target_len == 1 && t[0] == '*');
		CHECK(r->path_len == 0);
		break;
	default:
		CHECK(!"unknown form");
	}
	for (size_t i = 0; i < r->target_len; i++)
		CHECK(t[i] != '#' && t[i] != '{' && t[i] != '}'); /* not URI characters */
}

static void check_fields(const struct http_request *r, const uint8_t *b, size_t hl)
{
	CHECK(r->nfields <= HTTP_MAX_FIELDS);
	for (unsigned i = 0; i < r->nfields; i++) {
		const struct http_field *f = &r->fields[i];
		CHECK(f->name_len >= 1 && f->name + f->name_len < hl);
		CHECK(b[f->name + f->name_len] == ':');
		CHECK(f->value >= f->name + f->name_len + 1);
		CHECK((size_t)f->value + f->value_len + 2 <= hl);
		for (unsigned k = 0; k < f->name_len; k++)
			CHECK(is_tchar(b[f->name + k]));
		for (unsigned k = 0; k < f->value_len; k++)
			CHECK(b[f->value + k] >= 0x20 || b[f->value + k] == '\t');
		for (unsigned k = 0; k < f->value_len; k++)
			CHECK(b[f->value + k] != 0x7f);
		if (f->value_len) {
			uint8_t first = b[f->value], last = b[f->value + f->value_len - 1];
			CHECK(first != ' ' && first != '\t' && last != ' ' && last != '\t');
		}
		if (i)
			CHECK(f->name > r->fields[i - 1].value);
	}
}

static void check_framing(const struct http_request *r, const uint8_t *b)
{
	uint32_t f = r->flags;
	const struct http_field *cl = http_find(r, b, "content-length");

	CHECK(!((f & HTTP_F_TE) && (f & HTTP_F_CONTENT_LENGTH)));
	CHECK(!(f & HTTP_F_CHUNKED) || (f & HTTP_F_TE));
	CHECK(!(f & HTTP_F_TE) || (f & HTTP_F_CHUNKED));
	CHECK(!(f & HTTP_F_CONTENT_LENGTH) == !cl);
	if (r->minor >= 1)
		CHECK((f & HTTP_F_HOST_SEEN) && http_find(r, b, "host"));
	if (r->minor == 0) {
		CHECK(!(f & (HTTP_F_TE | HTTP_F_EXPECT)));
		CHECK(!(f & HTTP_F_CLOSE) ==
		      ((f & HTTP_F_KEEP_ALIVE) && !(f & HTTP_F_CONN_CLOSE)));
	} else {
		CHECK(!(f & HTTP_F_CLOSE) == !(f & HTTP_F_CONN_CLOSE));
	}
	if (cl) { /* the first one decides; repeats must agree anyway */
		uint64_t v = 0;
		CHECK(cl->value_len >= 1);
		for (unsigned k = 0; k < cl->value_len; k++) {
			CHECK(b[cl->value + k] >= '0' && b[cl->value + k] <= '9');
			v = v * 10 + (uint64_t)(b[cl->value + k] - '0');
		}
		CHECK(v == r->content_length);
	}
}

/* Used only to run the list matcher over real values under the
 * sanitizers; its answer has no independent oracle here. */
static void touch_accept(const struct http_request *r, const uint8_t *b)
{
	const struct http_field *ae = http_find(r, b, "accept-encoding");
	if (ae) {
		volatile bool x = http_accepts(b + ae->value, ae->value_len, "gzip");
		x = http_accepts(b + ae->value, ae->value_len, "br");
		(void)x;
	}
}

static void check_head(const struct result *res, const uint8_t *b, size_t n)
{
	const struct http_request *r = &res->r;
	size_t hl;

	if (res->rc < 0) {
		CHECK(r->status == 400 || r->status == 414 || r->status == 431);
		return;
	}
	if (res->rc == 0) {
		CHECK(n < HTTP_MAX_HEAD);
		return;
	}
	hl = (size_t)res->rc;
	CHECK(hl <= n && hl <= HTTP_MAX_HEAD);
	CHECK(hl >= 4 && !memcmp(b + hl - 4, "\r\n\r\n", 4));
	check_request_line(r, b, hl);
	check_form(r, b);
	check_fields(r, b, hl);
	check_framing(r, b);
	touch_accept(r, b);
}

static void check_splits(const uint8_t *b, size_t n, const struct result *whole,
			 struct fuzz_rng *g)
{
	struct result alt;
	size_t cuts[RANDOM_CUTS];

	if (n <= ALL_SPLITS_MAX) {
		for (size_t k = 0; k < n; k++) { /* k = 0: an empty first call */
			parse_growing(b, n, &k, 1, &alt);
			same_result(whole, &alt);
		}
	}
	if (n <= BYTEWISE_COPY) {
		size_t *all = malloc((n ? n : 1) * sizeof(*all));
		for (size_t k = 1; k < n; k++)
			all[k - 1] = k;
		parse_growing(b, n, all, n ? n - 1 : 0, &alt);
		free(all);
		same_result(whole, &alt);
	}
	parse_bytewise_inplace(b, n, &alt);
	same_result(whole, &alt);
	for (int s = 0; s < RANDOM_SETS; s++) {
		size_t k = fuzz_cuts(g, n, cuts, RANDOM_CUTS);
		parse_growing(b, n, cuts, k, &alt);
		same_result(whole, &alt);
	}
}

/* Where the next request starts, or 0 when this one ends the stream
 * (error, incomplete, or a body we cannot get past). */
static size_t skip_body(const struct result *res, const uint8_t *b, size_t n)
{
	size_t at = (size_t)res->rc;

	if (res->r.flags & HTTP_F_CONTENT_LENGTH)
		return res->r.content_length <= n - at ? at + (size_t)res->r.content_length : 0;
	if (res->r.flags & HTTP_F_CHUNKED) {
		struct http_chunked d;
		http_chunked_init(&d);
		while (at < n) {
			size_t used, off = 0, len = 0;
			int rc = http_chunked_step(&d, b + at, n - at, &used, &off, &len);
			at += used;
			if (rc == HTTP_CHUNK_DONE)
				return at;
			if (rc != HTTP_CHUNK_DATA)
				return 0;
		}
		return 0;
	}
	return at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rng g;
	size_t at = 0;

	fuzz_rng_seed(&g, data, size);
	for (int i = 0; i < MAX_REQUESTS && at < size; i++) {
		const uint8_t *b = data + at;
		size_t n = size - at, next;
		struct result whole;

		parse_once(b, n, &whole);
		check_head(&whole, b, n);
		/* The server's own sequence: what sits in one segment, then
		 * at most HTTP_MAX_HEAD bytes made contiguous. */
		if (n > HTTP_MAX_HEAD) {
			struct result capped;
			parse_once(b, HTTP_MAX_HEAD, &capped);
			CHECK(capped.rc != 0);
			same_result(&whole, &capped);
		}
		check_splits(b, n < HTTP_MAX_HEAD ? n : HTTP_MAX_HEAD, &whole, &g);
		if (whole.rc <= 0 || !(next = skip_body(&whole, b, n)))
			break;
		at += next;
	}
	return 0;
}
