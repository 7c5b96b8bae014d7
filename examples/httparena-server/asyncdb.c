/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: /async-db (SPEC-HEAD.md 6.2). The query goes to the
 * reactor's PostgreSQL pool (db.c) and the connection waits on a ticket
 * (zerg_http's deferred responses); the rows are written as JSON
 * straight into the connection's output when they come.
 */
#include "asyncdb.h"

#include "app.h"
#include "db.h"
#include "jsonw.h"
#include "pgitem.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* Parameters                                                          */
/* ------------------------------------------------------------------ */

/* An integer: optional sign, then digits only (leading zeros are fine,
 * "007" is 7); saturates far beyond int32. false for anything else. */
static bool parse_int(const uint8_t *s, size_t n, int64_t *out)
{
	bool neg = false;
	int64_t v = 0;

	if (n && (*s == '-' || *s == '+')) {
		neg = *s == '-';
		s++;
		n--;
	}
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v < INT64_C(1) << 40)
			v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return true;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void asyncdb_params(struct asyncdb_params *p, const uint8_t *q, size_t n)
{
	int64_t min = 10, max = 50, limit = 50, v;
	const uint8_t *end = q + n;
	struct http_qpair kv;

	while (q && http_query_next(&q, end, &kv)) {
		if (!parse_int(kv.v, kv.vlen, &v))
			continue;
		if (kv.klen == 3 && !memcmp(kv.k, "min", 3))
			min = v;
		else if (kv.klen == 3 && !memcmp(kv.k, "max", 3))
			max = v;
		else if (kv.klen == 5 && !memcmp(kv.k, "limit", 5))
			limit = v;
	}
	/* price is an INTEGER column: a bound past int32 would make the
	 * statement fail, where clamped it selects the same rows */
	p->min = (int32_t)clamp(min, INT32_MIN, INT32_MAX);
	p->max = (int32_t)clamp(max, INT32_MIN, INT32_MAX);
	p->limit = (uint8_t)clamp(limit, 1, 50);
}

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

enum { C_ID, C_NAME, C_CATEGORY, C_PRICE, C_QUANTITY, C_ACTIVE, C_TAGS, C_SCORE, C_COUNT,
       C_N };

/* The statements' results always have this shape: the column count,
 * the text format and two types (boolean, jsonb) are checked, cheaply,
 * rather than the nine names with strcmp per response. */
bool pgitem_columns_ok(const PGresult *res)
{
	enum { BOOLOID = 16, JSONBOID = 3802 };

	if (PQnfields(res) != C_N || PQftype(res, C_ACTIVE) != BOOLOID ||
	    PQftype(res, C_TAGS) != JSONBOID)
		return false;
	for (int i = 0; i < C_N; i++)
		if (PQfformat(res, i) != 0)
			return false;
	return true;
}

/* A number column as PostgreSQL writes an integer: its text is a JSON
 * number; NULL (not in this table) or anything else reads as 0. */
static char *number(char *p, const PGresult *res, int i, int col)
{
	const char *v = PQgetvalue(res, i, col);
	size_t n = (size_t)PQgetlength(res, i, col);
	size_t k = n && v[0] == '-';

	if (PQgetisnull(res, i, col) || n == k || n > 20)
		return JW_LIT(p, "0");
	for (size_t j = k; j < n; j++)
		if (v[j] < '0' || v[j] > '9')
			return JW_LIT(p, "0");
	return jw_raw(p, v, n);
}

/* jsonb's text of an array, without the blanks its output puts after
 * ',' and ':' (outside strings): ["fast", "new"] -> ["fast","new"]. */
static char *compact(char *p, const char *v, size_t n)
{
	bool str = false, esc = false;

	for (size_t j = 0; j < n; j++) {
		char ch = v[j];
		if (str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				str = false;
		} else if (ch == '"') {
			str = true;
		} else if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r') {
			continue;
		}
		*p++ = ch;
	}
	return p;
}

size_t pgitem_bound(const PGresult *res, int i)
{
	return 128 + 6 * 24 + JW_STR_BOUND(PQgetlength(res, i, C_NAME)) +
	       JW_STR_BOUND(PQgetlength(res, i, C_CATEGORY)) +
	       (size_t)PQgetlength(res, i, C_TAGS);
}

