/* SPDX-License-Identifier: MIT */
/* zg_conn_write_ref: caller-owned buffers queued by reference between
 * copied writes (and zero-length references). The client receives the
 * exact interleaving; every release callback runs exactly once, on the
 * reactor thread, before on_close, in queue order; the application
 * scribbles over each buffer in its release callback, so a release that
 * came while the kernel still needed the bytes would corrupt what the
 * client receives. Also when the peer resets with megabytes of
 * references queued. Then the same with zc_threshold set (SEND_ZC),
 * skipped when the kernel lacks it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

#define NPARTS 16
#define COPY_LEN 100

struct app_conn;

struct ref {
	struct app_conn *owner;
	unsigned id;
	uint8_t *buf;
	size_t len;
};

struct app_conn {
	struct zg_conn *c;
	unsigned issued, released;
	unsigned order_errors, dup;
	int last_id;
	bool zc;
};

static atomic_uint conns_closed, unreleased_at_close, order_errors, wrong_thread, releases;
static pthread_t reactor_thread;
static size_t big_scale;

static void reactor_start(struct zg_reactor *r, void *udata)
{
	(void)r;
	(void)udata;
	reactor_thread = pthread_self();
}

/* Part i of a response: COPY_LEN copied bytes, then a reference of
 * ref_len(i) bytes (zero for every 4th). */
static size_t ref_len(unsigned i)
{
	if (i % 4 == 3)
		return 0;
	return (1000 + (size_t)i * 70000) * big_scale;
}

static void release(void *arg)
{
	struct ref *f = arg;
	struct app_conn *a = f->owner;

	if (!pthread_equal(pthread_self(), reactor_thread))
		atomic_fetch_add(&wrong_thread, 1);
	if ((int)f->id <= a->last_id)
		a->order_errors++;
	a->last_id = (int)f->id;
	a->released++;
	atomic_fetch_add(&releases, 1);
	/* the caller may reuse the bytes now: scribble, then free */
	if (f->len)
		memset(f->buf, 0xEE, f->len);
	free(f->buf);
	free(f);
}

static void on_open(struct zg_conn *c)
{
	struct app_conn *a = it_conn_alloc(c, sizeof(*a));

	a->c = c;
	a->last_id = -1;
}

static void respond(struct zg_conn *c, struct app_conn *a, uint64_t seed)
{
	size_t off = 0;

	for (unsigned i = 0; i < NPARTS; i++) {
		uint8_t copy[COPY_LEN];
		struct ref *f = calloc(1, sizeof(*f));
		size_t n = ref_len(i);

		IT_ASSERT(f);
		it_fill(copy, COPY_LEN, seed, off);
		IT_ASSERT(zg_conn_write(c, copy, COPY_LEN) == 0);
		off += COPY_LEN;
		f->owner = a;
		f->id = a->issued;
		f->len = n;
		f->buf = malloc(n ? n : 1);
		IT_ASSERT(f->buf);
		it_fill(f->buf, n, seed, off);
		off += n;
		IT_ASSERT(zg_conn_write_ref(c, f->buf, n, release, f) == 0);
		a->issued++;
	}
}

static void on_data(struct zg_conn *c)
{
	struct app_conn *a = zg_conn_udata(c);
	struct zg_read_view v;

	zg_conn_read(c, &v);
	for (size_t k = 0; k < v.len; k++)
		respond(c, a, a->issued);
	zg_conn_advance(c, v.len, v.len);
}

