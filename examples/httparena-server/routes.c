/* SPDX-License-Identifier: MIT */
/* httparena-server: routing and the response of each endpoint. */
#include "app.h"
#include "gz.h"
#include "jsonw.h"
#include "render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Request side                                                        */
/* ------------------------------------------------------------------ */

static bool is(const uint8_t *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	return n == k && !memcmp(s, lit, k);
}

/* Optional sign and 1..18 digits, nothing else. */
static bool parse_int(const uint8_t *s, size_t n, int64_t *out)
{
	bool neg = false;
	int64_t v = 0;
	if (n && (*s == '-' || *s == '+')) {
		neg = *s == '-';
		s++;
		n--;
	}
	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return true;
}

/* Walk "k=v&k=v": fn(key, value) for each pair that has a '='. */
struct qpair {
	const uint8_t *k, *v;
	size_t klen, vlen;
};

static bool query_next(const uint8_t **q, const uint8_t *end, struct qpair *p)
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

static double parse_double(const uint8_t *s, size_t n, double dflt)
{
	char buf[64], *end;
	if (n == 0 || n >= sizeof(buf))
		return dflt;
	memcpy(buf, s, n);
	buf[n] = 0;
	double v = strtod(buf, &end);
	return *end || !isfinite(v) ? dflt : v;
}

static void query_params(struct params *prm, enum route r, const uint8_t *q,
			 const uint8_t *end)
{
	struct qpair p;
	int64_t v;
	while (query_next(&q, end, &p)) {
		switch (r) {
		case R_BASELINE:
			/* Unsigned wrap: a hostile sum must not be UB. */
			if (parse_int(p.v, p.vlen, &v))
				prm->sum = (int64_t)((uint64_t)prm->sum + (uint64_t)v);
			break;
		case R_JSON_N:
			if (is(p.k, p.klen, "m") && parse_int(p.v, p.vlen, &v))
				prm->mult = v;
			break;
		case R_DB:
			if (is(p.k, p.klen, "min"))
				prm->min = parse_double(p.v, p.vlen, prm->min);
			else if (is(p.k, p.klen, "max"))
				prm->max = parse_double(p.v, p.vlen, prm->max);
			break;
		default:
			return;
		}
	}
}

/* Route by path; m is the method. Sets allow for a known path. */
static enum route match(const uint8_t *path, size_t n, uint8_t m, struct params *prm)
{
	bool get = m == HTTP_M_GET || m == HTTP_M_HEAD;
	enum route r;
	const char *allow = "GET, HEAD";

	if (is(path, n, "/baseline11")) {
		allow = "GET, HEAD, POST";
		r = get || m == HTTP_M_POST ? R_BASELINE : R_NOT_ALLOWED;
	} else if (is(path, n, "/pipeline")) {
		r = get ? R_PIPELINE : R_NOT_ALLOWED;
	} else if (is(path, n, "/json")) {
		r = get ? R_JSON : R_NOT_ALLOWED;
	} else if (n > 6 && !memcmp(path, "/json/", 6)) {
		int64_t count;
		if (path[6] == '-' || path[6] == '+' || !parse_int(path + 6, n - 6, &count))
			return R_NOT_FOUND;
		prm->count = count > 1000000 ? 1000000 : (uint32_t)count;
		r = get ? R_JSON_N : R_NOT_ALLOWED;
	} else if (is(path, n, "/compression")) {
		r = get ? R_COMPRESSION : R_NOT_ALLOWED;
	} else if (is(path, n, "/upload")) {
		allow = "POST";
		r = m == HTTP_M_POST ? R_UPLOAD : R_NOT_ALLOWED;
	} else if (is(path, n, "/db")) {
		r = get ? R_DB : R_NOT_ALLOWED;
	} else if (is(path, n, "/")) {
		allow = "GET, HEAD, POST, OPTIONS";
		prm->send_allow = m == HTTP_M_OPTIONS;
		r = get || m == HTTP_M_POST || m == HTTP_M_OPTIONS ? R_ROOT : R_NOT_ALLOWED;
	} else if (is(path, n, "/echo")) {
		r = R_ECHO; /* any method */
	} else {
		return R_NOT_FOUND;
	}
	prm->allow = allow;
	return r;
}

