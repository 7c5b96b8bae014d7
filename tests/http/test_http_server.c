/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of examples/http's request/response state machine, on a
 * fake libzerg (fake_zerg.c): pipelined requests under every split of
 * the input into segments (the contiguous-copy fallback included), the
 * body modes, 100-continue, the layer's own answers (errors, CONNECT,
 * OPTIONS *), HEAD, keep-alive, the timers, output back-pressure, a
 * response the output queue refuses, and deferred responses (tickets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_zerg.h"
#include "http_server.h"

/* ------------------------------------------------------------------ */
/* A small application                                                 */
/* ------------------------------------------------------------------ */

enum { T_HELLO = 1, T_TARGET, T_STREAM, T_BUFFER, T_DISCARD, T_FIELDS, T_ALLOW,
       T_NONE, T_ERROR, T_LIMITED, T_NOT_FOUND, T_LATER, T_LATER_NOW, T_LATER_FAIL,
       T_LATER_BODY, T_EXTRA, T_EXTRA_BAD };

struct tconn {
	int route;
	char target[256];     /* "path|query" of T_TARGET            */
	size_t streamed;      /* T_STREAM: bytes seen by on_body     */
	char stream[4096];
	unsigned body_calls;
};

static int worker_tag;
static unsigned closes;

static bool is(const uint8_t *p, size_t n, const char *s)
{
	return n == strlen(s) && !memcmp(p, s, n);
}

static int t_request(struct http_conn *c, const struct http_req *r)
{
	struct tconn *t = http_conn_data(c);
	assert_ptr_equal(http_worker(c), &worker_tag);
	memset(t, 0, sizeof(*t));
	if (is(r->path, r->path_len, "/hello")) {
		t->route = T_HELLO;
	} else if (is(r->path, r->path_len, "/") || is(r->path, r->path_len, "/target")) {
		t->route = T_TARGET;
		snprintf(t->target, sizeof(t->target), "%.*s|%.*s", (int)r->path_len,
			 (const char *)r->path, (int)r->query_len,
			 r->query ? (const char *)r->query : "");
	} else if (is(r->path, r->path_len, "/stream")) {
		t->route = T_STREAM;
		return HTTP_BODY_STREAM;
	} else if (is(r->path, r->path_len, "/buffer")) {
		t->route = T_BUFFER;
		return HTTP_BODY_BUFFER;
	} else if (is(r->path, r->path_len, "/discard")) {
		t->route = T_DISCARD;
		return HTTP_BODY_DISCARD;
	} else if (is(r->path, r->path_len, "/fields")) {
		t->route = T_FIELDS;
		return http_buffer_fields(c, r) ? 500 : HTTP_BODY_DISCARD;
	} else if (is(r->path, r->path_len, "/allow")) {
		t->route = T_ALLOW;
		http_set_allow(c, "GET, HEAD, OPTIONS");
	} else if (is(r->path, r->path_len, "/refuse")) {
		return 413;
	} else if (is(r->path, r->path_len, "/none")) {
		t->route = T_NONE;
	} else if (is(r->path, r->path_len, "/error")) {
		t->route = T_ERROR;
	} else if (is(r->path, r->path_len, "/limited")) {
		t->route = T_LIMITED;
		return HTTP_BODY_STREAM;
	} else if (is(r->path, r->path_len, "/later") ||
		   is(r->path, r->path_len, "/later-now") ||
		   is(r->path, r->path_len, "/later-fail")) {
		t->route = r->path_len == 6 ? T_LATER : r->path[7] == 'n' ? T_LATER_NOW
									  : T_LATER_FAIL;
		snprintf(t->target, sizeof(t->target), "%.*s", (int)r->query_len,
			 r->query ? (const char *)r->query : "");
		return HTTP_BODY_DISCARD;
	} else if (is(r->path, r->path_len, "/extra")) {
		t->route = T_EXTRA;
		return HTTP_BODY_DISCARD;
	} else if (is(r->path, r->path_len, "/extra-bad")) {
		t->route = T_EXTRA_BAD;
		return HTTP_BODY_DISCARD;
	} else if (is(r->path, r->path_len, "/later-body")) {
		t->route = T_LATER_BODY;
		return HTTP_BODY_BUFFER;
	} else {
		t->route = T_NOT_FOUND;
	}
	return t->route == T_HELLO || t->route == T_NOT_FOUND ? HTTP_BODY_DISCARD
							    : HTTP_BODY_STREAM;
}

static unsigned t_body(struct http_conn *c, const uint8_t *p, size_t n)
{
	struct tconn *t = http_conn_data(c);
	t->body_calls++;
	if (t->route == T_LIMITED && t->streamed + n > 10)
		return 413;
	if (t->streamed + n <= sizeof(t->stream))
		memcpy(t->stream + t->streamed, p, n);
	t->streamed += n;
	return 0;
}

/* The tickets the handler took, in order; the test answers them. */
static struct http_ticket *tickets[8];
static unsigned nticket;
static bool ticket_twice; /* a second http_ticket() of a request gave NULL */

static int take_ticket(struct http_conn *c)
{
	struct http_ticket *t = http_ticket(c);
	assert_non_null(t);
	assert_ptr_equal(http_ticket_conn(t), c);
	ticket_twice = http_ticket(c) == NULL;
	assert_true(nticket < 8);
	tickets[nticket++] = t;
	return HTTP_LATER;
}

/* The oldest ticket out. */
static struct http_ticket *pop_ticket(void)
{
	assert_true(nticket > 0);
	struct http_ticket *t = tickets[0];
	memmove(tickets, tickets + 1, --nticket * sizeof(tickets[0]));
	return t;
}

/* Answer the oldest ticket with "later:<query>" (or nothing), as a
 * database callback would. */
static void answer_ticket(bool write)
{
	struct http_ticket *t = pop_ticket();
	struct http_conn *c = http_ticket_conn(t);
	assert_non_null(c);
	if (write) {
		struct tconn *tc = http_conn_data(c);
		char body[300];
		int n = snprintf(body, sizeof(body), "later:%s", tc->target);
		assert_int_equal(http_respond(c, 200, "text/plain", body, (size_t)n), 0);
	}
	http_ticket_done(t);
}

static const char *extra_bad; /* T_EXTRA_BAD's lines */

static int t_complete(struct http_conn *c)
{
	struct tconn *t = http_conn_data(c);
	char num[32];
	const uint8_t *kept;
	size_t n;

	switch (t->route) {
	case T_HELLO:
		return http_respond(c, 200, "text/plain", "hello", 5);
	case T_TARGET: {
		/* Written with a bound larger than the body: the head gets the
		 * exact length. */
		char *p = http_begin(c, 200, "text/plain", sizeof(t->target));
		if (!p)
			return -1;
		n = strlen(t->target);
		memcpy(p, t->target, n);
		return http_end(c, p + n);
	}
	case T_STREAM:
	case T_LIMITED:
		return http_respond(c, 200, "application/octet-stream", t->stream, t->streamed);
	case T_BUFFER:
	case T_FIELDS:
		kept = http_buffer(c, &n);
		return http_respond(c, 200, "application/octet-stream", kept, n);
	case T_DISCARD:
		snprintf(num, sizeof(num), "%llu", (unsigned long long)http_body_length(c));
		return http_respond(c, 200, "text/plain", num, strlen(num));
	case T_ALLOW:
		return http_respond_status(c, 200);
	case T_NONE:
		return 0;
	case T_ERROR:
		return http_error(c, 500);
	case T_LATER:
	case T_LATER_BODY:
		return take_ticket(c);
	case T_LATER_NOW: {
		/* taken and done at once: answered as usual */
		struct http_ticket *tk = http_ticket(c);
		assert_non_null(tk);
		http_respond(c, 200, "text/plain", "now", 3);
		http_ticket_done(tk);
		return HTTP_LATER;
	}
	case T_LATER_FAIL:
		take_ticket(c);
		return -1;
	case T_EXTRA: {
		/* A bound of 3 digits for a 5-byte body: the body moves up
		 * under the extra lines. */
		char *p = http_begin_extra(c, 200, "application/json",
					   "X-Cache: HIT\r\nX-Two: 2\r\n", 100);
		if (!p)
			return -1;
		memcpy(p, "{\"a\"}", 5);
		return http_end(c, p + 5);
	}
	case T_EXTRA_BAD:
		/* Not whole lines: refused, the connection is aborted. */
		return http_begin_extra(c, 200, NULL, extra_bad, 10) ? 0 : -1;
	default:
		return http_respond_status(c, 404);
	}
}

static void *t_reactor_start(struct zg_reactor *r, void *udata)
{
	(void)r;
	assert_ptr_equal(udata, &worker_tag);
	return &worker_tag;
}

/* Tickets still out: their connections are gone, the application ends
 * them here (a database pool failing its queries). */
static void t_reactor_stop(struct zg_reactor *r, void *worker)
{
	(void)r;
	assert_ptr_equal(worker, &worker_tag);
	while (nticket) {
		struct http_ticket *t = pop_ticket();
		assert_null(http_ticket_conn(t));
		http_ticket_done(t);
	}
}

static void t_close(struct http_conn *c)
{
	(void)c;
	closes++;
}

static const struct http_handler handler = {
	.on_request = t_request,
	.on_body = t_body,
	.on_complete = t_complete,
	.on_close = t_close,
	.on_reactor_start = t_reactor_start,
	.on_reactor_stop = t_reactor_stop,
};

/* ------------------------------------------------------------------ */
/* Fixture                                                             */
/* ------------------------------------------------------------------ */

struct fx {
	struct http_config hc;
	struct zg_server_config zc;
	struct zg_reactor r;
	struct zg_conn c;
	size_t read_at; /* output parsed so far */
};

static struct fx *fx_new(size_t body_max, size_t mark)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	http_config_init(&f->hc);
	f->hc.handler = &handler;
	f->hc.udata = &worker_tag;
	f->hc.allow = "GET, HEAD, POST, OPTIONS";
	f->hc.conn_size = sizeof(struct tconn);
	if (body_max)
		f->hc.body_max = body_max;
	if (mark)
		f->hc.output_mark = mark;
	http_server_config(&f->hc, &f->zc);
	assert_int_equal(f->zc.reactor.max_output, 2 * f->hc.output_mark);
	assert_int_equal(f->zc.reactor.idle_timeout_ms, 60000);
	f->zc.on_reactor_start(&f->r, &f->hc);
	assert_non_null(f->r.udata);
	fake_open(&f->c, &f->r, &http_zg_handler);
	f->c.max_output = f->zc.reactor.max_output;
	return f;
}

