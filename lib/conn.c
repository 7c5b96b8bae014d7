/* SPDX-License-Identifier: MIT */
/* Connections: lifecycle, the pipe reader over ring buffers, the output
 * queue, close and timeouts.
 *
 * Lifecycle: OPEN -> (CLOSING: output flushing) -> (LINGER: FIN sent,
 * input discarded until the peer's FIN) -> DEAD -> FREE. A connection in
 * DEAD waits until every operation it has in flight (c->ops) has
 * completed; only then is the fd closed, on_close called and the slot
 * reused. Every CQE carries the slot's generation, so a CQE can never
 * reach a later connection in the same slot. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"

#define CHUNK_SIZE 16384u
#define CHUNK_POOL_MAX 512u

static void finish(struct zg_conn *c);
static void fail(struct zg_conn *c, int reason);

/* ---- small helpers ------------------------------------------------- */

static void touch(struct zg_conn *c)
{
	if (c->timeout_ms)
		c->deadline = c->r->now_ms + c->timeout_ms;
}

void zg_conn_make_ready(struct zg_conn *c)
{
	struct zg_reactor *r = c->r;

	if (c->ready)
		return;
	c->ready = true;
	c->next_ready = NULL;
	*r->ready_tail = c;
	r->ready_tail = &c->next_ready;
}

void zg_conn_make_dirty(struct zg_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = NULL;
	*c->r->dirty_tail = c;
	c->r->dirty_tail = &c->next_dirty;
}

static void put_buffer(struct zg_reactor *r, int32_t bid)
{
	if (bid >= 0)
		zg_bufring_release(&r->buf, (unsigned)bid);
}

/* ---- open ---------------------------------------------------------- */

static void conn_reset(struct zg_conn *c, struct zg_reactor *r, int fd, uint32_t slot)
{
	/* Keep the allocations of the slot's previous life (segment arrays,
	 * carry buffer, output queue): the hot path stays malloc-free. */
	struct iovec *in = c->in;
	int32_t *in_bid = c->in_bid;
	unsigned seg_cap = c->seg_cap;
	uint8_t *carry = c->carry;
	size_t carry_cap = c->carry_cap;
	struct zg_wentry *wq = c->wq;
	unsigned wq_cap = c->wq_cap;
	uint32_t gen = c->gen + 1;
	bool heap_in = in && in != c->inline_in;
	bool heap_wq = wq && wq != c->inline_wq;

	memset(c, 0, sizeof(*c));
	c->r = r;
	c->fd = fd;
	c->slot = slot;
	c->gen = gen & 0xffffff;
	c->in = heap_in ? in : c->inline_in;
	c->in_bid = heap_in ? in_bid : c->inline_bid;
	c->seg_cap = heap_in ? seg_cap : ZG_INLINE_SEGS;
	c->carry = carry;
	c->carry_cap = carry_cap;
	c->wq = heap_wq ? wq : c->inline_wq;
	c->wq_cap = heap_wq ? wq_cap : ZG_INLINE_WQ;
	c->state = CS_OPEN;
	zg_timer_setup(&c->tmo, r, TK_CONN, NULL, c);
}

/* The reactor's set of connection fds: one bit per fd, grown on demand
 * (fds are small, dense integers). */
bool zg_fd_is_conn(const struct zg_reactor *r, int fd)
{
	unsigned w = (unsigned)fd / 64;
	return w < r->fd_words && (r->fd_bits[w] >> (fd % 64) & 1);
}

static int fd_mark(struct zg_reactor *r, int fd)
{
	unsigned w = (unsigned)fd / 64;

	if (w >= r->fd_words) {
		unsigned n = r->fd_words ? r->fd_words : 16;
		uint64_t *bits;
		while (n <= w)
			n *= 2;
		bits = realloc(r->fd_bits, n * sizeof(*bits));
		if (!bits)
			return -ENOMEM;
		memset(bits + r->fd_words, 0, (n - r->fd_words) * sizeof(*bits));
		r->fd_bits = bits;
		r->fd_words = n;
	}
	r->fd_bits[w] |= 1ull << (fd % 64);
	return 0;
}

static void fd_unmark(struct zg_reactor *r, int fd)
{
	r->fd_bits[(unsigned)fd / 64] &= ~(1ull << (fd % 64));
}

struct zg_conn *zg_conn_open(struct zg_reactor *r, int fd)
{
	struct zg_conn *c;
	uint32_t slot;

