/* SPDX-License-Identifier: MIT */
/*
 * zerg-proxy (examples/proxy), run in-process as a zg_server between
 * loopback clients and upstreams:
 *  - byte-exact echo through the proxy, 1 B ... 64 MiB, both ways at
 *    once, ending with a half-close;
 *  - one-way 64 MiB upload into a checking sink and download from a
 *    source;
 *  - half-close each way: a client FIN with nothing sent still gets the
 *    upstream's answer; an upstream FIN first still lets the client send;
 *  - upstream refused, connect timeout, upstream reset, client reset;
 *  - slow readers each way: the proxy holds at most its window per side
 *    (its counters and the ring), and every byte arrives afterwards;
 *  - round robin, health check skipping a dead upstream, Unix-domain
 *    listen and upstream addresses;
 *  - 5 000 concurrent pairs;
 * and after each, nothing left: no pair, every ring buffer back, every
 * connection closed (ASan's leak check covers the memory).
 *
 * The echo upstream runs in a forked child (its own descriptor table:
 * 5 000 pairs need 15 000 descriptors here), killed when this process
 * ends (PR_SET_PDEATHSIG) however it ends. Other upstreams are threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "itest.h"
#include "proxy.h"

#define BUFS 1024u     /* per reactor: small, so the ring runs low      */
#define WINDOW (256u * 1024)
#define MiB (1024u * 1024)
/* What one side may hold: the window (the reactors' max_input), which
 * the kernel's recv byte limit keeps to within one receive buffer (seen:
 * 3 KiB over, a bundle's last buffer), or, on kernels without the
 * limit, one CQE batch: bounded either way, far from the 64 MiB sent. */
#define HELD_MAX (WINDOW + 64u * 1024)

static char tmpdir[64];
static char echo_unix[96];   /* "unix:/tmp/.../echo"                     */
static char echo_tcp[64];    /* "127.0.0.1:PORT"                        */
static pid_t echo_pid;

/* ---- the echo upstream: a lone reactor in a child process ------------ */

static void echo_child(int wfd)
{
	struct zg_reactor_config cfg;
	struct zg_handler h = { .on_data = it_echo_on_data };
	struct sockaddr_storage ss;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct zg_reactor *r;
	socklen_t len = it_addr(AF_INET, 0, &ss);
	uint16_t port = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	it_raise_nofile(12000);
	it_reactor_config(&cfg);
	cfg.max_conns = 16384;
	if (zg_reactor_new(&cfg, &h, NULL, &r) ||
	    zg_reactor_listen(r, (struct sockaddr *)&ss, len, 0, 0, &port))
		_exit(3);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", echo_unix + 5);
	if (zg_reactor_listen(r, (struct sockaddr *)&un, sizeof(un), 0, ZG_LISTEN_UNLINK, NULL))
		_exit(4);
	if (write(wfd, &port, sizeof(port)) != sizeof(port))
		_exit(5);
	close(wfd);
	zg_reactor_run(r); /* until killed */
	_exit(0);
}

static void echo_start(void)
{
	int p[2];
	uint16_t port = 0;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/zg-proxy-XXXXXX");
	if (!mkdtemp(tmpdir) || pipe(p))
		exit(1);
	snprintf(echo_unix, sizeof(echo_unix), "unix:%s/echo", tmpdir);
	echo_pid = fork();
	if (echo_pid == 0) {
		close(p[0]);
		echo_child(p[1]);
	}
	close(p[1]);
	if (echo_pid < 0 || read(p[0], &port, sizeof(port)) != sizeof(port)) {
		fprintf(stderr, "echo upstream did not start\n");
		exit(1);
	}
	close(p[0]);
	snprintf(echo_tcp, sizeof(echo_tcp), "127.0.0.1:%u", port);
}