static void on_close(struct zg_conn *c, int reason)
{
	struct app_conn *a = zg_conn_udata(c);

	(void)reason;
	if (a->released != a->issued)
		atomic_fetch_add(&unreleased_at_close, a->issued - a->released);
	if (a->order_errors)
		atomic_fetch_add(&order_errors, a->order_errors);
	free(a);
	atomic_fetch_add(&conns_closed, 1);
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

static size_t response_len(void)
{
	size_t n = 0;
	for (unsigned i = 0; i < NPARTS; i++)
		n += COPY_LEN + ref_len(i);
	return n;
}

static struct zg_server *start(size_t zc_threshold, size_t scale)
{
	struct zg_server_config cfg;

	big_scale = scale;
	atomic_store(&conns_closed, 0);
	atomic_store(&unreleased_at_close, 0);
	atomic_store(&order_errors, 0);
	atomic_store(&wrong_thread, 0);
	atomic_store(&releases, 0);
	it_server_config(&cfg, 1);
	cfg.reactor.zc_threshold = zc_threshold;
	cfg.on_reactor_start = reactor_start;
	return it_server_start(&cfg, &handler, NULL);
}

static void finish(struct zg_server *s, unsigned nconns, bool check_order)
{
	assert_true(IT_WAIT(atomic_load(&conns_closed) == nconns, 10000));
	assert_int_equal(atomic_load(&unreleased_at_close), 0);
	assert_int_equal(atomic_load(&wrong_thread), 0);
	if (check_order)
		assert_int_equal(atomic_load(&order_errors), 0);
	else if (atomic_load(&order_errors))
		print_message("note: %u releases out of queue order with SEND_ZC\n",
			      atomic_load(&order_errors));
	it_server_end(s);
}

/* Two responses on one connection: bytes exact, all released. */
static void exchange(struct zg_server *s)
{
	size_t n = response_len();
	uint8_t *in = malloc(n);
	int fd = it_connect(zg_server_port(s));

	assert_non_null(in);
	assert_true(fd >= 0);
	for (unsigned k = 0; k < 2; k++) {
		ssize_t got;
		size_t bad;
		assert_int_equal(it_send_all(fd, "r", 1, 5000), 0);
		got = it_recv_exact(fd, in, n, 20000);
		assert_int_equal(got, (ssize_t)n);
		bad = it_check(in, n, k * NPARTS, 0);
		if (bad != n)
			fail_msg("response %u: byte %zu of %zu wrong (0x%02x)%s", k, bad, n, in[bad],
				 in[bad] == 0xEE ? ": a buffer released too early was overwritten" : "");
	}
	/* every reference of both responses has been released by now or
	 * will be before on_close */
	close(fd);
	free(in);
}

static void test_write_ref_plain(void **state)
{
	struct zg_server *s = start(0, 1);

	(void)state;
	exchange(s);
	finish(s, 1, true);
	assert_int_equal(atomic_load(&releases), 2 * NPARTS);
}

/* 10 connections ask for two responses each and reset after 1000 bytes,
 * with megabytes of references still queued. */
static void resets(struct zg_server *s)
{
	for (unsigned k = 0; k < 10; k++) {
		int fd = it_connect(zg_server_port(s));
		uint8_t b[1000];
		assert_true(fd >= 0);
		assert_int_equal(it_send_all(fd, "rr", 2, 5000), 0);
		assert_int_equal(it_recv_exact(fd, b, sizeof(b), 5000), (ssize_t)sizeof(b));
		it_close_rst(fd);
	}
}

/* The peer resets while megabytes of references are queued: all are
 * released once, before on_close. */
static void test_write_ref_reset(void **state)
{
	struct zg_server *s = start(0, 4);

	(void)state;
	resets(s);
	finish(s, 10, true);
	assert_int_equal(atomic_load(&releases), 10 * 2 * NPARTS);
}

static void test_write_ref_zero_copy(void **state)
{
	struct zg_server *s;
	struct zg_reactor_stats st;

	(void)state;
	s = start(64 * 1024, 1);
	exchange(s);
	/* large refs went out with SEND_ZC: sends were made */
	assert_int_equal(it_server_stats(s, &st, NULL), 0);
	assert_true(st.sends > 0);
	finish(s, 1, false);
	assert_int_equal(atomic_load(&releases), 2 * NPARTS);
}

static void test_write_ref_zero_copy_reset(void **state)
{
	struct zg_server *s;

	(void)state;
	s = start(64 * 1024, 4);
	resets(s);
	finish(s, 10, false);
	assert_int_equal(atomic_load(&releases), 10 * 2 * NPARTS);
}

/* zg_reactor_free with connections still open (a reactor never run):
 * no on_close, but every pending reference is released, once. */
static unsigned freed_releases;
static struct zg_conn *lone_conn;

static void lone_release(void *arg)
{
	(void)arg;
	freed_releases++;
}

static void lone_open(struct zg_conn *c) { lone_conn = c; }

static void lone_close(struct zg_conn *c, int reason)
{
	(void)c;
	(void)reason;
	fail_msg("on_close called from zg_reactor_free");
}

static void test_free_releases_pending_refs(void **state)
{
	static uint8_t blob[1u << 20];
	struct zg_reactor_config cfg;
	struct zg_handler h = { .on_open = lone_open, .on_close = lone_close };
	struct zg_reactor *r;
	int sv[2];

	(void)state;
	freed_releases = 0;
	it_reactor_config(&cfg);
	assert_int_equal(zg_reactor_new(&cfg, &h, NULL, &r), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(zg_reactor_adopt(r, sv[0]), 0);
	assert_non_null(lone_conn);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(zg_conn_write_ref(lone_conn, blob, sizeof(blob), lone_release, NULL), 0);
	assert_int_equal(zg_conn_write_ref(lone_conn, NULL, 0, lone_release, NULL), 0);
	assert_int_equal(freed_releases, 0);
	zg_reactor_free(r);
	assert_int_equal(freed_releases, 6);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_ref_plain),
		cmocka_unit_test(test_write_ref_reset),
		cmocka_unit_test(test_write_ref_zero_copy),
		cmocka_unit_test(test_write_ref_zero_copy_reset),
		cmocka_unit_test(test_free_releases_pending_refs),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