	if (!r->nfree || fd_mark(r, fd))
		return NULL;
	slot = r->free_slots[--r->nfree];
	if (slot >= r->hiwater)
		r->hiwater = slot + 1;
	c = &r->conns[slot];
	conn_reset(c, r, fd, slot);
	r->live++;
	r->st.accepted++;
	zg_conn_set_timeout(c, r->cfg.idle_timeout_ms);
	zg_conn_arm_recv(c);
	if (r->h.on_open)
		r->h.on_open(c);
	return c;
}

/* ---- reading ------------------------------------------------------- */

void zg_conn_arm_recv(struct zg_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->rstate != RS_IDLE)
		return;
	sqe = zg_sqe(c->r);
	if (!sqe) {
		fail(c, -ENOMEM);
		return;
	}
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	/* Bundles only for a connection that is streaming (its last recv
	 * filled a whole buffer): they cut the cost of bulk input 2-3x but
	 * add ~15% to small messages (tests/bench/recv_modes.sh,
	 * echo_bench.sh). The multishot recv ends at the byte limit, so a
	 * stream switches to bundles within max_input bytes. */
	if (c->r->buf.bundle && c->bulk)
		sqe->ioprio |= IORING_RECVSEND_BUNDLE;
	/* Newer kernels end a multishot recv after this many bytes (the
	 * kernel's sqe->optlen, file_index in liburing 2.3's names), which
	 * makes max_input exact; older ones fail it with -EINVAL once and
	 * the limit is then checked per completion batch instead. */
	if (c->r->recv_limit >= 0)
		sqe->file_index = (uint32_t)(c->r->cfg.max_input - c->in_len);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = c->r->buf.bgid;
	io_uring_sqe_set_data64(sqe, ud_make(OP_RECV, c->gen, c->slot));
	c->rstate = RS_ARMED;
	c->ops++;
}

static void cancel_recv(struct zg_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->rstate != RS_ARMED)
		return;
	sqe = zg_sqe(c->r);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, ud_make(OP_RECV, c->gen, c->slot), 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
	c->r->inflight_misc++;
	c->rstate = RS_CANCELING;
}

static bool want_read(const struct zg_conn *c)
{
	if (c->eof || c->state == CS_DEAD || c->state == CS_FREE)
		return false;
	if (c->state != CS_OPEN)
		return true; /* closing: read and discard until FIN */
	return !c->paused && !c->high_wm && c->in_len < c->r->cfg.max_input;
}

/* Bring the recv in line with what the connection wants. */
void zg_conn_recv_update(struct zg_conn *c)
{
	bool want = want_read(c);

	if (want && c->rstate == RS_IDLE)
		zg_conn_arm_recv(c);
	else if (!want && c->rstate == RS_ARMED)
		cancel_recv(c);
	else if (!want && c->rstate == RS_STARVED)
		c->rstate = RS_IDLE; /* leave the starved list lazily */
}

/* Room for n input segments in both arrays. They grow together; if the
 * second allocation fails the first is merely larger than needed. */
static int segs_reserve(struct zg_conn *c, unsigned n)
{
	bool inline_now = c->in == c->inline_in;
	struct iovec *in;
	int32_t *bid;
	unsigned cap;

	if (n <= c->seg_cap)
		return 0;
	cap = c->seg_cap * 2 > n ? c->seg_cap * 2 : n;
	in = inline_now ? malloc(cap * sizeof(*in)) : realloc(c->in, cap * sizeof(*in));
	if (!in)
		return -ENOMEM;
	if (inline_now)
		memcpy(in, c->inline_in, sizeof(c->inline_in));
	c->in = in;
	bid = inline_now ? malloc(cap * sizeof(*bid)) : realloc(c->in_bid, cap * sizeof(*bid));
	if (!bid) {
		if (inline_now) { /* back to the inline arrays, still intact */
			free(in);
			c->in = c->inline_in;
		}
		return -ENOMEM;
	}
	if (inline_now)
		memcpy(bid, c->inline_bid, sizeof(c->inline_bid));
	c->in_bid = bid;
	c->seg_cap = cap;
	return 0;
}

/* Remove input segments [from, to), keeping the order of the rest. */
static void segs_remove(struct zg_conn *c, unsigned from, unsigned to)
{
	unsigned rest = c->nsegs - to;

	memmove(c->in + from, c->in + to, rest * sizeof(*c->in));
	memmove(c->in_bid + from, c->in_bid + to, rest * sizeof(*c->in_bid));
	c->nsegs -= to - from;
}

static void seg_trim(struct zg_conn *c, unsigned i, size_t n)
{
	c->in[i].iov_base = (uint8_t *)c->in[i].iov_base + n;
	c->in[i].iov_len -= n;
}

