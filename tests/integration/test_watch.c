/* SPDX-License-Identifier: MIT */
/* Watches on file descriptors the application owns:
 *  - a pipe's read end: a callback per write, READ, edge-triggered (data
 *    left unread gives no new callback until zg_watch_set re-checks);
 *  - WRITE on a writable fd calls back at once; interest 0 stops them;
 *  - zg_watch_free from inside its own callback: no further callbacks,
 *    nothing leaked (the sanitizer pass);
 *  - end of stream (the write end closed): READ or HUP;
 *  - many watches created and freed while polls are in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

struct seen {
	int calls;
	unsigned events;
	bool free_in_cb;
	bool drain;
	int fd;
};

static void on_ready(struct zg_watch *w, unsigned events, void *arg)
{
	struct seen *s = arg;
	char b[256];

	s->calls++;
	s->events |= events;
	if (s->drain)
		while (read(s->fd, b, sizeof(b)) > 0)
			;
	if (s->free_in_cb)
		zg_watch_free(w);
}

static void run(struct zg_reactor *r, int passes)
{
	for (int i = 0; i < passes; i++)
		assert_int_equal(zg_reactor_run_once(r, 5), 1);
}

static void test_read_edges(void **state)
{
	struct zg_reactor *r;
	struct zg_watch *w;
	struct seen s = { 0 };
	int p[2];

	(void)state;
	assert_int_equal(zg_reactor_new(NULL, NULL, NULL, &r), 0);
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	s.fd = p[0];
	assert_int_equal(zg_watch_new(r, p[0], ZG_WATCH_READ, on_ready, &s, &w), 0);
	assert_int_equal(zg_watch_fd(w), p[0]);
	assert_int_equal(zg_watch_events(w), ZG_WATCH_READ);
	run(r, 3);
	assert_int_equal(s.calls, 0); /* nothing to read yet */
	assert_int_equal(write(p[1], "a", 1), 1);
	assert_true(IT_PUMP(r, s.calls == 1));
	assert_true(s.events & ZG_WATCH_READ);
	run(r, 3);
	assert_int_equal(s.calls, 1); /* not drained, but no new bytes: no call */
	assert_int_equal(zg_watch_set(w, ZG_WATCH_READ), 0); /* re-check now */
	assert_true(IT_PUMP(r, s.calls == 2));
	s.drain = true;
	assert_int_equal(write(p[1], "b", 1), 1);
	assert_true(IT_PUMP(r, s.calls == 3));
	/* interest 0: the fd is readable again, but nobody asks */
	assert_int_equal(zg_watch_set(w, 0), 0);
	assert_int_equal(write(p[1], "c", 1), 1);
	run(r, 5);
	assert_int_equal(s.calls, 3);
	/* the other end closed: READ (EOF) or HUP */
	assert_int_equal(zg_watch_set(w, ZG_WATCH_READ), 0);
	close(p[1]);
	assert_true(IT_PUMP(r, s.calls >= 4 && (s.events & (ZG_WATCH_HUP | ZG_WATCH_READ))));
	zg_watch_free(w);
	run(r, 2);
	close(p[0]);
	it_reactor_end(r);
}

static void test_write_and_free_in_callback(void **state)
{
	struct zg_reactor *r;
	struct zg_watch *w;
	struct seen s = { .free_in_cb = true };
	int p[2];

	(void)state;
	assert_int_equal(zg_reactor_new(NULL, NULL, NULL, &r), 0);
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	/* an empty pipe is writable: a callback at once, which frees w */
	assert_int_equal(zg_watch_new(r, p[1], ZG_WATCH_WRITE, on_ready, &s, &w), 0);
	assert_true(IT_PUMP(r, s.calls == 1));
	assert_true(s.events & ZG_WATCH_WRITE);
	run(r, 5);
	assert_int_equal(s.calls, 1);
	assert_int_equal(fcntl(p[1], F_GETFD) >= 0, 1); /* the fd is still ours */
	close(p[0]);
	close(p[1]);
	it_reactor_end(r);
}

static void test_churn(void **state)
{
	struct zg_reactor *r;
	struct zg_watch *w[64];
	struct seen s[64];
	int p[2];

	(void)state;
	assert_int_equal(zg_reactor_new(NULL, NULL, NULL, &r), 0);
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	for (int round = 0; round < 20; round++) {
		memset(s, 0, sizeof(s));
		for (int i = 0; i < 64; i++)
			assert_int_equal(zg_watch_new(r, p[1], ZG_WATCH_WRITE, on_ready, &s[i],
						      &w[i]), 0);
		zg_reactor_run_once(r, 0);
		for (int i = 0; i < 64; i++) {
			if (i % 3 == 0)
				zg_watch_set(w[i], ZG_WATCH_READ | ZG_WATCH_WRITE);
			zg_watch_free(w[i]);
		}
	}
	run(r, 5);
	close(p[0]);
	close(p[1]);
	it_reactor_end(r);
}

static void test_bad_arguments(void **state)
{
	struct zg_reactor *r;
	struct zg_watch *w = NULL;
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(zg_reactor_new(NULL, NULL, NULL, &r), 0);
	assert_int_equal(zg_watch_new(r, -1, ZG_WATCH_READ, on_ready, &s, &w), -EINVAL);
	assert_int_equal(zg_watch_new(r, 0, ZG_WATCH_READ, NULL, &s, &w), -EINVAL);
	assert_int_equal(zg_watch_new(r, 0, ZG_WATCH_ERROR, on_ready, &s, &w), -EINVAL);
	assert_null(w);
	zg_watch_free(NULL);
	it_reactor_end(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_edges),
		cmocka_unit_test(test_write_and_free_in_callback),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_bad_arguments),
	};

	it_init();
	return cmocka_run_group_tests_name("watch", tests, NULL, NULL);
}
