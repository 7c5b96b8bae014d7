/* Pipe reader unit tests: the connection's input is driven by fabricated
 * recv completions over real ring buffers, so every path (segments across
 * buffers, partial advance, examined-without-consumed, end of stream,
 * compaction, buffer returns) is checked without timing. The connection
 * is a real adopted socketpair end, so the library's own recv stays armed
 * but never fires: nothing is written to the other end. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "unit.h"

struct fixture {
	struct zg_reactor *r;
	struct zg_conn *c;
	int peer;
	unsigned next_bid;
	int data_calls;
	int closes;
	int close_reason;
	/* what on_data does */
	size_t consume, examine;
	bool use_all;
};

static struct fixture *cur;

static void on_open(struct zg_conn *c) { cur->c = c; }

static void on_data(struct zg_conn *c)
{
	struct zg_read_view v;
	cur->data_calls++;
	zg_conn_read(c, &v);
	if (cur->use_all)
		zg_conn_advance(c, v.len, v.len);
	else if (cur->consume || cur->examine)
		zg_conn_advance(c, cur->consume, cur->examine);
}

static void on_close(struct zg_conn *c, int reason)
{
	(void)c;
	cur->closes++;
	cur->close_reason = reason;
}

static int setup_cfg(void **state, unsigned max_input, unsigned compact)
{
	static struct fixture f;
	struct zg_reactor_config cfg;
	struct zg_handler h = { .on_open = on_open, .on_data = on_data, .on_close = on_close };
	int sv[2];

	memset(&f, 0, sizeof(f));
	cur = &f;
	zg_reactor_config_init(&cfg);
	cfg.buf_count = 64;
	cfg.buf_size = 256;
	cfg.max_input = max_input;
	cfg.compact_segs = compact;
	assert_int_equal(zg_reactor_new(&cfg, &h, NULL, &f.r), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(zg_reactor_adopt(f.r, sv[0]), 0);
	assert_non_null(f.c);
	f.peer = sv[1];
	*state = &f;
	return 0;
}

static int setup(void **state) { return setup_cfg(state, 1 << 20, 16); }
static int setup_small(void **state) { return setup_cfg(state, 1024, 3); }

static int teardown(void **state)
{
	struct fixture *f = *state;
	zg_reactor_free(f->r);
	close(f->peer);
	return 0;
}

/* Pretend the kernel filled the next ring buffer with s. The fixture
 * hands out buffer ids from the top of the ring, which the kernel, given
 * no data, never touches. */
static void deliver(struct fixture *f, const char *s)
{
	struct io_uring_cqe cqe = { 0 };
	unsigned bid = f->r->buf.count - 1 - (f->next_bid++ % 32);
	size_t n = strlen(s);

	memcpy(zg__bufring_addr(&f->r->buf, bid), s, n);
	cqe.res = (int)n;
	cqe.flags = IORING_CQE_F_BUFFER | IORING_CQE_F_MORE | (bid << IORING_CQE_BUFFER_SHIFT);
	zg__conn_on_recv(f->c, &cqe);
}

static void deliver_eof(struct fixture *f)
{
	struct io_uring_cqe cqe = { 0 };
	cqe.res = 0;
	zg__conn_on_recv(f->c, &cqe);
}

/* One dispatch pass, as the reactor does after a CQE batch. */
static void dispatch(struct fixture *f)
{
	zg__conns_run_ready(f->r);
}

static char *flatten(const struct zg_read_view *v)
{
	char *s = malloc(v->len + 1), *p = s;
	for (unsigned i = 0; i < v->nsegs; i++) {
		memcpy(p, v->segs[i].iov_base, v->segs[i].iov_len);
		p += v->segs[i].iov_len;
	}
	*p = 0;
	return s;
}

static void test_segments_across_buffers(void **state)
{
	struct fixture *f = *state;
	struct zg_read_view v;
	char *s;

	deliver(f, "GET / HT");
	deliver(f, "TP/1.1\r\n");
	deliver(f, "\r\n");
	zg_conn_read(f->c, &v);
	assert_int_equal(v.nsegs, 3);
	assert_int_equal(v.len, 18);
	assert_false(v.eof);
	s = flatten(&v);
	assert_string_equal(s, "GET / HTTP/1.1\r\n\r\n");
	free(s);
}

static void test_partial_advance_returns_buffers(void **state)
{
	struct fixture *f = *state;
	struct zg_read_view v;
	unsigned staged;
	char *s;

	deliver(f, "abc");
	deliver(f, "defgh");
	staged = f->r->buf.staged;
	assert_int_equal(zg_conn_advance(f->c, 4, 4), 0); /* "abc" + "d" */
	assert_int_equal(f->r->buf.staged, staged + 1); /* first buffer back */
	zg_conn_read(f->c, &v);
	assert_int_equal(v.nsegs, 1);
	s = flatten(&v);
	assert_string_equal(s, "efgh");
	free(s);
	assert_int_equal(zg_conn_advance(f->c, 4, 4), 0);
	assert_int_equal(f->r->buf.staged, staged + 2);
	zg_conn_read(f->c, &v);
	assert_int_equal(v.len, 0);
}

static void test_advance_rejects_bad_offsets(void **state)
{
	struct fixture *f = *state;

	deliver(f, "abcd");
	assert_int_equal(zg_conn_advance(f->c, 3, 2), -EINVAL);
	assert_int_equal(zg_conn_advance(f->c, 0, 5), -EINVAL);
	assert_int_equal(zg_conn_advance(f->c, 4, 4), 0);
}

/* The PipeReader rule: everything examined -> no callback until new
 * bytes; something unexamined -> called again. */
static void test_examined_without_consumed(void **state)
{
	struct fixture *f = *state;

	f->consume = 0;
	f->examine = 5;
	deliver(f, "hello");
	dispatch(f);
	assert_int_equal(f->data_calls, 1);
	dispatch(f); /* nothing new: no call */
	assert_int_equal(f->data_calls, 1);
	deliver(f, " world");
	dispatch(f);
	assert_int_equal(f->data_calls, 2);
	/* examined 5 of 11: the reactor calls again next iteration */
	dispatch(f);
	assert_int_equal(f->data_calls, 3);
}

static void test_no_advance_means_wait(void **state)
{
	struct fixture *f = *state;

	deliver(f, "partial");
	dispatch(f);
	dispatch(f);
	assert_int_equal(f->data_calls, 1);
	assert_int_equal(f->c->in_len, 7);
}

static void test_eof_delivered_then_closed(void **state)
{
	struct fixture *f = *state;
	struct zg_read_view v;

	f->use_all = false;
	deliver(f, "tail");
	deliver_eof(f);
	zg_conn_read(f->c, &v);
	assert_true(v.eof);
	assert_int_equal(v.len, 4);
	dispatch(f);
	assert_int_equal(f->data_calls, 1);
	/* input still held: the application may yet process it */
	assert_int_equal(f->c->state, CS_OPEN);
	/* once it is consumed the connection closes gracefully */
	assert_int_equal(zg_conn_advance(f->c, 4, 4), 0);
	assert_int_not_equal(f->c->state, CS_OPEN);
}

static void test_contig_in_place_and_copied(void **state)
{
	struct fixture *f = *state;
	const uint8_t *p;
	uint64_t before;

	deliver(f, "0123");
	deliver(f, "4567");
	before = f->r->st.compactions;
	assert_int_equal(zg_conn_contig(f->c, 4, &p), 0);
	assert_memory_equal(p, "0123", 4);
	assert_int_equal(f->r->st.compactions, before); /* in place */
	assert_int_equal(zg_conn_contig(f->c, 6, &p), 0);
	assert_memory_equal(p, "012345", 6);
	assert_int_equal(f->r->st.compactions, before + 1);
	/* only the view was copied: "67" stays in its ring buffer */
	assert_int_equal(f->c->nsegs, 2);
	assert_int_equal(f->c->in[0].iov_len, 6);
	assert_int_equal(f->c->in_bid[1] >= 0, 1);
	assert_int_equal(f->c->in[1].iov_len, 2);
	assert_int_equal(zg_conn_contig(f->c, 9, &p), -EINVAL);
	/* new bytes after a compaction follow the carry */
	deliver(f, "89");
	assert_int_equal(zg_conn_contig(f->c, 10, &p), 0);
	assert_memory_equal(p, "0123456789", 10);
}

/* More than compact_segs buffers kept past on_data: copied out, buffers
 * returned. Fresh input is not copied before the application saw it. */
static void test_compaction_frees_ring(void **state)
{
	struct fixture *f = *state;
	struct zg_read_view v;
	char *s;

	deliver(f, "a");
	deliver(f, "b");
	deliver(f, "c");
	deliver(f, "d");
	assert_int_equal(f->c->nsegs, 4);
	dispatch(f); /* on_data keeps it all */
	assert_int_equal(f->c->nsegs, 1);
	assert_int_equal(f->c->in_bid[0], -1);
	zg_conn_read(f->c, &v);
	s = flatten(&v);
	assert_string_equal(s, "abcd");
	free(s);
}

static void test_full_without_consuming_closes(void **state)
{
	struct fixture *f = *state;
	char big[201];

	memset(big, 'x', 200);
	big[200] = 0;
	for (int i = 0; i < 6; i++)
		deliver(f, big);
	assert_true(f->c->in_len >= 1024);
	dispatch(f);
	assert_int_equal(f->data_calls, 1);
	/* on_data took nothing although the input was full: -E2BIG */
	while (zg_reactor_run_once(f->r, 0) > 0 && !f->closes)
		;
	assert_int_equal(f->closes, 1);
	assert_int_equal(f->close_reason, -E2BIG);
}

/* zg_view_find over a view built by hand: hits in any segment, from
 * offsets inside, at and past segment ends, empty segments, no hit. */
static void test_view_find(void **state)
{
	char a[] = "ab\n", b[] = "", c[] = "cd", d[] = "e\nf";
	struct iovec iov[] = { { a, 3 }, { b, 0 }, { c, 2 }, { d, 3 } };
	struct zg_read_view v = { .segs = iov, .nsegs = 4, .len = 8 };
	struct zg_read_view none = { 0 };

	(void)state;
	assert_int_equal(zg_view_find(&v, 0, '\n'), 2);
	assert_int_equal(zg_view_find(&v, 2, '\n'), 2);
	assert_int_equal(zg_view_find(&v, 3, '\n'), 6);  /* next segments */
	assert_int_equal(zg_view_find(&v, 5, '\n'), 6);  /* from mid-segment */
	assert_int_equal(zg_view_find(&v, 7, '\n'), -1); /* only 'f' left */
	assert_int_equal(zg_view_find(&v, 8, '\n'), -1); /* at the end */
	assert_int_equal(zg_view_find(&v, 100, 'a'), -1); /* past the end */
	assert_int_equal(zg_view_find(&v, 1, 'a'), -1);
	assert_int_equal(zg_view_find(&v, 0, 'c'), 3);
	assert_int_equal(zg_view_find(&v, 4, 'd'), 4);
	assert_int_equal(zg_view_find(&v, 0, 'f'), 7);
	assert_int_equal(zg_view_find(&none, 0, 'x'), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_view_find),
		cmocka_unit_test_setup_teardown(test_segments_across_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_advance_returns_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_advance_rejects_bad_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_examined_without_consumed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_advance_means_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_delivered_then_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contig_in_place_and_copied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction_frees_ring, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_full_without_consuming_closes, setup_small, teardown),
	};
	unit_need_ring();
	return cmocka_run_group_tests_name("pipe_reader", tests, NULL, NULL);
}