static void echo_stop(void)
{
	char path[160];

	if (echo_pid > 0) {
		kill(echo_pid, SIGKILL);
		waitpid(echo_pid, NULL, 0);
	}
	snprintf(path, sizeof(path), "%s/echo", tmpdir);
	unlink(path);
	rmdir(tmpdir);
}

/* ---- the proxy ------------------------------------------------------ */

static struct zp *proxy_start_cfg(struct zp_config *cfg)
{
	struct zg_reactor_config rc;
	struct zp *p;
	char err[256];
	int ret;

	it_reactor_config(&rc);
	cfg->reactor = &rc;
	cfg->bufs = BUFS;
	ret = zp_new(cfg, &p, err, sizeof(err));
	if (ret)
		fprintf(stderr, "zp_new: %s\n", err);
	assert_int_equal(ret, 0);
	assert_int_equal(zp_start(p), 0);
	return p;
}

static struct zp *proxy_start(const char *upstream, unsigned threads)
{
	struct zp_config cfg;

	zp_config_init(&cfg);
	cfg.listen = "127.0.0.1:0";
	cfg.upstreams[0] = upstream;
	cfg.nupstreams = 1;
	cfg.threads = threads;
	cfg.window = WINDOW;
	cfg.connect_timeout_ms = 2000;
	return proxy_start_cfg(&cfg);
}

static struct zp_stats stats(struct zp *p)
{
	struct zp_stats st;

	assert_int_equal(zp_stats(p, &st), 0);
	return st;
}

static bool proxy_idle(struct zp *p)
{
	struct zp_stats st;

	return zp_stats(p, &st) == 0 && st.pairs_open == 0 && st.held_now == 0 &&
	       it_server_quiescent(zp_server(p), BUFS, NULL);
}

/* Nothing left: no pair, no connection, every ring buffer back. */
static void proxy_end(struct zp *p)
{
	assert_true(IT_WAIT(proxy_idle(p), 10000));
	zp_stop(p, 1000);
	assert_int_equal(zp_wait(p), 0);
	zp_free(p);
}

static int connect_to(struct zp *p)
{
	int fd = it_connect(zp_port(p));

	assert_true(fd >= 0);
	return fd;
}

/* ---- thread upstreams ------------------------------------------------- */

struct tsrv {
	int lfd;
	uint16_t port;
	pthread_t t;
	void (*serve)(struct tsrv *s, int fd);
	unsigned conns;          /* how many to accept, one at a time     */
	size_t n;                /* bytes to send / expected              */
	uint64_t seed;
	int delay_ms;            /* before reading / writing              */
	const char *name;
	atomic_size_t got;       /* bytes received (checked)              */
	atomic_int result;       /* 0 ok, else -errno / -EPROTO           */
	atomic_int done;
	atomic_uint accepted;
};

static void *tsrv_main(void *arg)
{
	struct tsrv *s = arg;

	for (unsigned i = 0; i < s->conns; i++) {
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			break;
		atomic_fetch_add(&s->accepted, 1);
		s->serve(s, fd);
	}
	atomic_store(&s->done, 1);
	return NULL;
}

static void tsrv_start(struct tsrv *s, void (*serve)(struct tsrv *, int), unsigned conns)
{
	struct sockaddr_storage ss;
	socklen_t len = it_addr(AF_INET, 0, &ss);

	s->serve = serve;
	s->conns = conns;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(s->lfd, 64), 0);
	s->port = it_local_port(s->lfd);
	atomic_store(&s->result, 1);
	assert_int_equal(pthread_create(&s->t, NULL, tsrv_main, s), 0);
}

static void tsrv_addr(const struct tsrv *s, char *buf, size_t n)
{
	snprintf(buf, n, "127.0.0.1:%u", s->port);
}

static void tsrv_join(struct tsrv *s)
{
	/* a thread still in accept() after 10 s (a test that failed) is
	 * woken by shutting the listener */
	IT_WAIT(atomic_load(&s->done), 10000);
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->t, NULL);
	close(s->lfd);
}

