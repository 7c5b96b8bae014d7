/* SPDX-License-Identifier: MIT */
/*
 * zerg-load: an HTTP/1.1 load generator on libzerg's client API.
 *
 *   zerg-load URL [-c CONNS] [-t THREADS] [-d SECONDS] [-w SECONDS]
 *             [-p DEPTH] [-r REQS_PER_CONN] [--raw FILE,FILE...] ...
 *
 * Each thread runs a lone zg_reactor created on that thread (pinned to
 * the i-th CPU it may run on) and owns every THREADS-th connection. A
 * connection keeps DEPTH requests in flight: the requests of a batch of
 * responses are all written in the same on_data, so they leave in one
 * send. Responses are parsed as they arrive (resp.c: no copy, every
 * received byte consumed at once); each completed one adds its latency to
 * a log-linear histogram (hist.h) and its status to a tally. With -r N a
 * connection is closed with an RST (ZG_CLOSE_ABORT) after N responses
 * and a new one is opened, as HttpArena's load generator does.
 *
 * A --raw file may hold one placeholder, substituted per request as
 * HttpArena's generator (gcannon) does (SPEC-HEAD.md 6.6): the first
 * {RAND:a:b} or {SEQ:s} of the file becomes a number zero-padded to the
 * digits of b (of s): RAND uniform in [a, b] from the connection's own
 * xorshift64, SEQ a counter of that file shared by every thread,
 * starting at s. Later placeholders stay as they are; Content-Length
 * is the file's business.
 *
 * Phases: warm-up (-w), measured (-d), drain (no new requests; the
 * answers still due are waited for, up to --drain-ms). Counts of the
 * measured phase make the report; totals over the whole run are given
 * too (sent == responses + unanswered).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <zerg.h>

#include "hist.h"
#include "resp.h"
#include "wsframe.h"

/* ------------------------------------------------------------------ */
/* Options and request templates                                       */
/* ------------------------------------------------------------------ */

enum { PH_NONE, PH_RAND, PH_SEQ };

struct tmpl {
	uint8_t *p;
	size_t len;
	bool head;         /* a HEAD request: its response has no body */
	char *name;
	/* the placeholder: p[ph_off, ph_off + ph_len) is replaced */
	uint8_t ph;        /* PH_*                                     */
	uint8_t width;     /* digits of b / s                          */
	size_t ph_off, ph_len;
	uint64_t lo, span; /* RAND: a, b - a + 1                       */
	_Atomic uint64_t seq; /* SEQ: the next value                   */
};

/* Per-template counts of 2xx answers in the report (the first ones). */
#define MAX_TPL_STATS 64

static struct {
	const char *url;
	unsigned conns, threads, depth;
	uint64_t reqs_per_conn;    /* 0: unlimited                      */
	double duration_s, warmup_s;
	unsigned timeout_ms, connect_timeout_ms, drain_ms;
	bool json, pin, rotate_request, quiet, batch;
	unsigned rflags_set, rflags_clear, bufs, buf_size;
	const char *raw;
	const char *path;          /* overrides the URL's path          */
	char *headers;             /* -H lines, each ending in CRLF      */
	size_t headers_len;
	const char *method;
	const char *expect_body;   /* --expect-body                     */
	size_t expect_len;
	struct tmpl *t;
	unsigned nt;
	bool any_head;
	size_t max_tmpl;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char host[300];            /* for the Host header               */
	char req_path[2048];
	char target[600];          /* the address, for the report       */
	bool ws;                   /* --ws: upgrade, then echo frames    */
	const char *ws_msg;        /* --ws-msg (default "hello")         */
	size_t ws_msg_len;
	char ws_upgrade[2600];     /* the upgrade request                */
	size_t ws_upgrade_len;
} o = {
	.conns = 64, .threads = 1, .depth = 1, .duration_s = 10,
	.timeout_ms = 10000, .connect_timeout_ms = 5000, .drain_ms = 2000,
	.pin = true, .method = "GET", .ws_msg = "hello", .ws_msg_len = 5,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: zerg-load URL [options]\n"
		"  URL                  http://HOST[:PORT][/PATH] (HOST numeric or a name),\n"
		"                       unix:/PATH/TO/SOCKET or unix:@ABSTRACT (path from --path, default /)\n"
		"  -c, --connections N  connections, all open at once (default 64)\n"
		"  -t, --threads N      threads, one reactor each, pinned (default 1)\n"
		"  -d, --duration S     measured seconds (default 10; fractions allowed)\n"
		"  -w, --warmup S       seconds of load before the measurement (default 0)\n"
		"  -p, --pipeline N     requests in flight per connection (default 1)\n"
"      --batch          with -p: write the N requests together, the next N once all\n"
		"                       N are answered (HttpArena's pipelining: N requests per segment);\n"
		"                       without it a request is written as each answer arrives\n"
		"  -r, --requests N     requests per connection, then close with RST and reconnect\n"
		"      --raw F1,F2,...  send these files as-is instead of a GET of the URL's path:\n"
		"                       connection i starts with file i %% count and moves to the\n"
		"                       next one at each reconnect\n"
		"                       (in a file, the first {RAND:a:b} / {SEQ:s} becomes a number\n"
		"                       zero-padded to the digits of b / s: uniform in [a, b] per\n"
		"                       connection; s, s+1, ... over all threads; as HttpArena's gcannon)\n"
		"      --rotate-requests  with --raw: take the next file for every request instead\n"
		"      --ws             WebSocket echo (gcannon --ws): each connection upgrades at the\n"
		"                       URL's path, then keeps -p text frames in flight, masked with\n"
		"                       12 34 56 78; every frame received counts as a response\n"
		"      --ws-msg TEXT    the frames' payload (default hello); echoes are checked\n"
		"                       against it (errors.body)\n"
		"  -H, --header 'K: V'  add a header to the URL's request (repeatable)\n"
		"  -m, --method M       method of the URL's request (default GET; HEAD expects no body)\n"
		"      --path P         request path (overrides the URL's)\n"
"      --expect-body TEXT  every response body must be TEXT (counted in errors.body)\n"
		"      --timeout MS     close a connection that waits this long for an answer (default 10000)\n"
		"      --connect-timeout MS  (default 5000)\n"
		"      --drain-ms MS    after the run, wait this long for answers still due (default 2000)\n"
		"      --no-pin         do not pin the threads\n"
		"      --json           print the summary as one JSON line (and nothing else)\n"
		"      --bufs N, --buf-size B, --rflags [+-]bufinc,bundle,nodefer: the reactors' receive ring\n"
		"  -h, --help\n");
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "zerg-load: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	uint8_t *buf;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &sb))
		die("%s: %s", path, strerror(errno));
	buf = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	if (!buf)
		die("out of memory");
	while (got < (size_t)sb.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)sb.st_size - got);
		if (k <= 0)
			die("%s: read: %s", path, k ? strerror(errno) : "short file");
		got += (size_t)k;
	}
	close(fd);
	*len = got;
	return buf;
}

