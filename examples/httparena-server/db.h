/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: PostgreSQL for /async-db and /crud (SPEC-HEAD.md §6).
 *
 * One struct db_shared for the process (the DATABASE_URL and the
 * DATABASE_MAX_CONN budget, shared out over the reactors), one struct db
 * per reactor: a pool of libpq connections in non-blocking pipeline mode,
 * each driven by a libzerg fd watch on the reactor thread, opened lazily
 * (the first query opens the first connection; more open while every
 * open one has queries in flight, up to this reactor's share), with the
 * statements below prepared once per connection. A broken connection
 * fails the queries it carried and is reopened by a later query.
 */
#ifndef DB_H
#define DB_H

#include <libpq-fe.h>

#include "zerg.h"

struct db_shared;
struct db;

/* The prepared statements; their parameters, in order, as text. */
enum db_stmt {
	DB_ASYNC_RANGE = 0, /* async-db: min, max, limit                      */
	DB_CRUD_GET,        /* crud: id                                       */
	DB_CRUD_LIST,       /* crud: category, limit, offset                  */
	DB_CRUD_UPSERT,     /* crud: id, name, category, price, quantity      */
	DB_CRUD_UPDATE,     /* crud: name, price, quantity, id                */
	DB_STMT_COUNT
};

/* url NULL or "": no database; every query fails (the routes answer as
 * SPEC-HEAD says for an unavailable database). max_conn: the whole
 * process's connection budget, split over nreactors (each at least 1).
 * 0, or -errno. */
int db_shared_new(struct db_shared **out, const char *url, unsigned max_conn,
		  unsigned nreactors);
void db_shared_free(struct db_shared *s);

/* On the reactor's thread (worker_start / worker_stop). */
struct db *db_new(struct db_shared *s, struct zg_reactor *r);
void db_free(struct db *d); /* fails every query still in flight */

/*
 * The result of one query: res (PGRES_TUPLES_OK or PGRES_COMMAND_OK),
 * valid during the call only, or NULL when the database failed (no
 * connection, an error, the pool going away). Runs on the reactor
 * thread, exactly once per query that db_query accepted, never from
 * inside db_query itself.
 */
typedef void (*db_cb)(void *arg, const PGresult *res);

/* Queue statement st with its parameters (NUL-terminated text; copied
 * before return). 0, or -1 and cb is never called. */
int db_query(struct db *d, enum db_stmt st, const char *const *params, db_cb cb, void *arg);

#endif
