/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: the crud profile (crud.h; SPEC-HEAD.md §6.5-6.7).
 *
 * Every route but a cache hit of the in-process table answers later:
 * on_complete makes a struct op (its query's parameters as text, and for
 * the writes the response body, made from the request before the query
 * goes out), takes a ticket, and hands the op to Redis (a single item's
 * get) or to the database; the callback answers through the ticket and
 * frees the op. The cache's side effects (store an item read, drop the
 * entry of an item written) happen also when the client has gone.
 *
 * Database failures (no DATABASE_URL, the pool cannot take the query, an
 * error): the list answers an empty page (200, as async-db answers an
 * empty result), the others 503 Service Unavailable (text/plain, the
 * reason phrase): a client can tell "no such item" (404) from "cannot
 * say now". A single item's GET carries exactly one X-Cache header on
 * every answer (HIT only for a cached item; MISS also on 404 and 503).
 *
 * Races the TTL bounds: a read that missed and fetched the row before a
 * concurrent PUT, but stores it after the PUT dropped the entry, leaves
 * the old row cached for at most the TTL (200 ms); cache-aside has this
 * window by design.
 */
#include "crud.h"

#include "cache.h"
#include "db.h"
#include "jsonw.h"
#include "params.h"
#include "pgitem.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define CRUD_LIMIT_DEFAULT 10
#define CRUD_LIMIT_MAX 50
#define CRUD_PAGE_MAX 100000000u /* keeps the offset in range      */
#define CRUD_CATEGORY_MAX 256    /* a longer one is a 400          */

static const char miss_line[] = "X-Cache: MISS\r\n";
static const char hit_line[] = "X-Cache: HIT\r\n";

/* ------------------------------------------------------------------ */
/* Request side                                                        */
/* ------------------------------------------------------------------ */

