/* SPDX-License-Identifier: MIT */
/* The reactor: one io_uring, its listeners, connections, timers and posts.
 * One loop iteration: run posts and stop requests, fire timers, re-arm
 * starved recvs, publish returned buffers, submit and wait, dispatch the
 * CQE batch, call on_data once per ready connection, flush every dirty
 * connection (one send each). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

void zg_log(struct zg_reactor *r, int level, const char *fmt, ...)
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
struct io_uring_sqe *zg_sqe(struct zg_reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (likely(sqe))
		return sqe;
	io_uring_submit(&r->ring);
	sqe = io_uring_get_sqe(&r->ring);
	if (!sqe)
		zg_log(r, ZG_LOG_ERROR, "io_uring: no SQE after submit");
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

/* Multishot recv and accept, and provided buffer rings, are required
 * (Linux 6.0). SEND_ZC is used when present. */
static int probe(struct zg_reactor *r)
{
	struct io_uring_probe *pr = io_uring_get_probe_ring(&r->ring);
	int ret = 0;

	if (!pr)
		return -ENOSYS;
	/* Multishot recv has no opcode of its own to probe; SEND_ZC came
	 * in the same release (6.0), so it stands for both. */
	if (io_uring_opcode_supported(pr, IORING_OP_SEND_ZC))
		r->features |= ZG_FEAT_SEND_ZC;
	else
		ret = -ENOSYS;
	io_uring_free_probe(pr);
	if (ret)
		zg_log(r, ZG_LOG_ERROR, "kernel too old: multishot recv needs Linux 6.0");
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
		ret = zg_bufring_init(&r->buf, &r->ring, cfg->buf_count, cfg->buf_size, 0, true);
		if (ret == 0) {
			r->features |= ZG_FEAT_BUF_INC;
			return 0;
		}
		zg_log(r, ZG_LOG_INFO, "incremental buffers unavailable (Linux 6.12): plain ring");
	}
	ret = zg_bufring_init(&r->buf, &r->ring, cfg->buf_count, cfg->buf_size, 0, false);
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
			zg_log(r, ZG_LOG_INFO, "recv bundles unavailable (Linux 6.10, and DEFER_TASKRUN): one buffer per recv");
		}
	}
	return ret;
}

static int reactor_init(struct zg_reactor *r)
{
	int ret;

	ret = ring_init(r);
	if (ret) {
		zg_log(r, ZG_LOG_ERROR, "io_uring_queue_init: %s", strerror(-ret));
		return ret;
	}
	ret = probe(r);
	if (ret)
		return ret;
	/* Saves a file-table lookup on every io_uring_enter; the ring fd
	 * registration is per thread, like SINGLE_ISSUER. Optional. */
	if (io_uring_register_ring_fd(&r->ring) == 1)
		r->features |= ZG_FEAT_RING_FD;
	ret = bufring_setup(r);
	if (ret) {
		zg_log(r, ZG_LOG_ERROR, "provided buffer ring: %s", strerror(-ret));
		return ret;
	}
	ret = conns_init(r);
	if (ret)
		return ret;
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->wake_fd < 0)
		return -errno;
	zg_wake_arm(r);
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
	r->ready_tail = &r->ready_head;
	r->dirty_tail = &r->dirty_head;
	r->starved_tail = &r->starved_head;
	pthread_mutex_init(&r->post_lock, NULL);
	r->now_ms = zg_clock_ms();
	ret = reactor_init(r);
	if (ret) {
		zg_reactor_free(r);
		return ret;
	}
	*out = r;
	return 0;
}

static int listener_add(struct zg_reactor *r, int fd)
{
	if (r->nlst == ZG_MAX_LISTENERS)
		return -ENOSPC;
	r->lst[r->nlst] = (struct zg_listener){ .fd = fd };
	zg_arm_accept(r, r->nlst++);
	return 0;
}

