/* SPDX-License-Identifier: MIT */
/* Cross-thread work: a mutex-protected LIFO of posts (reversed when run)
 * and an eventfd watched by a multishot poll on the ring. wake_pending
 * makes each drain cost at most one write(2) however many posts arrive.
 * Stop requests use the same eventfd but only atomics, so zg_reactor_stop
 * stays async-signal-safe. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

static void wake(struct zg_reactor *r)
{
	uint64_t one = 1;
	if (!atomic_exchange(&r->wake_pending, true)) {
		ssize_t n = write(r->wake_fd, &one, sizeof(one));
		(void)n; /* EAGAIN means a wake is already queued */
	}
}

ZG_EXPORT int zg_reactor_post(struct zg_reactor *r, void (*fn)(void *), void *arg)
{
	struct zg_post *p;

	if (!r || !fn)
		return -EINVAL;
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&r->post_lock);
	if (r->post_closed) {
		pthread_mutex_unlock(&r->post_lock);
		free(p);
		return -ESHUTDOWN;
	}
	p->next = r->posts;
	r->posts = p;
	pthread_mutex_unlock(&r->post_lock);
	wake(r);
	return 0;
}

ZG_EXPORT void zg_reactor_stop(struct zg_reactor *r, unsigned deadline_ms)
{
	uint64_t expect = 0;
	/* Keep the first request's deadline: repeated signals don't extend it. */
	atomic_compare_exchange_strong(&r->stop_req, &expect, (uint64_t)deadline_ms + 1);
	wake(r);
}

/* Run every queued post, oldest first. */
void zg__posts_run(struct zg_reactor *r)
{
	struct zg_post *p, *rev = NULL;

	if (!atomic_load_explicit(&r->wake_pending, memory_order_acquire))
		return;
	atomic_store(&r->wake_pending, false);
	pthread_mutex_lock(&r->post_lock);
	p = r->posts;
	r->posts = NULL;
	pthread_mutex_unlock(&r->post_lock);
	while (p) {
		struct zg_post *next = p->next;
		p->next = rev;
		rev = p;
		p = next;
	}
	r->worked = r->worked || rev;
	while (rev) {
		struct zg_post *next = rev->next;
		rev->fn(rev->arg);
		free(rev);
		rev = next;
	}
}

void zg__wake_arm(struct zg_reactor *r)
{
	struct io_uring_sqe *sqe;

	if (r->wake_armed)
		return;
	sqe = zg__sqe(r);
	if (!sqe)
		return;
	io_uring_prep_poll_multishot(sqe, r->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, ud_make(OP_WAKE, 0, 0));
	r->wake_armed = true;
	r->inflight_misc++;
}

/* The eventfd poll fired: clear the counter so it can fire again. */
void zg__wake_read(struct zg_reactor *r)
{
	uint64_t v;
	ssize_t n = read(r->wake_fd, &v, sizeof(v));
	(void)n;
}

/* The reactor has stopped: refuse new posts, run what is queued. */
void zg__posts_close(struct zg_reactor *r)
{
	pthread_mutex_lock(&r->post_lock);
	r->post_closed = true;
	pthread_mutex_unlock(&r->post_lock);
	atomic_store(&r->wake_pending, true);
	zg__posts_run(r);
}

/* At free: refuse new posts; queued ones are dropped without running
 * (the reactor that would run them is gone). */
void zg__posts_free(struct zg_reactor *r)
{
	struct zg_post *p;

	pthread_mutex_lock(&r->post_lock);
	r->post_closed = true;
	p = r->posts;
	r->posts = NULL;
	pthread_mutex_unlock(&r->post_lock);
	while (p) {
		struct zg_post *next = p->next;
		free(p);
		p = next;
	}
}
