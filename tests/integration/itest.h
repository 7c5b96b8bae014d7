/* SPDX-License-Identifier: MIT */
/* Shared helpers of the integration tests: loopback client sockets with
 * deadlines, a zg_server fixture (start, end, drained), per-connection
 * state and peer ports, reading a reactor's counters from its own
 * thread (through zg_reactor_post), polling a condition with a
 * deadline, RLIMIT_NOFILE, VmRSS. Only the public API (zerg.h) is used.
 * Everything here is static so each test file is self-contained. */
#ifndef ZG_ITEST_H
#define ZG_ITEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zerg.h>

#define IT_SKIP 77

static inline uint64_t it_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void it_nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

/* Poll `cond` (an expression) every 200 us until it holds or ms pass;
 * evaluates to the final value of cond. Not a sleep-as-synchronization:
 * it stops as soon as the condition holds. */
#define IT_WAIT(cond, ms)                                                     \
	({                                                                    \
		uint64_t it_end_ = it_now_ms() + (ms);                        \
		bool it_ok_;                                                  \
		while (!(it_ok_ = (cond)) && it_now_ms() < it_end_)           \
			it_nap_us(200);                                       \
		it_ok_;                                                       \
	})

/* An assertion for code that runs on a reactor thread (callbacks):
 * cmocka's assert_* may only fail on the test's own thread. */
#define IT_ASSERT(cond)                                                       \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: reactor-side check failed: %s\n", \
				__FILE__, __LINE__, #cond);                   \
			abort();                                              \
		}                                                             \
	} while (0)

/* ---- process-level checks ----------------------------------------- */

/* Raise RLIMIT_NOFILE to the hard limit; false if it is below need. */
static inline bool it_raise_nofile(rlim_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return false;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return false;
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need;
}

/* VmRSS of this process in KiB, 0 if unknown. */
static inline long it_rss_kib(void)
{
	char line[256];
	long kib = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6)) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

/* Reactor flags every test adds to its configs: IT_RFLAGS in the
 * environment, a comma-separated list of bundle, bufinc, nodefer, plain
 * (meson runs the I/O tests once per mode; plain removes the default
 * bundles, see it_reactor_config). */
static inline unsigned it_rflags(void)
{
	const char *e = getenv("IT_RFLAGS");
	unsigned f = 0;

	if (!e)
		return 0;
	if (strstr(e, "bundle"))
		f |= ZG_RF_RECV_BUNDLE;
	if (strstr(e, "bufinc"))
		f |= ZG_RF_BUF_INC;
	if (strstr(e, "nodefer"))
		f |= ZG_RF_NO_DEFER_TASKRUN;
	return f;
}

/* zg_reactor_config_init plus the IT_RFLAGS mode. */
static inline void it_reactor_config(struct zg_reactor_config *cfg)
{
	const char *e = getenv("IT_RFLAGS");

	zg_reactor_config_init(cfg);
	if (e && strstr(e, "plain"))
		cfg->flags &= ~ZG_RF_RECV_BUNDLE;
	cfg->flags |= it_rflags();
}

/* Called first by every test's main: exit 77 (meson: skipped) when
 * io_uring or the features libzerg needs are missing (or the kernel
 * lacks what IT_RFLAGS asks for), so a file never fails for want of a
 * kernel feature. IT_FILTER=pattern in the environment runs only the
 * matching cmocka tests. */
