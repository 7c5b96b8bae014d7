/* SPDX-License-Identifier: MIT */
/* Provided-buffer ring exhaustion: a reactor with 8 buffers of 256 bytes,
 * 16 clients streaming at once, and an application that holds its input
 * (examines it but consumes nothing) for 25 ms out of every 50. The ring
 * runs dry (stats.enobufs > 0), receives stall and resume, no connection
 * is reset, and every byte comes back in order. Run with the default
 * compaction threshold (never reached with 8 buffers: held input leaves
 * the ring because the ring runs low) and with compact_segs 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

#define NCLIENTS 16
#define STREAM (256u * 1024)
#define MAXC 64

static struct zg_conn *conns[MAXC];
static unsigned nconns;
static bool hold;
static struct zg_timer *ticker;
static atomic_uint closes, bad_reasons;
static _Atomic int last_bad;

static void echo_all(struct zg_conn *c)
{
	struct zg_read_view v;

	zg_conn_read(c, &v);
	for (unsigned i = 0; i < v.nsegs; i++)
		IT_ASSERT(zg_conn_write(c, v.segs[i].iov_base, v.segs[i].iov_len) == 0);
	IT_ASSERT(zg_conn_advance(c, v.len, v.len) == 0);
}

static void on_open(struct zg_conn *c)
{
	IT_ASSERT(nconns < MAXC);
	conns[nconns++] = c;
}

static void on_data(struct zg_conn *c)
{
	struct zg_read_view v;

	if (!hold) {
		echo_all(c);
		return;
	}
	/* hold everything: its ring buffers stay with the connection */
	zg_conn_read(c, &v);
	if (v.eof) {
		echo_all(c);
		return;
	}
	IT_ASSERT(zg_conn_advance(c, 0, v.len) == 0);
}

static void on_close(struct zg_conn *c, int reason)
{
	for (unsigned i = 0; i < nconns; i++)
		if (conns[i] == c) {
			conns[i] = conns[--nconns];
			break;
		}
	if (reason) {
		atomic_store(&last_bad, reason);
		atomic_fetch_add(&bad_reasons, 1);
	}
	atomic_fetch_add(&closes, 1);
}

/* Every 25 ms: toggle holding; when the hold ends, process what every
 * connection holds (outside on_data, from a timer: allowed on the
 * reactor thread). */
static void tick(struct zg_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	hold = !hold;
	if (!hold)
		for (unsigned i = 0; i < nconns; i++)
			echo_all(conns[i]);
}

static void reactor_start(struct zg_reactor *r, void *udata)
{
	(void)udata;
	IT_ASSERT(zg_timer_new(r, tick, NULL, &ticker) == 0);
	zg_timer_start(ticker, 25, 25);
}

static void reactor_stop(struct zg_reactor *r, void *udata)
{
	(void)r;
	(void)udata;
	zg_timer_free(ticker);
	ticker = NULL;
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

struct cli {
	uint16_t port;
	unsigned id;
	int err;
	ssize_t got;
};

static void *client(void *arg)
{
	struct cli *a = arg;
	uint8_t *out = malloc(STREAM), *in = malloc(STREAM);
	int fd = it_connect(a->port);

	if (fd < 0 || !out || !in) {
		a->err = fd < 0 ? fd : -ENOMEM;
		goto out;
	}
	it_fill(out, STREAM, a->id, 0);
	a->got = it_exchange(fd, out, STREAM, in, STREAM, true, 30000);
	if (a->got != (ssize_t)STREAM)
		a->err = a->got < 0 ? (int)a->got : -EPROTO;
	else if (it_check(in, STREAM, a->id, 0) != STREAM)
		a->err = -EBADMSG;
	else
		a->err = it_expect_eof(fd, 10000);
out:
	if (fd >= 0)
		close(fd);
	free(out);
	free(in);
	return NULL;
}

static void exhaust(unsigned compact_segs)
{
	struct zg_server_config cfg;
	struct zg_server *s;
	struct zg_reactor_stats st;
	pthread_t t[NCLIENTS];
	struct cli a[NCLIENTS];

	nconns = 0;
	hold = true; /* the first 25 ms hold everything */
	atomic_store(&closes, 0);
	atomic_store(&bad_reasons, 0);
	it_server_config(&cfg, 1);
	cfg.reactor.buf_count = 8;
	cfg.reactor.buf_size = 256;
	cfg.reactor.compact_segs = compact_segs;
	cfg.on_reactor_start = reactor_start;
	cfg.on_reactor_stop = reactor_stop;
	s = it_server_start(&cfg, &handler, NULL);

	for (unsigned i = 0; i < NCLIENTS; i++) {
		a[i] = (struct cli){ zg_server_port(s), i + compact_segs * 100, 0, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, client, &a[i]), 0);
	}
	for (unsigned i = 0; i < NCLIENTS; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < NCLIENTS; i++)
		if (a[i].err)
			fail_msg("client %u: %s (got %zd of %u bytes)", i, strerror(-a[i].err),
				 a[i].got, STREAM);

	assert_true(IT_WAIT(atomic_load(&closes) == NCLIENTS, 10000));
	if (atomic_load(&bad_reasons))
		fail_msg("%u connections closed with an error, e.g. %s",
			 atomic_load(&bad_reasons), zg_strerror(atomic_load(&last_bad)));
	/* all 8 buffers back in the ring, nothing open */
	assert_true(IT_WAIT(it_server_quiescent(s, 8, &st), 10000));
	print_message("compact_segs %u: enobufs %llu, compactions %llu\n", compact_segs,
		      (unsigned long long)st.enobufs, (unsigned long long)st.compactions);
	assert_true(st.enobufs > 0);
	assert_true(st.compactions > 0); /* held input left the ring */
	assert_int_equal(st.accepted, NCLIENTS);
	assert_int_equal(st.closed, NCLIENTS);
	it_server_end(s);
}

