/* SPDX-License-Identifier: MIT */
/* The write path: the output queue (chunks from a per-reactor pool and
 * caller-owned references), the write calls, send preparation (SEND,
 * SENDMSG, SEND_ZC), their completions, and the flush of dirty
 * connections once per loop iteration. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

#define CHUNK_SIZE 16384u
#define CHUNK_POOL_MAX 512u

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
	/* close_when_open: closed already, the close only waits for the
	 * connect or the handshake (zg_conn_close(3): writes after it fail) */
	if ((c->state != CS_OPEN && c->state != CS_CONNECTING) || c->shut_wr ||
	    c->close_when_open)
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
		zg__conn_recv_update(c);
	}
	zg__conn_make_dirty(c);
}

ZG_EXPORT int zg_conn_commit(struct zg_conn *c, size_t n)
{
	struct zg_wentry *e = wq_tail(c);

	if (n > c->reserved || (c->state != CS_OPEN && c->state != CS_CONNECTING))
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
		zg__conn_make_dirty(c); /* released after earlier bytes are sent */
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
	zg__conn_flush(c);
	return 0; /* a failure from here on is the connection's: on_close says it */
}

static bool use_zc(const struct zg_conn *c, const struct zg_wentry *e)
{
	const struct zg_reactor *r = c->r;
	/* not under kernel TLS: it encrypts into its own buffers anyway */
	return !e->cap && r->cfg.zc_threshold && e->len - e->off >= r->cfg.zc_threshold &&
	       !c->zc_notif && !c->tls;
}

/* At most this much per send: an SQE's length is 32 bits, and the next
 * send resumes where one stopped anyway. */
#define ZG_SEND_MAX (1u << 30)

static size_t send_cap(size_t n)
{
	return n > ZG_SEND_MAX ? ZG_SEND_MAX : n;
}

/* MSG_WAITALL: the ring itself sends the rest of a short send. Not
 * under kernel TLS: its sendmsg fails any flag but MSG_MORE,
 * MSG_DONTWAIT, MSG_NOSIGNAL and MSG_EOR with -EOPNOTSUPP; a short send
 * goes on from the next flush (sent()). */
int zg__conn_send_flags(const struct zg_conn *c)
{
	if (c->tls && zg__tls_kernel_tx(c))
		return MSG_NOSIGNAL;
	return MSG_NOSIGNAL | MSG_WAITALL;
}

/* One contiguous range, one SEND. */
static void prep_one(struct zg_conn *c, struct io_uring_sqe *sqe, uint8_t *p, size_t n)
{
	c->send_len = send_cap(n);
	io_uring_prep_send(sqe, c->fd, p, c->send_len, zg__conn_send_flags(c));
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
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, zg__conn_send_flags(c));
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

void zg__conn_send_fin(struct zg_conn *c)
{
	if (c->fin_sent)
		return;
	c->fin_sent = true;
	shutdown(c->fd, SHUT_WR);
}

/* Copy up to max bytes of queued output into dst, in order, releasing
 * the entries (and references) emptied on the way: TLS encrypts them. */
size_t zg__conn_take_output(struct zg_conn *c, uint8_t *dst, size_t max)
{
	size_t got = 0;

	while (c->wq_len && got < max) {
		struct zg_wentry *e = &c->wq[c->wq_head];
		size_t take = e->len - e->off < max - got ? e->len - e->off : max - got;

		memcpy(dst + got, e->p + e->off, take);
		e->off += take;
		got += take;
		if (e->off < e->len)
			break;
		entry_release(c->r, e);
		c->wq_head++;
		c->wq_len--;
	}
	if (!c->wq_len)
		c->wq_head = 0;
	c->out_len -= got;
	return got;
}

/* One SEND of p[0..n) (TLS ciphertext). */
void zg__conn_send_buf(struct zg_conn *c, uint8_t *p, size_t n)
{
	struct io_uring_sqe *sqe = zg__sqe(c->r);

	if (!sqe) {
		zg__conn_fail(c, -ENOMEM);
		return;
	}
	prep_one(c, sqe, p, n);
	c->send_inflight = true;
	c->ops++;
	c->r->st.sends++;
}

