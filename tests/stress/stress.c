/* SPDX-License-Identifier: MIT */
/*
 * stress: a concurrent differential stress client for httparena-server.
 *
 * Many connections at once replay request streams that are a pure
 * function of (seed, connection number): pipelined requests, written in
 * pieces cut at random points (inside heads, chunk-size lines and
 * bodies), large chunked and Content-Length uploads, bad chunk lines
 * followed by more requests, resets and half-closes. Every answer is
 * compared with the one the stream implies, so a byte of one connection
 * that reaches another shows up as a wrong answer.
 *
 * Every number in a stream is tagged with its connection: the query of
 * request i of connection C starts with a = C*10^8 + i*100, and the rest
 * of the sum (b plus the body) stays below 100, so a wrong /baseline11
 * answer names the connection and request whose bytes it was computed
 * from. Upload bodies are filled with tagged requests too (index
 * FILLER_IDX), so body bytes parsed as a head by another connection also
 * show whose they were.
 *
 *   stress --port P [--seed S] [--conns N] [--rounds R] [--reqs M] ...
 *   stress --probe plain|bundle|inc     exit 0 if the mode is available
 *                                       here, 77 if the kernel lacks it
 *
 * Exit status: 0 all answers right, 1 a wrong, missing or extra answer
 * (each printed with the seed that reproduces it), 2 usage or setup.
 * Only ever connects to 127.0.0.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zerg.h>

#define TAG_CONN   UINT64_C(100000000) /* a = cid * TAG_CONN + idx * 100 */
#define FILLER_IDX 999999u              /* idx of the requests in bodies  */
#define PIECE      16384u               /* generate output this much at a time */
#define OUT_HIGH   (64u << 10)          /* pending output before we stop generating */
#define MAX_HEAD   8192u                /* a response head longer is malformed */

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

struct opts {
	unsigned port;
	uint64_t seed;
	unsigned conns;      /* connections open at once (slots) */
	unsigned rounds;     /* connections per slot, one after the other */
	unsigned reqs;       /* mean answered requests per connection */
	unsigned upload_max; /* largest upload body */
	unsigned pad_max;    /* largest header padding per request */
	unsigned timeout_s;  /* the whole run */
	unsigned max_report; /* failures printed in full */
	unsigned pct_bad, pct_reset, pct_half, pct_close;
	bool verbose;
};

static struct opts opt = {
	.seed = 1, .conns = 128, .rounds = 4, .reqs = 12, .upload_max = 256 << 10,
	.pad_max = 600, .timeout_s = 30, .max_report = 20,
	.pct_bad = 10, .pct_reset = 10, .pct_half = 10, .pct_close = 10,
};

/* ------------------------------------------------------------------ */
/* PRNG: splitmix64, one state per purpose so the stream a connection */
/* sends does not depend on how its writes happened to be cut.         */
/* ------------------------------------------------------------------ */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n); n == 0 gives 0. */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

static bool rng_pct(struct rng *r, unsigned pct)
{
	return rng_below(r, 100) < pct;
}

