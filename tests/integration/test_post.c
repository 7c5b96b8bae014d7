/* SPDX-License-Identifier: MIT */
/* zg_reactor_post: 8 threads post at full rate to one reactor; every
 * post runs exactly once, on the reactor's thread. An idle reactor wakes
 * for each post (ping-pong, no lost wake-ups); a post from a post runs
 * too; posting to a stopped reactor fails with -ESHUTDOWN and every post
 * that was accepted runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

#define NPOSTERS 8
#define PER_POSTER 25000

/* A lone reactor on its own thread: created there (SINGLE_ISSUER), run
 * until stopped, then freed only when the test says so. */
struct rthread {
	pthread_t tid;
	struct zg_reactor *_Atomic r;
	atomic_bool ran;      /* zg_reactor_run returned */
	atomic_bool may_free;
	int run_ret;
};

static void *reactor_main(void *arg)
{
	struct rthread *t = arg;
	struct zg_reactor *r;

	struct zg_reactor_config cfg;

	it_reactor_config(&cfg);
	IT_ASSERT(zg_reactor_new(&cfg, NULL, t, &r) == 0);
	atomic_store(&t->r, r);
	t->run_ret = zg_reactor_run(r);
	atomic_store(&t->ran, true);
	while (!atomic_load(&t->may_free))
		it_nap_us(200);
	zg_reactor_free(r);
	return NULL;
}

static struct zg_reactor *rthread_start(struct rthread *t)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(pthread_create(&t->tid, NULL, reactor_main, t), 0);
	assert_true(IT_WAIT(atomic_load(&t->r) != NULL, 5000));
	return atomic_load(&t->r);
}

static void rthread_stop(struct rthread *t)
{
	zg_reactor_stop(atomic_load(&t->r), 0);
	assert_true(IT_WAIT(atomic_load(&t->ran), 5000));
	assert_int_equal(t->run_ret, 0);
	atomic_store(&t->may_free, true);
	pthread_join(t->tid, NULL);
}

/* ---- 8 posters ------------------------------------------------------ */

static uint8_t *runs;          /* per post, written on the reactor thread */
static pthread_t reactor_tid;
static atomic_uint total_runs, wrong_thread;

static void count_post(void *arg)
{
	uintptr_t i = (uintptr_t)arg;

	if (!pthread_equal(pthread_self(), reactor_tid))
		atomic_fetch_add(&wrong_thread, 1);
	runs[i]++;
	atomic_fetch_add_explicit(&total_runs, 1, memory_order_release);
}

struct poster {
	struct zg_reactor *r;
	unsigned id;
	unsigned failed;
};

static void *poster_main(void *arg)
{
	struct poster *p = arg;

	for (unsigned k = 0; k < PER_POSTER; k++) {
		uintptr_t i = (uintptr_t)p->id * PER_POSTER + k;
		if (zg_reactor_post(p->r, count_post, (void *)i))
			p->failed++;
	}
	return NULL;
}

static void test_post_8_threads(void **state)
{
	struct rthread t;
	struct zg_reactor *r = rthread_start(&t);
	pthread_t th[NPOSTERS];
	struct poster p[NPOSTERS];
	unsigned n = NPOSTERS * PER_POSTER;

	(void)state;
	reactor_tid = t.tid;
	runs = calloc(n, 1);
	assert_non_null(runs);
	atomic_store(&total_runs, 0);
	atomic_store(&wrong_thread, 0);
	for (unsigned i = 0; i < NPOSTERS; i++) {
		p[i] = (struct poster){ r, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, poster_main, &p[i]), 0);
	}
	for (unsigned i = 0; i < NPOSTERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(p[i].failed, 0);
	}
	assert_true(IT_WAIT(atomic_load(&total_runs) >= n, 20000));
	rthread_stop(&t);
	assert_int_equal(atomic_load(&total_runs), n);
	assert_int_equal(atomic_load(&wrong_thread), 0);
	for (unsigned i = 0; i < n; i++)
		if (runs[i] != 1)
			fail_msg("post %u ran %u times", i, runs[i]);
	free(runs);
}

/* ---- ping-pong: an idle reactor wakes for every post ---------------- */

static atomic_uint pongs;

static void pong(void *arg)
{
	(void)arg;
	atomic_fetch_add(&pongs, 1);
}

