/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: per-reactor pools of libpq connections (db.h),
 * docs/async-db.md has the design and the measurements behind it.
 *
 * A connection is a PGconn in non-blocking pipeline mode whose socket is
 * a libzerg watch of the reactor. Its life:
 *
 *   FREE -> CONNECTING (PQconnectStart, then PQconnectPoll in watch
 *   callbacks) -> READY (pipeline mode, the statements prepared in the
 *   pipeline ahead of the first query) -> FREE again when it breaks: its
 *   queries fail (cb with NULL), and a later query opens it anew.
 *
 * What was sent is mirrored in a FIFO of ops (a query, a prepare, a
 * sync): libpq hands results back in that order, one result then NULL
 * per query or prepare, a PGRES_PIPELINE_SYNC alone per sync.
 *
 * Syncs: a read query is not followed by its own Sync (PQpipelineSync
 * flushes, so one per query would be one send(2) per query): the reads
 * of a loop iteration share one Sync, sent by a 0 ms timer at the start
 * of the next iteration (before the reactor waits). An error aborts the
 * reads behind it up to that Sync (they fail: cb NULL); the ones before
 * it have their results. A write (crud's upsert and update) gets its own
 * Sync at once, so no two writes share an implicit transaction (two
 * could otherwise take row locks in opposite orders).
 *
 * Callbacks never run inside db_query: whatever db_query finds broken is
 * failed from that timer.
 *
 * Connecting: one connect in flight per reactor at a time, with a
 * deadline; after a failure none for a backoff (100 ms doubling to 2 s)
 * during which a query with no ready connection fails at once (db_query
 * returns -1): no connect storm while PostgreSQL is down, fast answers
 * meanwhile, and the next connect after the backoff finds it back.
 * Blocking parts: PQconnectStart resolves a host name (getaddrinfo; the
 * benchmark's "localhost" is /etc/hosts), and the SCRAM exchange costs a
 * millisecond or two of CPU per connection, on the reactor thread.
 */
#include "db.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A connection that has not connected by then is given up. */
#define CONNECT_TIMEOUT_MS 3000
#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     2000
/* Queries waiting for the first connection of a reactor, at most. */
#define WAIT_MAX           4096
/* Queries in flight on one connection, at most: past it PostgreSQL is
 * not keeping up (stopped, say) and a query fails at once, rather than
 * piling up in libpq's output and our FIFO for every client that gave
 * up and came back. */
#define QUERY_MAX          4096
/* Grow the pool when the least busy connection has this many queries in
 * flight (and the share allows): docs/async-db.md. */
#define GROW_AT            1
/* 1: a Sync after every query, as without the batching below (built so
 * only to measure it, docs/async-db.md) */
#ifndef DB_SYNC_EACH
#define DB_SYNC_EACH       0
#endif

struct db_shared {
	char *url;             /* NULL: no database                     */
	unsigned share;        /* connections per reactor, at least 1   */
};

static const struct {
	const char *sql;
	int nparams;
	bool write;
} stmts[DB_STMT_COUNT] = {
	[DB_ASYNC_RANGE] = { "SELECT id, name, category, price, quantity, active, tags, "
			     "rating_score, rating_count FROM items "
			     "WHERE price BETWEEN $1 AND $2 LIMIT $3", 3, false },
	[DB_CRUD_GET] = { "SELECT id, name, category, price, quantity, active, tags, "
			  "rating_score, rating_count FROM items WHERE id = $1 LIMIT 1", 1, false },
	[DB_CRUD_LIST] = { "SELECT id, name, category, price, quantity, active, tags, "
			   "rating_score, rating_count FROM items WHERE category = $1 "
			   "ORDER BY id LIMIT $2 OFFSET $3", 3, false },
	[DB_CRUD_UPSERT] = { "INSERT INTO items (id, name, category, price, quantity, active, "
			     "tags, rating_score, rating_count) "
			     "VALUES ($1, $2, $3, $4, $5, true, '[\"bench\"]', 0, 0) "
			     "ON CONFLICT (id) DO UPDATE SET name = $2, price = $4, quantity = $5",
			     5, true },
	[DB_CRUD_UPDATE] = { "UPDATE items SET name = $1, price = $2, quantity = $3 "
			     "WHERE id = $4", 4, true },
};

static const char *const stmt_name[DB_STMT_COUNT] = { "s0", "s1", "s2", "s3", "s4" };

enum { PC_FREE = 0, PC_CONNECTING, PC_READY };
enum { OP_QUERY = 0, OP_PREPARE, OP_SYNC };

struct op {
	db_cb cb;
	void *arg;
	uint8_t kind;
};

/* A FIFO of ops, a ring that doubles. */
struct ops {
	struct op *v;
	unsigned head, n, cap;
};

struct pgconn {
	struct db *d;
	PGconn *pg;
	struct zg_watch *w;
	int fd;                /* the watched descriptor                */
	uint8_t state;
	bool got;              /* the head op had its result, NULL next */
	bool unsynced;         /* reads sent since the last Sync        */
	bool broken;           /* found broken in db_query: fail it soon */
	unsigned queries;      /* OP_QUERY in ops                       */
	struct ops ops;
};

/* A query that waits for the first connection (its own copy). */
struct waiting {
	struct waiting *next;
	db_cb cb;
	void *arg;
	uint8_t st;
	const char *params[5];
	char text[];
};

struct db {
	struct db_shared *s;
	struct zg_reactor *r;
	struct pgconn *conns;  /* s->share of them                       */
	unsigned ready;        /* READY connections                      */
	struct pgconn *connecting; /* the one connect in flight, or NULL */
	uint64_t retry_at;     /* no connect before (backoff)            */
	unsigned backoff_ms;
	struct zg_timer *kick; /* 0 ms: syncs, and failures found in db_query */
	struct zg_timer *tmo;  /* the connect's deadline                 */
	bool kick_due;
	bool freeing;
	struct waiting *wait_head, **wait_tail;
	unsigned nwait;
};

/* ------------------------------------------------------------------ */
/* The shared part                                                     */
/* ------------------------------------------------------------------ */

int db_shared_new(struct db_shared **out, const char *url, unsigned max_conn,
		  unsigned nreactors)
{
	struct db_shared *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	if (url && *url && !(s->url = strdup(url))) {
		free(s);
		return -ENOMEM;
	}
	if (nreactors == 0)
		nreactors = 1;
	s->share = max_conn / nreactors;
	if (s->share == 0)
		s->share = 1;
	*out = s;
	return 0;
}

void db_shared_free(struct db_shared *s)
{
	if (!s)
		return;
	free(s->url);
	free(s);
}

/* ------------------------------------------------------------------ */
/* Ops                                                                 */
/* ------------------------------------------------------------------ */

static bool ops_push(struct ops *q, db_cb cb, void *arg, uint8_t kind)
{
	if (q->n == q->cap) {
		unsigned cap = q->cap ? 2 * q->cap : 16;
		struct op *v = malloc(cap * sizeof(*v));
		if (!v)
			return false;
		for (unsigned i = 0; i < q->n; i++)
			v[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = v;
		q->head = 0;
		q->cap = cap;
	}
	q->v[(q->head + q->n) % q->cap] = (struct op){ cb, arg, kind };
	q->n++;
	return true;
}

static struct op ops_pop(struct ops *q)
{
	struct op o = q->v[q->head];
	q->head = (q->head + 1) % q->cap;
	q->n--;
	return o;
}

/* The 0 ms timer: at the start of the next loop iteration. */
static void kick(struct db *d)
{
	if (!d->kick_due) {
		d->kick_due = true;
		zg_timer_start(d->kick, 0, 0);
	}
}

/* ------------------------------------------------------------------ */
/* Failing                                                             */
/* ------------------------------------------------------------------ */

/* The connection goes back to FREE; then every query it carried fails.
 * Callbacks may queue new queries (on other connections, or open this
 * slot anew): pc is not touched after them. */
static void conn_close(struct pgconn *pc)
{
	struct db *d = pc->d;
	struct ops q = pc->ops;

	if (pc->state == PC_READY)
		d->ready--;
	if (d->connecting == pc) {
		d->connecting = NULL;
		zg_timer_stop(d->tmo);
	}
	zg_watch_free(pc->w);
	PQfinish(pc->pg);
	*pc = (struct pgconn){ .d = d, .fd = -1 };
	while (q.n) {
		struct op o = ops_pop(&q);
		if (o.kind == OP_QUERY)
			o.cb(o.arg, NULL);
	}
	free(q.v);
}

/* Every waiting query fails (no connection came). */
static void fail_waiting(struct db *d)
{
	struct waiting *wq = d->wait_head;

	d->wait_head = NULL;
	d->wait_tail = &d->wait_head;
	d->nwait = 0;
	while (wq) {
		struct waiting *next = wq->next;
		wq->cb(wq->arg, NULL);
		free(wq);
		wq = next;
	}
}

static void backoff(struct db *d)
{
	d->backoff_ms = d->backoff_ms ? 2 * d->backoff_ms : BACKOFF_MIN_MS;
	if (d->backoff_ms > BACKOFF_MAX_MS)
		d->backoff_ms = BACKOFF_MAX_MS;
	d->retry_at = zg_reactor_now_ms(d->r) + d->backoff_ms;
}

/* A connect failed: back off; the queries that waited for it fail when
 * no other connection can take them. */
static void connect_failed(struct pgconn *pc)
{
	struct db *d = pc->d;

	backoff(d);
	conn_close(pc);
	if (d->ready == 0 && !d->connecting)
		fail_waiting(d);
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

static bool send_query(struct pgconn *pc, unsigned st, const char *const *params, db_cb cb,
		       void *arg)
{
	if (!ops_push(&pc->ops, cb, arg, OP_QUERY))
		return false;
	if (!PQsendQueryPrepared(pc->pg, stmt_name[st], stmts[st].nparams, params, NULL, NULL,
				 0)) {
		pc->ops.n--; /* not sent: the caller keeps the callback */
		return false;
	}
	pc->queries++;
	if (stmts[st].write || DB_SYNC_EACH) {
		/* its own Sync now (flushes what is before it too) */
		if (!ops_push(&pc->ops, NULL, NULL, OP_SYNC) || !PQpipelineSync(pc->pg))
			pc->broken = true;
		else
			pc->unsynced = false;
	} else {
		pc->unsynced = true;
	}
	return true;
}

static void watch_update(struct pgconn *pc, bool consumed);

/* The iteration's Sync of the reads, and the flush. false: broken. */
static bool conn_sync(struct pgconn *pc)
{
	if (!pc->unsynced)
		return true;
	pc->unsynced = false;
	if (!ops_push(&pc->ops, NULL, NULL, OP_SYNC) || !PQpipelineSync(pc->pg))
		return false;
	watch_update(pc, false);
	return true;
}

/* The 0 ms timer: Syncs, and the connections db_query found broken. */
static void on_kick(struct zg_timer *t, void *arg)
{
	struct db *d = arg;
	(void)t;

	d->kick_due = false;
	for (unsigned i = 0; i < d->s->share; i++) {
		struct pgconn *pc = &d->conns[i];
		if (pc->state != PC_READY)
			continue;
		if (pc->broken || !conn_sync(pc))
			conn_close(pc);
	}
}

/* ------------------------------------------------------------------ */
/* Receiving                                                           */
/* ------------------------------------------------------------------ */

/* A result for the head op. false: the connection is of no more use
 * (a statement could not be prepared). */
static bool take_result(struct pgconn *pc, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	struct op o;

	if (st == PGRES_PIPELINE_SYNC) {
		if (pc->ops.n && pc->ops.v[pc->ops.head].kind == OP_SYNC)
			ops_pop(&pc->ops);
		PQclear(res);
		return true;
	}
	if (!pc->ops.n || pc->got) {
		PQclear(res); /* not ours: cannot happen with libpq's order */
		return false;
	}
	if (pc->ops.v[pc->ops.head].kind == OP_SYNC) {
		/* an error where the Sync's answer was due: the backend is
		 * gone (pg_terminate_backend); the Sync has no callback */
		PQclear(res);
		return false;
	}
	o = ops_pop(&pc->ops);
	pc->got = true;
	if (o.kind == OP_PREPARE) {
		PQclear(res);
		if (st == PGRES_COMMAND_OK)
			return true;
		/* no table, say: as a failed connect, or every query would
		 * open a connection that cannot serve it */
		backoff(pc->d);
		return false;
	}
	pc->queries--;
	o.cb(o.arg, st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ? res : NULL);
	PQclear(res);
	return true;
}

/* Every result libpq has complete, without blocking. false: close it. */
static bool drain(struct pgconn *pc)
{
	while (pc->state == PC_READY && (pc->ops.n || pc->got)) {
		if (PQisBusy(pc->pg))
			return PQstatus(pc->pg) == CONNECTION_OK;
		PGresult *res = PQgetResult(pc->pg);
		if (!res) {
			if (!pc->got)
				return false; /* NULL before a result: broken */
			pc->got = false;
			continue;
		}
		if (!take_result(pc, res))
			return false;
	}
	return PQstatus(pc->pg) == CONNECTION_OK;
}

/* READ always; WRITE while libpq has output it could not send. Re-armed
 * after a read too: PQconsumeInput reads once, not to EAGAIN, and the
 * watch is edge-triggered (zg_watch_set checks at once). */
static void watch_update(struct pgconn *pc, bool consumed)
{
	int fl = PQflush(pc->pg);
	unsigned want = ZG_WATCH_READ | (fl == 1 ? ZG_WATCH_WRITE : 0);

	if (fl < 0) {
		pc->broken = true;
		kick(pc->d);
		return;
	}
	if (consumed || zg_watch_events(pc->w) != want)
		if (zg_watch_set(pc->w, want)) {
			pc->broken = true;
			kick(pc->d);
		}
}

/* ------------------------------------------------------------------ */
/* Connecting                                                          */
/* ------------------------------------------------------------------ */

static void on_watch(struct zg_watch *w, unsigned ev, void *arg);

/* Watch libpq's socket for `events`; a new socket (libpq moving to the
 * next address) gets a new watch. */
static bool watch_fd(struct pgconn *pc, unsigned events)
{
	int fd = PQsocket(pc->pg);

	if (fd < 0)
		return false;
	if (fd != pc->fd || !pc->w) {
		zg_watch_free(pc->w);
		pc->w = NULL;
		pc->fd = fd;
		return zg_watch_new(pc->d->r, fd, events, on_watch, pc, &pc->w) == 0;
	}
	return zg_watch_set(pc->w, events) == 0;
}

/* Connected: pipeline mode, the statements, then the queries that
 * waited. */
static bool conn_ready(struct pgconn *pc)
{
	struct db *d = pc->d;

	if (PQsetnonblocking(pc->pg, 1) || !PQenterPipelineMode(pc->pg))
		return false;
	for (unsigned i = 0; i < DB_STMT_COUNT; i++) {
		if (!ops_push(&pc->ops, NULL, NULL, OP_PREPARE))
			return false;
		if (!PQsendPrepare(pc->pg, stmt_name[i], stmts[i].sql, stmts[i].nparams, NULL)) {
			pc->ops.n--;
			return false;
		}
	}
	pc->unsynced = true;
	pc->state = PC_READY;
	d->ready++;
	d->connecting = NULL;
	zg_timer_stop(d->tmo);
	d->backoff_ms = 0;
	while (d->wait_head) {
		struct waiting *wq = d->wait_head;
		if (!send_query(pc, wq->st, wq->params, wq->cb, wq->arg))
			break; /* they fail below, with the connection */
		d->wait_head = wq->next;
		d->nwait--;
		free(wq);
	}
	if (!d->wait_head)
		d->wait_tail = &d->wait_head;
	else
		pc->broken = true;
	kick(d);
	return watch_fd(pc, ZG_WATCH_READ);
}

static void connect_step(struct pgconn *pc)
{
	switch (PQconnectPoll(pc->pg)) {
	case PGRES_POLLING_READING:
		if (!watch_fd(pc, ZG_WATCH_READ))
			connect_failed(pc);
		return;
	case PGRES_POLLING_WRITING:
		if (!watch_fd(pc, ZG_WATCH_WRITE))
			connect_failed(pc);
		return;
	case PGRES_POLLING_OK:
		if (!conn_ready(pc)) {
			/* connected but unusable: as a failed connect */
			struct db *d = pc->d;
			backoff(d);
			conn_close(pc);
			if (d->ready == 0 && !d->connecting)
				fail_waiting(d);
		}
		return;
	default:
		connect_failed(pc);
		return;
	}
}

static void on_watch(struct zg_watch *w, unsigned ev, void *arg)
{
	struct pgconn *pc = arg;
	(void)w;

	if (pc->state == PC_CONNECTING) {
		connect_step(pc);
		return;
	}
	if (ev & (ZG_WATCH_READ | ZG_WATCH_HUP | ZG_WATCH_ERROR)) {
		if (!PQconsumeInput(pc->pg) || !drain(pc)) {
			conn_close(pc);
			return;
		}
		if (pc->state == PC_READY)
			watch_update(pc, true);
		return;
	}
	/* WRITE: room again; flushing may also have read input */
	if (!drain(pc)) {
		conn_close(pc);
		return;
	}
	if (pc->state == PC_READY)
		watch_update(pc, false);
}

/* The connect's deadline passed. */
static void on_connect_timeout(struct zg_timer *t, void *arg)
{
	struct db *d = arg;
	(void)t;

	if (d->connecting)
		connect_failed(d->connecting);
}

/* Open a connection in a free slot (one connect at a time, not during
 * a backoff). Never calls a callback: a connect that fails at once only
 * sets the backoff. */
static void conn_open(struct db *d)
{
	struct pgconn *pc = NULL;

	if (d->connecting || zg_reactor_now_ms(d->r) < d->retry_at)
		return;
	for (unsigned i = 0; i < d->s->share && !pc; i++)
		if (d->conns[i].state == PC_FREE)
			pc = &d->conns[i];
	if (!pc)
		return;
	*pc = (struct pgconn){ .d = d, .fd = -1 };
	pc->pg = PQconnectStart(d->s->url);
	if (!pc->pg || PQstatus(pc->pg) == CONNECTION_BAD) {
		PQfinish(pc->pg);
		pc->pg = NULL;
		backoff(d);
		return;
	}
	pc->state = PC_CONNECTING;
	d->connecting = pc;
	/* libpq's docs: begin by waiting until the socket is writable */
	if (!watch_fd(pc, ZG_WATCH_WRITE)) {
		zg_watch_free(pc->w);
		PQfinish(pc->pg);
		*pc = (struct pgconn){ .d = d, .fd = -1 };
		d->connecting = NULL;
		backoff(d);
		return;
	}
	zg_timer_start(d->tmo, CONNECT_TIMEOUT_MS, 0);
}

/* ------------------------------------------------------------------ */
/* The pool                                                            */
/* ------------------------------------------------------------------ */

struct db *db_new(struct db_shared *s, struct zg_reactor *r)
{
	struct db *d;

	if (!s || !s->url)
		return NULL; /* every query fails (db_query(NULL, ...)) */
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->s = s;
	d->r = r;
	d->wait_tail = &d->wait_head;
	d->conns = calloc(s->share, sizeof(*d->conns));
	if (!d->conns || zg_timer_new(r, on_kick, d, &d->kick) ||
	    zg_timer_new(r, on_connect_timeout, d, &d->tmo)) {
		zg_timer_free(d->kick);
		free(d->conns);
		free(d);
		return NULL;
	}
	for (unsigned i = 0; i < s->share; i++)
		d->conns[i] = (struct pgconn){ .d = d, .fd = -1 };
	return d;
}

void db_free(struct db *d)
{
	if (!d)
		return;
	d->freeing = true;
	for (unsigned i = 0; i < d->s->share; i++)
		if (d->conns[i].state != PC_FREE)
			conn_close(&d->conns[i]);
	fail_waiting(d);
	zg_timer_free(d->kick);
	zg_timer_free(d->tmo);
	free(d->conns);
	free(d);
}

/* The READY connection with the fewest queries in flight. */
static struct pgconn *least_busy(struct db *d)
{
	struct pgconn *best = NULL;

	for (unsigned i = 0; i < d->s->share; i++) {
		struct pgconn *pc = &d->conns[i];
		if (pc->state == PC_READY && !pc->broken && (!best || pc->queries < best->queries))
			best = pc;
		if (best && best->queries == 0)
			break;
	}
	return best;
}

static int wait_first(struct db *d, enum db_stmt st, const char *const *params, db_cb cb,
		      void *arg)
{
	size_t len[5], total = 0;
	int np = stmts[st].nparams;
	struct waiting *wq;

	if (d->nwait >= WAIT_MAX)
		return -1;
	for (int i = 0; i < np; i++)
		total += (len[i] = strlen(params[i])) + 1;
	wq = malloc(sizeof(*wq) + total);
	if (!wq)
		return -1;
	*wq = (struct waiting){ .cb = cb, .arg = arg, .st = (uint8_t)st };
	char *p = wq->text;
	for (int i = 0; i < np; i++) {
		memcpy(p, params[i], len[i] + 1);
		wq->params[i] = p;
		p += len[i] + 1;
	}
	*d->wait_tail = wq;
	d->wait_tail = &wq->next;
	d->nwait++;
	return 0;
}

int db_query(struct db *d, enum db_stmt st, const char *const *params, db_cb cb, void *arg)
{
	struct pgconn *pc;

	if (!d || d->freeing || !cb || (unsigned)st >= DB_STMT_COUNT)
		return -1;
	pc = least_busy(d);
	if ((!pc || pc->queries >= GROW_AT) && d->ready < d->s->share)
		conn_open(d);
	if (pc && pc->queries >= QUERY_MAX)
		return -1;
	if (!pc) {
		if (!d->connecting)
			return -1; /* down (backing off) or no slot: fail fast */
		return wait_first(d, st, params, cb, arg);
	}
	if (!send_query(pc, st, params, cb, arg)) {
		pc->broken = true;
		kick(d);
		return -1;
	}
	if (pc->broken || pc->unsynced)
		kick(d);
	return 0;
}