static struct rng rng_for(uint64_t seed, uint64_t cid, uint64_t purpose)
{
	struct rng r = { seed ^ (cid * UINT64_C(0xd1b54a32d192ed03)) ^ (purpose << 56) };
	rng_next(&r);
	return r;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Growable byte buffer                                                */
/* ------------------------------------------------------------------ */

struct buf {
	char *p;
	size_t len, cap, off; /* bytes [off, len) are pending */
};

static void buf_reserve(struct buf *b, size_t more)
{
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + more <= b->cap)
		return;
	if (b->off) { /* compact before growing */
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + more <= b->cap)
			return;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	b->p = realloc(b->p, cap);
	if (!b->p) {
		fprintf(stderr, "stress: out of memory\n");
		exit(2);
	}
	b->cap = cap;
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	buf_reserve(b, 256);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static size_t buf_pending(const struct buf *b)
{
	return b->len - b->off;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------ */
/* The plan of a connection: a pure function of (seed, cid)            */
/* ------------------------------------------------------------------ */

enum fate {
	F_NORMAL,     /* all answers, then we close */
	F_CLOSE_HDR,  /* the last request says Connection: close */
	F_HALF_CLOSE, /* shutdown(SHUT_WR) after the last byte, maybe mid-request */
	F_RESET,      /* RST after a prefix of one more request */
	F_BAD_CHUNK,  /* the last answered request has a bad chunk line: 400 */
};

static const char *const fate_name[] = {
	"normal", "close-header", "half-close", "reset", "bad-chunk",
};

struct plan {
	unsigned nreq;      /* requests that must be answered (incl. the 400) */
	enum fate fate;
	unsigned after_bad; /* requests sent after the bad chunk line */
	bool reset_wait;    /* reset only after every answer is in */
	bool partial;       /* half-close/reset: a prefix of one more request */
	unsigned window;    /* requests in flight at most */
	unsigned small_pct; /* writes of 1..256 bytes (else up to 64 KiB) */
	unsigned pause_pct; /* a write is followed by a 1-4 ms pause */
};

static enum fate pick_fate(struct rng *r)
{
	unsigned x = (unsigned)rng_below(r, 100);
	if (x < opt.pct_bad)
		return F_BAD_CHUNK;
	x -= opt.pct_bad;
	if (x < opt.pct_reset)
		return F_RESET;
	x -= opt.pct_reset;
	if (x < opt.pct_half)
		return F_HALF_CLOSE;
	x -= opt.pct_half;
	return x < opt.pct_close ? F_CLOSE_HDR : F_NORMAL;
}

static void plan_make(uint64_t cid, struct plan *p)
{
	static const unsigned windows[] = { 1, 2, 4, 16, 64, 100000 };
	static const unsigned smalls[] = { 0, 0, 25, 75 };
	static const unsigned pauses[] = { 0, 0, 2, 10 };
	struct rng r = rng_for(opt.seed, cid, 1);

	memset(p, 0, sizeof(*p));
	p->nreq = 1 + (unsigned)rng_below(&r, 2 * opt.reqs);
	p->fate = pick_fate(&r);
	p->after_bad = 5 + (unsigned)rng_below(&r, 200);
	p->reset_wait = rng_pct(&r, 50);
	p->partial = rng_pct(&r, 70);
	p->window = windows[rng_below(&r, 6)];
	p->small_pct = smalls[rng_below(&r, 4)];
	p->pause_pct = pauses[rng_below(&r, 4)];
	if (p->fate == F_RESET && !p->reset_wait)
		p->partial = true;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

enum kind { K_GET, K_POST_CL, K_POST_CHUNKED, K_PIPELINE, K_NOT_FOUND,
	    K_UPLOAD_CHUNKED, K_UPLOAD_CL, K_BAD };

static const char *const kind_name[] = {
	"GET /baseline11", "POST /baseline11 (Content-Length)",
	"POST /baseline11 (chunked)", "GET /pipeline", "GET (404)",
	"POST /upload (chunked)", "POST /upload (Content-Length)",
	"POST /upload (chunked, bad chunk line)",
};

struct expect {
	int64_t value;   /* the number in the body (200 answers of numbers) */
	uint16_t status;
	uint8_t kind;
	bool expect100;  /* sent Expect: 100-continue: a 100 may come first */
};

/* A body being generated piece by piece (uploads are up to MiBs). */
struct body_gen {
	bool active, chunked, trailer;
	uint64_t left;    /* payload bytes still to generate */
	uint64_t emitted; /* payload bytes generated */
	uint64_t bad_at;  /* chunked: the bad line comes after this many; ~0 none */
	unsigned bad_kind;
};

struct conn {
	int fd;
	unsigned slot, round;
	uint64_t cid;
	struct plan plan;
	struct rng grng; /* what is sent */
	struct rng trng; /* how it is cut into writes */
	struct body_gen body;
	char filler[128];
	size_t filler_len, filler_off;
	bool expect100;        /* the request being generated asks for a 100 */
	/* sending */
	unsigned next_req;     /* index of the next request to generate */
	struct expect *exp;
	unsigned nexp;
	struct buf out;
	uint64_t sent_bytes;
	uint64_t cut_at;       /* stream offset of the reset / half-close; ~0 */
	bool last_started;     /* the stream's last request is being generated */
	bool gen_done;         /* the whole stream is generated */
	bool wr_closed;        /* shut down, or the server stopped reading */
	bool cut_done;         /* our reset or half-close happened */
	uint64_t pause_until;
	/* receiving */
	struct buf in;
	unsigned answered;
	bool got100;     /* the current request had its 100 Continue */
	bool partial100; /* the unanswered last prefix asked for one  */
	bool eof, failed;
	uint32_t events;
};

struct stats {
	uint64_t conns, requests, answers, continues, bytes_out, bytes_in;
	uint64_t wrong, missing, extra, stuck, failed_conns;
	uint64_t fates[5];
	unsigned reported;
};

static struct stats st;
static int epfd;

static void conn_name(char *b, size_t n, uint64_t cid)
{
	snprintf(b, n, "conn %" PRIu64 " (slot %" PRIu64 " round %" PRIu64 ")", cid,
		 (cid - 1) / opt.rounds, (cid - 1) % opt.rounds);
}

static bool report_more(void)
{
	return st.reported++ < opt.max_report;
}

static void vfail(struct conn *c, const char *fmt, va_list ap)
{
	char name[96];
	c->failed = true;
	if (!report_more())
		return;
	conn_name(name, sizeof(name), c->cid);
	printf("FAIL seed=%" PRIu64 " %s [%s, %u answers planned]: ", opt.seed, name,
	       fate_name[c->plan.fate], c->plan.nreq);
	vprintf(fmt, ap);
	putchar('\n');
}

static void fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(c, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Request generation                                                  */
/* ------------------------------------------------------------------ */

/* Stream offset of the next byte generated (out may be compacted, so
 * offsets are counted from what went out plus what is pending). */
static uint64_t stream_end(const struct conn *c)
{
	return c->sent_bytes + buf_pending(&c->out);
}

/* The last request's head is out: the stream ends with its body. */
static void last_request(struct conn *c)
{
	c->last_started = true;
	c->gen_done = !c->body.active;
}

static uint64_t tag(const struct conn *c, unsigned idx)
{
	return c->cid * TAG_CONN + (uint64_t)idx * 100;
}

/* Upload bodies are tagged requests of their own connection, so bytes
 * of a body that another connection parses as requests say whose. */
static void filler_init(struct conn *c)
{
	c->filler_len = (size_t)snprintf(c->filler, sizeof(c->filler),
		"GET /baseline11?a=%" PRIu64 "&b=1 HTTP/1.1\r\nHost: f\r\n\r\n",
		tag(c, FILLER_IDX));
	c->filler_off = 0;
}

static void add_filler(struct conn *c, size_t n)
{
	buf_reserve(&c->out, n);
	while (n) {
		size_t k = c->filler_len - c->filler_off;
		if (k > n)
			k = n;
		memcpy(c->out.p + c->out.len, c->filler + c->filler_off, k);
		c->out.len += k;
		c->filler_off = (c->filler_off + k) % c->filler_len;
		n -= k;
	}
}

/* Header lines that make heads straddle ring buffers. */
static void add_padding(struct conn *c)
{
	unsigned lines = (unsigned)rng_below(&c->grng, 4);
	for (unsigned i = 0; i < lines; i++) {
		size_t n = (size_t)rng_below(&c->grng, opt.pad_max / 3 + 1);
		buf_printf(&c->out, "X-Pad-%u: ", i);
		buf_reserve(&c->out, n + 2);
		for (size_t k = 0; k < n; k++)
			c->out.p[c->out.len++] = (char)('a' + rng_below(&c->grng, 26));
		buf_add(&c->out, "\r\n", 2);
	}
}

/* "POST /path HTTP/1.1" + Host + padding + framing + the blank line. */
static void add_head(struct conn *c, const char *method, const char *target,
		     int64_t content_length, bool chunked, bool close)
{
	buf_printf(&c->out, "%s %s HTTP/1.1\r\nHost: localhost\r\n", method, target);
	add_padding(c);
	if (c->expect100)
		buf_printf(&c->out, "Expect: 100-continue\r\n");
	if (chunked)
		buf_printf(&c->out, "Transfer-Encoding: chunked\r\n");
	else if (content_length >= 0)
		buf_printf(&c->out, "Content-Length: %" PRId64 "\r\n", content_length);
	if (close)
		buf_printf(&c->out, "Connection: close\r\n");
	buf_add(&c->out, "\r\n", 2);
}

/* A small number as a body: "  0042 " (whitespace and leading zeros
 * are allowed around the digits), long enough to straddle buffers. */
static void number_body(struct conn *c, unsigned z, char *b, size_t cap, size_t *n)
{
	unsigned lead = (unsigned)rng_below(&c->grng, 40);
	unsigned zeros = (unsigned)rng_below(&c->grng, 12);
	unsigned trail = (unsigned)rng_below(&c->grng, 4);
	size_t k = 0;
	for (unsigned i = 0; i < lead && k < cap - 32; i++)
		b[k++] = rng_pct(&c->grng, 20) ? '\t' : ' ';
	for (unsigned i = 0; i < zeros; i++)
		b[k++] = '0';
	k += (size_t)snprintf(b + k, cap - k, "%u", z);
	for (unsigned i = 0; i < trail; i++)
		b[k++] = ' ';
	*n = k;
}

/* The body in 1..4 chunks, sizes in hex of either case. */
static void add_chunked(struct conn *c, const char *b, size_t n)
{
	size_t off = 0;
	while (off < n) {
		size_t k = 1 + (size_t)rng_below(&c->grng, n - off);
		buf_printf(&c->out, rng_pct(&c->grng, 50) ? "%zx\r\n" : "%zX\r\n", k);
		buf_add(&c->out, b + off, k);
		buf_add(&c->out, "\r\n", 2);
		off += k;
	}
	buf_add(&c->out, "0\r\n\r\n", 5);
}

static void gen_baseline(struct conn *c, enum kind k, bool close, struct expect *e)
{
	char target[96], body[96];
	unsigned b = (unsigned)rng_below(&c->grng, 50), z = (unsigned)rng_below(&c->grng, 50);
	size_t n;
	uint64_t a = tag(c, c->next_req);

	snprintf(target, sizeof(target), "/baseline11?a=%" PRIu64 "&b=%u", a, b);
	if (k == K_GET) {
		add_head(c, "GET", target, -1, false, close);
		e->value = (int64_t)(a + b);
		return;
	}
	number_body(c, z, body, sizeof(body), &n);
	add_head(c, "POST", target, (int64_t)n, k == K_POST_CHUNKED, close);
	if (k == K_POST_CHUNKED)
		add_chunked(c, body, n);
	else
		buf_add(&c->out, body, n);
	e->value = (int64_t)(a + b + z);
}

/* Upload sizes: mostly small, sometimes up to --upload-max. */
static uint64_t upload_size(struct conn *c)
{
	uint64_t max = opt.upload_max;
	switch (rng_below(&c->grng, 4)) {
	case 0: return rng_below(&c->grng, 64);
	case 1: return rng_below(&c->grng, max / 16 + 1);
	default: return rng_below(&c->grng, max + 1);
	}
}

static void gen_upload(struct conn *c, enum kind k, bool close, struct expect *e)
{
	char target[64];
	struct body_gen *g = &c->body;
	uint64_t size = upload_size(c);

	snprintf(target, sizeof(target), "/upload?a=%" PRIu64, tag(c, c->next_req));
	memset(g, 0, sizeof(*g));
	/* The body follows at once; the server answers 100 Continue only
	 * when it has not arrived yet, so the 100 is optional. */
	c->expect100 = e->expect100 = rng_pct(&c->grng, 15);
	g->chunked = k != K_UPLOAD_CL;
	g->trailer = rng_pct(&c->grng, 20);
	g->left = size;
	g->bad_at = UINT64_MAX;
	if (k == K_BAD) {
		/* A big body before the bad line, as the outside report had. */
		g->bad_at = rng_pct(&c->grng, 20) ? rng_below(&c->grng, 64)
						   : size / 2 + rng_below(&c->grng, size / 2 + 1);
		g->bad_kind = (unsigned)rng_below(&c->grng, 6);
		g->left = g->bad_at + 1; /* the body never ends */
	}
	add_head(c, "POST", target, (int64_t)size, g->chunked, close);
	c->expect100 = false;
	g->active = true;
	e->value = (int64_t)size;
	e->status = k == K_BAD ? 400 : 200;
}

/* A chunk size line no decoder may accept. */
static void add_bad_line(struct conn *c, unsigned kind)
{
	static const char *const bad[] = {
		"zz\r\n", "\r\n", "1g\r\n", "-5\r\n", "fffffffffffffffff\r\n",
	};
	if (kind < 5) {
		buf_printf(&c->out, "%s", bad[kind]);
		return;
	}
	/* Or a chunk whose data is not followed by CRLF. */
	buf_add(&c->out, "3\r\nabcXY\r\n", 10);
}

static size_t chunk_size(struct conn *c, uint64_t left)
{
	uint64_t max = left < PIECE ? left : PIECE;
	switch (rng_below(&c->grng, 3)) {
	case 0: return 1 + (size_t)rng_below(&c->grng, max < 16 ? max : 16);
	default: return 1 + (size_t)rng_below(&c->grng, max);
	}
}

/* The next piece of an upload body: a chunk, or up to PIECE bytes. */
static void gen_body_piece(struct conn *c)
{
	struct body_gen *g = &c->body;
	if (!g->chunked) {
		size_t n = g->left < PIECE ? (size_t)g->left : PIECE;
		add_filler(c, n);
		g->left -= n;
		g->active = g->left > 0;
		return;
	}
	if (g->emitted >= g->bad_at) {
		add_bad_line(c, g->bad_kind);
		g->active = false;
		return;
	}
	if (g->left == 0) {
		buf_printf(&c->out, "0\r\n%s\r\n", g->trailer ? "X-Trailer: t\r\n" : "");
		g->active = false;
		return;
	}
	uint64_t room = g->bad_at != UINT64_MAX ? g->bad_at - g->emitted + 1 : g->left;
	size_t n = chunk_size(c, room < g->left ? room : g->left);
	buf_printf(&c->out, rng_pct(&c->grng, 10) ? "000%zx\r\n" : "%zx\r\n", n);
	add_filler(c, n);
	buf_add(&c->out, "\r\n", 2);
	g->emitted += n;
	g->left -= n;
}

static enum kind pick_kind(struct conn *c)
{
	static const enum kind weights[20] = {
		K_GET, K_GET, K_GET, K_GET, K_GET, K_GET,
		K_POST_CL, K_POST_CL, K_POST_CL, K_POST_CL,
		K_POST_CHUNKED, K_POST_CHUNKED, K_POST_CHUNKED,
		K_PIPELINE, K_PIPELINE, K_NOT_FOUND,
		K_UPLOAD_CHUNKED, K_UPLOAD_CHUNKED, K_UPLOAD_CL, K_UPLOAD_CL,
	};
	return weights[rng_below(&c->grng, 20)];
}

/* One whole request (or the head of an upload) into out; its answer
 * into e. */
static void gen_request(struct conn *c, enum kind k, bool close, struct expect *e)
{
	char target[64];
	memset(e, 0, sizeof(*e));
	e->kind = (uint8_t)k;
	e->status = 200;
	switch (k) {
	case K_PIPELINE:
		add_head(c, "GET", "/pipeline", -1, false, close);
		break;
	case K_NOT_FOUND:
		snprintf(target, sizeof(target), "/nope?a=%" PRIu64, tag(c, c->next_req));
		add_head(c, "GET", target, -1, false, close);
		e->status = 404;
		break;
	case K_UPLOAD_CHUNKED:
	case K_UPLOAD_CL:
	case K_BAD:
		gen_upload(c, k, close, e);
		break;
	default:
		gen_baseline(c, k, close, e);
	}
}

/* Where a reset or half-close cuts the request that starts at `start`:
 * somewhere before its last byte. */
static void set_cut(struct conn *c, uint64_t start, uint64_t min_len)
{
	c->cut_at = start + rng_below(&c->grng, min_len ? min_len : 1);
}

/* The request after the answered ones, of which only a prefix goes out
 * (reset, half-close), or the unanswered ones after a bad chunk line. */
static void gen_unanswered(struct conn *c)
{
	const struct plan *p = &c->plan;
	struct expect dummy;
	uint64_t start = stream_end(c);

	if (p->fate == F_BAD_CHUNK) {
		gen_request(c, pick_kind(c), false, &dummy);
		if (++c->next_req >= p->nreq + p->after_bad)
			last_request(c);
		return;
	}
	if (!p->partial) {
		c->cut_at = start;
		last_request(c);
		return;
	}
	gen_request(c, pick_kind(c), false, &dummy);
	/* Its head may be complete (the cut is in the body), and then a 100
	 * Continue for it is right, though no answer is owed. */
	c->partial100 = dummy.expect100;
	/* The prefix ends before the head's last byte or inside the body
	 * (a chunked body is longer than its payload). */
	uint64_t len = stream_end(c) - start;
	if (c->body.active)
		len += c->body.left;
	set_cut(c, start, len);
	c->next_req++;
	last_request(c);
}

static bool may_generate(const struct conn *c)
{
	const struct plan *p = &c->plan;
	if (c->body.active)
		return true;
	if (c->gen_done || buf_pending(&c->out) >= OUT_HIGH)
		return false;
	if (c->next_req < p->nreq)
		return c->next_req - c->answered < p->window;
	/* A reset that waits for its answers first. */
	if (p->fate == F_RESET && p->reset_wait)
		return c->answered >= p->nreq;
	return true;
}

static void gen_next(struct conn *c)
{
	const struct plan *p = &c->plan;

	if (c->body.active) {
		gen_body_piece(c);
		c->gen_done = !c->body.active && c->last_started;
	} else if (c->next_req < p->nreq) {
		bool last = c->next_req + 1 == p->nreq;
		enum kind k = last && p->fate == F_BAD_CHUNK ? K_BAD : pick_kind(c);
		struct expect *e = &c->exp[c->nexp++];
		gen_request(c, k, last && p->fate == F_CLOSE_HDR, e);
		st.requests++;
		c->next_req++;
		if (last && (p->fate == F_NORMAL || p->fate == F_CLOSE_HDR))
			last_request(c);
	} else {
		gen_unanswered(c);
	}
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

struct resp {
	unsigned status;
	const char *body;
	size_t body_len, total;
};

static bool header_is(const char *line, size_t n, const char *name)
{
	size_t k = strlen(name);
	return n > k && !strncasecmp(line, name, k) && line[k] == ':';
}

/* Content-Length of the head [p, p+n); -1 if none or bad. */
static long content_length(const char *p, size_t n)
{
	const char *end = p + n;
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
		if (header_is(p, len, "content-length")) {
			char tmp[32];
			size_t v = len - 15;
			if (v >= sizeof(tmp))
				return -1;
			memcpy(tmp, p + 15, v);
			tmp[v] = 0;
			return strtol(tmp, NULL, 10);
		}
		p += len + 2;
	}
	return -1;
}

/* 1: one response parsed, 0: need more bytes, -1: not HTTP. */
static int parse_response(const struct buf *in, struct resp *r)
{
	const char *p = in->p + in->off;
	size_t n = buf_pending(in);
	const char *eoh = memmem(p, n, "\r\n\r\n", 4);
	if (!eoh)
		return n > MAX_HEAD || (n >= 5 && memcmp(p, "HTTP/", 5)) ? -1 : 0;
	size_t hl = (size_t)(eoh - p) + 4;
	if (hl < 12 || memcmp(p, "HTTP/1.1 ", 9))
		return -1;
	r->status = (unsigned)atoi(p + 9);
	long cl = r->status < 200 ? 0 : content_length(p, hl - 2);
	if (cl < 0 || cl > (1 << 20))
		return -1;
	if (n < hl + (size_t)cl)
		return 0;
	r->body = p + hl;
	r->body_len = (size_t)cl;
	r->total = hl + (size_t)cl;
	return 1;
}

/* What a wrong number says about where its bytes came from. */
static void explain_value(const char *b, size_t n, char *out, size_t cap)
{
	char tmp[32], name[96];
	out[0] = 0;
	if (n == 0 || n >= sizeof(tmp))
		return;
	memcpy(tmp, b, n);
	tmp[n] = 0;
	char *end;
	unsigned long long v = strtoull(tmp, &end, 10);
	if (*end || v < TAG_CONN)
		return;
	uint64_t cid = v / TAG_CONN, idx = (v % TAG_CONN) / 100;
	if (cid == 0 || cid > (uint64_t)opt.conns * opt.rounds)
		return;
	struct plan p;
	plan_make(cid, &p);
	conn_name(name, sizeof(name), cid);
	if (idx == FILLER_IDX)
		snprintf(out, cap, " (the bytes of an upload body of %s [%s])", name,
			 fate_name[p.fate]);
	else
		snprintf(out, cap, " (the answer to request %" PRIu64 " of %s [%s]%s)", idx,
			 name, fate_name[p.fate],
			 p.fate == F_BAD_CHUNK && idx >= p.nreq ? ", sent after its bad chunk line"
								: "");
}

static bool answer_matches(const struct expect *e, const struct resp *r)
{
	char want[32];
	int n;
	if (r->status != e->status)
		return false;
	if (e->status != 200)
		return true; /* 400 and 404: the status is the answer */
	if (e->kind == K_PIPELINE)
		return r->body_len == 2 && !memcmp(r->body, "ok", 2);
	n = snprintf(want, sizeof(want), "%" PRId64, e->value);
	return r->body_len == (size_t)n && !memcmp(r->body, want, (size_t)n);
}

static void check_answer(struct conn *c, const struct resp *r)
{
	char got[64], why[192];
	size_t n = r->body_len < 40 ? r->body_len : 40;
	unsigned i = c->answered++;

	st.answers++;
	c->got100 = false;
	if (i >= c->nexp) {
		st.extra++;
		memcpy(got, r->body, n);
		got[n] = 0;
		explain_value(r->body, r->body_len, why, sizeof(why));
		fail(c, "extra answer #%u: got %u '%s'%s", i, r->status, got, why);
		return;
	}
	const struct expect *e = &c->exp[i];
	if (answer_matches(e, r))
		return;
	st.wrong++;
	memcpy(got, r->body, n);
	got[n] = 0;
	explain_value(r->body, r->body_len, why, sizeof(why));
	if (e->status == 200 && e->kind != K_PIPELINE)
		fail(c, "request %u (%s): expected 200 '%" PRId64 "', got %u '%s'%s", i,
		     kind_name[e->kind], e->value, r->status, got, why);
	else
		fail(c, "request %u (%s): expected %u%s, got %u '%s'%s", i, kind_name[e->kind],
		     e->status, e->kind == K_PIPELINE ? " 'ok'" : "", r->status, got, why);
}

/* A 100 Continue: only for a request that asked, at most once. */
static void check_continue(struct conn *c)
{
	unsigned i = c->answered;
	if (!c->got100 && ((i < c->nexp && c->exp[i].expect100) ||
			   (i == c->nexp && c->partial100))) {
		c->got100 = true;
		st.continues++;
		return;
	}
	st.wrong++;
	fail(c, "unexpected 100 Continue before answer %u", i);
}

/* ------------------------------------------------------------------ */
/* Socket I/O                                                          */
/* ------------------------------------------------------------------ */

static void set_events(struct conn *c, uint32_t ev)
{
	if (c->events == ev)
		return;
	struct epoll_event e = { .events = ev, .data.ptr = c };
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
	c->events = ev;
}

static void read_input(struct conn *c)
{
	for (;;) {
		buf_reserve(&c->in, 65536);
		ssize_t n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
		if (n > 0) {
			c->in.len += (size_t)n;
			st.bytes_in += (uint64_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			/* ECONNRESET counts as the end of input too; whether
			 * it was allowed is decided by what was answered. */
			c->eof = true;
			if (n < 0 && c->plan.fate != F_BAD_CHUNK)
				fail(c, "recv: %s after %u answers", strerror(errno), c->answered);
		}
		if (n == 0 || errno != EINTR)
			return;
	}
}

static void parse_input(struct conn *c)
{
	struct resp r;
	int rc;
	while ((rc = parse_response(&c->in, &r)) == 1) {
		if (r.status == 100)
			check_continue(c);
		else
			check_answer(c, &r);
		c->in.off += r.total;
	}
	if (rc < 0 && !c->failed) {
		char got[48];
		size_t n = buf_pending(&c->in) < 40 ? buf_pending(&c->in) : 40;
		memcpy(got, c->in.p + c->in.off, n);
		got[n] = 0;
		fail(c, "not an HTTP/1.1 response after %u answers: '%s'", c->answered, got);
		c->in.off = c->in.len;
		c->eof = true;
	}
}

/* The size of the next write: a few bytes or a lot, so the stream is
 * cut at random points. */
static size_t write_size(struct conn *c, size_t avail)
{
	size_t n = rng_pct(&c->trng, c->plan.small_pct) ? 1 + (size_t)rng_below(&c->trng, 256)
							 : 1 + (size_t)rng_below(&c->trng, 65536);
	return n < avail ? n : avail;
}

/* The reset or half-close, once the stream is out up to its cut. */
static void do_cut(struct conn *c)
{
	if (c->plan.fate == F_RESET) {
		struct linger lg = { 1, 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		c->eof = true; /* the connection ends here */
	} else {
		shutdown(c->fd, SHUT_WR);
	}
	c->wr_closed = true;
	c->cut_done = true;
}

static bool at_cut(const struct conn *c)
{
	return c->cut_at != UINT64_MAX && c->sent_bytes >= c->cut_at;
}

/* Bytes that may go out now: pending output, up to the cut. */
static size_t sendable(struct conn *c)
{
	while (buf_pending(&c->out) == 0 && may_generate(c))
		gen_next(c);
	while (buf_pending(&c->out) < PIECE && may_generate(c))
		gen_next(c);
	size_t n = buf_pending(&c->out);
	if (c->cut_at != UINT64_MAX && c->sent_bytes + n > c->cut_at)
		n = (size_t)(c->cut_at - c->sent_bytes);
	return n;
}

static void write_output(struct conn *c)
{
	while (!c->wr_closed && now_ms() >= c->pause_until) {
		size_t n = sendable(c);
		if (n == 0) {
			if (at_cut(c) || (c->gen_done && c->plan.fate == F_HALF_CLOSE &&
					  c->cut_at == UINT64_MAX))
				do_cut(c);
			return;
		}
		ssize_t w = send(c->fd, c->out.p + c->out.off, write_size(c, n), MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				c->wr_closed = true; /* the server closed; reads tell the rest */
			return;
		}
		c->out.off += (size_t)w;
		c->sent_bytes += (uint64_t)w;
		st.bytes_out += (uint64_t)w;
		/* Pauses leave partial requests in the server's buffers;
		 * the long ones hold them while the others' data flows. */
		if (rng_pct(&c->trng, c->plan.pause_pct)) {
			c->pause_until = now_ms() + (rng_pct(&c->trng, 10) ? 20 + rng_below(&c->trng, 60)
									: 1 + rng_below(&c->trng, 4));
			return;
		}
		/* Small writes let the other connections go in between. */
		if ((size_t)w < 256 && rng_pct(&c->trng, 50))
			return;
	}
}

/* ------------------------------------------------------------------ */
/* Connection lifecycle                                                */
/* ------------------------------------------------------------------ */

static struct conn *conns;
static unsigned live;

static int conn_open(struct conn *c, unsigned slot, unsigned round)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->slot = slot;
	c->round = round;
	c->cid = (uint64_t)slot * opt.rounds + round + 1;
	plan_make(c->cid, &c->plan);
	c->grng = rng_for(opt.seed, c->cid, 2);
	c->trng = rng_for(opt.seed, c->cid, 3);
	c->exp = calloc(c->plan.nreq, sizeof(*c->exp));
	c->cut_at = UINT64_MAX;
	filler_init(c);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || !c->exp)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) && errno != EINPROGRESS)
		return -1;
	c->events = EPOLLIN | EPOLLOUT;
	struct epoll_event e = { .events = c->events, .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e))
		return -1;
	st.conns++;
	st.fates[c->plan.fate]++;
	live++;
	return 0;
}

static void conn_free(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->exp);
	c->exp = NULL;
	if (c->failed)
		st.failed_conns++;
	live--;
}

