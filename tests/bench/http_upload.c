/* SPDX-License-Identifier: MIT */
/*
 * http_upload: load generator for the upload profile of http_bench.sh.
 *
 * N keep-alive connections to 127.0.0.1:PORT, each sending `POST PATH`
 * with a SIZE-byte body (pseudo-random bytes) over and over, one request
 * in flight per connection. Unlike wrk it copes with a server that answers
 * before the body has fully arrived (nginx's `return` does): a request is
 * complete once its whole body is sent AND its whole response is read, and
 * only then does the next one start.
 *
 *   http_upload --port P [--conns 64] [--size 20971520] [--duration 10]
 *               [--path /upload] [--check-count]
 *
 * --check-count: the response body must be the decimal byte count
 * (httparena-server's contract); a wrong count is counted as a status error.
 * Prints one line in the format of tests/bench/wrk_report.lua:
 *   WRK requests=... duration_us=... bytes=... ... status_errors=... ...
 * Exit status: 0 when every completed response was a right 2xx, 1 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct uconn {
	int fd;
	size_t sent;     /* bytes of header + body sent                   */
	int resp_done;   /* the whole response has been read              */
	char head[2048]; /* response head as it arrives                   */
	size_t hlen;
	long body_left;  /* response body bytes to read; -1: head not done */
	int status;
	char rbody[32];  /* first bytes of the response body              */
	size_t rblen;
	int want_out;
};

static char req_head[512];
static size_t head_len, body_size;
static char *body;
static struct sockaddr_in srv;
static int ep, check_count;
static unsigned long long done_ok, status_errors, read_errors, write_errors, connect_errors,
	bytes_in;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_out(struct uconn *c, int out)
{
	if (c->want_out == out)
		return;
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

static void start_request(struct uconn *c)
{
	c->sent = 0;
	c->resp_done = 0;
	c->hlen = 0;
	c->body_left = -1;
	c->status = 0;
	c->rblen = 0;
	set_out(c, 1);
}

static int open_conn(struct uconn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&srv, sizeof(srv)) < 0) {
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		connect_errors++;
		return -1;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	c->want_out = 1;
	start_request(c);
	return 0;
}

static void reopen(struct uconn *c)
{
	if (c->fd >= 0)
		close(c->fd); /* leaves the epoll set */
	c->fd = -1;
	open_conn(c);
}

static void maybe_complete(struct uconn *c)
{
	if (!c->resp_done || c->sent < head_len + body_size)
		return;
	int good = c->status >= 200 && c->status < 300;
	if (good && check_count) {
		char want[32];
		int n = snprintf(want, sizeof(want), "%zu", body_size);
		good = c->rblen == (size_t)n && !memcmp(c->rbody, want, (size_t)n);
	}
	if (good)
		done_ok++;
	else
		status_errors++;
	start_request(c);
}

static void do_write(struct uconn *c)
{
	size_t total = head_len + body_size;
	while (c->sent < total) {
		struct iovec iov[2];
		int n = 0;
		if (c->sent < head_len) {
			iov[n].iov_base = req_head + c->sent;
			iov[n++].iov_len = head_len - c->sent;
			iov[n].iov_base = body;
			iov[n++].iov_len = body_size;
		} else {
			iov[n].iov_base = body + (c->sent - head_len);
			iov[n++].iov_len = total - c->sent;
		}
		ssize_t w = writev(c->fd, iov, n);
		if (w > 0) {
			c->sent += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		write_errors++;
		reopen(c);
		return;
	}
	set_out(c, 0);
	maybe_complete(c);
}

/* Feed response bytes; returns bytes used (the rest belongs to nothing:
 * one request in flight, so extra bytes are a protocol error). */
static int parse_resp(struct uconn *c, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && !c->resp_done) {
		if (c->body_left < 0) {
			if (c->hlen == sizeof(c->head))
				return -1;
			c->head[c->hlen++] = p[i++];
			if (c->hlen >= 4 && !memcmp(c->head + c->hlen - 4, "\r\n\r\n", 4)) {
				c->head[c->hlen] = 0;
				if (sscanf(c->head, "HTTP/1.%*d %d", &c->status) != 1)
					return -1;
				const char *cl = strcasestr(c->head, "\r\ncontent-length:");
				if (!cl)
					return -1; /* the servers measured here always send one */
				c->body_left = atol(cl + 17);
				if (c->body_left == 0)
					c->resp_done = 1;
			}
		} else {
			size_t take = n - i < (size_t)c->body_left ? n - i : (size_t)c->body_left;
			size_t keep = sizeof(c->rbody) - c->rblen;
			memcpy(c->rbody + c->rblen, p + i, take < keep ? take : keep);
			c->rblen += take < keep ? take : keep;
			c->body_left -= (long)take;
			i += take;
			if (c->body_left == 0)
				c->resp_done = 1;
		}
	}
	return i < n ? -1 : 0;
}

