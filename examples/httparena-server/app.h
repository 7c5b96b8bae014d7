/* SPDX-License-Identifier: MIT */
/* httparena-server: shared state of the application. */
#ifndef APP_H
#define APP_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "asyncdb.h"
#include "data.h"
#include "http_server.h"
#include "static.h"
#include "ws.h"

struct db_shared;
struct db;
struct cache_shared;
struct cache;

/* Read-only after start: shared by every reactor thread. */
struct app {
	struct dataset small, ints, large;
	bool generated[3];          /* dataset made in memory, no file   */
	char data_dir[4096];
	char db_path[4200];
	bool have_db;
	bool generated_db;          /* db_path is in the cache directory */
	struct http_config http;    /* the HTTP layer's (main.c)         */
	atomic_uint features;       /* ZG_FEAT_* of reactor 0            */
	struct static_store *statics; /* DIR/static, NULL without one    */
	struct db_shared *dbs;      /* /async-db, /crud: DATABASE_URL    */
	struct cache_shared *caches; /* /crud's item cache               */
};

/* One per reactor thread (http_worker()). */
struct worker {
	struct app *app;
	sqlite3 *sqlite;            /* /db: read-only, NULL without a file */
	sqlite3_stmt *stmt;
	struct gz *gz;
	struct enc_coder *enc;      /* json-comp: brotli and gzip        */
	struct db *db;              /* this reactor's PostgreSQL pool    */
	struct cache *cache;        /* this reactor's handle on the cache */
	char *scratch;              /* documents before gzip, /db rows   */
	size_t scratch_cap;
};

enum route {
	R_NOT_FOUND = 0,
	R_NOT_ALLOWED,
	R_BASELINE,
	R_PIPELINE,
	R_JSON,
	R_JSON_N,
	R_COMPRESSION,
	R_UPLOAD,
	R_DB,
	R_ROOT,             /* /: "OK"                               */
	R_ROOT_POST,        /* POST /: its body echoed               */
	R_ECHO,             /* /echo: the request's header lines     */
	R_WS,               /* /ws: WebSocket echo (echo-ws)          */
	R_STATIC,           /* /static/<file> (static)               */
	R_ASYNC_DB,         /* /async-db (async-db, api-4, api-16)   */
	R_CRUD_LIST,        /* GET /crud/items?category&page&limit   */
	R_CRUD_GET,         /* GET /crud/items/{id}                  */
	R_CRUD_CREATE,      /* POST /crud/items                      */
	R_CRUD_UPDATE,      /* PUT /crud/items/{id}                  */
};

/* What / and /echo keep for their response (the layer's body_max): a
 * body must be read whole before its 200 can go out (a bad chunk later
 * must still be a 400). */
#define KEEP_MAX (64 * 1024)

/* The methods some resource here answers: OPTIONS * and a CONNECT's 405
 * list them. */
#define SERVER_ALLOW "GET, HEAD, POST, PUT, OPTIONS"

/* What a response needs from the request head, taken before the head's
 * bytes are released (the body may follow). */
struct params {
	int64_t sum;         /* baseline: sum of the query values       */
	int64_t mult;        /* /json/{count}?m=                        */
	uint32_t count;      /* /json/{count}                           */
	bool gzip;           /* Accept-Encoding allows gzip             */
	uint8_t enc;         /* /json/{count}: the coding (enum enc)    */
	const struct static_file *sf; /* /static: the file, and the    */
	const struct static_rep *rep; /* representation chosen         */
	uint8_t sf_enc;
	double min, max;     /* /db                                     */
	struct asyncdb_params adb; /* /async-db                         */
};

/* The body as an integer (baseline POST), parsed as it streams in. */
struct bodynum {
	uint64_t value;
	uint8_t state;
	bool neg;
};

/* crud (crud.c): from the head; the list's category is in the request
 * buffer. */
struct crud_req {
	uint32_t id;         /* /crud/items/{id}                        */
	bool id_ok;          /* a number an item's id can be            */
	uint8_t limit;       /* the list's page size and number         */
	uint32_t page;
};

/* One per connection (http_conn_data()): the request being answered. */
struct hstate {
	struct params prm;
	struct crud_req crud;
	struct bodynum num;
	uint8_t route;
	/* /ws: the handshake's verdict and key, taken from the head; once
	 * upgraded, the connection's WebSocket state */
	uint16_t ws_status;
	uint8_t ws_keylen;
	bool ws_on;
	char ws_key[32];
	struct ws_state ws;
};

/* routes.c: the handler table. */
extern const struct http_handler app_handler;

/* worker.c: per-reactor state (the table's reactor hooks). */
void *worker_start(struct zg_reactor *r, void *udata);
void worker_stop(struct zg_reactor *r, void *worker);
/* w->scratch of at least need bytes; false when out of memory. */
bool scratch_reserve(struct worker *w, size_t need);

#endif
