/* SPDX-License-Identifier: MIT */
/* Listeners and accept: listening sockets (made here or adopted), the
 * multishot accept on each, its errors and back-off, adopting connected
 * sockets, and taking what is queued on a listener when a stop begins. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

static int listener_add(struct zg_reactor *r, int fd, struct zg_tls *tls)
{
	if (r->nlst == ZG_MAX_LISTENERS)
		return -ENOSPC;
	r->lst[r->nlst] = (struct zg_listener){ .fd = fd, .tls = zg__tls_ref(tls) };
	zg__arm_accept(r, r->nlst++);
	return 0;
}

int zg__bound_port(int fd, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return -errno;
	if (ss.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else if (ss.ss_family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else
		*port = 0; /* a Unix socket has no port */
	return 0;
}

/* Shared by zg_reactor_listen and the server, which binds before the
 * reactor threads exist. */
/* ZG_LISTEN_UNLINK: a socket file left at a Unix path by an earlier
 * run is removed; anything else at the path is left alone (bind then
 * fails with -EADDRINUSE). Abstract names have no file. */
static void unlink_stale(const struct sockaddr *addr, socklen_t len)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
	struct stat st;

	if (len <= offsetof(struct sockaddr_un, sun_path) || !un->sun_path[0])
		return;
	if (lstat(un->sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(un->sun_path);
}

/* Options for a TCP listener. SO_REUSEPORT has no meaning for a Unix
 * socket: several reactors share one by accepting on the same fd. */
static int tcp_options(int fd, const struct sockaddr *addr, unsigned flags)
{
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Set on the listener: accepted sockets inherit it, saving a
	 * syscall per connection. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((flags & ZG_LISTEN_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		return -errno;
	if (addr->sa_family == AF_INET6) {
		int v6only = !!(flags & ZG_LISTEN_V6ONLY);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
	return 0;
}

int zg__listen_socket(const struct sockaddr *addr, socklen_t len, int backlog,
		      unsigned flags, uint16_t *port)
{
	bool unix_path = addr->sa_family == AF_UNIX;
	int fd, ret;

	if (unix_path && (flags & ZG_LISTEN_REUSEPORT))
		return -EINVAL;
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!unix_path && (ret = tcp_options(fd, addr, flags)) < 0) {
		close(fd);
		return ret;
	}
	if (unix_path && (flags & ZG_LISTEN_UNLINK))
		unlink_stale(addr, len);
	if (bind(fd, addr, len) || listen(fd, backlog > 0 ? backlog : SOMAXCONN))
		goto fail;
	if (port && (ret = zg__bound_port(fd, port)) < 0) {
		close(fd);
		return ret;
	}
	return fd;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

ZG_EXPORT int zg_reactor_listen_tls(struct zg_reactor *r, const struct sockaddr *addr,
				    socklen_t len, int backlog, unsigned flags,
				    struct zg_tls *tls, uint16_t *port)
{
	int fd, ret;

	if (!r || !addr || (tls && zg__tls_client(tls)))
		return -EINVAL; /* (a client context: see zg_tls_new) */
	if (r->nlst == ZG_MAX_LISTENERS)
		return -ENOSPC;
	fd = zg__listen_socket(addr, len, backlog, flags, port);
	if (fd < 0)
		return fd;
	ret = listener_add(r, fd, tls);
	if (ret)
		close(fd);
	return ret;
}

ZG_EXPORT int zg_reactor_listen(struct zg_reactor *r, const struct sockaddr *addr,
				socklen_t len, int backlog, unsigned flags,
				uint16_t *port)
{
	return zg_reactor_listen_tls(r, addr, len, backlog, flags, NULL, port);
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

int zg__listen_fd_tls(struct zg_reactor *r, int fd, struct zg_tls *tls)
{
	int ret;

	if (!r || fd < 0)
		return -EINVAL;
	ret = check_listening(fd);
	return ret ? ret : listener_add(r, fd, tls);
}

ZG_EXPORT int zg_reactor_listen_fd(struct zg_reactor *r, int fd)
{
	return zg__listen_fd_tls(r, fd, NULL);
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
	if (zg__fd_is_conn(r, fd))
		return -EEXIST;
	if (r->stopping || !zg__conn_open(r, fd, NULL)) {
		close(fd);
		return r->stopping ? -ESHUTDOWN : r->nfree ? -ENOMEM : -EMFILE;
	}
	return 0;
}

void zg__arm_accept(struct zg_reactor *r, unsigned li)
{
	struct io_uring_sqe *sqe;

	if (r->lst[li].armed || r->lst[li].fd < 0 || r->lst[li].dead || r->stopping)
		return;
	sqe = zg__sqe(r);
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
		zg__arm_accept(r, i);
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
	struct io_uring_sqe *sqe = zg__sqe(r);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, ud_make(OP_ACCEPT, 0, li), 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
	r->inflight_misc++;
}

void zg__on_accept(struct zg_reactor *r, struct io_uring_cqe *cqe)
{
	unsigned li = ud_slot(cqe->user_data);

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		r->inflight_misc--;
		r->lst[li].armed = false;
	}
	if (cqe->res >= 0) {
		/* While stopping, an accepted connection is still served: its
		 * request reached us before the listener closed. */
		struct zg_tls *tls = r->lst[li].tls;

		/* TLS listeners accept locally: a handed-off fd has no TLS */
		if (r->handoff && !tls && !r->stopping && zg__server_handoff(r, cqe->res))
			;
		else if (!zg__conn_open(r, cqe->res, tls)) {
			r->st.shed++;
			close(cqe->res);
		}
	} else if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOMEM ||
		   cqe->res == -ENOBUFS) {
		zg__log(r, ZG_LOG_WARN, "accept: %s; retrying in 100 ms", strerror(-cqe->res));
		if (!r->lst[li].armed)
			accept_backoff(r);
		return;
	} else if (!accept_error_transient(cqe->res)) {
		/* The listener itself is broken (shut down, not listening):
		 * re-arming would fail again at once, forever. */
		zg__log(r, ZG_LOG_ERROR, "accept on listener %u: %s; listener stopped", li,
		       strerror(-cqe->res));
		if (r->lst[li].armed)
			cancel_accept(r, li);
		r->lst[li].dead = true;
		return;
	}
	if (!r->lst[li].armed && cqe->res != -ECANCELED)
		zg__arm_accept(r, li);
}

/* Connections the kernel has queued on a listener but nobody accepted
 * yet: closing the listener would reset them, requests and all. They
 * are taken as connections, and the stop treats them like the others. */
static void drain_backlog(struct zg_reactor *r, int lfd, struct zg_tls *tls)
{
	int fd, fl = fcntl(lfd, F_GETFL);

	/* An adopted listener may be blocking; it is closed right after. */
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(lfd, F_SETFL, fl | O_NONBLOCK)))
		return;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		if (!zg__conn_open(r, fd, tls)) {
			r->st.shed++;
			close(fd);
		}
	}
}

/* Stop accepting: cancel the multishot accepts, take what is queued on
 * the listeners, then close them at once so new clients are refused
 * instead of queued (the cancelled request holds the socket only until
 * its CQE). */
void zg__listeners_close(struct zg_reactor *r)
{
	for (unsigned i = 0; i < r->nlst; i++)
		if (r->lst[i].armed)
			cancel_accept(r, i);
	io_uring_submit(&r->ring);
	for (unsigned i = 0; i < r->nlst; i++) {
		if (r->lst[i].fd >= 0) {
			drain_backlog(r, r->lst[i].fd, r->lst[i].tls);
			close(r->lst[i].fd);
		}
		r->lst[i].fd = -1;
	}
	if (r->accept_retry)
		zg_timer_stop(r->accept_retry);
}
