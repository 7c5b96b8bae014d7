/* SPDX-License-Identifier: MIT */
/* Peers that reset (close with SO_LINGER 0): before sending, mid-request,
 * after a complete exchange, while the server still has megabytes of
 * output queued, after a half-close. The server stays healthy (a fresh
 * client is echoed), every connection gets on_close with 0 or a socket
 * error, and nothing leaks: accepted == closed, every provided buffer is
 * back in the ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

static atomic_uint opens, closes, odd_reasons;
static _Atomic int last_odd;

static void on_open(struct zg_conn *c) { (void)c; atomic_fetch_add(&opens, 1); }
static void on_close(struct zg_conn *c, int reason)
{
	(void)c;
	if (reason != 0 && reason != -ECONNRESET && reason != -EPIPE) {
		atomic_fetch_add(&odd_reasons, 1);
		atomic_store(&last_odd, reason);
	}
	atomic_fetch_add(&closes, 1);
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = it_echo_on_data, .on_close = on_close,
};

enum { RST_AT_ONCE, RST_AFTER_ECHO, RST_MID_REQUEST, RST_WITH_OUTPUT_QUEUED,
       RST_AFTER_SHUT_WR, RST_KINDS };

static void one_client(uint16_t port, unsigned kind, unsigned seed)
{
	static uint8_t big[4u << 20];
	uint8_t buf[2000];
	int fd = it_connect(port);

	assert_true(fd >= 0);
	switch (kind) {
	case RST_AT_ONCE:
		break;
	case RST_AFTER_ECHO:
		it_fill(buf, sizeof(buf), seed, 0);
		assert_int_equal(it_send_all(fd, buf, sizeof(buf), 5000), 0);
		assert_int_equal(it_recv_exact(fd, buf, sizeof(buf), 5000), (ssize_t)sizeof(buf));
		assert_int_equal(it_check(buf, sizeof(buf), seed, 0), sizeof(buf));
		break;
	case RST_MID_REQUEST:
		/* part of a stream: some of it read by the server, some not */
		it_fill(big, 300000, seed, 0);
		assert_int_equal(it_send_all(fd, big, 300000, 5000), 0);
		break;
	case RST_WITH_OUTPUT_QUEUED:
		/* the echo (4 MiB) cannot all fit in the socket buffers: the
		 * server has output queued or a send in flight at the reset */
		assert_int_equal(it_send_all(fd, big, sizeof(big), 10000), 0);
		assert_int_equal(it_recv_exact(fd, buf, 1000, 5000), 1000);
		break;
	case RST_AFTER_SHUT_WR:
		assert_int_equal(it_send_all(fd, "abcdef", 6, 5000), 0);
		shutdown(fd, SHUT_WR);
		break;
	}
	it_close_rst(fd);
}

static void check_healthy(uint16_t port)
{
	uint8_t out[5000], in[5000];
	int fd = it_connect(port);

	assert_true(fd >= 0);
	it_fill(out, sizeof(out), 999, 0);
	assert_int_equal(it_exchange(fd, out, sizeof(out), in, sizeof(in), true, 10000),
			 (ssize_t)sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(it_expect_eof(fd, 5000), 0);
	close(fd);
}

static void resets_on(unsigned threads, unsigned rounds)
{
	struct zg_server_config cfg;
	struct zg_server *s;
	unsigned total = 0;

	atomic_store(&opens, 0);
	atomic_store(&closes, 0);
	atomic_store(&odd_reasons, 0);
	it_server_config(&cfg, threads);
	s = it_server_start(&cfg, &handler, NULL);

	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned k = 0; k < RST_KINDS; k++) {
			one_client(zg_server_port(s), k, r * RST_KINDS + k);
			total++;
		}
		if (r % 10 == 0) {
			check_healthy(zg_server_port(s));
			total++;
		}
	}
	check_healthy(zg_server_port(s));
	total++;

	assert_true(IT_WAIT(atomic_load(&closes) == total, 20000));
	it_server_drained(s, cfg.reactor.buf_count, total, NULL);
	assert_int_equal(atomic_load(&opens), total);
	if (atomic_load(&odd_reasons))
		fail_msg("%u on_close reasons other than 0/-ECONNRESET/-EPIPE, e.g. %d (%s)",
			 atomic_load(&odd_reasons), atomic_load(&last_odd),
			 zg_strerror(atomic_load(&last_odd)));
	it_server_end(s);
}

static void test_resets_1_thread(void **state) { (void)state; resets_on(1, 40); }
static void test_resets_2_threads(void **state) { (void)state; resets_on(2, 40); }

/* Many resetting clients at once from several threads. */
struct storm_arg {
	uint16_t port;
	unsigned id;
};

static void *storm(void *arg)
{
	struct storm_arg *a = arg;
	uint8_t buf[3000];

	for (unsigned i = 0; i < 200; i++) {
		int fd = it_connect(a->port);
		if (fd < 0)
			continue;
		it_fill(buf, sizeof(buf), a->id * 1000 + i, 0);
		(void)it_send_all(fd, buf, (i % 3) * 1000 + 1, 2000);
		if (i % 2)
			(void)it_recv_exact(fd, buf, 1, 2000);
		it_close_rst(fd);
	}
	return NULL;
}

static void test_reset_storm(void **state)
{
	struct zg_server_config cfg;
	struct zg_server *s;
	struct zg_reactor_stats st;
	pthread_t t[6];
	struct storm_arg a[6];

	(void)state;
	atomic_store(&closes, 0);
	atomic_store(&odd_reasons, 0);
	it_server_config(&cfg, 2);
	s = it_server_start(&cfg, &handler, NULL);
	for (unsigned i = 0; i < 6; i++) {
		a[i] = (struct storm_arg){ zg_server_port(s), i };
		assert_int_equal(pthread_create(&t[i], NULL, storm, &a[i]), 0);
	}
	for (unsigned i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	check_healthy(zg_server_port(s));
	/* every accepted connection ends */
	assert_true(IT_WAIT(it_server_quiescent(s, cfg.reactor.buf_count, &st), 20000));
	assert_int_equal(st.closed, st.accepted);
	assert_int_equal(atomic_load(&closes), st.closed);
	assert_int_equal(atomic_load(&odd_reasons), 0);
	it_server_end(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resets_1_thread),
		cmocka_unit_test(test_resets_2_threads),
		cmocka_unit_test(test_reset_storm),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
