/* SPDX-License-Identifier: MIT */
/* fd and slot reuse under churn (HttpArena "limited-conn"): 4 client
 * threads open thousands of short connections to a 2-thread server,
 * each does 10 request/responses with content unique to it and then
 * resets (or closes, or resets with a request unanswered). A stale recv
 * or send completion reaching the new connection in a reused slot/fd
 * would show up as foreign or missing bytes. The server also checks
 * that each connection's first bytes are its own first request. At the
 * end accepted == closed and every ring buffer is back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

#define NTHREADS 4
#define CONNS_PER_THREAD 1000
#define REQS 10

/* A request: 16-byte header "C%08xR%02u....", then payload bytes of the
 * stream seed = conn id * 100 + request number. */
#define HDR 16

static atomic_uint opens, closes, bad_first, odd_reasons;

struct app_conn {
	size_t seen;
	char first[HDR];
};

static void on_open(struct zg_conn *c)
{
	it_conn_alloc(c, sizeof(struct app_conn));
	atomic_fetch_add(&opens, 1);
}

static void on_data(struct zg_conn *c)
{
	struct app_conn *a = zg_conn_udata(c);
	struct zg_read_view v;

	zg_conn_read(c, &v);
	/* a fresh connection's input starts with request 0's header */
	for (unsigned i = 0; i < v.nsegs && a->seen < HDR; i++) {
		size_t n = v.segs[i].iov_len < HDR - a->seen ? v.segs[i].iov_len : HDR - a->seen;
		memcpy(a->first + a->seen, v.segs[i].iov_base, n);
		a->seen += n;
		if (a->seen == HDR && (a->first[0] != 'C' || memcmp(a->first + 9, "R00", 3)))
			atomic_fetch_add(&bad_first, 1);
	}
	it_echo_on_data(c);
}

static void on_close(struct zg_conn *c, int reason)
{
	free(zg_conn_udata(c));
	if (reason != 0 && reason != -ECONNRESET && reason != -EPIPE)
		atomic_fetch_add(&odd_reasons, 1);
	atomic_fetch_add(&closes, 1);
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

struct cli {
	uint16_t port;
	unsigned id;
	unsigned conns;
	char err[160];
};

static size_t make_req(uint8_t *b, unsigned conn, unsigned req)
{
	size_t n = HDR + (conn * 31 + req * 977) % 3000;
	char h[HDR + 1];

	snprintf(h, sizeof(h), "C%08xR%02u....", conn, req);
	memcpy(b, h, HDR);
	it_fill(b + HDR, n - HDR, (uint64_t)conn * 100 + req, 0);
	return n;
}

static void *client(void *arg)
{
	struct cli *a = arg;
	uint8_t out[4096], in[4096];

	for (unsigned k = 0; k < CONNS_PER_THREAD; k++) {
		unsigned conn = a->id * CONNS_PER_THREAD + k;
		int fd = it_connect(a->port);
		if (fd < 0) {
			snprintf(a->err, sizeof(a->err), "conn %u: connect %s", conn, strerror(-fd));
			return NULL;
		}
		for (unsigned r = 0; r < REQS; r++) {
			size_t n = make_req(out, conn, r);
			ssize_t got = it_exchange(fd, out, n, in, n, false, 10000);
			if (got != (ssize_t)n || memcmp(in, out, n)) {
				snprintf(a->err, sizeof(a->err),
					 "conn %u req %u: got %zd of %zu bytes%s", conn, r, got, n,
					 got == (ssize_t)n ? ", content differs (stale data?)" : "");
				close(fd);
				return NULL;
			}
		}
		switch (k % 3) {
		case 0: /* limited-conn: reset after the 10th response */
			it_close_rst(fd);
			break;
		case 1: /* an 11th request, reset before its answer */
			(void)it_send_all(fd, out, make_req(out, conn, REQS), 1000);
			it_close_rst(fd);
			break;
		default:
			close(fd);
		}
		a->conns++;
	}
	return NULL;
}

static void test_churn(void **state)
{
	struct zg_server_config cfg;
	struct zg_server *s;
	struct zg_reactor_stats st;
	pthread_t t[NTHREADS];
	struct cli a[NTHREADS];
	unsigned total = 0;

	(void)state;
	it_server_config(&cfg, 2);
	/* a small table: slots are reused all the time */
	cfg.reactor.max_conns = 64;
	s = it_server_start(&cfg, &handler, NULL);
	for (unsigned i = 0; i < NTHREADS; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].port = zg_server_port(s);
		a[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, client, &a[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		if (a[i].err[0])
			fail_msg("client thread %u: %s", i, a[i].err);
		total += a[i].conns;
	}
	assert_int_equal(total, NTHREADS * CONNS_PER_THREAD);
	assert_true(IT_WAIT(atomic_load(&closes) == total, 20000));
	it_server_drained(s, cfg.reactor.buf_count, total, &st);
	assert_int_equal(st.shed, 0);
	assert_int_equal(atomic_load(&opens), total);
	assert_int_equal(atomic_load(&bad_first), 0);
	assert_int_equal(atomic_load(&odd_reasons), 0);
	it_server_end(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_churn),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