/* Read until EOF, checking the stream against seed; result 0 if exactly
 * n bytes came. */
static void serve_sink(struct tsrv *s, int fd)
{
	static uint8_t buf[256 * 1024];
	size_t got = 0;
	ssize_t k;

	if (s->delay_ms)
		it_nap_us(s->delay_ms * 1000L);
	while ((k = it_recv_exact(fd, buf, sizeof(buf), 20000)) > 0) {
		if (it_check(buf, (size_t)k, s->seed, got) != (size_t)k) {
			atomic_store(&s->result, -EPROTO);
			close(fd);
			return;
		}
		got += (size_t)k;
		atomic_store(&s->got, got);
		if ((size_t)k < sizeof(buf))
			break;
	}
	atomic_store(&s->result, k < 0 ? (int)k : got == s->n ? 0 : -EPROTO);
	close(fd);
}

/* Send n bytes of the stream, then close. */
static void serve_source(struct tsrv *s, int fd)
{
	static uint8_t buf[256 * 1024];
	size_t off = 0;
	int ret = 0;

	while (off < s->n && !ret) {
		size_t k = s->n - off < sizeof(buf) ? s->n - off : sizeof(buf);
		it_fill(buf, k, s->seed, off);
		ret = it_send_all(fd, buf, k, 20000);
		off += k;
	}
	atomic_store(&s->result, ret);
	close(fd);
}

/* ---- echo through the proxy, 1 B ... 64 MiB --------------------------- */

static void echo_one(struct zp *p, const uint8_t *out, uint8_t *in, size_t n, uint64_t seed)
{
	int fd = connect_to(p);
	ssize_t got = it_exchange(fd, out, n, in, n, true, 30000);

	if (got != (ssize_t)n)
		fail_msg("%zu bytes: exchange returned %zd", n, got);
	if (it_check(in, n, seed, 0) != n)
		fail_msg("%zu bytes: first wrong byte at %zu", n, it_check(in, n, seed, 0));
	assert_int_equal(it_expect_eof(fd, 5000), 0); /* the upstream's FIN, passed on */
	close(fd);
}

static void test_echo_sizes(void **state)
{
	static const size_t sizes[] = { 1, 2, 63, 4095, 4096, 4097, 65543, 1 * MiB + 3,
					16 * MiB, 64 * MiB };
	size_t max = 64 * MiB;
	uint8_t *out = malloc(max), *in = malloc(max);
	struct zp *p = proxy_start(echo_tcp, 2);
	struct zp_stats st;
	uint64_t t0;

	(void)state;
	assert_non_null(out);
	assert_non_null(in);
	it_fill(out, max, 7, 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		t0 = it_now_ms();
		memset(in, 0, sizes[i]);
		echo_one(p, out, in, sizes[i], 7);
		if (sizes[i] >= 16 * MiB)
			print_message("%zu MiB echoed through the proxy in %llu ms\n", sizes[i] / MiB,
				      (unsigned long long)(it_now_ms() - t0));
	}
	st = stats(p);
	assert_int_equal(st.clients, 10);
	assert_int_equal(st.connected, 10);
	assert_true(st.held_max <= HELD_MAX);
	print_message("held at most %llu bytes per side, %llu write_ref batches, %llu pauses\n",
		      (unsigned long long)st.held_max, (unsigned long long)st.refs,
		      (unsigned long long)st.pauses);
	proxy_end(p);
	free(out);
	free(in);
}