/* Once the input has ended: were all the answers there? */
static void check_end(struct conn *c)
{
	const struct plan *p = &c->plan;
	if (p->fate == F_RESET && c->cut_done)
		return; /* we reset it: what had not come is not owed */
	if ((p->fate == F_RESET || p->fate == F_HALF_CLOSE) && !c->cut_done &&
	    c->answered >= p->nreq) {
		fail(c, "the server closed before our %s", fate_name[p->fate]);
		return;
	}
	if (c->answered < c->nexp || c->nexp < p->nreq) {
		st.missing += p->nreq > c->answered ? p->nreq - c->answered : 0;
		fail(c, "the server closed after %u of %u answers (%s came next)", c->answered,
		     p->nreq, c->answered < c->nexp ? kind_name[c->exp[c->answered].kind] : "?");
	} else if (p->fate == F_NORMAL && !c->gen_done) {
		fail(c, "the server closed before the stream ended");
	}
}

/* Finished: every answer is in and, where the server must close, its
 * EOF too. */
static bool conn_finished(struct conn *c)
{
	const struct plan *p = &c->plan;
	bool all = c->answered >= p->nreq && c->nexp == p->nreq;
	if (c->eof) {
		check_end(c);
		return true;
	}
	if (c->failed && c->answered >= p->nreq)
		return true;
	if (p->fate == F_NORMAL)
		return all && c->gen_done && buf_pending(&c->out) == 0;
	return false; /* the others wait for the server's close (or our reset) */
}