static void fx_free(struct fx *f)
{
	unsigned before = closes;
	fake_close(&f->c, &http_zg_handler);
	assert_int_equal(closes, before + 1);
	f->zc.on_reactor_stop(&f->r, &f->hc);
	assert_null(f->r.udata);
	free(f);
}

static void send_str(struct fx *f, const char *s, size_t seg)
{
	fake_input(&f->c, s, strlen(s), seg);
	fake_pump(&f->c, &http_zg_handler);
}

/* One parsed response. */
struct resp {
	unsigned status;
	char head[2048];
	char body[8192];
	size_t body_len;
};

/* The value of header `name` in r's head ("" if absent). */
static const char *header(const struct resp *r, const char *name, char *out, size_t cap)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\r\n%s: ", name);
	const char *p = strstr(r->head, pat);
	out[0] = 0;
	if (!p)
		return out;
	p += strlen(pat);
	size_t n = strcspn(p, "\r");
	snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
	return out;
}

static bool has_header(const struct resp *r, const char *name)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\r\n%s: ", name);
	return strstr(r->head, pat) != NULL;
}

/* The next response of the output (head only for a HEAD request). */
static void next_resp(struct fx *f, struct resp *r, bool head_only)
{
	const char *out = f->c.out + f->read_at;
	size_t left = f->c.out_len - f->read_at;
	char cl[32];

	memset(r, 0, sizeof(*r));
	assert_true(left > 0);
	const char *end = memmem(out, left, "\r\n\r\n", 4);
	assert_non_null(end);
	size_t hl = (size_t)(end - out) + 4;
	assert_true(hl < sizeof(r->head));
	memcpy(r->head, out, hl);
	assert_int_equal(sscanf(r->head, "HTTP/1.1 %u ", &r->status), 1);
	f->read_at += hl;
	if (r->status == 100)
		return;
	header(r, "Content-Length", cl, sizeof(cl));
	assert_true(cl[0] != 0);
	assert_true(has_header(r, "Date"));
	r->body_len = head_only ? 0 : strtoull(cl, NULL, 10);
	assert_true(r->body_len <= f->c.out_len - f->read_at);
	assert_true(r->body_len < sizeof(r->body));
	memcpy(r->body, f->c.out + f->read_at, r->body_len);
	f->read_at += r->body_len;
}

