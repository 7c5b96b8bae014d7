/* SPDX-License-Identifier: MIT */
/* zerg-load end to end, on 127.0.0.1, about a second per run:
 *  - against an in-process libzerg server that counts what it answers and
 *    answers by path: Content-Length, chunked (extensions, trailers),
 *    404, Connection: close, an interim 100 first, a body cut in tiny
 *    writes; zerg-load's counts must match the server's exactly
 *    (requests sent == responses parsed == requests the server answered),
 *    statuses tallied by template, -r N closing with RST and reconnecting
 *    (connections opened == connections the server saw), pipelining;
 *  - against examples/httparena-server (a child process on an ephemeral
 *    port): the baseline templates with -r 10, /json pipelined,
 *    /compression gzip, all 2xx, nothing unanswered; --ws on /ws (every
 *    frame echoed and checked, one upgrade per connection) and a refused
 *    upgrade.
 *
 *   itest_load ZERG_LOAD HTTPARENA_SERVER HTTPARENA_DATAGEN
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zerg.h>

static const char *zerg_load, *arena_server, *arena_datagen;
static char tmpdir[256];

/* ------------------------------------------------------------------ */
/* The in-process server                                               */
/* ------------------------------------------------------------------ */

static atomic_ulong srv_requests, srv_conns;
/* on_data calls that found requests, and how many found exactly
 * srv_batch of them / more than that (the batch test) */
static atomic_ulong srv_datas, srv_datas_exact, srv_datas_over;
static unsigned long srv_batch;
static struct zg_server *srv;
/* the placeholder test: what /ph/, /ph2/ and /seq/ requests carried */
#define SEQ_BASE 100001
#define SEQ_MAX (1u << 20)
static atomic_ulong ph_count, ph_bad, ph_min = ULONG_MAX, ph_max, ph2_seen[11];
static atomic_ulong seq_count, seq_bad, seq_dups, seq_max;
static atomic_uchar seq_seen[SEQ_MAX];
static uint16_t srv_port;

