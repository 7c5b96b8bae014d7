/* SPDX-License-Identifier: MIT */
/* Half-close, both ways, and the graceful close.
 *  - the client sends a message then shutdown(SHUT_WR): it still gets the
 *    whole echo (1 B to 4 MiB), then EOF; on_close(0);
 *  - the server half-closes (zg_conn_shutdown) after its answer: the
 *    client sees the answer and EOF, keeps sending, and the server keeps
 *    reading; writes after the shutdown fail with -EPIPE;
 *  - the server answers 4 MiB and closes gracefully while the client is
 *    still sending data the server never reads: the whole answer arrives,
 *    then EOF, never a reset (the linger drains the input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

#define ANSWER (4u << 20)

static atomic_uint closes, bad_reasons, after_shut_bytes, epipe_seen;
static uint8_t *answer;
static struct zg_conn *held_conn; /* reactor thread only */
static atomic_bool held_eof;

struct app_conn {
	char mode; /* first byte: 'E' echo, 'S' shutdown after answer, 'C' close after
		    * answer, 'U' hold the input */
	bool answered;
};

static void on_open(struct zg_conn *c)
{
	it_conn_alloc(c, sizeof(struct app_conn));
}

static void on_data(struct zg_conn *c)
{
	struct app_conn *a = zg_conn_udata(c);
	struct zg_read_view v;

	zg_conn_read(c, &v);
	if (!a->mode && v.len)
		a->mode = ((const char *)v.segs[0].iov_base)[0];
	switch (a->mode) {
	case 'S':
		if (!a->answered) {
			a->answered = true;
			IT_ASSERT(zg_conn_write(c, "bye", 3) == 0);
			IT_ASSERT(zg_conn_shutdown(c) == 0);
			atomic_fetch_add(&after_shut_bytes, (unsigned)v.len - 1);
		} else {
			atomic_fetch_add(&after_shut_bytes, (unsigned)v.len);
			if (zg_conn_write(c, "x", 1) == -EPIPE)
				atomic_fetch_add(&epipe_seen, 1);
		}
		zg_conn_advance(c, v.len, v.len);
		return;
	case 'U':
		/* keep the input: end of stream must not close it yet */
		held_conn = c;
		if (v.eof)
			atomic_store(&held_eof, true);
		zg_conn_advance(c, 0, v.len);
		return;
	case 'C':
		zg_conn_advance(c, v.len, v.len);
		if (!a->answered) {
			a->answered = true;
			IT_ASSERT(zg_conn_write(c, answer, ANSWER) == 0);
			zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		}
		return;
	default:
		it_echo_on_data(c);
	}
}

static void on_close(struct zg_conn *c, int reason)
{
	free(zg_conn_udata(c));
	if (reason)
		atomic_fetch_add(&bad_reasons, 1);
	atomic_fetch_add(&closes, 1);
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

static struct zg_server *start(void)
{
	struct zg_server_config cfg;

	atomic_store(&closes, 0);
	atomic_store(&bad_reasons, 0);
	atomic_store(&after_shut_bytes, 0);
	atomic_store(&epipe_seen, 0);
	it_server_config(&cfg, 2);
	return it_server_start(&cfg, &handler, NULL);
}

static void finish(struct zg_server *s, unsigned n)
{
	assert_true(IT_WAIT(atomic_load(&closes) == n, 10000));
	assert_int_equal(atomic_load(&bad_reasons), 0);
	it_server_end(s);
}

static void test_client_half_close(void **state)
{
	static const size_t sizes[] = { 1, 2, 4096, 100000, 1u << 20, 4u << 20 };
	struct zg_server *s = start();

	(void)state;
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		uint8_t *out = malloc(n), *in = malloc(n);
		int fd = it_connect(zg_server_port(s));

		assert_true(fd >= 0);
		it_fill(out, n, i, 0);
		out[0] = 'E';
		/* FIN right after the last byte, while the echo is still coming */
		assert_int_equal(it_exchange(fd, out, n, in, n, true, 20000), (ssize_t)n);
		assert_memory_equal(in, out, n);
		assert_int_equal(it_expect_eof(fd, 10000), 0);
		close(fd);
		free(out);
		free(in);
	}
	/* FIN in the same segment as the whole request: send, then shut */
	{
		int fd = it_connect(zg_server_port(s));
		char b[8];
		assert_true(fd >= 0);
		assert_int_equal(it_send_all(fd, "Ehello", 6, 5000), 0);
		shutdown(fd, SHUT_WR);
		assert_int_equal(it_recv_exact(fd, b, 6, 5000), 6);
		assert_memory_equal(b, "Ehello", 6);
		assert_int_equal(it_expect_eof(fd, 5000), 0);
		close(fd);
	}
	finish(s, sizeof(sizes) / sizeof(sizes[0]) + 1);
}