void zg__conn_flush(struct zg_conn *c)
{
	struct io_uring_sqe *sqe;

	/* while connecting, output waits: the connect completion flushes */
	if (c->send_inflight || c->state == CS_DEAD || c->state == CS_FREE ||
	    c->state == CS_CONNECTING)
		return;
	if (c->tls && !zg__tls_kernel_tx(c)) {
		zg__tls_flush(c);
		return;
	}
	wq_pop_done(c);
	if (!c->out_len) {
		/* kernel TLS: close_notify first, then on here once sent */
		if ((c->state == CS_CLOSING || c->shut_wr) && c->tls && zg__tls_kernel_notify(c))
			return;
		if (c->state == CS_CLOSING)
			zg__conn_to_linger(c);
		else if (c->shut_wr)
			zg__conn_send_fin(c);
		return;
	}
	sqe = zg__sqe(c->r);
	if (!sqe) {
		zg__conn_fail(c, -ENOMEM);
		return;
	}
	prep_send(c, sqe);
	c->send_inflight = true;
	c->ops++;
	c->r->st.sends++;
}

/* All output goes, sent or not: the connection is gone. References are
 * released, also the one SEND_ZC's notification was to release. */
void zg__conn_drop_output(struct zg_conn *c)
{
	for (unsigned i = 0; i < c->wq_len; i++)
		entry_release(c->r, &c->wq[c->wq_head + i]);
	c->wq_head = c->wq_len = 0;
	c->out_len = 0;
	if (c->zc_deferred && c->zc_release)
		c->zc_release(c->zc_arg);
	c->zc_deferred = false;
}

/* The kernel accepted n bytes: advance through the queue. */
static void sent(struct zg_conn *c, size_t n)
{
	struct zg_wentry *e = &c->wq[c->wq_head];

	if (n < c->send_len)
		c->r->st.partial_sends++;
	c->out_len -= n;
	if (c->tls && zg__tls_sent(c, n))
		n = 0; /* ciphertext or an alert: not the queue's bytes */
	for (; n; e++) {
		size_t take = e->len - e->off < n ? e->len - e->off : n;
		e->off += take;
		n -= take;
	}
	wq_pop_done(c);
	zg__conn_touch(c);
	if (c->high_wm && !c->out_len && !(c->tls && zg__tls_held(c))) {
		c->high_wm = false;
		zg__conn_recv_update(c);
		if (c->tls && c->state == CS_OPEN)
			zg__tls_read(c); /* records held back at the high mark */
		if (c->state == CS_OPEN && c->h->on_drain)
			c->h->on_drain(c);
	}
	if (c->state != CS_DEAD)
		zg__conn_flush(c);
}

void zg__conn_on_send(struct zg_conn *c, struct io_uring_cqe *cqe)
{
	assert(c->ops > 0 && c->send_inflight);
	c->ops--;
	c->send_inflight = false;
	if (cqe->res < 0) {
		zg__conn_fail(c, cqe->res == -ECANCELED ? c->close_reason : cqe->res);
	} else if (c->state != CS_DEAD) {
		sent(c, (size_t)cqe->res);
	}
	zg__conn_dead_to_free(c);
}

/* SEND_ZC posts two CQEs: the send's result (with F_MORE when a
 * notification follows) and then the notification (F_NOTIF) once the
 * kernel no longer reads the bytes. The send counts as one operation in
 * c->ops from the SQE on; F_MORE on the result adds a second one, for the
 * notification, so the connection cannot be freed while the kernel still
 * reads the buffer. The entry is popped when its bytes are sent, but a
 * reference is released only at the notification: zc_deferred holds its
 * release until then. Without F_MORE no notification comes, and the
 * entries' zc marks are cleared at once. */
void zg__conn_on_send_zc(struct zg_conn *c, struct io_uring_cqe *cqe)
{
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		assert(c->ops > 0 && c->zc_notif);
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
		zg__conn_dead_to_free(c);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->zc_notif = false; /* no notification will follow */
	else
		c->ops++;
	if (!c->zc_notif)
		for (unsigned i = 0; i < c->wq_len; i++)
			c->wq[c->wq_head + i].zc = false;
	zg__conn_on_send(c, cqe);
}

void zg__conns_flush_dirty(struct zg_reactor *r)
{
	struct zg_conn *c;

	while ((c = zg__clist_pop(&r->dirty, next_dirty))) {
		c->dirty = false;
		if (c->state == CS_FREE)
			zg__conn_slot_reuse(c);
		else
			zg__conn_flush(c);
	}
}
