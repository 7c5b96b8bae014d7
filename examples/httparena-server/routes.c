/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: routing and the response of each endpoint, as
 * zerg_http's handler table (examples/http). The layer splits the
 * target, decides keep-alive and HEAD, writes the heads and the errors;
 * here are the routes, their parameters and their bodies.
 */
#include "app.h"
#include "crud.h"
#include "gz.h"
#include "jsonw.h"
#include "params.h"
#include "render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Request side                                                        */
/* ------------------------------------------------------------------ */

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
	struct http_qpair p;
	int64_t v;
	while (http_query_next(&q, end, &p)) {
		switch (r) {
		case R_BASELINE:
			/* Unsigned wrap: a hostile sum must not be UB. */
			if (param_int(p.v, p.vlen, &v))
				prm->sum = (int64_t)((uint64_t)prm->sum + (uint64_t)v);
			break;
		case R_JSON_N:
			if (param_is(p.k, p.klen, "m") && param_int(p.v, p.vlen, &v))
				prm->mult = v;
			break;
		case R_DB:
			if (param_is(p.k, p.klen, "min"))
				prm->min = parse_double(p.v, p.vlen, prm->min);
			else if (param_is(p.k, p.klen, "max"))
				prm->max = parse_double(p.v, p.vlen, prm->max);
			break;
		default:
			return;
		}
	}
}

/* Route by path; m is the method. Gives the layer the Allow value of a
 * known path (for its 405 and OPTIONS answers). */
static enum route match(struct http_conn *c, const uint8_t *path, size_t n, uint8_t m,
			struct params *prm)
{
	bool get = m == HTTP_M_GET || m == HTTP_M_HEAD;
	enum route r;
	const char *allow = "GET, HEAD";

	if (param_is(path, n, "/baseline11")) {
		allow = "GET, HEAD, POST";
		r = get || m == HTTP_M_POST ? R_BASELINE : R_NOT_ALLOWED;
	} else if (param_is(path, n, "/pipeline")) {
		r = get ? R_PIPELINE : R_NOT_ALLOWED;
	} else if (param_is(path, n, "/json")) {
		r = get ? R_JSON : R_NOT_ALLOWED;
	} else if (n > 6 && !memcmp(path, "/json/", 6)) {
		int64_t count;
		if (path[6] == '-' || path[6] == '+' || !param_int(path + 6, n - 6, &count))
			return R_NOT_FOUND;
		prm->count = count > 1000000 ? 1000000 : (uint32_t)count;
		r = get ? R_JSON_N : R_NOT_ALLOWED;
	} else if (param_is(path, n, "/compression")) {
		r = get ? R_COMPRESSION : R_NOT_ALLOWED;
	} else if (param_is(path, n, "/upload")) {
		allow = "POST";
		r = m == HTTP_M_POST ? R_UPLOAD : R_NOT_ALLOWED;
	} else if (param_is(path, n, "/db")) {
		r = get ? R_DB : R_NOT_ALLOWED;
	} else if (param_is(path, n, "/async-db")) {
		r = get ? R_ASYNC_DB : R_NOT_ALLOWED;
	} else if (crud_route(path, n, m, &r, &allow)) {
		/* /crud/items, /crud/items/{id} (crud.c) */
	} else if (param_is(path, n, "/")) {
		allow = "GET, HEAD, POST, OPTIONS";
		r = m == HTTP_M_POST ? R_ROOT_POST
		    : get || m == HTTP_M_OPTIONS ? R_ROOT : R_NOT_ALLOWED;
	} else if (param_is(path, n, "/echo")) {
		return R_ECHO; /* any method */
	} else if (n > 8 && !memcmp(path, STATIC_PREFIX, 8)) {
		r = get ? R_STATIC : R_NOT_ALLOWED;
	} else if (param_is(path, n, "/ws")) {
		r = m == HTTP_M_GET ? R_WS : R_NOT_ALLOWED;
		allow = "GET";
	} else {
		return R_NOT_FOUND;
	}
	http_set_allow(c, allow);
	return r;
}

/* Field names are case-insensitive; lit is lowercase. */
static bool name_is(const uint8_t *s, size_t n, const char *lit)
{
	size_t i = 0;
	for (; i < n && lit[i]; i++)
		if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]) != (uint8_t)lit[i])
			return false;
	return i == n && !lit[i];
}

