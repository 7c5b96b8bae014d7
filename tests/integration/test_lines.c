/* SPDX-License-Identifier: MIT */
/* A pipelined line protocol on the pipe reader (like examples/echo/lines.c,
 * compiled in): each '\n'-terminated line is answered with "<len>:<line>".
 * Small ring buffers (512 bytes) so lines straddle buffers and
 * zg_conn_contig has to copy.
 *  - thousands of pipelined lines written in random-sized pieces are all
 *    answered, in order;
 *  - a request sent one byte per send completes, and on_data is never
 *    called without new bytes after it examined everything (the
 *    `examined` rule: no busy loop);
 *  - an application that answers one line per on_data and leaves the
 *    rest unexamined is called again without new bytes arriving;
 *  - lines up to 200 KiB (many buffers; compaction) come back intact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

static atomic_uint spurious, calls;

struct app_conn {
	bool one_per_call;  /* first byte '1' */
	bool moded;
	size_t left;        /* input length left after the last on_data */
	bool examined_all;
};

static void on_open(struct zg_conn *c)
{
	it_conn_alloc(c, sizeof(struct app_conn));
}

static void on_data(struct zg_conn *c)
{
	struct app_conn *a = zg_conn_udata(c);
	struct zg_read_view v;
	size_t searched = 0;

	atomic_fetch_add(&calls, 1);
	zg_conn_read(c, &v);
	if (a->examined_all && v.len == a->left && !v.eof && !v.full)
		atomic_fetch_add(&spurious, 1); /* nothing new since last time */
	if (!a->moded && v.len) {
		a->moded = true;
		a->one_per_call = ((const char *)v.segs[0].iov_base)[0] == '1';
	}
	while (v.len) {
		const uint8_t *line;
		char *hdr;
		ssize_t nl = zg_view_find(&v, searched, '\n');
		size_t n;

		if (nl < 0) {
			/* partial line: seen all of it, wait for more bytes */
			zg_conn_advance(c, 0, v.len);
			a->left = v.len;
			a->examined_all = true;
			return;
		}
		n = (size_t)nl + 1;
		IT_ASSERT(zg_conn_contig(c, n, &line) == 0);
		/* the header is formatted in place: reserve/commit */
		hdr = zg_conn_reserve(c, 24);
		IT_ASSERT(hdr);
		zg_conn_commit(c, (size_t)snprintf(hdr, 24, "%zu:", n - 1));
		IT_ASSERT(zg_conn_write(c, line, n) == 0);
		zg_conn_advance(c, n, n);
		if (a->one_per_call) {
			/* leave the rest unexamined: we must be called again */
			zg_conn_read(c, &v);
			a->left = v.len;
			a->examined_all = false;
			return;
		}
		zg_conn_read(c, &v); /* the view is invalid after advance */
		searched = 0;
	}
	a->left = 0;
	a->examined_all = true;
}

