/* SPDX-License-Identifier: MIT */
/* Outbound connections: a non-blocking socket (TCP, TCP over IPv6, or
 * Unix-domain), an optional source address, IORING_OP_CONNECT, and the
 * completion that turns a CONNECTING connection into an OPEN one (or
 * into an on_close with the error). From OPEN on it is a connection
 * like an accepted one. */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

ZG_EXPORT void zg_connect_opts_init(struct zg_connect_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 10000;
}

static bool is_inet(int family)
{
	return family == AF_INET || family == AF_INET6;
}

/* Port 0 in a source address: let connect pick the port, so the same
 * port can serve many destinations instead of one bind each. */
static bool wants_any_port(const struct sockaddr *a)
{
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_port == 0;
	return a->sa_family == AF_INET6 && ((const struct sockaddr_in6 *)a)->sin6_port == 0;
}

static int client_socket(const struct sockaddr *to, const struct zg_connect_opts *o)
{
	int one = 1, fd, ret;

	fd = socket(to->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (is_inet(to->sa_family))
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o->bind_addr) {
		if (is_inet(o->bind_addr->sa_family) && wants_any_port(o->bind_addr))
			setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, o->bind_addr, o->bind_len)) {
			ret = -errno;
			close(fd);
			return ret;
		}
	}
	return fd;
}

static int check_args(struct zg_reactor *r, const struct sockaddr *addr, socklen_t len,
		      const struct zg_connect_opts *o)
{
	if (!r || !addr || len < sizeof(sa_family_t) || len > sizeof(struct sockaddr_storage))
		return -EINVAL;
	if (!is_inet(addr->sa_family) && addr->sa_family != AF_UNIX)
		return -EAFNOSUPPORT;
	if (o->bind_addr && (o->bind_addr->sa_family != addr->sa_family || !o->bind_len))
		return -EINVAL;
	if (o->tls && !zg__tls_client(o->tls))
		return -EINVAL; /* a server context would wait for a ClientHello */
	return r->stopping ? -ESHUTDOWN : 0;
}

/* Undo zg__conn_take_slot for a connection nobody has seen yet. */
static void back_out(struct zg_conn *c)
{
	zg__conn_discard(c);
	zg__conn_slot_reuse(c);
	c->r->live--;
}

ZG_EXPORT int zg_reactor_connect(struct zg_reactor *r, const struct sockaddr *addr,
				 socklen_t len, const struct zg_connect_opts *opts,
				 struct zg_conn **out)
{
	struct zg_connect_opts defaults;
	struct io_uring_sqe *sqe;
	struct zg_conn *c;
	int fd, ret;

	if (!opts) {
		zg_connect_opts_init(&defaults);
		opts = &defaults;
	}
	ret = check_args(r, addr, len, opts);
	if (ret)
		return ret;
	fd = client_socket(addr, opts);
	if (fd < 0)
		return fd;
	c = zg__conn_take_slot(r, fd);
	if (!c) {
		close(fd);
		/* every slot taken, or the fd set could not grow */
		return r->nfree ? -ENOMEM : -EMFILE;
	}
	c->state = CS_CONNECTING;
	c->app_knows = true; /* on_close is owed even if the connect fails */
	c->udata = opts->udata;
	if (opts->handler) {
		c->own_h = *opts->handler;
		c->h = &c->own_h;
	}
	/* The SQE last: one taken from the ring is submitted, prepared or
	 * not, so nothing may fail after it. */
	ret = opts->tls ? zg__tls_attach(c, opts->tls) : 0;
	sqe = ret ? NULL : zg__sqe(r);
	if (!sqe) {
		back_out(c);
		return ret ? ret : -ENOMEM;
	}
	memcpy(&c->connect_to, addr, len);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&c->connect_to, len);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CONNECT, c->gen, c->slot));
	c->ops++;
	r->st.connects++;
	r->now_ms = zg__clock_ms(); /* the timeout counts from now, not the loop's start */
	zg_conn_set_deadline(c, opts->timeout_ms);
	if (out)
		*out = c;
	return 0;
}

/* CONNECTING -> OPEN: the idle timeout replaces the connect timeout,
 * the recv is armed, on_open runs, and what was written meanwhile goes
 * out. */
static void connected(struct zg_conn *c)
{
	c->state = CS_OPEN;
	zg_conn_set_deadline(c, 0);
	zg_conn_set_timeout(c, c->r->cfg.idle_timeout_ms);
	zg__conn_arm_recv(c);
	if (c->tls) {
		/* the handshake deadline, and the ClientHello; on_open
		 * runs when the handshake is done */
		zg_conn_set_deadline(c, zg__tls_timeout(c));
		zg__tls_read(c);
	} else {
		zg__conn_opened(c);
	}
	if (c->state != CS_OPEN)
		return;
	if (c->close_when_open)
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
	else if (c->out_len || c->shut_wr)
		zg__conn_make_dirty(c);
}

void zg__conn_on_connect(struct zg_conn *c, struct io_uring_cqe *cqe)
{
	assert(c->ops > 0);
	c->ops--;
	if (c->state == CS_CONNECTING) {
		if (cqe->res < 0)
			zg__conn_fail(c, cqe->res);
		else
			connected(c);
	}
	zg__conn_dead_to_free(c);
}
