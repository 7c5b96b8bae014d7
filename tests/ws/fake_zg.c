/* SPDX-License-Identifier: MIT */
/* See fake_zg.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_zg.h"

static void die(const char *what)
{
	fprintf(stderr, "fake_zg: %s\n", what);
	abort();
}

void fz_init(struct zg_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->segs = calloc(FZ_SEGS, sizeof(*c->segs));
	c->blocks = calloc(FZ_SEGS, sizeof(*c->blocks));
	if (!c->segs || !c->blocks)
		die("out of memory");
}

void fz_push(struct zg_conn *c, const void *p, size_t n)
{
	uint8_t *b;

	if (c->nsegs == FZ_SEGS)
		die("too many segments");
	if (!n)
		return; /* the ring never hands out an empty segment */
	b = malloc(n);
	if (!b)
		die("out of memory");
	memcpy(b, p, n);
	c->blocks[c->nsegs] = b;
	c->segs[c->nsegs].iov_base = b;
	c->segs[c->nsegs].iov_len = n;
	c->nsegs++;
	c->in_len += n;
}

void fz_release(struct zg_conn *c)
{
	for (unsigned i = 0; i < c->nrefs; i++)
		if (c->refs[i].release)
			c->refs[i].release(c->refs[i].arg);
	c->nrefs = 0;
}

void fz_free(struct zg_conn *c)
{
	fz_release(c);
	for (unsigned i = 0; i < c->nsegs; i++)
		free(c->blocks[i]);
	free(c->segs);
	free(c->blocks);
	free(c->out);
	free(c->res);
	memset(c, 0, sizeof(*c));
}

int zg_conn_read(struct zg_conn *c, struct zg_read_view *v)
{
	if (c->closed)
		die("read after close");
	v->segs = c->segs;
	v->nsegs = c->nsegs;
	v->len = c->in_len;
	v->eof = c->eof;
	v->full = false;
	return 0;
}

int zg_conn_advance(struct zg_conn *c, size_t consumed, size_t examined)
{
	unsigned k = 0;

	if (c->closed)
		die("advance after close");
	if (consumed > examined || examined > c->in_len)
		return -EINVAL;
	c->advances++;
	c->in_len -= consumed;
	while (consumed) {
		struct iovec *s = &c->segs[k];
		if (consumed >= s->iov_len) {
			consumed -= s->iov_len;
			free(c->blocks[k]);
			k++;
		} else {
			s->iov_base = (uint8_t *)s->iov_base + consumed;
			s->iov_len -= consumed;
			consumed = 0;
		}
	}
	memmove(c->segs, c->segs + k, (c->nsegs - k) * sizeof(*c->segs));
	memmove(c->blocks, c->blocks + k, (c->nsegs - k) * sizeof(*c->blocks));
	c->nsegs -= k;
	return 0;
}

static int room(struct zg_conn *c, size_t n)
{
	if (c->closed)
		return -EPIPE;
	if (c->max_output && c->out_len + n > c->max_output)
		return -ENOBUFS;
	return 0;
}

static void append(struct zg_conn *c, const void *p, size_t n)
{
	if (!n)
		return;
	if (c->out_len + n > c->out_cap) {
		c->out_cap = (c->out_len + n) * 2;
		c->out = realloc(c->out, c->out_cap);
		if (!c->out)
			die("out of memory");
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

void *zg_conn_reserve(struct zg_conn *c, size_t n)
{
	free(c->res); /* a reservation not committed is dropped */
	c->res = NULL;
	c->res_len = 0;
	if (room(c, n))
		return NULL;
	c->res = malloc(n ? n : 1);
	if (!c->res)
		die("out of memory");
	c->res_len = n;
	return c->res;
}

int zg_conn_commit(struct zg_conn *c, size_t n)
{
	if (!c->res || n > c->res_len || c->closed)
		return -EINVAL;
	append(c, c->res, n);
	free(c->res);
	c->res = NULL;
	c->res_len = 0;
	return 0;
}

int zg_conn_write(struct zg_conn *c, const void *p, size_t n)
{
	int ret = room(c, n);

	free(c->res);
	c->res = NULL;
	c->res_len = 0;
	if (ret)
		return ret;
	append(c, p, n);
	return 0;
}

int zg_conn_write_ref(struct zg_conn *c, const void *p, size_t n, void (*release)(void *arg),
		      void *arg)
{
	int ret = room(c, n);

	free(c->res);
	c->res = NULL;
	c->res_len = 0;
	if (ret)
		return ret;
	if (c->nrefs == FZ_REFS)
		die("too many references");
	append(c, p, n);
	c->refs[c->nrefs].release = release;
	c->refs[c->nrefs].arg = arg;
	c->nrefs++;
	return 0;
}

void zg_conn_close(struct zg_conn *c, unsigned flags)
{
	if (c->closed == FZ_ABORT)
		return;
	c->closed = flags & ZG_CLOSE_ABORT ? FZ_ABORT : FZ_GRACEFUL;
	free(c->res);
	c->res = NULL;
	c->res_len = 0;
}