/* Several clients at once, over a Unix-domain listener and upstream. */
static void test_unix_addresses(void **state)
{
	struct zp_config cfg;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char listen_at[96];
	uint8_t out[100000], in[sizeof(out)];
	int fds[8];
	struct zp *p;

	(void)state;
	snprintf(listen_at, sizeof(listen_at), "unix:%s/proxy", tmpdir);
	zp_config_init(&cfg);
	cfg.listen = listen_at;
	cfg.upstreams[0] = echo_unix;
	cfg.nupstreams = 1;
	cfg.threads = 2;
	p = proxy_start_cfg(&cfg);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", listen_at + 5);
	for (int i = 0; i < 8; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&un, sizeof(un)), 0);
	}
	for (int i = 0; i < 8; i++) {
		it_fill(out, sizeof(out), (uint64_t)i, 0);
		assert_int_equal(it_exchange(fds[i], out, sizeof(out), in, sizeof(in), true, 10000),
				 sizeof(in));
		assert_int_equal(it_check(in, sizeof(in), (uint64_t)i, 0), sizeof(in));
		assert_int_equal(it_expect_eof(fds[i], 5000), 0);
		close(fds[i]);
	}
	proxy_end(p);
	unlink(listen_at + 5);
}

/* ---- one way: upload into a sink, download from a source ---------------- */

static void test_upload_download(void **state)
{
	static struct tsrv sink = { .n = 64 * MiB, .seed = 11 };
	static struct tsrv src = { .n = 64 * MiB, .seed = 12 };
	size_t n = 64 * MiB;
	uint8_t *buf = malloc(n);
	char addr[64];
	struct zp *p;
	int fd;

	(void)state;
	assert_non_null(buf);
	/* upload: the client sends, shuts down, and sees the sink's FIN */
	tsrv_start(&sink, serve_sink, 1);
	tsrv_addr(&sink, addr, sizeof(addr));
	p = proxy_start(addr, 1);
	fd = connect_to(p);
	it_fill(buf, n, 11, 0);
	assert_int_equal(it_send_all(fd, buf, n, 30000), 0);
	shutdown(fd, SHUT_WR);
	assert_int_equal(it_expect_eof(fd, 20000), 0);
	close(fd);
	tsrv_join(&sink);
	assert_int_equal(atomic_load(&sink.result), 0);
	assert_int_equal(atomic_load(&sink.got), n);
	proxy_end(p);

	/* download: the source sends and closes; the client reads it all */
	tsrv_start(&src, serve_source, 1);
	tsrv_addr(&src, addr, sizeof(addr));
	p = proxy_start(addr, 1);
	fd = connect_to(p);
	memset(buf, 0, n);
	assert_int_equal(it_recv_exact(fd, buf, n, 30000), n);
	assert_int_equal(it_check(buf, n, 12, 0), n);
	assert_int_equal(it_expect_eof(fd, 5000), 0);
	close(fd);
	tsrv_join(&src);
	assert_int_equal(atomic_load(&src.result), 0);
	proxy_end(p);
	free(buf);
}

/* ---- half-close each way ---------------------------------------------- */

/* Wait for the client's FIN (passed on by the proxy) having read
 * nothing, then answer and close. */
static void serve_answer_after_fin(struct tsrv *s, int fd)
{
	atomic_store(&s->result, it_expect_eof(fd, 5000));
	it_send_all(fd, "answer after your FIN", 21, 5000);
	close(fd);
}

/* Send a greeting, shut down our side, then read the client's bytes
 * until its FIN (checking them). */
static void serve_greet_then_read(struct tsrv *s, int fd)
{
	it_send_all(fd, "hello", 5, 5000);
	shutdown(fd, SHUT_WR);
	serve_sink(s, fd);
}

static void test_half_close_client_first(void **state)
{
	static struct tsrv up;
	char addr[64], got[64];
	struct zp *p;
	int fd;

	(void)state;
	tsrv_start(&up, serve_answer_after_fin, 1);
	tsrv_addr(&up, addr, sizeof(addr));
	p = proxy_start(addr, 1);
	fd = connect_to(p);
	shutdown(fd, SHUT_WR); /* nothing sent: FIN alone */
	assert_int_equal(it_recv_exact(fd, got, 21, 5000), 21);
	assert_memory_equal(got, "answer after your FIN", 21);
	assert_int_equal(it_expect_eof(fd, 5000), 0);
	close(fd);
	tsrv_join(&up);
	assert_int_equal(atomic_load(&up.result), 0);
	proxy_end(p);
}