static int carry_reserve(struct zg_conn *c, size_t n)
{
	size_t cap = c->carry_cap ? c->carry_cap : 1024;
	uint8_t *p;

	if (n <= c->carry_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	p = realloc(c->carry, cap);
	if (!p)
		return -ENOMEM;
	c->carry = p;
	c->carry_cap = cap;
	return 0;
}

/* Copy the first n input bytes into the carry buffer, giving back the
 * ring buffers emptied on the way; the rest stays where it is. Used when
 * a contiguous view straddles buffers (n = the view), and when one
 * connection holds many ring buffers (n = all: a slow peer must not
 * starve the others). */
static int compact(struct zg_conn *c, size_t n)
{
	bool carry_first = c->nsegs && c->in_bid[0] < 0;
	size_t off = 0;
	size_t skip = carry_first ? (size_t)((uint8_t *)c->in[0].iov_base - c->carry) : 0;
	unsigned i = 0;

	/* Allocate before touching anything: on -ENOMEM the input must be
	 * as it was (zg_conn_contig leaves the connection open). Growing
	 * the carry keeps its bytes, so in[0] is found again at skip. */
	if (carry_reserve(c, n) || (!carry_first && segs_reserve(c, c->nsegs + 1)))
		return -ENOMEM;
	if (carry_first) {
		/* the carry is already first: keep its bytes, move them down */
		memmove(c->carry, c->carry + skip, c->in[0].iov_len);
		off = c->in[0].iov_len;
		i = 1;
	}
	while (off < n) {
		size_t len = c->in[i].iov_len;
		size_t take = len < n - off ? len : n - off;
		memcpy(c->carry + off, c->in[i].iov_base, take);
		off += take;
		if (take < len) {
			seg_trim(c, i, take);
			break;
		}
		put_buffer(c->r, c->in_bid[i]);
		i++;
	}
	/* in[0] becomes the carry; in[1..] are what was not copied */
	if (i == 0) {
		memmove(c->in + 1, c->in, c->nsegs * sizeof(*c->in));
		memmove(c->in_bid + 1, c->in_bid, c->nsegs * sizeof(*c->in_bid));
		c->nsegs++;
	} else if (i > 1) {
		segs_remove(c, 1, i);
	}
	c->in[0] = (struct iovec){ c->carry, off };
	c->in_bid[0] = -1;
	c->r->st.compactions++;
	return 0;
}

/* Take the buffer slices of a recv CQE into the connection's input. */
static void append_input(struct zg_conn *c, unsigned bid, int res, unsigned flags)
{
	struct zg_reactor *r = c->r;
	struct zg_rxbufs it;
	unsigned b, len;
	uint8_t *p;

	zg_bufring_rx_begin(&r->buf, &it, bid, res, flags);
	if (c->state == CS_OPEN && segs_reserve(c, c->nsegs + it.n))
		fail(c, -ENOMEM);
	if (c->state != CS_OPEN) {
		zg_bufring_drop(&r->buf, bid, res, flags); /* input is discarded */
		return;
	}
	while (zg_bufring_rx_next(&r->buf, &it, &b, &p, &len)) {
		c->in[c->nsegs] = (struct iovec){ p, len };
		c->in_bid[c->nsegs++] = (int32_t)b;
		c->in_len += len;
	}
	zg_conn_make_ready(c);
}

static void on_starved(struct zg_conn *c)
{
	struct zg_reactor *r = c->r;

	c->rstate = RS_STARVED;
	r->st.enobufs++;
	if (c->starved_listed)
		return;
	c->starved_listed = true;
	c->next_starved = NULL;
	*r->starved_tail = c;
	r->starved_tail = &c->next_starved;
}

void zg_conn_on_recv(struct zg_conn *c, struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int res = cqe->res;

	if (!more) {
		c->ops--;
		c->rstate = RS_IDLE;
	}
	if (res > 0) {
		touch(c);
		c->r->recv_limit |= 1; /* the limit (if set) was accepted */
		c->bulk = (unsigned)res >= c->r->buf.size;
		append_input(c, cqe->flags >> IORING_CQE_BUFFER_SHIFT, res, cqe->flags);
	} else if (res == 0) {
		c->eof = true;
		if (c->state == CS_LINGER)
			finish(c);
		else if (c->state == CS_OPEN)
			zg_conn_make_ready(c);
	} else if (res == -ENOBUFS) {
		if (!more)
			on_starved(c);
	} else if (res == -EINVAL && c->r->recv_limit == 0) {
		c->r->recv_limit = -1; /* no byte limit here: re-arm without */
		zg_log(c->r, ZG_LOG_INFO, "no multishot recv byte limit (newer kernels): max_input is checked per batch");
	} else if (res != -ECANCELED) {
		if (c->state == CS_LINGER || c->state == CS_CLOSING)
			finish(c);
		else
			fail(c, res);
	}
	if (c->rstate != RS_STARVED)
		zg_conn_recv_update(c);
	zg_conn_maybe_free(c);
}

ZG_EXPORT int zg_conn_read(struct zg_conn *c, struct zg_read_view *v)
{
	v->segs = c->in;
	v->nsegs = c->nsegs;
	v->len = c->in_len;
	v->eof = c->eof;
	v->full = c->in_len >= c->r->cfg.max_input;
	return 0;
}

ZG_EXPORT ssize_t zg_view_find(const struct zg_read_view *v, size_t from, int byte)
{
	size_t base = 0;

	for (unsigned i = 0; i < v->nsegs; base += v->segs[i].iov_len, i++) {
		const uint8_t *p = v->segs[i].iov_base, *hit;
		size_t len = v->segs[i].iov_len;

		if (from >= base + len)
			continue;
		hit = memchr(p + (from - base), byte, len - (from - base));
		if (hit)
			return (ssize_t)(base + (size_t)(hit - p));
		from = base + len;
	}
	return -1;
}

/* Drop the first n input bytes, returning emptied ring buffers. */
static void consume_input(struct zg_conn *c, size_t n)
{
	unsigned i = 0;

	c->in_len -= n;
	while (n && n >= c->in[i].iov_len) {
		n -= c->in[i].iov_len;
		put_buffer(c->r, c->in_bid[i]);
		i++;
	}
	if (n)
		seg_trim(c, i, n);
	if (i)
		segs_remove(c, 0, i);
}

ZG_EXPORT int zg_conn_advance(struct zg_conn *c, size_t consumed, size_t examined)
{
	if (consumed > examined || examined > c->in_len)
		return -EINVAL;
	if (consumed)
		consume_input(c, consumed);
	c->examined = examined - consumed;
	c->advanced = true;
	if (consumed && !c->in_cb) {
		if (c->eof && !c->in_len && c->state == CS_OPEN)
			zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		else
			zg_conn_recv_update(c);
	}
	return 0;
}

ZG_EXPORT int zg_conn_contig(struct zg_conn *c, size_t n, const uint8_t **p)
{
	int ret;

	if (n > c->in_len)
		return -EINVAL;
	if (!c->nsegs || c->in[0].iov_len >= n) {
		*p = c->nsegs ? c->in[0].iov_base : NULL;
		return 0;
	}
	ret = compact(c, n);
	if (ret)
		return ret;
	*p = c->in[0].iov_base;
	return 0;
}

ZG_EXPORT void zg_conn_pause_read(struct zg_conn *c)
{
	c->paused = true;
	zg_conn_recv_update(c);
}

ZG_EXPORT void zg_conn_resume_read(struct zg_conn *c)
{
	c->paused = false;
	zg_conn_recv_update(c);
	if (c->in_len > c->examined && c->state == CS_OPEN)
		zg_conn_make_ready(c);
}

/* Input the application keeps past its on_data is copied out of the
 * ring when it sits in many buffers (one slow consumer must not hold the
 * ring), and when the ring runs low: a partial message waiting for its
 * rest holds buffers the rest needs to arrive, and with as many waiting
 * connections as buffers none could ever receive again. Fresh input is
 * not copied otherwise: most of it is consumed by the callback that
 * sees it. */
static bool keeps_too_much(const struct zg_conn *c)
{
	bool in_ring = c->nsegs > 1 || (c->nsegs == 1 && c->in_bid[0] >= 0);

	return in_ring && (c->nsegs > c->r->cfg.compact_segs || zg_bufring_low(&c->r->buf));
}

/* Run on_data for a ready connection (from the reactor's ready list). */
void zg_conn_dispatch(struct zg_conn *c)
{
	struct zg_reactor *r = c->r;

	if (c->state != CS_OPEN)
		return;
	if (c->in_len > c->examined || c->eof) {
		c->in_cb = true;
		c->advanced = false;
		if (r->h.on_data)
			r->h.on_data(c);
		else
			zg_conn_advance(c, c->in_len, c->in_len);
		c->in_cb = false;
		if (c->state != CS_OPEN)
			return;
		if (!c->advanced)
			c->examined = c->in_len;
		if (keeps_too_much(c) && compact(c, c->in_len)) {
			fail(c, -ENOMEM);
			return;
		}
	}
	if (c->eof && !c->in_len) {
		/* The peer is done sending and nothing is left to process;
		 * what we queued still goes out. Input still held (say, the
		 * application paused for its own back-pressure) keeps the
		 * connection until it is consumed: see zg_conn_advance. */
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		return;
	}
	if (c->in_len >= r->cfg.max_input && c->examined >= c->in_len) {
		fail(c, -E2BIG); /* full, and the application took nothing */
		return;
	}
	if (c->examined < c->in_len)
		zg_conn_make_ready(c); /* runs again next iteration */
	zg_conn_recv_update(c);
}

/* ---- writing ------------------------------------------------------- */

static void *chunk_get(struct zg_reactor *r)
{
	void *p = r->chunk_pool;
	if (p) {
		r->chunk_pool = *(void **)p;
		r->chunk_nfree--;
		return p;
	}
	return malloc(CHUNK_SIZE);
}

static void entry_release(struct zg_reactor *r, struct zg_wentry *e)
{
	if (e->cap == CHUNK_SIZE && r->chunk_nfree < CHUNK_POOL_MAX) {
		*(void **)e->p = r->chunk_pool;
		r->chunk_pool = e->p;
		r->chunk_nfree++;
	} else if (e->cap) {
		free(e->p);
	} else if (e->release) {
		e->release(e->arg);
	}
}

static struct zg_wentry *wq_tail(struct zg_conn *c)
{
	return c->wq_len ? &c->wq[c->wq_head + c->wq_len - 1] : NULL;
}

static struct zg_wentry *wq_push(struct zg_conn *c)
{
	if (c->wq_head + c->wq_len == c->wq_cap) {
		if (c->wq_head) {
			memmove(c->wq, c->wq + c->wq_head, c->wq_len * sizeof(*c->wq));
			c->wq_head = 0;
		} else {
			unsigned cap = c->wq_cap < 8 ? 8 : c->wq_cap * 2;
			struct zg_wentry *q = c->wq == c->inline_wq
				? malloc(cap * sizeof(*q)) : realloc(c->wq, cap * sizeof(*q));
			if (!q)
				return NULL;
			if (c->wq == c->inline_wq)
				memcpy(q, c->inline_wq, sizeof(c->inline_wq));
			c->wq = q;
			c->wq_cap = cap;
		}
	}
	return memset(&c->wq[c->wq_head + c->wq_len++], 0, sizeof(struct zg_wentry));
}

/* Written as a subtraction: out_len never exceeds max_output, so this
 * cannot wrap, where out_len + n would for a huge n. */
static int write_check(const struct zg_conn *c, size_t n)
{
	if (c->state != CS_OPEN || c->shut_wr)
		return -EPIPE;
	if (n > c->r->cfg.max_output - c->out_len)
		return -ENOBUFS;
	return 0;
}

ZG_EXPORT void *zg_conn_reserve(struct zg_conn *c, size_t n)
{
	struct zg_wentry *e = wq_tail(c);

	c->reserved = 0;
	if (write_check(c, n))
		return NULL;
	if (!(e && e->cap && e->cap - e->len >= n && !e->zc)) {
		e = wq_push(c);
		if (!e)
			return NULL;
		e->cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
		e->p = e->cap == CHUNK_SIZE ? chunk_get(c->r) : malloc(e->cap);
		if (!e->p) {
			c->wq_len--;
			return NULL;
		}
	}
	c->reserved = n;
	return e->p + e->len;
}

static void queued(struct zg_conn *c, size_t n)
{
	c->out_len += n;
	if (!c->high_wm && c->out_len > c->r->cfg.max_output / 2) {
		c->high_wm = true; /* stop reading until the peer catches up */
		zg_conn_recv_update(c);
	}
	zg_conn_make_dirty(c);
}

ZG_EXPORT int zg_conn_commit(struct zg_conn *c, size_t n)
{
	struct zg_wentry *e = wq_tail(c);

	if (n > c->reserved || c->state != CS_OPEN)
		return -EINVAL;
	c->reserved -= n; /* the rest stays reserved, right after these n */
	if (!n)
		return 0;
	assert(e && e->cap && e->cap - e->len >= n);
	e->len += n;
	queued(c, n);
	return 0;
}

ZG_EXPORT int zg_conn_write(struct zg_conn *c, const void *p, size_t n)
{
	void *dst;
	int ret = write_check(c, n);

	if (ret)
		return ret;
	if (!n)
		return 0;
	dst = zg_conn_reserve(c, n);
	if (!dst)
		return -ENOMEM;
	memcpy(dst, p, n);
	return zg_conn_commit(c, n);
}

ZG_EXPORT int zg_conn_write_ref(struct zg_conn *c, const void *p, size_t n,
				void (*release)(void *arg), void *arg)
{
	struct zg_wentry *e;
	int ret = write_check(c, n);

	if (ret)
		return ret;
	e = wq_push(c);
	if (!e)
		return -ENOMEM;
	c->reserved = 0;
	e->p = (uint8_t *)p;
	e->len = n;
	e->release = release;
	e->arg = arg;
	if (n)
		queued(c, n);
	else
		zg_conn_make_dirty(c); /* released after earlier bytes are sent */
	return 0;
}

ZG_EXPORT size_t zg_conn_pending(const struct zg_conn *c)
{
	return c->out_len;
}

ZG_EXPORT int zg_conn_flush(struct zg_conn *c)
{
	if (c->state == CS_DEAD || c->state == CS_FREE)
		return -EPIPE;
	zg_conn_flush_now(c);
	return 0;
}

static bool use_zc(const struct zg_conn *c, const struct zg_wentry *e)
{
	const struct zg_reactor *r = c->r;
	return !e->cap && r->cfg.zc_threshold && e->len - e->off >= r->cfg.zc_threshold &&
	       (r->features & ZG_FEAT_SEND_ZC) && !c->zc_notif;
}

/* At most this much per send: an SQE's length is 32 bits, and the next
 * send resumes where one stopped anyway. */
#define ZG_SEND_MAX (1u << 30)

static size_t send_cap(size_t n)
{
	return n > ZG_SEND_MAX ? ZG_SEND_MAX : n;
}

/* One contiguous range, one SEND. */
static void prep_one(struct zg_conn *c, struct io_uring_sqe *sqe, uint8_t *p, size_t n)
{
	c->send_len = send_cap(n);
	io_uring_prep_send(sqe, c->fd, p, c->send_len, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, c->gen, c->slot));
}

