/* SPDX-License-Identifier: MIT */
/*
 * crud's cache on Redis (examples/httparena-server/redis.c) against a
 * real redis-server the test starts on a free port of 127.0.0.1 (and a
 * Unix socket in a temporary directory), driven by a lone reactor on
 * the test's thread:
 *  - get/set/del, the value and PX time to live as Redis holds them
 *    (checked with a plain client), SELECT for /db;
 *  - 2 000 commands pipelined in one pass, replies matched in order;
 *  - a value too big to keep is a miss and the stream stays in step;
 *  - Redis killed with gets in flight: they complete as misses, gets
 *    fail at once while it is away, set/del do nothing; restarted on
 *    the same port: the client reconnects by itself;
 *  - Redis stopped (SIGSTOP): the reply watchdog completes the gets,
 *    then the client is back after SIGCONT;
 *  - a peer that is not Redis (garbage, a reply to nothing): the
 *    connection is dropped, nothing crashes;
 *  - cache_free with gets in flight completes them.
 * Without redis-server the test exits 77 and says so. Redis runs with
 * PR_SET_PDEATHSIG, so it dies with the test even when the test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "../integration/itest.h"
#include "cache.h"

static char redis_bin[256];
static char tmpdir[] = "/tmp/zg-redis-XXXXXX";
static char sock_path[300];
static uint16_t redis_port;
static pid_t redis_pid = -1;

/* ------------------------------------------------------------------ */
/* redis-server                                                        */
/* ------------------------------------------------------------------ */

static bool find_redis(void)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s:/usr/bin:/usr/sbin:/usr/local/bin",
		 path ? path : "");
	for (char *d = strtok(dirs, ":"); d; d = strtok(NULL, ":")) {
		snprintf(redis_bin, sizeof(redis_bin), "%s/redis-server", d);
		if (access(redis_bin, X_OK) == 0)
			return true;
	}
	return false;
}

static uint16_t free_port(void)
{
	struct sockaddr_storage ss;
	socklen_t len = it_addr(AF_INET, 0, &ss);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 1))
		abort();
	port = it_local_port(fd);
	close(fd);
	return port;
}

/* A blocking client for checks: send an inline command, read one reply
 * (a line, or a bulk string's data) into out. The reply's first byte
 * (+ - : $), or 0 on failure. */
static char raw_cmd(int fd, const char *cmd, char *out, size_t cap)
{
	char line[128];
	size_t k = 0;

	if (it_send_all(fd, cmd, strlen(cmd), 2000) || it_send_all(fd, "\r\n", 2, 2000))
		return 0;
	while (k < sizeof(line) - 1) {
		if (it_recv_exact(fd, line + k, 1, 2000) != 1)
			return 0;
		if (line[k++] == '\n')
			break;
	}
	line[k - 2] = 0;
	if (line[0] == '$' && atoi(line + 1) >= 0) {
		size_t n = (size_t)atoi(line + 1);
		char *tmp = malloc(n + 2);
		if (!tmp || it_recv_exact(fd, tmp, n + 2, 2000) != (ssize_t)(n + 2)) {
			free(tmp);
			return 0;
		}
		snprintf(out, cap, "%.*s", (int)n, tmp);
		free(tmp);
	} else {
		snprintf(out, cap, "%s", line + 1);
	}
	return line[0];
}

static int raw_connect(void)
{
	return it_connect(redis_port);
}

