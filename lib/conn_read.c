/* SPDX-License-Identifier: MIT */
/* The read path: the connection's multishot recv (arming, cancelling,
 * starving on an empty ring), taking the slices of recv CQEs into the
 * input, and the pipe reader over them (read, find, advance, contig,
 * compaction, pause/resume), and dispatching on_data. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void zg__conn_arm_recv(struct zg_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->rstate != RS_IDLE)
		return;
	sqe = zg__sqe(c->r);
	if (!sqe) {
		zg__conn_fail(c, -ENOMEM);
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
	assert(c->state != CS_DEAD && c->state != CS_FREE);
	c->rstate = RS_ARMED;
	c->ops++;
}

static void cancel_recv(struct zg_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->rstate != RS_ARMED)
		return;
	sqe = zg__sqe(c->r);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, ud_make(OP_RECV, c->gen, c->slot), 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
	c->r->inflight_misc++;
	c->rstate = RS_CANCELING;
}

static bool want_read(const struct zg_conn *c)
{
	if (c->eof || c->state == CS_DEAD || c->state == CS_FREE || c->state == CS_CONNECTING)
		return false;
	/* kernel TLS: its hand-off, or its own recv (closing too: two
	 * recvs on one socket would race for a record) */
	if (c->tls && zg__tls_recv_hold(c))
		return false;
	if (c->state != CS_OPEN)
		return true; /* closing: read and discard until FIN */
	return !c->paused && !c->high_wm && c->in_len < c->r->cfg.max_input;
}

/* Bring the recv in line with what the connection wants. */
void zg__conn_recv_update(struct zg_conn *c)
{
	bool want = want_read(c);

	if (want && c->rstate == RS_IDLE)
		zg__conn_arm_recv(c);
	else if (!want && c->rstate == RS_ARMED)
		cancel_recv(c);
	else if (!want && c->rstate == RS_STARVED)
		c->rstate = RS_IDLE; /* leave the starved list lazily */
}