static void expect_resp(struct fx *f, unsigned status, const char *body)
{
	struct resp r;
	next_resp(f, &r, false);
	assert_int_equal(r.status, status);
	assert_int_equal(r.body_len, strlen(body));
	assert_memory_equal(r.body, body, r.body_len);
}

static void expect_no_more(struct fx *f)
{
	assert_int_equal(f->read_at, f->c.out_len);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static const char pipelined[] =
	"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
	"GET /target?x=1&y=2 HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789abcdef\r\n\r\n"
	"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"
	"POST /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
	"POST /stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	"3\r\nabc\r\n4;ext=\"q\"\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n"
	"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n";

static void expect_pipelined(struct fx *f)
{
	expect_resp(f, 200, "hello");
	expect_resp(f, 200, "/target|x=1&y=2");
	expect_resp(f, 200, "/|");
	expect_resp(f, 200, "hello world");
	expect_resp(f, 200, "abcdefg");
	expect_resp(f, 404, "Not Found");
	expect_no_more(f);
}

/* Every request of a read is answered in the same on_data, under any
 * split into segments; heads that straddle them are made contiguous. */
static void test_pipelined_splits(void **state)
{
	(void)state;
	static const size_t segs[] = { 0, 1, 2, 3, 5, 7, 13, 31, 64, 100 };
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		struct fx *f = fx_new(0, 0);
		send_str(f, pipelined, segs[i]);
		expect_pipelined(f);
		assert_int_equal(f->c.closed, FAKE_OPEN);
		assert_int_equal(f->c.deadline_ms, 0);
		if (segs[i] == 0)
			assert_int_equal(f->c.contigs, 0); /* parsed in place */
		else if (segs[i] < 20)
			assert_true(f->c.contigs > 0);
		assert_int_equal(f->c.in_len, 0);
		fx_free(f);
	}
}

