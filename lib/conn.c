/* SPDX-License-Identifier: MIT */
/* Connections: opening, the close path, stop, timeouts and accessors.
 * The read path is in conn_read.c, the write path in conn_write.c.
 *
 * Lifecycle: OPEN -> (CLOSING: output flushing) -> (LINGER: FIN sent,
 * input discarded until the peer's FIN) -> DEAD -> FREE -> slot reuse.
 * The close path is named after those moves: zg__conn_to_linger,
 * zg__conn_to_dead (zg__conn_fail: to DEAD with an error and an RST),
 * zg__conn_dead_to_free (once no operation is in flight: the fd is
 * closed and on_close called), zg__conn_slot_reuse (once the slot is off
 * every list). Every CQE carries the slot's generation, so a CQE can never
 * reach a later connection in the same slot. */
#include <assert.h>
#include <errno.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static void timer_fired(struct zg_timer *t, void *arg);

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
	c->h = &r->h;
	zg__timer_setup(&c->tmo, r, timer_fired, c);
}

/* The reactor's set of connection fds: one bit per fd, grown on demand
 * (fds are small, dense integers). */
bool zg__fd_is_conn(const struct zg_reactor *r, int fd)
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

/* A fresh slot for fd, in OPEN with the reactor's handler; NULL when
 * every slot is taken (or the fd set cannot grow). */
struct zg_conn *zg__conn_take_slot(struct zg_reactor *r, int fd)
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
	return c;
}

/* An accepted or adopted socket becomes a connection: recv, then
 * on_open, at once or (tls) once the handshake is done. */
struct zg_conn *zg__conn_open(struct zg_reactor *r, int fd, struct zg_tls *tls)
{
	struct zg_conn *c = zg__conn_take_slot(r, fd);

	if (!c)
		return NULL;
	r->st.accepted++;
	zg_conn_set_timeout(c, r->cfg.idle_timeout_ms);
	if (tls && zg__tls_attach(c, tls)) {
		zg__conn_fail(c, -ENOMEM); /* counted, and closed with an RST */
		return c;
	}
	zg__conn_arm_recv(c);
	if (!tls)
		zg__conn_opened(c);
	return c;
}

/* The application meets the connection: on_open. */
void zg__conn_opened(struct zg_conn *c)
{
	c->app_knows = true;
	if (c->h->on_open)
		c->h->on_open(c);
}

/* Any state -> DEAD: stop everything in flight on the fd;
 * zg__conn_dead_to_free completes the close when the last CQE is in. */
void zg__conn_to_dead(struct zg_conn *c)
{
	struct io_uring_sqe *sqe;

	assert(c->state != CS_FREE);
	if (c->state == CS_DEAD)
		return;
	c->state = CS_DEAD;
	zg_timer_stop(&c->tmo);
	if (c->ops && (sqe = zg__sqe(c->r))) {
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
		c->r->inflight_misc++;
		if (c->rstate == RS_ARMED)
			c->rstate = RS_CANCELING;
	}
	zg__conn_dead_to_free(c);
}

/* To DEAD with an error: reason goes to on_close (the first one wins)
 * and the socket is closed with an RST. */
void zg__conn_fail(struct zg_conn *c, int reason)
{
	if (c->state == CS_DEAD)
		return;
	if (!c->close_reason)
		c->close_reason = reason;
	c->abort = true;
	zg__conn_to_dead(c);
}

/* A freed connection may still be linked on the ready, dirty or starved
 * list; its slot is reused only once it is off all of them (the lists
 * call this again as they drop it). */
void zg__conn_slot_reuse(struct zg_conn *c)
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
	zg__conn_slot_reuse(c);
}

/* DEAD -> FREE once no operation is in flight: the buffers and output
 * go back, on_close runs, the fd is closed. */
