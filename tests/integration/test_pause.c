/* SPDX-License-Identifier: MIT */
/* Read back-pressure and on_drain.
 *  - zg_conn_pause_read stops reading: a client streaming at full speed
 *    gets stuck (its socket buffers fill) long before 64 MiB; after
 *    zg_conn_resume_read (from another thread, through a post) every
 *    byte arrives in order;
 *  - output queued past max_output / 2 stops reading the same way, and
 *    reading resumes when the queue drains;
 *  - on_drain fires exactly once per backlog episode, never for a queue
 *    that stayed under max_output / 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

#define CAP (64u << 20)          /* a client that can send this much was never paused */
#define MAX_OUTPUT (1u << 20)

static struct zg_conn *the_conn;
static atomic_bool paused_flag;
static atomic_ullong consumed, bad_bytes;
static atomic_uint drains, closes;
#define FLOOD (16u << 20)
#define MID_PAUSE_AT (1u << 20)

static atomic_ullong paused_at;
static bool resumed; /* reactor thread */

static size_t flooded; /* reactor thread only */

/* Mode by first byte: 'P' pause at once (what was received already is
 * still consumed, so only the pause can stop the reading); 'F' write
 * FLOOD bytes of output, as much as max_output allows at a time, more
 * on each on_drain; 'O' write max_output bytes once. P and F check and
 * consume the input. Anything else: echo. */
struct app_conn {
	char mode;
};

static void on_open(struct zg_conn *c)
{
	it_conn_alloc(c, sizeof(struct app_conn));
	the_conn = c;
}

static void consume_checked(struct zg_conn *c, const struct zg_read_view *v, size_t skip)
{
	unsigned long long off = atomic_load(&consumed);
	size_t pos = 0;

	for (unsigned i = 0; i < v->nsegs; i++) {
		const uint8_t *p = v->segs[i].iov_base;
		for (size_t k = 0; k < v->segs[i].iov_len; k++, pos++) {
			if (pos < skip)
				continue;
			if (p[k] != it_byte(5, off))
				atomic_fetch_add(&bad_bytes, 1);
			off++;
		}
	}
	atomic_store(&consumed, off);
	zg_conn_advance(c, v->len, v->len);
}

static void flood(struct zg_conn *c)
{
	static uint8_t junk[65536];

	while (flooded < FLOOD && zg_conn_write(c, junk, sizeof(junk)) == 0)
		flooded += sizeof(junk);
}

static void on_data(struct zg_conn *c)
{
	struct app_conn *a = zg_conn_udata(c);
	struct zg_read_view v;
	size_t skip = 0;

	zg_conn_read(c, &v);
	if (!a->mode && v.len) {
		a->mode = ((const char *)v.segs[0].iov_base)[0];
		skip = 1;
		if (a->mode == 'P') {
			zg_conn_pause_read(c);
			zg_conn_pause_read(c); /* idempotent */
			atomic_store(&paused_flag, true);
		} else if (a->mode == 'F') {
			flood(c);
		} else if (a->mode == 'M') {
			/* read on for a while, pause in mid-stream (below) */
		} else if (a->mode == 'O') {
			static uint8_t once[MAX_OUTPUT];
			IT_ASSERT(zg_conn_write(c, once, sizeof(once)) == 0);
		}
	}
	if (a->mode == 'P' || a->mode == 'F' || a->mode == 'M') {
		consume_checked(c, &v, skip);
		if (a->mode == 'M' && !atomic_load(&paused_flag) && !resumed &&
		    atomic_load(&consumed) >= MID_PAUSE_AT) {
			zg_conn_pause_read(c);
			atomic_store(&paused_at, atomic_load(&consumed));
			atomic_store(&paused_flag, true);
		}
		return;
	}
	if (a->mode == 'O') {
		zg_conn_advance(c, v.len, v.len);
		return;
	}
	it_echo_on_data(c);
}

