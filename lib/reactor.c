/* SPDX-License-Identifier: MIT */
/* The reactor: one io_uring, its listeners, connections, timers and posts.
 * One loop iteration: run posts and stop requests, fire timers, re-arm
 * starved recvs, publish returned buffers, submit and wait, dispatch the
 * CQE batch, call on_data once per ready connection, flush every dirty
 * connection (one send each). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define CQE_BATCH 256

ZG_EXPORT void zg_reactor_config_init(struct zg_reactor_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sq_entries = 2048;
	cfg->buf_count = 4096;
	cfg->buf_size = 4096;
	cfg->max_conns = 65536;
	cfg->max_input = 1u << 20;
	cfg->max_output = 64u << 20;
	cfg->idle_timeout_ms = 60000;
	cfg->linger_ms = 2000;
	cfg->compact_segs = 16;
	/* Measured: a 20 MiB upload costs 2-3x less server CPU with bundles
	 * (docs/benchmarks.md); small requests take one buffer either way. */
	cfg->flags = ZG_RF_RECV_BUNDLE;
}

void zg__log(struct zg_reactor *r, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!r->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->cfg.log(level, msg, r->cfg.log_arg);
}

/* An SQE, submitting first when the SQ is full. NULL only if the ring
 * is broken, which the callers treat like an allocation failure. */
struct io_uring_sqe *zg__sqe(struct zg_reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (likely(sqe))
		return sqe;
	io_uring_submit(&r->ring);
	sqe = io_uring_get_sqe(&r->ring);
	if (!sqe)
		zg__log(r, ZG_LOG_ERROR, "io_uring: no SQE after submit");
	return sqe;
}

/* Try the fastest ring setup first and fall back: DEFER_TASKRUN needs
 * 6.1, COOP_TASKRUN 5.19. */
static int ring_init(struct zg_reactor *r)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
		IORING_SETUP_CQSIZE,
	};
	struct io_uring_params p;
	int ret = -EINVAL;

	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		if (i == 0 && (r->cfg.flags & ZG_RF_NO_DEFER_TASKRUN))
			continue;
		memset(&p, 0, sizeof(p));
		p.flags = tries[i];
		p.cq_entries = r->cfg.sq_entries * 4;
		ret = io_uring_queue_init_params(r->cfg.sq_entries, &r->ring, &p);
		if (ret == 0) {
			r->ring_ok = true;
			r->ring_features = p.features;
			if (p.flags & IORING_SETUP_DEFER_TASKRUN)
				r->features |= ZG_FEAT_DEFER_TASKRUN;
			if (p.flags & IORING_SETUP_COOP_TASKRUN)
				r->features |= ZG_FEAT_COOP_TASKRUN;
			return 0;
		}
	}
	return ret;
}

/* Multishot recv and accept, provided buffer rings and SEND_ZC are
 * required (Linux 6.0). Multishot recv has no opcode of its own to
 * probe; SEND_ZC came in the same release, so it stands for both, and a
 * running reactor always has it (no feature bit says so). */
static int probe(struct zg_reactor *r)
{
	struct io_uring_probe *pr = io_uring_get_probe_ring(&r->ring);
	int ret = 0;

	if (!pr) {
		zg__log(r, ZG_LOG_ERROR, "io_uring: the kernel gives no opcode probe (Linux 5.6+ needed, 6.0 for libzerg)");
		return -ENOSYS;
	}
	if (!io_uring_opcode_supported(pr, IORING_OP_SEND_ZC))
		ret = -ENOSYS;
	io_uring_free_probe(pr);
	if (ret)
		zg__log(r, ZG_LOG_ERROR, "kernel too old: multishot recv needs Linux 6.0");
	return ret;
}

