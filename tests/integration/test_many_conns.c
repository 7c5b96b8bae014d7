/* SPDX-License-Identifier: MIT */
/* 5000 connections open at the same time on a 2-thread server: each
 * connects, sends a unique message and gets it back while all are held
 * open; the reactors count them (zg_reactor_conn_count); then all close
 * and every on_close fires, accepted == closed, no buffer is missing.
 * Also: accepts above max_conns are shed, and the server keeps working. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <cmocka.h>

#include "itest.h"

#define NCONN 5000
#define MSG 48

static struct it_counts counts;

static const struct zg_handler handler = {
	.on_open = it_count_open, .on_data = it_echo_on_data, .on_close = it_count_close,
};

struct cli {
	int fd;
	unsigned got;
	uint8_t buf[MSG];
};

/* Connect n clients, each sending its message; then wait for every echo
 * with epoll. Returns how many echoes came back intact. */
static unsigned connect_and_echo(struct cli *cl, unsigned n, uint16_t port)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	unsigned done = 0;
	uint64_t end;

	assert_true(ep >= 0);
	for (unsigned i = 0; i < n; i++) {
		uint8_t msg[MSG];
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		cl[i].fd = it_connect(port);
		if (cl[i].fd < 0)
			fail_msg("connect %u: %s", i, strerror(-cl[i].fd));
		cl[i].got = 0;
		it_fill(msg, MSG, i, 0);
		assert_int_equal(it_send_all(cl[i].fd, msg, MSG, 10000), 0);
		assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev), 0);
	}
	end = it_now_ms() + 30000;
	while (done < n && it_now_ms() < end) {
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, 100);
		for (int j = 0; j < k; j++) {
			struct cli *c = &cl[evs[j].data.u32];
			ssize_t r = recv(c->fd, c->buf + c->got, MSG - c->got, MSG_DONTWAIT);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				fail_msg("client %u: recv %zd (%s)", evs[j].data.u32, r,
					 r ? strerror(errno) : "EOF");
			}
			c->got += (unsigned)r;
			if (c->got == MSG) {
				assert_int_equal(it_check(c->buf, MSG, evs[j].data.u32, 0), MSG);
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				done++;
			}
		}
	}
	close(ep);
	return done;
}

static void test_5000_concurrent(void **state)
{
	struct zg_server_config cfg;
	struct zg_server *s;
	struct zg_reactor_stats st;
	struct cli *cl = calloc(NCONN, sizeof(*cl));
	unsigned conns, per[2];

	(void)state;
	assert_non_null(cl);
	it_server_config(&cfg, 2);
	s = it_server_start(&cfg, &handler, &counts);

	assert_int_equal(connect_and_echo(cl, NCONN, zg_server_port(s)), NCONN);

	/* all held open at once: both reactors together hold every one */
	assert_true(IT_WAIT(atomic_load(&counts.opens) == NCONN, 10000));
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(it_query(zg_server_reactor(s, i), NULL, NULL, NULL, &per[i]), 0);
	assert_int_equal(per[0] + per[1], NCONN);
	assert_int_equal(it_server_stats(s, &st, &conns), 0);
	assert_int_equal(conns, NCONN);
	assert_int_equal(st.accepted, NCONN);
	assert_int_equal(st.closed, 0);
	assert_int_equal(st.shed, 0);
	assert_int_equal(atomic_load(&counts.closes), 0);

	for (unsigned i = 0; i < NCONN; i++)
		close(cl[i].fd);
	assert_true(IT_WAIT(atomic_load(&counts.closes) == NCONN, 20000));
	it_server_drained(s, cfg.reactor.buf_count, NCONN, NULL);
	assert_int_equal(atomic_load(&counts.bad_reasons), 0);

	it_server_end(s);
	free(cl);
}

/* Connections the server has opened or shed so far. */
static uint64_t handled(struct zg_server *s)
{
	struct zg_reactor_stats st;

	if (it_server_stats(s, &st, NULL))
		return 0;
	return atomic_load(&counts.opens) + st.shed;
}

/* max_conns 100 on one reactor: 150 clients connect; 100 are served, the
 * rest are closed by the server at once (shed), and once the first 100
 * leave, new clients are served again. */
