/* SPDX-License-Identifier: MIT */
/* Timers: a binary min-heap per reactor. The reactor sleeps until the
 * nearest deadline (submit_and_wait_timeout), so an idle reactor makes no
 * wake-ups. Connection timeouts embed a timer and move their deadline
 * lazily: activity only stores a new deadline; when the heap entry fires
 * early it is pushed back to the real deadline. */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static bool earlier(const struct zg_tnode *a, const struct zg_tnode *b)
{
	return a->when < b->when;
}

static void put(struct zg_theap *h, uint32_t i, struct zg_tnode *n)
{
	h->v[i] = n;
	n->idx = i;
}

static void sift_up(struct zg_theap *h, uint32_t i)
{
	struct zg_tnode *n = h->v[i];
	while (i) {
		uint32_t p = (i - 1) / 2;
		if (!earlier(n, h->v[p]))
			break;
		put(h, i, h->v[p]);
		i = p;
	}
	put(h, i, n);
}

static void sift_down(struct zg_theap *h, uint32_t i)
{
	struct zg_tnode *n = h->v[i];
	for (;;) {
		uint32_t l = 2 * i + 1, m;
		if (l >= h->len)
			break;
		m = (l + 1 < h->len && earlier(h->v[l + 1], h->v[l])) ? l + 1 : l;
		if (!earlier(h->v[m], n))
			break;
		put(h, i, h->v[m]);
		i = m;
	}
	put(h, i, n);
}

int zg__theap_push(struct zg_theap *h, struct zg_tnode *n)
{
	if (h->len == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 64;
		struct zg_tnode **v = realloc(h->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	put(h, h->len++, n);
	sift_up(h, n->idx);
	return 0;
}

void zg__theap_remove(struct zg_theap *h, struct zg_tnode *n)
{
	uint32_t i = n->idx;
	struct zg_tnode *last;

	if (i == UINT32_MAX)
		return;
	n->idx = UINT32_MAX;
	last = h->v[--h->len];
	if (i == h->len)
		return;
	put(h, i, last);
	if (i && earlier(last, h->v[(i - 1) / 2]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

void zg__timer_setup(struct zg_timer *t, struct zg_reactor *r, zg_timer_fn cb, void *arg)
{
	t->node.when = 0;
	t->node.idx = UINT32_MAX;
	t->r = r;
	t->cb = cb;
	t->arg = arg;
	t->repeat = 0;
}

/* Schedule at an absolute time. The heap only grows when a timer is
 * first pushed; a failed push leaves the timer inactive, which for a
 * connection only means no timeout, so it is logged, not fatal. */
void zg__timer_arm_at(struct zg_timer *t, uint64_t when)
{
	struct zg_theap *h = &t->r->timers;

	if (zg__tnode_active(&t->node)) {
		uint64_t old = t->node.when;
		t->node.when = when;
		if (when < old)
			sift_up(h, t->node.idx);
		else
			sift_down(h, t->node.idx);
		return;
	}
	t->node.when = when;
	if (zg__theap_push(h, &t->node))
		zg__log(t->r, ZG_LOG_ERROR, "timer: out of memory");
}

/* Fire the timers that are due. A callback may touch any timer,
 * including its own, so the heap is re-read after each one; the pass is
 * bounded by the heap's size at its start, so a timer restarted with a
 * zero delay from its own callback waits for the next iteration. */
void zg__timers_run(struct zg_reactor *r)
{
	struct zg_tnode *n;
	uint32_t budget = r->timers.len;

	while (budget-- && (n = zg__theap_top(&r->timers)) && n->when <= r->now_ms) {
		struct zg_timer *t = container_of(n, struct zg_timer, node);
		zg__theap_remove(&r->timers, n);
		r->worked = true;
		if (t->repeat)
			zg__timer_arm_at(t, t->repeat > UINT64_MAX - r->now_ms
					   ? UINT64_MAX : r->now_ms + t->repeat);
		t->cb(t, t->arg);
	}
}

/* Milliseconds until the nearest timer, -1 for none. */
int zg__timers_wait_ms(struct zg_reactor *r)
{
	struct zg_tnode *n = zg__theap_top(&r->timers);
	if (!n)
		return -1;
	if (n->when <= r->now_ms)
		return 0;
	return n->when - r->now_ms > 3600000 ? 3600000 : (int)(n->when - r->now_ms);
}

ZG_EXPORT int zg_timer_new(struct zg_reactor *r, zg_timer_fn cb, void *arg,
			   struct zg_timer **out)
{
	struct zg_timer *t;

	if (!r || !cb || !out)
		return -EINVAL;
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	zg__timer_setup(t, r, cb, arg);
	*out = t;
	return 0;
}

ZG_EXPORT void zg_timer_start(struct zg_timer *t, uint64_t timeout_ms,
			      uint64_t repeat_ms)
{
	/* A fresh clock for this timer only: the loop's cached now_ms stays
	 * as it was for the rest of the pass (callers compare against it). */
	uint64_t now = zg__clock_ms();

	t->repeat = repeat_ms;
	/* saturate: now + a huge timeout must not wrap into the past */
	zg__timer_arm_at(t, timeout_ms > UINT64_MAX - now ? UINT64_MAX : now + timeout_ms);
}

ZG_EXPORT void zg_timer_stop(struct zg_timer *t)
{
	zg__theap_remove(&t->r->timers, &t->node);
}

ZG_EXPORT bool zg_timer_active(const struct zg_timer *t)
{
	return zg__tnode_active(&t->node);
}

ZG_EXPORT void zg_timer_free(struct zg_timer *t)
{
	if (!t)
		return;
	zg_timer_stop(t);
	free(t);
}
