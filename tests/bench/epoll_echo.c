/* SPDX-License-Identifier: MIT */
/*
 * epoll_echo: the reference design the echo benchmark compares libzerg
 * against. A classic single-threaded, edge-triggered epoll echo server:
 *
 *   - nonblocking listener and sockets, SO_REUSEADDR, TCP_NODELAY;
 *   - every socket registered once with EPOLLIN | EPOLLOUT | EPOLLET
 *     (no epoll_ctl in the data path);
 *   - on readiness: read until EAGAIN, write each chunk straight back;
 *     what the kernel does not take goes into a per-connection pending
 *     buffer, flushed on the next EPOLLOUT edge; while more than
 *     PENDING_MAX bytes are pending, reading stops (back-pressure) and
 *     resumes once the buffer drains.
 *
 * Usage: epoll_echo [--port] PORT [--threads 1]   (0 picks a free port)
 * Prints "epoll_echo listening on port N" once ready; exits 0 on
 * SIGINT/SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define PENDING_MAX (1u << 20)
#define READ_BUF    (64u << 10)
#define MAX_EVENTS  512

struct conn {
	char *pend;          /* bytes read but not yet written back */
	size_t pend_off;     /* first unsent byte in pend           */
	size_t pend_len;     /* end of valid bytes in pend          */
	size_t pend_cap;
	int open;
	int read_blocked;    /* stopped reading: pending buffer full */
};

static struct conn *conns;
static int nconns_max;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		nconns_max = rl.rlim_cur > (1u << 20) ? (1 << 20) : (int)rl.rlim_cur;
	else
		nconns_max = 1024;
}

static void conn_close(int fd)
{
	struct conn *c = &conns[fd];

	free(c->pend);
	memset(c, 0, sizeof(*c));
	close(fd); /* also removes it from the epoll set */
}

static int pend_append(struct conn *c, const char *p, size_t n)
{
	if (c->pend_off == c->pend_len)
		c->pend_off = c->pend_len = 0;
	if (c->pend_len + n > c->pend_cap) {
		if (c->pend_off > 0) { /* compact first */
			memmove(c->pend, c->pend + c->pend_off, c->pend_len - c->pend_off);
			c->pend_len -= c->pend_off;
			c->pend_off = 0;
		}
		if (c->pend_len + n > c->pend_cap) {
			size_t cap = c->pend_cap ? c->pend_cap : 4096;
			while (cap < c->pend_len + n)
				cap *= 2;
			char *np = realloc(c->pend, cap);
			if (!np)
				return -1;
			c->pend = np;
			c->pend_cap = cap;
		}
	}
	memcpy(c->pend + c->pend_len, p, n);
	c->pend_len += n;
	return 0;
}

/* Write out the pending buffer. 0: all sent, 1: EAGAIN, -1: error. */
static int flush_pending(int fd, struct conn *c)
{
	while (c->pend_off < c->pend_len) {
		ssize_t w = write(fd, c->pend + c->pend_off, c->pend_len - c->pend_off);
		if (w > 0) {
			c->pend_off += (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return 1;
		} else {
			return -1;
		}
	}
	c->pend_off = c->pend_len = 0;
	return 0;
}

/* Read until EAGAIN, echoing each chunk. Returns -1 when the conn must close. */
static int handle_read(int fd, struct conn *c, char *buf)
{
	for (;;) {
		if (c->pend_len - c->pend_off > PENDING_MAX) {
			c->read_blocked = 1;
			return 0;
		}
		ssize_t r = read(fd, buf, READ_BUF);
		if (r > 0) {
			size_t off = 0;
			if (c->pend_off == c->pend_len) { /* nothing queued: write directly */
				while (off < (size_t)r) {
					ssize_t w = write(fd, buf + off, (size_t)r - off);
					if (w > 0)
						off += (size_t)w;
					else if (w < 0 && errno == EINTR)
						continue;
					else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
						break;
					else
						return -1;
				}
			}
			if (off < (size_t)r && pend_append(c, buf + off, (size_t)r - off) < 0)
				return -1;
			continue;
		}
		if (r == 0)
			return -1; /* peer closed; nothing more to echo to */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->read_blocked = 0;
			return 0;
		}
		return -1;
	}
}

int main(int argc, char **argv)
{
	int port = -1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			i++; /* accepted for command-line parity: always one thread */
		else if (argv[i][0] != '-')
			port = atoi(argv[i]);
	}
	if (port < 0 || port > 65535) {
		fprintf(stderr, "usage: %s [--port] PORT\n", argv[0]);
		return 2;
	}
	raise_nofile();
	conns = calloc((size_t)nconns_max, sizeof(*conns));
	if (!conns) {
		perror("calloc");
		return 1;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, SOMAXCONN) < 0) {
		perror("bind/listen");
		return 1;
	}
	socklen_t sl = sizeof(sin);
	getsockname(lfd, (struct sockaddr *)&sin, &sl);

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.fd = lfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

	printf("epoll_echo listening on port %d\n", ntohs(sin.sin_port));
	fflush(stdout);

	char *buf = malloc(READ_BUF);
	struct epoll_event events[MAX_EVENTS];
	while (!stop) {
		int n = epoll_wait(ep, events, MAX_EVENTS, 500);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;
			uint32_t e = events[i].events;

			if (fd == lfd) {
				for (;;) { /* edge-triggered: accept until EAGAIN */
					int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (cfd < 0) {
						if (errno == EINTR || errno == ECONNABORTED)
							continue;
						break; /* EAGAIN, or EMFILE: retried on the next edge */
					}
					if (cfd >= nconns_max) {
						close(cfd);
						continue;
					}
					setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					conns[cfd].open = 1;
					struct epoll_event cev = {
						.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
						.data.fd = cfd };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev) < 0)
						conn_close(cfd);
				}
				continue;
			}

			struct conn *c = &conns[fd];
			if (!c->open)
				continue;
			if (e & EPOLLERR) {
				conn_close(fd);
				continue;
			}
			if (e & EPOLLOUT) {
				int r = flush_pending(fd, c);
				if (r < 0) {
					conn_close(fd);
					continue;
				}
				/* drained below the limit: resume the reading we stopped */
				if (r == 0 && c->read_blocked)
					e |= EPOLLIN;
			}
			if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
				if (handle_read(fd, c, buf) < 0)
					conn_close(fd);
			}
		}
	}
	for (int fd = 0; fd < nconns_max; fd++)
		if (conns[fd].open)
			conn_close(fd);
	close(ep);
	close(lfd);
	free(buf);
	free(conns);
	return 0;
}