static void prep_send(struct zg_conn *c, struct io_uring_sqe *sqe)
{
	struct zg_wentry *e = &c->wq[c->wq_head];
	unsigned n = 0;
	size_t total = 0;

	if (use_zc(c, e)) {
		c->send_len = send_cap(e->len - e->off);
		io_uring_prep_send_zc(sqe, c->fd, e->p + e->off, c->send_len,
				      MSG_NOSIGNAL | MSG_WAITALL, 0);
		io_uring_sqe_set_data64(sqe, ud_make(OP_SEND_ZC, c->gen, c->slot));
		e->zc = true;
		c->zc_notif = true;
		return;
	}
	if (c->wq_len == 1) { /* the common case: no iovec to fill */
		prep_one(c, sqe, e->p + e->off, e->len - e->off);
		return;
	}
	for (unsigned i = 0; i < c->wq_len && n < ZG_MAX_IOV; i++, e++) {
		if (e->len == e->off)
			continue;
		c->iov[n].iov_base = e->p + e->off;
		c->iov[n++].iov_len = e->len - e->off;
		total += e->len - e->off;
	}
	if (n == 1) {
		prep_one(c, sqe, c->iov[0].iov_base, total);
		return;
	}
	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.msg_iov = c->iov;
	c->msg.msg_iovlen = n;
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, c->gen, c->slot));
	c->send_len = total;
}