static void test_post_wakes_idle_reactor(void **state)
{
	struct rthread t;
	struct zg_reactor *r = rthread_start(&t);

	(void)state;
	atomic_store(&pongs, 0);
	for (unsigned i = 1; i <= 3000; i++) {
		assert_int_equal(zg_reactor_post(r, pong, NULL), 0);
		/* nothing else would wake it: no timers, no sockets */
		if (!IT_WAIT(atomic_load(&pongs) == i, 5000))
			fail_msg("post %u not run within 5 s: lost wake-up", i);
	}
	rthread_stop(&t);
}

/* ---- a post from a post --------------------------------------------- */

static atomic_uint chain;

static void chained(void *arg)
{
	struct zg_reactor *r = arg;

	if (atomic_fetch_add(&chain, 1) + 1 < 100)
		IT_ASSERT(zg_reactor_post(r, chained, r) == 0);
}

static void test_post_from_post(void **state)
{
	struct rthread t;
	struct zg_reactor *r = rthread_start(&t);

	(void)state;
	atomic_store(&chain, 0);
	assert_int_equal(zg_reactor_post(r, chained, r), 0);
	assert_true(IT_WAIT(atomic_load(&chain) == 100, 5000));
	rthread_stop(&t);
	assert_int_equal(atomic_load(&chain), 100);
}

/* ---- stopped reactors refuse posts ---------------------------------- */

static atomic_uint late_runs;

static void late(void *arg)
{
	(void)arg;
	atomic_fetch_add(&late_runs, 1);
}

/* The header: "Returns -ESHUTDOWN once the reactor has stopped; fn is
 * then not called." A post made after zg_reactor_run has returned (the
 * reactor is stopped but not yet freed) must fail, or its fn (and the
 * resources it would release) is silently lost. */
static void test_post_after_stop_fails(void **state)
{
	struct rthread t;
	struct zg_reactor *r = rthread_start(&t);
	int ret;

	(void)state;
	atomic_store(&late_runs, 0);
	zg_reactor_stop(r, 0);
	assert_true(IT_WAIT(atomic_load(&t.ran), 5000));
	ret = zg_reactor_post(r, late, NULL);
	atomic_store(&t.may_free, true);
	pthread_join(t.tid, NULL);
	if (ret == 0)
		fail_msg("zg_reactor_post on a stopped reactor returned 0 and fn ran %u times",
			 atomic_load(&late_runs));
	assert_int_equal(ret, -ESHUTDOWN);
	assert_int_equal(atomic_load(&late_runs), 0);
}

/* Posters race with a stop: every post that returned 0 must run. */
struct racer {
	struct zg_reactor *r;
	unsigned ok;
	atomic_bool *go;
};

static void *racer_main(void *arg)
{
	struct racer *a = arg;

	while (!atomic_load(a->go))
		;
	for (unsigned k = 0; k < 200000; k++) {
		int ret = zg_reactor_post(a->r, late, NULL);
		if (ret == -ESHUTDOWN)
			break;
		if (ret == 0)
			a->ok++;
	}
	return NULL;
}

static void test_post_racing_stop(void **state)
{
	struct rthread t;
	struct zg_reactor *r = rthread_start(&t);
	pthread_t th[4];
	struct racer a[4];
	atomic_bool go = false;
	unsigned ok = 0;

	(void)state;
	atomic_store(&late_runs, 0);
	for (unsigned i = 0; i < 4; i++) {
		a[i] = (struct racer){ r, 0, &go };
		assert_int_equal(pthread_create(&th[i], NULL, racer_main, &a[i]), 0);
	}
	atomic_store(&go, true);
	assert_true(IT_WAIT(atomic_load(&late_runs) > 1000, 5000));
	zg_reactor_stop(r, 0);
	assert_true(IT_WAIT(atomic_load(&t.ran), 5000));
	/* the posters stop at their first -ESHUTDOWN (or after 200000) */
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ok += a[i].ok;
	}
	atomic_store(&t.may_free, true);
	pthread_join(t.tid, NULL);
	if (ok != atomic_load(&late_runs))
		fail_msg("%u posts accepted, %u ran: %u accepted posts were dropped", ok,
			 atomic_load(&late_runs), ok - atomic_load(&late_runs));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_8_threads),
		cmocka_unit_test(test_post_wakes_idle_reactor),
		cmocka_unit_test(test_post_from_post),
		cmocka_unit_test(test_post_after_stop_fails),
		cmocka_unit_test(test_post_racing_stop),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