static void test_exhaustion_default_compaction(void **state) { (void)state; exhaust(16); }
static void test_exhaustion_with_compaction(void **state) { (void)state; exhaust(2); }

/* ---- a holder cannot keep the ring from the others ------------------
 * A lone reactor (driven here with run_once) with a 4-buffer ring. H
 * sends 1 KiB, enough to fill the whole ring, and the application holds
 * it (examined, not consumed) as a parser waiting for the rest of a
 * message would. Held input leaves a low ring, so the buffers come back at
 * once; then 8 idle connections arrive and D with 13 bytes: D is echoed
 * while H still holds its input, and H's bytes come back, in order, once
 * the application consumes them. (Before held input left a low ring, H
 * kept all 4 buffers, the idle connections and D were parked on the empty
 * ring, and D was served only after H let go; the re-arming of parked
 * connections, oldest first, is exercised by the tests above.) */
struct lone {
	struct zg_conn *conns[16];
	unsigned opens;
};

static void lone_open(struct zg_conn *c)
{
	struct lone *l = zg_reactor_udata(zg_conn_reactor(c));
	IT_ASSERT(l->opens < 16);
	l->conns[l->opens++] = c;
}

static void lone_data(struct zg_conn *c)
{
	struct lone *l = zg_reactor_udata(zg_conn_reactor(c));
	struct zg_read_view v;

	zg_conn_read(c, &v);
	if (c == l->conns[0])
		zg_conn_advance(c, 0, v.len); /* H: hold */
	else
		it_echo_on_data(c);
}

#define LONE_BUFS 4
#define H_BYTES 1024 /* enough to fill the whole ring */

/* H's whole input is held, out of the ring (every buffer free again). */
static bool holder_settled(struct zg_reactor *r, struct lone *l, struct zg_reactor_stats *st,
			   struct zg_read_view *v)
{
	zg_reactor_stats(r, st);
	v->len = 0;
	if (l->opens)
		zg_conn_read(l->conns[0], v);
	return v->len == H_BYTES && st->bufs_free == LONE_BUFS;
}

static void test_holder_leaves_the_ring(void **state)
{
	struct zg_reactor_config cfg;
	struct zg_handler h = { .on_open = lone_open, .on_data = lone_data };
	struct lone l = { 0 };
	struct zg_reactor *r;
	struct zg_reactor_stats st;
	struct zg_read_view v;
	struct sockaddr_storage ss;
	socklen_t sl = it_addr(AF_INET, 0, &ss);
	uint16_t port;
	int hfd, idle[8], dfd;
	uint8_t hbuf[H_BYTES], back[H_BYTES], b[16];

	(void)state;
	it_reactor_config(&cfg);
	cfg.buf_count = LONE_BUFS;
	cfg.buf_size = 256;
	assert_int_equal(zg_reactor_new(&cfg, &h, &l, &r), 0);
	assert_int_equal(zg_reactor_listen(r, (struct sockaddr *)&ss, sl, 0, 0, &port), 0);

	hfd = it_connect(port);
	assert_true(hfd >= 0);
	it_fill(hbuf, sizeof(hbuf), 1, 0);
	assert_int_equal(it_send_all(hfd, hbuf, sizeof(hbuf), 1000), 0);
	IT_PUMP(r, holder_settled(r, &l, &st, &v));
	print_message("H holds %zu bytes: compactions %llu, buffers free %u\n", v.len,
		      (unsigned long long)st.compactions, st.bufs_free);
	assert_int_equal(v.len, sizeof(hbuf));
	assert_int_equal(st.bufs_free, LONE_BUFS); /* none of them held by H */
	assert_true(st.compactions > 0);

	for (unsigned i = 0; i < 8; i++) {
		idle[i] = it_connect(port);
		assert_true(idle[i] >= 0);
	}
	dfd = it_connect(port);
	assert_true(dfd >= 0);
	assert_int_equal(it_send_all(dfd, "thirteen byte", 13, 1000), 0);
	if (it_pump_recv(r, dfd, b, 13) != 13)
		fail_msg("D's 13 bytes did not come back within 5 s while H held its input");
	assert_memory_equal(b, "thirteen byte", 13);

	/* consume H's input (on the reactor's thread, between calls) */
	zg_conn_read(l.conns[0], &v);
	assert_int_equal(v.len, sizeof(hbuf));
	for (unsigned i = 0; i < v.nsegs; i++)
		assert_int_equal(zg_conn_write(l.conns[0], v.segs[i].iov_base, v.segs[i].iov_len), 0);
	assert_int_equal(zg_conn_advance(l.conns[0], v.len, v.len), 0);
	assert_int_equal(it_pump_recv(r, hfd, back, sizeof(back)), sizeof(back));
	assert_memory_equal(back, hbuf, sizeof(hbuf));

	close(hfd);
	close(dfd);
	for (unsigned i = 0; i < 8; i++)
		close(idle[i]);
	it_reactor_end(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exhaustion_default_compaction),
		cmocka_unit_test(test_exhaustion_with_compaction),
		cmocka_unit_test(test_holder_leaves_the_ring),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