bool crud_route(const uint8_t *path, size_t n, uint8_t m, enum route *r, const char **allow)
{
	static const char base[] = "/crud/items";
	const size_t k = sizeof(base) - 1;
	bool get = m == HTTP_M_GET || m == HTTP_M_HEAD;

	if (n < k || memcmp(path, base, k))
		return false;
	if (n == k) {
		*allow = "GET, HEAD, POST";
		*r = get ? R_CRUD_LIST : m == HTTP_M_POST ? R_CRUD_CREATE : R_NOT_ALLOWED;
		return true;
	}
	if (path[k] != '/' || n == k + 1)
		return false;
	/* /crud/items/{id}: any id-like segment is the item resource (an
	 * id no item can have is a 404 from crud_complete) */
	if (memchr(path + k + 1, '/', n - k - 1))
		return false;
	*allow = "GET, HEAD, PUT";
	*r = get ? R_CRUD_GET : m == HTTP_M_PUT ? R_CRUD_UPDATE : R_NOT_ALLOWED;
	return true;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The category, %XX and '+' decoded (form encoding), into the request
 * buffer. -1: too long, a NUL, or out of memory. */
static int put_category(struct http_conn *c, const uint8_t *v, size_t n)
{
	char out[CRUD_CATEGORY_MAX];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (k == sizeof(out))
			return -1;
		if (v[i] == '%' && i + 2 < n && (hi = hexval(v[i + 1])) >= 0 &&
		    (lo = hexval(v[i + 2])) >= 0) {
			out[k++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[k++] = v[i] == '+' ? ' ' : (char)v[i];
		}
		if (!out[k - 1])
			return -1; /* no NUL in a text parameter */
	}
	return http_buffer_put(c, out, k);
}

/* The list's query: category (default electronics), page (default 1,
 * below 1 is 1), limit (default 10, outside 1..50 is 10). */
static int list_request(struct http_conn *c, struct crud_req *q, const struct http_req *r)
{
	const uint8_t *qp = r->query, *end = r->query + r->query_len;
	const uint8_t *cat = (const uint8_t *)"electronics";
	size_t cat_n = 11;
	struct http_qpair p;
	int64_t v;

	q->page = 1;
	q->limit = CRUD_LIMIT_DEFAULT;
	while (qp && http_query_next(&qp, end, &p)) {
		if (param_is(p.k, p.klen, "category")) {
			cat = p.v;
			cat_n = p.vlen;
		} else if (param_is(p.k, p.klen, "page") && param_int(p.v, p.vlen, &v)) {
			q->page = v < 1 ? 1 : v > CRUD_PAGE_MAX ? CRUD_PAGE_MAX : (uint32_t)v;
		} else if (param_is(p.k, p.klen, "limit") && param_int(p.v, p.vlen, &v)) {
			q->limit = v < 1 || v > CRUD_LIMIT_MAX ? CRUD_LIMIT_DEFAULT : (uint8_t)v;
		}
	}
	return put_category(c, cat, cat_n) ? 400 : HTTP_BODY_DISCARD;
}

int crud_request(struct http_conn *c, struct hstate *s, const struct http_req *r)
{
	struct crud_req *q = &s->crud;
	uint64_t id;

	*q = (struct crud_req){ 0 };
	switch (s->route) {
	case R_CRUD_LIST:
		return list_request(c, q, r);
	case R_CRUD_GET:
	case R_CRUD_UPDATE:
		/* after "/crud/items/"; an id an INTEGER column can hold */
		q->id_ok = param_digits(r->path + 12, r->path_len - 12, &id) && id <= INT32_MAX;
		q->id = q->id_ok ? (uint32_t)id : 0;
		return s->route == R_CRUD_UPDATE ? HTTP_BODY_BUFFER : HTTP_BODY_DISCARD;
	case R_CRUD_CREATE:
		return HTTP_BODY_BUFFER; /* read whole, then parsed (jansson) */
	default:
		return HTTP_BODY_DISCARD;
	}
}

/* ------------------------------------------------------------------ */
/* Answers                                                             */
/* ------------------------------------------------------------------ */

/* A single item's answer: body p[0..n) with its X-Cache line. */
static int respond_item(struct http_conn *c, unsigned status, const char *type,
			const char *xcache, const void *p, size_t n)
{
	char *b = http_begin_extra(c, status, type, xcache, n);
	if (!b)
		return -1;
	if (n)
		memcpy(b, p, n);
	return http_end(c, b + n);
}

static int respond_reason(struct http_conn *c, unsigned status, const char *xcache)
{
	const char *text = http_reason(status);
	return respond_item(c, status, "text/plain", xcache, text, strlen(text));
}

/* A request waiting for Redis or the database: what its query and its
 * answer need, owned by the callback that ends it. */
struct op {
	struct http_ticket *t;
	struct worker *w;
	uint8_t route;
	uint32_t id;
	uint32_t page;
	uint8_t limit;
	const char *params[5];   /* into text                         */
	const char *body;        /* a write's answer (into text)      */
	size_t body_len;
	char text[];
};

static enum db_stmt stmt_of(uint8_t route)
{
	switch (route) {
	case R_CRUD_LIST: return DB_CRUD_LIST;
	case R_CRUD_CREATE: return DB_CRUD_UPSERT;
	case R_CRUD_UPDATE: return DB_CRUD_UPDATE;
	default: return DB_CRUD_GET;
	}
}

static bool tuples(const PGresult *res)
{
	return res && PQresultStatus(res) == PGRES_TUPLES_OK && pgitem_columns_ok(res);
}

/* The list: {"items":[...],"total":N,"page":P,"limit":L}, total being
 * the count in this answer (SPEC-HEAD §6.5); no rows when res is NULL. */
static int respond_list(struct http_conn *c, const struct op *op, const PGresult *res)
{
	int rows = tuples(res) ? PQntuples(res) : 0;
	size_t bound = 96 + 3 * JW_NUM_BOUND;
	char *p;

	p = http_begin(c, 200, "application/json", bound + (rows ? pgitem_list_bound(res) : 0));
	if (!p)
		return -1;
	p = rows ? pgitem_list(p, res) : JW_LIT(p, "{\"items\":[]");
	p = JW_LIT(p, ",\"total\":");
	p = jw_i64(p, rows);
	p = JW_LIT(p, ",\"page\":");
	p = jw_i64(p, op->page);
	p = JW_LIT(p, ",\"limit\":");
	p = jw_i64(p, op->limit);
	*p++ = '}';
	return http_end(c, p);
}

/* A single item read from the database: the item into the cache and
 * (when the client is there) the answer. */
static int answer_get(struct http_conn *c, struct op *op, const PGresult *res)
{
	struct worker *w = op->w;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
		return c ? respond_reason(c, 503, miss_line) : 0;
	if (PQntuples(res) < 1 || !pgitem_columns_ok(res))
		return c ? respond_reason(c, 404, miss_line) : 0; /* not cached */
	if (!scratch_reserve(w, pgitem_bound(res, 0)))
		return c ? respond_reason(c, 503, miss_line) : 0;
	size_t n = (size_t)(pgitem_write(w->scratch, res, 0) - w->scratch);
	if (w->cache)
		cache_set(w->cache, op->id, w->scratch, n);
	return c ? respond_item(c, 200, "application/json", miss_line, w->scratch, n) : 0;
}

/* Rows an UPDATE changed (or an UPDATE ... RETURNING returned). */
static long affected(const PGresult *res)
{
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return PQntuples(res);
	return strtol(PQcmdTuples((PGresult *)res), NULL, 10);
}

/* The answer to op's query (res NULL: the database failed); c NULL: the
 * client has gone, only the cache is kept right. */
static int answer(struct http_conn *c, struct op *op, const PGresult *res)
{
	bool ok = res && (PQresultStatus(res) == PGRES_COMMAND_OK ||
			  PQresultStatus(res) == PGRES_TUPLES_OK);

	switch (op->route) {
	case R_CRUD_LIST:
		return c ? respond_list(c, op, ok ? res : NULL) : 0;
	case R_CRUD_GET:
		return answer_get(c, op, res);
	case R_CRUD_CREATE:
	case R_CRUD_UPDATE:
		/* Whatever became of the write, the entry goes: a failed
		 * query may have committed. */
		if (op->w->cache)
			cache_del(op->w->cache, op->id);
		if (!c)
			return 0;
		if (!ok)
			return respond_reason(c, 503, NULL);
		if (op->route == R_CRUD_UPDATE && affected(res) < 1)
			return http_respond_status(c, 404);
		return http_respond(c, op->route == R_CRUD_CREATE ? 201 : 200,
				    "application/json", op->body, op->body_len);
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* Ops                                                                 */
/* ------------------------------------------------------------------ */

static void op_end(struct op *op)
{
	http_ticket_done(op->t);
	free(op);
}

static void on_result(void *arg, const PGresult *res)
{
	struct op *op = arg;
	answer(http_ticket_conn(op->t), op, res); /* a refused answer aborts in done */
	op_end(op);
}

/* The op's query to this reactor's pool: 0, or -1 (no database, or the
 * pool cannot take it now) and on_result is never called. */
static int query(struct op *op)
{
	if (!op->w->db)
		return -1;
	return db_query(op->w->db, stmt_of(op->route), op->params, on_result, op);
}

/* Redis answered a single item's get (later, on the reactor thread). */
static void on_cached(void *arg, bool found, const void *p, size_t n)
{
	struct op *op = arg;
	struct http_conn *c = http_ticket_conn(op->t);

	if (!c) {
		op_end(op); /* gone: no reason to ask the database */
		return;
	}
	if (found) {
		respond_item(c, 200, "application/json", hit_line, p, n);
	} else if (query(op) == 0) {
		return;
	} else {
		answer(c, op, NULL);
	}
	op_end(op);
}

/* From on_complete: the op's ticket, then Redis or the database; an
 * answer now (and the op freed) when neither can take it. */
static int start(struct http_conn *c, struct op *op)
{
	struct cache *cache = op->w->cache;
	int rc;

	op->t = http_ticket(c);
	if (!op->t) {
		rc = answer(c, op, NULL);
		free(op);
		return rc;
	}
	if (op->route == R_CRUD_GET && cache && !cache_inline(cache) &&
	    cache_get(cache, op->id, on_cached, op) == 0)
		return HTTP_LATER;
	if (query(op) == 0)
		return HTTP_LATER;
	http_ticket_done(op->t); /* within on_complete: answered now */
	rc = answer(c, op, NULL);
	free(op);
	return rc;
}

/* An op with room for text bytes of parameters and answer. */
static struct op *op_new(struct http_conn *c, uint8_t route, size_t text)
{
	struct op *op = malloc(sizeof(*op) + text);
	if (!op)
		return NULL;
	*op = (struct op){ .w = http_worker(c), .route = route };
	return op;
}

/* A number as a NUL-terminated parameter at *p; returns it. */
static const char *param_num(char **p, int64_t v)
{
	char *s = *p;
	*p = jw_i64(s, v);
	*(*p)++ = 0;
	return s;
}

static const char *param_str(char **p, const char *v, size_t n)
{
	char *s = *p;
	memcpy(s, v, n);
	s[n] = 0;
	*p = s + n + 1;
	return s;
}

/* ------------------------------------------------------------------ */
/* The routes                                                          */
/* ------------------------------------------------------------------ */

struct inline_hit {
	struct http_conn *c;
	bool found;
	int rc;
};

static void on_inline(void *arg, bool found, const void *p, size_t n)
{
	struct inline_hit *h = arg;
	h->found = found;
	if (found)
		h->rc = respond_item(h->c, 200, "application/json", hit_line, p, n);
}

static int get_item(struct http_conn *c, const struct crud_req *q)
{
	struct worker *w = http_worker(c);
	struct op *op;
	char *p;

	if (!q->id_ok)
		return respond_reason(c, 404, miss_line);
	if (w->cache && cache_inline(w->cache)) {
		struct inline_hit h = { .c = c };
		cache_get(w->cache, q->id, on_inline, &h);
		if (h.found)
			return h.rc;
	}
	op = op_new(c, R_CRUD_GET, JW_NUM_BOUND);
	if (!op)
		return respond_reason(c, 503, miss_line);
	op->id = q->id;
	p = op->text;
	op->params[0] = param_num(&p, q->id);
	return start(c, op);
}

static int list_items(struct http_conn *c, const struct crud_req *q)
{
	size_t cat_n;
	const uint8_t *cat = http_buffer(c, &cat_n);
	struct op *op = op_new(c, R_CRUD_LIST, cat_n + 1 + 2 * JW_NUM_BOUND);
	char *p;

	if (!op)
		return -1;
	op->page = q->page;
	op->limit = q->limit;
	p = op->text;
	op->params[0] = param_str(&p, cat_n ? (const char *)cat : "", cat_n);
	op->params[1] = param_num(&p, q->limit);
	op->params[2] = param_num(&p, (int64_t)(q->page - 1) * q->limit);
	return start(c, op);
}

/* A body member: a string (NUL-free: jansson refuses \u0000 by
 * default) or an integer that an INTEGER column holds. */
static const char *member_str(json_t *o, const char *k, size_t *n)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v))
		return NULL;
	*n = json_string_length(v);
	return json_string_value(v);
}