static void test_half_close_upstream_first(void **state)
{
	static struct tsrv up = { .n = 3 * MiB + 5, .seed = 21 };
	size_t n = 3 * MiB + 5;
	uint8_t *buf = malloc(n);
	char addr[64], got[8];
	struct zp *p;
	int fd;

	(void)state;
	tsrv_start(&up, serve_greet_then_read, 1);
	tsrv_addr(&up, addr, sizeof(addr));
	p = proxy_start(addr, 1);
	fd = connect_to(p);
	assert_int_equal(it_recv_exact(fd, got, 5, 5000), 5);
	assert_memory_equal(got, "hello", 5);
	assert_int_equal(it_expect_eof(fd, 5000), 0); /* the upstream's FIN */
	it_fill(buf, n, 21, 0);
	assert_int_equal(it_send_all(fd, buf, n, 20000), 0); /* still goes up */
	shutdown(fd, SHUT_WR);
	tsrv_join(&up);
	assert_int_equal(atomic_load(&up.result), 0);
	assert_int_equal(atomic_load(&up.got), n);
	close(fd);
	proxy_end(p);
	free(buf);
}

/* ---- failures ----------------------------------------------------------- */

static uint16_t dead_port(void)
{
	struct sockaddr_storage ss;
	socklen_t len = it_addr(AF_INET, 0, &ss);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	port = it_local_port(fd);
	close(fd);
	return port;
}

static void test_upstream_refused(void **state)
{
	char addr[64];
	struct zp *p;
	struct zp_stats st;
	int fd;

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", dead_port());
	p = proxy_start(addr, 1);
	fd = connect_to(p);
	it_send_all(fd, "lost", 4, 1000); /* queued while connecting, dropped */
	assert_int_equal(it_expect_eof(fd, 5000), 0); /* closed, not reset */
	close(fd);
	assert_true(IT_WAIT(proxy_idle(p), 5000));
	st = stats(p);
	assert_int_equal(st.connect_failed, 1);
	assert_int_equal(st.connected, 0);
	proxy_end(p);
}

/* A listener with a full accept queue drops SYNs: only the connect
 * timeout ends it. */
static void test_upstream_connect_timeout(void **state)
{
	struct sockaddr_storage ss;
	struct zp_config cfg;
	char addr[64];
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4], fd;
	socklen_t len = it_addr(AF_INET, 0, &ss);
	struct zp *p;
	uint64_t t0;

	(void)state;
	assert_int_equal(bind(lfd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(lfd, 0), 0);
	len = it_addr(AF_INET, it_local_port(lfd), &ss);
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&ss, len);
	}
	it_nap_us(50000);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", it_local_port(lfd));
	zp_config_init(&cfg);
	cfg.listen = "127.0.0.1:0";
	cfg.upstreams[0] = addr;
	cfg.nupstreams = 1;
	cfg.threads = 1;
	cfg.connect_timeout_ms = 300;
	p = proxy_start_cfg(&cfg);
	fd = connect_to(p);
	t0 = it_now_ms();
	assert_int_equal(it_expect_eof(fd, 5000), 0);
	print_message("client closed %llu ms after the connect began\n",
		      (unsigned long long)(it_now_ms() - t0));
	assert_true(it_now_ms() - t0 >= 250);
	close(fd);
	assert_int_equal(stats(p).connect_failed, 1);
	proxy_end(p);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

/* Read a little, then reset. */
static void serve_reset(struct tsrv *s, int fd)
{
	char b[16];

	atomic_store(&s->result, (int)it_recv_exact(fd, b, 4, 5000));
	it_close_rst(fd);
}