static int bound_port(int fd, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return -errno;
	if (ss.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

/* Shared by zg_reactor_listen and the server, which binds before the
 * reactor threads exist. */
int zg_listen_socket(const struct sockaddr *addr, socklen_t len, int backlog,
		     unsigned flags, uint16_t *port)
{
	int one = 1, fd, ret;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Set on the listener: accepted sockets inherit it, saving a
	 * syscall per connection. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((flags & ZG_LISTEN_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto fail;
	if (addr->sa_family == AF_INET6) {
		int v6only = !!(flags & ZG_LISTEN_V6ONLY);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
	if (bind(fd, addr, len) || listen(fd, backlog > 0 ? backlog : SOMAXCONN))
		goto fail;
	if (port && (ret = bound_port(fd, port)) < 0) {
		close(fd);
		return ret;
	}
	return fd;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

ZG_EXPORT int zg_reactor_listen(struct zg_reactor *r, const struct sockaddr *addr,
				socklen_t len, int backlog, unsigned flags,
				uint16_t *port)
{
	int fd, ret;

	if (!r || !addr)
		return -EINVAL;
	if (r->nlst == ZG_MAX_LISTENERS)
		return -ENOSPC;
	fd = zg_listen_socket(addr, len, backlog, flags, port);
	if (fd < 0)
		return fd;
	ret = listener_add(r, fd);
	if (ret)
		close(fd);
	return ret;
}

/* A socket accept can work on: a listening stream socket. Anything else
 * would fail every accept, and a multishot accept re-armed on failure
 * would spin. */
static int check_listening(int fd)
{
	int type = 0, on = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len))
		return errno == ENOTSOCK ? -EINVAL : -errno;
	len = sizeof(on);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len))
		return -errno;
	return type == SOCK_STREAM && on ? 0 : -EINVAL;
}

ZG_EXPORT int zg_reactor_listen_fd(struct zg_reactor *r, int fd)
{
	int ret;

	if (!r || fd < 0)
		return -EINVAL;
	ret = check_listening(fd);
	return ret ? ret : listener_add(r, fd);
}

ZG_EXPORT int zg_reactor_adopt(struct zg_reactor *r, int fd)
{
	if (!r || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	/* Not closed: it is a live connection's socket, and closing it
	 * would cut that connection. */
	if (zg_fd_is_conn(r, fd))
		return -EEXIST;
	if (r->stopping || !zg_conn_open(r, fd)) {
		close(fd);
		return r->stopping ? -ESHUTDOWN : r->nfree ? -ENOMEM : -EMFILE;
	}
	return 0;
}

void zg_arm_accept(struct zg_reactor *r, unsigned li)
{
	struct io_uring_sqe *sqe;

	if (r->lst[li].armed || r->lst[li].fd < 0 || r->lst[li].dead || r->stopping)
		return;
	sqe = zg_sqe(r);
	if (!sqe)
		return;
	io_uring_prep_multishot_accept(sqe, r->lst[li].fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud_make(OP_ACCEPT, 0, li));
	r->lst[li].armed = true;
	r->inflight_misc++;
}

static void accept_retry(struct zg_timer *t, void *arg)
{
	struct zg_reactor *r = arg;
	(void)t;
	for (unsigned i = 0; i < r->nlst; i++)
		zg_arm_accept(r, i);
}

/* Out of fds (EMFILE/ENFILE): the multishot accept ended; try again in
 * 100 ms rather than spinning on a full fd table. */
static void accept_backoff(struct zg_reactor *r)
{
	if (!r->accept_retry && zg_timer_new(r, accept_retry, r, &r->accept_retry))
		return;
	if (!zg_timer_active(r->accept_retry))
		zg_timer_start(r->accept_retry, 100, 0);
}

/* Errors of one connection that the next accept does not repeat
 * (accept(2): the pending connection went away, or a firewall said no). */
static bool accept_error_transient(int res)
{
	switch (-res) {
	case ECANCELED: case ECONNABORTED: case EPROTO: case EPERM: case EINTR:
	case EAGAIN: case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN: case ENONET:
	case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH: case ETIMEDOUT:
		return true;
	default:
		return false;
	}
}

static void cancel_accept(struct zg_reactor *r, unsigned li)
{
	struct io_uring_sqe *sqe = zg_sqe(r);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, ud_make(OP_ACCEPT, 0, li), 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
	r->inflight_misc++;
}

static void on_accept(struct zg_reactor *r, struct io_uring_cqe *cqe)
{
	unsigned li = ud_slot(cqe->user_data);

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		r->inflight_misc--;
		r->lst[li].armed = false;
	}
	if (cqe->res >= 0) {
		/* While stopping, an accepted connection is still served: its
		 * request reached us before the listener closed. */
		if (r->handoff && !r->stopping && zg_server_handoff(r, cqe->res))
			;
		else if (!zg_conn_open(r, cqe->res)) {
			r->st.shed++;
			close(cqe->res);
		}
	} else if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOMEM ||
		   cqe->res == -ENOBUFS) {
		zg_log(r, ZG_LOG_WARN, "accept: %s; retrying in 100 ms", strerror(-cqe->res));
		if (!r->lst[li].armed)
			accept_backoff(r);
		return;
	} else if (!accept_error_transient(cqe->res)) {
		/* The listener itself is broken (shut down, not listening):
		 * re-arming would fail again at once, forever. */
		zg_log(r, ZG_LOG_ERROR, "accept on listener %u: %s; listener stopped", li,
		       strerror(-cqe->res));
		if (r->lst[li].armed)
			cancel_accept(r, li);
		r->lst[li].dead = true;
		return;
	}
	if (!r->lst[li].armed && cqe->res != -ECANCELED)
		zg_arm_accept(r, li);
}

static struct zg_conn *conn_of(struct zg_reactor *r, uint64_t ud)
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

/* A CQE whose connection is gone still carries a buffer that must go
 * back to the ring. With the refcount this should not happen; the
 * check keeps a bug from leaking ring buffers. */
static void drop_stale(struct zg_reactor *r, struct io_uring_cqe *cqe)
{
	if ((cqe->flags & IORING_CQE_F_BUFFER) && cqe->res > 0)
		zg_bufring_drop(&r->buf, cqe->flags >> IORING_CQE_BUFFER_SHIFT, cqe->res,
				cqe->flags);
	zg_log(r, ZG_LOG_WARN, "stale CQE op %u dropped", ud_op(cqe->user_data));
}

static void dispatch_cqe(struct zg_reactor *r, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	struct zg_conn *c;

	switch (ud_op(ud)) {
	case OP_ACCEPT:
		on_accept(r, cqe);
		return;
	case OP_WAKE:
		zg_wake_read(r);
		if (!(cqe->flags & IORING_CQE_F_MORE)) {
			r->wake_armed = false;
			r->inflight_misc--;
			zg_wake_arm(r);
		}
		return;
	case OP_CANCEL:
		r->inflight_misc--;
		return;
	default:
		break;
	}
	c = conn_of(r, ud);
	if (!c) {
		drop_stale(r, cqe);
		return;
	}
	switch (ud_op(ud)) {
	case OP_RECV:
		zg_conn_on_recv(c, cqe);
		break;
	case OP_SEND:
		zg_conn_on_send(c, cqe);
		break;
	case OP_SEND_ZC:
		zg_conn_on_send_zc(c, cqe);
		break;
	}
}

/* on_data for the connections that got input in this batch. Works on a
 * snapshot: a connection that asks to run again (it left input
 * unexamined) goes on the fresh list, for the next iteration. */
static void run_ready(struct zg_reactor *r)
{
	struct zg_conn *c = r->ready_head;

	r->ready_head = NULL;
	r->ready_tail = &r->ready_head;
	while (c) {
		struct zg_conn *next = c->next_ready;
		c->ready = false;
		if (c->state == CS_FREE)
			zg_conn_release_slot(c);
		else
			zg_conn_dispatch(c);
		c = next;
	}
}

static void run_dirty(struct zg_reactor *r)
{
	struct zg_conn *c;

	while ((c = r->dirty_head)) {
		r->dirty_head = c->next_dirty;
		if (!r->dirty_head)
			r->dirty_tail = &r->dirty_head;
		c->dirty = false;
		if (c->state == CS_FREE)
			zg_conn_release_slot(c);
		else
			zg_conn_flush_now(c);
	}
}

/* Re-arm at most as many starved recvs as the ring has free buffers,
 * oldest first: each can take one at least. A re-armed connection that
 * has no data takes none, so the next iteration re-arms more (the loop
 * does not sleep while buffers are free and connections starve). */
static void rearm_starved(struct zg_reactor *r)
{
	unsigned budget = r->buf.free;

	while (budget-- && r->starved_head) {
		struct zg_conn *c = r->starved_head;
		r->starved_head = c->next_starved;
		if (!r->starved_head)
			r->starved_tail = &r->starved_head;
		c->starved_listed = false;
		if (c->state == CS_FREE) {
			zg_conn_release_slot(c);
			budget++;
		} else if (c->rstate == RS_STARVED) {
			c->rstate = RS_IDLE;
			zg_conn_recv_update(c); /* unless paused or full meanwhile */
		}
	}
}

/* Connections the kernel has queued on a listener but nobody accepted
 * yet: closing the listener would reset them, requests and all. They
 * are taken as connections, and the stop treats them like the others. */
static void drain_backlog(struct zg_reactor *r, int lfd)
{
	int fd, fl = fcntl(lfd, F_GETFL);

	/* An adopted listener may be blocking; it is closed right after. */
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(lfd, F_SETFL, fl | O_NONBLOCK)))
		return;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		if (!zg_conn_open(r, fd)) {
			r->st.shed++;
			close(fd);
		}
	}
}

