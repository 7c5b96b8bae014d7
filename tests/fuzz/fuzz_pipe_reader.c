/* SPDX-License-Identifier: MIT */
/*
 * The pipe reader against a model. The input is a program: a config
 * byte (buffer count and size, max_input, compact_segs, incremental
 * buffers), then operations: deliver bytes, run the reactor once (its
 * on_data consumes, examines, makes contiguous or keeps, as the input
 * says), advance, contig, find, end of stream, pause/resume.
 *
 * The model is a byte string (the unconsumed input) plus how much of it
 * the application examined. After every operation the connection's view
 * must hold exactly the model's bytes; advance and contig must accept
 * and refuse what the API says; zg_view_find must agree with memchr;
 * on_data must run after new bytes and never without something new;
 * the connection closes only when the rules say (end of stream with
 * nothing left, or full and nothing taken) and does when they say.
 *
 * Buffer bookkeeping: received bytes are placed as the kernel would,
 * in a ring buffer the library does not hold, and announced with a
 * fabricated recv completion (as tests/unit/test_pipe_reader.c does;
 * nothing is ever written to the socket, so the kernel never fills a
 * buffer itself). The harness reads the buffer ids the library hands
 * back from the ring (the kernel ABI): a buffer must come back once,
 * only after it was lent, and all of them by the end. A returned
 * buffer is poisoned and reused first, so a stale reference shows up
 * as wrong bytes in the view. (The fuzz build also compiles the library
 * with -DZG_BUFRING_CHECKS, its own ownership checks.)
 *
 * Beyond that it uses the public calls only (zg_conn_read, advance,
 * contig, zg_view_find, pause/resume, zg_reactor_run_once), so it does
 * not depend on how the connection stores its input.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "internal.h"

/* Ring buffer bid's bytes (struct zg_bufring's slab). */
static uint8_t *buf_addr(const struct zg_reactor *r, unsigned bid)
{
	return r->buf.slab + (size_t)bid * r->buf.size;
}

#define MAX_BUFS  64
#define MAX_OPS   512
#define POISON    0xee

struct model {
	uint8_t *buf;          /* unconsumed input, in order            */
	size_t len, cap;
	size_t examined;       /* of it, seen by the application        */
	bool eof_sent, eof_seen;
	bool paused;
	bool ready;            /* on the reactor's ready list: bytes
	                        * arrived, on_data examined only part,
	                        * or reading resumed over unexamined    */
};

struct harness {
	struct zg_reactor *r;
	struct zg_conn *c;
	int peer;
	struct fuzz_in in;
	struct model m;
	bool inc;
	size_t max_input;
	unsigned bufs, buf_size;
	bool held[MAX_BUFS];   /* lent to the library                   */
	uint16_t tail;         /* ring tail read so far                 */
	int cur_bid;           /* incremental: buffer being filled      */
	unsigned cur_off;
	uint8_t seed;          /* generated payload bytes               */
	/* what on_data does, set by the operation that runs the reactor */
	uint8_t plan, arg0, arg1;
	int calls;
	bool closed;
	int close_reason;
};

static struct harness *H;

/* FUZZ_TRACE=1 in the environment prints each operation (to read a
 * crash input). */
static int trace_on = -1;

