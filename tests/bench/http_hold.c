/* SPDX-License-Identifier: MIT */
/*
 * http_hold: open N keep-alive connections to 127.0.0.1:PORT, send one
 * request on each (GET PATH), read its response, then hold every
 * connection open and idle for --hold seconds so the server's memory with
 * N live connections can be read from /proc. Used by http_bench.sh.
 *
 *   http_hold --port P [--conns N] [--path /baseline11?a=13&b=42] [--hold S]
 *             [--server-pid PID ...]
 *
 * With --server-pid (repeatable: nginx master + workers), prints the sum
 * of their VmRSS before connecting and while holding:
 *   HOLD conns=N ok=N rss_before_kb=... rss_held_kb=... hwm_kb=...
 * Exit status 0 when every connection got a 2xx response, 1 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIDS 16

static int pids[MAX_PIDS], npids;

static long status_kb(const char *key)
{
	long total = 0;
	for (int i = 0; i < npids; i++) {
		char path[64], line[256];
		snprintf(path, sizeof(path), "/proc/%d/status", pids[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t kl = strlen(key);
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, key, kl) && line[kl] == ':') {
				total += atol(line + kl + 1);
				break;
			}
		fclose(f);
	}
	return total;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int port = -1, n = 4096;
	double hold = 3;
	const char *path = "/baseline11?a=13&b=42";

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--conns"))
			n = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--path"))
			path = argv[i + 1];
		else if (!strcmp(argv[i], "--hold"))
			hold = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--server-pid") && npids < MAX_PIDS)
			pids[npids++] = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "http_hold: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (port <= 0 || n <= 0 || hold < 0 || hold > 600) {
		fprintf(stderr, "usage: http_hold --port P [--conns N] [--path P] [--hold S] [--server-pid PID]...\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	long rss0 = status_kb("VmRSS");
	char req[512];
	int rl_len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", path);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);

	int *fds = calloc((size_t)n, sizeof(int));
	int ok = 0, opened = 0;
	/* connect and send in batches of 256, then collect the batch's
	 * responses, so the server never sees more than a batch in flight */
	for (int base = 0; base < n; base += 256) {
		int end = base + 256 < n ? base + 256 : n;
		for (int i = base; i < end; i++) {
			fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			struct timeval tv = { .tv_sec = 5 };
			setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			if (connect(fds[i], (struct sockaddr *)&sin, sizeof(sin)) < 0) {
				fprintf(stderr, "http_hold: connect #%d: %s\n", i, strerror(errno));
				close(fds[i]);
				fds[i] = -1;
				continue;
			}
			opened++;
			if (write(fds[i], req, (size_t)rl_len) != rl_len) {
				close(fds[i]);
				fds[i] = -1;
			}
		}
		for (int i = base; i < end; i++) {
			if (fds[i] < 0)
				continue;
			/* the responses are small: the status line is in the first read */
			char buf[4096];
			ssize_t r = read(fds[i], buf, sizeof(buf) - 1);
			if (r >= 12 && !memcmp(buf, "HTTP/1.1 2", 10))
				ok++;
		}
	}
	double t0 = now_s();
	while (now_s() - t0 < hold / 2)
		usleep(50 * 1000);
	long rss1 = status_kb("VmRSS");
	long hwm = status_kb("VmHWM");
	while (now_s() - t0 < hold)
		usleep(50 * 1000);

	/* still open? (a server that closed idle connections would not count) */
	int alive = 0;
	for (int i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		struct pollfd pfd = { .fd = fds[i], .events = POLLIN };
		if (poll(&pfd, 1, 0) == 0)
			alive++;
	}
	printf("HOLD conns=%d opened=%d ok=%d alive=%d rss_before_kb=%ld rss_held_kb=%ld hwm_kb=%ld\n", n,
	       opened, ok, alive, rss0, rss1, hwm);
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return (ok == n && alive == n) ? 0 : 1;
}