static void put_buffer(struct zg_reactor *r, int32_t bid)
{
	if (bid >= 0)
		zg__bufring_release(&r->buf, (unsigned)bid);
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
	return zg__grow(&c->carry, &c->carry_cap, n, 1024);
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

/* TLS: the ciphertext is copied into the record layer and its ring
 * buffers go straight back; decrypted bytes join the input. */
static void tls_input(struct zg_conn *c, struct zg_rxbufs *it)
{
	struct zg_reactor *r = c->r;
	unsigned b, len;
	uint8_t *p;

	while (zg__bufring_rx_next(&r->buf, it, &b, &p, &len)) {
		zg__tls_input(c, p, len);
		zg__bufring_release(&r->buf, b);
	}
	if (c->state == CS_OPEN)
		zg__tls_read(c);
}

/* TLS plaintext lives in one segment over the carry buffer: room for n
 * more bytes at its end (moving it to the front, or growing it). */
uint8_t *zg__conn_plain_room(struct zg_conn *c, size_t n)
{
	size_t off = c->nsegs ? (size_t)((uint8_t *)c->in[0].iov_base - c->carry) : 0;

	assert(c->nsegs <= 1 && (!c->nsegs || c->in_bid[0] < 0));
	if (off + c->in_len + n > c->carry_cap && off) {
		memmove(c->carry, c->carry + off, c->in_len);
		off = 0;
	}
	if (c->in_len + n > c->carry_cap && carry_reserve(c, c->in_len + n))
		return NULL;
	if (c->nsegs) /* the carry may have moved */
		c->in[0].iov_base = c->carry + off;
	return c->carry + off + c->in_len;
}

/* n bytes were written where zg__conn_plain_room said. */
void zg__conn_plain_added(struct zg_conn *c, size_t n)
{
	if (!c->nsegs) {
		c->in[0] = (struct iovec){ c->carry, 0 };
		c->in_bid[0] = -1;
		c->nsegs = 1;
	}
	c->in[0].iov_len += n;
	c->in_len += n;
}

/* Take the buffer slices of a recv CQE into the connection's input. */
static void append_input(struct zg_conn *c, unsigned bid, int res, unsigned flags)
{
	struct zg_reactor *r = c->r;
	struct zg_rxbufs it;
	unsigned b, len;
	uint8_t *p;

	zg__bufring_rx_begin(&r->buf, &it, bid, res, flags);
	/* (under kernel TLS the input is plaintext, as on a plain one) */
	if (c->tls && c->state == CS_OPEN && zg__tls_user_rx(c)) {
		tls_input(c, &it);
		return;
	}
	if (c->state == CS_OPEN && segs_reserve(c, c->nsegs + it.n))
		zg__conn_fail(c, -ENOMEM);
	if (c->state != CS_OPEN) {
		zg__bufring_drop(&r->buf, bid, res, flags); /* input is discarded */
		return;
	}
	while (zg__bufring_rx_next(&r->buf, &it, &b, &p, &len)) {
		c->in[c->nsegs] = (struct iovec){ p, len };
		c->in_bid[c->nsegs++] = (int32_t)b;
		c->in_len += len;
	}
	zg__conn_make_ready(c);
}

static void on_starved(struct zg_conn *c)
{
	struct zg_reactor *r = c->r;

	c->rstate = RS_STARVED;
	r->st.enobufs++;
	if (c->starved_listed)
		return;
	c->starved_listed = true;
	zg__clist_push(&r->starved, c, next_starved);
}

void zg__conn_on_recv(struct zg_conn *c, struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int res = cqe->res;

	if (!more) {
		assert(c->ops > 0 && (c->rstate == RS_ARMED || c->rstate == RS_CANCELING));
		c->ops--;
		c->rstate = RS_IDLE;
	}
	if (res > 0) {
		zg__conn_touch(c);
		c->r->recv_limit |= 1; /* the limit (if set) was accepted */
		c->bulk = (unsigned)res >= c->r->buf.size;
		append_input(c, cqe->flags >> IORING_CQE_BUFFER_SHIFT, res, cqe->flags);
	} else if (res == 0) {
		c->eof = true;
		if (c->state == CS_LINGER || (c->state == CS_OPEN && !c->app_knows))
			zg__conn_to_dead(c); /* (a TLS peer gone mid-handshake) */
		else if (c->state == CS_OPEN)
			zg__conn_make_ready(c);
	} else if (res == -ENOBUFS) {
		if (!more)
			on_starved(c);
	} else if (c->tls && zg__tls_recv_error(c, res)) {
		/* kernel TLS: a non-data record, read by recvmsg */
	} else if (res == -EINVAL && c->r->recv_limit == 0) {
		c->r->recv_limit = -1; /* no byte limit here: re-arm without */
		zg__log(c->r, ZG_LOG_INFO, "no multishot recv byte limit (newer kernels): max_input is checked per batch");
	} else if (res != -ECANCELED) {
		if (c->state == CS_LINGER || c->state == CS_CLOSING)
			zg__conn_to_dead(c);
		else
			zg__conn_fail(c, res);
	}
	/* kernel TLS: the receive hand-off goes on (also from STARVED:
	 * the recv is not re-armed while it waits) */
	if (c->tls && !more)
		zg__tls_recv_ended(c);
	if (c->rstate != RS_STARVED)
		zg__conn_recv_update(c);
	zg__conn_dead_to_free(c);
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

/* All input goes: the connection is closing. */
void zg__conn_drop_input(struct zg_conn *c)
{
	if (c->nsegs)
		consume_input(c, c->in_len);
}

/* ZG_RF_HALF_OPEN: end of stream leaves closing to the application. */
static bool half_open(const struct zg_conn *c)
{
	return c->r->cfg.flags & ZG_RF_HALF_OPEN;
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
		if (c->tls && c->state == CS_OPEN)
			zg__tls_read(c);
		if (c->eof && !c->in_len && c->state == CS_OPEN && !half_open(c))
			zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		else
			zg__conn_recv_update(c);
	}
	/* Outside on_data (on_drain, a post, a timer), input left unexamined
	 * is for on_data to see next iteration, as inside it. */
	if (!c->in_cb && c->examined < c->in_len && c->state == CS_OPEN)
		zg__conn_make_ready(c);
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
	zg__conn_recv_update(c);
}

ZG_EXPORT void zg_conn_resume_read(struct zg_conn *c)
{
	c->paused = false;
	zg__conn_recv_update(c);
	if (c->in_len > c->examined && c->state == CS_OPEN)
		zg__conn_make_ready(c);
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

	/* ZG_RF_HOLD_INPUT: the application references its input (write_ref
	 * on another connection); moving it would pull the bytes from under
	 * those sends. It bounds what it holds itself. */
	return in_ring && !(c->r->cfg.flags & ZG_RF_HOLD_INPUT) &&
	       (c->nsegs > c->r->cfg.compact_segs || zg__bufring_low(&c->r->buf));
}

/* Run on_data for a ready connection (from the reactor's ready list). */
void zg__conn_dispatch(struct zg_conn *c)
{
	struct zg_reactor *r = c->r;

	/* not before on_open: a TLS connection's handshake is not done */
	if (c->state != CS_OPEN || !c->app_knows)
		return;
	if (c->in_len > c->examined || c->eof) {
		c->in_cb = true;
		c->advanced = false;
		if (c->h->on_data)
			c->h->on_data(c);
		else
			zg_conn_advance(c, c->in_len, c->in_len);
		c->in_cb = false;
		if (c->state != CS_OPEN)
			return;
		if (!c->advanced)
			c->examined = c->in_len;
		if (c->tls)
			zg__tls_read(c); /* ciphertext held back at max_input */
		if (keeps_too_much(c) && compact(c, c->in_len)) {
			zg__conn_fail(c, -ENOMEM);
			return;
		}
	}
	if (c->eof && !c->in_len && !half_open(c)) {
		/* The peer is done sending and nothing is left to process;
		 * what we queued still goes out. Input still held (say, the
		 * application paused for its own back-pressure) keeps the
		 * connection until it is consumed: see zg_conn_advance. */
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		return;
	}
	/* (ZG_RF_HOLD_INPUT: held on purpose, consumed later; reading
	 * stays paused at max_input until then.) */
	if (c->in_len >= r->cfg.max_input && c->examined >= c->in_len &&
	    !(r->cfg.flags & ZG_RF_HOLD_INPUT)) {
		zg__conn_fail(c, -E2BIG); /* full, and the application took nothing */
		return;
	}
	if (c->examined < c->in_len)
		zg__conn_make_ready(c); /* runs again next iteration */
	zg__conn_recv_update(c);
}

/* on_data for the connections that got input in this batch. Works on a
 * snapshot: a connection that asks to run again (it left input
 * unexamined) goes on the fresh list, for the next iteration. */
void zg__conns_run_ready(struct zg_reactor *r)
{
	struct zg_clist batch = r->ready;
	struct zg_conn *c;

	zg__clist_init(&r->ready);
	while ((c = zg__clist_pop(&batch, next_ready))) {
		c->ready = false;
		if (c->state == CS_FREE)
			zg__conn_slot_reuse(c);
		else
			zg__conn_dispatch(c);
	}
}

/* Re-arm at most as many starved recvs as the ring has free buffers,
 * oldest first: each can take one at least. A re-armed connection that
 * has no data takes none, so the next iteration re-arms more (the loop
 * does not sleep while buffers are free and connections starve). */
void zg__conns_rearm_starved(struct zg_reactor *r)
{
	unsigned budget = r->buf.free;
	struct zg_conn *c;

	while (budget-- && (c = zg__clist_pop(&r->starved, next_starved))) {
		c->starved_listed = false;
		if (c->state == CS_FREE) {
			zg__conn_slot_reuse(c);
			budget++;
		} else if (c->rstate == RS_STARVED) {
			c->rstate = RS_IDLE;
			zg__conn_recv_update(c); /* unless paused or full meanwhile */
		}
	}
}