/* Every Accept-Encoding line of the request, in order, as one list: a
 * field sent on several lines means their values joined by commas (RFC
 * 9110 5.3), so "gzip" on one line and "br" on the next accept both. */
static void accept_encoding(const struct http_req *r, struct enc_accept *acc)
{
	enc_accept_init(acc);
	for (unsigned i = 0; i < r->rq->nfields; i++) {
		const struct http_field *f = &r->rq->fields[i];
		if (name_is(r->buf + f->name, f->name_len, "accept-encoding"))
			enc_accept_parse(acc, r->buf + f->value, f->value_len);
	}
}

/* The answer's body depends on Accept-Encoding: say so to caches (RFC
 * 9110 12.5.5), on identity answers too. 23 bytes of head. */
#define VARY_AE "Accept-Encoding"

/* json-comp: the coding the client takes best by q-values, identity
 * without the field; a tie goes to gzip (ENC_JSON_PREFER: the benchmark's
 * "gzip, br" scores best with gzip, docs/json-comp-choice.md). */
static enum enc json_coding(struct http_conn *c, const struct http_req *r)
{
	struct enc_accept acc;
	accept_encoding(r, &acc);
	http_set_vary(c, VARY_AE);
	return enc_choose_prefer(&acc, ENC_ALL, ENC_JSON_PREFER);
}

/* /static/<name>: the file, and its representation for this client. */
static void static_take_request(struct http_conn *c, struct hstate *s, const struct http_req *r)
{
	const struct app *a = ((struct worker *)http_worker(c))->app;
	struct enc_accept acc;

	s->prm.sf = a->statics ? static_find(a->statics, r->path, r->path_len) : NULL;
	if (!s->prm.sf)
		return;
	accept_encoding(r, &acc);
	s->prm.sf_enc = (uint8_t)static_pick(s->prm.sf, &acc, &s->prm.rep);
	if (s->prm.sf->offered & ~ENC_BIT(ENC_IDENTITY)) /* it has siblings */
		http_set_vary(c, VARY_AE);
}

/* /ws (SPEC-HEAD.md 9): check the upgrade headers now, keeping the key
 * (the head's bytes are gone by on_complete). */
static struct ws_str header(const struct http_req *r, const char *name)
{
	const struct http_field *f = http_find(r->rq, r->buf, name);
	return f ? (struct ws_str){ (const char *)r->buf + f->value, f->value_len }
		 : (struct ws_str){ NULL, 0 };
}

static void ws_take_request(struct hstate *s, const struct http_req *r)
{
	struct ws_request wr = {
		.upgrade = header(r, "upgrade"),
		.connection = header(r, "connection"),
		.key = header(r, "sec-websocket-key"),
		.version = header(r, "sec-websocket-version"),
	};

	s->ws_status = (uint16_t)ws_handshake_check(&wr);
	if (!s->ws_status && r->rq->content_length)
		s->ws_status = 400; /* an upgrade carries no body */
	if (!s->ws_status && wr.key.n < sizeof(s->ws_key)) {
		memcpy(s->ws_key, wr.key.p, wr.key.n);
		s->ws_keylen = (uint8_t)wr.key.n;
	} else if (!s->ws_status) {
		s->ws_status = 400;
	}
}

/* After the 101, every byte of the connection is WebSocket. */
static void ws_take_data(struct http_conn *c, void *arg)
{
	struct hstate *s = arg;
	ws_on_data(http_conn_zg(c), &s->ws);
}

/* Echo messages up to 1 MiB; the refusals keep the connection (a
 * plain GET /ws is the benchmark's readiness probe). */
static int respond_ws(struct http_conn *c, struct hstate *s)
{
	char out[WS_REJECT_MAX > WS_101_MAX ? WS_REJECT_MAX : WS_101_MAX];

	if (s->ws_status)
		return http_respond_raw(c, out, ws_write_reject(out, s->ws_status, false));
	if (http_respond_raw(c, out, ws_write_101(out, s->ws_key, s->ws_keylen)))
		return -1;
	ws_state_init(&s->ws, 1u << 20, NULL, NULL);
	s->ws_on = true;
	http_upgrade(c, ws_take_data, s);
	return 0;
}

