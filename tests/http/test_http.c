/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of zerg_http's engine (examples/http/http.c): request-head
 * parser, chunked decoder, response heads. Inputs are
 * placed right before a PROT_NONE page, so any read past the end of
 * what the parser was given faults instead of passing silently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http.h"

/* ------------------------------------------------------------------ */
/* Guard pages                                                         */
/* ------------------------------------------------------------------ */

struct guard {
	uint8_t *map;
	size_t map_len;
	uint8_t *p; /* n bytes ending exactly at the PROT_NONE page */
};

static struct guard guard_copy(const void *src, size_t n)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	size_t data_pages = (n + ps - 1) / ps + (n == 0);
	struct guard g;
	g.map_len = (data_pages + 1) * ps;
	g.map = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g.map != MAP_FAILED);
	assert_int_equal(mprotect(g.map + data_pages * ps, ps, PROT_NONE), 0);
	g.p = g.map + data_pages * ps - n;
	memcpy(g.p, src, n);
	return g;
}

static void guard_free(struct guard *g)
{
	munmap(g->map, g->map_len);
}

/* Parse the whole of s at once, against a guard page. */
static int parse_all(struct http_request *r, const char *s, size_t n)
{
	struct guard g = guard_copy(s, n);
	http_request_init(r);
	int rc = http_parse(r, g.p, n);
	guard_free(&g);
	return rc;
}

static int parse_str(struct http_request *r, const char *s)
{
	return parse_all(r, s, strlen(s));
}

/* Feed s growing one byte at a time, each prefix copied to a fresh
 * guarded buffer (so the parser can keep offsets only, never pointers).
 * Returns the final result; *at is the prefix length where the parser
 * first answered (nonzero). */
static int parse_bytewise(struct http_request *r, const char *s, size_t n, size_t *at)
{
	int rc = 0;
	http_request_init(r);
	for (size_t k = 1; k <= n; k++) {
		struct guard g = guard_copy(s, k);
		rc = http_parse(r, g.p, k);
		guard_free(&g);
		if (rc != 0) {
			*at = k;
			return rc;
		}
	}
	*at = n;
	return rc;
}

static bool field_is(const struct http_request *r, const char *buf, unsigned i,
		     const char *name, const char *value)
{
	const struct http_field *f = &r->fields[i];
	return f->name_len == strlen(name) && !memcmp(buf + f->name, name, f->name_len) &&
	       f->value_len == strlen(value) && !memcmp(buf + f->value, value, f->value_len);
}

/* ------------------------------------------------------------------ */
/* Parser: accepted input                                              */
/* ------------------------------------------------------------------ */

static const char get_req[] = "GET /baseline11?a=13&b=42 HTTP/1.1\r\n"
			      "Host: localhost:8080\r\n"
			      "Accept-Encoding:  gzip, br \t\r\n"
			      "X-Empty:\r\n"
			      "X-Blank: \t \r\n"
			      "\r\n";

static void test_parse_get(void **state)
{
	struct http_request r;
	(void)state;
	int n = parse_str(&r, get_req);
	assert_int_equal(n, (int)strlen(get_req));
	assert_int_equal(r.method, HTTP_M_GET);
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.target_len, strlen("/baseline11?a=13&b=42"));
	assert_memory_equal(get_req + r.target, "/baseline11?a=13&b=42", r.target_len);
	assert_int_equal(r.nfields, 4);
	assert_true(field_is(&r, get_req, 0, "Host", "localhost:8080"));
	assert_true(field_is(&r, get_req, 1, "Accept-Encoding", "gzip, br"));
	assert_true(field_is(&r, get_req, 2, "X-Empty", ""));
	assert_true(field_is(&r, get_req, 3, "X-Blank", ""));
	assert_false(r.flags & HTTP_F_CLOSE);
	assert_false(r.flags & (HTTP_F_CHUNKED | HTTP_F_CONTENT_LENGTH));
	assert_non_null(http_find(&r, (const uint8_t *)get_req, "accept-encoding"));
	assert_null(http_find(&r, (const uint8_t *)get_req, "content-length"));
}