static int conns_init(struct zg_reactor *r)
{
	unsigned n = r->cfg.max_conns;

	/* Anonymous memory: zeroed, page (so cache line) aligned, and
	 * untouched slots cost nothing; slots are handed out lowest first. */
	r->conns_bytes = (size_t)n * sizeof(*r->conns);
	r->conns = mmap(NULL, r->conns_bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->conns == MAP_FAILED)
		r->conns = NULL;
	r->free_slots = malloc(n * sizeof(*r->free_slots));
	if (!r->conns || !r->free_slots)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		r->free_slots[i] = n - 1 - i;
	r->nfree = n;
	return 0;
}

/* The provided buffer ring, in the mode the config asks for and the
 * kernel supports: incremental (6.12) or bundles (6.10), else plain. */
static int bufring_setup(struct zg_reactor *r)
{
	const struct zg_reactor_config *cfg = &r->cfg;
	int ret;

	if (cfg->flags & ZG_RF_BUF_INC) {
		ret = zg__bufring_init(&r->buf, &r->ring, cfg->buf_count, cfg->buf_size, 0, true);
		if (ret == 0) {
			r->features |= ZG_FEAT_BUF_INC;
			return 0;
		}
		zg__log(r, ZG_LOG_INFO, "incremental buffers unavailable (Linux 6.12): plain ring");
	}
	ret = zg__bufring_init(&r->buf, &r->ring, cfg->buf_count, cfg->buf_size, 0, false);
	if (ret == 0 && (cfg->flags & ZG_RF_RECV_BUNDLE)) {
		/* Only with DEFER_TASKRUN: without it, bundles with the
		 * multishot byte limit delivered wrong bytes in a bundle's
		 * second buffer now and then (kernel 6.18, itest
		 * reset+nodefer), and without the limit one bundle takes a
		 * whole socket buffer past max_input. */
		if ((r->ring_features & IORING_FEAT_RECVSEND_BUNDLE) &&
		    (r->features & ZG_FEAT_DEFER_TASKRUN)) {
			r->buf.bundle = true;
			r->features |= ZG_FEAT_RECV_BUNDLE;
		} else {
			zg__log(r, ZG_LOG_INFO, "recv bundles unavailable (Linux 6.10, and DEFER_TASKRUN): one buffer per recv");
		}
	}
	return ret;
}

static int reactor_init(struct zg_reactor *r)
{
	int ret;

	ret = ring_init(r);
	if (ret) {
		zg__log(r, ZG_LOG_ERROR, "io_uring_queue_init: %s", strerror(-ret));
		return ret;
	}
	ret = probe(r);
	if (ret)
		return ret;
	/* Saves a file-table lookup on every io_uring_enter; the ring fd
	 * registration is per thread, like SINGLE_ISSUER. Optional. */
	if (io_uring_register_ring_fd(&r->ring) == 1)
		r->features |= ZG_FEAT_RING_FD;
	if (zg__ktls_probe())
		r->features |= ZG_FEAT_KTLS;
	ret = bufring_setup(r);
	if (ret) {
		zg__log(r, ZG_LOG_ERROR, "provided buffer ring: %s", strerror(-ret));
		return ret;
	}
	ret = conns_init(r);
	if (ret)
		return ret;
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->wake_fd < 0)
		return -errno;
	zg__wake_arm(r);
	return 0;
}

ZG_EXPORT int zg_reactor_new(const struct zg_reactor_config *cfg,
			     const struct zg_handler *handler, void *udata,
			     struct zg_reactor **out)
{
	struct zg_reactor *r;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (cfg)
		r->cfg = *cfg;
	else
		zg_reactor_config_init(&r->cfg);
	if (!r->cfg.max_conns || !r->cfg.sq_entries || r->cfg.max_input < r->cfg.buf_size ||
	    r->cfg.buf_size < 64 || !r->cfg.buf_count || r->cfg.buf_count > 32768 ||
	    (r->cfg.buf_count & (r->cfg.buf_count - 1))) {
		free(r);
		return -EINVAL;
	}
	if (handler)
		r->h = *handler;
	r->udata = udata;
	r->wake_fd = -1;
	zg__clist_init(&r->ready);
	zg__clist_init(&r->dirty);
	zg__clist_init(&r->starved);
	pthread_mutex_init(&r->post_lock, NULL);
	r->now_ms = zg__clock_ms();
	ret = reactor_init(r);
	if (ret) {
		zg_reactor_free(r);
		return ret;
	}
	*out = r;
	return 0;
}