static void test_max_conns_shed(void **state)
{
	struct zg_server_config cfg;
	struct zg_server *s;
	struct zg_reactor_stats st;
	int fds[150];
	unsigned served = 0, refused = 0;

	(void)state;
	it_counts_reset(&counts);
	it_server_config(&cfg, 1);
	cfg.reactor.max_conns = 100;
	s = it_server_start(&cfg, &handler, &counts);
	for (unsigned i = 0; i < 150; i++) {
		fds[i] = it_connect(zg_server_port(s));
		assert_true(fds[i] >= 0);
		/* one at a time, so the first 100 are the ones served */
		assert_true(IT_WAIT(handled(s) == i + 1, 5000));
	}
	for (unsigned i = 0; i < 150; i++) {
		uint8_t b[8];
		ssize_t r;
		if (it_send_all(fds[i], "ping", 4, 5000)) {
			refused++;
			continue;
		}
		r = it_recv_exact(fds[i], b, 4, 5000);
		if (r == 4 && !memcmp(b, "ping", 4))
			served++;
		else
			refused++; /* EOF or reset */
	}
	assert_int_equal(served, 100);
	assert_int_equal(refused, 50);
	assert_int_equal(it_server_stats(s, &st, NULL), 0);
	assert_int_equal(st.shed, 50);
	assert_int_equal(st.accepted, 100);
	for (unsigned i = 0; i < 150; i++)
		close(fds[i]);
	assert_true(IT_WAIT(atomic_load(&counts.closes) == 100, 10000));
	/* slots are free again */
	for (unsigned i = 0; i < 100; i++) {
		uint8_t b[4];
		fds[i] = it_connect(zg_server_port(s));
		assert_true(fds[i] >= 0);
		assert_int_equal(it_send_all(fds[i], "pong", 4, 5000), 0);
		assert_int_equal(it_recv_exact(fds[i], b, 4, 5000), 4);
		assert_memory_equal(b, "pong", 4);
	}
	for (unsigned i = 0; i < 100; i++)
		close(fds[i]);
	assert_true(IT_WAIT(it_server_quiescent(s, cfg.reactor.buf_count, &st), 10000));
	assert_int_equal(st.accepted, 200);
	it_server_end(s);
}

/* Out of fds (EMFILE) the multishot accept ends; it must be re-armed
 * once fds are available again, and every waiting client is served.
 * A lone reactor driven by this thread; the client sockets exist before
 * the limit is lowered (connect needs no new fd). */
static atomic_uint emfile_logs;

static void log_fn(int level, const char *msg, void *arg)
{
	(void)level;
	(void)arg;
	if (strstr(msg, "accept") && (strstr(msg, "many open files") || strstr(msg, "EMFILE")))
		atomic_fetch_add(&emfile_logs, 1);
}

static unsigned lone_opens;

static void lone_open(struct zg_conn *c) { (void)c; lone_opens++; }

static void test_accept_rearmed_after_emfile(void **state)
{
	struct zg_reactor_config cfg;
	struct zg_handler h = { .on_open = lone_open, .on_data = it_echo_on_data };
	struct zg_reactor *r;
	struct sockaddr_storage ss;
	socklen_t sl = it_addr(AF_INET, 0, &ss);
	struct rlimit saved, low;
	uint16_t port;
	int fds[20], maxfd = 0;

	(void)state;
	lone_opens = 0;
	atomic_store(&emfile_logs, 0);
	it_reactor_config(&cfg);
	cfg.log = log_fn;
	assert_int_equal(zg_reactor_new(&cfg, &h, NULL, &r), 0);
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss, sl, 0, 0, &port), 0);
	for (unsigned i = 0; i < 20; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fds[i] >= 0);
		if (fds[i] > maxfd)
			maxfd = fds[i];
	}
	/* room for 3 accepted sockets: fds are allocated lowest first and
	 * everything up to maxfd is taken */
	for (int fd = 0; fd <= maxfd; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			fail_msg("fd %d below the clients' is free: cannot size the limit", fd);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)maxfd + 1 + 3;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

	sl = it_addr(AF_INET, port, &ss);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(connect(fds[i], (struct sockaddr *)&ss, sl), 0);
	IT_PUMP(r, lone_opens >= 3 && atomic_load(&emfile_logs));
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	assert_int_equal(lone_opens, 3);
	assert_true(atomic_load(&emfile_logs) > 0);

	/* fds are available again: the rest are accepted and served */
	IT_PUMP(r, lone_opens >= 20);
	assert_int_equal(lone_opens, 20);
	for (unsigned i = 0; i < 20; i++) {
		char b[8];
		assert_int_equal(send(fds[i], "again", 5, MSG_NOSIGNAL), 5);
		assert_int_equal(it_pump_recv(r, fds[i], b, 5), 5);
		assert_memory_equal(b, "again", 5);
		close(fds[i]);
	}
	it_reactor_end(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_5000_concurrent),
		cmocka_unit_test(test_max_conns_shed),
		cmocka_unit_test(test_accept_rearmed_after_emfile),
	};

	it_init();
	/* NCONN client sockets + NCONN server sockets + slack */
	if (!it_raise_nofile(2 * NCONN + 200)) {
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		printf("SKIP: RLIMIT_NOFILE hard limit %llu < %u needed for %u connections\n",
		       (unsigned long long)rl.rlim_max, 2 * NCONN + 200, NCONN);
		return IT_SKIP;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