static const char *const valid_reqs[] = {
	"GET /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
	"POST /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\n"
	"Transfer-Encoding: chunked\r\n\r\n",
	"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n"
	"Expect: 100-continue\r\n\r\n",
	"\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"GETT /baseline11 HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET http://example.com/json?x=1 HTTP/1.1\r\nHost: example.com\r\n"
	"X-Obs: caf\xc3\xa9\r\n\r\n",
};

/* Every split of every valid request parses to the same result. */
static void test_parse_every_split(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof(valid_reqs) / sizeof(valid_reqs[0]); t++) {
		const char *s = valid_reqs[t];
		size_t n = strlen(s), at;
		struct http_request whole, bytewise;
		int rc = parse_all(&whole, s, n);
		assert_int_equal(rc, (int)n);
		rc = parse_bytewise(&bytewise, s, n, &at);
		assert_int_equal(rc, (int)n);
		assert_int_equal(at, n);
		assert_int_equal(bytewise.method, whole.method);
		assert_int_equal(bytewise.target, whole.target);
		assert_int_equal(bytewise.target_len, whole.target_len);
		assert_int_equal(bytewise.flags, whole.flags);
		assert_int_equal(bytewise.content_length, whole.content_length);
		assert_int_equal(bytewise.nfields, whole.nfields);
		assert_memory_equal(bytewise.fields, whole.fields,
				    whole.nfields * sizeof(whole.fields[0]));
		/* And in two parts at each split point. */
		for (size_t k = 1; k < n; k++) {
			struct http_request r;
			struct guard g = guard_copy(s, k);
			http_request_init(&r);
			assert_int_equal(http_parse(&r, g.p, k), 0);
			guard_free(&g);
			g = guard_copy(s, n);
			assert_int_equal(http_parse(&r, g.p, n), (int)n);
			guard_free(&g);
			assert_int_equal(r.flags, whole.flags);
		}
	}
}

/* Bytes after the head (a body, the next pipelined request) are not
 * part of it. */
static void test_parse_pipelined(void **state)
{
	(void)state;
	char buf[1024];
	const char *one = valid_reqs[0];
	size_t n = strlen(one);
	for (int i = 0; i < 16; i++)
		memcpy(buf + i * n, one, n);
	size_t off = 0;
	for (int i = 0; i < 16; i++) {
		struct http_request r;
		struct guard g = guard_copy(buf + off, 16 * n - off);
		http_request_init(&r);
		assert_int_equal(http_parse(&r, g.p, 16 * n - off), (int)n);
		guard_free(&g);
		off += n;
	}
}