static void on_drain(struct zg_conn *c)
{
	struct app_conn *a = zg_conn_udata(c);

	atomic_fetch_add(&drains, 1);
	if (a->mode == 'F')
		flood(c);
}

static void on_close(struct zg_conn *c, int reason)
{
	(void)reason;
	free(zg_conn_udata(c));
	the_conn = NULL;
	atomic_fetch_add(&closes, 1);
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_drain = on_drain, .on_close = on_close,
};

static struct zg_server *start(void)
{
	struct zg_server_config cfg;

	the_conn = NULL;
	flooded = 0;
	resumed = false;
	atomic_store(&paused_at, 0);
	atomic_store(&paused_flag, false);
	atomic_store(&consumed, 0);
	atomic_store(&bad_bytes, 0);
	atomic_store(&drains, 0);
	atomic_store(&closes, 0);
	it_server_config(&cfg, 1);
	cfg.reactor.max_output = MAX_OUTPUT;
	cfg.reactor.idle_timeout_ms = 0;
	return it_server_start(&cfg, &handler, NULL);
}

/* Send the pattern stream from *sent on, until the socket stays
 * unwritable for 1 s (the server stopped reading) or CAP. Returns true
 * if it got stuck. */
static bool stream_until_stuck(int fd, size_t *sent)
{
	static uint8_t buf[65536];

	while (*sent < CAP) {
		ssize_t k;
		it_fill(buf, sizeof(buf), 5, *sent);
		k = send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k > 0) {
			*sent += (size_t)k;
			continue;
		}
		assert_true(k < 0 && errno == EAGAIN);
		if (it_poll1(fd, POLLOUT, it_now_ms() + 1000) == -ETIMEDOUT)
			return true;
	}
	return false;
}

/* Send the pattern stream from sent up to total; the server must
 * consume all of it, in order. Then close, wait for the on_close and
 * end the server. */
static void send_rest_and_finish(struct zg_server *s, int fd, size_t sent, size_t total)
{
	static uint8_t buf[65536];

	while (sent < total) {
		size_t n = total - sent < sizeof(buf) ? total - sent : sizeof(buf);
		it_fill(buf, n, 5, sent);
		assert_int_equal(it_send_all(fd, buf, n, 10000), 0);
		sent += n;
	}
	assert_true(IT_WAIT(atomic_load(&consumed) == sent, 10000));
	assert_int_equal(atomic_load(&bad_bytes), 0);
	close(fd);
	assert_true(IT_WAIT(atomic_load(&closes) == 1, 5000));
	it_server_end(s);
}

static void resume_on_reactor(struct zg_reactor *r, void *arg)
{
	(void)r;
	(void)arg;
	atomic_store(&paused_flag, false);
	resumed = true;
	if (the_conn) {
		zg_conn_resume_read(the_conn);
		zg_conn_resume_read(the_conn); /* idempotent */
	}
}

static void test_pause_resume(void **state)
{
	struct zg_server *s = start();
	int fd = it_connect(zg_server_port(s));
	size_t sent = 0;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(it_send_all(fd, "P", 1, 1000), 0);
	assert_true(IT_WAIT(atomic_load(&paused_flag), 5000));
	if (!stream_until_stuck(fd, &sent))
		fail_msg("sent %u MiB to a paused connection without blocking", CAP >> 20);
	print_message("paused: the client got stuck after %zu KiB, %llu KiB read before the "
		      "pause took effect\n", sent >> 10, atomic_load(&consumed) >> 10);

	/* resume from the test thread, through a post */
	assert_int_equal(it_query(zg_server_reactor(s, 0), resume_on_reactor, NULL, NULL, NULL), 0);
	send_rest_and_finish(s, fd, sent, sent + (8u << 20));
}

/* A pause in mid-stream (the client sending at full speed, the recv
 * busy) takes effect too: what arrives after it is bounded (a socket
 * buffer's worth in flight), the client gets stuck. */