/* "{RAND:" digits ":" digits "}" or "{SEQ:" digits "}" at p[0..n):
 * its length, 0 if it is not one. */
static size_t parse_ph(const uint8_t *p, size_t n, struct tmpl *t)
{
	uint64_t v[2] = { 0, 0 };
	unsigned nv, k = 0, digits[2] = { 0, 0 };
	size_t i;

	if (n >= 6 && !memcmp(p, "{RAND:", 6)) {
		t->ph = PH_RAND;
		nv = 2;
		i = 6;
	} else if (n >= 5 && !memcmp(p, "{SEQ:", 5)) {
		t->ph = PH_SEQ;
		nv = 1;
		i = 5;
	} else {
		return 0;
	}
	for (; i < n; i++) {
		if (p[i] >= '0' && p[i] <= '9' && digits[k] < 19) {
			v[k] = v[k] * 10 + (p[i] - '0');
			digits[k]++;
		} else if (p[i] == ':' && k + 1 < nv && digits[k]) {
			k++;
		} else if (p[i] == '}' && k + 1 == nv && digits[k]) {
			break;
		} else {
			t->ph = PH_NONE;
			return 0;
		}
	}
	if (i == n) {
		t->ph = PH_NONE;
		return 0;
	}
	t->width = (uint8_t)digits[nv - 1];
	if (t->ph == PH_RAND) {
		if (v[1] < v[0] || v[1] - v[0] == UINT64_MAX)
			die("%s: {RAND:%" PRIu64 ":%" PRIu64 "}: empty range", t->name, v[0], v[1]);
		t->lo = v[0];
		t->span = v[1] - v[0] + 1;
		/* the width is that of b's value, not of its spelling */
		t->width = (uint8_t)snprintf(NULL, 0, "%" PRIu64, v[1]);
	} else {
		atomic_init(&t->seq, v[0]);
		t->width = (uint8_t)snprintf(NULL, 0, "%" PRIu64, v[0]);
	}
	return i + 1;
}

/* The first placeholder of t, if any. */
static void find_ph(struct tmpl *t)
{
	for (size_t i = 0; i < t->len; i++) {
		if (t->p[i] != '{')
			continue;
		t->ph_len = parse_ph(t->p + i, t->len - i, t);
		if (t->ph_len) {
			t->ph_off = i;
			return;
		}
	}
}

static void add_tmpl(uint8_t *p, size_t len, const char *name)
{
	struct tmpl *t;

	if (!len)
		die("%s: empty request", name);
	o.t = realloc(o.t, (o.nt + 1) * sizeof(*o.t));
	if (!o.t)
		die("out of memory");
	t = &o.t[o.nt++];
	t->p = p;
	t->len = len;
	t->head = len >= 5 && !memcmp(p, "HEAD ", 5);
	t->name = strdup(name);
	t->ph = PH_NONE;
	find_ph(t);
	o.any_head |= t->head;
	if (len > o.max_tmpl)
		o.max_tmpl = len;
}

static void load_raw(const char *list)
{
	char *s = strdup(list), *save = NULL, *f;

	for (f = strtok_r(s, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		size_t len;
		uint8_t *p = read_file(f, &len);
		add_tmpl(p, len, f);
	}
	free(s);
	if (!o.nt)
		die("--raw: no files");
}

static void build_url_request(void)
{
	const char *path = o.path ? o.path : o.req_path;
	size_t cap = strlen(o.method) + strlen(path) + strlen(o.host) + o.headers_len + 64;
	char *req = malloc(cap);
	int n;

	if (!req)
		die("out of memory");
	n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", o.method, path, o.host,
		     o.headers ? o.headers : "");
	add_tmpl((uint8_t *)req, (size_t)n, "url");
}

/* --ws: the upgrade request (the URL's path, or --path) and the one
 * template, the text frame. */
static void build_ws(void)
{
	static const uint8_t key[4] = ZL_WS_MASK_KEY;
	uint8_t *f;

	if (o.raw || o.reqs_per_conn || o.rotate_request || o.any_head || o.expect_body)
		die("--ws takes none of --raw, -r, --rotate-requests, --expect-body");
	o.ws_upgrade_len = zl_ws_upgrade(o.ws_upgrade, sizeof(o.ws_upgrade),
					 o.path ? o.path : o.req_path, o.host);
	if (!o.ws_upgrade_len)
		die("--ws: path too long");
	f = malloc(o.ws_msg_len + 14);
	if (!f)
		die("out of memory");
	add_tmpl(f, zl_ws_frame(f, ZL_WS_TEXT, key, o.ws_msg, o.ws_msg_len), "ws-frame");
}

