/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: crud's cache (cache.h). The in-process table and the
 * dispatch to Redis (redis.c).
 *
 * The table is shared by every reactor thread: CACHE_STRIPES stripes,
 * each a mutex, a chained hash table and an age list. Every value has
 * the same time to live and is appended when set (its old copy
 * unlinked), with the clock read under the stripe's lock, so the age
 * list is in expiry order: expired values are always at its old end.
 * Each set first frees the expired values at that end, then the oldest
 * one while the stripe is full, so memory is bounded (CACHE_MEM_MAX
 * values of at most CACHE_VALUE_MAX bytes) and nothing outlives its
 * time for long once its stripe is used again. A get of an expired
 * value is a miss and frees it. Allocation and freeing happen outside
 * the lock; a get copies the value into the reactor's buffer and calls
 * back after unlocking.
 */
#include "cache.h"
#include "redis.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_STRIPES 64
#define STRIPE_MAX (CACHE_MEM_MAX / CACHE_STRIPES)
#define STRIPE_BUCKETS STRIPE_MAX /* a power of 2 */

_Static_assert((STRIPE_BUCKETS & (STRIPE_BUCKETS - 1)) == 0, "buckets: a power of 2");

struct entry {
	struct entry *hnext;          /* bucket chain                   */
	struct entry *older, *newer;  /* age list (= expiry order)      */
	uint64_t expires_ns;
	uint32_t id;
	uint32_t len;
	char val[];
};

struct stripe {
	alignas(64) pthread_mutex_t lock;
	struct entry *oldest, *newest;
	size_t count;
	struct entry *buckets[STRIPE_BUCKETS];
};

struct cache_shared {
	struct redis_addr redis;      /* redis.n == 0: in-process       */
	unsigned ttl_ms;
	uint64_t ttl_ns;
	struct stripe *stripes;       /* CACHE_STRIPES, in-process only */
};