/* Pop sent entries; zero-length references are released in order. */
static void wq_pop_done(struct zg_conn *c)
{
	while (c->wq_len) {
		struct zg_wentry *e = &c->wq[c->wq_head];
		if (e->off < e->len)
			break;
		if (e->zc) { /* the kernel may still read it: wait for NOTIF */
			c->zc_deferred = true;
			c->zc_release = e->release;
			c->zc_arg = e->arg;
		} else {
			entry_release(c->r, e);
		}
		c->wq_head++;
		c->wq_len--;
	}
	if (!c->wq_len)
		c->wq_head = 0;
}

static void do_shutdown(struct zg_conn *c)
{
	if (c->fin_sent)
		return;
	c->fin_sent = true;
	shutdown(c->fd, SHUT_WR);
}

static void enter_linger(struct zg_conn *c)
{
	c->state = CS_LINGER;
	do_shutdown(c);
	if (c->nsegs)
		consume_input(c, c->in_len);
	if (c->eof || c->r->stopping) {
		finish(c);
		return;
	}
	zg_conn_set_timeout(c, c->r->cfg.linger_ms);
	zg_conn_recv_update(c);
}

void zg_conn_flush_now(struct zg_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->send_inflight || c->state == CS_DEAD || c->state == CS_FREE)
		return;
	wq_pop_done(c);
	if (!c->out_len) {
		if (c->state == CS_CLOSING)
			enter_linger(c);
		else if (c->shut_wr)
			do_shutdown(c);
		return;
	}
	sqe = zg_sqe(c->r);
	if (!sqe) {
		fail(c, -ENOMEM);
		return;
	}
	prep_send(c, sqe);
	c->send_inflight = true;
	c->ops++;
	c->r->st.sends++;
}