static void on_close(struct http_conn *c)
{
	struct hstate *s = http_conn_data(c);
	if (s->ws_on)
		ws_state_free(&s->ws);
}

/* The head is complete: route it, take what the response needs, and say
 * how the body is taken. */
static int on_request(struct http_conn *c, const struct http_req *r)
{
	struct hstate *s = http_conn_data(c);
	struct params *prm = &s->prm;

	*prm = (struct params){ .mult = 1, .min = 10, .max = 50 };
	s->num = (struct bodynum){ 0 };
	s->route = (uint8_t)match(c, r->path, r->path_len, r->rq->method, prm);
	if (r->query)
		query_params(prm, s->route, r->query, r->query + r->query_len);
	switch (s->route) {
	case R_BASELINE:
		return HTTP_BODY_STREAM; /* a POST's body is a number */
	case R_COMPRESSION: {
		/* gzip whenever it is acceptable, on any Accept-Encoding line */
		struct enc_accept acc;
		accept_encoding(r, &acc);
		prm->gzip = enc_q(&acc, ENC_GZIP) > 0;
		http_set_vary(c, VARY_AE);
		return HTTP_BODY_DISCARD;
	}
	case R_ROOT:
	case R_ROOT_POST:
		/* Read whole before the answer (a bad chunk later is still a
		 * 400), at most KEEP_MAX (413); only a POST's is echoed. */
		return HTTP_BODY_BUFFER;
	case R_ECHO:
		return http_buffer_fields(c, r) ? 500 : HTTP_BODY_DISCARD;
	case R_WS:
		ws_take_request(s, r);
		return HTTP_BODY_DISCARD;
	case R_JSON_N:
		prm->enc = (uint8_t)json_coding(c, r);
		return HTTP_BODY_DISCARD;
	case R_STATIC:
		static_take_request(c, s, r);
		return HTTP_BODY_DISCARD;
	case R_ASYNC_DB:
		asyncdb_params(&prm->adb, r->query, r->query_len);
		return HTTP_BODY_DISCARD;
	case R_CRUD_LIST:
	case R_CRUD_GET:
	case R_CRUD_CREATE:
	case R_CRUD_UPDATE:
		return crud_request(c, s, r);
	default:
		return HTTP_BODY_DISCARD; /* /upload counts it: http_body_length */
	}
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

/* Only R_BASELINE streams its body. */
static unsigned on_body(struct http_conn *c, const uint8_t *p, size_t n)
{
	struct hstate *s = http_conn_data(c);
	bodynum_feed(&s->num, p, n);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

static int respond_text(struct http_conn *c, const char *text)
{
	return http_respond(c, 200, "text/plain", text, strlen(text));
}

/* / and /echo: what was kept. */
static int respond_kept(struct http_conn *c, const char *type)
{
	size_t n;
	const uint8_t *p = http_buffer(c, &n);
	return http_respond(c, 200, type, p, n);
}

static int respond_number(struct http_conn *c, int64_t v)
{
	char *p = http_begin(c, 200, "text/plain", JW_NUM_BOUND);
	if (!p)
		return -1;
	return http_end(c, jw_i64(p, v));
}

static int respond_items(struct http_conn *c, const struct dataset *d, size_t count,
			 int64_t mult)
{
	if (count > d->n)
		count = d->n;
	char *p = http_begin(c, 200, "application/json", render_bound(d, count));
	if (!p)
		return -1;
	return http_end(c, render_items(p, d, count, mult));
}

/* json-comp (SPEC-HEAD.md 3): /json/{count} coded per request with what
 * the client takes best (brotli or gzip), rendered and coded in the
 * reactor's scratch buffer, then copied once into the output. */
static int respond_items_coded(struct http_conn *c, const struct hstate *s)
{
	struct worker *w = http_worker(c);
	const struct dataset *d = &w->app->ints;
	enum enc e = (enum enc)s->prm.enc;
	size_t count = s->prm.count < d->n ? s->prm.count : d->n;

	if (e == ENC_IDENTITY)
		return respond_items(c, d, count, s->prm.mult);
	size_t doc_max = render_bound(d, count), bound = enc_bound(e, doc_max);
	if (!scratch_reserve(w, doc_max + bound))
		return -1;
	char *doc = w->scratch, *out = w->scratch + doc_max;
	size_t len = (size_t)(render_items(doc, d, count, s->prm.mult) - doc);
	size_t n = enc_compress(w->enc, e, doc, len, out, bound);
	if (n == 0)
		return http_respond_status(c, 500);
	char *p = http_begin_coded(c, 200, "application/json", enc_name(e), n);
	if (!p)
		return -1;
	return http_end(c, jw_raw(p, out, n));
}

/* The 6000-item document, gzipped per request when the client takes it.
 * Rendered and compressed in per-reactor buffers, then copied: reserving
 * the worst case (the document's size) in every connection's output
 * queue would hold ~1 MB per response in flight where ~0.2 MB is used. */
static int respond_compression(struct http_conn *c, const struct hstate *s)
{
	struct worker *w = http_worker(c);
	const struct dataset *d = &w->app->large;
	if (!s->prm.gzip)
		return respond_items(c, d, d->n, 1);
	size_t doc_max = render_bound(d, d->n);
	if (!scratch_reserve(w, doc_max + gz_bound(doc_max)))
		return -1;
	char *doc = w->scratch, *gz = w->scratch + doc_max;
	size_t len = (size_t)(render_items(doc, d, d->n, 1) - doc);
	size_t n = gz_compress(w->gz, doc, len, gz, gz_bound(len));
	if (n == 0)
		return http_respond_status(c, 500);
	char *p = http_begin_coded(c, 200, "application/json", "gzip", n);
	if (!p)
		return -1;
	return http_end(c, jw_raw(p, gz, n));
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

static int respond_db(struct http_conn *c, const struct hstate *s)
{
	struct worker *w = http_worker(c);
	sqlite3_stmt *st = w->stmt;
	size_t len = 0, rows = 0;

	if (!scratch_reserve(w, 64))
		return -1;
	len = (size_t)(JW_LIT(w->scratch, "{\"items\":[") - w->scratch);
	if (st) {
		sqlite3_bind_double(st, 1, s->prm.min);
		sqlite3_bind_double(st, 2, s->prm.max);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (!scratch_reserve(w, len + db_row_bound(st) + 64)) {
				sqlite3_reset(st);
				return -1;
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
	return http_respond(c, 200, "application/json", w->scratch, len);
}

/* The request is complete: its response. */
static int on_complete(struct http_conn *c)
{
	const struct hstate *s = http_conn_data(c);
	const struct app *a = ((struct worker *)http_worker(c))->app;
	switch (s->route) {
	case R_BASELINE:
		return respond_number(c, (int64_t)((uint64_t)s->prm.sum +
						   (uint64_t)bodynum_value(&s->num)));
	case R_PIPELINE:
		return respond_text(c, "ok");
	case R_JSON:
		return respond_items(c, &a->small, a->small.n, 1);
	case R_JSON_N:
		return respond_items_coded(c, s);
	case R_STATIC:
		if (!s->prm.sf)
			return http_respond_status(c, 404);
		return http_respond_ref(c, 200, s->prm.sf->type,
					s->prm.sf_enc == ENC_IDENTITY ? NULL : enc_name(s->prm.sf_enc),
					s->prm.rep->data, s->prm.rep->len);
	case R_COMPRESSION:
		return respond_compression(c, s);
	case R_UPLOAD:
		return respond_number(c, (int64_t)http_body_length(c));
	case R_DB:
		return respond_db(c, s);
	case R_ASYNC_DB:
		return asyncdb_complete(c, &s->prm.adb);
	case R_CRUD_LIST:
	case R_CRUD_GET:
	case R_CRUD_CREATE:
	case R_CRUD_UPDATE:
		return crud_complete(c, s);
	case R_ROOT:
		return respond_text(c, "OK");
	case R_ROOT_POST:
		return respond_kept(c, "application/octet-stream");
	case R_ECHO:
		return respond_kept(c, "text/plain");
	case R_WS:
		return respond_ws(c, (struct hstate *)s);
	case R_NOT_ALLOWED:
		return http_respond_status(c, 405);
	default:
		return http_respond_status(c, 404);
	}
}

const struct http_handler app_handler = {
	.on_request = on_request,
	.on_body = on_body,
	.on_complete = on_complete,
	.on_close = on_close,
	.on_reactor_start = worker_start,
	.on_reactor_stop = worker_stop,
};