struct cache {
	struct cache_shared *s;
	struct redis *rd;             /* NULL: in-process               */
	char buf[CACHE_VALUE_MAX];    /* a get's copy                   */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void seterr(char *err, size_t len, const char *msg)
{
	if (err && len)
		snprintf(err, len, "%s", msg);
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

/* Fibonacci hashing: the top bits pick the stripe, the next ones the
 * bucket (sequential ids spread over both). */
static uint64_t mix(uint32_t id)
{
	return (uint64_t)id * UINT64_C(0x9E3779B97F4A7C15);
}

static struct stripe *stripe_of(struct cache_shared *s, uint64_t h)
{
	return &s->stripes[h >> 58];
}

static struct entry **bucket_of(struct stripe *st, uint64_t h)
{
	return &st->buckets[(h >> 32) & (STRIPE_BUCKETS - 1)];
}

static struct entry *find(struct entry **b, uint32_t id)
{
	struct entry *e = *b;
	while (e && e->id != id)
		e = e->hnext;
	return e;
}

/* Out of the bucket chain and the age list; the caller frees it. */
static void unlink_entry(struct stripe *st, struct entry **b, struct entry *e)
{
	struct entry **pp = b;
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older)
		e->older->newer = e->newer;
	else
		st->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		st->newest = e->older;
	st->count--;
}

static void append(struct stripe *st, struct entry **b, struct entry *e)
{
	e->hnext = *b;
	*b = e;
	e->newer = NULL;
	e->older = st->newest;
	if (st->newest)
		st->newest->newer = e;
	else
		st->oldest = e;
	st->newest = e;
	st->count++;
}

/* Unlink the oldest value onto *freed (a list through hnext). */
static void drop_oldest(struct stripe *st, struct entry **freed)
{
	struct entry *e = st->oldest;
	unlink_entry(st, bucket_of(st, mix(e->id)), e);
	e->hnext = *freed;
	*freed = e;
}

static void free_list(struct entry *e)
{
	while (e) {
		struct entry *next = e->hnext;
		free(e);
		e = next;
	}
}

static void mem_del(struct cache_shared *s, uint32_t id);

static void mem_set(struct cache_shared *s, uint32_t id, const void *p, size_t n)
{
	uint64_t h = mix(id);
	struct stripe *st = stripe_of(s, h);
	struct entry **b = bucket_of(st, h), *e = NULL, *old, *freed = NULL;

	if (n <= CACHE_VALUE_MAX)
		e = malloc(sizeof(*e) + n);
	if (!e) {
		/* Too big to keep, or out of memory: an older copy must
		 * not stay in its place. */
		mem_del(s, id);
		return;
	}
	e->id = id;
	e->len = (uint32_t)n;
	if (n)
		memcpy(e->val, p, n);

	pthread_mutex_lock(&st->lock);
	uint64_t now = now_ns();
	old = find(b, id);
	if (old) {
		unlink_entry(st, b, old);
		old->hnext = freed;
		freed = old;
	}
	while (st->oldest && st->oldest->expires_ns <= now)
		drop_oldest(st, &freed);
	while (st->count >= STRIPE_MAX)
		drop_oldest(st, &freed);
	e->expires_ns = now + s->ttl_ns;
	append(st, b, e);
	pthread_mutex_unlock(&st->lock);
	free_list(freed);
}

/* A copy of the value into buf (at most CACHE_VALUE_MAX bytes), its
 * length, or -1: absent or expired. */
static long mem_get(struct cache_shared *s, uint32_t id, char *buf)
{
	uint64_t h = mix(id);
	struct stripe *st = stripe_of(s, h);
	struct entry **b = bucket_of(st, h), *e;
	long n = -1;

	pthread_mutex_lock(&st->lock);
	e = find(b, id);
	if (e && e->expires_ns <= now_ns()) {
		unlink_entry(st, b, e);
	} else if (e) {
		memcpy(buf, e->val, e->len);
		n = e->len;
		e = NULL;
	}
	pthread_mutex_unlock(&st->lock);
	free(e);
	return n;
}

static void mem_del(struct cache_shared *s, uint32_t id)
{
	uint64_t h = mix(id);
	struct stripe *st = stripe_of(s, h);
	struct entry **b = bucket_of(st, h), *e;

	pthread_mutex_lock(&st->lock);
	e = find(b, id);
	if (e)
		unlink_entry(st, b, e);
	pthread_mutex_unlock(&st->lock);
	free(e);
}

static int mem_new(struct cache_shared *s)
{
	s->stripes = calloc(CACHE_STRIPES, sizeof(*s->stripes));
	if (!s->stripes)
		return -ENOMEM;
	for (unsigned i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_init(&s->stripes[i].lock, NULL);
	return 0;
}

static void mem_free(struct cache_shared *s)
{
	if (!s->stripes)
		return;
	for (unsigned i = 0; i < CACHE_STRIPES; i++) {
		struct stripe *st = &s->stripes[i];
		struct entry *e = st->oldest;
		while (e) {
			struct entry *next = e->newer;
			free(e);
			e = next;
		}
		pthread_mutex_destroy(&st->lock);
	}
	free(s->stripes);
}

/* ------------------------------------------------------------------ */
/* The calls                                                           */
/* ------------------------------------------------------------------ */

int cache_shared_new(struct cache_shared **out, const char *redis_url, unsigned ttl_ms,
		     char *err, size_t errlen)
{
	struct cache_shared *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s) {
		seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->ttl_ms = ttl_ms;
	s->ttl_ns = (uint64_t)ttl_ms * 1000000u;
	if (redis_url && *redis_url)
		rc = redis_url_parse(redis_url, &s->redis, err, errlen);
	else if ((rc = mem_new(s)))
		seterr(err, errlen, "out of memory");
	if (rc) {
		cache_shared_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void cache_shared_free(struct cache_shared *s)
{
	if (!s)
		return;
	mem_free(s);
	free(s);
}

const char *cache_shared_kind(const struct cache_shared *s)
{
	return s->redis.n ? "redis" : "memory";
}

size_t cache_shared_count(struct cache_shared *s)
{
	size_t n = 0;
	if (!s->stripes)
		return 0;
	for (unsigned i = 0; i < CACHE_STRIPES; i++) {
		pthread_mutex_lock(&s->stripes[i].lock);
		n += s->stripes[i].count;
		pthread_mutex_unlock(&s->stripes[i].lock);
	}
	return n;
}

struct cache *cache_new(struct cache_shared *s, struct zg_reactor *r)
{
	struct cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->s = s;
	if (s->redis.n) {
		c->rd = r ? redis_new(&s->redis, r, s->ttl_ms) : NULL;
		if (!c->rd) {
			free(c);
			return NULL;
		}
	}
	return c;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	redis_free(c->rd);
	free(c);
}

bool cache_ready(const struct cache *c)
{
	return !c->rd || redis_up(c->rd);
}

bool cache_inline(const struct cache *c)
{
	return !c->rd;
}

int cache_get(struct cache *c, uint32_t id, cache_cb cb, void *arg)
{
	if (c->rd)
		return redis_get(c->rd, id, cb, arg);
	long n = mem_get(c->s, id, c->buf);
	if (n < 0)
		cb(arg, false, NULL, 0);
	else
		cb(arg, true, c->buf, (size_t)n);
	return 0;
}

void cache_set(struct cache *c, uint32_t id, const void *p, size_t n)
{
	if (c->rd)
		redis_set(c->rd, id, p, n);
	else
		mem_set(c->s, id, p, n);
}

void cache_del(struct cache *c, uint32_t id)
{
	if (c->rd)
		redis_del(c->rd, id);
	else
		mem_del(c->s, id);
}
