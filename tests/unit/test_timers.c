/* Timer unit tests: heap order, stop, restart, repeat, callbacks that
 * free their own timer, and the reactor sleeping until the next one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"
#include "unit.h"

static int order[16], norder;

static void record(struct zg_timer *t, void *arg)
{
	(void)t;
	order[norder++] = (int)(intptr_t)arg;
}

static void self_free(struct zg_timer *t, void *arg)
{
	(void)arg;
	order[norder++] = 99;
	zg_timer_free(t);
}

static struct zg_reactor *reactor(void)
{
	struct zg_reactor *r;
	assert_int_equal(zg_reactor_new(NULL, NULL, NULL, &r), 0);
	norder = 0;
	return r;
}

static void run_for(struct zg_reactor *r, uint64_t ms)
{
	uint64_t end = zg__clock_ms() + ms;
	while (zg__clock_ms() < end)
		zg_reactor_run_once(r, (int)(end - zg__clock_ms()));
}

static void test_heap_order(void **state)
{
	struct zg_theap h = { 0 };
	struct zg_tnode n[64];
	uint64_t last = 0;
	(void)state;

	for (int i = 0; i < 64; i++) {
		n[i].when = (uint64_t)((i * 37) % 64);
		n[i].idx = UINT32_MAX;
		assert_int_equal(zg__theap_push(&h, &n[i]), 0);
	}
	zg__theap_remove(&h, &n[10]); /* from the middle */
	assert_false(zg__tnode_active(&n[10]));
	for (int i = 0; i < 63; i++) {
		struct zg_tnode *t = zg__theap_top(&h);
		assert_true(t->when >= last);
		last = t->when;
		zg__theap_remove(&h, t);
	}
	assert_null(zg__theap_top(&h));
	free(h.v);
}

static void test_fire_in_order(void **state)
{
	struct zg_reactor *r = reactor();
	struct zg_timer *a, *b, *c;
	(void)state;

	zg_timer_new(r, record, (void *)1, &a);
	zg_timer_new(r, record, (void *)2, &b);
	zg_timer_new(r, record, (void *)3, &c);
	zg_timer_start(a, 30, 0);
	zg_timer_start(b, 10, 0);
	zg_timer_start(c, 20, 0);
	zg_timer_stop(c);
	assert_false(zg_timer_active(c));
	run_for(r, 60);
	assert_int_equal(norder, 2);
	assert_int_equal(order[0], 2);
	assert_int_equal(order[1], 1);
	zg_timer_free(a);
	zg_timer_free(b);
	zg_timer_free(c);
	zg_reactor_free(r);
}

static void test_repeat_and_restart(void **state)
{
	struct zg_reactor *r = reactor();
	struct zg_timer *t;
	(void)state;

	zg_timer_new(r, record, (void *)7, &t);
	zg_timer_start(t, 5, 10);
	run_for(r, 60);
	assert_true(norder >= 3);
	zg_timer_stop(t);
	norder = 0;
	run_for(r, 30);
	assert_int_equal(norder, 0);
	zg_timer_start(t, 1000, 0);
	zg_timer_start(t, 5, 0); /* restart moves it earlier */
	run_for(r, 30);
	assert_int_equal(norder, 1);
	zg_timer_free(t);
	zg_reactor_free(r);
}

static void test_callback_frees_itself(void **state)
{
	struct zg_reactor *r = reactor();
	struct zg_timer *t;
	(void)state;

	zg_timer_new(r, self_free, NULL, &t);
	zg_timer_start(t, 1, 0);
	run_for(r, 20);
	assert_int_equal(norder, 1);
	assert_int_equal(order[0], 99);
	zg_reactor_free(r);
}

/* With one timer 50 ms out and nothing else, one run_once call sleeps
 * until it fires (no polling loop). */
static void test_sleeps_until_deadline(void **state)
{
	struct zg_reactor *r = reactor();
	struct zg_timer *t;
	int loops = 0;
	(void)state;

	zg_timer_new(r, record, (void *)5, &t);
	zg_timer_start(t, 50, 0);
	while (!norder && loops < 1000) {
		zg_reactor_run_once(r, -1);
		loops++;
	}
	assert_int_equal(norder, 1);
	assert_true(loops <= 3);
	zg_timer_free(t);
	zg_reactor_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_order),
		cmocka_unit_test(test_fire_in_order),
		cmocka_unit_test(test_repeat_and_restart),
		cmocka_unit_test(test_callback_frees_itself),
		cmocka_unit_test(test_sleeps_until_deadline),
	};
	unit_need_ring();
	return cmocka_run_group_tests_name("timers", tests, NULL, NULL);
}
