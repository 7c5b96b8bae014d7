/* SPDX-License-Identifier: MIT */
/* The fake libzerg of fake_zerg.h. */
#include "fake_zerg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what)
{
	fprintf(stderr, "fake_zerg: %s\n", what);
	abort();
}

/* ------------------------------------------------------------------ */
/* The test's side                                                     */
/* ------------------------------------------------------------------ */

void fake_open(struct zg_conn *c, struct zg_reactor *r, const struct zg_handler *handler)
{
	memset(c, 0, sizeof(*c));
	c->r = r;
	c->in = malloc(FAKE_IN_MAX);
	c->max_output = 64u << 20;
	if (!c->in)
		die("out of memory");
	handler->on_open(c);
}

static void add_cut(struct zg_conn *c, size_t at)
{
	if (c->ncuts && c->cuts[c->ncuts - 1] >= at)
		return;
	if (c->ncuts == FAKE_CUTS)
		die("too many segments");
	c->cuts[c->ncuts++] = at;
}

void fake_input(struct zg_conn *c, const void *p, size_t n, size_t seg)
{
	if (c->in_len + n > FAKE_IN_MAX)
		die("input too long");
	/* What came before is a segment of its own, as a new recv is. */
	if (c->in_len)
		add_cut(c, c->in_len);
	if (seg)
		for (size_t at = seg; at < n; at += seg)
			add_cut(c, c->in_len + at);
	memcpy(c->in + c->in_len, p, n);
	c->in_len += n;
}

static bool wants_data(const struct zg_conn *c)
{
	if (c->closed || c->paused)
		return false;
	return c->in_len > c->examined || (c->eof && !c->eof_seen);
}

static void run_posts(struct zg_reactor *r)
{
	while (r->nposts) {
		void (*fn)(void *) = r->posts[0].fn;
		void *arg = r->posts[0].arg;
		memmove(r->posts, r->posts + 1, --r->nposts * sizeof(r->posts[0]));
		fn(arg);
	}
}

void fake_pump(struct zg_conn *c, const struct zg_handler *handler)
{
	for (unsigned i = 0; i < 100000; i++) {
		run_posts(c->r);
		if (!wants_data(c))
			return;
		if (c->eof && c->in_len <= c->examined)
			c->eof_seen = true;
		c->data_calls++;
		handler->on_data(c);
		/* The reactor's clock moves on between iterations. */
		c->r->now_ms++;
	}
	die("on_data called forever");
}

void fake_drain(struct zg_conn *c, const struct zg_handler *handler)
{
	size_t pending = c->out_len - c->taken;
	c->taken = c->out_len;
	if (pending > c->max_output / 2 && handler->on_drain && !c->closed)
		handler->on_drain(c);
}

void fake_close(struct zg_conn *c, const struct zg_handler *handler)
{
	if (!c->freed) {
		c->freed = true;
		handler->on_close(c, 0);
	}
	free(c->in);
	free(c->out);
	c->in = NULL;
	c->out = NULL;
}

char *fake_output(const struct zg_conn *c, size_t from)
{
	char *s = malloc(c->out_len - from + 1);
	if (!s)
		die("out of memory");
	memcpy(s, c->out + from, c->out_len - from);
	s[c->out_len - from] = 0;
	return s;
}

/* ------------------------------------------------------------------ */
/* libzerg's side                                                      */
/* ------------------------------------------------------------------ */

int zg_conn_read(struct zg_conn *c, struct zg_read_view *v)
{
	size_t at = 0;
	unsigned n = 0;
	for (unsigned i = 0; i < c->ncuts; i++) {
		c->segs[n].iov_base = c->in + at;
		c->segs[n].iov_len = c->cuts[i] - at;
		at = c->cuts[i];
		n++;
	}
	if (at < c->in_len) {
		c->segs[n].iov_base = c->in + at;
		c->segs[n].iov_len = c->in_len - at;
		n++;
	}
	v->segs = c->segs;
	v->nsegs = n;
	v->len = c->in_len;
	v->eof = c->eof;
	v->full = false;
	return 0;
}

ssize_t zg_view_find(const struct zg_read_view *v, size_t from, int byte)
{
	size_t base = 0;
	for (unsigned i = 0; i < v->nsegs; i++) {
		const uint8_t *p = v->segs[i].iov_base;
		for (size_t k = 0; k < v->segs[i].iov_len; k++)
			if (base + k >= from && p[k] == (uint8_t)byte)
				return (ssize_t)(base + k);
		base += v->segs[i].iov_len;
	}
	return -1;
}

int zg_conn_advance(struct zg_conn *c, size_t consumed, size_t examined)
{
	if (consumed > examined || examined > c->in_len)
		die("zg_conn_advance: bad offsets");
	memmove(c->in, c->in + consumed, c->in_len - consumed);
	c->in_len -= consumed;
	unsigned k = 0;
	for (unsigned i = 0; i < c->ncuts; i++)
		if (c->cuts[i] > consumed && c->cuts[i] < c->in_len + consumed)
			c->cuts[k++] = c->cuts[i] - consumed;
	c->ncuts = k;
	c->examined = examined - consumed;
	return 0;
}