static bool redis_start(void)
{
	char port[8];

	snprintf(port, sizeof(port), "%u", redis_port);
	redis_pid = fork();
	if (redis_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(null, 1);
		dup2(null, 2);
		execl(redis_bin, redis_bin, "--port", port, "--bind", "127.0.0.1",
		      "--unixsocket", sock_path, "--save", "", "--appendonly", "no",
		      "--dir", tmpdir, "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	if (redis_pid < 0)
		return false;
	/* Up when it answers PING. */
	uint64_t end = it_now_ms() + 10000;
	for (;;) {
		char out[64];
		int fd = raw_connect();
		bool up = fd >= 0 && raw_cmd(fd, "PING", out, sizeof(out)) == '+';
		if (fd >= 0)
			close(fd);
		if (up)
			return true;
		int st;
		if (waitpid(redis_pid, &st, WNOHANG) == redis_pid) {
			fprintf(stderr, "redis-server exited (%d) instead of listening on %u\n",
				st, redis_port);
			redis_pid = -1;
			return false;
		}
		if (it_now_ms() > end) {
			fprintf(stderr, "redis-server did not answer on port %u\n", redis_port);
			return false;
		}
		it_nap_us(20000);
	}
}

static void redis_kill(int sig)
{
	if (redis_pid <= 0)
		return;
	kill(redis_pid, sig);
	if (sig == SIGKILL || sig == SIGTERM) {
		waitpid(redis_pid, NULL, 0);
		redis_pid = -1;
	}
}

static void cleanup(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGCONT);
		redis_kill(SIGKILL);
	}
	unlink(sock_path);
	rmdir(tmpdir);
}

/* ------------------------------------------------------------------ */
/* The client under test                                               */
/* ------------------------------------------------------------------ */

struct got {
	int calls;
	bool found;
	size_t n;
	char val[CACHE_VALUE_MAX + 1];
	unsigned seq;      /* order of completion */
};

static unsigned completions;

static void on_get(void *arg, bool found, const void *p, size_t n)
{
	struct got *g = arg;
	g->calls++;
	g->found = found;
	g->n = n;
	g->seq = completions++;
	if (found)
		memcpy(g->val, p, n);
	g->val[found ? n : 0] = 0;
}

struct env {
	struct zg_reactor *r;
	struct cache_shared *s;
	struct cache *c;
};

static struct env env_new(const char *url, unsigned ttl_ms)
{
	struct zg_reactor_config cfg;
	struct env e;
	char err[256];

	it_reactor_config(&cfg);
	assert_int_equal(zg_reactor_new(&cfg, NULL, NULL, &e.r), 0);
	if (cache_shared_new(&e.s, url, ttl_ms, err, sizeof(err)))
		fail_msg("%s: %s", url, err);
	assert_string_equal(cache_shared_kind(e.s), "redis");
	e.c = cache_new(e.s, e.r);
	assert_non_null(e.c);
	assert_false(cache_inline(e.c));
	return e;
}

static void env_free(struct env e)
{
	cache_free(e.c);
	it_reactor_end(e.r);
	cache_shared_free(e.s);
}

static char url_buf[400];

static const char *tcp_url(unsigned db)
{
	snprintf(url_buf, sizeof(url_buf), "redis://127.0.0.1:%u/%u", redis_port, db);
	return url_buf;
}

/* Pump until the client is connected (a few backoff steps at most). */
static void wait_ready(struct env *e)
{
	uint64_t end = it_now_ms() + 8000;
	while (!cache_ready(e->c) && it_now_ms() < end) {
		struct got g = { 0 };
		/* Calls poke the client too; while it is away they fail at
		 * once. */
		if (cache_get(e->c, 1, on_get, &g) == 0)
			break;
		zg_reactor_run_once(e->r, 10);
	}
	assert_true(cache_ready(e->c));
}

static struct got get_wait(struct env *e, uint32_t id)
{
	struct got g = { 0 };
	assert_int_equal(cache_get(e->c, id, on_get, &g), 0);
	assert_int_equal(g.calls, 0); /* never inside cache_get */
	assert_true(IT_PUMP(e->r, g.calls == 1));
	return g;
}