/* The kernel accepted n bytes: advance through the queue. */
static void sent(struct zg_conn *c, size_t n)
{
	struct zg_wentry *e = &c->wq[c->wq_head];

	if (n < c->send_len)
		c->r->st.partial_sends++;
	c->out_len -= n;
	for (; n; e++) {
		size_t take = e->len - e->off < n ? e->len - e->off : n;
		e->off += take;
		n -= take;
	}
	wq_pop_done(c);
	touch(c);
	if (c->high_wm && !c->out_len) {
		c->high_wm = false;
		zg_conn_recv_update(c);
		if (c->state == CS_OPEN && c->r->h.on_drain)
			c->r->h.on_drain(c);
	}
	if (c->state != CS_DEAD)
		zg_conn_flush_now(c);
}

void zg_conn_on_send(struct zg_conn *c, struct io_uring_cqe *cqe)
{
	c->ops--;
	c->send_inflight = false;
	if (cqe->res < 0) {
		fail(c, cqe->res == -ECANCELED ? c->close_reason : cqe->res);
	} else if (c->state != CS_DEAD) {
		sent(c, (size_t)cqe->res);
	}
	zg_conn_maybe_free(c);
}

void zg_conn_on_send_zc(struct zg_conn *c, struct io_uring_cqe *cqe)
{
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		c->zc_notif = false;
		c->ops--;
		if (c->zc_deferred) {
			c->zc_deferred = false;
			if (c->zc_release)
				c->zc_release(c->zc_arg);
		} else {
			for (unsigned i = 0; i < c->wq_len; i++)
				c->wq[c->wq_head + i].zc = false;
		}
		zg_conn_maybe_free(c);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->zc_notif = false; /* no notification will follow */
	else
		c->ops++;
	if (!c->zc_notif)
		for (unsigned i = 0; i < c->wq_len; i++)
			c->wq[c->wq_head + i].zc = false;
	zg_conn_on_send(c, cqe);
}