static void conn_step(struct conn *c, uint32_t ev)
{
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		read_input(c);
		parse_input(c);
	}
	if (!c->eof)
		write_output(c);
	if (conn_finished(c)) {
		conn_free(c);
		return;
	}
	bool want_out = !c->wr_closed && now_ms() >= c->pause_until &&
			(buf_pending(&c->out) || may_generate(c) || at_cut(c) ||
			 (c->gen_done && c->plan.fate == F_HALF_CLOSE));
	set_events(c, EPOLLIN | (want_out ? EPOLLOUT : 0));
}

/* ------------------------------------------------------------------ */
/* The run                                                             */
/* ------------------------------------------------------------------ */

static void report_stuck(void)
{
	for (unsigned i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];
		if (c->fd < 0)
			continue;
		st.stuck++;
		st.missing += c->plan.nreq > c->answered ? c->plan.nreq - c->answered : 0;
		fail(c, "no progress by the deadline: %u of %u answers, %" PRIu64 " bytes sent of "
		     "%" PRIu64 " generated%s%s", c->answered, c->plan.nreq, c->sent_bytes,
		     stream_end(c), c->gen_done ? ", stream complete" : "",
		     c->wr_closed ? ", write side closed" : "");
		conn_free(c);
	}
}

/* Paused connections become writable again when their pause ends. */
static int wake_paused(uint64_t now)
{
	int timeout = 100;
	for (unsigned i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];
		if (c->fd < 0 || !c->pause_until)
			continue;
		if (now >= c->pause_until) {
			c->pause_until = 0;
			conn_step(c, 0);
		} else if ((int)(c->pause_until - now) < timeout) {
			timeout = (int)(c->pause_until - now);
		}
	}
	return timeout;
}