__attribute__((format(printf, 2, 3)))
static void trace(const struct harness *h, const char *fmt, ...)
{
	va_list ap;

	if (trace_on < 0)
		trace_on = getenv("FUZZ_TRACE") != NULL;
	if (!trace_on)
		return;
	fprintf(stderr, "[len %zu examined %zu] ", h->m.len, h->m.examined);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- model ------------------------------------------------------- */

static void model_append(struct model *m, const uint8_t *p, size_t n)
{
	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2;
		m->buf = realloc(m->buf, m->cap);
		if (!m->buf)
			abort();
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	m->ready = true;
}

static void model_advance(struct model *m, size_t consumed, size_t examined)
{
	if (consumed) {
		memmove(m->buf, m->buf + consumed, m->len - consumed);
		m->len -= consumed;
	}
	m->examined = examined - consumed;
}

/* ---- checks ------------------------------------------------------ */

static bool conn_open(const struct harness *h)
{
	return h->c->state == CS_OPEN;
}

static void check_view(struct harness *h, const struct zg_read_view *v)
{
	size_t off = 0;

	CHECK(v->len == h->m.len);
	for (unsigned i = 0; i < v->nsegs; i++) {
		CHECK(off + v->segs[i].iov_len <= v->len);
		CHECK(!memcmp(v->segs[i].iov_base, h->m.buf + off, v->segs[i].iov_len));
		off += v->segs[i].iov_len;
	}
	CHECK(off == v->len);
	CHECK(v->full == (v->len >= h->max_input));
	CHECK(!v->eof || h->m.eof_sent);
	h->m.eof_seen = v->eof;
}

static void check_conn(struct harness *h)
{
	struct zg_read_view v;

	zg_conn_read(h->c, &v);
	check_view(h, &v);
}

/* Buffers the library gave back and published since the last look,
 * read from the ring as the kernel would. The harness publishes
 * nothing itself: what is staged stays the library's until the reactor
 * publishes it (once per iteration). */
static void collect_returns(struct harness *h)
{
	struct zg_bufring *b = &h->r->buf;
	uint16_t tail = __atomic_load_n(&b->br->tail, __ATOMIC_ACQUIRE);

	for (; h->tail != tail; h->tail++) {
		unsigned bid = b->br->bufs[h->tail & b->mask].bid;
		CHECK(bid < h->bufs && h->held[bid]);
		h->held[bid] = false;
		if ((int)bid == h->cur_bid)
			h->cur_bid = -1;
		memset(buf_addr(h->r, bid), POISON, h->buf_size);
	}
}

static unsigned held_count(const struct harness *h)
{
	unsigned n = 0;
	for (unsigned i = 0; i < h->bufs; i++)
		n += h->held[i];
	return n;
}

/* ---- operations -------------------------------------------------- */

static int free_bid(const struct harness *h)
{
	for (unsigned i = 0; i < h->bufs; i++)
		if (!h->held[i])
			return (int)i;
	return -1;
}

/* Payload: literal bytes from the input, or a generated run over a
 * small alphabet (so searches hit) when the input is short. */
static void payload(struct harness *h, uint8_t *p, size_t n, bool literal)
{
	for (size_t i = 0; i < n; i++)
		p[i] = literal && fuzz_left(&h->in) ? fuzz_u8(&h->in)
						    : (uint8_t)('a' + (h->seed++ * 7u) % 11u);
}

/* What a recv completion would carry: n bytes into a ring buffer the
 * library does not hold (incremental mode: the rest of the buffer being
 * filled, as long as it has room). */
static void op_deliver(struct harness *h)
{
	uint8_t a = fuzz_u8(&h->in), b = fuzz_u8(&h->in);
	struct io_uring_cqe cqe = { 0 };
	unsigned n = 1 + b % h->buf_size, off = 0, bid;
	uint8_t *p;

	if (h->m.eof_sent || h->m.paused || h->m.len >= h->max_input)
		return; /* the kernel reads nothing then */
	if (h->inc && h->cur_bid >= 0) {
		bid = (unsigned)h->cur_bid;
		off = h->cur_off;
	} else {
		int f = free_bid(h);
		if (f < 0)
			return; /* the ring is empty: the kernel would wait */
		bid = (unsigned)f;
	}
	if (n > h->buf_size - off)
		n = h->buf_size - off;
	p = buf_addr(h->r, bid) + off;
	payload(h, p, n, a & 1);
	h->held[bid] = true;
	cqe.res = (int)n;
	cqe.flags = IORING_CQE_F_BUFFER | IORING_CQE_F_MORE | (bid << IORING_CQE_BUFFER_SHIFT);
	if (h->inc) {
		h->cur_bid = off + n < h->buf_size ? (int)bid : -1;
		h->cur_off = off + n;
		if (h->cur_bid >= 0)
			cqe.flags |= IORING_CQE_F_BUF_MORE;
	}
	model_append(&h->m, p, n);
	trace(h, "deliver %u bytes in buffer %u at %u", n, bid, off);
	zg__conn_on_recv(h->c, &cqe);
}

/* consumed/examined from two bytes: one time in four anything (so the
 * refusals are tried), else a valid pair. */
static void pick_advance(size_t len, uint8_t a, uint8_t b, size_t *consumed, size_t *examined)
{
	*consumed = a % (len + 2);
	if (!(b & 3)) {
		*examined = (b >> 2) % (len + 2);
		return;
	}
	if (*consumed > len)
		*consumed = len;
	*examined = *consumed + (b >> 2) % (len - *consumed + 1);
}

/* Returns whether the call was accepted. */
static bool do_advance(struct harness *h, size_t consumed, size_t examined)
{
	int rc = zg_conn_advance(h->c, consumed, examined);

	trace(h, "advance %zu %zu: %d", consumed, examined, rc);
	if (consumed > examined || examined > h->m.len) {
		CHECK(rc == -EINVAL);
		return false;
	}
	CHECK(rc == 0);
	model_advance(&h->m, consumed, examined);
	return true;
}

static void do_contig(struct harness *h, size_t n)
{
	const uint8_t *p = NULL;
	int rc = zg_conn_contig(h->c, n, &p);

	trace(h, "contig %zu: %d", n, rc);
	if (n > h->m.len) {
		CHECK(rc == -EINVAL);
		return;
	}
	CHECK(rc == 0);
	CHECK(!n || (p && !memcmp(p, h->m.buf, n)));
}

static void do_find(struct harness *h, size_t from, uint8_t byte)
{
	struct zg_read_view v;
	const uint8_t *hit = NULL;
	ssize_t want = -1;

	zg_conn_read(h->c, &v);
	if (from < h->m.len)
		hit = memchr(h->m.buf + from, byte, h->m.len - from);
	if (hit)
		want = hit - h->m.buf;
	CHECK(zg_view_find(&v, from, byte) == want);
}

static void on_data(struct zg_conn *c)
{
	struct harness *h = H;
	struct zg_read_view v;
	size_t k, e, len;
	bool advanced = false;

	h->calls++;
	trace(h, "on_data, plan %u", h->plan % 5);
	zg_conn_read(c, &v);
	check_view(h, &v);
	/* Called only for something new: unexamined bytes or the end. */
	CHECK(h->m.len > h->m.examined || v.eof);
	len = h->m.len;
	switch (h->plan % 5) {
	case 0: /* take everything */
		advanced = do_advance(h, len, len);
		break;
	case 1: /* take some, look at more (or a refused pair) */
		pick_advance(len, h->arg0, h->arg1, &k, &e);
		advanced = do_advance(h, k, e);
		break;
	case 2: /* return without advancing */
		break;
	case 3: /* look at part: called again without new bytes */
		advanced = do_advance(h, 0, h->arg0 % (len + 1));
		break;
	case 4: /* the HTTP server's way: contiguous prefix, consumed */
		k = h->arg0 % (len + 1);
		do_contig(h, k);
		advanced = do_advance(h, k, k);
		break;
	}
	if (!advanced) /* no (accepted) advance: examined all, kept all */
		h->m.examined = h->m.len;
}

static void on_open(struct zg_conn *c)
{
	H->c = c;
}

static void on_close(struct zg_conn *c, int reason)
{
	(void)c;
	H->closed = true;
	H->close_reason = reason;
}

/* One reactor iteration: a ready connection is dispatched, and on_data
 * runs if there is something unexamined or the end of the stream (which
 * may arrive in this iteration, then making it ready). */
static void op_run(struct harness *h)
{
	bool ready = h->m.ready, due = ready && h->m.len > h->m.examined;
	bool eof_may_come = h->m.eof_sent && !h->m.eof_seen, ran;
	int calls = h->calls;

	h->plan = fuzz_u8(&h->in);
	h->arg0 = fuzz_u8(&h->in);
	h->arg1 = fuzz_u8(&h->in);
	trace(h, "run%s", ready ? " (ready)" : "");
	CHECK(zg_reactor_run_once(h->r, 0) >= 0);
	ran = h->calls > calls;
	if (!conn_open(h))
		return;
	CHECK(ran || !due);               /* new bytes reach on_data    */
	CHECK(!ran || ready || eof_may_come); /* and nothing else does */
	CHECK(h->calls - calls <= 1);     /* once per iteration         */
	if (ready || ran)
		h->m.ready = h->m.len > h->m.examined;
	if (!ran)
		return;
	/* After on_data the reactor applies its rules at once. */
	check_conn(h);
	CHECK(!(h->m.eof_seen && h->m.len == 0));
	CHECK(!(h->m.len >= h->max_input && h->m.examined >= h->m.len));
}

static void op_eof(struct harness *h)
{
	if (!h->m.eof_sent) {
		h->m.eof_sent = true;
		trace(h, "eof");
		CHECK(shutdown(h->peer, SHUT_WR) == 0);
	}
}

static void op_pause(struct harness *h)
{
	h->m.paused = !h->m.paused;
	trace(h, h->m.paused ? "pause" : "resume");
	if (h->m.paused) {
		zg_conn_pause_read(h->c);
	} else {
		zg_conn_resume_read(h->c);
		h->m.ready |= h->m.len > h->m.examined;
	}
}

/* A closed connection must have had a reason: end of stream with
 * nothing left, or full with nothing taken (or no memory). */
static void check_closed(const struct harness *h)
{
	CHECK((h->m.eof_seen && h->m.len == 0) ||
	      (h->m.len >= h->max_input && h->m.examined >= h->m.len) ||
	      (h->closed && h->close_reason == -ENOMEM));
}

static void op(struct harness *h, uint8_t code)
{
	size_t a, b;

	switch (code % 8) {
	case 0:
	case 1:
		op_deliver(h);
		break;
	case 2:
		op_run(h);
		break;
	case 3:
		pick_advance(h->m.len, fuzz_u8(&h->in), fuzz_u8(&h->in), &a, &b);
		do_advance(h, a, b);
		break;
	case 4:
		do_contig(h, fuzz_u8(&h->in) * 4u % (h->m.len + 2));
		break;
	case 5:
		a = fuzz_u8(&h->in) * 4u % (h->m.len + 2);
		do_find(h, a, (uint8_t)('a' + fuzz_u8(&h->in) % 12));
		break;
	case 6:
		op_eof(h);
		break;
	case 7:
		op_pause(h);
		break;
	}
}

/* ---- setup and teardown ----------------------------------------- */

static int setup(struct harness *h, uint8_t cfgb)
{
	static const unsigned compact[] = { 1, 2, 4, 16 };
	static const unsigned mult[] = { 1, 2, 4, 16 };
	struct zg_reactor_config cfg;
	struct zg_handler hd = { .on_open = on_open, .on_data = on_data, .on_close = on_close };
	int sv[2];

	zg_reactor_config_init(&cfg);
	cfg.sq_entries = 64;
	cfg.max_conns = 4;
	cfg.buf_count = h->bufs = cfgb & 1 ? 64 : 16;
	cfg.buf_size = h->buf_size = cfgb & 2 ? 256 : 64;
	cfg.compact_segs = compact[(cfgb >> 2) & 3];
	cfg.max_input = h->max_input = (size_t)h->buf_size * mult[(cfgb >> 4) & 3];
	cfg.idle_timeout_ms = 0;
	cfg.linger_ms = 1;
	if (cfgb & 64)
		cfg.flags |= ZG_RF_BUF_INC;
	h->cur_bid = -1;
	if (zg_reactor_new(&cfg, &hd, NULL, &h->r))
		return -1;
	h->inc = zg_reactor_features(h->r) & ZG_FEAT_BUF_INC;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(zg_reactor_adopt(h->r, sv[0]) == 0 && h->c);
	h->peer = sv[1];
	/* Every buffer went to the kernel at setup: look after that. */
	h->tail = h->r->buf.br->tail;
	return 0;
}

/* Close the connection, wait for its last completion, then every
 * buffer it held must be back. */
static void teardown(struct harness *h)
{
	if (h->c->state != CS_DEAD && h->c->state != CS_FREE)
		zg_conn_close(h->c, ZG_CLOSE_ABORT);
	for (int i = 0; i < 100 && !h->closed; i++)
		CHECK(zg_reactor_run_once(h->r, 10) >= 0);
	CHECK(h->closed);
	CHECK(zg_reactor_run_once(h->r, 0) >= 0); /* publishes the last */
	collect_returns(h);
	/* Incremental: the buffer the kernel is still filling is its own. */
	if (h->inc && h->cur_bid >= 0)
		h->held[h->cur_bid] = false;
	CHECK(held_count(h) == 0);
	zg_reactor_free(h->r);
	close(h->peer);
	free(h->m.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness h = { .in = { data, size, 0 } };

	H = &h;
	if (setup(&h, fuzz_u8(&h.in))) {
		fprintf(stderr, "fuzz_pipe_reader: no io_uring reactor here\n");
		abort();
	}
	for (int i = 0; i < MAX_OPS && fuzz_left(&h.in); i++) {
		op(&h, fuzz_u8(&h.in));
		collect_returns(&h);
		if (!conn_open(&h)) {
			check_closed(&h);
			break;
		}
		check_conn(&h);
	}
	teardown(&h);
	H = NULL;
	return 0;
}