/* Let a set or del reach Redis: a get after it is answered after it. */
static void sync_cmds(struct env *e)
{
	(void)get_wait(e, 0);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void test_basic(void **state)
{
	struct env e = env_new(tcp_url(0), 200);
	char out[256];
	(void)state;

	/* Connecting: a get fails at once (the caller takes a miss). */
	struct got g0 = { 0 };
	if (!cache_ready(e.c))
		assert_int_equal(cache_get(e.c, 42, on_get, &g0), -1);
	assert_int_equal(g0.calls, 0);
	wait_ready(&e);

	int fd = raw_connect();
	assert_true(fd >= 0);
	assert_int_equal(raw_cmd(fd, "DEL crud:42", out, sizeof(out)), ':');

	struct got g = get_wait(&e, 42);
	assert_false(g.found);
	cache_set(e.c, 42, "{\"id\":42}", 9);
	g = get_wait(&e, 42);
	assert_true(g.found);
	assert_string_equal(g.val, "{\"id\":42}");
	/* As Redis holds it: the key, the bytes, a PX time to live. */
	assert_int_equal(raw_cmd(fd, "GET crud:42", out, sizeof(out)), '$');
	assert_string_equal(out, "{\"id\":42}");
	assert_int_equal(raw_cmd(fd, "PTTL crud:42", out, sizeof(out)), ':');
	assert_true(atoi(out) > 0 && atoi(out) <= 200);

	cache_del(e.c, 42);
	g = get_wait(&e, 42);
	assert_false(g.found);
	assert_int_equal(raw_cmd(fd, "EXISTS crud:42", out, sizeof(out)), ':');
	assert_string_equal(out, "0");

	/* An empty value and the largest id. */
	cache_set(e.c, UINT32_MAX, "", 0);
	g = get_wait(&e, UINT32_MAX);
	assert_true(g.found);
	assert_int_equal(g.n, 0);
	close(fd);
	env_free(e);
}

/* Redis expires the values: after the reply that followed the SET, ttl
 * (and Redis's millisecond granularity) later, the value is gone. */
static void test_ttl(void **state)
{
	const unsigned ttl = 50;
	struct env e = env_new(tcp_url(0), ttl);
	(void)state;

	wait_ready(&e);
	cache_set(e.c, 5, "five", 4);
	struct got g = get_wait(&e, 5);
	uint64_t t_reply = it_now_ms(); /* the SET was run before this */
	assert_true(g.found);
	while (it_now_ms() < t_reply + ttl + 20)
		zg_reactor_run_once(e.r, 5);
	g = get_wait(&e, 5);
	assert_false(g.found);
	env_free(e);
}

/* SELECT from the URL's /db: the value is in that database only. */
static void test_select(void **state)
{
	struct env e = env_new(tcp_url(3), 5000);
	char out[256];
	(void)state;

	wait_ready(&e);
	cache_set(e.c, 77, "in-db-3", 7);
	sync_cmds(&e);
	int fd = raw_connect();
	assert_int_equal(raw_cmd(fd, "EXISTS crud:77", out, sizeof(out)), ':');
	assert_string_equal(out, "0");
	assert_int_equal(raw_cmd(fd, "SELECT 3", out, sizeof(out)), '+');
	assert_int_equal(raw_cmd(fd, "GET crud:77", out, sizeof(out)), '$');
	assert_string_equal(out, "in-db-3");
	close(fd);
	env_free(e);

	/* A database Redis does not have: SELECT fails, gets stay misses,
	 * nothing crashes. */
	e = env_new(tcp_url(99999), 5000);
	for (int i = 0; i < 50; i++) {
		struct got g = { 0 };
		if (cache_get(e.c, 1, on_get, &g) == 0)
			assert_true(IT_PUMP(e.r, g.calls == 1));
		assert_false(g.found);
		zg_reactor_run_once(e.r, 5);
	}
	env_free(e);
}

static void test_unix(void **state)
{
	char url[400];
	(void)state;

	snprintf(url, sizeof(url), "unix:%s", sock_path);
	struct env e = env_new(url, 5000);
	wait_ready(&e);
	cache_set(e.c, 8, "eight", 5);
	struct got g = get_wait(&e, 8);
	assert_true(g.found);
	assert_string_equal(g.val, "eight");
	env_free(e);
}

/* 2 000 commands in one pass: gets of ids set in the same pass see
 * their values, every get completes once and in order. */
#define PIPE_N 1000
static void test_pipelined(void **state)
{
	struct env e = env_new(tcp_url(0), 10000);
	static struct got g[PIPE_N];
	char v[64];
	(void)state;

	wait_ready(&e);
	memset(g, 0, sizeof(g));
	for (unsigned i = 0; i < PIPE_N; i++) {
		int n = snprintf(v, sizeof(v), "{\"id\":%u,\"pad\":\"%0*u\"}", 1000 + i,
				 (int)(i % 40), i);
		cache_set(e.c, 1000 + i, v, (size_t)n);
		assert_int_equal(cache_get(e.c, 1000 + i, on_get, &g[i]), 0);
	}
	assert_true(IT_PUMP(e.r, g[PIPE_N - 1].calls == 1));
	for (unsigned i = 0; i < PIPE_N; i++) {
		int n = snprintf(v, sizeof(v), "{\"id\":%u,\"pad\":\"%0*u\"}", 1000 + i,
				 (int)(i % 40), i);
		assert_int_equal(g[i].calls, 1);
		assert_true(g[i].found);
		assert_int_equal(g[i].n, (size_t)n);
		assert_string_equal(g[i].val, v);
		if (i)
			assert_true(g[i].seq == g[i - 1].seq + 1);
	}
	env_free(e);
}

/* A value another client stored, too big to keep: a miss, and the
 * replies after it still match their gets. */
static void test_big_value(void **state)
{
	struct env e = env_new(tcp_url(0), 10000);
	size_t n = 3 * CACHE_VALUE_MAX;
	char *cmd = malloc(n + 64), out[64];
	(void)state;

	wait_ready(&e);
	int k = snprintf(cmd, 64, "SET crud:6 ");
	memset(cmd + k, 'z', n);
	cmd[k + n] = 0;
	int fd = raw_connect();
	assert_int_equal(raw_cmd(fd, cmd, out, sizeof(out)), '+');
	close(fd);
	free(cmd);
	cache_set(e.c, 4, "four", 4);
	struct got a = { 0 }, b = { 0 };
	assert_int_equal(cache_get(e.c, 6, on_get, &a), 0);
	assert_int_equal(cache_get(e.c, 4, on_get, &b), 0);
	assert_true(IT_PUMP(e.r, b.calls == 1));
	assert_int_equal(a.calls, 1);
	assert_false(a.found);
	assert_true(b.found);
	assert_string_equal(b.val, "four");
	/* A set of a value too big to keep drops the old one. */
	static char big[CACHE_VALUE_MAX + 1];
	memset(big, 'q', sizeof(big));
	cache_set(e.c, 4, big, sizeof(big));
	struct got c = get_wait(&e, 4);
	assert_false(c.found);
	env_free(e);
}

/* Killed with gets in flight, away for a while, restarted. */
static void test_killed(void **state)
{
	struct env e = env_new(tcp_url(0), 60000);
	struct got g[64] = { 0 };
	(void)state;

	wait_ready(&e);
	cache_set(e.c, 3, "three", 5);
	sync_cmds(&e);
	/* SIGSTOP first so the gets are surely in flight when it dies. */
	redis_kill(SIGSTOP);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(cache_get(e.c, 3, on_get, &g[i]), 0);
	for (int i = 0; i < 5; i++)
		zg_reactor_run_once(e.r, 5); /* sent */
	redis_kill(SIGKILL);
	assert_true(IT_PUMP(e.r, g[63].calls == 1));
	for (unsigned i = 0; i < 64; i++) {
		assert_int_equal(g[i].calls, 1);
		assert_false(g[i].found);
	}
	/* Away: gets fail at once, set and del do nothing. */
	assert_true(IT_PUMP(e.r, !cache_ready(e.c)));
	uint64_t end = it_now_ms() + 300;
	while (it_now_ms() < end) {
		struct got x = { 0 };
		assert_int_equal(cache_get(e.c, 3, on_get, &x), -1);
		assert_int_equal(x.calls, 0);
		cache_set(e.c, 3, "lost", 4);
		cache_del(e.c, 3);
		zg_reactor_run_once(e.r, 5);
	}
	/* Back on the same port: the client finds it by itself. */
	assert_true(redis_start());
	wait_ready(&e);
	struct got x = get_wait(&e, 3);
	assert_false(x.found); /* a fresh Redis: nothing kept */
	cache_set(e.c, 3, "three again", 11);
	x = get_wait(&e, 3);
	assert_true(x.found);
	assert_string_equal(x.val, "three again");
	env_free(e);
}

/* A Redis that stops answering: the watchdog completes the gets as
 * misses and drops the connection; after SIGCONT the client is back. */
static void test_stalled(void **state)
{
	struct env e = env_new(tcp_url(0), 60000);
	struct got g[8] = { 0 };
	(void)state;

	wait_ready(&e);
	redis_kill(SIGSTOP);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(cache_get(e.c, 2, on_get, &g[i]), 0);
	uint64_t end = it_now_ms() + 10000;
	while (g[7].calls == 0 && it_now_ms() < end)
		zg_reactor_run_once(e.r, 20);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(g[i].calls, 1);
		assert_false(g[i].found);
	}
	redis_kill(SIGCONT);
	wait_ready(&e);
	cache_set(e.c, 2, "two", 3);
	struct got x = get_wait(&e, 2);
	assert_true(x.found);
	env_free(e);
}