static void fill_slots(unsigned *round)
{
	for (unsigned i = 0; i < opt.conns; i++) {
		if (conns[i].fd >= 0 || round[i] >= opt.rounds)
			continue;
		if (conn_open(&conns[i], i, round[i]++)) {
			fprintf(stderr, "stress: connect to 127.0.0.1:%u: %s\n", opt.port,
				strerror(errno));
			exit(2);
		}
	}
}

static int run(void)
{
	struct epoll_event evs[256];
	unsigned *round = calloc(opt.conns, sizeof(*round));
	uint64_t t0 = now_ms(), deadline = t0 + (uint64_t)opt.timeout_s * 1000;

	conns = calloc(opt.conns, sizeof(*conns));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!round || !conns || epfd < 0)
		return -1;
	for (unsigned i = 0; i < opt.conns; i++)
		conns[i].fd = -1;
	for (;;) {
		fill_slots(round);
		if (!live)
			break;
		uint64_t now = now_ms();
		if (now >= deadline) {
			report_stuck();
			break;
		}
		int n = epoll_wait(epfd, evs, 256, wake_paused(now));
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->fd >= 0)
				conn_step(c, evs[i].events);
		}
	}
	free(round);
	free(conns);
	close(epfd);
	return (int)(now_ms() - t0);
}

