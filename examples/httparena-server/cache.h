/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: crud's single-item cache (SPEC-HEAD.md §6.5):
 * cache-aside values (an item's JSON) keyed by item id, each with an
 * absolute time to live.
 *
 * One struct cache_shared for the process, one struct cache per reactor.
 * Two back ends behind the same calls: in-process (the default: one
 * table shared by every reactor thread, so a MISS on one thread is a HIT
 * on another) and Redis (REDIS_URL: "SET crud:{id} <json> PX ttl",
 * "GET", "DEL", pipelined on one libzerg connection per reactor,
 * reconnected when it breaks; while Redis is away a get is a miss and
 * set/del do nothing).
 *
 * cache.c: the in-process table and the dispatch; redis.c: the Redis
 * client (redis.h).
 */
#ifndef CACHE_H
#define CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zerg.h"

struct cache_shared;
struct cache;

/* The in-process table's bounds: at most CACHE_MEM_MAX values (when it
 * is full, the oldest goes), each at most CACHE_VALUE_MAX bytes (a
 * larger value is not stored: its gets miss). Redis values above
 * CACHE_VALUE_MAX are misses too. Items are about 200 bytes. */
#define CACHE_MEM_MAX (1u << 17)
#define CACHE_VALUE_MAX 2048u

/* redis_url NULL or "": in-process. "redis://host[:port][/db]" (port
 * 6379 by default, host a name or an address, [v6] too) or
 * "unix:/path". The host is resolved here, once. ttl_ms: each value's
 * absolute time to live, from its set (a get does not extend it). 0, or
 * -errno with a message in err (-EINVAL for a URL it cannot use,
 * -ENOMEM). */
int cache_shared_new(struct cache_shared **out, const char *redis_url, unsigned ttl_ms,
		     char *err, size_t errlen);
void cache_shared_free(struct cache_shared *s); /* after every cache_free */
/* "memory" or "redis". */
const char *cache_shared_kind(const struct cache_shared *s);
/* Values the in-process table holds now (0 for Redis): for tests. */
size_t cache_shared_count(struct cache_shared *s);

/* On the reactor's thread (worker_start / worker_stop). r may be NULL
 * for the in-process table (a thread of a test). NULL when out of
 * memory. */
struct cache *cache_new(struct cache_shared *s, struct zg_reactor *r);
void cache_free(struct cache *c); /* completes every get in flight as a miss */

/* found: the value p[0..n) (valid during the call only); !found: a miss
 * (or the back end failed). Runs exactly once per get that cache_get
 * accepted: inside cache_get for the in-process table, later (on the
 * reactor thread) for Redis. */
typedef void (*cache_cb)(void *arg, bool found, const void *p, size_t n);

/* Redis: connected and taking commands; in-process: always. */
bool cache_ready(const struct cache *c);

/* True when cache_get calls cb before it returns (the in-process
 * table): the caller's arg may then live on its stack. */
bool cache_inline(const struct cache *c);

/* 0, or -1 and cb is never called: take it as a miss (Redis away or
 * still connecting, too many gets waiting, out of memory). */
int cache_get(struct cache *c, uint32_t id, cache_cb cb, void *arg);
void cache_set(struct cache *c, uint32_t id, const void *p, size_t n);
void cache_del(struct cache *c, uint32_t id);

#endif