/* The same requests arriving a byte at a time: the request timeout and
 * the head's deadline while a head is partial; the body's deadline while
 * a body is; the idle timeout once all is answered. */
static void test_bytewise(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0);
	size_t n = strlen(pipelined);
	bool saw_partial = false;
	for (size_t i = 0; i < n; i++) {
		fake_input(&f->c, pipelined + i, 1, 0);
		fake_pump(&f->c, &http_zg_handler);
		if (f->c.in_len) {
			saw_partial = true;
			assert_int_equal(f->c.timeout_ms, 10000);
			assert_int_equal(f->c.deadline_ms, 10000);
		}
	}
	assert_true(saw_partial);
	expect_pipelined(f);
	assert_int_equal(f->c.deadline_ms, 0);
	assert_int_equal(f->c.timeout_ms, 60000); /* nothing left: idle */
	fx_free(f);
}

static void test_body_modes(void **state)
{
	(void)state;
	struct fx *f = fx_new(16, 0);
	send_str(f, "POST /buffer HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcde", 3);
	expect_resp(f, 200, "abcde");
	send_str(f, "POST /buffer HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n", 4);
	expect_resp(f, 200, "abcde");
	send_str(f, "POST /discard HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n"
		    "01234567890123456789", 7);
	expect_resp(f, 200, "20");
	send_str(f, "GET /fields HTTP/1.1\r\nHost: a\r\nX-A:  1 \r\n\r\n", 0);
	expect_resp(f, 200, "Host: a\nX-A: 1\n");
	/* The buffer is freed once a response is written. */
	struct http_conn *h = f->c.udata;
	size_t kept;
	http_buffer(h, &kept);
	assert_int_equal(kept, 0);
	send_str(f, "POST /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 3000\r\n\r\n", 0);
	char body[3000];
	memset(body, 'z', sizeof(body));
	fake_input(&f->c, body, sizeof(body), 100);
	fake_pump(&f->c, &http_zg_handler);
	struct resp r;
	next_resp(f, &r, false);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 3000);
	struct tconn *t = http_conn_data(h);
	assert_true(t->body_calls >= 30); /* streamed as it came */
	expect_no_more(f);
	assert_int_equal(f->c.closed, FAKE_OPEN);
	fx_free(f);

	/* More than body_max: 413 and close, before the body for a
	 * Content-Length (and no 100 Continue). */
	f = fx_new(16, 0);
	send_str(f, "POST /buffer HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n"
		    "Expect: 100-continue\r\n\r\n", 0);
	next_resp(f, &r, false);
	assert_int_equal(r.status, 413);
	char v[64];
	assert_string_equal(header(&r, "Connection", v, sizeof(v)), "close");
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	expect_no_more(f);
	fx_free(f);
	f = fx_new(16, 0);
	send_str(f, "POST /buffer HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "10\r\n0123456789abcdef\r\n1\r\nx\r\n0\r\n\r\n", 5);
	expect_resp(f, 413, "Content Too Large");
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	fx_free(f);
	/* A handler's refusal from on_body. */
	f = fx_new(0, 0);
	send_str(f, "POST /limited HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n"
		    "01234567890123456789", 0);
	expect_resp(f, 413, "Content Too Large");
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	fx_free(f);
	/* A bad chunk: 400 and close, nothing after it answered. */
	f = fx_new(0, 0);
	send_str(f, "POST /stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5;bad[=x\r\nhello\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	expect_resp(f, 400, "Bad Request");
	expect_no_more(f);
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	fx_free(f);
}

static void test_expect_continue(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0);
	struct resp r;
	/* The client waits: 100 first. */
	send_str(f, "POST /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
		    "Expect: 100-continue\r\n\r\n", 0);
	next_resp(f, &r, false);
	assert_int_equal(r.status, 100);
	assert_string_equal(r.head, "HTTP/1.1 100 Continue\r\n\r\n");
	expect_no_more(f);
	send_str(f, "abcd", 0);
	expect_resp(f, 200, "abcd");
	/* The body came with the head: no 100. */
	send_str(f, "POST /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
		    "Expect: 100-continue\r\n\r\nwxyz", 0);
	expect_resp(f, 200, "wxyz");
	expect_no_more(f);
	fx_free(f);
}