int zg_conn_contig(struct zg_conn *c, size_t n, const uint8_t **p)
{
	if (n > c->in_len)
		return -EINVAL;
	/* The first n bytes become one segment (copied when they were not). */
	unsigned k = 0;
	bool copied = false;
	for (unsigned i = 0; i < c->ncuts; i++) {
		if (c->cuts[i] < n)
			copied = true;
		else
			c->cuts[k++] = c->cuts[i];
	}
	c->ncuts = k;
	if (copied && n < c->in_len && (k == 0 || c->cuts[0] != n)) {
		memmove(c->cuts + 1, c->cuts, k * sizeof(c->cuts[0]));
		c->cuts[0] = n;
		c->ncuts++;
	}
	c->contigs += copied;
	*p = c->in;
	return 0;
}

void zg_conn_pause_read(struct zg_conn *c)
{
	c->paused = true;
}

void zg_conn_resume_read(struct zg_conn *c)
{
	c->paused = false;
}

size_t zg_conn_pending(const struct zg_conn *c)
{
	return c->out_len - c->taken;
}

static int out_room(struct zg_conn *c, size_t n)
{
	if (c->closed)
		return -EPIPE;
	if (zg_conn_pending(c) + n > c->max_output)
		return -ENOBUFS;
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + n)
			cap *= 2;
		char *p = realloc(c->out, cap);
		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	return 0;
}

int zg_conn_write(struct zg_conn *c, const void *p, size_t n)
{
	int rc = out_room(c, n);
	if (rc)
		return rc;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

/* By reference: the fake keeps a copy in its output, released at once
 * (the layer's callers pass NULL releases). */
int zg_conn_write_ref(struct zg_conn *c, const void *p, size_t n, void (*release)(void *),
		      void *arg)
{
	int rc = zg_conn_write(c, p, n);
	if (!rc && release)
		release(arg);
	return rc;
}

void *zg_conn_reserve(struct zg_conn *c, size_t n)
{
	if (out_room(c, n))
		return NULL;
	c->reserved = n;
	return c->out + c->out_len;
}

int zg_conn_commit(struct zg_conn *c, size_t n)
{
	if (n > c->reserved)
		die("zg_conn_commit past the reservation");
	c->out_len += n;
	c->reserved = 0;
	return 0;
}

void zg_conn_close(struct zg_conn *c, unsigned flags)
{
	if (c->freed)
		die("zg_conn_close after on_close");
	if (flags & ZG_CLOSE_ABORT)
		c->closed = FAKE_ABORT;
	else if (!c->closed)
		c->closed = FAKE_GRACEFUL;
}

void zg_conn_set_timeout(struct zg_conn *c, unsigned ms)
{
	c->timeout_ms = ms;
}

void zg_conn_set_busy(struct zg_conn *c, bool busy)
{
	c->busy = busy;
}

void zg_conn_set_deadline(struct zg_conn *c, unsigned ms)
{
	c->deadline_ms = ms;
}

void zg_conn_set_udata(struct zg_conn *c, void *udata)
{
	c->udata = udata;
}

void *zg_conn_udata(const struct zg_conn *c)
{
	return c->udata;
}

struct zg_reactor *zg_conn_reactor(const struct zg_conn *c)
{
	return c->r;
}

void *zg_reactor_udata(const struct zg_reactor *r)
{
	return r->udata;
}

void zg_reactor_set_udata(struct zg_reactor *r, void *udata)
{
	r->udata = udata;
}

uint64_t zg_reactor_now_ms(const struct zg_reactor *r)
{
	return r->now_ms;
}

int zg_reactor_post(struct zg_reactor *r, void (*fn)(void *arg), void *arg)
{
	if (r->nposts == sizeof(r->posts) / sizeof(r->posts[0]))
		return -ENOMEM;
	r->posts[r->nposts].fn = fn;
	r->posts[r->nposts].arg = arg;
	r->nposts++;
	return 0;
}

int zg_timer_new(struct zg_reactor *r, zg_timer_fn cb, void *arg, struct zg_timer **out)
{
	struct zg_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->r = r;
	t->cb = cb;
	t->arg = arg;
	r->timer = t;
	*out = t;
	return 0;
}

void zg_timer_start(struct zg_timer *t, uint64_t timeout_ms, uint64_t repeat_ms)
{
	t->timeout_ms = timeout_ms;
	t->repeat_ms = repeat_ms;
	t->active = true;
}

void zg_timer_free(struct zg_timer *t)
{
	if (t && t->r->timer == t)
		t->r->timer = NULL;
	free(t);
}

int zg_server_new(const struct zg_server_config *cfg, const struct zg_handler *handler,
		  void *udata, struct zg_server **out)
{
	(void)cfg;
	(void)handler;
	(void)udata;
	*out = NULL;
	return -ENOSYS;
}