/* ---- closing ------------------------------------------------------- */

/* Stop everything in flight on the fd; maybe_free completes the close
 * when the last CQE is in. */
static void finish(struct zg_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->state == CS_DEAD)
		return;
	c->state = CS_DEAD;
	zg_timer_stop(&c->tmo);
	if (c->ops && (sqe = zg_sqe(c->r))) {
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
		c->r->inflight_misc++;
		if (c->rstate == RS_ARMED)
			c->rstate = RS_CANCELING;
	}
	zg_conn_maybe_free(c);
}

static void fail(struct zg_conn *c, int reason)
{
	if (c->state == CS_DEAD)
		return;
	if (!c->close_reason)
		c->close_reason = reason;
	c->abort = true;
	finish(c);
}

static void drop_queues(struct zg_conn *c)
{
	if (c->nsegs)
		consume_input(c, c->in_len);
	for (unsigned i = 0; i < c->wq_len; i++)
		entry_release(c->r, &c->wq[c->wq_head + i]);
	c->wq_head = c->wq_len = 0;
	c->out_len = 0;
	if (c->zc_deferred && c->zc_release)
		c->zc_release(c->zc_arg);
	c->zc_deferred = false;
}

/* A freed connection may still be linked on the ready, dirty or starved
 * list; its slot is reused only once it is off all of them (the lists
 * call this again as they drop it). */
void zg_conn_release_slot(struct zg_conn *c)
{
	if (c->state != CS_FREE || c->ready || c->dirty || c->starved_listed ||
	    c->slot_released)
		return;
	c->slot_released = true;
	c->r->free_slots[c->r->nfree++] = c->slot;
}

static void slot_free(struct zg_conn *c)
{
	/* A carry buffer grown by one large request is not kept forever. */
	if (c->carry_cap > 65536) {
		free(c->carry);
		c->carry = NULL;
		c->carry_cap = 0;
	}
	c->state = CS_FREE;
	c->r->live--;
	zg_conn_release_slot(c);
}

