/* SPDX-License-Identifier: MIT */
/* httparena-server: /async-db (SPEC-HEAD.md 6.2) on the PostgreSQL pool
 * of db.h. */
#ifndef ASYNCDB_H
#define ASYNCDB_H

#include <stddef.h>
#include <stdint.h>

#include "http_server.h"

/* What the response needs from the query string. */
struct asyncdb_params {
	int32_t min, max;
	uint8_t limit;
};

/* From on_request: min, max and limit of the query (q NULL: none), as
 * integers (leading zeros and a sign taken), defaults 10, 50, 50, limit
 * clamped to 1..50; anything else is the default. */
void asyncdb_params(struct asyncdb_params *p, const uint8_t *q, size_t n);

/* From on_complete: the query goes to the reactor's pool and the answer
 * comes later (HTTP_LATER); {"items":[],"count":0} at once when there is
 * no database or it is known to be down. 0, -1 or HTTP_LATER. */
int asyncdb_complete(struct http_conn *c, const struct asyncdb_params *p);

#endif