/* Wait for the end of the stream (EOF or reset). */
static void serve_until_end(struct tsrv *s, int fd)
{
	char b[4096];
	ssize_t k;

	while ((k = it_recv_exact(fd, b, sizeof(b), 5000)) == (ssize_t)sizeof(b))
		;
	atomic_store(&s->result, k < 0 ? (int)k : 0);
	close(fd);
}

static void test_resets(void **state)
{
	static struct tsrv up, up2;
	char addr[64], b[16];
	struct zp *p;
	int fd, ret;

	(void)state;
	/* the upstream resets: the client is reset too */
	tsrv_start(&up, serve_reset, 1);
	tsrv_addr(&up, addr, sizeof(addr));
	p = proxy_start(addr, 1);
	fd = connect_to(p);
	assert_int_equal(it_send_all(fd, "ping", 4, 1000), 0);
	ret = (int)it_recv_exact(fd, b, sizeof(b), 5000);
	assert_true(ret == -ECONNRESET || ret == 0);
	close(fd);
	tsrv_join(&up);
	assert_int_equal(atomic_load(&up.result), 4);
	assert_true(IT_WAIT(proxy_idle(p), 5000));
	assert_int_equal(stats(p).aborted, 1);
	proxy_end(p);

	/* the client resets: the upstream's connection ends */
	tsrv_start(&up2, serve_until_end, 1);
	tsrv_addr(&up2, addr, sizeof(addr));
	p = proxy_start(addr, 1);
	fd = connect_to(p);
	assert_int_equal(it_send_all(fd, "data", 4, 1000), 0);
	assert_true(IT_WAIT(atomic_load(&up2.accepted) == 1, 5000));
	it_close_rst(fd);
	tsrv_join(&up2);
	ret = atomic_load(&up2.result);
	if (ret != 0 && ret != -ECONNRESET)
		fail_msg("upstream saw %d (%s), not the end of its stream", ret, strerror(-ret));
	proxy_end(p);
}

/* ---- slow readers: bounded memory each way ------------------------------- */

static void test_slow_client_reader(void **state)
{
	static struct tsrv src = { .n = 64 * MiB, .seed = 31 };
	size_t n = 64 * MiB;
	uint8_t *buf = malloc(n);
	struct zg_reactor_stats rs;
	struct zp_stats st;
	char addr[64];
	struct zp *p;
	long rss0, rss1;
	int fd;

	(void)state;
	assert_non_null(buf);
	memset(buf, 0, n); /* touched now, not counted in the RSS growth */
	tsrv_start(&src, serve_source, 1);
	tsrv_addr(&src, addr, sizeof(addr));
	p = proxy_start(addr, 1);
	rss0 = it_rss_kib();
	fd = connect_to(p);
	it_nap_us(1000 * 1000); /* the source pushes; nobody reads */
	st = stats(p);
	assert_int_equal(it_server_stats(zp_server(p), &rs, NULL), 0);
	rss1 = it_rss_kib();
	print_message("slow client: proxy holds %llu bytes (most %llu), %u of %u ring buffers "
		      "free, RSS +%ld KiB\n",
		      (unsigned long long)st.held_now, (unsigned long long)st.held_max, rs.bufs_free,
		      BUFS, rss1 - rss0);
	assert_true(st.held_now <= HELD_MAX);
	assert_true(st.held_max <= HELD_MAX);
	assert_true(BUFS - rs.bufs_free <= 64 + 8); /* the segment limit, and a batch */
	assert_true(rss1 - rss0 < 16 * 1024);        /* not the 64 MiB coming */
	assert_int_equal(it_recv_exact(fd, buf, n, 30000), n);
	assert_int_equal(it_check(buf, n, 31, 0), n);
	assert_int_equal(it_expect_eof(fd, 5000), 0);
	close(fd);
	tsrv_join(&src);
	proxy_end(p);
	free(buf);
}