char *pgitem_write(char *p, const PGresult *res, int i)
{
	const char *tags = PQgetvalue(res, i, C_TAGS);
	size_t tags_n = (size_t)PQgetlength(res, i, C_TAGS);

	p = JW_LIT(p, "{\"id\":");
	p = number(p, res, i, C_ID);
	p = JW_LIT(p, ",\"name\":");
	p = jw_str(p, PQgetvalue(res, i, C_NAME), (size_t)PQgetlength(res, i, C_NAME));
	p = JW_LIT(p, ",\"category\":");
	p = jw_str(p, PQgetvalue(res, i, C_CATEGORY), (size_t)PQgetlength(res, i, C_CATEGORY));
	p = JW_LIT(p, ",\"price\":");
	p = number(p, res, i, C_PRICE);
	p = JW_LIT(p, ",\"quantity\":");
	p = number(p, res, i, C_QUANTITY);
	p = JW_LIT(p, ",\"active\":");
	p = jw_bool(p, PQgetvalue(res, i, C_ACTIVE)[0] == 't');
	p = JW_LIT(p, ",\"tags\":");
	/* jsonb: an array by the seed; anything else is no tags, rather
	 * than a broken document */
	if (tags_n >= 2 && tags[0] == '[' && tags[tags_n - 1] == ']')
		p = compact(p, tags, tags_n);
	else
		p = JW_LIT(p, "[]");
	p = JW_LIT(p, ",\"rating\":{\"score\":");
	p = number(p, res, i, C_SCORE);
	p = JW_LIT(p, ",\"count\":");
	p = number(p, res, i, C_COUNT);
	return JW_LIT(p, "}}");
}

size_t pgitem_list_bound(const PGresult *res)
{
	size_t bound = 16;

	for (int i = 0; i < PQntuples(res); i++)
		bound += pgitem_bound(res, i) + 1;
	return bound;
}

char *pgitem_list(char *p, const PGresult *res)
{
	p = JW_LIT(p, "{\"items\":[");
	for (int i = 0; i < PQntuples(res); i++) {
		if (i)
			*p++ = ',';
		p = pgitem_write(p, res, i);
	}
	*p++ = ']';
	return p;
}

/* ------------------------------------------------------------------ */
/* The response                                                        */
/* ------------------------------------------------------------------ */

static const char empty[] = "{\"items\":[],\"count\":0}";

static int respond_empty(struct http_conn *c)
{
	return http_respond(c, 200, "application/json", empty, sizeof(empty) - 1);
}

/* The rows, written in the output queue in place. */
static int respond_rows(struct http_conn *c, const PGresult *res)
{
	int rows = res && pgitem_columns_ok(res) ? PQntuples(res) : 0;
	char *p;

	if (rows == 0)
		return respond_empty(c);
	p = http_begin(c, 200, "application/json", pgitem_list_bound(res) + 16 + JW_NUM_BOUND);
	if (!p)
		return -1;
	p = pgitem_list(p, res);
	p = JW_LIT(p, ",\"count\":");
	p = jw_i64(p, rows);
	*p++ = '}';
	return http_end(c, p);
}

/* The pool's answer, on the reactor thread: the connection may be gone
 * (a reset meanwhile); the ticket is done either way. */
static void on_rows(void *arg, const PGresult *res)
{
	struct http_ticket *t = arg;
	struct http_conn *c = http_ticket_conn(t);

	if (c)
		respond_rows(c, res); /* a refusal aborts it in ticket_done */
	http_ticket_done(t);
}

int asyncdb_complete(struct http_conn *c, const struct asyncdb_params *p)
{
	struct worker *w = http_worker(c);
	char min[16], max[16], limit[8];
	const char *const params[3] = { min, max, limit };
	struct http_ticket *t;

	if (!w->db)
		return respond_empty(c); /* no DATABASE_URL */
	*jw_i64(min, p->min) = 0;
	*jw_i64(max, p->max) = 0;
	*jw_i64(limit, p->limit) = 0;
	t = http_ticket(c);
	if (!t)
		return respond_empty(c);
	if (db_query(w->db, DB_ASYNC_RANGE, params, on_rows, t)) {
		http_ticket_done(t); /* inside on_complete: answered now */
		return respond_empty(c);
	}
	return HTTP_LATER;
}