static void test_pause_mid_stream(void **state)
{
	struct zg_server *s = start();
	int fd = it_connect(zg_server_port(s));
	size_t sent = 0;
	unsigned long long after;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(it_send_all(fd, "M", 1, 1000), 0);
	if (!stream_until_stuck(fd, &sent))
		fail_msg("sent %u MiB, paused after %llu KiB, read %llu KiB: the pause in "
			 "mid-stream did not stop the reading", CAP >> 20,
			 atomic_load(&paused_at) >> 10, atomic_load(&consumed) >> 10);
	assert_true(atomic_load(&paused_flag));
	after = atomic_load(&consumed) - atomic_load(&paused_at);
	print_message("paused after %llu KiB; %llu KiB more arrived before it took effect; "
		      "the client got stuck after %zu KiB\n", atomic_load(&paused_at) >> 10,
		      after >> 10, sent >> 10);
	assert_int_equal(it_query(zg_server_reactor(s, 0), resume_on_reactor, NULL, NULL, NULL), 0);
	send_rest_and_finish(s, fd, sent, sent + (1u << 20));
}

/* Output queued past max_output / 2 pauses reading: a client that
 * streams and never reads gets stuck; once it reads the output, reading
 * resumes (on_drain fired) and everything it sent arrives. */
static void test_backlog_pauses_reading(void **state)
{
	struct zg_server *s = start();
	int fd = it_connect(zg_server_port(s));
	size_t sent = 0, got = 0;
	static uint8_t in[1u << 20];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(it_send_all(fd, "F", 1, 1000), 0);
	if (!stream_until_stuck(fd, &sent))
		fail_msg("sent %u MiB to a connection with output backlogged past max_output / 2 "
			 "without blocking", CAP >> 20);
	print_message("backlog: the client got stuck after %zu KiB\n", sent >> 10);
	while (got < FLOOD) {
		ssize_t k = it_recv_exact(fd, in, sizeof(in) < FLOOD - got ? sizeof(in)
							  : FLOOD - got, 10000);
		assert_true(k > 0);
		got += (size_t)k;
	}
	assert_true(atomic_load(&drains) >= 1);
	send_rest_and_finish(s, fd, sent, sent + (1u << 20));
}

/* on_drain: never for output that stays under max_output / 2 (plain
 * echoes), exactly once after one burst past it. */
static void test_on_drain_once_per_backlog(void **state)
{
	struct zg_server *s = start();
	static uint8_t in[MAX_OUTPUT];
	int fd, e = it_connect(zg_server_port(s));
	char b[5];

	(void)state;
	assert_true(e >= 0);
	for (unsigned i = 0; i < 50; i++) {
		assert_int_equal(it_send_all(e, "echo!", 5, 1000), 0);
		assert_int_equal(it_recv_exact(e, b, 5, 5000), 5);
	}
	close(e);
	assert_true(IT_WAIT(atomic_load(&closes) == 1, 5000));
	assert_int_equal(atomic_load(&drains), 0);

	fd = it_connect(zg_server_port(s));
	assert_true(fd >= 0);
	assert_int_equal(it_send_all(fd, "O", 1, 1000), 0);
	assert_int_equal(it_recv_exact(fd, in, sizeof(in), 10000), (ssize_t)sizeof(in));
	assert_true(IT_WAIT(atomic_load(&drains) == 1, 5000));
	/* more small traffic: no further on_drain */
	assert_int_equal(it_send_all(fd, "x", 1, 1000), 0);
	close(fd);
	assert_true(IT_WAIT(atomic_load(&closes) == 2, 5000));
	assert_int_equal(atomic_load(&drains), 1);
	it_server_end(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_pause_mid_stream),
		cmocka_unit_test(test_backlog_pauses_reading),
		cmocka_unit_test(test_on_drain_once_per_backlog),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