static void test_parse_flags(void **state)
{
	struct http_request r;
	(void)state;
	assert_true(parse_str(&r, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") > 0);
	assert_true(r.flags & HTTP_F_CLOSE);
	assert_true(parse_str(&r, "GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n") > 0);
	assert_true(r.flags & HTTP_F_CLOSE);
	assert_true(parse_str(&r, "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n") > 0);
	assert_false(r.flags & HTTP_F_CLOSE);
	/* HTTP/1.0: close unless keep-alive; no Host needed. */
	assert_true(parse_str(&r, "GET / HTTP/1.0\r\n\r\n") > 0);
	assert_true(r.flags & HTTP_F_CLOSE);
	assert_int_equal(r.minor, 0);
	assert_true(parse_str(&r, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") > 0);
	assert_false(r.flags & HTTP_F_CLOSE);
	assert_true(r.flags & HTTP_F_KEEP_ALIVE);
	/* Expect: only 100-continue, only HTTP/1.1. */
	assert_true(parse_str(&r, "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n") > 0);
	assert_true(r.flags & HTTP_F_EXPECT);
	assert_int_equal(r.content_length, 1);
	assert_true(parse_str(&r, "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n") > 0);
	assert_false(r.flags & HTTP_F_EXPECT);
	assert_true(parse_str(&r, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n\r\n") > 0);
	assert_true(r.flags & HTTP_F_CHUNKED);
	/* An identical repeated Content-Length is tolerated. */
	assert_true(parse_str(&r, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nContent-Length: 12\r\n\r\n") > 0);
	assert_int_equal(r.content_length, 12);
	assert_true(parse_str(&r, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n") > 0);
	assert_int_equal(r.content_length, 7);
	assert_true(parse_str(&r, "GET / HTTP/1.9\r\nHost: a\r\n\r\n") > 0);
	assert_int_equal(r.minor, 9);
	assert_true(parse_str(&r, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
	assert_int_equal(r.method, HTTP_M_OPTIONS);
	assert_true(parse_str(&r, "GETT / HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
	assert_int_equal(r.method, HTTP_M_OTHER);
	assert_true(parse_str(&r, "HEAD / HTTP/1.1\r\nhOsT: a\r\n\r\n") > 0);
	assert_int_equal(r.method, HTTP_M_HEAD);
}

/* ------------------------------------------------------------------ */
/* Parser: rejections                                                  */
/* ------------------------------------------------------------------ */

struct bad {
	const char *in;
	size_t n;
	unsigned status;
	int at; /* prefix length where it must fail, -1: don't check */
};

/* sizeof, not strlen: some inputs hold a NUL. */
#define B(s, status, at) { s, sizeof(s) - 1, status, at }

static const struct bad bads[] = {
	B("\x40\xa5\x16/\x86\xf2\x1c", 400, 1),           /* noise-binary.raw */
	B("\x16\x03\x01\x02\x00\x01\x00", 400, 1),         /* a TLS hello */
	B("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, 2),
	B(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, 1),
	B("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, 5),     /* empty target */
	B("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, 8),
	B("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, 7),
	B("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, 9),
	B("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400, 7),   /* fragment */
	B("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, 6),      /* asterisk, not OPTIONS */
	B("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400, 12),
	B("GET / http/1.1\r\nHost: a\r\n\r\n", 400, 7),
	B("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400, 15),
	B("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, 15),       /* bare LF */
	B("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, 21),   /* space before colon */
	B("GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", 400, 26), /* obs-fold */
	B("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400, 25),  /* bare CR */
	B("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400, 24),
	B("GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n", 400, 24),
	B("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", 400, 24),
	B("GET / HTTP/1.1\r\n: a\r\n\r\n", 400, 17),         /* empty name */
	B("GET / HTTP/1.1\r\nHost: a\r\n\r\r", 400, 27),
	B("GET / HTTP/1.1\r\n\r\n", 400, 18),                /* no Host */
	B("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, 34),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400, 46),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400, 46),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, 46),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400, 43),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400, -1),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, -1),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, -1),
	B("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 400, -1),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n", 400, -1),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400, -1),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400, -1),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400, -1),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, -1),
	B("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400, -1),
	B("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, -1),
	B("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ / HTTP/1.1\r\n", 400, 33), /* method > 32 */
};

static void test_parse_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		size_t n = b->n;
		struct http_request r;
		size_t at;
		int rc = parse_bytewise(&r, b->in, n, &at);
		if (rc != -1 || r.status != b->status || (b->at >= 0 && at != (size_t)b->at))
			print_error("case %zu: rc %d status %u at %zu (want %u at %d)\n", i, rc,
				    r.status, at, b->status, b->at);
		assert_int_equal(rc, -1);
		assert_int_equal(r.status, b->status);
		if (b->at >= 0)
			assert_int_equal(at, (size_t)b->at);
		/* An error is sticky. */
		assert_int_equal(http_parse(&r, (const uint8_t *)b->in, n), -1);
	}
}

/* Binary noise is rejected on its first byte: no waiting for CRLFCRLF. */
static void test_parse_noise_prompt(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		struct http_request r;
		uint8_t b = (uint8_t)c;
		bool token = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			     (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
		int rc = parse_all(&r, (const char *)&b, 1);
		if (token || c == '\r')
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, -1);
	}
}

/* Request-target forms (RFC 9112 3.2) and the path routing sees. */
static void test_parse_target(void **state)
{
	(void)state;
	static const struct {
		const char *line; /* request line without " HTTP/1.1" */
		uint8_t form;
		const char *path;
	} good[] = {
		{ "GET /a?b=1&c", HTTP_FORM_ORIGIN, "/a?b=1&c" },
		{ "GET /%20x/;p=1/*@:!$&'()+,=~-._", HTTP_FORM_ORIGIN, "/%20x/;p=1/*@:!$&'()+,=~-._" },
		{ "GET //x", HTTP_FORM_ORIGIN, "//x" },
		{ "GET http://h:80/x?y", HTTP_FORM_ABSOLUTE, "/x?y" },
		{ "POST http://[::1]:8080/upload", HTTP_FORM_ABSOLUTE, "/upload" },
		{ "DELETE HTTPS://example.com", HTTP_FORM_ABSOLUTE, "" },
		{ "GET http://h?x=1", HTTP_FORM_ABSOLUTE, "?x=1" },
		{ "GETT http://h/json", HTTP_FORM_ABSOLUTE, "/json" },
		{ "CONNECT example.com:443", HTTP_FORM_AUTHORITY, "" },
		{ "CONNECT [::1]:443", HTTP_FORM_AUTHORITY, "" },
		{ "OPTIONS *", HTTP_FORM_ASTERISK, "" },
		{ "OPTIONS /", HTTP_FORM_ORIGIN, "/" },
	};
	static const char *const bad[] = {
		"GET *", "HEAD *", "POST *", "GETT *", "OPTIONS **", "OPTIONS *x",
		"CONNECT /", "CONNECT h", "CONNECT h:", "CONNECT user@h:443", "CONNECT h:443/x",
		"CONNECT *", "CONNECT http://h:443/",
		"GET h:80", "GET x", "GET ftp://h/x", "GET http:/x", "GET http://", "GET http:///x",
		"GET http://u@h/x", "GET http://h,i/x", "GET http://h:8x/", "GET http://[::1/x",
		"GET /a#b", "GET /a#", "GET http://h/#f", "GET /a%zz", "GET /a%2", "GET /a%",
		"GET /[x]", "GET /a?[", "GET /a|b", "GET /<x>", "GET /a\"b", "GET /\\", "GET /{}",
		"GET /^", "GET /`",
	};
	char buf[256];
	struct http_request r;
	size_t at;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "%s HTTP/1.1\r\nHost: h\r\n\r\n", good[i].line);
		int rc = parse_bytewise(&r, buf, (size_t)n, &at);
		if (rc != n)
			print_error("good target %zu: %s\n", i, good[i].line);
		assert_int_equal(rc, n);
		assert_int_equal(r.form, good[i].form);
		assert_int_equal(r.path_len, strlen(good[i].path));
		assert_memory_equal(buf + r.path, good[i].path, r.path_len);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "%s HTTP/1.1\r\nHost: h\r\n\r\n", bad[i]);
		int rc = parse_bytewise(&r, buf, (size_t)n, &at);
		/* Rejected by the end of the target, not after the head. */
		if (rc != -1 || r.status != 400 || at > strlen(bad[i]) + 1)
			print_error("bad target %zu: %s: rc %d at %zu\n", i, bad[i], rc, at);
		assert_int_equal(rc, -1);
		assert_int_equal(r.status, 400);
		assert_true(at <= strlen(bad[i]) + 1);
	}
}

/* Host (RFC 9110 7.2): uri-host [":" port], nothing else. A bad one is
 * rejected at the end of its line. */
static void test_parse_host(void **state)
{
	(void)state;
	static const char *const good[] = {
		"localhost:8080", "a", "127.0.0.1", "[::1]", "[::1]:8080", "a:",
		"xn--caf-dma.example", "a%20b", "A-b_c~d.e!$&'()*+;=",
	};
	static const char *const bad[] = {
		"", "a/b", "user@a", "a, b", "a,b", ":80", "[::1", "[]", "[::1]x",
		"a:8x", "a:80:80", "%zz", "a%2", "a b", "a?b", "a#b", "[::1]]",
		"a\\b", "a\"b",
	};
	char buf[256];
	struct http_request r;
	size_t at;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", good[i]);
		if (parse_bytewise(&r, buf, (size_t)n, &at) != n)
			print_error("good host %zu: %s\n", i, good[i]);
		assert_int_equal(parse_bytewise(&r, buf, (size_t)n, &at), n);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\nX: y\r\n\r\n",
				 bad[i]);
		size_t line_end = strlen("GET / HTTP/1.1\r\nHost: \r\n") + strlen(bad[i]);
		int rc = parse_bytewise(&r, buf, (size_t)n, &at);
		if (rc != -1 || r.status != 400 || at > line_end)
			print_error("bad host %zu: %s: rc %d at %zu\n", i, bad[i], rc, at);
		assert_int_equal(rc, -1);
		assert_int_equal(r.status, 400);
		assert_true(at <= line_end);
	}
	/* HTTP/1.1 needs a Host; HTTP/1.0 does not, but a bad one is bad. */
	assert_int_equal(parse_str(&r, "GET / HTTP/1.1\r\nX: y\r\n\r\n"), -1);
	assert_true(parse_str(&r, "GET / HTTP/1.0\r\n\r\n") > 0);
	assert_int_equal(parse_str(&r, "GET / HTTP/1.0\r\nHost: a/b\r\n\r\n"), -1);
}

static char *repeat(char *p, char c, size_t n)
{
	memset(p, c, n);
	return p + n;
}

static void test_parse_limits(void **state)
{
	(void)state;
	size_t cap = 64 * 1024;
	char *buf = malloc(cap), *p;
	struct http_request r;

	if (!buf)
		abort(); /* cmocka's fail is not noreturn for gcc */

	/* Request line of exactly HTTP_MAX_LINE bytes: fine. */
	p = buf;
	p += sprintf(p, "GET /");
	p = repeat(p, 'a', HTTP_MAX_LINE - strlen("GET / HTTP/1.1") );
	p += sprintf(p, " HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(parse_all(&r, buf, (size_t)(p - buf)), (int)(p - buf));
	/* One more: 414, and before the line ends. */
	p = buf;
	p += sprintf(p, "GET /");
	p = repeat(p, 'a', HTTP_MAX_LINE);
	assert_int_equal(parse_all(&r, buf, (size_t)(p - buf)), -1);
	assert_int_equal(r.status, 414);

	/* 64 header lines: fine; 65: 431. */
	for (int k = 64; k <= 65; k++) {
		p = buf + sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
		for (int i = 1; i < k; i++)
			p += sprintf(p, "X-%d: v\r\n", i);
		p += sprintf(p, "\r\n");
		int rc = parse_all(&r, buf, (size_t)(p - buf));
		if (k == 64) {
			assert_int_equal(rc, (int)(p - buf));
			assert_int_equal(r.nfields, 64);
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(r.status, 431);
		}
	}
	/* Header section of HTTP_MAX_FIELD_BYTES: fine; beyond: 431. */
	for (int extra = 0; extra <= 1; extra++) {
		p = buf + sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
		char *fields = buf + strlen("GET / HTTP/1.1\r\n");
		p += sprintf(p, "X-Big: ");
		size_t used = (size_t)(p - fields) + 2;
		p = repeat(p, 'v', HTTP_MAX_FIELD_BYTES - used + (size_t)extra);
		p += sprintf(p, "\r\n\r\n");
		int rc = parse_all(&r, buf, (size_t)(p - buf));
		if (!extra) {
			assert_int_equal(rc, (int)(p - buf));
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(r.status, 431);
		}
	}
	/* A huge header name is caught before its colon. */
	p = buf + sprintf(buf, "GET / HTTP/1.1\r\n");
	p = repeat(p, 'X', HTTP_MAX_FIELD_BYTES + 1);
	assert_int_equal(parse_all(&r, buf, (size_t)(p - buf)), -1);
	assert_int_equal(r.status, 431);
	/* Endless empty lines before a request line. */
	p = buf;
	for (int i = 0; i < 100; i++)
		p += sprintf(p, "\r\n");
	assert_int_equal(parse_all(&r, buf, (size_t)(p - buf)), -1);
	assert_int_equal(r.status, 400);
	free(buf);
	buf = NULL;
}

static void test_accepts(void **state)
{
	(void)state;
	static const struct { const char *v; bool gzip; } cases[] = {
		{ "gzip", true }, { "GZip", true }, { "deflate, gzip", true },
		{ "gzip;q=0.5", true }, { "br;q=1.0, gzip ; q=0.1", true },
		{ "gzip;q=0", false }, { "gzip; q=0.000", false }, { "deflate, br", false },
		{ "", false }, { "x-gzip", false }, { "gzipx", false }, { "*", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(http_accepts((const uint8_t *)cases[i].v, strlen(cases[i].v),
					      "gzip"), cases[i].gzip);
}

/* ------------------------------------------------------------------ */
/* Chunked decoder                                                     */
/* ------------------------------------------------------------------ */

/* Decode s fed in pieces of `step` bytes (0: all at once), each piece
 * against a guard page. Returns HTTP_CHUNK_DONE/ERROR/MORE; the payload
 * goes to out, *end is where the body ended. */
static int decode(const char *s, size_t n, size_t step, char *out, size_t *out_len,
		  size_t *end)
{
	struct http_chunked d;
	size_t off = 0;
	int rc = HTTP_CHUNK_MORE;
	http_chunked_init(&d);
	*out_len = 0;
	while (off < n) {
		size_t k = step && n - off > step ? step : n - off;
		struct guard g = guard_copy(s + off, k);
		size_t pos = 0;
		while (pos < k) {
			size_t used, doff, dlen;
			rc = http_chunked_step(&d, g.p + pos, k - pos, &used, &doff, &dlen);
			if (rc == HTTP_CHUNK_DATA) {
				assert_true(dlen > 0);
				memcpy(out + *out_len, g.p + pos + doff, dlen);
				*out_len += dlen;
			}
			pos += used;
			if (rc == HTTP_CHUNK_ERROR || rc == HTTP_CHUNK_DONE)
				break;
		}
		guard_free(&g);
		off += pos;
		if (rc == HTTP_CHUNK_ERROR || rc == HTTP_CHUNK_DONE)
			break;
	}
	*end = off;
	return rc == HTTP_CHUNK_DATA ? HTTP_CHUNK_MORE : rc;
}

static const struct {
	const char *in;
	const char *payload;
} chunk_ok[] = {
	{ "2\r\n20\r\n0\r\n\r\n", "20" },
	{ "1\r\n2\r\n1\r\n0\r\n0\r\n\r\n", "20" },
	{ "A\r\n0123456789\r\n0\r\n\r\n", "0123456789" },
	{ "a;name=value;x=\"q s\"\r\n0123456789\r\n0;end\r\n\r\n", "0123456789" },
	{ "2 ;ext\r\nab\r\n000\r\n\r\n", "ab" },
	{ "0002\r\nab\r\n0\r\nX-Trailer: v\r\nY: \r\n\r\n", "ab" },
	{ "0\r\n\r\n", "" },
	/* Extensions: BWS around ';' and '=', tokens, quoted strings with
	 * quoted-pairs, names without values. */
	{ "2 ; a = \"x\\\"y;\" ;b;c=d\t;e\r\nab\r\n0;z=\"\"\r\n\r\n", "ab" },
	{ "2;a=!#$%&'*+-.^_`|~09AZaz\r\nab\r\n0\r\n\r\n", "ab" },
	{ "2;q=\"\t \x21\x23\x5b\x5d\x7e\x80\xff\\\x80\\\t\"\r\nab\r\n0\r\n\r\n", "ab" },
};

static void test_chunked_ok(void **state)
{
	(void)state;
	char out[256];
	size_t len, end;
	for (size_t i = 0; i < sizeof(chunk_ok) / sizeof(chunk_ok[0]); i++) {
		const char *s = chunk_ok[i].in;
		size_t n = strlen(s);
		/* Whole, byte by byte, and two pieces at every split. */
		for (size_t step = 0; step <= n; step++) {
			int rc = decode(s, n, step, out, &len, &end);
			assert_int_equal(rc, HTTP_CHUNK_DONE);
			assert_int_equal(end, n);
			assert_int_equal(len, strlen(chunk_ok[i].payload));
			assert_memory_equal(out, chunk_ok[i].payload, len);
		}
	}
}

/* What follows the body (the next request) is left alone. */
static void test_chunked_stops_at_end(void **state)
{
	(void)state;
	char out[64];
	size_t len, end;
	const char *s = "2\r\n20\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	assert_int_equal(decode(s, strlen(s), 0, out, &len, &end), HTTP_CHUNK_DONE);
	assert_int_equal(end, strlen("2\r\n20\r\n0\r\n\r\n"));
	/* Incomplete: MORE, every byte used. */
	s = "2\r\n20\r\n";
	assert_int_equal(decode(s, strlen(s), 1, out, &len, &end), HTTP_CHUNK_MORE);
	assert_int_equal(end, strlen(s));
}

static void test_chunked_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"g\r\n", "\r\n", "-1\r\n", "0x2\r\nab\r\n", "2\nab\r\n0\r\n\r\n",
		"2\r\nabc\r\n", "2\r\nab\n0\r\n\r\n", "2\r\nab\rx", "2 \r\nab\r\n",
		"2;\x01\r\n", "10000000000000000\r\n", "0\r\nBad Trailer\r\n\r\n",
		"0\r\nX: \x01\r\n\r\n", "0\r\n\r\r", "2\r\nab\r\n0\r\n\n",
		/* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ) */
		"5;\r\n", "5;bad[=x\r\n", "5; \r\n", "5;;a\r\n", "5;=b\r\n",
		"5;a=\r\n", "5;a==b\r\n", "5;a \r\n", "5;a=b \r\n", "5;a=b c\r\n",
		"5;a=b,c\r\n", "5;a=\"x\r\n", "5;a=\"x\"y\r\n", "5;a=\"\x01\"\r\n",
		"5;a=\"\x7f\"\r\n", "5;a=\"\\\x7f\"\r\n", "5;a(b)\r\n", "5;a=@\r\n",
		"5;a=\"x\";\r\n",
	};
	char out[64];
	size_t len, end;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t step = 0; step <= 2; step++) {
			int rc = decode(bad[i], strlen(bad[i]), step, out, &len, &end);
			if (rc != HTTP_CHUNK_ERROR)
				print_error("case %zu step %zu: rc %d\n", i, step, rc);
			assert_int_equal(rc, HTTP_CHUNK_ERROR);
		}
	}
	/* Largest size that fits is fine; one hex digit more overflows. */
	const char *big = "fffffffffffffff\r\n";
	assert_int_equal(decode(big, strlen(big), 0, out, &len, &end), HTTP_CHUNK_MORE);
}

static void test_chunked_limits(void **state)
{
	(void)state;
	size_t n = HTTP_CHUNK_MAX_LINE + 64;
	char *s = malloc(n + HTTP_CHUNK_MAX_TRAILERS + 64), *out = malloc(16);
	size_t len, end;
	/* Endless extension. */
	memset(s, 'e', n);
	memcpy(s, "2;", 2);
	assert_int_equal(decode(s, n, 0, out, &len, &end), HTTP_CHUNK_ERROR);
	/* Endless trailers. */
	char *p = s + sprintf(s, "0\r\n");
	while ((size_t)(p - s) < HTTP_CHUNK_MAX_TRAILERS + 32)
		p += sprintf(p, "X-T: vvvvvvvvvvvvvvvv\r\n");
	assert_int_equal(decode(s, (size_t)(p - s), 7, out, &len, &end), HTTP_CHUNK_ERROR);
	free(s);
	free(out);
}

/* ------------------------------------------------------------------ */
/* Response heads                                                      */
/* ------------------------------------------------------------------ */

static void test_date(void **state)
{
	(void)state;
	char d[HTTP_DATE_LEN];
	http_format_date(d, 784111777);
	assert_memory_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT", HTTP_DATE_LEN);
	http_format_date(d, 0);
	assert_memory_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT", HTTP_DATE_LEN);
	http_format_date(d, 4102444799);
	assert_memory_equal(d, "Thu, 31 Dec 2099 23:59:59 GMT", HTTP_DATE_LEN);
}

static void test_head(void **state)
{
	(void)state;
	char buf[HTTP_HEAD_MAX + 1];
	static const char date[] = "Sun, 06 Nov 1994 08:49:37 GMT";
	struct http_head h = { .status = 200, .type = "text/plain", .date = date };
	size_t n = http_head_write(buf, &h, 2);
	buf[n] = 0;
	assert_string_equal(buf, "HTTP/1.1 200 OK\r\nServer: zerg\r\n"
				 "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
				 "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n");
	assert_int_equal(n, http_head_fixed(&h) + http_digits(2));

	/* The biggest head we make stays far under 1024 bytes / 16 lines. */
	struct http_head big = { .status = 431, .type = "application/json",
				 .encoding = "gzip", .allow = "GET, HEAD, POST",
				 .date = date, .close = true };
	n = http_head_write(buf, &big, UINT64_MAX);
	buf[n] = 0;
	assert_int_equal(n, http_head_fixed(&big) + 20);
	assert_true(n < 1024);
	int lines = 0;
	for (char *p = buf; (p = strstr(p, "\r\n")); p += 2)
		lines++;
	assert_true(lines < 16);
	assert_non_null(strstr(buf, "\r\nConnection: close\r\n\r\n"));
	struct http_head ka = { .status = 404, .date = date, .keep_alive = true };
	n = http_head_write(buf, &ka, 9);
	buf[n] = 0;
	assert_non_null(strstr(buf, "HTTP/1.1 404 Not Found\r\n"));
	assert_non_null(strstr(buf, "\r\nConnection: keep-alive\r\n\r\n"));
	assert_null(strstr(buf, "Content-Type"));
	/* The Server field: another name, or none. */
	struct http_head named = { .status = 200, .date = date, .server = "other/1.0" };
	n = http_head_write(buf, &named, 0);
	buf[n] = 0;
	assert_int_equal(n, http_head_fixed(&named) + 1);
	assert_non_null(strstr(buf, "\r\nServer: other/1.0\r\nDate: "));
	struct http_head anon = { .status = 200, .date = date, .server = "" };
	n = http_head_write(buf, &anon, 0);
	buf[n] = 0;
	assert_int_equal(n, http_head_fixed(&anon) + 1);
	assert_null(strstr(buf, "Server"));
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\nDate: "));
	assert_int_equal(http_digits(0), 1);
	assert_int_equal(http_digits(9), 1);
	assert_int_equal(http_digits(10), 2);
	assert_int_equal(http_digits(9999), 4);
	assert_int_equal(http_digits(10000), 5);
	assert_int_equal(http_digits(UINT64_MAX), 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_get),
		cmocka_unit_test(test_parse_every_split),
		cmocka_unit_test(test_parse_pipelined),
		cmocka_unit_test(test_parse_flags),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_noise_prompt),
		cmocka_unit_test(test_parse_target),
		cmocka_unit_test(test_parse_host),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_chunked_ok),
		cmocka_unit_test(test_chunked_stops_at_end),
		cmocka_unit_test(test_chunked_rejects),
		cmocka_unit_test(test_chunked_limits),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_head),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
