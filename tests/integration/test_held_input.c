/* SPDX-License-Identifier: MIT */
/* Input held while waiting for the rest of a message must not wedge the
 * ring. A line server (answers each '\n'-terminated line, keeps a partial
 * line: examined, not consumed) on a ring of 8 buffers; 32 clients each
 * send a partial line, wait until the server has seen all of them, then
 * send the rest. Holding a ring buffer per waiting connection would leave
 * the ring empty with every connection waiting for bytes it can no longer
 * receive; every line must be answered, in time, with no error.
 * Then the same on a lone reactor with 4 buffers of 64 bytes, each partial
 * line followed by another connection's bytes that fill the rest of its
 * buffer, also with incremental buffers, where the buffer the kernel is
 * filling must not count as free (a review found it did: all 4 buffers
 * ended up pinned). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

#define NCLIENTS 32
#define NBUFS 8

static atomic_uint partials_seen, closes, bad_reasons;

static void on_data(struct zg_conn *c)
{
	struct zg_read_view v;
	const uint8_t *line;
	ssize_t nl;

	IT_ASSERT(zg_conn_read(c, &v) == 0);
	nl = zg_view_find(&v, 0, '\n');
	if (nl < 0) {
		if (!zg_conn_udata(c)) { /* count each connection's partial once */
			zg_conn_set_udata(c, c);
			atomic_fetch_add(&partials_seen, 1);
		}
		IT_ASSERT(zg_conn_advance(c, 0, v.len) == 0);
		return;
	}
	IT_ASSERT(zg_conn_contig(c, (size_t)nl + 1, &line) == 0);
	IT_ASSERT(zg_conn_write(c, line, (size_t)nl + 1) == 0);
	IT_ASSERT(zg_conn_advance(c, (size_t)nl + 1, (size_t)nl + 1) == 0);
}

static void on_close(struct zg_conn *c, int reason)
{
	(void)c;
	if (reason)
		atomic_fetch_add(&bad_reasons, 1);
	atomic_fetch_add(&closes, 1);
}

static const struct zg_handler handler = { .on_data = on_data, .on_close = on_close };

static void test_partial_lines_on_a_small_ring(void **state)
{
	struct zg_server_config cfg;
	struct zg_server *s;
	struct zg_reactor_stats st = { 0 };
	int fd[NCLIENTS];
	char head[64], tail[64], want[128], got[128];

	(void)state;
	it_server_config(&cfg, 1);
	cfg.reactor.buf_count = NBUFS;
	cfg.reactor.buf_size = 256;
	cfg.reactor.idle_timeout_ms = 0;
	s = it_server_start(&cfg, &handler, NULL);

	for (unsigned i = 0; i < NCLIENTS; i++) {
		fd[i] = it_connect(zg_server_port(s));
		assert_true(fd[i] >= 0);
		snprintf(head, sizeof(head), "client %u says", i);
		assert_int_equal(it_send_all(fd[i], head, strlen(head), 5000), 0);
	}
	/* the server must get to see every partial line, not only the
	 * first NBUFS: the ones after need ring buffers too */
	if (!IT_WAIT(atomic_load(&partials_seen) == NCLIENTS, 10000))
		fail_msg("the server saw %u of %u partial lines", atomic_load(&partials_seen),
			 NCLIENTS);
	for (unsigned i = 0; i < NCLIENTS; i++) {
		snprintf(tail, sizeof(tail), " hello %u\n", i * 7);
		assert_int_equal(it_send_all(fd[i], tail, strlen(tail), 5000), 0);
	}
	for (unsigned i = 0; i < NCLIENTS; i++) {
		size_t n = (size_t)snprintf(want, sizeof(want), "client %u says hello %u\n", i, i * 7);
		if (it_recv_exact(fd[i], got, n, 10000) != (ssize_t)n || memcmp(got, want, n))
			fail_msg("client %u: no (or a wrong) answer", i);
		close(fd[i]);
	}
	assert_true(IT_WAIT(atomic_load(&closes) == NCLIENTS, 10000));
	assert_int_equal(atomic_load(&bad_reasons), 0);
	assert_true(IT_WAIT(it_server_quiescent(s, NBUFS, &st), 10000));
	/* what proves the ring was not wedged is that every partial line was
	 * seen and answered; compactions also count zg_conn_contig copies */
	print_message("enobufs %llu, compactions %llu\n", (unsigned long long)st.enobufs,
		      (unsigned long long)st.compactions);
	it_server_end(s);
}

static void tiny_ring(bool force_inc)
{
	struct zg_reactor_config cfg;
	struct zg_reactor *r;
	struct sockaddr_storage ss;
	socklen_t sl = it_addr(AF_INET, 0, &ss);
	uint16_t port;
	int filler, x[4];
	char fill[64], b[64];
	bool inc;

	atomic_store(&partials_seen, 0);
	it_reactor_config(&cfg);
	cfg.buf_count = 4;
	cfg.buf_size = 64;
	cfg.idle_timeout_ms = 0;
	if (force_inc)
		cfg.flags |= ZG_RF_BUF_INC;
	assert_int_equal(zg_reactor_new(&cfg, &handler, NULL, &r), 0);
	inc = zg_reactor_features(r) & ZG_FEAT_BUF_INC;
	if (force_inc && !inc) {
		zg_reactor_free(r);
		skip(); /* no incremental buffers in this kernel */
	}
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss, sl, 0, 0, &port), 0);
	filler = it_connect(port);
	assert_true(filler >= 0);
	for (unsigned i = 0; i < 4; i++) {
		/* incremental: 5 + 59 bytes fill one 64-byte buffer exactly */
		size_t n = inc ? 59 : 10;

		x[i] = it_connect(port);
		assert_true(x[i] >= 0);
		assert_int_equal(send(x[i], "abcde", 5, 0), 5);
		if (!IT_PUMP(r, atomic_load(&partials_seen) == i + 1))
			fail_msg("partial line %u not seen: the ring is wedged", i);
		memset(fill, 'f', n - 1);
		fill[n - 1] = '\n';
		assert_int_equal(send(filler, fill, n, 0), (ssize_t)n);
		assert_int_equal(it_pump_recv(r, filler, b, n), n);
	}
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(send(x[i], "\n", 1, 0), 1);
	for (unsigned i = 0; i < 4; i++) {
		if (it_pump_recv(r, x[i], b, 6) != 6 || memcmp(b, "abcde\n", 6))
			fail_msg("waiting line %u was not answered: the ring is wedged", i);
		close(x[i]);
	}
	close(filler);
	it_reactor_end(r);
}

static void test_tiny_ring(void **state) { (void)state; tiny_ring(false); }
static void test_tiny_ring_incremental(void **state) { (void)state; tiny_ring(true); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partial_lines_on_a_small_ring),
		cmocka_unit_test(test_tiny_ring),
		cmocka_unit_test(test_tiny_ring_incremental),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
