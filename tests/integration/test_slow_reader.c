/* SPDX-License-Identifier: MIT */
/* Peers that do not read.
 *  - back-pressure: an application that writes as much as it can to a
 *    client that does not read is stopped by max_output (zg_conn_write
 *    returns -ENOBUFS, zg_conn_pending never passes max_output), the
 *    server's RSS stays bounded by max_output per connection, and once
 *    the client reads, on_drain fires, the application finishes, and
 *    every byte arrives in order;
 *  - idle timeout: a stuck writer (peer not reading) and a silent peer
 *    are closed with -ETIMEDOUT after idle_timeout_ms, while a peer that
 *    keeps exchanging data stays open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

#define MAX_OUTPUT (1u << 20)
#define TARGET (8u << 20) /* bytes the application sends per connection */
#define CHUNK 65536
#define NSLOW 20

struct app_conn {
	uint16_t peer_port;
	size_t written;      /* accepted by zg_conn_write */
	size_t max_pending;
	int first_err;
	unsigned drains;
	bool flooding;
};

/* What each connection did, by the client's port, for the test to read. */
struct record {
	uint16_t port;
	size_t written, max_pending;
	int first_err;
	unsigned drains;
	int reason;
	bool closed;
};

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct record recs[64];
static unsigned nrecs;
static atomic_uint refused, closes;

static uint8_t pattern[CHUNK * 2];

static struct record *rec_find(uint16_t port)
{
	for (unsigned i = 0; i < nrecs; i++)
		if (recs[i].port == port)
			return &recs[i];
	return NULL;
}

static void on_open(struct zg_conn *c)
{
	struct app_conn *a = it_conn_alloc(c, sizeof(*a));

	a->peer_port = it_peer_port(c);
}

/* Write the stream until TARGET or until the queue refuses. */
static void flood(struct zg_conn *c, struct app_conn *a)
{
	while (a->written < TARGET) {
		size_t off = a->written % CHUNK;
		size_t n = TARGET - a->written < CHUNK ? TARGET - a->written : CHUNK;
		int ret = zg_conn_write(c, pattern + off, n);
		if (ret) {
			if (!a->first_err) {
				a->first_err = ret;
				atomic_fetch_add(&refused, 1);
			}
			return;
		}
		a->written += n;
		if (zg_conn_pending(c) > a->max_pending)
			a->max_pending = zg_conn_pending(c);
	}
	zg_conn_close(c, ZG_CLOSE_GRACEFUL); /* after the queue is sent */
}

static void on_data(struct zg_conn *c)
{
	struct app_conn *a = zg_conn_udata(c);
	struct zg_read_view v;

	zg_conn_read(c, &v);
	if (v.len && ((const char *)v.segs[0].iov_base)[0] == 'e') {
		it_echo_on_data(c); /* an active peer: echo */
		return;
	}
	if (v.len && ((const char *)v.segs[0].iov_base)[0] == 'c') {
		/* a last answer larger than the socket buffers, then a
		 * graceful close */
		zg_conn_advance(c, v.len, v.len);
		a->flooding = true;
		for (size_t n = 0; n < TARGET * 2; n += CHUNK)
			IT_ASSERT(zg_conn_write(c, pattern, CHUNK) == 0);
		a->written = TARGET * 2;
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		return;
	}
	zg_conn_advance(c, v.len, v.len);
	if (!a->flooding && v.len) {
		a->flooding = true;
		flood(c, a);
	}
}

static void on_drain(struct zg_conn *c)
{
	struct app_conn *a = zg_conn_udata(c);

	a->drains++;
	if (a->flooding)
		flood(c, a);
}

static void on_close(struct zg_conn *c, int reason)
{
	struct app_conn *a = zg_conn_udata(c);

	pthread_mutex_lock(&rec_lock);
	if (nrecs < 64)
		recs[nrecs++] = (struct record){ a->peer_port, a->written, a->max_pending,
						 a->first_err, a->drains, reason, true };
	pthread_mutex_unlock(&rec_lock);
	atomic_fetch_add(&closes, 1);
	free(a);
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_drain = on_drain, .on_close = on_close,
};

static size_t max_output = MAX_OUTPUT;

static struct zg_server *start(unsigned idle_ms)
{
	struct zg_server_config cfg;

	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = it_byte(7, i % CHUNK);
	nrecs = 0;
	atomic_store(&refused, 0);
	atomic_store(&closes, 0);
	it_server_config(&cfg, 1);
	cfg.reactor.max_output = max_output;
	cfg.reactor.idle_timeout_ms = idle_ms;
	return it_server_start(&cfg, &handler, NULL);
}