static void test_slow_upstream_reader(void **state)
{
	static struct tsrv sink = { .n = 32 * MiB, .seed = 32, .delay_ms = 1000 };
	size_t n = 32 * MiB, sent = 0;
	uint8_t *buf = malloc(n);
	struct zp_stats st;
	char addr[64];
	struct zp *p;
	uint64_t end;
	int fd;

	(void)state;
	assert_non_null(buf);
	it_fill(buf, n, 32, 0);
	tsrv_start(&sink, serve_sink, 1);
	tsrv_addr(&sink, addr, sizeof(addr));
	p = proxy_start(addr, 1);
	fd = connect_to(p);
	it_set_nonblock(fd, true);
	/* push for 0.6 s while the sink sleeps: the client gets stuck */
	end = it_now_ms() + 600;
	while (it_now_ms() < end) {
		ssize_t k = send(fd, buf + sent, n - sent, MSG_NOSIGNAL);
		if (k > 0)
			sent += (size_t)k;
		else
			it_nap_us(1000);
	}
	st = stats(p);
	print_message("slow upstream: client got %zu bytes in, proxy holds %llu (most %llu)\n",
		      sent, (unsigned long long)st.held_now, (unsigned long long)st.held_max);
	assert_true(sent < n);
	assert_true(st.held_now <= HELD_MAX);
	assert_true(st.held_max <= HELD_MAX);
	it_set_nonblock(fd, false);
	assert_int_equal(it_send_all(fd, buf + sent, n - sent, 30000), 0);
	shutdown(fd, SHUT_WR);
	assert_int_equal(it_expect_eof(fd, 20000), 0);
	close(fd);
	tsrv_join(&sink);
	assert_int_equal(atomic_load(&sink.result), 0);
	proxy_end(p);
	free(buf);
}

/* ---- round robin and health check --------------------------------------- */

static void serve_name(struct tsrv *s, int fd)
{
	it_send_all(fd, s->name, 1, 1000);
	close(fd);
}

static char first_byte(struct zp *p)
{
	char c = 0;
	int fd = connect_to(p);

	assert_int_equal(it_recv_exact(fd, &c, 1, 5000), 1);
	close(fd);
	return c;
}

/* Round robin with every upstream up, no health check. */
static void test_round_robin(void **state)
{
	static struct tsrv a = { .name = "A" }, b = { .name = "B" };
	char aa[64], ba[64], got[5] = { 0 };
	struct zp_config cfg;
	struct zp *p;

	(void)state;
	tsrv_start(&a, serve_name, 2);
	tsrv_start(&b, serve_name, 2);
	tsrv_addr(&a, aa, sizeof(aa));
	tsrv_addr(&b, ba, sizeof(ba));
	zp_config_init(&cfg);
	cfg.listen = "127.0.0.1:0";
	cfg.upstreams[0] = aa;
	cfg.upstreams[1] = ba;
	cfg.nupstreams = 2;
	cfg.threads = 1;
	p = proxy_start_cfg(&cfg);
	for (int i = 0; i < 4; i++)
		got[i] = first_byte(p);
	assert_string_equal(got, "ABAB");
	tsrv_join(&a);
	tsrv_join(&b);
	proxy_end(p);
}

/* A dead upstream is skipped once the health check has seen it fail;
 * with every upstream down, clients are closed at once. */