/* ------------------------------------------------------------------ */
/* Kept bytes (/ and /echo)                                            */
/* ------------------------------------------------------------------ */

static bool keep_room(struct keep *k, size_t more)
{
	if (more > KEEP_MAX - k->len)
		return false;
	if (k->len + more <= k->cap)
		return true;
	size_t cap = k->cap ? k->cap : 1024;
	while (cap < k->len + more)
		cap *= 2;
	char *p = realloc(k->p, cap);
	if (!p)
		return false;
	k->p = p;
	k->cap = cap;
	return true;
}

static void keep_put(struct keep *k, const void *p, size_t n)
{
	memcpy(k->p + k->len, p, n);
	k->len += n;
}

void route_free(struct hconn *h)
{
	free(h->keep.p);
	h->keep = (struct keep){ 0 };
}

/* /echo's body: each header line as "Name: value\n", in order. The head
 * section is at most HTTP_MAX_FIELD_BYTES, and this is no longer. */
static unsigned keep_fields(struct hconn *h, const uint8_t *buf)
{
	const struct http_request *rq = &h->req;
	size_t need = 0;
	for (unsigned i = 0; i < rq->nfields; i++)
		need += rq->fields[i].name_len + rq->fields[i].value_len + 3;
	if (!keep_room(&h->keep, need))
		return 500;
	for (unsigned i = 0; i < rq->nfields; i++) {
		const struct http_field *f = &rq->fields[i];
		keep_put(&h->keep, buf + f->name, f->name_len);
		keep_put(&h->keep, ": ", 2);
		keep_put(&h->keep, buf + f->value, f->value_len);
		keep_put(&h->keep, "\n", 1);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Routing                                                             */
/* ------------------------------------------------------------------ */

unsigned route_request(struct hconn *h, const uint8_t *buf)
{
	const struct http_request *rq = &h->req;
	const uint8_t *t = buf + rq->path, *end = t + rq->path_len;
	struct params *prm = &h->prm;

	memset(prm, 0, sizeof(*prm));
	prm->mult = 1;
	prm->min = 10;
	prm->max = 50;
	const uint8_t *q = memchr(t, '?', (size_t)(end - t));
	const uint8_t *path = t, *path_end = q ? q : end;
	if (path == path_end) { /* absolute-form with no path: "/" */
		path = (const uint8_t *)"/";
		path_end = path + 1;
	}
	if (rq->form == HTTP_FORM_ASTERISK) {
		h->route = R_OPTIONS_SERVER;
		prm->allow = SERVER_ALLOW;
		prm->send_allow = true;
	} else {
		h->route = (uint8_t)match(path, (size_t)(path_end - path), rq->method, prm);
	}
	if (q)
		query_params(prm, h->route, q + 1, end);
	if (h->route == R_COMPRESSION) {
		const struct http_field *f = http_find(rq, buf, "accept-encoding");
		prm->gzip = f && http_accepts(buf + f->value, f->value_len, "gzip");
	}
	h->head_only = rq->method == HTTP_M_HEAD;
	h->close = (rq->flags & HTTP_F_CLOSE) != 0;
	h->keep_alive = !h->close && rq->minor == 0;
	h->received = 0;
	memset(&h->num, 0, sizeof(h->num));
	h->keep.len = 0;
	if (h->route == R_ECHO)
		return keep_fields(h, buf);
	if (h->route == R_ROOT && rq->content_length > KEEP_MAX)
		return 413;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Body                                                                */
/* ------------------------------------------------------------------ */

enum { N_START, N_SIGN, N_DIGITS, N_TRAIL, N_BAD };

/* Optional whitespace, sign, digits, whitespace; anything else (or an
 * overflow) makes the body count as 0. */
static void bodynum_feed(struct bodynum *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && b->state != N_BAD; i++) {
		uint8_t c = p[i];
		bool ws = c == ' ' || c == '\t' || c == '\r' || c == '\n';
		bool digit = c >= '0' && c <= '9';
		switch (b->state) {
		case N_START:
			if (ws)
				break;
			if (c == '-' || c == '+') {
				b->neg = c == '-';
				b->state = N_SIGN;
				break;
			}
			/* fall through */
		case N_SIGN:
		case N_DIGITS:
			if (digit && b->value < UINT64_C(100000000000000000)) {
				b->value = b->value * 10 + (uint64_t)(c - '0');
				b->state = N_DIGITS;
			} else if (ws && b->state == N_DIGITS) {
				b->state = N_TRAIL;
			} else {
				b->state = N_BAD;
			}
			break;
		case N_TRAIL:
			if (!ws)
				b->state = N_BAD;
			break;
		}
	}
}

static int64_t bodynum_value(const struct bodynum *b)
{
	if (b->state != N_DIGITS && b->state != N_TRAIL)
		return 0;
	return b->neg ? -(int64_t)b->value : (int64_t)b->value;
}

unsigned route_body(struct hconn *h, const uint8_t *p, size_t n)
{
	h->received += n;
	if (h->route == R_BASELINE) {
		bodynum_feed(&h->num, p, n);
	} else if (h->route == R_ROOT && h->req.method == HTTP_M_POST) {
		if (!keep_room(&h->keep, n))
			return 413;
		keep_put(&h->keep, p, n);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

/* A response being built in place: the body is written at a guessed
 * offset (head size with the digits of the bound), then moved down by
 * the few bytes the guess was off, so the head can carry the exact
 * Content-Length without a copy of the body. */
struct out {
	struct http_head head;
	char *base;
	size_t fixed;
	unsigned digits;
};

static char *out_open_enc(struct zg_conn *c, struct hconn *h, struct out *o,
			  unsigned status, const char *type, const char *encoding,
			  size_t body_max)
{
	o->head = (struct http_head){
		.status = status, .type = type, .encoding = encoding,
		.date = h->w->date, .close = h->close, .keep_alive = h->keep_alive,
	};
	if (status == 405 || h->prm.send_allow)
		o->head.allow = h->prm.allow;
	o->fixed = http_head_fixed(&o->head);
	o->digits = http_digits(body_max);
	o->base = zg_conn_reserve(c, o->fixed + o->digits + body_max);
	return o->base ? o->base + o->fixed + o->digits : NULL;
}

static char *out_open(struct zg_conn *c, struct hconn *h, struct out *o,
		      unsigned status, const char *type, size_t body_max)
{
	return out_open_enc(c, h, o, status, type, NULL, body_max);
}

static void out_commit(struct zg_conn *c, struct hconn *h, struct out *o, char *end)
{
	char *body = o->base + o->fixed + o->digits;
	size_t len = (size_t)(end - body);
	unsigned digits = http_digits(len);
	if (digits != o->digits)
		memmove(o->base + o->fixed + digits, body, len);
	size_t hl = http_head_write(o->base, &o->head, len);
	zg_conn_commit(c, hl + (h->head_only ? 0 : len));
}

static int fail_conn(struct zg_conn *c)
{
	zg_conn_close(c, ZG_CLOSE_ABORT);
	return -1;
}

static int respond_text(struct zg_conn *c, struct hconn *h, unsigned status,
			const char *text)
{
	struct out o;
	size_t n = strlen(text);
	char *p = out_open(c, h, &o, status, "text/plain", n);
	if (!p)
		return fail_conn(c);
	out_commit(c, h, &o, jw_raw(p, text, n));
	return 0;
}

/* No content: Content-Length: 0 and no Content-Type (RFC 9110 9.3.7
 * asks for the former in an OPTIONS answer). */
static int respond_empty(struct zg_conn *c, struct hconn *h, unsigned status)
{
	struct out o;
	char *p = out_open(c, h, &o, status, NULL, 0);
	if (!p)
		return fail_conn(c);
	out_commit(c, h, &o, p);
	return 0;
}

/* / and /echo: what the route kept, then let it go (an idle connection
 * holds nothing). */
static int respond_kept(struct zg_conn *c, struct hconn *h, const char *type)
{
	struct out o;
	char *p = out_open(c, h, &o, 200, type, h->keep.len);
	if (!p)
		return fail_conn(c);
	if (h->keep.len) /* keep.p is NULL until something was kept */
		p = jw_raw(p, h->keep.p, h->keep.len);
	out_commit(c, h, &o, p);
	route_free(h);
	return 0;
}

static int respond_root(struct zg_conn *c, struct hconn *h)
{
	if (h->req.method == HTTP_M_POST)
		return respond_kept(c, h, "application/octet-stream");
	return respond_text(c, h, 200, "OK");
}

static int respond_number(struct zg_conn *c, struct hconn *h, int64_t v)
{
	struct out o;
	char *p = out_open(c, h, &o, 200, "text/plain", JW_NUM_BOUND);
	if (!p)
		return fail_conn(c);
	out_commit(c, h, &o, jw_i64(p, v));
	return 0;
}

static int respond_items(struct zg_conn *c, struct hconn *h,
			 const struct dataset *d, size_t count, int64_t mult)
{
	struct out o;
	if (count > d->n)
		count = d->n;
	char *p = out_open(c, h, &o, 200, "application/json", render_bound(d, count));
	if (!p)
		return fail_conn(c);
	out_commit(c, h, &o, render_items(p, d, count, mult));
	return 0;
}

static bool scratch_reserve(struct worker *w, size_t need)
{
	if (need <= w->scratch_cap)
		return true;
	size_t cap = w->scratch_cap ? w->scratch_cap : 65536;
	while (cap < need)
		cap *= 2;
	char *p = realloc(w->scratch, cap);
	if (!p)
		return false;
	w->scratch = p;
	w->scratch_cap = cap;
	return true;
}

/* The 6000-item document, gzipped per request when the client takes it.
 * Rendered and compressed in per-reactor buffers, then copied: reserving
 * the worst case (the document's size) in every connection's output
 * queue would hold ~1 MB per response in flight where ~0.2 MB is used. */
static int respond_compression(struct zg_conn *c, struct hconn *h)
{
	struct worker *w = h->w;
	const struct dataset *d = &w->app->large;
	struct out o;
	if (!h->prm.gzip)
		return respond_items(c, h, d, d->n, 1);
	size_t doc_max = render_bound(d, d->n);
	if (!scratch_reserve(w, doc_max + gz_bound(doc_max)))
		return fail_conn(c);
	char *doc = w->scratch, *gz = w->scratch + doc_max;
	size_t len = (size_t)(render_items(doc, d, d->n, 1) - doc);
	size_t n = gz_compress(w->gz, doc, len, gz, gz_bound(len));
	if (n == 0)
		return respond_text(c, h, 500, "Internal Server Error");
	char *p = out_open_enc(c, h, &o, 200, "application/json", "gzip", n);
	if (!p)
		return fail_conn(c);
	out_commit(c, h, &o, jw_raw(p, gz, n));
	return 0;
}

/* One row of the /db result. */
static char *db_row(char *p, sqlite3_stmt *st)
{
	const char *name = (const char *)sqlite3_column_text(st, 1);
	size_t name_n = (size_t)sqlite3_column_bytes(st, 1);
	const char *cat = (const char *)sqlite3_column_text(st, 2);
	size_t cat_n = (size_t)sqlite3_column_bytes(st, 2);
	const char *tags = (const char *)sqlite3_column_text(st, 6);
	size_t tags_n = (size_t)sqlite3_column_bytes(st, 6);

	p = JW_LIT(p, "{\"id\":");
	p = jw_i64(p, sqlite3_column_int64(st, 0));
	p = JW_LIT(p, ",\"name\":");
	p = jw_str(p, name ? name : "", name ? name_n : 0);
	p = JW_LIT(p, ",\"category\":");
	p = jw_str(p, cat ? cat : "", cat ? cat_n : 0);
	p = JW_LIT(p, ",\"price\":");
	p = jw_cents(p, llround(sqlite3_column_double(st, 3) * 100.0));
	p = JW_LIT(p, ",\"quantity\":");
	p = jw_i64(p, sqlite3_column_int64(st, 4));
	p = JW_LIT(p, ",\"active\":");
	p = jw_bool(p, sqlite3_column_int64(st, 5) != 0);
	p = JW_LIT(p, ",\"tags\":");
	/* The column holds a JSON array already; anything else reads as
	 * no tags rather than breaking the document. */
	if (tags && tags_n >= 2 && tags[0] == '[' && tags[tags_n - 1] == ']')
		p = jw_raw(p, tags, tags_n);
	else
		p = JW_LIT(p, "[]");
	p = JW_LIT(p, ",\"rating\":{\"score\":");
	p = jw_cents(p, llround(sqlite3_column_double(st, 7) * 100.0));
	p = JW_LIT(p, ",\"count\":");
	p = jw_i64(p, sqlite3_column_int64(st, 8));
	return JW_LIT(p, "}}");
}

static size_t db_row_bound(sqlite3_stmt *st)
{
	return 256 + 8 * JW_NUM_BOUND + JW_STR_BOUND(sqlite3_column_bytes(st, 1)) +
	       JW_STR_BOUND(sqlite3_column_bytes(st, 2)) + (size_t)sqlite3_column_bytes(st, 6);
}

static int respond_db(struct zg_conn *c, struct hconn *h)
{
	struct worker *w = h->w;
	sqlite3_stmt *st = w->stmt;
	size_t len = 0, rows = 0;
	struct out o;

	if (!scratch_reserve(w, 64))
		return fail_conn(c);
	len = (size_t)(JW_LIT(w->scratch, "{\"items\":[") - w->scratch);
	if (st) {
		sqlite3_bind_double(st, 1, h->prm.min);
		sqlite3_bind_double(st, 2, h->prm.max);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (!scratch_reserve(w, len + db_row_bound(st) + 64)) {
				sqlite3_reset(st);
				return fail_conn(c);
			}
			char *p = w->scratch + len;
			if (rows++)
				*p++ = ',';
			len = (size_t)(db_row(p, st) - w->scratch);
		}
		sqlite3_reset(st);
	}
	char *p = w->scratch + len;
	p = JW_LIT(p, "],\"count\":");
	p = jw_i64(p, (int64_t)rows);
	*p++ = '}';
	len = (size_t)(p - w->scratch);
	char *body = out_open(c, h, &o, 200, "application/json", len);
	if (!body)
		return fail_conn(c);
	out_commit(c, h, &o, jw_raw(body, w->scratch, len));
	return 0;
}

int route_respond(struct zg_conn *c, struct hconn *h)
{
	const struct app *a = h->w->app;
	switch (h->route) {
	case R_BASELINE:
		return respond_number(c, h, (int64_t)((uint64_t)h->prm.sum +
						      (uint64_t)bodynum_value(&h->num)));
	case R_PIPELINE:
		return respond_text(c, h, 200, "ok");
	case R_JSON:
		return respond_items(c, h, &a->small, a->small.n, 1);
	case R_JSON_N:
		return respond_items(c, h, &a->ints, h->prm.count, h->prm.mult);
	case R_COMPRESSION:
		return respond_compression(c, h);
	case R_UPLOAD:
		return respond_number(c, h, (int64_t)h->received);
	case R_DB:
		return respond_db(c, h);
	case R_OPTIONS_SERVER:
		return respond_empty(c, h, 200);
	case R_ROOT:
		return respond_root(c, h);
	case R_ECHO:
		return respond_kept(c, h, "text/plain");
	case R_NOT_ALLOWED:
		return respond_text(c, h, 405, "Method Not Allowed");
	default:
		return respond_text(c, h, 404, "Not Found");
	}
}

int respond_error(struct zg_conn *c, struct worker *w, unsigned status,
		  const char *allow)
{
	struct hconn tmp = { .w = w, .close = true, .prm.allow = allow };
	return respond_text(c, &tmp, status, http_reason(status));
}
