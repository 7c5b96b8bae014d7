/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: the Redis back end of crud's cache (cache.h), a
 * RESP2 client on one libzerg outbound connection per reactor.
 *
 * Commands are written as they come (the reactor sends a loop pass's
 * worth in one send) and their replies are matched in order (FIFO), so
 * any number can be in flight. While the connection is not up (Redis
 * away, connecting, reconnecting) a get fails at once (-1: the caller
 * takes a miss) and a set or del is dropped; nothing waits on a
 * connect. A break (reset, end of stream, a malformed reply, no reply
 * for REDIS_REPLY_TIMEOUT_MS while some are due) completes every get in
 * flight as a miss and reconnects: the first attempt at once, then with
 * a backoff doubling from REDIS_BACKOFF_MS to REDIS_BACKOFF_MAX_MS;
 * after REDIS_MAX_ATTEMPTS failures in a row the reactor stops dialing
 * on its own, and only a cache call (at most once per
 * REDIS_BACKOFF_MAX_MS) tries again, so an absent Redis costs one
 * connect attempt per reactor every two seconds of traffic, and none
 * when idle.
 */
#ifndef REDIS_H
#define REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cache.h"

#define REDIS_BACKOFF_MS 50
#define REDIS_BACKOFF_MAX_MS 2000
#define REDIS_MAX_ATTEMPTS 10
#define REDIS_REPLY_TIMEOUT_MS 1000
#define REDIS_CONNECT_TIMEOUT_MS 1000
#define REDIS_MAX_PENDING 16384 /* commands in flight per reactor */

/* Where Redis is: the resolved addresses of a URL (tried in turn). */
struct redis_addr {
	struct sockaddr_storage ss[4];
	socklen_t len[4];
	unsigned n;
	unsigned db;      /* SELECT db after connecting when not 0 */
	char name[272];   /* host:port (host up to 255) or the path */
};

/* Parse and resolve url: "redis://host[:port][/db]" or "unix:/path".
 * 0, or -EINVAL with a message in err. */
int redis_url_parse(const char *url, struct redis_addr *out, char *err, size_t errlen);

struct redis;

/* On r's thread; a and the value of ttl_ms are kept (a must outlive
 * the client). Starts connecting. NULL when out of memory. */
struct redis *redis_new(const struct redis_addr *a, struct zg_reactor *r, unsigned ttl_ms);
/* Completes every get in flight as a miss, closes the connection. */
void redis_free(struct redis *rd);

int redis_get(struct redis *rd, uint32_t id, cache_cb cb, void *arg);
void redis_set(struct redis *rd, uint32_t id, const void *p, size_t n);
void redis_del(struct redis *rd, uint32_t id);

/* For tests: connected and ready for commands. */
bool redis_up(const struct redis *rd);

#endif