static void test_backpressure_bounds_memory(void **state)
{
	struct zg_server *s = start(0);
	int fds[NSLOW];
	long rss0, rss1;
	uint8_t *buf = malloc(TARGET);

	(void)state;
	assert_non_null(buf);
	rss0 = it_rss_kib();
	for (unsigned i = 0; i < NSLOW; i++) {
		fds[i] = it_connect(zg_server_port(s));
		assert_true(fds[i] >= 0);
		assert_int_equal(it_send_all(fds[i], "go", 2, 5000), 0);
	}
	/* every connection's writer hit the limit */
	assert_true(IT_WAIT(atomic_load(&refused) == NSLOW, 20000));
	rss1 = it_rss_kib();
	print_message("VmRSS %ld KiB -> %ld KiB with %u stuck writers (max_output %u KiB)\n",
		      rss0, rss1, NSLOW, MAX_OUTPUT / 1024);
	/* NSLOW * max_output plus slack; without the limit it would be
	 * NSLOW * TARGET (160 MiB) */
	if (rss0 && rss1)
		assert_true(rss1 - rss0 < (long)(NSLOW * (MAX_OUTPUT / 1024) * 2 + 32 * 1024));

	/* now read: every byte arrives in order, then EOF */
	for (unsigned i = 0; i < NSLOW; i++) {
		ssize_t got = it_recv_exact(fds[i], buf, TARGET, 20000);
		assert_int_equal(got, TARGET);
		for (size_t off = 0; off < TARGET; off += CHUNK)
			assert_memory_equal(buf + off, pattern, CHUNK);
		assert_int_equal(it_expect_eof(fds[i], 5000), 0);
	}
	assert_true(IT_WAIT(atomic_load(&closes) == NSLOW, 10000));
	for (unsigned i = 0; i < NSLOW; i++) {
		struct record *r = rec_find(it_local_port(fds[i]));
		assert_non_null(r);
		assert_int_equal(r->first_err, -ENOBUFS);
		assert_true(r->max_pending <= MAX_OUTPUT);
		assert_true(r->max_pending > MAX_OUTPUT / 2);
		assert_true(r->drains >= 1); /* back-pressure lifted: on_drain */
		assert_int_equal(r->written, TARGET);
		assert_int_equal(r->reason, 0);
		close(fds[i]);
	}
	it_server_end(s);
	free(buf);
}

static void test_idle_timeout_closes_stuck(void **state)
{
	struct zg_server *s = start(300);
	int stuck, silent, busy;
	uint16_t stuck_port, silent_port, busy_port;
	uint8_t b[16];

	(void)state;
	stuck = it_connect(zg_server_port(s));
	silent = it_connect(zg_server_port(s));
	busy = it_connect(zg_server_port(s));
	assert_true(stuck >= 0 && silent >= 0 && busy >= 0);
	stuck_port = it_local_port(stuck);
	silent_port = it_local_port(silent);
	busy_port = it_local_port(busy);
	assert_int_equal(it_send_all(stuck, "go", 2, 5000), 0);
	assert_true(IT_WAIT(atomic_load(&refused) == 1, 10000));

	/* busy keeps exchanging (every 5 ms, well inside the 300 ms idle
	 * timeout) while the other two must time out */
	{
		uint64_t end = it_now_ms() + 15000;
		while (atomic_load(&closes) < 2 && it_now_ms() < end) {
			assert_int_equal(it_send_all(busy, "e1234", 5, 1000), 0);
			assert_int_equal(it_recv_exact(busy, b, 5, 1000), 5);
			assert_memory_equal(b, "e1234", 5);
			it_nap_us(5000);
		}
	}
	assert_int_equal(atomic_load(&closes), 2);
	pthread_mutex_lock(&rec_lock);
	assert_non_null(rec_find(stuck_port));
	assert_int_equal(rec_find(stuck_port)->reason, -ETIMEDOUT);
	assert_int_equal(rec_find(stuck_port)->first_err, -ENOBUFS);
	assert_non_null(rec_find(silent_port));
	assert_int_equal(rec_find(silent_port)->reason, -ETIMEDOUT);
	assert_null(rec_find(busy_port));
	pthread_mutex_unlock(&rec_lock);

	/* the timed-out peers see the end of their stream (the timeout
	 * aborts: a reset is fine) */
	{
		int ret = it_expect_eof(silent, 5000);
		assert_true(ret == 0 || ret == -ECONNRESET);
	}
	{
		ssize_t k;
		do
			k = recv(stuck, b, sizeof(b), 0);
		while (k > 0);
		assert_true(k == 0 || errno == ECONNRESET);
	}
	close(stuck);
	close(silent);
	close(busy);
	assert_true(IT_WAIT(atomic_load(&closes) == 3, 10000));
	it_server_end(s);
}

/* A graceful close whose output the peer never reads does not keep the
 * connection forever: the idle timeout ends it, with -ETIMEDOUT. */
static void test_idle_timeout_during_graceful_close(void **state)
{
	struct zg_server *s;
	int fd;
	uint16_t port;

	(void)state;
	max_output = 4 * TARGET;
	s = start(300);
	max_output = MAX_OUTPUT;
	fd = it_connect(zg_server_port(s));
	assert_true(fd >= 0);
	port = it_local_port(fd);
	assert_int_equal(it_send_all(fd, "c", 1, 5000), 0);
	if (!IT_WAIT(atomic_load(&closes) == 1, 10000))
		fail_msg("a gracefully closing connection whose peer does not read was "
			 "still open 10 s after a 300 ms idle timeout");
	pthread_mutex_lock(&rec_lock);
	assert_non_null(rec_find(port));
	assert_int_equal(rec_find(port)->reason, -ETIMEDOUT);
	pthread_mutex_unlock(&rec_lock);
	close(fd);
	it_server_end(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backpressure_bounds_memory),
		cmocka_unit_test(test_idle_timeout_closes_stuck),
		cmocka_unit_test(test_idle_timeout_during_graceful_close),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
