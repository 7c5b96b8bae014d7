/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of crud's in-process cache (examples/httparena-server/
 * cache.c): values, replacement, deletion, the absolute time to live
 * (checked against the monotonic clock the table uses, so the outcome
 * does not depend on how fast the machine is), the memory bound under
 * endless new ids, expired values reclaimed, values too big to keep,
 * and several threads hammering overlapping ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"

struct got {
	int calls;
	bool found;
	char val[CACHE_VALUE_MAX + 1];
	size_t n;
};

static void on_get(void *arg, bool found, const void *p, size_t n)
{
	struct got *g = arg;
	g->calls++;
	g->found = found;
	g->n = n;
	if (found)
		memcpy(g->val, p, n);
}

/* A get that must call back inline, exactly once. */
static struct got get(struct cache *c, uint32_t id)
{
	struct got g = { 0 };
	assert_int_equal(cache_get(c, id, on_get, &g), 0);
	assert_int_equal(g.calls, 1);
	return g;
}

static void set_str(struct cache *c, uint32_t id, const char *s)
{
	cache_set(c, id, s, strlen(s));
}

static void assert_value(struct cache *c, uint32_t id, const char *want)
{
	struct got g = get(c, id);
	assert_true(g.found);
	assert_int_equal(g.n, strlen(want));
	assert_memory_equal(g.val, want, g.n);
}

static void assert_miss(struct cache *c, uint32_t id)
{
	struct got g = get(c, id);
	assert_false(g.found);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts))
		;
}

struct fixture {
	struct cache_shared *s;
	struct cache *c;
};

static struct fixture make(unsigned ttl_ms)
{
	struct fixture f;
	char err[256];
	assert_int_equal(cache_shared_new(&f.s, NULL, ttl_ms, err, sizeof(err)), 0);
	assert_string_equal(cache_shared_kind(f.s), "memory");
	f.c = cache_new(f.s, NULL);
	assert_non_null(f.c);
	assert_true(cache_inline(f.c));
	return f;
}

static void unmake(struct fixture f)
{
	cache_free(f.c);
	cache_shared_free(f.s);
}

static void test_set_get_del(void **state)
{
	struct fixture f = make(60000);
	(void)state;

	assert_miss(f.c, 42);
	set_str(f.c, 42, "{\"id\":42}");
	assert_value(f.c, 42, "{\"id\":42}");
	assert_value(f.c, 42, "{\"id\":42}"); /* a hit does not consume it */
	assert_miss(f.c, 43);
	set_str(f.c, 42, "{\"id\":42,\"v\":2}"); /* replaced, not added */
	assert_value(f.c, 42, "{\"id\":42,\"v\":2}");
	assert_int_equal(cache_shared_count(f.s), 1);
	cache_set(f.c, 0, "", 0); /* id 0 and an empty value are values too */
	struct got g = get(f.c, 0);
	assert_true(g.found);
	assert_int_equal(g.n, 0);
	cache_del(f.c, 42);
	assert_miss(f.c, 42);
	cache_del(f.c, 42); /* deleting what is not there: nothing */
	cache_set(f.c, UINT32_MAX, "max", 3);
	assert_value(f.c, UINT32_MAX, "max");
	assert_int_equal(cache_shared_count(f.s), 2);
	unmake(f);
}

/* A value that cannot be kept must not leave an older one in its place. */
static void test_too_big(void **state)
{
	struct fixture f = make(60000);
	static char big[CACHE_VALUE_MAX + 1];
	(void)state;

	memset(big, 'b', sizeof(big));
	set_str(f.c, 7, "old");
	cache_set(f.c, 7, big, sizeof(big));
	assert_miss(f.c, 7);
	cache_set(f.c, 7, big, CACHE_VALUE_MAX); /* the limit itself is kept */
	struct got g = get(f.c, 7);
	assert_true(g.found);
	assert_int_equal(g.n, CACHE_VALUE_MAX);
	assert_memory_equal(g.val, big, CACHE_VALUE_MAX);
	unmake(f);
}

/*
 * The time to live is absolute: counted from the set, not extended by
 * gets. The table reads the same monotonic clock: at the set before
 * t_set (taken after cache_set returns), at a get after t_get (taken
 * before it), so a value found means t_get - t_set < ttl, however the
 * scheduler delays us. Keep reading (a sliding TTL would stay alive)
 * until it is gone, which must then be for good.
 */
