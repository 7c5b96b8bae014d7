/* SPDX-License-Identifier: MIT */
/* httparena-server: shared state of the application. */
#ifndef APP_H
#define APP_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "data.h"
#include "http.h"
#include "zerg.h"

/* Read-only after start: shared by every reactor thread. */
struct app {
	struct dataset small, ints, large;
	bool generated[3];          /* dataset made in memory, no file   */
	char data_dir[4096];
	char db_path[4200];
	bool have_db;
	bool generated_db;          /* db_path is in the cache directory */
	unsigned request_timeout_ms; /* a request that stalls half-way   */
	unsigned idle_timeout_ms;    /* a keep-alive connection at rest  */
	size_t output_backlog;       /* per connection: pause pipelining
	                              * above this much queued output    */
	size_t output_budget;        /* per reactor: output held for
	                              * peers that do not read (server.c) */
	atomic_uint features;        /* ZG_FEAT_* of reactor 0            */
};

/* One per reactor thread (its zg_reactor udata). */
struct worker {
	struct app *app;
	struct zg_timer *clock;     /* refreshes date once a second      */
	char date[HTTP_DATE_LEN];
	sqlite3 *db;                /* read-only, NULL without a DB file */
	sqlite3_stmt *stmt;
	struct gz *gz;
	char *scratch;              /* documents before gzip, /db rows   */
	size_t scratch_cap;
	/* Output budget (server.c): the queues of connections as last seen,
	 * and the list of them; new output of this loop pass; the
	 * connection whose turn it is. */
	size_t held;
	struct hconn *holders;
	uint64_t pass_ms;
	size_t pass_out;
	struct hconn *turn;
	/* Connections whose turn ended, waiting for the next iteration
	 * (server.c), and whether a post will wake them. */
	struct hconn *later_head, **later_tail;
	bool wake_posted;
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
	R_OPTIONS_SERVER,   /* OPTIONS *                             */
	R_ROOT,             /* /: "OK", or a POST's body echoed      */
	R_ECHO,             /* /echo: the request's header lines     */
};

/* What R_ROOT and R_ECHO keep for their response: the head's bytes are
 * released before the body is read, and a body must be read whole
 * before its 200 can go out (a bad chunk later must still be a 400). */
#define KEEP_MAX (64 * 1024)

/* The methods some resource here answers: OPTIONS * and a CONNECT's 405
 * list them. */
#define SERVER_ALLOW "GET, HEAD, POST, OPTIONS"

/* What a response needs from the request head, taken before the head's
 * bytes are released (the body may follow). */
struct params {
	int64_t sum;         /* baseline: sum of the query values       */
	int64_t mult;        /* /json/{count}?m=                        */
	uint32_t count;      /* /json/{count}                           */
	bool gzip;           /* Accept-Encoding allows gzip             */
	double min, max;     /* /db                                     */
	const char *allow;   /* Allow: on a 405, and with send_allow     */
	bool send_allow;     /* an OPTIONS answer                       */
};

/* The body as an integer (baseline POST), parsed as it streams in. */
struct bodynum {
	uint64_t value;
	uint8_t state;
	bool neg;
};

/* Bytes a route keeps across segments, allocated on first use. */
struct keep {
	char *p;
	size_t len, cap;
};

enum { PH_HEAD = 0, PH_BODY };

/* One per connection (its zg_conn udata). */
struct hconn {
	struct worker *w;
	uint64_t body_left;      /* Content-Length bytes still to come   */
	uint64_t received;       /* body bytes received so far           */
	uint32_t body_quota;     /* body bytes since the deadline was set */
	struct params prm;
	struct bodynum num;
	struct http_chunked chunk;
	struct keep keep;        /* R_ROOT, R_ECHO; freed after responding */
	uint8_t phase;
	uint8_t route;
	bool chunked;
	bool head_only;          /* HEAD: no body in the response        */
	bool close;              /* close after this response            */
	bool keep_alive;         /* HTTP/1.0 keep-alive: say so          */
	bool slow;               /* the request timeout is armed         */
	bool deadline;           /* a hard deadline is armed: a partial
	                          * head, or a body (see server.c)        */
	bool blocked;            /* output backlog: wait for on_drain    */
	/* Output budget (server.c) */
	size_t queued;           /* zg_conn_pending when last seen       */
	size_t carried;          /* ... when its last turn started       */
	uint64_t turn_ms;        /* the pass of its last turn            */
	size_t held;             /* counted in worker.held               */
	struct hconn *held_next, **held_prev;
	bool later;              /* on the worker's later queue          */
	struct hconn *later_next, **later_prev;
	struct zg_conn *c;
	struct http_request req; /* last: the big one                    */
};

/* routes.c */
/* The head is complete: pick the route and take what the response needs
 * from the head. 0, or the status to refuse the request with (413, 500)
 * before its body. */
unsigned route_request(struct hconn *h, const uint8_t *buf);
/* n body bytes: 0, or the status to refuse the request with (413). */
unsigned route_body(struct hconn *h, const uint8_t *p, size_t n);
/* The connection is gone: free what the route kept. */
void route_free(struct hconn *h);
/* Queue the response; 0, or -1 when the connection had to be aborted. */
int route_respond(struct zg_conn *c, struct hconn *h);
/* Queue an error response (400, 405, 414, 431...) with Connection: close;
 * allow is the Allow value of a 405, else NULL. */
int respond_error(struct zg_conn *c, struct worker *w, unsigned status,
		  const char *allow);

/* server.c */
extern const struct zg_handler http_handler;
void worker_start(struct zg_reactor *r, void *udata);
void worker_stop(struct zg_reactor *r, void *udata);

#endif