void zg_conn_maybe_free(struct zg_conn *c)
{
	struct zg_reactor *r = c->r;

	if (c->state != CS_DEAD || c->ops)
		return;
	if (c->abort && !c->fin_sent) {
		struct linger lg = { 1, 0 }; /* close with RST */
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	drop_queues(c);
	r->st.closed++;
	/* Before the close, so zg_conn_fd/zg_conn_peer still name this
	 * connection's socket and not a newer one's. */
	if (r->h.on_close)
		r->h.on_close(c, c->close_reason);
	fd_unmark(r, c->fd);
	close(c->fd);
	slot_free(c);
}

ZG_EXPORT void zg_conn_close(struct zg_conn *c, unsigned flags)
{
	if (c->state == CS_DEAD || c->state == CS_FREE)
		return;
	if (flags & ZG_CLOSE_ABORT) {
		fail(c, 0);
		return;
	}
	if (c->state != CS_OPEN)
		return;
	c->state = CS_CLOSING;
	c->shut_wr = true;
	if (c->nsegs)
		consume_input(c, c->in_len);
	zg_conn_make_dirty(c); /* flush_now moves on to linger when drained */
	zg_conn_recv_update(c);
}

ZG_EXPORT int zg_conn_shutdown(struct zg_conn *c)
{
	if (c->state != CS_OPEN)
		return -EPIPE;
	c->shut_wr = true;
	zg_conn_make_dirty(c);
	return 0;
}

/* Idle for a stop: nothing held, nothing to send, and no request on its
 * way. Bytes that reached the socket are either still in it (SIOCINQ;
 * with DEFER_TASKRUN the recv runs only at our next enter) or already in
 * a CQE not yet reaped: checked after the ioctl, since on other setups
 * the ioctl's return may itself run the recv. */
static bool stop_idle(const struct zg_conn *c)
{
	int unread = 0;

	if (c->in_len || c->out_len || c->send_inflight || c->ready)
		return false;
	if (ioctl(c->fd, SIOCINQ, &unread) == 0 && unread > 0)
		return false;
	return !io_uring_cq_ready(&c->r->ring);
}

/* Called by the reactor each iteration while it stops. abort_at != 0:
 * the deadline passed, close everything now. */
void zg_conn_stop(struct zg_conn *c, uint64_t abort_at)
{
	if (c->state == CS_DEAD)
		return;
	if (abort_at) {
		fail(c, -ESHUTDOWN);
		return;
	}
	if (c->state == CS_OPEN && stop_idle(c)) {
		c->close_reason = -ESHUTDOWN;
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
	} else if (c->state == CS_LINGER) {
		finish(c);
	}
}

/* zg_reactor_free on a reactor that was not stopped: release what the
 * connection holds; no callbacks, the ring is about to go away. */
void zg_conn_drop(struct zg_conn *c)
{
	fd_unmark(c->r, c->fd);
	close(c->fd);
	drop_queues(c);
	c->state = CS_FREE;
}

/* ---- timeouts ------------------------------------------------------ */

/* When the connection's timer must fire next: the idle deadline (moved
 * lazily by activity) or the hard one, whichever comes first. */
static uint64_t next_deadline(const struct zg_conn *c)
{
	uint64_t idle = c->timeout_ms ? c->deadline : UINT64_MAX;
	uint64_t hard = c->hard_deadline ? c->hard_deadline : UINT64_MAX;
	return idle < hard ? idle : hard;
}

static void timer_update(struct zg_conn *c)
{
	uint64_t when = next_deadline(c);

	if (when == UINT64_MAX)
		zg_timer_stop(&c->tmo);
	else if (!zg_timer_active(&c->tmo) || c->tmo.node.when > when)
		zg_timer_arm_at(&c->tmo, when);
}

void zg_conn_timeout(struct zg_conn *c)
{
	uint64_t when = next_deadline(c);

	if (c->state == CS_DEAD || when == UINT64_MAX)
		return;
	if (c->r->now_ms < when) {
		zg_timer_arm_at(&c->tmo, when);
		return;
	}
	if (c->state == CS_LINGER)
		finish(c);
	else
		fail(c, -ETIMEDOUT);
}

ZG_EXPORT void zg_conn_set_timeout(struct zg_conn *c, unsigned ms)
{
	if (c->state == CS_DEAD || c->state == CS_FREE)
		return;
	c->timeout_ms = ms;
	c->deadline = c->r->now_ms + ms;
	timer_update(c);
}

ZG_EXPORT void zg_conn_set_deadline(struct zg_conn *c, unsigned ms)
{
	if (c->state == CS_DEAD || c->state == CS_FREE)
		return;
	c->hard_deadline = ms ? c->r->now_ms + ms : 0;
	timer_update(c);
}

/* ---- accessors ----------------------------------------------------- */

ZG_EXPORT void zg_conn_set_udata(struct zg_conn *c, void *u) { c->udata = u; }
ZG_EXPORT void *zg_conn_udata(const struct zg_conn *c) { return c->udata; }
ZG_EXPORT struct zg_reactor *zg_conn_reactor(const struct zg_conn *c) { return c->r; }
ZG_EXPORT int zg_conn_fd(const struct zg_conn *c) { return c->fd; }

ZG_EXPORT int zg_conn_peer(const struct zg_conn *c, struct sockaddr *addr, socklen_t *len)
{
	/* Asked for on demand: most servers never need it, and it would
	 * cost a syscall per accept. */
	return getpeername(c->fd, addr, len) ? -errno : 0;
}