void cmocka_set_test_filter(const char *pattern);
static inline void it_init(void)
{
	struct zg_reactor_config cfg;
	struct zg_reactor *r;
	const char *filter = getenv("IT_FILTER");
	unsigned want = it_rflags();
	int ret;

	if (filter && *filter)
		cmocka_set_test_filter(filter);
	it_reactor_config(&cfg);
	ret = zg_reactor_new(&cfg, NULL, NULL, &r);

	if (ret == 0) {
		unsigned f = zg_reactor_features(r);
		zg_reactor_free(r);
		if ((want & ZG_RF_RECV_BUNDLE) && !(f & ZG_FEAT_RECV_BUNDLE)) {
			printf("SKIP: IT_RFLAGS asks for recv bundles; the kernel lacks them (6.10)\n");
			exit(IT_SKIP);
		}
		if ((want & ZG_RF_BUF_INC) && !(f & ZG_FEAT_BUF_INC)) {
			printf("SKIP: IT_RFLAGS asks for incremental buffers; the kernel lacks them (6.12)\n");
			exit(IT_SKIP);
		}
		if ((want & ZG_RF_NO_DEFER_TASKRUN) && (f & ZG_FEAT_DEFER_TASKRUN)) {
			printf("FAIL: ZG_RF_NO_DEFER_TASKRUN asked for, DEFER_TASKRUN still in use\n");
			exit(1);
		}
		if (want)
			printf("reactor mode %s: features %#x\n", getenv("IT_RFLAGS"), f);
		return;
	}
	if (ret == -ENOSYS || ret == -EPERM || ret == -EACCES || ret == -ENOMEM) {
		printf("SKIP: cannot create a reactor here: %s\n", zg_strerror(ret));
		exit(IT_SKIP);
	}
	fprintf(stderr, "zg_reactor_new: %s\n", zg_strerror(ret));
	exit(1);
}

/* ---- deterministic content ---------------------------------------- */

/* Byte i of stream `seed`: a cheap hash, so a byte in the wrong place
 * or from another stream is caught. */
static inline uint8_t it_byte(uint64_t seed, size_t i)
{
	uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)i * 0xBF58476D1CE4E5B9ull);
	x ^= x >> 31;
	x *= 0x94D049BB133111EBull;
	x ^= x >> 29;
	return (uint8_t)x;
}

static inline void it_fill(uint8_t *p, size_t n, uint64_t seed, size_t off)
{
	for (size_t i = 0; i < n; i++)
		p[i] = it_byte(seed, off + i);
}

/* Index of the first byte of p that differs from the stream, or n. */
static inline size_t it_check(const uint8_t *p, size_t n, uint64_t seed, size_t off)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != it_byte(seed, off + i))
			return i;
	return n;
}

/* ---- client sockets ------------------------------------------------ */

static inline int it_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl) ? -errno : 0;
}

static inline socklen_t it_addr(int family, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
		return sizeof(*a);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*a);
}

/* A blocking connected socket to the loopback address, or -errno. */
static inline int it_connect_af(int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = it_addr(family, port, &ss);
	int one = 1;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static inline int it_connect(uint16_t port)
{
	return it_connect_af(AF_INET, port);
}

/* Close with RST (SO_LINGER 0). */
static inline void it_close_rst(int fd)
{
	struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* The port of an IPv4 or IPv6 address, 0 for any other family. */
static inline uint16_t it_sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return 0;
}

/* The local port of socket fd (getsockname), 0 if unknown. A client's
 * local port is the peer port the server sees: the tests match a
 * client socket to what the server recorded for it by this number. */
static inline uint16_t it_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return 0;
	return it_sa_port(&ss);
}

/* True if a socket can be bound to ::1 (some CI containers have no
 * IPv6 loopback). */
static inline bool it_have_ipv6(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = it_addr(AF_INET6, 0, &ss);
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&ss, sl) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static inline int it_poll1(int fd, short ev, uint64_t end)
{
	struct pollfd p = { fd, ev, 0 };
	uint64_t now = it_now_ms();
	int ret;

	if (now >= end)
		return -ETIMEDOUT;
	ret = poll(&p, 1, (int)(end - now));
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	return ret == 0 ? -ETIMEDOUT : p.revents;
}

