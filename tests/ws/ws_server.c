/* SPDX-License-Identifier: MIT */
/*
 * The smallest HTTP/1.1 server that upgrades GET /ws with zerg_ws, for
 * tests/ws/ws_client.py: the wiring examples/ws/README.md describes,
 * with a request-head parser just good enough for a test (a request
 * line, header lines, no bodies). Everything else gets a 404.
 *
 * Usage: ws-test-server [--port N] [--threads N] [--callback]
 *                       [--limit BYTES] [--bufs N]
 * --callback: echo through ws_echo_message instead of the built-in echo.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zerg.h>

#include "run.h"
#include "ws.h"

#define HEAD_MAX 8192

struct conn {
	bool ws; /* upgraded: every byte is WebSocket's */
	struct ws_state st;
};

static bool use_callback;
static uint64_t limit;

static void on_open(struct zg_conn *c)
{
	struct conn *k = calloc(1, sizeof(*k));
	if (!k) {
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return;
	}
	zg_conn_set_udata(c, k);
}

static void on_close(struct zg_conn *c, int reason)
{
	struct conn *k = zg_conn_udata(c);
	(void)reason;
	if (!k)
		return;
	if (k->ws)
		ws_state_free(&k->st);
	free(k);
}

static void respond(struct zg_conn *c, const char *status, const char *body, bool close)
{
	char b[512];
	int n = snprintf(b, sizeof(b),
			 "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n%s",
			 status, strlen(body), close ? "Connection: close\r\n" : "", body);
	zg_conn_write(c, b, (size_t)n);
	if (close)
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
}

/* The value of header `name` in head[0..n) (the first such line), or
 * {NULL, 0}. */
static struct ws_str header(const char *head, size_t n, const char *name)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', n), *end = head + n;

	while (p && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		if ((size_t)(eol - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
			const char *v = p + nl + 1;
			const char *ve = eol > v && eol[-1] == '\r' ? eol - 1 : eol;
			return (struct ws_str){ v, (size_t)(ve - v) };
		}
		p = eol;
	}
	return (struct ws_str){ NULL, 0 };
}

/* One request head at the start of the input: 1 handled (maybe
 * upgraded), 0 incomplete. */
static int http_request(struct zg_conn *c, struct conn *k)
{
	struct zg_read_view v;
	const uint8_t *p;
	size_t n;
	const char *end;

	zg_conn_read(c, &v);
	n = v.len < HEAD_MAX ? v.len : HEAD_MAX;
	if (zg_conn_contig(c, n, &p)) {
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return -1;
	}
	end = memmem(p, n, "\r\n\r\n", 4);
	if (!end) {
		if (n == HEAD_MAX) {
			respond(c, "431 Request Header Fields Too Large", "too large\n", true);
			return -1;
		}
		zg_conn_advance(c, 0, v.len);
		return 0;
	}
	const char *head = (const char *)p;
	size_t hlen = (size_t)(end - head) + 4;
	const char *sp1 = memchr(head, ' ', hlen);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', hlen - (size_t)(sp1 + 1 - head)) : NULL;
	if (!sp2 || strncmp(sp2 + 1, "HTTP/1.1\r\n", 10)) {
		respond(c, "400 Bad Request", "bad request\n", true);
		return -1;
	}
	bool get = sp1 - head == 3 && !memcmp(head, "GET", 3);
	bool ws_path = sp2 - sp1 - 1 == 3 && !memcmp(sp1 + 1, "/ws", 3);
	if (!ws_path) {
		zg_conn_advance(c, hlen, hlen);
		respond(c, "404 Not Found", "not found\n", false);
		return 1;
	}
	if (!get) {
		zg_conn_advance(c, hlen, hlen);
		respond(c, "405 Method Not Allowed", "GET only\n", false);
		return 1;
	}
	struct ws_request r = {
		.upgrade = header(head, hlen, "upgrade"),
		.connection = header(head, hlen, "connection"),
		.key = header(head, hlen, "sec-websocket-key"),
		.version = header(head, hlen, "sec-websocket-version"),
	};
	int status = ws_handshake_check(&r);
	char out[WS_101_MAX > WS_REJECT_MAX ? WS_101_MAX : WS_REJECT_MAX];
	if (status) {
		size_t m = ws_write_reject(out, status, false);
		zg_conn_advance(c, hlen, hlen);
		zg_conn_write(c, out, m);
		return 1;
	}
	size_t m = ws_write_101(out, r.key.p, r.key.n);
	/* r points into the input: write before it is released */
	zg_conn_write(c, out, m);
	zg_conn_advance(c, hlen, hlen);
	ws_state_init(&k->st, limit, use_callback ? ws_echo_message : NULL, NULL);
	k->ws = true;
	return 1;
}

static void on_data(struct zg_conn *c)
{
	struct conn *k = zg_conn_udata(c);
	struct zg_read_view v;

	for (;;) {
		if (k->ws) {
			ws_on_data(c, &k->st);
			return;
		}
		zg_conn_read(c, &v);
		if (!v.len) {
			if (v.eof)
				zg_conn_close(c, ZG_CLOSE_GRACEFUL);
			return;
		}
		if (http_request(c, k) <= 0)
			return;
	}
}

int main(int argc, char **argv)
{
	struct zg_server_config cfg;
	struct zg_handler h = { .on_open = on_open, .on_data = on_data, .on_close = on_close };

	zg_server_config_init(&cfg);
	cfg.threads = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--callback"))
			use_callback = true;
		else if (i + 1 == argc)
			break;
		else if (!strcmp(argv[i], "--port"))
			cfg.port = (uint16_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--threads"))
			cfg.threads = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--limit"))
			limit = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--bufs"))
			cfg.reactor.buf_count = (unsigned)atoi(argv[++i]);
	}
	cfg.host = "127.0.0.1";
	return run_server("ws-test-server", &cfg, &h);
}