/* What the layer answers itself, and the head it writes. */
static void test_layer_answers(void **state)
{
	(void)state;
	struct fx *f;
	struct resp r;
	char v[128];

	/* Garbage: 400, close, promptly (before any CRLF). */
	f = fx_new(0, 0);
	send_str(f, "\x16\x03\x01garbage", 0);
	next_resp(f, &r, false);
	assert_int_equal(r.status, 400);
	assert_string_equal(header(&r, "Connection", v, sizeof(v)), "close");
	assert_string_equal(header(&r, "Server", v, sizeof(v)), "zerg");
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	fx_free(f);
	/* CONNECT: 405 with the server's methods, close. */
	f = fx_new(0, 0);
	send_str(f, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 0);
	next_resp(f, &r, false);
	assert_int_equal(r.status, 405);
	assert_string_equal(header(&r, "Allow", v, sizeof(v)), "GET, HEAD, POST, OPTIONS");
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	fx_free(f);
	/* OPTIONS *: 200, Allow, no content; the connection stays. A 1.0
	 * keep-alive request is told so. */
	f = fx_new(0, 0);
	send_str(f, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"
		    "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0);
	next_resp(f, &r, false);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Allow", v, sizeof(v)), "GET, HEAD, POST, OPTIONS");
	assert_string_equal(header(&r, "Content-Length", v, sizeof(v)), "0");
	assert_false(has_header(&r, "Content-Type"));
	assert_false(has_header(&r, "Connection"));
	next_resp(f, &r, false);
	assert_string_equal(header(&r, "Connection", v, sizeof(v)), "keep-alive");
	assert_int_equal(f->c.closed, FAKE_OPEN);
	/* HEAD: the head of the GET, no body. */
	send_str(f, "HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	next_resp(f, &r, true);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Length", v, sizeof(v)), "5");
	expect_resp(f, 200, "hello");
	/* Allow goes with a 405 and with an answer to OPTIONS, not else. */
	send_str(f, "GET /allow HTTP/1.1\r\nHost: a\r\n\r\nOPTIONS /allow HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	next_resp(f, &r, false);
	assert_false(has_header(&r, "Allow"));
	next_resp(f, &r, false);
	assert_string_equal(header(&r, "Allow", v, sizeof(v)), "GET, HEAD, OPTIONS");
	/* No response from the handler: 500; the connection goes on. */
	send_str(f, "GET /none HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	expect_resp(f, 500, "Internal Server Error");
	assert_int_equal(f->c.closed, FAKE_OPEN);
	/* A refusal from on_request: its status, close. */
	send_str(f, "GET /refuse HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	next_resp(f, &r, false);
	assert_int_equal(r.status, 413);
	assert_string_equal(header(&r, "Connection", v, sizeof(v)), "close");
	expect_no_more(f);
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	fx_free(f);
	/* http_error from on_complete: close after it. */
	f = fx_new(0, 0);
	send_str(f, "GET /error HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	next_resp(f, &r, false);
	assert_int_equal(r.status, 500);
	assert_string_equal(header(&r, "Connection", v, sizeof(v)), "close");
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	fx_free(f);
	/* Connection: close, and HTTP/1.0 without keep-alive. */
	f = fx_new(0, 0);
	send_str(f, "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0);
	next_resp(f, &r, false);
	assert_string_equal(header(&r, "Connection", v, sizeof(v)), "close");
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	fx_free(f);
	f = fx_new(0, 0);
	send_str(f, "GET /hello HTTP/1.0\r\n\r\n", 0);
	next_resp(f, &r, false);
	assert_string_equal(header(&r, "Connection", v, sizeof(v)), "close");
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	fx_free(f);
	/* No Server field when configured so; another name. */
	for (int k = 0; k < 2; k++) {
		f = fx_new(0, 0);
		f->hc.server = k ? "other/1.0" : "";
		send_str(f, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 0);
		next_resp(f, &r, false);
		assert_int_equal(has_header(&r, "Server"), k == 1);
		if (k)
			assert_string_equal(header(&r, "Server", v, sizeof(v)), "other/1.0");
		fx_free(f);
	}
}

/* End of stream: mid-head, mid-body and between requests. */
static void test_eof(void **state)
{
	(void)state;
	static const char *const parts[] = {
		"", "GET /hel", "POST /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc",
	};
	for (int k = 0; k < 3; k++) {
		struct fx *f = fx_new(0, 0);
		fake_input(&f->c, parts[k], strlen(parts[k]), 0);
		f->c.eof = true;
		fake_pump(&f->c, &http_zg_handler);
		assert_int_equal(f->c.closed, FAKE_GRACEFUL);
		expect_no_more(f);
		fx_free(f);
	}
}

/* A client that pipelines faster than it reads: above output_mark the
 * connection is neither answered nor read until its queue drains; every
 * request is answered in the end, in order. */
static void test_backpressure(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 1024);
	char reqs[64 * 40];
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(reqs + n, sizeof(reqs) - n,
				      "GET /target?i=%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
	fake_input(&f->c, reqs, n, 0);
	fake_pump(&f->c, &http_zg_handler);
	assert_true(f->c.paused);
	assert_true(f->c.in_len > 0);
	int got = 0, rounds = 0;
	while (got < 40) {
		struct resp r;
		while (f->read_at < f->c.out_len) {
			char want[64];
			next_resp(f, &r, false);
			snprintf(want, sizeof(want), "/target|i=%d", got++);
			assert_int_equal(r.body_len, strlen(want));
			assert_memory_equal(r.body, want, r.body_len);
		}
		assert_true(zg_conn_pending(&f->c) <= f->c.max_output);
		fake_drain(&f->c, &http_zg_handler);
		fake_pump(&f->c, &http_zg_handler);
		assert_true(++rounds < 40);
	}
	assert_true(rounds > 1);
	assert_int_equal(f->c.in_len, 0);
	assert_int_equal(f->c.closed, FAKE_OPEN);
	fx_free(f);
}

/* The output queue refuses the response: the connection is aborted. */
static void test_output_refused(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0);
	f->c.max_output = 100; /* a head does not fit */
	send_str(f, "GET /target HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	assert_int_equal(f->c.closed, FAKE_ABORT);
	assert_int_equal(f->c.out_len, 0);
	fx_free(f);
}

/* Deferred responses: pipelined requests behind a ticket wait and are
 * answered in order; none is parsed from inside http_ticket_done; the
 * request timeout runs while one is out. */
static void test_ticket_pipelined(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0);
	send_str(f, "GET /later?a HTTP/1.1\r\nHost: a\r\n\r\n"
		    "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
		    "GET /later?b HTTP/1.1\r\nHost: a\r\n\r\n"
		    "GET /target?c HTTP/1.1\r\nHost: a\r\n\r\n", 7);
	assert_int_equal(nticket, 1);
	assert_true(ticket_twice);
	expect_no_more(f); /* nothing answered ahead of the first */
	assert_int_equal(f->c.timeout_ms, 10000);
	assert_int_equal(f->c.closed, FAKE_OPEN);
	/* More input meanwhile waits too. */
	send_str(f, "GET /later?d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	assert_int_equal(nticket, 1);
	expect_no_more(f);
	unsigned calls = f->c.data_calls;
	answer_ticket(true);
	assert_int_equal(f->c.data_calls, calls); /* not parsed in there */
	expect_resp(f, 200, "later:a");
	expect_no_more(f);
	fake_pump(&f->c, &http_zg_handler);
	expect_resp(f, 200, "hello");
	expect_no_more(f);
	assert_int_equal(nticket, 1);
	answer_ticket(true);
	fake_pump(&f->c, &http_zg_handler);
	expect_resp(f, 200, "later:b");
	expect_resp(f, 200, "/target|c");
	expect_no_more(f);
	answer_ticket(true);
	expect_resp(f, 200, "later:d");
	fake_pump(&f->c, &http_zg_handler);
	expect_no_more(f);
	assert_int_equal(nticket, 0);
	assert_int_equal(f->c.in_len, 0);
	assert_int_equal(f->c.timeout_ms, 60000); /* idle again */
	assert_int_equal(f->c.closed, FAKE_OPEN);
	fx_free(f);
}

/* Done with nothing written: 500, and the connection goes on. Done
 * inside on_complete: as an answer at once. A body and the request
 * buffer stay until the ticket is done. */
static void test_ticket_answers(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0);
	send_str(f, "GET /later?x HTTP/1.1\r\nHost: a\r\n\r\n"
		    "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	answer_ticket(false);
	expect_resp(f, 500, "Internal Server Error");
	fake_pump(&f->c, &http_zg_handler);
	expect_resp(f, 200, "hello");
	send_str(f, "GET /later-now HTTP/1.1\r\nHost: a\r\n\r\n"
		    "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	expect_resp(f, 200, "now");
	expect_resp(f, 200, "hello");
	expect_no_more(f);
	assert_int_equal(nticket, 0);
	send_str(f, "POST /later-body HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcde", 2);
	assert_int_equal(nticket, 1);
	struct http_ticket *t = pop_ticket();
	struct http_conn *c = http_ticket_conn(t);
	size_t n;
	const uint8_t *kept = http_buffer(c, &n);
	assert_int_equal(n, 5);
	assert_memory_equal(kept, "abcde", 5);
	assert_true(f->c.busy); /* a graceful stop waits for the answer */
	http_respond(c, 201, "text/plain", kept, n);
	http_ticket_done(t);
	assert_false(f->c.busy);
	expect_resp(f, 201, "abcde");
	http_buffer(c, &n);
	assert_int_equal(n, 0);
	/* Connection: close is honoured after a deferred answer. */
	send_str(f, "GET /later?z HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0);
	answer_ticket(true);
	struct resp r;
	char v[32];
	next_resp(f, &r, false);
	assert_string_equal(r.body, "later:z");
	assert_string_equal(header(&r, "Connection", v, sizeof(v)), "close");
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	fx_free(f);
	/* The end of the stream while a ticket is out: answered, then the
	 * connection closes. */
	f = fx_new(0, 0);
	static const char req_e[] = "GET /later?e HTTP/1.1\r\nHost: a\r\n\r\n";
	fake_input(&f->c, req_e, strlen(req_e), 0);
	f->c.eof = true;
	fake_pump(&f->c, &http_zg_handler);
	assert_int_equal(f->c.closed, FAKE_OPEN);
	answer_ticket(true);
	expect_resp(f, 200, "later:e");
	assert_int_equal(f->c.closed, FAKE_GRACEFUL);
	fx_free(f);
}

/* The connection closes while a ticket is out (a reset, the request
 * timeout): the ticket gives NULL, done frees it; the handler's
 * on_close ran. -1 from on_complete with a ticket out aborts. */
static void test_ticket_closed(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0);
	send_str(f, "GET /later?a HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\n\r\n", 0);
	assert_int_equal(nticket, 1);
	unsigned before = closes;
	fake_close(&f->c, &http_zg_handler); /* what a timeout or reset does */
	assert_int_equal(closes, before + 1);
	struct http_ticket *t = pop_ticket();
	assert_null(http_ticket_conn(t));
	http_ticket_done(t);
	f->zc.on_reactor_stop(&f->r, &f->hc);
	free(f);

	f = fx_new(0, 0);
	send_str(f, "GET /later-fail HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	assert_int_equal(f->c.closed, FAKE_ABORT);
	expect_no_more(f);
	t = pop_ticket();
	assert_null(http_ticket_conn(t));
	http_ticket_done(t);
	fx_free(f);

	/* A response the output queue refuses, written later: abort. */
	f = fx_new(0, 0);
	send_str(f, "GET /later?a HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	f->c.max_output = 100;
	t = pop_ticket();
	assert_int_equal(http_respond(http_ticket_conn(t), 200, "text/plain", "x", 1), -1);
	http_ticket_done(t);
	assert_int_equal(f->c.closed, FAKE_ABORT);
	fx_free(f);
}

/* The reactor stops with tickets out: its connections are closed
 * first, the application's on_reactor_stop ends the tickets (each gives
 * NULL). Nothing leaks (ASan). */
static void test_ticket_reactor_stop(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0);
	send_str(f, "GET /later?a HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	struct zg_conn c2;
	fake_open(&c2, &f->r, &http_zg_handler);
	static const char req2[] =
		"POST /later-body HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
	fake_input(&c2, req2, strlen(req2), 0);
	fake_pump(&c2, &http_zg_handler);
	assert_int_equal(nticket, 2);
	fake_close(&c2, &http_zg_handler);
	fake_close(&f->c, &http_zg_handler);
	f->zc.on_reactor_stop(&f->r, &f->hc); /* ends both */
	assert_int_equal(nticket, 0);
	assert_null(f->r.udata);
	free(f);
}

/* http_begin_extra: the lines end the head, before the blank line; the
 * body and its length are right; HEAD gets the head; lines that are not
 * "Name: value\r\n" are refused. */
static void test_extra_headers(void **state)
{
	struct fx *f = fx_new(0, 0);
	struct resp r;
	char v[64];
	(void)state;

	send_str(f, "GET /extra HTTP/1.1\r\nHost: a\r\n\r\n"
		    "HEAD /extra HTTP/1.1\r\nHost: a\r\n\r\n"
		    "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	next_resp(f, &r, false);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 5);
	assert_memory_equal(r.body, "{\"a\"}", 5);
	assert_string_equal(header(&r, "X-Cache", v, sizeof(v)), "HIT");
	assert_string_equal(header(&r, "X-Two", v, sizeof(v)), "2");
	assert_string_equal(header(&r, "Content-Type", v, sizeof(v)), "application/json");
	assert_non_null(strstr(r.head, "\r\nX-Cache: HIT\r\nX-Two: 2\r\n\r\n"));
	assert_null(strstr(strstr(r.head, "X-Two") + 1, "X-Cache")); /* once */
	next_resp(f, &r, true);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Length", v, sizeof(v)), "5");
	assert_string_equal(header(&r, "X-Cache", v, sizeof(v)), "HIT");
	next_resp(f, &r, false); /* a plain response after: no extra */
	assert_int_equal(r.status, 200);
	assert_false(has_header(&r, "X-Cache"));
	expect_no_more(f);
	fx_free(f);

	static const char *const bad[] = { "X-Cache: HIT", "X-Cache HIT\r\n", ": v\r\n",
					   "A: b\nC: d\r\n", "A: b\r\r\n", "A b: c\r\n",
					   /* past HTTP_EXTRA_MAX */
					   "X-Long: 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\r\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		extra_bad = bad[i];
		f = fx_new(0, 0);
		send_str(f, "GET /extra-bad HTTP/1.1\r\nHost: a\r\n\r\n", 0);
		assert_int_equal(f->c.closed, FAKE_ABORT);
		fx_free(f);
	}
}

static void test_query_next(void **state)
{
	(void)state;
	static const char q[] = "a=1&&noeq&b=&=3&c=x=y";
	const uint8_t *p = (const uint8_t *)q, *end = p + strlen(q);
	struct http_qpair kv;
	static const char *const want[][2] = { { "a", "1" }, { "b", "" }, { "", "3" }, { "c", "x=y" } };
	for (int i = 0; i < 4; i++) {
		assert_true(http_query_next(&p, end, &kv));
		assert_true(is(kv.k, kv.klen, want[i][0]));
		assert_true(is(kv.v, kv.vlen, want[i][1]));
	}
	assert_false(http_query_next(&p, end, &kv));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_splits),
		cmocka_unit_test(test_bytewise),
		cmocka_unit_test(test_body_modes),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_layer_answers),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_output_refused),
		cmocka_unit_test(test_ticket_pipelined),
		cmocka_unit_test(test_ticket_answers),
		cmocka_unit_test(test_ticket_closed),
		cmocka_unit_test(test_ticket_reactor_stop),
		cmocka_unit_test(test_extra_headers),
		cmocka_unit_test(test_query_next),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