/* http://HOST[:PORT][/PATH], [v6] hosts, or unix:PATH / unix:@NAME. */
static void parse_url(const char *url)
{
	char hostbuf[256], port[16] = "80";
	const char *p, *hs, *he, *slash;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int rc;

	snprintf(o.target, sizeof(o.target), "%s", url);
	strcpy(o.req_path, "/");
	if (!strncmp(url, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)&o.addr;
		const char *path = url + 5;
		size_t n = strlen(path);

		if (!n || n >= sizeof(un->sun_path))
			die("bad unix address %s", url);
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, n);
		if (path[0] == '@')
			un->sun_path[0] = '\0'; /* abstract */
		o.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
					 (path[0] == '@' ? 0 : 1));
		strcpy(o.host, "localhost");
		return;
	}
	if (strncmp(url, "http://", 7))
		die("URL must be http://HOST[:PORT][/PATH] or unix:PATH (got %s)", url);
	p = url + 7;
	slash = strchr(p, '/');
	he = slash ? slash : p + strlen(p);
	if ((size_t)(he - p) >= sizeof(o.host))
		die("host too long");
	memcpy(o.host, p, (size_t)(he - p));
	o.host[he - p] = '\0';
	if (slash) {
		if (strlen(slash) >= sizeof(o.req_path))
			die("path too long");
		strcpy(o.req_path, slash);
	}
	/* split host and port */
	hs = p;
	if (*hs == '[') {
		const char *rb = memchr(hs, ']', (size_t)(he - hs));
		if (!rb)
			die("bad IPv6 host in %s", url);
		snprintf(hostbuf, sizeof(hostbuf), "%.*s", (int)(rb - hs - 1), hs + 1);
		if (rb + 1 < he && rb[1] == ':')
			snprintf(port, sizeof(port), "%.*s", (int)(he - rb - 2), rb + 2);
	} else {
		const char *colon = memchr(hs, ':', (size_t)(he - hs));
		const char *hend = colon ? colon : he;
		snprintf(hostbuf, sizeof(hostbuf), "%.*s", (int)(hend - hs), hs);
		if (colon)
			snprintf(port, sizeof(port), "%.*s", (int)(he - colon - 1), colon + 1);
	}
	rc = getaddrinfo(hostbuf, port, &hints, &res);
	if (rc)
		die("%s: %s", hostbuf, gai_strerror(rc));
	memcpy(&o.addr, res->ai_addr, res->ai_addrlen);
	o.addr_len = res->ai_addrlen;
	freeaddrinfo(res);
}

/* ------------------------------------------------------------------ */
/* Per-thread state                                                    */
/* ------------------------------------------------------------------ */

enum { PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_N };
static _Atomic int g_phase;
static volatile sig_atomic_t g_interrupted;

#define MAX_STATUS 600

/* What a phase counts. */
struct stats {
	uint64_t responses, bytes, status_errors, interim;
	uint64_t status[MAX_STATUS]; /* [0]: codes >= 600 */
	uint64_t tpl_ok[MAX_TPL_STATS]; /* 2xx answers per template      */
	struct zl_hist lat;
};

struct worker;

/* One of the -c connections, across its reconnects. */
struct client {
	struct worker *w;
	struct zg_conn *c;        /* NULL between connections         */
	struct zg_timer *retry;   /* created on the first failed connect */
	unsigned tmpl;            /* template (per connection or next request) */
	uint64_t sent, done;      /* on the current connection        */
	bool opened;              /* on_open ran for c                */
	bool no_more;             /* the server said close: send nothing more */
	struct zl_resp rp;
	uint64_t *ts;             /* send times of the requests in flight,
	                           * [sent % depth]; bit 63: a HEAD     */
	uint16_t *ti;             /* their templates, [sent % depth]     */
	uint64_t rng;             /* xorshift64 state for {RAND}         */
	bool ws_up;               /* --ws: the 101 came, frames flow     */
	struct zl_ws wp;          /* --ws: the server's frames           */
};

struct worker {
	unsigned id;
	int cpu;                  /* -1: not pinned                   */
	pthread_t th;
	struct zg_reactor *r;
	struct client *cl;
	unsigned ncl;
	unsigned open;            /* clients with a connection (or a pending retry) */
	bool draining;
	struct zg_timer *drain_timer;
	int err;
	/* totals over all phases */
	uint64_t sent, responses, unanswered, connects, reconnects;
	uint64_t connect_errors, read_errors, write_errors, timeouts, parse_errors, body_errors;
	uint64_t server_closes;   /* closed by the server (FIN or Connection: close) */
	uint64_t upgrades, upgrades_refused; /* --ws: 101s, other answers to the upgrade */
	int last_error;           /* the last connect or socket error (-errno) */
	struct stats st[PH_N];
};

static struct worker *workers;
static pthread_barrier_t start_barrier;

#define TS_HEAD (1ull << 63)

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void client_connect(struct client *cl);