/* A peer that is not Redis, on the same reactor. */
static const char *fake_reply;

static void fake_data(struct zg_conn *c)
{
	struct zg_read_view v;
	zg_conn_read(c, &v);
	zg_conn_advance(c, v.len, v.len);
	if (v.len && fake_reply)
		zg_conn_write(c, fake_reply, strlen(fake_reply));
}

static void fake_open(struct zg_conn *c)
{
	/* A reply to nothing: sent before any command. */
	if (fake_reply && !strcmp(fake_reply, "unsolicited"))
		zg_conn_write(c, "+OK\r\n", 5);
}

static const struct zg_handler fake_h = { .on_open = fake_open, .on_data = fake_data };

static void not_redis(const char *reply)
{
	struct zg_reactor_config cfg;
	struct zg_reactor *r;
	struct sockaddr_storage ss;
	socklen_t len = it_addr(AF_INET, 0, &ss);
	struct cache_shared *s;
	struct cache *c;
	uint16_t port;
	char url[64], err[128];

	fake_reply = reply;
	it_reactor_config(&cfg);
	assert_int_equal(zg_reactor_new(&cfg, &fake_h, NULL, &r), 0);
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss, len, 0, 0, &port), 0);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%u", port);
	assert_int_equal(cache_shared_new(&s, url, 200, err, sizeof(err)), 0);
	c = cache_new(s, r);
	assert_non_null(c);
	/* Many rounds: each break reconnects (with the backoff), each get
	 * either fails at once or completes as a miss. */
	uint64_t end = it_now_ms() + 400;
	unsigned done = 0;
	while (it_now_ms() < end) {
		struct got g = { 0 };
		if (cache_get(c, 9, on_get, &g) == 0) {
			assert_true(IT_PUMP(r, g.calls == 1));
			assert_false(g.found);
			done++;
		}
		zg_reactor_run_once(r, 2);
	}
	cache_free(c);
	it_reactor_end(r);
	cache_shared_free(s);
	(void)done;
}