static bool member_int(json_t *o, const char *k, int64_t lo, int64_t *out)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_integer(v))
		return false;
	json_int_t x = json_integer_value(v);
	if (x < lo || x > INT32_MAX)
		return false;
	*out = x;
	return true;
}

/* POST /crud/items {"id","name","category","price","quantity"} and
 * PUT /crud/items/{id} {"name","price","quantity"} (a category is
 * ignored): the upsert or update, answered with the fields written. A
 * body that is not such JSON is a 400. */
static int write_item(struct http_conn *c, const struct hstate *s)
{
	bool create = s->route == R_CRUD_CREATE;
	size_t len, name_n, cat_n = 0;
	const uint8_t *body = http_buffer(c, &len);
	const char *name, *cat = NULL;
	int64_t id = s->crud.id, price, qty;
	json_t *j;
	int rc;

	if (!create && !s->crud.id_ok)
		return http_respond_status(c, 404);
	j = json_loadb((const char *)body, len, 0, NULL);
	if (!json_is_object(j) || !(name = member_str(j, "name", &name_n)) ||
	    !member_int(j, "price", INT32_MIN, &price) ||
	    !member_int(j, "quantity", INT32_MIN, &qty) ||
	    (create && (!member_int(j, "id", 0, &id) ||
			!(cat = member_str(j, "category", &cat_n))))) {
		json_decref(j);
		return http_respond_status(c, 400);
	}
	size_t text = name_n + cat_n + 4 * JW_NUM_BOUND + 8 + /* parameters */
		      64 + 4 * JW_NUM_BOUND + JW_STR_BOUND(name_n) + JW_STR_BOUND(cat_n);
	struct op *op = op_new(c, s->route, text);
	if (!op) {
		json_decref(j);
		return -1;
	}
	op->id = (uint32_t)id;
	char *p = op->text;
	if (create) {
		op->params[0] = param_num(&p, id);
		op->params[1] = param_str(&p, name, name_n);
		op->params[2] = param_str(&p, cat, cat_n);
		op->params[3] = param_num(&p, price);
		op->params[4] = param_num(&p, qty);
	} else {
		op->params[0] = param_str(&p, name, name_n);
		op->params[1] = param_num(&p, price);
		op->params[2] = param_num(&p, qty);
		op->params[3] = param_num(&p, id);
	}
	/* The answer: the fields written (the reference entry's shape). */
	char *b = p;
	p = JW_LIT(p, "{\"id\":");
	p = jw_i64(p, id);
	p = JW_LIT(p, ",\"name\":");
	p = jw_str(p, name, name_n);
	if (create) {
		p = JW_LIT(p, ",\"category\":");
		p = jw_str(p, cat, cat_n);
	}
	p = JW_LIT(p, ",\"price\":");
	p = jw_i64(p, price);
	p = JW_LIT(p, ",\"quantity\":");
	p = jw_i64(p, qty);
	*p++ = '}';
	op->body = b;
	op->body_len = (size_t)(p - b);
	json_decref(j);
	rc = start(c, op);
	return rc;
}

int crud_complete(struct http_conn *c, const struct hstate *s)
{
	switch (s->route) {
	case R_CRUD_LIST:
		return list_items(c, &s->crud);
	case R_CRUD_GET:
		return get_item(c, &s->crud);
	case R_CRUD_CREATE:
	case R_CRUD_UPDATE:
		return write_item(c, s);
	default:
		return http_respond_status(c, 404);
	}
}
