/* SPDX-License-Identifier: MIT */
/* Watches: readiness of file descriptors the application owns (a libpq
 * or c-ares socket, a pipe, an eventfd), through multishot poll. The
 * reactor keeps a table of watches so that a poll's user_data names one
 * by index and generation, like a connection: changing the interest
 * cancels the old poll and arms a new one under the next generation, and
 * the old poll's last CQEs only settle its accounting. A watch's memory
 * outlives zg_watch_free until every poll it armed has ended. */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "internal.h"

struct zg_watch {
	struct zg_reactor *r;
	int fd;
	unsigned events;       /* ZG_WATCH_READ | ZG_WATCH_WRITE wanted    */
	zg_watch_fn cb;
	void *arg;
	uint32_t slot, gen;
	unsigned ops;          /* polls armed whose last CQE is not in     */
	bool armed;            /* a poll of the current generation is on   */
	bool freed;            /* zg_watch_free ran: no more callbacks     */
	bool in_cb;
};

static int table_grow(struct zg_reactor *r)
{
	uint32_t cap = r->watch_cap ? r->watch_cap * 2 : 16;
	struct zg_watch **v = realloc(r->watches, cap * sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (uint32_t i = r->watch_cap; i < cap; i++)
		v[i] = NULL;
	r->watches = v;
	r->watch_cap = cap;
	return 0;
}

static int table_add(struct zg_reactor *r, struct zg_watch *w)
{
	uint32_t i;

	for (i = r->watch_hint; i < r->watch_cap && r->watches[i]; i++)
		;
	if (i == r->watch_cap) {
		for (i = 0; i < r->watch_cap && r->watches[i]; i++)
			;
		if (i == r->watch_cap && table_grow(r))
			return -ENOMEM;
	}
	r->watches[i] = w;
	r->watch_hint = i + 1;
	w->slot = i;
	return 0;
}

static void release(struct zg_watch *w)
{
	struct zg_reactor *r = w->r;

	assert(!w->ops && !w->in_cb);
	r->watches[w->slot] = NULL;
	if (w->slot < r->watch_hint)
		r->watch_hint = w->slot;
	free(w);
}

static unsigned poll_mask(unsigned events)
{
	return (events & ZG_WATCH_READ ? POLLIN | POLLRDHUP : 0) |
	       (events & ZG_WATCH_WRITE ? POLLOUT : 0);
}

static unsigned events_of(int res)
{
	return (res & (POLLIN | POLLPRI) ? ZG_WATCH_READ : 0) |
	       (res & POLLOUT ? ZG_WATCH_WRITE : 0) |
	       (res & POLLERR ? ZG_WATCH_ERROR : 0) |
	       (res & (POLLHUP | POLLRDHUP) ? ZG_WATCH_HUP : 0);
}

static int arm(struct zg_watch *w)
{
	struct io_uring_sqe *sqe;

	if (!w->events)
		return 0;
	sqe = zg__sqe(w->r);
	if (!sqe)
		return -ENOMEM;
	io_uring_prep_poll_multishot(sqe, w->fd, poll_mask(w->events));
	io_uring_sqe_set_data64(sqe, ud_make(OP_WATCH, w->gen, w->slot));
	w->ops++;
	w->armed = true;
	return 0;
}

/* The current poll's CQEs are ignored from here on (a new generation);
 * its last one still settles w->ops. */
static void disarm(struct zg_watch *w)
{
	struct io_uring_sqe *sqe;

	if (w->armed && (sqe = zg__sqe(w->r))) {
		io_uring_prep_cancel64(sqe, ud_make(OP_WATCH, w->gen, w->slot), 0);
		io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
		w->r->inflight_misc++;
	}
	w->armed = false;
	w->gen = (w->gen + 1) & 0xffffff;
}

ZG_EXPORT int zg_watch_new(struct zg_reactor *r, int fd, unsigned events, zg_watch_fn cb,
			   void *arg, struct zg_watch **out)
{
	struct zg_watch *w;
	int ret;

	if (!r || fd < 0 || !cb || !out || (events & ~(ZG_WATCH_READ | ZG_WATCH_WRITE)))
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct zg_watch){ .r = r, .fd = fd, .events = events, .cb = cb, .arg = arg };
	ret = table_add(r, w);
	if (!ret && (ret = arm(w)) != 0)
		r->watches[w->slot] = NULL;
	if (ret) {
		free(w);
		return ret;
	}
	*out = w;
	return 0;
}

ZG_EXPORT int zg_watch_set(struct zg_watch *w, unsigned events)
{
	if (!w || w->freed || (events & ~(ZG_WATCH_READ | ZG_WATCH_WRITE)))
		return -EINVAL;
	disarm(w);
	w->events = events;
	return arm(w);
}

ZG_EXPORT unsigned zg_watch_events(const struct zg_watch *w)
{
	return w->events;
}

ZG_EXPORT int zg_watch_fd(const struct zg_watch *w)
{
	return w->fd;
}

ZG_EXPORT void zg_watch_free(struct zg_watch *w)
{
	if (!w || w->freed)
		return;
	w->freed = true;
	disarm(w);
	if (!w->ops && !w->in_cb)
		release(w);
}

static void deliver(struct zg_watch *w, unsigned ev)
{
	w->in_cb = true;
	w->cb(w, ev, w->arg);
	w->in_cb = false;
}

void zg__watch_on_cqe(struct zg_reactor *r, struct io_uring_cqe *cqe)
{
	uint32_t slot = ud_slot(cqe->user_data), gen = ud_gen(cqe->user_data);
	struct zg_watch *w = slot < r->watch_cap ? r->watches[slot] : NULL;
	bool current, failed = cqe->res < 0 && cqe->res != -ECANCELED;

	if (!w)
		return;
	current = gen == w->gen && !w->freed;
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		assert(w->ops > 0);
		w->ops--;
		if (current)
			w->armed = false;
	}
	if (current && cqe->res > 0)
		deliver(w, events_of(cqe->res));
	else if (current && failed)
		deliver(w, ZG_WATCH_ERROR); /* say, the fd was closed under it */
	/* A multishot poll may end by itself (CQ overflow): the interest
	 * stands, so arm again, unless the callback changed or freed it. A
	 * failed poll stays off until zg_watch_set. */
	if (current && !failed && !w->freed && !w->armed && gen == w->gen)
		arm(w);
	if (w->freed && !w->ops && !w->in_cb)
		release(w);
}

/* zg_reactor_free: the ring is gone, so are the polls. */
void zg__watches_free(struct zg_reactor *r)
{
	for (uint32_t i = 0; i < r->watch_cap; i++)
		free(r->watches[i]);
	free(r->watches);
	r->watches = NULL;
	r->watch_cap = 0;
}