static void on_close(struct zg_conn *c, int reason)
{
	(void)reason;
	free(zg_conn_udata(c));
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

static struct zg_server *start(void)
{
	struct zg_server_config cfg;

	atomic_store(&spurious, 0);
	atomic_store(&calls, 0);
	it_server_config(&cfg, 2);
	cfg.reactor.buf_size = 512;
	cfg.reactor.buf_count = 1024;
	return it_server_start(&cfg, &handler, NULL);
}

/* Build nlines lines (line i: a prefix, then i-dependent bytes without
 * '\n'), the request and the expected response. */
struct script {
	char *req, *resp;
	size_t req_len, resp_len;
};

static void make_script(struct script *sc, unsigned nlines, size_t maxlen, char first)
{
	size_t cap = (size_t)nlines * (maxlen + 32) + 64;

	sc->req = malloc(cap);
	sc->resp = malloc(cap + (size_t)nlines * 16);
	assert_non_null(sc->req);
	assert_non_null(sc->resp);
	sc->req_len = sc->resp_len = 0;
	for (unsigned i = 0; i < nlines; i++) {
		size_t len = (i * 2654435761u) % maxlen, start = sc->req_len;
		if (i == 0)
			sc->req[sc->req_len++] = first, len = len ? len - 1 : 0;
		for (size_t k = 0; k < len; k++)
			sc->req[sc->req_len++] = (char)('a' + (i + k) % 26);
		sc->req[sc->req_len++] = '\n';
		sc->resp_len += (size_t)sprintf(sc->resp + sc->resp_len, "%zu:",
						sc->req_len - start - 1);
		memcpy(sc->resp + sc->resp_len, sc->req + start, sc->req_len - start);
		sc->resp_len += sc->req_len - start;
	}
}

static void free_script(struct script *sc)
{
	free(sc->req);
	free(sc->resp);
}

/* Write the request in pieces of 1..maxpiece bytes while reading. */
static void run_script(uint16_t port, const struct script *sc, size_t maxpiece)
{
	char *in = malloc(sc->resp_len);
	int fd = it_connect(port);
	size_t sent = 0, got = 0;
	uint64_t end = it_now_ms() + 30000;
	unsigned seed = 1;

	assert_non_null(in);
	assert_true(fd >= 0);
	while (got < sc->resp_len && it_now_ms() < end) {
		if (sent < sc->req_len) {
			size_t piece = (seed = seed * 1103515245u + 12345u) % maxpiece + 1;
			if (piece > sc->req_len - sent)
				piece = sc->req_len - sent;
			ssize_t k = send(fd, sc->req + sent, piece, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (k > 0)
				sent += (size_t)k;
			else
				assert_true(errno == EAGAIN);
		}
		ssize_t k = recv(fd, in + got, sc->resp_len - got, MSG_DONTWAIT);
		if (k > 0)
			got += (size_t)k;
		else if (k == 0)
			fail_msg("EOF after %zu of %zu bytes", got, sc->resp_len);
		else if (errno != EAGAIN)
			fail_msg("recv: %s", strerror(errno));
		else if (sent == sc->req_len)
			(void)it_poll1(fd, POLLIN, it_now_ms() + 100);
	}
	assert_int_equal(got, sc->resp_len);
	assert_memory_equal(in, sc->resp, sc->resp_len);
	close(fd);
	free(in);
}

static void test_pipelined_random_pieces(void **state)
{
	struct zg_server *s = start();
	struct script sc;

	(void)state;
	make_script(&sc, 5000, 300, 'x');
	run_script(zg_server_port(s), &sc, 7000);
	run_script(zg_server_port(s), &sc, 100);
	free_script(&sc);
	assert_int_equal(atomic_load(&spurious), 0);
	it_server_end(s);
}

static void test_byte_at_a_time(void **state)
{
	struct zg_server *s = start();
	struct script sc;

	(void)state;
	make_script(&sc, 20, 40, 'x');
	run_script(zg_server_port(s), &sc, 1);
	free_script(&sc);
	/* on_data ran at most once per byte received (plus slack for
	 * EOF), and never without anything new */
	assert_int_equal(atomic_load(&spurious), 0);
	it_server_end(s);
}

static void test_one_line_per_call(void **state)
{
	struct zg_server *s = start();
	struct script sc;

	(void)state;
	/* all in one write: only re-calls without new bytes can answer
	 * the lines after the first */
	make_script(&sc, 300, 50, '1');
	run_script(zg_server_port(s), &sc, sc.req_len);
	assert_true(atomic_load(&calls) >= 300);
	free_script(&sc);
	it_server_end(s);
}

static void test_long_lines(void **state)
{
	struct zg_server *s = start();
	struct script sc;

	(void)state;
	make_script(&sc, 40, 200 * 1024, 'x');
	run_script(zg_server_port(s), &sc, 65536);
	free_script(&sc);
	assert_int_equal(atomic_load(&spurious), 0);
	it_server_end(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_random_pieces),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_one_line_per_call),
		cmocka_unit_test(test_long_lines),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
