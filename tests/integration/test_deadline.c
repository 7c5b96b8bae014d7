/* SPDX-License-Identifier: MIT */
/* zg_conn_set_deadline and zg_conn_set_timeout.
 *  - a peer trickling a byte every 20 ms (progress, so an idle timeout
 *    would never fire; the idle timeout is off anyway) is closed at its
 *    500 ms deadline with -ETIMEDOUT;
 *  - a deadline removed (0) no longer fires: that connection outlives a
 *    later deadline on another one;
 *  - a per-connection idle timeout (zg_conn_set_timeout) replaces the
 *    reactor's: a silent peer is closed with -ETIMEDOUT, while one that
 *    trickles faster than the timeout stays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

/* The first byte a client sends picks what the server does:
 *  'D' deadline 500 ms;  'd' deadline 300 ms, then removed;
 *  'T' idle timeout 300 ms;  anything else: nothing. */
struct rec {
	uint16_t port;
	int reason;
	uint64_t bytes;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct rec recs[16];
static unsigned nrecs;
static atomic_uint closes;

struct app_conn {
	uint16_t port;
	uint64_t bytes;
	bool set;
};

static void on_open(struct zg_conn *c)
{
	struct app_conn *a = it_conn_alloc(c, sizeof(*a));

	a->port = it_peer_port(c);
}

static void on_data(struct zg_conn *c)
{
	struct app_conn *a = zg_conn_udata(c);
	struct zg_read_view v;

	zg_conn_read(c, &v);
	if (!a->set && v.len) {
		char m = ((const char *)v.segs[0].iov_base)[0];
		a->set = true;
		if (m == 'D') {
			zg_conn_set_deadline(c, 500);
		} else if (m == 'd') {
			zg_conn_set_deadline(c, 300);
			zg_conn_set_deadline(c, 0);
		} else if (m == 'T') {
			zg_conn_set_timeout(c, 300);
		}
	}
	a->bytes += v.len;
	zg_conn_advance(c, v.len, v.len);
}

static void on_close(struct zg_conn *c, int reason)
{
	struct app_conn *a = zg_conn_udata(c);

	pthread_mutex_lock(&lock);
	if (nrecs < 16)
		recs[nrecs++] = (struct rec){ a->port, reason, a->bytes };
	pthread_mutex_unlock(&lock);
	free(a);
	atomic_fetch_add(&closes, 1);
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

/* What on_close recorded for the client on local port `port`. */
static bool find(uint16_t port, struct rec *out)
{
	bool found = false;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nrecs; i++)
		if (recs[i].port == port) {
			*out = recs[i];
			found = true;
		}
	pthread_mutex_unlock(&lock);
	return found;
}

static struct zg_server *start(void)
{
	struct zg_server_config cfg;

	nrecs = 0;
	atomic_store(&closes, 0);
	it_server_config(&cfg, 1);
	cfg.reactor.idle_timeout_ms = 0; /* only what the test sets */
	return it_server_start(&cfg, &handler, NULL);
}

/* A peer that sends its mode byte, then one byte every interval until
 * the server closes (or `until` is set). */
struct trickler {
	int fd;
	uint16_t port;
	char mode;
	unsigned interval_ms;
	atomic_bool until;
	atomic_bool ended; /* the server closed: EOF, reset or EPIPE */
	atomic_uint sent;
	pthread_t t;
};

static void *trickle_main(void *arg)
{
	struct trickler *k = arg;
	char b[64];

	if (send(k->fd, &k->mode, 1, MSG_NOSIGNAL) != 1) {
		atomic_store(&k->ended, true);
		return NULL;
	}
	while (!atomic_load(&k->until)) {
		ssize_t n = recv(k->fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN) ||
		    send(k->fd, "t", 1, MSG_NOSIGNAL) != 1) {
			atomic_store(&k->ended, true);
			break;
		}
		atomic_fetch_add(&k->sent, 1);
		it_nap_us((long)k->interval_ms * 1000); /* pacing, not synchronization */
	}
	return NULL;
}

static void trickle_start(struct trickler *k, uint16_t port, char mode, unsigned interval_ms)
{
	memset(k, 0, sizeof(*k));
	k->fd = it_connect(port);
	assert_true(k->fd >= 0);
	k->port = it_local_port(k->fd);
	k->mode = mode;
	k->interval_ms = interval_ms;
	assert_int_equal(pthread_create(&k->t, NULL, trickle_main, k), 0);
}

static void trickle_end(struct trickler *k)
{
	atomic_store(&k->until, true);
	pthread_join(k->t, NULL);
	close(k->fd);
}

static void test_deadline_closes_trickler(void **state)
{
	struct zg_server *s = start();
	struct trickler k;
	struct rec r;

	(void)state;
	trickle_start(&k, zg_server_port(s), 'D', 20);
	if (!IT_WAIT(atomic_load(&closes) == 1, 10000))
		fail_msg("a trickling peer was not closed 10 s after a 500 ms deadline");
	assert_true(IT_WAIT(atomic_load(&k.ended), 5000)); /* the peer sees it */
	assert_true(find(k.port, &r));
	assert_int_equal(r.reason, -ETIMEDOUT);
	assert_true(r.bytes >= 2); /* it did make progress */
	trickle_end(&k);
	it_server_end(s);
}

static void test_deadline_removed(void **state)
{
	struct zg_server *s = start();
	struct trickler removed, kept;
	struct rec r;

	(void)state;
	trickle_start(&removed, zg_server_port(s), 'd', 20);
	/* once the first connection's (removed) 300 ms deadline was set... */
	assert_true(IT_WAIT(atomic_load(&removed.sent) > 0, 5000));
	/* ...a second one gets a 500 ms deadline, which passes later */
	trickle_start(&kept, zg_server_port(s), 'D', 20);
	assert_true(IT_WAIT(atomic_load(&closes) == 1, 10000));
	assert_true(find(kept.port, &r));
	assert_int_equal(r.reason, -ETIMEDOUT);
	if (find(removed.port, &r))
		fail_msg("the connection whose deadline was removed closed too (%s, %llu bytes)",
			 zg_strerror(r.reason), (unsigned long long)r.bytes);
	assert_false(atomic_load(&removed.ended));
	trickle_end(&kept);
	trickle_end(&removed);
	assert_true(IT_WAIT(atomic_load(&closes) == 2, 5000));
	assert_true(find(removed.port, &r));
	assert_int_equal(r.reason, 0);
	it_server_end(s);
}

static void test_per_connection_timeout(void **state)
{
	struct zg_server *s = start();
	struct trickler busy;
	int silent;
	struct rec r;

	(void)state;
	/* busy: timeout 300 ms, a byte every 10 ms */
	trickle_start(&busy, zg_server_port(s), 'T', 10);
	/* silent: sends its mode byte, then nothing */
	silent = it_connect(zg_server_port(s));
	assert_true(silent >= 0);
	assert_int_equal(it_send_all(silent, "T", 1, 1000), 0);
	if (!IT_WAIT(atomic_load(&closes) == 1, 10000))
		fail_msg("a silent peer was not closed 10 s after a 300 ms zg_conn_set_timeout");
	assert_true(find(it_local_port(silent), &r));
	assert_int_equal(r.reason, -ETIMEDOUT);
	assert_false(find(busy.port, &r));
	trickle_end(&busy);
	close(silent);
	assert_true(IT_WAIT(atomic_load(&closes) == 2, 5000));
	it_server_end(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadline_closes_trickler),
		cmocka_unit_test(test_deadline_removed),
		cmocka_unit_test(test_per_connection_timeout),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