static void do_read(struct uconn *c)
{
	char buf[16384];
	for (;;) {
		ssize_t r = read(c->fd, buf, sizeof(buf));
		if (r > 0) {
			bytes_in += (unsigned long long)r;
			if (parse_resp(c, buf, (size_t)r) < 0) {
				read_errors++;
				reopen(c);
				return;
			}
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		read_errors++; /* closed by the server, or reset */
		reopen(c);
		return;
	}
	maybe_complete(c);
}

int main(int argc, char **argv)
{
	int port = -1, nconns = 64;
	double duration = 10;
	const char *path = "/upload";
	body_size = 20u << 20;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (!strcmp(a, "--check-count")) {
			check_count = 1;
			continue;
		}
		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--conns"))
			nconns = atoi(v);
		else if (!strcmp(a, "--size"))
			body_size = (size_t)atol(v);
		else if (!strcmp(a, "--duration"))
			duration = atof(v);
		else if (!strcmp(a, "--path"))
			path = v;
		else {
			fprintf(stderr, "http_upload: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	if (port <= 0 || nconns <= 0 || duration <= 0 || duration > 3600) {
		fprintf(stderr, "usage: http_upload --port P [--conns N] [--size B] [--duration S] [--path P] [--check-count]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	head_len = (size_t)snprintf(req_head, sizeof(req_head),
				    "POST %s HTTP/1.1\r\nHost: localhost:8080\r\n"
				    "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
				    path, body_size);
	body = malloc(body_size ? body_size : 1);
	if (!body)
		return 2;
	unsigned x = 12345;
	for (size_t i = 0; i < body_size; i++) {
		x = x * 1103515245u + 12345u;
		body[i] = (char)(x >> 16);
	}
	srv.sin_family = AF_INET;
	srv.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &srv.sin_addr);

	ep = epoll_create1(EPOLL_CLOEXEC);
	struct uconn *conns = calloc((size_t)nconns, sizeof(*conns));
	double t0 = now_s();
	for (int i = 0; i < nconns; i++)
		if (open_conn(&conns[i]) < 0) {
			fprintf(stderr, "http_upload: connect: %s\n", strerror(errno));
			return 1;
		}
	double t_end = t0 + duration;
	struct epoll_event evs[256];
	while (now_s() < t_end) {
		int n = epoll_wait(ep, evs, 256, 50);
		for (int i = 0; i < n; i++) {
			struct uconn *c = evs[i].data.ptr;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				do_read(c);
			if (c->fd >= 0 && (evs[i].events & EPOLLOUT) && c->want_out)
				do_write(c);
		}
	}
	double el = now_s() - t0;
	printf("WRK requests=%llu duration_us=%.0f bytes=%llu connect_errors=%llu read_errors=%llu "
	       "write_errors=%llu status_errors=%llu timeouts=0 p50_us=0 p99_us=0\n",
	       done_ok + status_errors, el * 1e6, bytes_in, connect_errors, read_errors, write_errors,
	       status_errors);
	for (int i = 0; i < nconns; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	free(conns);
	free(body);
	return (status_errors || read_errors || write_errors || connect_errors || !done_ok) ? 1 : 0;
}