static void test_health_check(void **state)
{
	char good[64], bad[64];
	struct zp_config cfg;
	struct zp *p;
	int fd;

	(void)state;
	snprintf(good, sizeof(good), "%s", echo_tcp);
	snprintf(bad, sizeof(bad), "127.0.0.1:%u", dead_port());
	zp_config_init(&cfg);
	cfg.listen = "127.0.0.1:0";
	cfg.upstreams[0] = bad;
	cfg.upstreams[1] = good;
	cfg.nupstreams = 2;
	cfg.threads = 2;
	cfg.health_interval_ms = 50;
	p = proxy_start_cfg(&cfg);
	assert_true(IT_WAIT(stats(p).up_healthy == 1, 5000));
	for (int i = 0; i < 6; i++) {
		char b[4];
		fd = connect_to(p);
		assert_int_equal(it_send_all(fd, "ping", 4, 1000), 0);
		assert_int_equal(it_recv_exact(fd, b, 4, 5000), 4); /* never the dead one */
		close(fd);
	}
	assert_int_equal(stats(p).connect_failed, 0);
	proxy_end(p);

	/* only a dead upstream */
	cfg.upstreams[0] = bad;
	cfg.nupstreams = 1;
	p = proxy_start_cfg(&cfg);
	assert_true(IT_WAIT(stats(p).up_healthy == 0, 5000));
	fd = connect_to(p);
	assert_int_equal(it_expect_eof(fd, 5000), 0);
	close(fd);
	assert_true(IT_WAIT(stats(p).no_upstream == 1, 5000));
	proxy_end(p);
}

/* ---- 5 000 concurrent pairs --------------------------------------------- */

#define NPAIRS 5000

static void test_many_pairs(void **state)
{
	static int fds[NPAIRS];
	uint8_t out[64], in[64];
	struct zp_config cfg;
	struct zg_reactor_config rc;
	struct zp_stats st;
	struct zp *p;
	uint64_t t0 = it_now_ms();

	(void)state;
	if (!it_raise_nofile(3 * NPAIRS + 200)) {
		print_message("SKIP: RLIMIT_NOFILE too low for %d pairs\n", NPAIRS);
		skip();
	}
	zp_config_init(&cfg);
	cfg.listen = "127.0.0.1:0";
	cfg.upstreams[0] = echo_tcp;
	cfg.nupstreams = 1;
	cfg.threads = 2;
	it_reactor_config(&rc);
	p = proxy_start_cfg(&cfg);
	(void)rc;
	for (int i = 0; i < NPAIRS; i++) {
		fds[i] = it_connect(zp_port(p));
		if (fds[i] < 0)
			fail_msg("connect #%d: %s", i, strerror(-fds[i]));
	}
	/* every pair open at once: each sends its message, then all read */
	for (int i = 0; i < NPAIRS; i++) {
		it_fill(out, sizeof(out), (uint64_t)i, 0);
		assert_int_equal(it_send_all(fds[i], out, sizeof(out), 5000), 0);
	}
	for (int i = 0; i < NPAIRS; i++) {
		assert_int_equal(it_recv_exact(fds[i], in, sizeof(in), 10000), sizeof(in));
		assert_int_equal(it_check(in, sizeof(in), (uint64_t)i, 0), sizeof(in));
	}
	st = stats(p);
	assert_int_equal(st.pairs_open, NPAIRS);
	assert_int_equal(st.connected, NPAIRS);
	for (int i = 0; i < NPAIRS; i++)
		close(fds[i]);
	print_message("%d pairs opened, echoed and closed in %llu ms\n", NPAIRS,
		      (unsigned long long)(it_now_ms() - t0));
	proxy_end(p);
}

static int setup(void **state)
{
	(void)state;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_sizes),
		cmocka_unit_test(test_unix_addresses),
		cmocka_unit_test(test_upload_download),
		cmocka_unit_test(test_half_close_client_first),
		cmocka_unit_test(test_half_close_upstream_first),
		cmocka_unit_test(test_upstream_refused),
		cmocka_unit_test(test_upstream_connect_timeout),
		cmocka_unit_test(test_resets),
		cmocka_unit_test(test_slow_client_reader),
		cmocka_unit_test(test_slow_upstream_reader),
		cmocka_unit_test(test_round_robin),
		cmocka_unit_test(test_health_check),
		cmocka_unit_test(test_many_pairs),
	};
	int ret;

	it_init();
	signal(SIGPIPE, SIG_IGN);
	it_raise_nofile(3 * NPAIRS + 200);
	echo_start(); /* before any thread: fork */
	ret = cmocka_run_group_tests_name("proxy", tests, setup, NULL);
	echo_stop();
	return ret;
}