/* ------------------------------------------------------------------ */
/* Probe: is a receive mode available on this kernel?                  */
/* ------------------------------------------------------------------ */

static int probe(const char *mode)
{
	struct zg_reactor_config cfg;
	struct zg_reactor *r;
	unsigned want = 0;

	zg_reactor_config_init(&cfg);
	cfg.buf_count = 16;
	cfg.max_conns = 16;
	if (!strcmp(mode, "plain")) {
		cfg.flags &= ~ZG_RF_RECV_BUNDLE;
	} else if (!strcmp(mode, "bundle")) {
		want = ZG_FEAT_RECV_BUNDLE;
	} else if (!strcmp(mode, "inc")) {
		cfg.flags |= ZG_RF_BUF_INC;
		want = ZG_FEAT_BUF_INC;
	} else {
		fprintf(stderr, "stress: --probe plain|bundle|inc\n");
		return 2;
	}
	int rc = zg_reactor_new(&cfg, NULL, NULL, &r);
	if (rc) {
		printf("libzerg cannot run here: %s\n", zg_strerror(rc));
		return 77;
	}
	bool ok = (zg_reactor_features(r) & want) == want;
	zg_reactor_free(r);
	if (!ok)
		printf("receive mode %s is not available on this kernel\n", mode);
	return ok ? 0 : 77;
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: stress --port P [options]     (connects to 127.0.0.1 only)\n"
		"       stress --probe plain|bundle|inc\n"
		"  --seed S          streams are a function of S (default 1)\n"
		"  --conns N         connections open at once (default 128)\n"
		"  --rounds R        connections per slot, one after another (default 4)\n"
		"  --reqs M          mean answered requests per connection (default 12)\n"
		"  --upload-max B    largest upload body (default 262144)\n"
		"  --pad-max B       header padding per request, at most (default 600)\n"
		"  --bad P --reset P --half P --close P\n"
		"                    percent of connections that end with a bad chunk\n"
		"                    line, a reset, a half-close, Connection: close\n"
		"                    (default 10 each; the rest end normally)\n"
		"  --timeout S       fail what is not done after S seconds (default 30)\n"
		"  --max-report N    failures printed in full (default 20)\n"
		"  --verbose         print the plan summary\n");
}