/* A CQE whose connection is gone still carries a buffer that must go
 * back to the ring. With the refcount this should not happen; the
 * check keeps a bug from leaking ring buffers. */
static void drop_stale(struct zg_reactor *r, struct io_uring_cqe *cqe)
{
	if ((cqe->flags & IORING_CQE_F_BUFFER) && cqe->res > 0)
		zg__bufring_drop(&r->buf, cqe->flags >> IORING_CQE_BUFFER_SHIFT, cqe->res,
				cqe->flags);
	zg__log(r, ZG_LOG_WARN, "stale CQE op %u dropped", ud_op(cqe->user_data));
}

static void dispatch_cqe(struct zg_reactor *r, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	struct zg_conn *c;

	switch (ud_op(ud)) {
	case OP_ACCEPT:
		zg__on_accept(r, cqe);
		return;
	case OP_WAKE:
		zg__wake_read(r);
		if (!(cqe->flags & IORING_CQE_F_MORE)) {
			r->wake_armed = false;
			r->inflight_misc--;
			zg__wake_arm(r);
		}
		return;
	case OP_CANCEL:
		r->inflight_misc--;
		return;
	case OP_WATCH:
		zg__watch_on_cqe(r, cqe);
		return;
	default:
		break;
	}
	c = zg__conn_of(r, ud);
	if (!c) {
		drop_stale(r, cqe);
		return;
	}
	switch (ud_op(ud)) {
	case OP_RECV:
		zg__conn_on_recv(c, cqe);
		break;
	case OP_SEND:
		zg__conn_on_send(c, cqe);
		break;
	case OP_SEND_ZC:
		zg__conn_on_send_zc(c, cqe);
		break;
	case OP_CONNECT:
		zg__conn_on_connect(c, cqe);
		break;
	case OP_TLS_RECV:
		zg__tls_on_recv(c, cqe);
		break;
	}
}

/* A stop begins: no more accepting (zg__listeners_close), and the
 * deadline is set for stop_step. */
static void begin_stop(struct zg_reactor *r, unsigned deadline_ms)
{
	r->stopping = true;
	r->stop_deadline = r->now_ms + deadline_ms;
	zg__listeners_close(r);
}

/* While stopping: close idle connections, and everything after the
 * deadline. Runs each iteration until no connection is left. */
static void stop_step(struct zg_reactor *r)
{
	uint64_t abort_at = r->now_ms >= r->stop_deadline ? r->now_ms : 0;

	for (uint32_t i = 0; i < r->hiwater; i++) {
		struct zg_conn *c = &r->conns[i];
		if (c->state != CS_FREE)
			zg__conn_stop(c, abort_at);
	}
	if (!r->live && r->inflight_misc <= (r->wake_armed ? 1u : 0u)) {
		zg__bufring_check_idle(&r->buf);
		/* From here posts are refused; the ones already queued still
		 * run (a handed-off fd is then closed by the stopping adopt). */
		zg__posts_close(r);
		r->stopped = true;
	}
}

static void loop_prologue(struct zg_reactor *r)
{
	uint64_t req;

	r->now_ms = zg__clock_ms();
	r->worked = false;
	zg__posts_run(r);
	req = atomic_load(&r->stop_req);
	if (req && !r->stopping)
		begin_stop(r, (unsigned)(req - 1));
	zg__timers_run(r);
	zg__bufring_publish(&r->buf);
	zg__conns_rearm_starved(r);
	if (r->stopping)
		stop_step(r);
	/* Writes made between two run_once calls go out with this submit. */
	zg__conns_flush_dirty(r);
}