/* Stop accepting: cancel the multishot accepts, take what is queued on
 * the listeners, then close them at once so new clients are refused
 * instead of queued (the cancelled request holds the socket only until
 * its CQE). */
static void begin_stop(struct zg_reactor *r, unsigned deadline_ms)
{
	r->stopping = true;
	r->stop_deadline = r->now_ms + deadline_ms;
	for (unsigned i = 0; i < r->nlst; i++)
		if (r->lst[i].armed)
			cancel_accept(r, i);
	io_uring_submit(&r->ring);
	for (unsigned i = 0; i < r->nlst; i++) {
		if (r->lst[i].fd >= 0) {
			drain_backlog(r, r->lst[i].fd);
			close(r->lst[i].fd);
		}
		r->lst[i].fd = -1;
	}
	if (r->accept_retry)
		zg_timer_stop(r->accept_retry);
}

/* While stopping: close idle connections, and everything after the
 * deadline. Runs each iteration until no connection is left. */
static void stop_step(struct zg_reactor *r)
{
	uint64_t abort_at = r->now_ms >= r->stop_deadline ? r->now_ms : 0;

	for (uint32_t i = 0; i < r->hiwater; i++) {
		struct zg_conn *c = &r->conns[i];
		if (c->state != CS_FREE)
			zg_conn_stop(c, abort_at);
	}
	if (!r->live && r->inflight_misc <= (r->wake_armed ? 1u : 0u)) {
		zg_bufring_check_idle(&r->buf);
		/* From here posts are refused; the ones already queued still
		 * run (a handed-off fd is then closed by the stopping adopt). */
		zg_posts_close(r);
		r->stopped = true;
	}
}