static void test_ttl_absolute(void **state)
{
	const unsigned ttl = 40;
	struct fixture f = make(ttl);
	uint64_t t_set, t_get;
	unsigned hits = 0;
	(void)state;

	set_str(f.c, 9, "nine");
	t_set = mono_ns();
	for (;;) {
		t_get = mono_ns();
		struct got g = get(f.c, 9);
		if (!g.found)
			break;
		hits++;
		assert_true(t_get - t_set < (uint64_t)ttl * 1000000u);
		assert_memory_equal(g.val, "nine", 4);
		nap_ms(1);
	}
	/* The miss came, and a miss stays a miss (the expired value was
	 * freed, not left to be found later). */
	assert_miss(f.c, 9);
	assert_int_equal(cache_shared_count(f.s), 0);
	/* Each set starts a new lifetime: a get within ttl of it (t0
	 * before the set, t1 after the get) must find the value. */
	uint64_t t0 = mono_ns();
	set_str(f.c, 9, "again");
	struct got g = get(f.c, 9);
	if (mono_ns() - t0 < (uint64_t)ttl * 1000000u)
		assert_true(g.found);
	nap_ms(ttl + 5);
	assert_miss(f.c, 9);
	(void)hits; /* zero only on a machine stalled for 40 ms: still right */
	unmake(f);
}

/* A long TTL keeps values (the clock does not run out of range). */
static void test_ttl_long(void **state)
{
	struct fixture f = make(UINT32_MAX);
	(void)state;
	set_str(f.c, 1, "one");
	nap_ms(2);
	assert_value(f.c, 1, "one");
	unmake(f);
}

/* TTL 0: nothing is ever found (every value is expired at once). */
static void test_ttl_zero(void **state)
{
	struct fixture f = make(0);
	(void)state;
	set_str(f.c, 1, "one");
	assert_miss(f.c, 1);
	unmake(f);
}

/* Endless new ids (the benchmark's random ones, creates' growing ones)
 * never hold more than CACHE_MEM_MAX values; the newest are kept. */
static void test_bounded(void **state)
{
	struct fixture f = make(600000);
	char v[64];
	(void)state;

	for (uint32_t id = 1; id <= 3 * CACHE_MEM_MAX; id++) {
		int n = snprintf(v, sizeof(v), "{\"id\":%u}", id);
		cache_set(f.c, id, v, (size_t)n);
		if ((id & 0xfff) == 0)
			assert_true(cache_shared_count(f.s) <= CACHE_MEM_MAX);
	}
	size_t n = cache_shared_count(f.s);
	assert_true(n <= CACHE_MEM_MAX);
	assert_true(n >= CACHE_MEM_MAX / 2); /* a bound, not a leak of space */
	snprintf(v, sizeof(v), "{\"id\":%u}", 3 * CACHE_MEM_MAX);
	assert_value(f.c, 3 * CACHE_MEM_MAX, v);
	assert_miss(f.c, 1); /* the oldest went first */
	unmake(f);
}

/* Expired values are freed by later sets on their stripe (no get needed)
 * and by gets. */