static inline void resp_reset(struct client *cl, bool no_body)
{
	zl_resp_init(&cl->rp, no_body);
	if (o.expect_body)
		zl_resp_expect(&cl->rp, o.expect_body, o.expect_len);
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Template t with its placeholder substituted; 0 or -errno. */
static int write_subst(struct client *cl, struct tmpl *t)
{
	char num[32];
	uint64_t v;
	size_t tail = t->ph_off + t->ph_len;
	int n, rc;

	if (t->ph == PH_RAND)
		v = t->lo + xorshift64(&cl->rng) % t->span;
	else
		v = atomic_fetch_add_explicit(&t->seq, 1, memory_order_relaxed);
	n = snprintf(num, sizeof(num), "%0*" PRIu64, (int)t->width, v);
	rc = zg_conn_write(cl->c, t->p, t->ph_off);
	if (!rc)
		rc = zg_conn_write(cl->c, num, (size_t)n);
	if (!rc && tail < t->len)
		rc = t->len - tail < 16384 ? zg_conn_write(cl->c, t->p + tail, t->len - tail)
					   : zg_conn_write_ref(cl->c, t->p + tail, t->len - tail, NULL, NULL);
	return rc;
}

/* Write requests until DEPTH are in flight (or the per-connection limit
 * is reached). */
static void fill(struct client *cl, uint64_t now)
{
	struct worker *w = cl->w;
	struct zg_conn *c = cl->c;
	uint64_t limit = o.reqs_per_conn;

	if (w->draining || cl->no_more || (o.ws && !cl->ws_up))
		return;
	if (o.batch && cl->sent != cl->done)
		return; /* the next batch once every answer of this one is in */
	while (cl->sent - cl->done < o.depth && (!limit || cl->sent < limit)) {
		struct tmpl *t = &o.t[cl->tmpl];
		int rc;

		/* small requests are copied: consecutive ones share a chunk and
		 * leave in one plain send; big ones (uploads) go by reference */
		if (t->ph)
			rc = write_subst(cl, t);
		else if (t->len < 16384)
			rc = zg_conn_write(c, t->p, t->len);
		else
			rc = zg_conn_write_ref(c, t->p, t->len, NULL, NULL);
		if (rc) {
			w->write_errors++;
			zg_conn_close(c, ZG_CLOSE_ABORT);
			return;
		}
		if (o.any_head && cl->sent == cl->done)
			cl->rp.no_body = t->head; /* the very next response */
		cl->ts[cl->sent % o.depth] = now | (t->head ? TS_HEAD : 0);
		cl->ti[cl->sent % o.depth] = (uint16_t)(cl->tmpl < MAX_TPL_STATS ? cl->tmpl : MAX_TPL_STATS);
		cl->sent++;
		w->sent++;
		if (o.rotate_request)
			cl->tmpl = (cl->tmpl + 1) % o.nt;
	}
}

/* A response ended; false when the connection was closed. */
static void response_done(struct client *cl, struct stats *st, uint64_t now)
{
	unsigned s = cl->rp.status;
	uint64_t t0 = cl->ts[cl->done % o.depth] & ~TS_HEAD;

	st->responses++;
	st->interim += cl->rp.interim;
	st->status[s < MAX_STATUS ? s : 0]++;
	if (s < 200 || s >= 400)
		st->status_errors++;
	if (s >= 200 && s < 300 && cl->ti[cl->done % o.depth] < MAX_TPL_STATS)
		st->tpl_ok[cl->ti[cl->done % o.depth]]++;
	zl_hist_add(&st->lat, now > t0 ? now - t0 : 0);
	cl->w->responses++;
	cl->done++;
	if (cl->rp.flags & ZL_RESP_F_CLOSE)
		cl->no_more = true;
	if (cl->rp.flags & ZL_RESP_F_MISMATCH)
		cl->w->body_errors++;
	resp_reset(cl, o.any_head && cl->done < cl->sent && (cl->ts[cl->done % o.depth] & TS_HEAD));
}

/* --ws: a frame of the server's ended: one response. */
static void frame_done(struct client *cl, struct stats *st, uint64_t now)
{
	uint64_t t0 = cl->ts[cl->done % o.depth];

	st->responses++;
	zl_hist_add(&st->lat, now > t0 ? now - t0 : 0);
	cl->w->responses++;
	cl->done++;
	if (cl->wp.mismatch)
		cl->w->body_errors++;
	if (cl->wp.opcode == ZL_WS_CLOSE)
		cl->no_more = true; /* the server closes next */
	zl_ws_next(&cl->wp);
}

/* --ws: the answer to the upgrade. A 101 starts the frames; anything
 * else is tallied by status and the connection is dropped (gcannon
 * reconnects too). false when the connection was closed. */
static bool upgrade_done(struct client *cl, struct stats *st)
{
	unsigned s = cl->rp.status;

	if (s != 101) {
		st->status[s < MAX_STATUS ? s : 0]++;
		cl->w->upgrades_refused++;
		zg_conn_close(cl->c, ZG_CLOSE_ABORT);
		return false;
	}
	cl->w->upgrades++;
	cl->ws_up = true;
	zl_ws_init(&cl->wp);
	zl_ws_expect(&cl->wp, ZL_WS_TEXT, o.ws_msg, o.ws_msg_len);
	return true;
}

static void cl_open(struct zg_conn *c)
{
	struct client *cl = zg_conn_udata(c);

	cl->opened = true;
	cl->w->connects++;
	if (o.ws && zg_conn_write(c, o.ws_upgrade, o.ws_upgrade_len)) {
		cl->w->write_errors++;
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return;
	}
	fill(cl, now_ns());
}

static void cl_data(struct zg_conn *c)
{
	struct client *cl = zg_conn_udata(c);
	struct worker *w = cl->w;
	struct zg_read_view v;
	struct stats *st;
	uint64_t now;
	bool bad = false;

	zg_conn_read(c, &v);
	now = now_ns();
	st = &w->st[atomic_load_explicit(&g_phase, memory_order_relaxed)];
	if (v.len) {
		st->bytes += v.len;
		for (unsigned i = 0; i < v.nsegs && !bad; i++) {
			const uint8_t *p = v.segs[i].iov_base;
			size_t n = v.segs[i].iov_len;

			while (n) {
				size_t used;
				int rc;

				if (o.ws && !cl->ws_up) { /* the answer to the upgrade */
					rc = zl_resp_feed(&cl->rp, p, n, &used);
					p += used;
					n -= used;
					if (rc < 0) {
						bad = true;
						break;
					}
					if (rc == ZL_RESP_DONE && !upgrade_done(cl, st)) {
						zg_conn_advance(c, v.len, v.len);
						return;
					}
					continue;
				}
				if (cl->done == cl->sent) { /* an answer nobody asked for */
					bad = true;
					break;
				}
				if (o.ws) {
					rc = zl_ws_feed(&cl->wp, p, n, &used);
					p += used;
					n -= used;
					if (rc == ZL_WS_DONE)
						frame_done(cl, st, now);
					else if (rc < 0)
						bad = true;
					if (bad)
						break;
					continue;
				}
				rc = zl_resp_feed(&cl->rp, p, n, &used);
				p += used;
				n -= used;
				if (rc == ZL_RESP_DONE) {
					response_done(cl, st, now);
				} else if (rc < 0) {
					bad = true;
					break;
				}
			}
		}
		zg_conn_advance(c, v.len, v.len);
		if (bad) {
			w->parse_errors++;
			zg_conn_close(c, ZG_CLOSE_ABORT);
			return;
		}
	}
	if (v.eof) {
		if (!o.ws && cl->done < cl->sent && zl_resp_eof(&cl->rp) == ZL_RESP_DONE)
			response_done(cl, st, now);
		w->server_closes++;
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		return;
	}
	if (o.reqs_per_conn && cl->done >= o.reqs_per_conn) {
		zg_conn_close(c, ZG_CLOSE_ABORT); /* RST, like HttpArena's generator */
		return;
	}
	if (w->draining) {
		if (cl->done == cl->sent)
			zg_conn_close(c, ZG_CLOSE_ABORT);
		return;
	}
	fill(cl, now);
}

static void retry_fire(struct zg_timer *t, void *arg)
{
	struct client *cl = arg;

	(void)t;
	if (cl->w->draining) {
		if (!--cl->w->open)
			zg_reactor_stop(cl->w->r, 0);
		return;
	}
	client_connect(cl);
}

/* Try again in 100 ms (a refused connect must not spin). */
static void schedule_retry(struct client *cl)
{
	if (!cl->retry && zg_timer_new(cl->w->r, retry_fire, cl, &cl->retry)) {
		cl->w->err = -ENOMEM;
		zg_reactor_stop(cl->w->r, 0);
		return;
	}
	zg_timer_start(cl->retry, 100, 0);
}

static void cl_close(struct zg_conn *c, int reason)
{
	struct client *cl = zg_conn_udata(c);
	struct worker *w = cl->w;

	cl->c = NULL;
	w->unanswered += cl->sent - cl->done;
	if (!cl->opened && reason < 0 && reason != -ESHUTDOWN)
		w->connect_errors++; /* (0: we gave up on it, at the end of the run) */
	else if (reason == -ETIMEDOUT)
		w->timeouts++;
	else if (reason < 0 && reason != -ESHUTDOWN)
		w->read_errors++;
	if (reason < 0 && reason != -ESHUTDOWN)
		w->last_error = reason;
	if (w->draining) {
		if (!--w->open)
			zg_reactor_stop(w->r, 0);
		return;
	}
	if (!cl->opened) {
		schedule_retry(cl);
		return;
	}
	w->reconnects++;
	cl->tmpl = (cl->tmpl + 1) % o.nt; /* the next template per reconnect */
	client_connect(cl);
}

static const struct zg_handler client_h = {
	.on_open = cl_open,
	.on_data = cl_data,
	.on_close = cl_close,
};

static void client_connect(struct client *cl)
{
	struct zg_connect_opts co;
	int rc;

	zg_connect_opts_init(&co);
	co.handler = &client_h;
	co.udata = cl;
	co.timeout_ms = o.connect_timeout_ms;
	cl->sent = cl->done = 0;
	cl->opened = false;
	cl->no_more = false;
	cl->ws_up = false;
	resp_reset(cl, false);
	rc = zg_reactor_connect(cl->w->r, (struct sockaddr *)&o.addr, o.addr_len, &co, &cl->c);
	if (rc) {
		cl->c = NULL;
		cl->w->connect_errors++;
		cl->w->last_error = rc;
		if (rc == -ESHUTDOWN) {
			if (!--cl->w->open)
				zg_reactor_stop(cl->w->r, 0);
			return;
		}
		schedule_retry(cl);
	}
}

/* ------------------------------------------------------------------ */
/* Drain: no new requests, wait for the answers due, then stop          */
/* ------------------------------------------------------------------ */

static void drain_timeout(struct zg_timer *t, void *arg)
{
	struct worker *w = arg;

	(void)t;
	zg_reactor_stop(w->r, 0); /* aborts what is still open */
}

static void drain_begin(void *arg)
{
	struct worker *w = arg;

	if (w->draining)
		return;
	w->draining = true;
	for (unsigned i = 0; i < w->ncl; i++) {
		struct client *cl = &w->cl[i];

		if (cl->c) {
			if (cl->done == cl->sent || !cl->opened)
				zg_conn_close(cl->c, ZG_CLOSE_ABORT);
		} else if (cl->retry && zg_timer_active(cl->retry)) {
			zg_timer_stop(cl->retry);
			w->open--;
		}
	}
	if (!w->open) {
		zg_reactor_stop(w->r, 0);
		return;
	}
	if (!zg_timer_new(w->r, drain_timeout, w, &w->drain_timer))
		zg_timer_start(w->drain_timer, o.drain_ms, 0);
	else
		zg_reactor_stop(w->r, 0);
}

static void on_log(int level, const char *msg, void *arg)
{
	(void)arg;
	if (level <= ZG_LOG_WARN)
		fprintf(stderr, "zerg-load: libzerg: %s\n", msg);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct zg_reactor_config cfg;
	unsigned per = w->ncl, sq = 256;
	int rc;

	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	zg_reactor_config_init(&cfg);
	/* room for connections that are still closing while their
	 * replacements connect */
	cfg.max_conns = 2 * per + 64;
	while (sq < 2 * per && sq < 16384)
		sq <<= 1;
	cfg.sq_entries = sq;
	cfg.idle_timeout_ms = o.timeout_ms;
	cfg.linger_ms = 200;
	if (o.bufs)
		cfg.buf_count = o.bufs;
	if (o.buf_size)
		cfg.buf_size = o.buf_size;
	cfg.flags = (cfg.flags | o.rflags_set) & ~o.rflags_clear;
	{
		size_t need = 2 * (size_t)o.depth * o.max_tmpl + (1u << 20);
		if (need > cfg.max_output)
			cfg.max_output = need;
	}
	cfg.log = on_log;
	rc = zg_reactor_new(&cfg, &client_h, w, &w->r);
	if (rc) {
		w->err = rc;
		pthread_barrier_wait(&start_barrier);
		return NULL;
	}
	pthread_barrier_wait(&start_barrier);
	for (unsigned i = 0; i < w->ncl; i++) {
		w->open++;
		client_connect(&w->cl[i]);
	}
	rc = zg_reactor_run(w->r);
	if (rc && !w->err)
		w->err = rc;
	for (unsigned i = 0; i < w->ncl; i++)
		if (w->cl[i].retry)
			zg_timer_free(w->cl[i].retry);
	if (w->drain_timer)
		zg_timer_free(w->drain_timer);
	zg_reactor_free(w->r);
	w->r = NULL;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Report                                                              */
/* ------------------------------------------------------------------ */

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double mono_s(void)
{
	return (double)now_ns() / 1e9;
}

/* Sleep s seconds, or until SIGINT/SIGTERM. */
static void nap(double s)
{
	double end = mono_s() + s;

	while (!g_interrupted) {
		double left = end - mono_s();
		struct timespec ts;

		if (left <= 0)
			break;
		if (left > 0.2)
			left = 0.2;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

static void on_signal(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

static void merge_stats(struct stats *d, const struct stats *s)
{
	d->responses += s->responses;
	d->bytes += s->bytes;
	d->status_errors += s->status_errors;
	d->interim += s->interim;
	for (unsigned i = 0; i < MAX_STATUS; i++)
		d->status[i] += s->status[i];
	for (unsigned i = 0; i < MAX_TPL_STATS; i++)
		d->tpl_ok[i] += s->tpl_ok[i];
	zl_hist_merge(&d->lat, &s->lat);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static const char *human_bytes(double b, char *buf, size_t n)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned i = 0;

	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(buf, n, "%.2f %s", b, u[i]);
	return buf;
}

static const char *human_ns(double ns, char *buf, size_t n)
{
	if (ns < 1e3)
		snprintf(buf, n, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, n, "%.1f us", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, n, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, n, "%.2f s", ns / 1e9);
	return buf;
}

/* ------------------------------------------------------------------ */

static unsigned parse_rflags(const char *s, unsigned *clear)
{
	unsigned set = 0;
	char *d = strdup(s), *save = NULL, *f;

	*clear = 0;
	for (f = strtok_r(d, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		bool minus = *f == '-';
		unsigned bit;

		if (*f == '-' || *f == '+')
			f++;
		if (!strcmp(f, "bufinc"))
			bit = ZG_RF_BUF_INC;
		else if (!strcmp(f, "bundle"))
			bit = ZG_RF_RECV_BUNDLE;
		else if (!strcmp(f, "nodefer"))
			bit = ZG_RF_NO_DEFER_TASKRUN;
		else
			die("--rflags: unknown flag %s", f);
		if (minus)
			*clear |= bit;
		else
			set |= bit;
	}
	free(d);
	return set;
}

static unsigned long num(const char *s, const char *what, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		die("%s: bad value %s (%lu..%lu)", what, s, lo, hi);
	return v;
}

static double seconds(const char *s, const char *what)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0 || v > 1e7)
		die("%s: bad value %s", what, s);
	if (*end == 's' && !end[1])
		end++;
	if (*end)
		die("%s: bad value %s", what, s);
	return v;
}

static void parse_args(int argc, char **argv)
{
	enum { OPT_EXPECT = 300, OPT_BATCH, OPT_RAW = 256, OPT_TIMEOUT, OPT_CTIMEOUT, OPT_DRAIN, OPT_NOPIN, OPT_JSON, OPT_PATH, OPT_ROTATE,
	       OPT_BUFS, OPT_BUFSIZE, OPT_RFLAGS, OPT_WS, OPT_WS_MSG };
	static const struct option lo[] = {
		{ "connections", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "pipeline", required_argument, NULL, 'p' },
		{ "requests", required_argument, NULL, 'r' },
		{ "header", required_argument, NULL, 'H' },
		{ "method", required_argument, NULL, 'm' },
		{ "raw", required_argument, NULL, OPT_RAW },
		{ "expect-body", required_argument, NULL, OPT_EXPECT },
		{ "rotate-requests", no_argument, NULL, OPT_ROTATE },
		{ "ws", no_argument, NULL, OPT_WS },
		{ "ws-msg", required_argument, NULL, OPT_WS_MSG },
		{ "batch", no_argument, NULL, OPT_BATCH },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "connect-timeout", required_argument, NULL, OPT_CTIMEOUT },
		{ "drain-ms", required_argument, NULL, OPT_DRAIN },
		{ "no-pin", no_argument, NULL, OPT_NOPIN },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "bufs", required_argument, NULL, OPT_BUFS },
		{ "buf-size", required_argument, NULL, OPT_BUFSIZE },
		{ "rflags", required_argument, NULL, OPT_RFLAGS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "c:t:d:w:p:r:H:m:qh", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': o.conns = (unsigned)num(optarg, "-c", 1, 1000000); break;
		case 't': o.threads = (unsigned)num(optarg, "-t", 1, 1024); break;
		case 'd': o.duration_s = seconds(optarg, "-d"); break;
		case 'w': o.warmup_s = seconds(optarg, "-w"); break;
		case 'p': o.depth = (unsigned)num(optarg, "-p", 1, 65536); break;
		case 'r': o.reqs_per_conn = num(optarg, "-r", 0, ~0ul); break;
		case 'H': {
			size_t n = strlen(optarg);
			o.headers = realloc(o.headers, o.headers_len + n + 3);
			if (!o.headers)
				die("out of memory");
			memcpy(o.headers + o.headers_len, optarg, n);
			memcpy(o.headers + o.headers_len + n, "\r\n", 3);
			o.headers_len += n + 2;
			break;
		}
		case 'm': o.method = optarg; break;
		case 'q': o.quiet = true; break;
		case OPT_RAW: o.raw = optarg; break;
		case OPT_EXPECT: o.expect_body = optarg; o.expect_len = strlen(optarg); break;
		case OPT_ROTATE: o.rotate_request = true; break;
		case OPT_WS: o.ws = true; break;
		case OPT_WS_MSG: o.ws_msg = optarg; o.ws_msg_len = strlen(optarg); break;
		case OPT_BATCH: o.batch = true; break;
		case OPT_PATH: o.path = optarg; break;
		case OPT_TIMEOUT: o.timeout_ms = (unsigned)num(optarg, "--timeout", 0, 86400000); break;
		case OPT_CTIMEOUT: o.connect_timeout_ms = (unsigned)num(optarg, "--connect-timeout", 0, 86400000); break;
		case OPT_DRAIN: o.drain_ms = (unsigned)num(optarg, "--drain-ms", 0, 86400000); break;
		case OPT_NOPIN: o.pin = false; break;
		case OPT_JSON: o.json = true; break;
		case OPT_BUFS: o.bufs = (unsigned)num(optarg, "--bufs", 1, 1u << 15); break;
		case OPT_BUFSIZE: o.buf_size = (unsigned)num(optarg, "--buf-size", 64, 1u << 20); break;
		case OPT_RFLAGS: o.rflags_set = parse_rflags(optarg, &o.rflags_clear); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		exit(2);
	}
	o.url = argv[optind];
}

/* The CPUs this process may run on, in order. */
static unsigned allowed_cpus(int *cpus, unsigned max)
{
	cpu_set_t set;
	unsigned n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (int i = 0; i < CPU_SETSIZE && n < max; i++)
		if (CPU_ISSET(i, &set))
			cpus[n++] = i;
	return n;
}

int main(int argc, char **argv)
{
	struct stats *tot;
	struct worker sum = { 0 };
	double t_start, t0, t1, t_end, cpu0, cpu1, cpu_start, win;
	int cpus[CPU_SETSIZE];
	unsigned ncpu, failed = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	struct rlimit rl;

	parse_args(argc, argv);
	parse_url(o.url);
	if (o.ws)
		build_ws();
	else if (o.raw)
		load_raw(o.raw);
	else
		build_url_request();
	if (o.threads > o.conns)
		o.threads = o.conns;
	/* a descriptor per connection, and the closing ones */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	ncpu = o.pin ? allowed_cpus(cpus, CPU_SETSIZE) : 0;
	workers = calloc(o.threads, sizeof(*workers));
	if (!workers)
		die("out of memory");
	for (unsigned i = 0; i < o.threads; i++) {
		struct worker *w = &workers[i];

		w->id = i;
		w->cpu = ncpu ? cpus[i % ncpu] : -1;
		w->ncl = o.conns / o.threads + (i < o.conns % o.threads);
		w->cl = calloc(w->ncl, sizeof(*w->cl));
		if (!w->cl)
			die("out of memory");
		for (unsigned k = 0; k < w->ncl; k++) {
			struct client *cl = &w->cl[k];
			unsigned idx = i + k * o.threads; /* the global connection number */

			cl->w = w;
			cl->tmpl = idx % o.nt;
			cl->ts = calloc(o.depth, sizeof(*cl->ts));
			cl->ti = calloc(o.depth, sizeof(*cl->ti));
			/* never 0 (xorshift's fixed point) */
			cl->rng = 0x9e3779b97f4a7c15ull * (idx + 1) ^ 0xd1b54a32d192ed03ull;
			if (!cl->rng)
				cl->rng = 1;
			if (!cl->ts || !cl->ti)
				die("out of memory");
		}
	}
	atomic_store(&g_phase, o.warmup_s > 0 ? PH_WARMUP : PH_MEASURE);
	pthread_barrier_init(&start_barrier, NULL, o.threads + 1);
	cpu_start = cpu_seconds();
	for (unsigned i = 0; i < o.threads; i++)
		if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]))
			die("pthread_create: %s", strerror(errno));
	pthread_barrier_wait(&start_barrier);
	for (unsigned i = 0; i < o.threads; i++)
		if (workers[i].err)
			failed++;
	t_start = mono_s();
	for (unsigned i = 0; i < o.threads; i++)
		if (workers[i].err) {
			fprintf(stderr, "zerg-load: thread %u: %s\n", i, zg_strerror(workers[i].err));
			g_interrupted = 1;
			break;
		}
	if (o.warmup_s > 0)
		nap(o.warmup_s);
	cpu0 = cpu_seconds();
	t0 = mono_s();
	atomic_store(&g_phase, PH_MEASURE);
	nap(o.duration_s);
	atomic_store(&g_phase, PH_DRAIN);
	t1 = mono_s();
	cpu1 = cpu_seconds();
	for (unsigned i = 0; i < o.threads; i++)
		if (workers[i].r && zg_reactor_post(workers[i].r, drain_begin, &workers[i]))
			zg_reactor_stop(workers[i].r, 0);
	for (unsigned i = 0; i < o.threads; i++)
		pthread_join(workers[i].th, NULL);
	t_end = mono_s();
	if (failed)
		return 1;

	tot = calloc(PH_N, sizeof(*tot));
	if (!tot)
		die("out of memory");
	for (unsigned i = 0; i < o.threads; i++) {
		struct worker *w = &workers[i];

		for (int ph = 0; ph < PH_N; ph++)
			merge_stats(&tot[ph], &w->st[ph]);
		sum.sent += w->sent;
		sum.responses += w->responses;
		sum.unanswered += w->unanswered;
		sum.connects += w->connects;
		sum.reconnects += w->reconnects;
		sum.connect_errors += w->connect_errors;
		sum.read_errors += w->read_errors;
		sum.write_errors += w->write_errors;
		sum.timeouts += w->timeouts;
		sum.parse_errors += w->parse_errors;
		sum.body_errors += w->body_errors;
		sum.server_closes += w->server_closes;
		sum.upgrades += w->upgrades;
		sum.upgrades_refused += w->upgrades_refused;
		if (w->last_error)
			sum.last_error = w->last_error;
		if (w->err && !failed) {
			fprintf(stderr, "zerg-load: thread %u: %s\n", i, zg_strerror(w->err));
			failed++;
		}
	}

	{
		const struct stats *m = &tot[PH_MEASURE];
		double rps, bps, cpu = cpu1 - cpu0, total_cpu = cpu_seconds() - cpu_start;
		uint64_t ok = m->responses - m->status_errors, classes[6] = { 0 };
		static const double pcts[] = { 50, 90, 99, 99.9 };
		static const char *pnames[] = { "p50", "p90", "p99", "p99.9" };
		char b1[32], b2[32];

		win = t1 - t0;
		if (win <= 0)
			win = 1e-9;
		rps = m->responses / win;
		bps = m->bytes / win;
		for (unsigned s = 0; s < MAX_STATUS; s++)
			classes[s ? s / 100 : 0] += m->status[s];
		if (o.json) {
			FILE *f = stdout;
			bool first = true;

			fprintf(f, "{\"url\":");
			json_str(f, o.target);
			fprintf(f, ",\"batch\":%s", o.batch ? "true" : "false");
			fprintf(f, ",\"connections\":%u,\"threads\":%u,\"depth\":%u,\"requests_per_conn\":%" PRIu64
				   ",\"templates\":%u,\"warmup_s\":%.3f,\"duration_s\":%.6f",
				o.conns, o.threads, o.depth, o.reqs_per_conn, o.nt,
				o.warmup_s > 0 ? t0 - t_start : 0.0, win);
			fprintf(f, ",\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"status_errors\":%" PRIu64
				   ",\"rps\":%.1f,\"bytes\":%" PRIu64 ",\"bytes_per_s\":%.1f,\"interim\":%" PRIu64,
				m->responses, ok, m->status_errors, rps, m->bytes, bps, m->interim);
			fprintf(f, ",\"latency_us\":{");
			for (unsigned k = 0; k < 4; k++)
				fprintf(f, "\"%s\":%.1f,", pnames[k], zl_hist_percentile(&m->lat, pcts[k]) / 1e3);
			fprintf(f, "\"mean\":%.1f,\"min\":%.1f,\"max\":%.1f}", zl_hist_mean(&m->lat) / 1e3,
				m->lat.min / 1e3, m->lat.max / 1e3);
			fprintf(f, ",\"status\":{");
			for (unsigned s = 0; s < MAX_STATUS; s++) {
				if (!m->status[s])
					continue;
				fprintf(f, "%s\"%s%u\":%" PRIu64, first ? "" : ",", s ? "" : ">=", s ? s : 600,
					m->status[s]);
				first = false;
			}
			fprintf(f, "},\"status_classes\":{\"1xx\":%" PRIu64 ",\"2xx\":%" PRIu64 ",\"3xx\":%" PRIu64
				   ",\"4xx\":%" PRIu64 ",\"5xx\":%" PRIu64 ",\"other\":%" PRIu64 "}",
				classes[1], classes[2], classes[3], classes[4], classes[5], classes[0]);
			fprintf(f, ",\"template_ok\":[");
			for (unsigned k = 0; k < o.nt && k < MAX_TPL_STATS; k++)
				fprintf(f, "%s%" PRIu64, k ? "," : "", m->tpl_ok[k]);
			fputc(']', f);
			fprintf(f, ",\"errors\":{\"connect\":%" PRIu64 ",\"read\":%" PRIu64 ",\"write\":%" PRIu64
				   ",\"timeout\":%" PRIu64 ",\"parse\":%" PRIu64 ",\"body\":%" PRIu64 ",\"last\":",
				sum.connect_errors, sum.read_errors, sum.write_errors, sum.timeouts, sum.parse_errors,
				sum.body_errors);
			json_str(f, sum.last_error ? zg_strerror(sum.last_error) : "");
			fputc('}', f);
			fprintf(f, ",\"totals\":{\"sent\":%" PRIu64 ",\"responses\":%" PRIu64 ",\"unanswered\":%" PRIu64
				   ",\"connects\":%" PRIu64 ",\"reconnects\":%" PRIu64 ",\"server_closes\":%" PRIu64
				   ",\"warmup_responses\":%" PRIu64 ",\"drain_responses\":%" PRIu64
				   ",\"status_errors\":%" PRIu64 ",\"ws_upgrades\":%" PRIu64
				   ",\"ws_upgrades_refused\":%" PRIu64 "}",
				sum.sent, sum.responses, sum.unanswered, sum.connects, sum.reconnects,
				sum.server_closes, tot[PH_WARMUP].responses, tot[PH_DRAIN].responses,
				tot[PH_WARMUP].status_errors + m->status_errors + tot[PH_DRAIN].status_errors,
				sum.upgrades, sum.upgrades_refused);
			fprintf(f, ",\"cpu_s\":%.3f,\"cpu_us_per_req\":%.3f,\"total_cpu_s\":%.3f,\"run_s\":%.6f}\n",
				cpu, m->responses ? 1e6 * cpu / m->responses : 0.0, total_cpu, t_end - t_start);
		} else {
			printf("zerg-load %s: %u connection(s), %u thread(s), depth %u%s, %.2f s",
			       o.target, o.conns, o.threads, o.depth,
			       o.reqs_per_conn ? ", reconnecting (-r)" : "", win);
			if (o.warmup_s > 0)
				printf(" after %.2f s warm-up", t0 - t_start);
			printf("\n");
			printf("  requests    %" PRIu64 " (%.0f/s), 2xx/3xx %" PRIu64 ", other %" PRIu64 "\n",
			       m->responses, rps, ok, m->status_errors);
			printf("  latency    ");
			for (unsigned k = 0; k < 4; k++)
				printf(" %s %s", pnames[k],
				       human_ns((double)zl_hist_percentile(&m->lat, pcts[k]), b1, sizeof(b1)));
			printf("  max %s  mean %s\n", human_ns((double)m->lat.max, b1, sizeof(b1)),
			       human_ns(zl_hist_mean(&m->lat), b2, sizeof(b2)));
			printf("  received    %s (%s/s)\n", human_bytes((double)m->bytes, b1, sizeof(b1)),
			       human_bytes(bps, b2, sizeof(b2)));
			printf("  status     ");
			for (unsigned s = 0; s < MAX_STATUS; s++)
				if (m->status[s])
					printf(" %u: %" PRIu64, s ? s : 600, m->status[s]);
			if (m->interim)
				printf(" (and %" PRIu64 " interim 1xx)", m->interim);
			printf("\n");
			if (o.nt > 1) {
				printf("  2xx per template");
				for (unsigned k = 0; k < o.nt && k < MAX_TPL_STATS; k++)
					printf(" %" PRIu64, m->tpl_ok[k]);
				printf("\n");
			}
			printf("  connections %" PRIu64 " opened, %" PRIu64 " reconnects, %" PRIu64
			       " closed by the server\n",
			       sum.connects, sum.reconnects, sum.server_closes);
			if (o.ws)
				printf("  websocket   %" PRIu64 " upgrades, %" PRIu64 " refused (status above)\n",
				       sum.upgrades, sum.upgrades_refused);
			printf("  errors      connect %" PRIu64 ", read %" PRIu64 ", write %" PRIu64
			       ", timeout %" PRIu64 ", parse %" PRIu64 ", body %" PRIu64 "%s%s\n",
			       sum.connect_errors, sum.read_errors, sum.write_errors, sum.timeouts,
			       sum.parse_errors, sum.body_errors, sum.last_error ? "; last: " : "",
			       sum.last_error ? zg_strerror(sum.last_error) : "");
			printf("  totals      sent %" PRIu64 ", answered %" PRIu64 ", unanswered %" PRIu64 "\n",
			       sum.sent, sum.responses, sum.unanswered);
			printf("  cpu         %.2f s in the window (%.2f us/request), %.2f s in all\n", cpu,
			       m->responses ? 1e6 * cpu / m->responses : 0.0, total_cpu);
		}
	}
	free(tot); /* the per-phase totals (LeakSanitizer in the test pass) */
	return failed ? 1 : 0;
}