static unsigned num(const char *s, unsigned max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v > max || s[0] == '-') {
		fprintf(stderr, "stress: bad number '%s'\n", s);
		usage(stderr);
		exit(2);
	}
	return (unsigned)v;
}

static int parse_args(int argc, char **argv, const char **probe_mode)
{
	static const struct option lo[] = {
		{ "port", 1, NULL, 'p' }, { "seed", 1, NULL, 's' }, { "conns", 1, NULL, 'c' },
		{ "rounds", 1, NULL, 'r' }, { "reqs", 1, NULL, 'q' }, { "upload-max", 1, NULL, 'u' },
		{ "pad-max", 1, NULL, 'P' }, { "bad", 1, NULL, 'b' }, { "reset", 1, NULL, 'R' },
		{ "half", 1, NULL, 'H' }, { "close", 1, NULL, 'C' }, { "timeout", 1, NULL, 't' },
		{ "max-report", 1, NULL, 'm' }, { "verbose", 0, NULL, 'v' },
		{ "probe", 1, NULL, 'x' }, { "help", 0, NULL, 'h' }, { 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'p': opt.port = num(optarg, 65535); break;
		case 's': opt.seed = strtoull(optarg, NULL, 0); break;
		case 'c': opt.conns = num(optarg, 100000); break;
		case 'r': opt.rounds = num(optarg, 100000); break;
		case 'q': opt.reqs = num(optarg, 100000); break;
		case 'u': opt.upload_max = num(optarg, 1u << 30); break;
		case 'P': opt.pad_max = num(optarg, 12000); break;
		case 'b': opt.pct_bad = num(optarg, 100); break;
		case 'R': opt.pct_reset = num(optarg, 100); break;
		case 'H': opt.pct_half = num(optarg, 100); break;
		case 'C': opt.pct_close = num(optarg, 100); break;
		case 't': opt.timeout_s = num(optarg, 86400); break;
		case 'm': opt.max_report = num(optarg, 1u << 30); break;
		case 'v': opt.verbose = true; break;
		case 'x': *probe_mode = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (*probe_mode)
		return 0;
	if (optind != argc || !opt.port || !opt.conns || !opt.rounds || !opt.reqs ||
	    opt.pct_bad + opt.pct_reset + opt.pct_half + opt.pct_close > 100) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void print_summary(int ms)
{
	printf("stress: seed %" PRIu64 ": %" PRIu64 " connections (normal %" PRIu64
	       ", close-header %" PRIu64 ", half-close %" PRIu64 ", reset %" PRIu64
	       ", bad-chunk %" PRIu64 "), %" PRIu64 " requests, %" PRIu64 " answers (+%" PRIu64
	       " 100 Continue), %.1f MB out, %.1f MB in, %d ms\n",
	       opt.seed, st.conns, st.fates[F_NORMAL], st.fates[F_CLOSE_HDR],
	       st.fates[F_HALF_CLOSE], st.fates[F_RESET], st.fates[F_BAD_CHUNK], st.requests,
	       st.answers, st.continues, (double)st.bytes_out / 1e6, (double)st.bytes_in / 1e6, ms);
	if (st.failed_conns)
		printf("stress: FAILED (seed %" PRIu64 "): %" PRIu64 " connections failed: %" PRIu64
		       " wrong answers, %" PRIu64 " missing, %" PRIu64 " extra, %" PRIu64
		       " stuck\n", opt.seed, st.failed_conns, st.wrong, st.missing, st.extra,
		       st.stuck);
}

int main(int argc, char **argv)
{
	const char *probe_mode = NULL;
	if (parse_args(argc, argv, &probe_mode))
		return 2;
	if (probe_mode)
		return probe(probe_mode);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	setvbuf(stdout, NULL, _IOLBF, 0); /* FAIL lines interleave with the runner's */
	int ms = run();
	if (ms < 0)
		return 2;
	print_summary(ms);
	return st.failed_conns ? 1 : 0;
}