static void test_not_redis(void **state)
{
	(void)state;
	not_redis("garbage\r\n");
	not_redis("*1\r\n$1\r\nx\r\n");         /* an array: not our reply  */
	not_redis("$99999999\r\n");             /* a length past the limit  */
	not_redis("$3\r\nabcXY");               /* no CRLF after the data   */
	not_redis("+OK\r\n+OK\r\n+OK\r\n");     /* more replies than asked  */
	not_redis("unsolicited");
	not_redis(NULL);                        /* never answers: watchdog  */
}

/* cache_free with gets in flight completes each of them, once. */
static void test_free_in_flight(void **state)
{
	struct env e = env_new(tcp_url(0), 1000);
	struct got g[4] = { 0 };
	(void)state;

	wait_ready(&e);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(cache_get(e.c, 1, on_get, &g[i]), 0);
	cache_free(e.c);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(g[i].calls, 1);
	it_reactor_end(e.r);
	cache_shared_free(e.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_unix),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_big_value),
		cmocka_unit_test(test_killed),
		cmocka_unit_test(test_stalled),
		cmocka_unit_test(test_not_redis),
		cmocka_unit_test(test_free_in_flight),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	it_init();
	if (!find_redis()) {
		printf("SKIP: redis-server not found (Debian: apt-get install redis-server, "
		       "or scripts/install-deps.sh)\n");
		return IT_SKIP;
	}
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/redis.sock", tmpdir);
	redis_port = free_port();
	atexit(cleanup);
	if (!redis_start()) {
		printf("FAIL: could not start %s\n", redis_bin);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	return rc;
}
