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
 */
#ifndef CACHE_H
#define CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zerg.h"

struct cache_shared;
struct cache;

/* redis_url NULL or "": in-process. "redis://host:port[/db]" (also
 * "unix:/path"). ttl_ms: each value's absolute time to live. 0, or
 * -errno (-EINVAL for a URL it cannot use). */
int cache_shared_new(struct cache_shared **out, const char *redis_url, unsigned ttl_ms);
void cache_shared_free(struct cache_shared *s);

/* On the reactor's thread (worker_start / worker_stop). */
struct cache *cache_new(struct cache_shared *s, struct zg_reactor *r);
void cache_free(struct cache *c); /* completes every get in flight as a miss */

/* found: the value p[0..n) (valid during the call only); !found: a miss
 * (or the back end failed). Runs exactly once per get that cache_get
 * accepted: inside cache_get for the in-process table, later (on the
 * reactor thread) for Redis. */
typedef void (*cache_cb)(void *arg, bool found, const void *p, size_t n);

/* 0, or -1 and cb is never called. */
int cache_get(struct cache *c, uint32_t id, cache_cb cb, void *arg);
void cache_set(struct cache *c, uint32_t id, const void *p, size_t n);
void cache_del(struct cache *c, uint32_t id);

#endif
