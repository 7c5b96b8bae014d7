/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: the crud profile (SPEC-HEAD.md §6.5-6.7), on the
 * PostgreSQL pool of db.h and the item cache of cache.h:
 *
 *   GET  /crud/items?category&page&limit  a page of a category, never cached
 *   GET  /crud/items/{id}                 cache-aside, X-Cache: HIT|MISS
 *   POST /crud/items                      upsert, 201, drops the id's cache entry
 *   PUT  /crud/items/{id}                 update, 200 or 404, drops it too
 *
 * routes.c calls crud_route() from its router, crud_request() from
 * on_request and crud_complete() from on_complete.
 */
#ifndef CRUD_H
#define CRUD_H

#include "app.h"

/* The single items' time to live in the cache: absolute, from the
 * store (SPEC-HEAD §6.5). */
#define CRUD_TTL_MS 200

/* A /crud path: true, with *r its route (R_CRUD_*, or R_NOT_ALLOWED for
 * another method) and *allow the resource's methods. false: not crud's. */
bool crud_route(const uint8_t *path, size_t n, uint8_t method, enum route *r,
		const char **allow);

/* From on_request: take what the response needs (the id, the list's
 * query; the category goes to the request buffer). Returns the body
 * mode, or a status to refuse the request with. */
int crud_request(struct http_conn *c, struct hstate *s, const struct http_req *r);

/* From on_complete: 0, -1 or HTTP_LATER (the database or Redis answers
 * later). */
int crud_complete(struct http_conn *c, const struct hstate *s);

#endif
