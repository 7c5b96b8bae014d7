/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: per-reactor state, made and freed on each reactor
 * thread by zerg_http's reactor hooks: the SQLite handle and statement of
 * /db, the PostgreSQL pool of /async-db and /crud (db.c), crud's handle
 * on the item cache (cache.c), the gzip state of /compression, the
 * scratch buffer both write in.
 * The connections themselves are the HTTP layer's (examples/http).
 */
#include "app.h"
#include "cache.h"
#include "db.h"
#include "gz.h"

#include <stdlib.h>

static void open_db(struct worker *w)
{
	static const char sql[] =
		"SELECT id,name,category,price,quantity,active,tags,rating_score,"
		"rating_count FROM items WHERE price BETWEEN ? AND ? LIMIT 50";
	if (!w->app->have_db)
		return;
	if (sqlite3_open_v2(w->app->db_path, &w->sqlite,
			    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(w->sqlite, sql, -1, SQLITE_PREPARE_PERSISTENT, &w->stmt,
			       NULL) != SQLITE_OK) {
		/* A bad file serves empty results, as "no database" does. */
		sqlite3_finalize(w->stmt);
		sqlite3_close(w->sqlite);
		w->stmt = NULL;
		w->sqlite = NULL;
	}
}

void *worker_start(struct zg_reactor *r, void *udata)
{
	struct app *a = udata;
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		abort(); /* nothing sensible to serve without it */
	w->app = a;
	w->gz = gz_new();
	w->enc = enc_coder_new(NULL); /* docs/json-comp-choice.md */
	if (!w->gz || !w->enc)
		abort();
	open_db(w);
	w->db = db_new(a->dbs, r); /* NULL without DATABASE_URL */
	w->cache = a->caches ? cache_new(a->caches, r) : NULL; /* NULL: crud caches nothing */
	if (zg_reactor_id(r) == 0)
		atomic_store(&a->features, zg_reactor_features(r));
	return w;
}

void worker_stop(struct zg_reactor *r, void *worker)
{
	struct worker *w = worker;
	(void)r;
	if (!w)
		return;
	/* The pool first: its queries fail (their tickets are done), and
	 * a failed write still drops its item from the cache. Then the
	 * cache: gets it completes as misses find no database (w->db NULL)
	 * and fail at once. */
	db_free(w->db);
	w->db = NULL;
	cache_free(w->cache);
	w->cache = NULL;
	sqlite3_finalize(w->stmt);
	sqlite3_close(w->sqlite);
	gz_free(w->gz);
	enc_coder_free(w->enc);
	free(w->scratch);
	free(w);
}

bool scratch_reserve(struct worker *w, size_t need)
{
	return http_grow(&w->scratch, &w->scratch_cap, need);
}