static void test_server_half_close(void **state)
{
	struct zg_server *s = start();
	int fd = it_connect(zg_server_port(s));
	char b[8];
	uint8_t more[10000];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(it_send_all(fd, "S", 1, 5000), 0);
	assert_int_equal(it_recv_exact(fd, b, 3, 5000), 3);
	assert_memory_equal(b, "bye", 3);
	assert_int_equal(it_expect_eof(fd, 5000), 0);
	/* our direction is still open: the server reads on */
	memset(more, 'm', sizeof(more));
	assert_int_equal(it_send_all(fd, more, sizeof(more), 5000), 0);
	assert_true(IT_WAIT(atomic_load(&after_shut_bytes) == sizeof(more), 5000));
	assert_true(atomic_load(&epipe_seen) > 0); /* writes after shutdown: -EPIPE */
	assert_int_equal(atomic_load(&closes), 0);
	close(fd);
	finish(s, 1);
}

struct junk {
	int fd;
	atomic_bool stop;
	size_t sent;
};

static void *junk_main(void *arg)
{
	struct junk *j = arg;
	uint8_t b[16384];

	memset(b, 'j', sizeof(b));
	while (!atomic_load(&j->stop) && j->sent < (64u << 20)) {
		ssize_t k = send(j->fd, b, sizeof(b), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k > 0)
			j->sent += (size_t)k;
		else if (k < 0 && errno != EAGAIN)
			break; /* the server closed its side for good */
		else
			(void)it_poll1(j->fd, POLLOUT, it_now_ms() + 50);
	}
	return NULL;
}

static void test_graceful_close_while_peer_sends(void **state)
{
	struct zg_server *s = start();
	uint8_t *in = malloc(ANSWER);

	(void)state;
	assert_non_null(in);
	for (unsigned round = 0; round < 5; round++) {
		struct junk j = { .fd = it_connect(zg_server_port(s)) };
		pthread_t t;
		ssize_t got;

		assert_true(j.fd >= 0);
		assert_int_equal(it_send_all(j.fd, "C", 1, 5000), 0);
		assert_int_equal(pthread_create(&t, NULL, junk_main, &j), 0);
		got = it_recv_exact(j.fd, in, ANSWER, 20000);
		if (got != (ssize_t)ANSWER)
			fail_msg("round %u: got %zd of %u bytes of the answer (%s)", round, got, ANSWER,
				 got < 0 ? strerror((int)-got) : "EOF");
		assert_memory_equal(in, answer, ANSWER);
		{
			int ret = it_expect_eof(j.fd, 10000);
			atomic_store(&j.stop, true);
			pthread_join(t, NULL);
			/* after the answer: EOF; a reset only once the
			 * linger gave up on our endless junk is tolerable */
			assert_true(ret == 0 || ret == -ECONNRESET);
		}
		close(j.fd);
	}
	finish(s, 5);
	free(in);
}

/* Consume what the 'U' connection holds, from the reactor's thread (a
 * post), answering with its length. */
static void consume_held(struct zg_reactor *r, void *arg)
{
	struct zg_read_view v;
	char out[32];
	int n;

	(void)r;
	(void)arg;
	if (!held_conn)
		return;
	zg_conn_read(held_conn, &v);
	n = snprintf(out, sizeof(out), "done:%zu", v.len);
	IT_ASSERT(zg_conn_write(held_conn, out, (size_t)n) == 0);
	IT_ASSERT(zg_conn_advance(held_conn, v.len, v.len) == 0);
	held_conn = NULL; /* consumed at end of stream: it closes now */
}

/* End of stream with input still unconsumed keeps the connection open
 * until the application consumes it; then it closes gracefully after
 * the answer. */
static void test_eof_with_unconsumed_input(void **state)
{
	struct zg_server *s = start();
	int fd = it_connect(zg_server_port(s));
	unsigned conns;
	char b[32];

	(void)state;
	held_conn = NULL;
	atomic_store(&held_eof, false);
	assert_true(fd >= 0);
	assert_int_equal(it_send_all(fd, "U-some-request", 14, 5000), 0);
	shutdown(fd, SHUT_WR);
	assert_true(IT_WAIT(atomic_load(&held_eof), 5000));
	/* one more pass of the reactor: still open */
	assert_int_equal(it_query(zg_server_reactor(s, 0), NULL, NULL, NULL, &conns), 0);
	assert_int_equal(it_query(zg_server_reactor(s, 1), NULL, NULL, NULL, NULL), 0);
	assert_int_equal(atomic_load(&closes), 0);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(it_query(zg_server_reactor(s, i), consume_held, NULL, NULL, NULL), 0);
	assert_int_equal(it_recv_exact(fd, b, 7, 5000), 7);
	assert_memory_equal(b, "done:14", 7);
	assert_int_equal(it_expect_eof(fd, 5000), 0);
	close(fd);
	finish(s, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_half_close),
		cmocka_unit_test(test_server_half_close),
		cmocka_unit_test(test_graceful_close_while_peer_sends),
		cmocka_unit_test(test_eof_with_unconsumed_input),
	};
	int ret;

	it_init();
	answer = malloc(ANSWER);
	if (!answer)
		return 1;
	it_fill(answer, ANSWER, 77, 0);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	free(answer);
	return ret;
}