static int wait_cqes(struct zg_reactor *r, int timeout_ms)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts;
	int t = zg__timers_wait_ms(r), ret;

	if (r->ready.head || r->worked || (r->starved.head && r->buf.free))
		t = 0; /* callbacks ran, or starved recvs can be re-armed */
	else if (r->stopping && r->stop_deadline > r->now_ms &&
		 (t < 0 || (uint64_t)t > r->stop_deadline - r->now_ms))
		t = (int)(r->stop_deadline - r->now_ms);
	if (timeout_ms >= 0 && (t < 0 || timeout_ms < t))
		t = timeout_ms;
	if (t == 0) {
		/* With DEFER_TASKRUN completions only appear when we ask
		 * for events, so a plain submit is not enough. */
		ret = io_uring_submit_and_get_events(&r->ring);
		return ret < 0 ? ret : 0;
	}
	if (t < 0)
		return io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, NULL, NULL);
	ts.tv_sec = t / 1000;
	ts.tv_nsec = (long long)(t % 1000) * 1000000;
	return io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
}

static void reap(struct zg_reactor *r)
{
	struct io_uring_cqe *cqes[CQE_BATCH];
	unsigned n;

	while ((n = io_uring_peek_batch_cqe(&r->ring, cqes, CQE_BATCH)) > 0) {
		for (unsigned i = 0; i < n; i++)
			dispatch_cqe(r, cqes[i]);
		io_uring_cq_advance(&r->ring, n);
		if (n < CQE_BATCH)
			break;
	}
}

ZG_EXPORT int zg_reactor_run_once(struct zg_reactor *r, int timeout_ms)
{
	int ret;

	if (r->stopped)
		return 0;
	loop_prologue(r);
	if (r->stopped)
		return 0;
	ret = wait_cqes(r, timeout_ms);
	if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
		zg__log(r, ZG_LOG_ERROR, "io_uring_submit_and_wait: %s", strerror(-ret));
		r->err = ret;
		return ret;
	}
	r->now_ms = zg__clock_ms();
	reap(r);
	zg__conns_run_ready(r);
	zg__conns_flush_dirty(r);
	return 1;
}

ZG_EXPORT int zg_reactor_run(struct zg_reactor *r)
{
	int ret;

	while ((ret = zg_reactor_run_once(r, -1)) > 0)
		;
	return ret < 0 ? ret : r->err;
}

ZG_EXPORT void zg_reactor_free(struct zg_reactor *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->nlst; i++) {
		if (r->lst[i].fd >= 0)
			close(r->lst[i].fd);
		zg_tls_free(r->lst[i].tls);
	}
	zg_timer_free(r->accept_retry);
	zg__posts_free(r);
	/* Exiting the ring cancels whatever is still in flight, so only
	 * then may the buffer slab be unmapped, and a connection's memory
	 * freed that an operation reads or writes (a send's output, a TLS
	 * connection's own recv buffer). */
	if (r->ring_ok)
		io_uring_queue_exit(&r->ring);
	zg__conns_free(r);
	zg__bufring_check_idle(&r->buf);
	zg__watches_free(r);
	zg__bufring_free(&r->buf, NULL);
	while (r->chunk_pool) {
		void *next = *(void **)r->chunk_pool;
		free(r->chunk_pool);
		r->chunk_pool = next;
	}
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	free(r->timers.v);
	pthread_mutex_destroy(&r->post_lock);
	free(r);
}

ZG_EXPORT void *zg_reactor_udata(const struct zg_reactor *r) { return r->udata; }
ZG_EXPORT void zg_reactor_set_udata(struct zg_reactor *r, void *u) { r->udata = u; }
ZG_EXPORT unsigned zg_reactor_id(const struct zg_reactor *r) { return r->id; }
ZG_EXPORT uint64_t zg_reactor_now_ms(const struct zg_reactor *r) { return r->now_ms; }
ZG_EXPORT unsigned zg_reactor_conn_count(const struct zg_reactor *r) { return r->live; }
ZG_EXPORT unsigned zg_reactor_features(const struct zg_reactor *r) { return r->features; }

ZG_EXPORT void zg_reactor_stats(const struct zg_reactor *r, struct zg_reactor_stats *st)
{
	*st = r->st;
	st->bufs_free = r->buf.free;
}
