/* SPDX-License-Identifier: MIT */
/* ZG_ACCEPT_ONE with 2 threads: reactor 0 accepts and hands connections
 * out; both reactors get some (counted in on_open by zg_reactor_id),
 * each runs its connections' callbacks on its own thread, all echo
 * correctly, the per-reactor zg_reactor_conn_count agrees. A stop during
 * a connection storm leaks no fd. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

#define NCONN 200

static atomic_uint per_reactor[2], closes, wrong_thread;
static pthread_t tids[2];

static void reactor_start(struct zg_reactor *r, void *udata)
{
	(void)udata;
	IT_ASSERT(zg_reactor_id(r) < 2);
	tids[zg_reactor_id(r)] = pthread_self();
}

static void on_open(struct zg_conn *c)
{
	unsigned id = zg_reactor_id(zg_conn_reactor(c));

	IT_ASSERT(id < 2);
	if (!pthread_equal(pthread_self(), tids[id]))
		atomic_fetch_add(&wrong_thread, 1);
	atomic_fetch_add(&per_reactor[id], 1);
}

static void on_data(struct zg_conn *c)
{
	unsigned id = zg_reactor_id(zg_conn_reactor(c));

	if (!pthread_equal(pthread_self(), tids[id]))
		atomic_fetch_add(&wrong_thread, 1);
	it_echo_on_data(c);
}

static void on_close(struct zg_conn *c, int reason)
{
	(void)c;
	(void)reason;
	atomic_fetch_add(&closes, 1);
}

static const struct zg_handler handler = {
	.on_open = on_open, .on_data = on_data, .on_close = on_close,
};

static struct zg_server *start(void)
{
	struct zg_server_config cfg;

	it_server_config(&cfg, 2);
	cfg.accept_mode = ZG_ACCEPT_ONE;
	cfg.on_reactor_start = reactor_start;
	atomic_store(&per_reactor[0], 0);
	atomic_store(&per_reactor[1], 0);
	atomic_store(&closes, 0);
	atomic_store(&wrong_thread, 0);
	return it_server_start(&cfg, &handler, NULL);
}

static void test_accept_one_spreads(void **state)
{
	struct zg_server *s = start();
	int fds[NCONN];
	unsigned n0, n1;
	struct zg_reactor_stats st;
	struct zg_reactor_config rc;

	(void)state;
	for (unsigned i = 0; i < NCONN; i++) {
		uint8_t out[100], in[100];
		fds[i] = it_connect(zg_server_port(s));
		assert_true(fds[i] >= 0);
		it_fill(out, sizeof(out), i, 0);
		assert_int_equal(it_exchange(fds[i], out, sizeof(out), in, sizeof(in), false, 5000),
				 (ssize_t)sizeof(in));
		assert_memory_equal(in, out, sizeof(in));
	}
	n0 = atomic_load(&per_reactor[0]);
	n1 = atomic_load(&per_reactor[1]);
	print_message("reactor 0: %u connections, reactor 1: %u\n", n0, n1);
	assert_int_equal(n0 + n1, NCONN);
	assert_true(n0 > 0);
	assert_true(n1 > 0);
	assert_int_equal(atomic_load(&wrong_thread), 0);
	/* every one held open: each reactor counts its own */
	{
		unsigned c0, c1;
		assert_int_equal(it_query(zg_server_reactor(s, 0), NULL, NULL, &st, &c0), 0);
		assert_int_equal(it_query(zg_server_reactor(s, 1), NULL, NULL, NULL, &c1), 0);
		assert_int_equal(c0, n0);
		assert_int_equal(c1, n1);
	}
	for (unsigned i = 0; i < NCONN; i++)
		close(fds[i]);
	assert_true(IT_WAIT(atomic_load(&closes) == NCONN, 10000));
	zg_reactor_config_init(&rc);
	assert_true(IT_WAIT(it_server_quiescent(s, rc.buf_count, &st), 10000));
	assert_int_equal(st.accepted, NCONN);
	it_server_end(s);
}

static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

struct storm {
	uint16_t port;
	atomic_bool stop;
};

static void *storm_main(void *arg)
{
	struct storm *a = arg;

	while (!atomic_load(&a->stop)) {
		int fd = it_connect(a->port);
		if (fd < 0)
			break; /* refused: the server is gone */
		(void)send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
	}
	return NULL;
}

/* Hand-offs race with the stop; the server's fds all close (the test's
 * client fds are closed by the storm itself). */
static void test_accept_one_stop_during_storm(void **state)
{
	unsigned before = count_fds(), after;

	(void)state;
	for (unsigned round = 0; round < 20; round++) {
		struct zg_server *s = start();
		struct storm a = { .port = zg_server_port(s) };
		pthread_t t[2];

		for (unsigned i = 0; i < 2; i++)
			assert_int_equal(pthread_create(&t[i], NULL, storm_main, &a), 0);
		assert_true(IT_WAIT(atomic_load(&per_reactor[1]) > 20, 10000));
		zg_server_stop(s, 200);
		assert_int_equal(zg_server_wait(s), 0);
		atomic_store(&a.stop, true);
		for (unsigned i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		zg_server_free(s);
	}
	after = count_fds();
	if (after != before)
		fail_msg("%u fds open before, %u after 20 start/storm/stop rounds", before, after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_one_spreads),
		cmocka_unit_test(test_accept_one_stop_during_storm),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
