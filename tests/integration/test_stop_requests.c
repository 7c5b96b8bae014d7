/* SPDX-License-Identifier: MIT */
/* A graceful stop answers every request whose bytes reached the server
 * before its listener closed:
 *  - requests written by connected clients just before the stop, whose
 *    recv completions the reactor has not reaped yet (a lone reactor
 *    that is not run between the writes and the stop makes this exact);
 *  - clients that connected and wrote but were never accepted (still in
 *    the listen backlog when the stop came);
 *  - 300 clients of a two-thread server writing just before
 *    zg_server_stop;
 *  - a request consumed at once and answered later by a timer (work
 *    elsewhere, marked with zg_conn_set_busy).
 * Each client then sees its whole answer (the echo of its request) and
 * EOF; nothing is reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

#define REQ 32

static struct it_counts counts;

static void req_bytes(unsigned i, char *b)
{
	int n = snprintf(b, REQ + 1, "request %08u ", i % 100000000u);

	memset(b + n, '.', (size_t)(REQ - 1 - n));
	b[REQ - 1] = '\n';
	b[REQ] = 0;
}

/* Each client must get its request back whole, then EOF. */
static void expect_answers(int *fd, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char want[REQ + 1], got[REQ];
		req_bytes(i, want);
		it_set_nonblock(fd[i], false);
		assert_int_equal(it_recv_exact(fd[i], got, REQ, 5000), REQ);
		assert_memory_equal(got, want, REQ);
		assert_int_equal(it_expect_eof(fd[i], 5000), 0);
		close(fd[i]);
	}
}

static void send_requests(int *fd, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char b[REQ + 1];
		req_bytes(i, b);
		assert_int_equal(it_send_all(fd[i], b, REQ, 5000), 0);
	}
}

static struct zg_reactor *lone_reactor(uint16_t *port)
{
	struct zg_reactor_config cfg;
	struct zg_handler h = { .on_open = it_count_open, .on_data = it_echo_on_data,
				.on_close = it_count_close };
	struct sockaddr_storage ss;
	struct zg_reactor *r;

	it_reactor_config(&cfg);
	it_counts_reset(&counts);
	assert_int_equal(zg_reactor_new(&cfg, &h, &counts, &r), 0);
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss,
					   it_addr(AF_INET, 0, &ss), 0, 0, port), 0);
	return r;
}

static void run_until_stopped(struct zg_reactor *r)
{
	uint64_t end = it_now_ms() + 5000;
	int ret;

	while ((ret = zg_reactor_run_once(r, 10)) == 1 && it_now_ms() < end)
		;
	assert_int_equal(ret, 0);
}

#define LONE 64

static void test_unreaped_requests_answered(void **state)
{
	int fd[LONE];
	uint16_t port;
	struct zg_reactor *r = lone_reactor(&port);

	(void)state;
	for (unsigned i = 0; i < LONE; i++)
		assert_true((fd[i] = it_connect(port)) >= 0);
	assert_true(IT_PUMP(r, atomic_load(&counts.opens) == LONE));
	/* the requests reach the sockets; the reactor does not run again
	 * before the stop, so none of them has been reaped */
	send_requests(fd, LONE);
	it_nap_us(20000);
	zg_reactor_stop(r, 3000);
	run_until_stopped(r);
	expect_answers(fd, LONE);
	assert_int_equal(atomic_load(&counts.closes), LONE);
	zg_reactor_free(r);
}

static void test_backlog_answered(void **state)
{
	int fd[16];
	uint16_t port;
	struct zg_reactor *r = lone_reactor(&port);

	(void)state;
	/* connected by the kernel, never accepted by the reactor */
	for (unsigned i = 0; i < 16; i++)
		assert_true((fd[i] = it_connect(port)) >= 0);
	send_requests(fd, 16);
	it_nap_us(20000);
	zg_reactor_stop(r, 3000);
	run_until_stopped(r);
	expect_answers(fd, 16);
	assert_int_equal(atomic_load(&counts.opens), 16);
	zg_reactor_free(r);
}

#define MANY 300

static void test_server_stop_answers_all(void **state)
{
	struct zg_server_config cfg;
	struct zg_handler h = { .on_open = it_count_open, .on_data = it_echo_on_data,
				.on_close = it_count_close };
	static int fd[MANY];
	struct zg_server *s;

	(void)state;
	assert_true(it_raise_nofile(2 * MANY + 64));
	it_server_config(&cfg, 2);
	it_counts_reset(&counts);
	s = it_server_start(&cfg, &h, &counts);
	for (unsigned i = 0; i < MANY; i++)
		assert_true((fd[i] = it_connect(zg_server_port(s))) >= 0);
	assert_true(IT_WAIT(atomic_load(&counts.opens) == MANY, 5000));
	send_requests(fd, MANY);
	zg_server_stop(s, 5000);
	expect_answers(fd, MANY);
	assert_int_equal(zg_server_wait(s), 0);
	assert_int_equal(atomic_load(&counts.closes), MANY);
	zg_server_free(s);
}

/* The later answer: on_data takes the request and marks the connection
 * busy; a timer writes the answer and clears the mark. */
static struct {
	struct zg_conn *c;
	struct zg_timer *t;
	char req[REQ];
	size_t len;
} later;

static void later_on_data(struct zg_conn *c)
{
	struct zg_read_view v;
	const uint8_t *p;

	zg_conn_read(c, &v);
	if (v.len < REQ) {
		zg_conn_advance(c, 0, v.len);
		return;
	}
	assert_int_equal(zg_conn_contig(c, REQ, &p), 0);
	memcpy(later.req, p, REQ);
	later.c = c;
	later.len = REQ;
	zg_conn_advance(c, REQ, REQ);
	zg_conn_set_busy(c, true);
	zg_timer_start(later.t, 150, 0);
}

static void later_answer(struct zg_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	assert_int_equal(zg_conn_write(later.c, later.req, later.len), 0);
	zg_conn_set_busy(later.c, false);
}

static void test_busy_answered_later(void **state)
{
	struct zg_reactor_config cfg;
	struct zg_handler h = { .on_open = it_count_open, .on_data = later_on_data,
				.on_close = it_count_close };
	struct sockaddr_storage ss;
	struct zg_reactor *r;
	uint16_t port;
	int fd;

	(void)state;
	it_reactor_config(&cfg);
	it_counts_reset(&counts);
	assert_int_equal(zg_reactor_new(&cfg, &h, &counts, &r), 0);
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss,
					   it_addr(AF_INET, 0, &ss), 0, 0, &port), 0);
	assert_int_equal(zg_timer_new(r, later_answer, NULL, &later.t), 0);
	assert_true((fd = it_connect(port)) >= 0);
	send_requests(&fd, 1);
	/* consumed, the answer not yet written: idle to libzerg but busy */
	assert_true(IT_PUMP(r, zg_timer_active(later.t)));
	zg_reactor_stop(r, 3000);
	run_until_stopped(r);
	expect_answers(&fd, 1);
	assert_int_equal(atomic_load(&counts.closes), 1);
	zg_timer_free(later.t);
	zg_reactor_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unreaped_requests_answered),
		cmocka_unit_test(test_backlog_answered),
		cmocka_unit_test(test_server_stop_answers_all),
		cmocka_unit_test(test_busy_answered_later),
	};

	it_init();
	return cmocka_run_group_tests_name("stop_requests", tests, NULL, NULL);
}