void zg__conn_dead_to_free(struct zg_conn *c)
{
	struct zg_reactor *r = c->r;

	if (c->state != CS_DEAD || c->ops)
		return;
	assert(c->rstate != RS_ARMED && !c->send_inflight && !c->zc_notif);
	if (c->abort && !c->fin_sent) {
		struct linger lg = { 1, 0 }; /* close with RST */
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	zg__conn_drop_input(c);
	zg__conn_drop_output(c);
	zg__tls_detach(c);
	r->st.closed++;
	/* Before the close, so zg_conn_fd/zg_conn_peer still name this
	 * connection's socket and not a newer one's. */
	/* An accepted TLS connection that never finished its handshake was
	 * never the application's: no on_close for it. */
	if (c->h->on_close && c->app_knows)
		c->h->on_close(c, c->close_reason);
	fd_unmark(r, c->fd);
	close(c->fd);
	slot_free(c);
}

ZG_EXPORT void zg_conn_close(struct zg_conn *c, unsigned flags)
{
	if (c->state == CS_DEAD || c->state == CS_FREE)
		return;
	if (flags & ZG_CLOSE_ABORT) {
		zg__conn_fail(c, 0);
		return;
	}
	/* Connecting, or a client in its TLS handshake (whose input a close
	 * would drop): closed once open, so what is queued goes out first.
	 * (An accepted one in its handshake is closed here only by a stop,
	 * before its ClientHello: at once.) */
	if (c->state == CS_CONNECTING || (zg__tls_handshaking(c) && c->app_knows)) {
		c->close_when_open = true;
		return;
	}
	if (c->state != CS_OPEN)
		return;
	c->state = CS_CLOSING;
	c->shut_wr = true;
	zg__conn_drop_input(c);
	zg__conn_make_dirty(c); /* the flush moves on to LINGER when drained */
	zg__conn_recv_update(c);
}

ZG_EXPORT void zg_conn_set_busy(struct zg_conn *c, bool busy)
{
	c->app_busy = busy;
}

ZG_EXPORT int zg_conn_shutdown(struct zg_conn *c)
{
	if ((c->state != CS_OPEN && c->state != CS_CONNECTING) || c->close_when_open)
		return -EPIPE;
	c->shut_wr = true;
	zg__conn_make_dirty(c);
	return 0;
}

/* CLOSING -> LINGER once the output is sent: FIN, then discard input
 * until the peer's FIN (or linger_ms). */
void zg__conn_to_linger(struct zg_conn *c)
{
	assert(c->state == CS_CLOSING && !c->out_len);
	c->state = CS_LINGER;
	zg__conn_send_fin(c);
	zg__conn_drop_input(c);
	if (c->eof || c->r->stopping) {
		zg__conn_to_dead(c);
		return;
	}
	zg_conn_set_timeout(c, c->r->cfg.linger_ms);
	zg__conn_recv_update(c);
}

/* Idle for a stop: nothing held, nothing to send, and no request on its
 * way (TLS: no handshake under way, no part of a record in). Bytes that
 * reached the socket are either still in it (SIOCINQ; with DEFER_TASKRUN
 * the recv runs only at our next enter) or already in a CQE not yet
 * reaped: checked after the ioctl, since on other setups the ioctl's
 * return may itself run the recv. */
static bool stop_idle(const struct zg_conn *c)
{
	int unread = 0;

	if (c->in_len || c->out_len || c->send_inflight || c->ready || c->app_busy ||
	    zg__tls_busy(c))
		return false;
	if (ioctl(c->fd, SIOCINQ, &unread) == 0 && unread > 0)
		return false;
	return !io_uring_cq_ready(&c->r->ring);
}

/* Called by the reactor each iteration while it stops. abort_at != 0:
 * the deadline passed, close everything now. */
void zg__conn_stop(struct zg_conn *c, uint64_t abort_at)
{
	if (c->state == CS_DEAD)
		return;
	if (abort_at) {
		zg__conn_fail(c, -ESHUTDOWN);
		return;
	}
	if (c->state == CS_OPEN && stop_idle(c)) {
		c->close_reason = -ESHUTDOWN;
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
	} else if (c->state == CS_LINGER) {
		zg__conn_to_dead(c);
	}
}

/* zg_reactor_free on a reactor that was not stopped: release what the
 * connection holds; no callbacks, the ring is about to go away. */
void zg__conn_discard(struct zg_conn *c)
{
	fd_unmark(c->r, c->fd);
	close(c->fd);
	zg__conn_drop_input(c);
	zg__conn_drop_output(c);
	zg__tls_detach(c);
	c->state = CS_FREE;
}

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
		zg__timer_arm_at(&c->tmo, when);
}

/* The connection's timer (an ordinary reactor timer) fired. */
static void timer_fired(struct zg_timer *t, void *arg)
{
	struct zg_conn *c = arg;
	uint64_t when = next_deadline(c);

	assert(t == &c->tmo);
	(void)t;

	if (c->state == CS_DEAD || when == UINT64_MAX)
		return;
	if (c->r->now_ms < when) {
		zg__timer_arm_at(&c->tmo, when);
		return;
	}
	if (c->state == CS_LINGER)
		zg__conn_to_dead(c);
	else
		zg__conn_fail(c, -ETIMEDOUT);
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

struct zg_conn *zg__conn_of(struct zg_reactor *r, uint64_t ud)
{
	uint32_t slot = ud_slot(ud);
	struct zg_conn *c;

	if (slot >= r->cfg.max_conns)
		return NULL;
	c = &r->conns[slot];
	if (c->state == CS_FREE || c->gen != ud_gen(ud))
		return NULL;
	return c;
}

/* Close without callbacks what a never-stopped reactor still holds. */
void zg__conns_free(struct zg_reactor *r)
{
	for (uint32_t i = 0; i < r->hiwater; i++) {
		struct zg_conn *c = &r->conns[i];
		if (c->state != CS_FREE)
			zg__conn_discard(c);
		free(c->carry);
		if (c->wq != c->inline_wq)
			free(c->wq);
		if (c->in != c->inline_in) {
			free(c->in);
			free(c->in_bid);
		}
	}
	if (r->conns)
		munmap(r->conns, r->conns_bytes);
	free(r->free_slots);
	free(r->fd_bits);
}