/* Send all n bytes before timeout_ms. 0 or -errno. */
static inline int it_send_all(int fd, const void *p, size_t n, int timeout_ms)
{
	uint64_t end = it_now_ms() + (uint64_t)timeout_ms;
	const uint8_t *b = p;

	while (n) {
		ssize_t k = send(fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k > 0) {
			b += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		int ret = it_poll1(fd, POLLOUT, end);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Read exactly n bytes before timeout_ms. Returns n, fewer at EOF, or
 * -errno (-ETIMEDOUT, -ECONNRESET...). */
static inline ssize_t it_recv_exact(int fd, void *p, size_t n, int timeout_ms)
{
	uint64_t end = it_now_ms() + (uint64_t)timeout_ms;
	uint8_t *b = p;
	size_t got = 0;

	while (got < n) {
		ssize_t k = recv(fd, b + got, n - got, MSG_DONTWAIT);
		if (k > 0) {
			got += (size_t)k;
			continue;
		}
		if (k == 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int ret = it_poll1(fd, POLLIN, end);
		if (ret < 0)
			return ret;
	}
	return (ssize_t)got;
}

/* Wait for the end of the stream: 0 on EOF, -ECONNRESET on a reset,
 * -EPROTO if data came instead, -ETIMEDOUT. */
static inline int it_expect_eof(int fd, int timeout_ms)
{
	uint8_t b[256];
	ssize_t k = it_recv_exact(fd, b, sizeof(b), timeout_ms);

	if (k < 0)
		return (int)k;
	return k == 0 ? 0 : -EPROTO;
}

/* Send `out` and read back `in_len` bytes into `in` at the same time (a
 * large echo must not deadlock on full socket buffers). shut: send FIN
 * once everything is sent. Returns bytes read (in_len unless EOF came
 * first) or -errno. */
static inline ssize_t it_exchange(int fd, const void *out, size_t out_len, void *in,
				  size_t in_len, bool shut, int timeout_ms)
{
	uint64_t end = it_now_ms() + (uint64_t)timeout_ms;
	const uint8_t *o = out;
	uint8_t *i = in;
	size_t sent = 0, got = 0;
	bool eof = false, shut_done = false;

	while (got < in_len && !eof) {
		struct pollfd p = { fd, POLLIN, 0 };
		uint64_t now;
		int ret;

		if (sent == out_len && shut && !shut_done) {
			shutdown(fd, SHUT_WR);
			shut_done = true;
		}
		if (sent < out_len)
			p.events |= POLLOUT;
		now = it_now_ms();
		if (now >= end)
			return -ETIMEDOUT;
		ret = poll(&p, 1, (int)(end - now));
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (ret <= 0)
			continue;
		if ((p.revents & POLLOUT) && sent < out_len) {
			ssize_t k = send(fd, o + sent, out_len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (k > 0)
				sent += (size_t)k;
			else if (k < 0 && errno != EAGAIN && errno != EINTR)
				return -errno;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t k = recv(fd, i + got, in_len - got, MSG_DONTWAIT);
			if (k > 0)
				got += (size_t)k;
			else if (k == 0)
				eof = true;
			else if (errno != EAGAIN && errno != EINTR)
				return -errno;
		}
	}
	if (shut && !shut_done && sent == out_len)
		shutdown(fd, SHUT_WR);
	return (ssize_t)got;
}

/* ---- echo and counting callbacks ------------------------------------ */

/* Echo every input segment; abort the connection if the output queue
 * refuses (the tests keep under max_output). */
static inline void it_echo_on_data(struct zg_conn *c)
{
	struct zg_read_view v;

	zg_conn_read(c, &v);
	for (unsigned i = 0; i < v.nsegs; i++)
		if (zg_conn_write(c, v.segs[i].iov_base, v.segs[i].iov_len)) {
			zg_conn_close(c, ZG_CLOSE_ABORT);
			return;
		}
	zg_conn_advance(c, v.len, v.len);
}

/* Counts kept by it_count_open/it_count_close: give one as the
 * server's udata (each reactor's, found with zg_reactor_udata). */
struct it_counts {
	atomic_uint opens, closes;
	atomic_uint bad_reasons; /* on_close with a reason other than 0 */
};

static inline void it_counts_reset(struct it_counts *n)
{
	atomic_store(&n->opens, 0);
	atomic_store(&n->closes, 0);
	atomic_store(&n->bad_reasons, 0);
}

static inline void it_count_open(struct zg_conn *c)
{
	struct it_counts *n = zg_reactor_udata(zg_conn_reactor(c));

	atomic_fetch_add(&n->opens, 1);
}

static inline void it_count_close(struct zg_conn *c, int reason)
{
	struct it_counts *n = zg_reactor_udata(zg_conn_reactor(c));

	if (reason != 0)
		atomic_fetch_add(&n->bad_reasons, 1);
	atomic_fetch_add(&n->closes, 1);
}

/* ---- per-connection state (reactor thread) ------------------------- */

/* A zeroed struct of `size` bytes set as c's udata, for on_open; the
 * test's on_close frees it. */
static inline void *it_conn_alloc(struct zg_conn *c, size_t size)
{
	void *p = calloc(1, size);

	IT_ASSERT(p);
	zg_conn_set_udata(c, p);
	return p;
}

/* The port of c's peer, 0 if unknown: the client's it_local_port, so
 * a test can tell which of its sockets a record is about. */
static inline uint16_t it_peer_port(struct zg_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (zg_conn_peer(c, (struct sockaddr *)&ss, &sl))
		return 0;
	return it_sa_port(&ss);
}

/* ---- driving a lone reactor from the test thread -------------------- */

/* Run r (10 ms a pass) until cond holds or 5 s pass; the value of cond
 * at the end. Every pass must leave the reactor running. */
#define IT_PUMP(r, cond)                                                      \
	({                                                                    \
		uint64_t end_ = it_now_ms() + 5000;                           \
		bool ok_;                                                     \
		while (!(ok_ = (cond)) && it_now_ms() < end_)                 \
			assert_int_equal(zg_reactor_run_once((r), 10), 1);    \
		ok_;                                                          \
	})

/* Read exactly n bytes from fd (made nonblocking) while pumping r: how
 * many came within 5 s. */
static inline size_t it_pump_recv(struct zg_reactor *r, int fd, void *b, size_t n)
{
	size_t got = 0;
	ssize_t k;

	it_set_nonblock(fd, true);
	IT_PUMP(r, got == n ||
		   ((k = recv(fd, (uint8_t *)b + got, n - got, 0)) > 0 && (got += (size_t)k) == n));
	return got;
}

/* Stop r, run it until it has stopped (5 s at most), free it. */
static inline void it_reactor_end(struct zg_reactor *r)
{
	uint64_t end = it_now_ms() + 5000;
	int ret;

	zg_reactor_stop(r, 1000);
	while ((ret = zg_reactor_run_once(r, 10)) == 1 && it_now_ms() < end)
		;
	assert_int_equal(ret, 0);
	assert_int_equal(zg_reactor_run_once(r, 0), 0);
	zg_reactor_free(r);
}

/* ---- asking a reactor about itself (from any thread) --------------- */

struct it_query {
	struct zg_reactor *r;
	void (*fn)(struct zg_reactor *r, void *arg); /* optional extra work */
	void *arg;
	struct zg_reactor_stats st;
	unsigned conns;
	bool on_thread_ok;
	pthread_mutex_t m;
	pthread_cond_t cv;
	bool done;
};

static void it_query_run(void *arg)
{
	struct it_query *q = arg;

	zg_reactor_stats(q->r, &q->st);
	q->conns = zg_reactor_conn_count(q->r);
	if (q->fn)
		q->fn(q->r, q->arg);
	pthread_mutex_lock(&q->m);
	q->done = true;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->m);
}

/* Run a query on r's thread and wait for it (5 s at most). 0, -ETIMEDOUT
 * or the error of zg_reactor_post. On -ETIMEDOUT the query struct would
 * still be referenced by the reactor, so the process exits. */
static inline int it_query(struct zg_reactor *r, void (*fn)(struct zg_reactor *, void *),
			   void *arg, struct zg_reactor_stats *st, unsigned *conns)
{
	struct it_query q = { .r = r, .fn = fn, .arg = arg };
	struct timespec ts;
	int ret;

	pthread_mutex_init(&q.m, NULL);
	pthread_cond_init(&q.cv, NULL);
	ret = zg_reactor_post(r, it_query_run, &q);
	if (ret == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		pthread_mutex_lock(&q.m);
		while (!q.done && ret == 0)
			ret = -pthread_cond_timedwait(&q.cv, &q.m, &ts);
		pthread_mutex_unlock(&q.m);
		if (!q.done) {
			fprintf(stderr, "it_query: reactor did not run a post within 5 s\n");
			_exit(1);
		}
		ret = 0;
		if (st)
			*st = q.st;
		if (conns)
			*conns = q.conns;
	}
	pthread_cond_destroy(&q.cv);
	pthread_mutex_destroy(&q.m);
	return ret;
}

/* ---- a zg_server fixture -------------------------------------------- */

/* Server config for the tests: 127.0.0.1, ephemeral port. */
static inline void it_server_config(struct zg_server_config *cfg, unsigned threads)
{
	zg_server_config_init(cfg);
	it_reactor_config(&cfg->reactor);
	cfg->host = "127.0.0.1";
	cfg->port = 0;
	cfg->threads = threads;
}

/* The helpers below that check with cmocka's assert_* (test thread
 * only) need <cmocka.h> included before this header, as every test
 * file does. */

/* zg_server_new + zg_server_start, both must succeed. */
static inline struct zg_server *it_server_start(const struct zg_server_config *cfg,
						const struct zg_handler *h, void *udata)
{
	struct zg_server *s;

	assert_int_equal(zg_server_new(cfg, h, udata, &s), 0);
	assert_int_equal(zg_server_start(s), 0);
	return s;
}

/* The usual end of a test: stop (1 s deadline), wait, free. */
static inline void it_server_end(struct zg_server *s)
{
	zg_server_stop(s, 1000);
	assert_int_equal(zg_server_wait(s), 0);
	zg_server_free(s);
}

/* Sum of every reactor's counters (and open connections). */
static inline int it_server_stats(struct zg_server *s, struct zg_reactor_stats *sum,
				  unsigned *conns)
{
	memset(sum, 0, sizeof(*sum));
	if (conns)
		*conns = 0;
	for (unsigned i = 0; i < zg_server_threads(s); i++) {
		struct zg_reactor_stats st;
		unsigned n;
		struct zg_reactor *r = zg_server_reactor(s, i);
		int ret;

		if (!r)
			return -ESRCH;
		ret = it_query(r, NULL, NULL, &st, &n);
		if (ret)
			return ret;
		sum->accepted += st.accepted;
		sum->closed += st.closed;
		sum->shed += st.shed;
		sum->enobufs += st.enobufs;
		sum->compactions += st.compactions;
		sum->sends += st.sends;
		sum->partial_sends += st.partial_sends;
		sum->bufs_free += st.bufs_free;
		sum->connects += st.connects;
		if (conns)
			*conns += n;
	}
	return 0;
}

/* True once every reactor of s has accepted == closed, no connection
 * open, and (if buf_count) all of its provided buffers back in the
 * ring: nothing leaked. */
static inline bool it_server_quiescent(struct zg_server *s, unsigned buf_count,
				       struct zg_reactor_stats *out)
{
	struct zg_reactor_stats sum;
	unsigned conns;

	if (it_server_stats(s, &sum, &conns))
		return false;
	if (out)
		*out = sum;
	return conns == 0 && sum.accepted + sum.connects == sum.closed &&
	       (!buf_count || sum.bufs_free == buf_count * zg_server_threads(s));
}

/* Wait (10 s at most) for s to be quiescent (it_server_quiescent) and
 * check that it accepted and closed exactly n connections. The sums go
 * to *out if not NULL. */
static inline void it_server_drained(struct zg_server *s, unsigned buf_count, unsigned n,
				     struct zg_reactor_stats *out)
{
	struct zg_reactor_stats st;

	assert_true(IT_WAIT(it_server_quiescent(s, buf_count, &st), 10000));
	assert_int_equal(st.accepted, n);
	assert_int_equal(st.closed, n);
	if (out)
		*out = st;
}

#endif