static void test_reclaim(void **state)
{
	const unsigned ttl = 20, n = 20000;
	struct fixture f = make(ttl);
	(void)state;

	for (uint32_t id = 0; id < n; id++)
		cache_set(f.c, id, "x", 1);
	nap_ms(ttl + 5); /* every one of them has expired now */
	/* Sets of other ids reclaim them: what is left is at most what the
	 * second round put in (20 000 ids touch every one of the 64
	 * stripes many times over). */
	for (uint32_t id = n; id < 2 * n; id++)
		cache_set(f.c, id, "y", 1);
	assert_true(cache_shared_count(f.s) <= n);
	nap_ms(ttl + 5);
	for (uint32_t id = n; id < 2 * n; id++)
		assert_miss(f.c, id);
	assert_int_equal(cache_shared_count(f.s), 0);
	unmake(f);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

#define T_THREADS 4
#define T_OPS 200000
#define T_IDS 1000

struct worker_arg {
	struct cache_shared *s;
	unsigned seed;
	unsigned hits, bad;
};

/* Value of id: "<id>:<len>:" then 'x' up to len bytes; len varies. */
static size_t make_value(char *v, uint32_t id, unsigned r)
{
	size_t len = 16 + r % 300;
	int k = snprintf(v, 32, "%u:%zu:", id, len);
	memset(v + k, 'x', len - (size_t)k);
	return len;
}

static bool check_value(uint32_t id, const char *p, size_t n)
{
	char head[32];
	unsigned vid;
	size_t vlen;
	size_t k = n < sizeof(head) - 1 ? n : sizeof(head) - 1;

	memcpy(head, p, k);
	head[k] = 0;
	if (sscanf(head, "%u:%zu:", &vid, &vlen) != 2 || vid != id || vlen != n)
		return false;
	for (size_t i = (size_t)snprintf(head, sizeof(head), "%u:%zu:", vid, vlen); i < n; i++)
		if (p[i] != 'x')
			return false;
	return true;
}

struct tget {
	uint32_t id;
	bool found, ok;
};

static void on_tget(void *arg, bool found, const void *p, size_t n)
{
	struct tget *g = arg;
	g->found = found;
	g->ok = !found || check_value(g->id, p, n);
}

static void *hammer(void *arg)
{
	struct worker_arg *w = arg;
	struct cache *c = cache_new(w->s, NULL);
	char v[400];
	unsigned r = w->seed;

	if (!c) {
		w->bad++;
		return NULL;
	}
	for (unsigned i = 0; i < T_OPS; i++) {
		r = r * 1103515245u + 12345u;
		uint32_t id = (r >> 8) % T_IDS;
		unsigned op = (r >> 20) % 8;
		if (op < 5) {
			struct tget g = { .id = id };
			if (cache_get(c, id, on_tget, &g) || !g.ok)
				w->bad++;
			w->hits += g.found;
		} else if (op < 7) {
			cache_set(c, id, v, make_value(v, id, r >> 4));
		} else {
			cache_del(c, id);
		}
	}
	cache_free(c);
	return NULL;
}

static void test_threads(void **state)
{
	struct cache_shared *s;
	struct worker_arg w[T_THREADS];
	pthread_t t[T_THREADS];
	char err[128];
	unsigned hits = 0;
	(void)state;

	assert_int_equal(cache_shared_new(&s, NULL, 50, err, sizeof(err)), 0);
	for (unsigned i = 0; i < T_THREADS; i++) {
		w[i] = (struct worker_arg){ .s = s, .seed = 7919u * (i + 1) };
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
	}
	for (unsigned i = 0; i < T_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].bad, 0);
		hits += w[i].hits;
	}
	assert_true(hits > 0); /* the threads did share values */
	assert_true(cache_shared_count(s) <= T_IDS);
	cache_shared_free(s);
}

/* ------------------------------------------------------------------ */
/* URLs (cache_shared_new with a REDIS_URL; nothing connects here)      */
/* ------------------------------------------------------------------ */

static void url_ok(const char *url)
{
	struct cache_shared *s;
	char err[256] = "";
	int rc = cache_shared_new(&s, url, 200, err, sizeof(err));
	if (rc)
		fail_msg("%s: %s", url, err);
	assert_string_equal(cache_shared_kind(s), "redis");
	assert_int_equal(cache_shared_count(s), 0);
	cache_shared_free(s);
}

static void url_bad(const char *url, const char *why)
{
	struct cache_shared *s = (void *)1;
	char err[256] = "";
	assert_int_equal(cache_shared_new(&s, url, 200, err, sizeof(err)), -EINVAL);
	assert_null(s);
	if (!strstr(err, why))
		fail_msg("%s: \"%s\" does not say \"%s\"", url, err, why);
}

static void test_urls(void **state)
{
	(void)state;
	url_ok("redis://127.0.0.1:6379");
	url_ok("redis://127.0.0.1");
	url_ok("redis://localhost:6379/");
	url_ok("redis://localhost:6380/3");
	url_ok("redis://[::1]:6379/0");
	url_ok("unix:/run/redis/redis.sock");
	url_bad("http://127.0.0.1:6379", "expected redis://");
	url_bad("redis://", "no host");
	url_bad("redis://:6379", "no host");
	url_bad("redis://127.0.0.1:0", "port");
	url_bad("redis://127.0.0.1:65536", "port");
	url_bad("redis://127.0.0.1:63a9", "port");
	url_bad("redis://127.0.0.1:", "port");
	url_bad("redis://127.0.0.1:6379/x", "database");
	url_bad("redis://127.0.0.1:6379/1/2", "database");
	url_bad("redis://user:pw@127.0.0.1", "password");
	url_bad("redis://127.0.0.1?timeout=1", "options");
	url_bad("rediss://127.0.0.1", "TLS");
	url_bad("redis://[::1", "unclosed");
	url_bad("redis://[::1]x:1", "junk");
	url_bad("redis://no-such-host.invalid:6379", "cannot resolve");
	url_bad("unix:relative.sock", "absolute");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_get_del),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_ttl_absolute),
		cmocka_unit_test(test_ttl_long),
		cmocka_unit_test(test_ttl_zero),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_reclaim),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_urls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