static void loop_prologue(struct zg_reactor *r)
{
	uint64_t req;

	r->now_ms = zg_clock_ms();
	r->worked = false;
	zg_posts_run(r);
	req = atomic_load(&r->stop_req);
	if (req && !r->stopping)
		begin_stop(r, (unsigned)(req - 1));
	zg_timers_run(r);
	zg_bufring_publish(&r->buf);
	rearm_starved(r);
	if (r->stopping)
		stop_step(r);
	/* Writes made between two run_once calls go out with this submit. */
	run_dirty(r);
}

static int wait_cqes(struct zg_reactor *r, int timeout_ms)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts;
	int t = zg_timers_wait_ms(r), ret;

	if (r->ready_head || r->worked || (r->starved_head && r->buf.free))
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
		zg_log(r, ZG_LOG_ERROR, "io_uring_submit_and_wait: %s", strerror(-ret));
		r->err = ret;
		return ret;
	}
	r->now_ms = zg_clock_ms();
	reap(r);
	run_ready(r);
	run_dirty(r);
	return 1;
}

ZG_EXPORT int zg_reactor_run(struct zg_reactor *r)
{
	int ret;

	while ((ret = zg_reactor_run_once(r, -1)) > 0)
		;
	return ret < 0 ? ret : r->err;
}

/* Close without callbacks what a never-stopped reactor still holds. */
static void free_conns(struct zg_reactor *r)
{
	for (uint32_t i = 0; i < r->hiwater; i++) {
		struct zg_conn *c = &r->conns[i];
		if (c->state != CS_FREE)
			zg_conn_drop(c);
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

ZG_EXPORT void zg_reactor_free(struct zg_reactor *r)
{
	if (!r)
		return;
	free_conns(r);
	zg_bufring_check_idle(&r->buf);
	for (unsigned i = 0; i < r->nlst; i++)
		if (r->lst[i].fd >= 0)
			close(r->lst[i].fd);
	zg_timer_free(r->accept_retry);
	zg_posts_free(r);
	/* Exiting the ring cancels whatever is still in flight, so only
	 * then may the buffer slab be unmapped. */
	if (r->ring_ok)
		io_uring_queue_exit(&r->ring);
	zg_bufring_free(&r->buf, NULL);
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