static const char R_CL[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
static const char R_CHUNKED[] =
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
static const char R_404[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
static const char R_CLOSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
static const char R_CONTINUE[] =
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";

/* GET /ph/NNNNN (RAND:1:50000: five digits), /ph2/NN?x={RAND:1:9}
 * (RAND:1:10: two digits; the second placeholder left as it is),
 * /seq/NNNNNN (SEQ:100001: six digits, each value once). */
static void ph_record(const char *p, size_t n)
{
	const char *sp = memchr(p + 4, ' ', n - 4);
	const char *num = strchr(p + 5, '/') + 1;
	size_t len = (size_t)(sp - num);
	unsigned long v = 0;

	if (!sp) {
		atomic_fetch_add(&ph_bad, 1);
		return;
	}
	if (p[5] == 's') {
		bool ok = len == 6;

		for (size_t i = 0; ok && i < len; i++) {
			ok = num[i] >= '0' && num[i] <= '9';
			v = v * 10 + (unsigned long)(num[i] - '0');
		}
		if (!ok || v < SEQ_BASE || v - SEQ_BASE >= SEQ_MAX) {
			atomic_fetch_add(&seq_bad, 1);
			return;
		}
		if (atomic_exchange(&seq_seen[v - SEQ_BASE], 1))
			atomic_fetch_add(&seq_dups, 1);
		for (unsigned long m = atomic_load(&seq_max); v > m;)
			if (atomic_compare_exchange_weak(&seq_max, &m, v))
				break;
		atomic_fetch_add(&seq_count, 1);
		return;
	}
	if (p[7] == '2') {
		/* two digits, then the second placeholder untouched */
		if (len != 2 + strlen("?x={RAND:1:9}") || memcmp(num + 2, "?x={RAND:1:9}", 13) ||
		    num[0] < '0' || num[0] > '9' || num[1] < '0' || num[1] > '9') {
			atomic_fetch_add(&ph_bad, 1);
			return;
		}
		v = (unsigned long)(num[0] - '0') * 10 + (unsigned long)(num[1] - '0');
		if (v < 1 || v > 10)
			atomic_fetch_add(&ph_bad, 1);
		else
			atomic_fetch_add(&ph2_seen[v], 1);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (num[i] < '0' || num[i] > '9' || len != 5) {
			atomic_fetch_add(&ph_bad, 1);
			return;
		}
		v = v * 10 + (unsigned long)(num[i] - '0');
	}
	if (v < 1 || v > 50000) {
		atomic_fetch_add(&ph_bad, 1);
		return;
	}
	atomic_fetch_add(&ph_count, 1);
	for (unsigned long m = atomic_load(&ph_min); v < m;)
		if (atomic_compare_exchange_weak(&ph_min, &m, v))
			break;
	for (unsigned long m = atomic_load(&ph_max); v > m;)
		if (atomic_compare_exchange_weak(&ph_max, &m, v))
			break;
}

static void srv_open(struct zg_conn *c)
{
	(void)c;
	atomic_fetch_add(&srv_conns, 1);
}

static void srv_data(struct zg_conn *c)
{
	struct zg_read_view v;
	const uint8_t *p;

	unsigned long found = 0;

	zg_conn_read(c, &v);
	while (v.len) {
		const char *end, *r;
		size_t hl;
		bool close = false;

		if (zg_conn_contig(c, v.len, &p)) {
			zg_conn_close(c, ZG_CLOSE_ABORT);
			return;
		}
		end = memmem(p, v.len, "\r\n\r\n", 4);
		if (!end) {
			zg_conn_advance(c, 0, v.len);
			return;
		}
		hl = (size_t)(end - (const char *)p) + 4;
		if (!memcmp(p, "GET /cl ", 8)) {
			r = R_CL;
		} else if (!memcmp(p, "GET /chunked ", 13)) {
			r = R_CHUNKED;
		} else if (!memcmp(p, "GET /close ", 11)) {
			r = R_CLOSE;
			close = true;
		} else if (!memcmp(p, "GET /continue ", 14)) {
			r = R_CONTINUE;
		} else if (!memcmp(p, "GET /ph/", 8) || !memcmp(p, "GET /ph2/", 9) ||
			   !memcmp(p, "GET /seq/", 9)) {
			ph_record((const char *)p, hl);
			r = R_CL;
		} else if (!memcmp(p, "GET /each ", 10)) {
			/* an answer per send: the client sees them one by one */
			zg_conn_write(c, R_CL, strlen(R_CL));
			zg_conn_flush(c);
			r = NULL;
		} else if (!memcmp(p, "GET /pieces ", 12)) {
			/* the chunked answer in 3-byte sends: the client gets it
			 * cut everywhere */
			for (size_t off = 0; off < sizeof(R_CHUNKED) - 1; off += 3) {
				size_t k = sizeof(R_CHUNKED) - 1 - off;
				zg_conn_write(c, R_CHUNKED + off, k < 3 ? k : 3);
				zg_conn_flush(c);
			}
			r = NULL;
		} else {
			r = R_404;
		}
		if (r)
			zg_conn_write(c, r, strlen(r));
		atomic_fetch_add(&srv_requests, 1);
		found++;
		zg_conn_advance(c, hl, hl);
		if (close) {
			zg_conn_close(c, ZG_CLOSE_GRACEFUL);
			break;
		}
		zg_conn_read(c, &v);
	}
	if (found) {
		atomic_fetch_add(&srv_datas, 1);
		if (found == srv_batch)
			atomic_fetch_add(&srv_datas_exact, 1);
		else if (found > srv_batch)
			atomic_fetch_add(&srv_datas_over, 1);
	}
}

static const struct zg_handler srv_h = { .on_open = srv_open, .on_data = srv_data };

static int srv_start(void **state)
{
	struct zg_server_config cfg;

	(void)state;
	zg_server_config_init(&cfg);
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = 1;
	if (zg_server_new(&cfg, &srv_h, NULL, &srv) || zg_server_start(srv))
		return -1;
	srv_port = zg_server_port(srv);
	return 0;
}

static int srv_end(void **state)
{
	(void)state;
	zg_server_stop(srv, 1000);
	zg_server_wait(srv);
	zg_server_free(srv);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Running zerg-load                                                   */
/* ------------------------------------------------------------------ */

static char out[65536];

/* Run zerg-load with args (NULL-terminated), --json added; its JSON line
 * into out. Returns its exit status. */
static int run_load(const char *const *args)
{
	const char *argv[64];
	int pfd[2], st;
	unsigned n = 0;
	size_t got = 0;
	pid_t pid;

	argv[n++] = zerg_load;
	while (*args && n < 60)
		argv[n++] = *args++;
	argv[n++] = "--json";
	argv[n] = NULL;
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv(zerg_load, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t k = read(pfd[0], out + got, sizeof(out) - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	out[got] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	print_message("%s", out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The number after "key": inside the object "obj" (NULL: top level). */
static double jnum(const char *obj, const char *key)
{
	char pat[64];
	const char *s = out, *q;

	if (obj) {
		snprintf(pat, sizeof(pat), "\"%s\":{", obj);
		s = strstr(out, pat);
		if (!s)
			fail_msg("no \"%s\" in %s", obj, out);
	}
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	q = strstr(s, pat);
	if (!q || (obj && strchr(s, '}') < q))
		return -1; /* absent */
	return strtod(q + strlen(pat), NULL);
}

#define J(obj, key) ((unsigned long)jnum(obj, key))

/* The checks every run must pass: sent == answered, nothing lost. */
static void consistent(void)
{
	assert_true(J(NULL, "requests") > 0);
	assert_int_equal(J("totals", "sent"), J("totals", "responses"));
	assert_int_equal(J("totals", "unanswered"), 0);
	assert_int_equal(J("errors", "parse"), 0);
	assert_int_equal(J("errors", "connect"), 0);
	assert_int_equal(J("errors", "timeout"), 0);
	assert_int_equal(J("errors", "write"), 0);
	/* the measured phase's statuses add up */
	assert_int_equal(J("status_classes", "1xx") + J("status_classes", "2xx") +
				 J("status_classes", "3xx") + J("status_classes", "4xx") +
				 J("status_classes", "5xx") + J("status_classes", "other"),
			 J(NULL, "requests"));
	assert_int_equal(J(NULL, "ok") + J(NULL, "status_errors"), J(NULL, "requests"));
}

static void write_file(const char *name, const char *s, char *path, size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

static char url[128];

static void server_url(const char *path)
{
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", srv_port, path);
}

static void reset_counts(void)
{
	atomic_store(&srv_requests, 0);
	atomic_store(&srv_conns, 0);
}

/* ------------------------------------------------------------------ */

static void test_content_length(void **state)
{
	(void)state;
	reset_counts();
	server_url("/cl");
	assert_int_equal(run_load((const char *[]){ url, "-c", "8", "-d", "1", "-w", "0.2", NULL }), 0);
	consistent();
	assert_int_equal(J("status", "200"), J(NULL, "requests"));
	assert_int_equal(J("totals", "connects"), 8);
	assert_int_equal(J("totals", "reconnects"), 0);
	assert_true(jnum("totals", "warmup_responses") >= 0);
	assert_true(jnum(NULL, "warmup_s") >= 0.2);
	/* the server answered exactly what zerg-load sent and parsed */
	assert_int_equal(atomic_load(&srv_requests), J("totals", "sent"));
	assert_int_equal(atomic_load(&srv_conns), 8);
	/* warm-up + measured + drain make the totals */
	assert_int_equal(J("totals", "warmup_responses") + J(NULL, "requests") +
				 J("totals", "drain_responses"),
			 J("totals", "responses"));
	/* every byte received was a whole response */
	assert_int_equal(J(NULL, "bytes"), (sizeof(R_CL) - 1) * J(NULL, "requests"));
	assert_true(jnum("latency_us", "p50") > 0);
	assert_true(jnum("latency_us", "p50") <= jnum("latency_us", "p90"));
	assert_true(jnum("latency_us", "p90") <= jnum("latency_us", "p99"));
	assert_true(jnum("latency_us", "p99") <= jnum("latency_us", "p99.9"));
	assert_true(jnum("latency_us", "p99.9") <= jnum("latency_us", "max"));
}

static void test_chunked_pipelined(void **state)
{
	(void)state;
	reset_counts();
	server_url("/chunked");
	assert_int_equal(run_load((const char *[]){ url, "-c", "4", "-t", "2", "-p", "8", "-d", "1", NULL }), 0);
	consistent();
	assert_int_equal(J("status", "200"), J(NULL, "requests"));
	assert_int_equal(J(NULL, "threads"), 2);
	assert_int_equal(atomic_load(&srv_requests), J("totals", "sent"));
	assert_int_equal(J(NULL, "bytes"), (sizeof(R_CHUNKED) - 1) * J(NULL, "requests"));
	assert_int_equal(J("errors", "body"), 0);

	/* --expect-body: the chunked data is "hello, world"; a wrong
	 * expectation counts every response */
	server_url("/chunked");
	assert_int_equal(run_load((const char *[]){ url, "-c", "2", "-d", "0.3", "--expect-body", "hello, world", NULL }), 0);
	consistent();
	assert_int_equal(J("errors", "body"), 0);
	assert_int_equal(run_load((const char *[]){ url, "-c", "2", "-d", "0.3", "--expect-body", "hello", NULL }), 0);
	assert_int_equal(J("errors", "body"), J("totals", "responses"));

	/* the same answer arriving 3 bytes at a time */
	reset_counts();
	server_url("/pieces");
	assert_int_equal(run_load((const char *[]){ url, "-c", "2", "-p", "2", "-d", "0.5", NULL }), 0);
	consistent();
	assert_int_equal(J("status", "200"), J(NULL, "requests"));
	assert_int_equal(atomic_load(&srv_requests), J("totals", "sent"));
}

static void test_reconnect_rst(void **state)
{
	unsigned long resp, conns;

	(void)state;
	reset_counts();
	server_url("/cl");
	assert_int_equal(run_load((const char *[]){ url, "-c", "4", "-r", "10", "-p", "3", "-d", "1", NULL }), 0);
	consistent();
	resp = J("totals", "responses");
	conns = J("totals", "connects");
	/* every connection but the last of each client did exactly 10 */
	assert_true(resp <= conns * 10);
	assert_true(resp >= (conns - 4) * 10);
	/* a reconnect still connecting at the end is not an opened one */
	assert_true(J("totals", "reconnects") >= conns - 4 && J("totals", "reconnects") <= conns);
	/* the server also saw the connections still connecting at the end
	 * (given up on with an RST before on_open: not counted as opened) */
	assert_true(atomic_load(&srv_conns) >= conns && atomic_load(&srv_conns) <= conns + 4);
	assert_int_equal(atomic_load(&srv_requests), J("totals", "sent"));
	assert_true(conns > 20);
}

static void test_server_close(void **state)
{
	(void)state;
	reset_counts();
	server_url("/close");
	assert_int_equal(run_load((const char *[]){ url, "-c", "4", "-d", "1", NULL }), 0);
	consistent();
	/* one answer per connection, then the server closes it */
	assert_true(J("totals", "server_closes") + 4 >= J("totals", "responses"));
	assert_true(J("totals", "connects") >= J("totals", "responses"));
	assert_true(J("totals", "responses") > 20);
	assert_int_equal(atomic_load(&srv_requests), J("totals", "sent"));
}

static void test_raw_rotation(void **state)
{
	char f1[300], f2[300], f3[300], list[1000];
	unsigned long req;

	(void)state;
	reset_counts();
	write_file("cl.raw", "GET /cl HTTP/1.1\r\nHost: x\r\n\r\n", f1, sizeof(f1));
	write_file("chunked.raw", "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n", f2, sizeof(f2));
	write_file("missing.raw", "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", f3, sizeof(f3));
	snprintf(list, sizeof(list), "%s,%s,%s", f1, f2, f3);
	server_url("");
	/* three connections, a file each: a third of the answers are 404 */
	assert_int_equal(run_load((const char *[]){ url, "-c", "3", "-d", "1", "--raw", list, NULL }), 0);
	consistent();
	req = J(NULL, "requests");
	assert_int_equal(J("status", "200") + J("status", "404"), req);
	assert_int_equal(J(NULL, "status_errors"), J("status", "404"));
	assert_int_equal(J(NULL, "templates"), 3);
	assert_true(J("status", "404") > req / 6 && J("status", "404") < req / 2);
	assert_int_equal(atomic_load(&srv_requests), J("totals", "sent"));
	/* one connection that takes the next file per request: exactly a
	 * third (+-1) of 404s, pipelined */
	assert_int_equal(run_load((const char *[]){ url, "-c", "1", "-p", "3", "-d", "0.5", "--raw", list,
						    "--rotate-requests", NULL }), 0);
	consistent();
	req = J(NULL, "requests");
	assert_true(J("status", "404") * 3 + 3 >= req && J("status", "404") * 3 <= req + 3);
	/* an interim 100 Continue before each answer */
	server_url("/continue");
	assert_int_equal(run_load((const char *[]){ url, "-c", "2", "-d", "0.5", NULL }), 0);
	consistent();
	assert_int_equal(J("status", "201"), J(NULL, "requests"));
	assert_int_equal(J(NULL, "interim"), J(NULL, "requests"));
}

/* --batch: the server never has more than the batch pending, and
 * (on loopback, one send of 8 small requests is one segment) sees
 * whole batches */
static void test_batch(void **state)
{
	(void)state;
	reset_counts();
	srv_batch = 8;
	atomic_store(&srv_datas, 0);
	atomic_store(&srv_datas_exact, 0);
	atomic_store(&srv_datas_over, 0);
	server_url("/each");
	assert_int_equal(run_load((const char *[]){ url, "-c", "2", "-p", "8", "--batch", "-d", "0.5", NULL }), 0);
	consistent();
	assert_int_equal(atomic_load(&srv_requests), J("totals", "sent"));
	assert_int_equal(J("totals", "sent") % 8, 0);
	assert_int_equal(atomic_load(&srv_datas_over), 0);
	print_message("%lu of %lu server on_data calls saw exactly 8 requests\n",
		      atomic_load(&srv_datas_exact), atomic_load(&srv_datas));
	assert_true(atomic_load(&srv_datas_exact) * 100 >= atomic_load(&srv_datas) * 95);
	srv_batch = 0;
}

/* --raw placeholders as gcannon substitutes them (SPEC-HEAD.md 6.6):
 * the first {RAND:a:b} / {SEQ:s} of a file, zero-padded to the digits
 * of b / s; RAND in [a, b] per connection, SEQ counting from s over all
 * threads (each value once); a second placeholder stays */
static void test_placeholders(void **state)
{
	char f1[300], f2[300], f3[300], list[1000];
	unsigned long seen = 0;

	(void)state;
	reset_counts();
	write_file("ph.raw", "GET /ph/{RAND:1:50000} HTTP/1.1\r\nHost: x\r\n\r\n", f1, sizeof(f1));
	write_file("ph2.raw", "GET /ph2/{RAND:1:10}?x={RAND:1:9} HTTP/1.1\r\nHost: x\r\n\r\n", f2,
		   sizeof(f2));
	write_file("seq.raw", "GET /seq/{SEQ:100001} HTTP/1.1\r\nHost: x\r\n\r\n", f3, sizeof(f3));
	snprintf(list, sizeof(list), "%s,%s,%s", f1, f2, f3);
	server_url("");
	assert_int_equal(run_load((const char *[]){ url, "-c", "6", "-t", "2", "-p", "2", "-r", "7",
						    "-d", "1", "--raw", list, NULL }), 0);
	consistent();
	assert_int_equal(atomic_load(&srv_requests), J("totals", "sent"));
	assert_int_equal(J("status", "200"), J(NULL, "requests"));
	assert_int_equal(atomic_load(&ph_bad), 0);
	assert_int_equal(atomic_load(&seq_bad), 0);
	assert_int_equal(atomic_load(&seq_dups), 0);
	assert_true(atomic_load(&ph_count) > 200 && atomic_load(&seq_count) > 200);
	/* every value from 100001 on, each once */
	assert_int_equal(atomic_load(&seq_max) - SEQ_BASE + 1, atomic_load(&seq_count));
	/* spread over the range (one chance in 10^19 for 200 draws to miss) */
	print_message("RAND:1:50000 over %lu requests: %lu..%lu\n", atomic_load(&ph_count),
		      atomic_load(&ph_min), atomic_load(&ph_max));
	assert_true(atomic_load(&ph_min) < 10000 && atomic_load(&ph_max) > 40000);
	for (unsigned v = 1; v <= 10; v++)
		seen += atomic_load(&ph2_seen[v]) > 0;
	assert_int_equal(seen, 10);
}

static void test_refused(void **state)
{
	(void)state;
	/* nothing listens there: connect errors, retried, no answers, exit 0 */
	assert_int_equal(run_load((const char *[]){ "http://127.0.0.1:1/", "-c", "2", "-d", "0.3", NULL }), 0);
	assert_true(J("errors", "connect") >= 2);
	assert_int_equal(J(NULL, "requests"), 0);
	assert_int_equal(J("totals", "sent"), 0);
}

/* ------------------------------------------------------------------ */
/* Against httparena-server                                            */
/* ------------------------------------------------------------------ */

static pid_t arena_pid;
static unsigned arena_port;

static int arena_start(void **state)
{
	char data[300], line[512] = { 0 };
	int pfd[2];
	size_t got = 0;
	char *p;

	(void)state;
	snprintf(data, sizeof(data), "%s/data", tmpdir);
	{
		pid_t g = fork();
		int st;

		if (!g) {
			int fd = open("/dev/null", 1);
			dup2(fd, 1);
			dup2(fd, 2);
			execl(arena_datagen, arena_datagen, data, (char *)NULL);
			_exit(127);
		}
		if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st))
			return -1;
	}
	if (pipe(pfd))
		return -1;
	arena_pid = fork();
	if (!arena_pid) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(arena_server, arena_server, "--port", "0", "--host", "127.0.0.1", "--threads", "1",
		      "--data", data, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	/* its one line: "httparena-server: port P, ..." */
	while (got < sizeof(line) - 1 && !strchr(line, '\n')) {
		ssize_t k = read(pfd[0], line + got, sizeof(line) - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(pfd[0]);
	p = strstr(line, "port ");
	if (!p)
		return -1;
	arena_port = (unsigned)strtoul(p + 5, NULL, 10);
	return arena_port ? 0 : -1;
}

static int arena_end(void **state)
{
	int st;

	(void)state;
	if (arena_pid > 0) {
		kill(arena_pid, SIGTERM);
		waitpid(arena_pid, &st, 0);
	}
	return 0;
}

static void test_arena_baseline_reconnect(void **state)
{
	static const char *reqs[] = {
		"GET /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
		"POST /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 2\r\n\r\n20",
		"POST /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n20\r\n0\r\n\r\n",
	};
	char f[3][300], list[1000], u[64];
	unsigned long resp, conns;

	(void)state;
	write_file("get.raw", reqs[0], f[0], sizeof(f[0]));
	write_file("post_cl.raw", reqs[1], f[1], sizeof(f[1]));
	write_file("post_chunked.raw", reqs[2], f[2], sizeof(f[2]));
	snprintf(list, sizeof(list), "%s,%s,%s", f[0], f[1], f[2]);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u", arena_port);
	assert_int_equal(run_load((const char *[]){ u, "-c", "16", "-d", "1", "-r", "10", "--raw", list, NULL }), 0);
	consistent();
	assert_int_equal(J("status", "200"), J(NULL, "requests"));
	resp = J("totals", "responses");
	conns = J("totals", "connects");
	assert_true(resp <= conns * 10 && resp >= (conns - 16) * 10);
	assert_int_equal(J("errors", "read"), 0);
}

static void test_arena_json_pipelined(void **state)
{
	char u[64];

	(void)state;
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/json", arena_port);
	assert_int_equal(run_load((const char *[]){ u, "-c", "8", "-p", "4", "-d", "1", NULL }), 0);
	consistent();
	assert_int_equal(J("status", "200"), J(NULL, "requests"));
	assert_true(J(NULL, "bytes") > 1000 * J(NULL, "requests")); /* a document each */
}

static void test_arena_compression(void **state)
{
	char u[64];

	(void)state;
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/compression", arena_port);
	assert_int_equal(run_load((const char *[]){ u, "-c", "4", "-d", "1", "-H", "Accept-Encoding: gzip",
						    "--timeout", "20000", NULL }), 0);
	consistent();
	assert_int_equal(J("status", "200"), J(NULL, "requests"));
}

static void test_arena_pipeline_noise(void **state)
{
	char f[2][300], list[700], u[64];

	(void)state;
	/* the pipelined profile, and a garbage request: 400 and close,
	 * reconnect */
	write_file("pipeline.raw", "GET /pipeline HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", f[0], sizeof(f[0]));
	write_file("noise.raw", "\x16\x03\x01garbage\r\n\r\n", f[1], sizeof(f[1]));
	snprintf(list, sizeof(list), "%s,%s", f[0], f[1]);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u", arena_port);
	assert_int_equal(run_load((const char *[]){ u, "-c", "2", "-p", "16", "-d", "1", "--raw", list, NULL }), 0);
	assert_true(J("status", "200") > 0);
	assert_true(J("status", "400") > 0);
	assert_int_equal(J("errors", "parse"), 0);
	assert_true(J("totals", "server_closes") > 0);
	/* a 400 closes the connection: what was pipelined after it is unanswered */
	assert_int_equal(J("totals", "sent"), J("totals", "responses") + J("totals", "unanswered"));
}

/* --ws against httparena-server's /ws (zerg_ws echo): every connection
 * upgrades once, every frame sent is echoed (checked against the
 * payload: errors.body), nothing unanswered; a 300-byte payload takes
 * the 16-bit length both ways; an upgrade refused (a 404) is tallied by
 * status and counts no frame */
static void ws_consistent(unsigned long conns)
{
	assert_true(J(NULL, "requests") > 100);
	assert_int_equal(J(NULL, "ok"), J(NULL, "requests"));
	assert_int_equal(J("totals", "sent"), J("totals", "responses"));
	assert_int_equal(J("totals", "unanswered"), 0);
	assert_int_equal(J("totals", "ws_upgrades"), conns);
	assert_int_equal(J("totals", "ws_upgrades_refused"), 0);
	assert_int_equal(J("totals", "connects"), conns);
	assert_int_equal(J("errors", "body"), 0);
	assert_int_equal(J("errors", "parse"), 0);
	assert_int_equal(J("errors", "read"), 0);
	assert_int_equal(J("errors", "timeout"), 0);
}

/* The window's bytes are `per` a frame, give or take a frame in flight
 * per connection (bytes are counted per read, frames when complete). */
static void ws_bytes(unsigned long per, unsigned long conns)
{
	unsigned long b = J(NULL, "bytes"), want = per * J(NULL, "requests");
	assert_true(b + per * conns >= want && b <= want + per * conns);
}

static void test_arena_ws(void **state)
{
	char u[64], big[301];
	unsigned long frames;

	(void)state;
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/ws", arena_port);
	/* the upgrades in the warm-up: the window has frames only */
	assert_int_equal(run_load((const char *[]){ u, "--ws", "-c", "8", "-t", "2", "-w", "0.2", "-d", "1",
						    NULL }), 0);
	ws_consistent(8);
	frames = J("totals", "responses");
	/* 7 bytes per echo of "hello" (81 05 + payload) */
	ws_bytes(7, 8);
	print_message("--ws: %lu frames echoed on 8 connections\n", frames);
	memset(big, 'x', 300);
	big[300] = 0;
	assert_int_equal(run_load((const char *[]){ u, "--ws", "--ws-msg", big, "-c", "4", "-p", "3",
						    "-w", "0.2", "-d", "0.5", NULL }), 0);
	ws_consistent(4);
	ws_bytes(304, 4 * 3);
	/* not an upgrade: httparena-server answers 404 and zerg-load
	 * reconnects, as gcannon does */
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/nope", arena_port);
	assert_int_equal(run_load((const char *[]){ u, "--ws", "-c", "2", "-d", "0.3", NULL }), 0);
	assert_int_equal(J(NULL, "requests"), 0);
	assert_int_equal(J("totals", "ws_upgrades"), 0);
	assert_true(J("totals", "ws_upgrades_refused") > 0);
	assert_true(J("status", "404") > 0);
	assert_int_equal(J("errors", "parse"), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest own[] = {
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_chunked_pipelined),
		cmocka_unit_test(test_reconnect_rst),
		cmocka_unit_test(test_server_close),
		cmocka_unit_test(test_raw_rotation),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_refused),
	};
	const struct CMUnitTest arena[] = {
		cmocka_unit_test(test_arena_baseline_reconnect),
		cmocka_unit_test(test_arena_ws),
		cmocka_unit_test(test_arena_json_pipelined),
		cmocka_unit_test(test_arena_compression),
		cmocka_unit_test(test_arena_pipeline_noise),
	};
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s ZERG_LOAD [HTTPARENA_SERVER HTTPARENA_DATAGEN]\n", argv[0]);
		return 2;
	}
	zerg_load = argv[1];
	arena_server = argc > 2 ? argv[2] : NULL;
	arena_datagen = argc > 3 ? argv[3] : NULL;
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/itest-load.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	rc = cmocka_run_group_tests_name("zerg-load vs an in-process server", own, srv_start, srv_end);
	if (arena_server && arena_datagen)
		rc |= cmocka_run_group_tests_name("zerg-load vs httparena-server", arena, arena_start,
						  arena_end);
	{
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd))
			rc |= 0;
	}
	return rc;
}
