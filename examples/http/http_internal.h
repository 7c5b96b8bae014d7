/* SPDX-License-Identifier: MIT */
/* zerg_http: the layer's own state, shared by its files (not an API). */
#ifndef HTTP_INTERNAL_H
#define HTTP_INTERNAL_H

#include <stdalign.h>
#include <stddef.h>

#include "http_server.h"

/* One per reactor thread (its zg_reactor udata). */
struct http_reactor {
	const struct http_config *cfg;
	void *worker;               /* the application's (on_reactor_start) */
	struct zg_timer *clock;     /* refreshes date once a second          */
	char date[HTTP_DATE_LEN];
	/* Output budget (http_server.c): the queues of connections as last
	 * seen, and the list of them; new output of this loop pass; the
	 * connection whose turn it is. */
	size_t held;
	struct http_conn *holders;
	uint64_t pass_ms;
	size_t pass_out;
	struct http_conn *turn;
	/* Connections whose turn ended, waiting for the next iteration, and
	 * whether a post will wake them. */
	struct http_conn *later_head, **later_tail;
	bool wake_posted;
};

/* A response being built in place (http_respond.c): the body is written
 * at a guessed offset (head size with the digits of the bound), then
 * moved down by the few bytes the guess was off, so the head can carry
 * the exact Content-Length without a copy of the body. */
struct http_out {
	struct http_head head;
	char *base;                 /* NULL: no response begun              */
	size_t fixed;               /* extra_len included                   */
	unsigned digits;
	const char *extra;          /* http_begin_extra's lines, or NULL    */
	size_t extra_len;
};

/* The request buffer, allocated on first use. */
struct http_buf {
	char *p;
	size_t len, cap;
};

enum { HTTP_PH_HEAD = 0, HTTP_PH_BODY };

/* One per connection (its zg_conn udata). */
struct http_conn {
	struct http_reactor *hr;
	struct zg_conn *c;
	uint64_t body_left;      /* Content-Length bytes still to come   */
	uint64_t body_len;       /* body bytes received so far           */
	uint32_t body_quota;     /* body bytes since the deadline was set */
	struct http_chunked chunk;
	struct http_buf buf;
	struct http_out out;
	const char *allow;       /* http_set_allow                       */
	const char *vary;        /* http_set_vary                        */
	uint8_t phase;
	uint8_t mode;            /* enum http_body_mode                  */
	uint8_t method;
	bool builtin;            /* OPTIONS *: the layer answers         */
	bool chunked;
	bool head_only;          /* HEAD: no body in the response        */
	bool close;              /* close after this response            */
	bool keep_alive;         /* HTTP/1.0 keep-alive: say so          */
	bool responded;          /* a response was written               */
	bool failed;             /* a response could not be queued       */
	bool slow;               /* the request timeout is armed         */
	bool deadline;           /* a hard deadline is armed: a partial
	                          * head, or a body (see http_server.c)  */
	bool blocked;            /* output backlog: wait for on_drain    */
	/* Output budget (http_server.c) */
	size_t queued;           /* zg_conn_pending when last seen       */
	size_t carried;          /* ... when its last turn started       */
	uint64_t turn_ms;        /* the pass of its last turn            */
	size_t held;             /* counted in http_reactor.held         */
	struct http_conn *held_next, **held_prev;
	bool later;              /* on the reactor's later queue         */
	struct http_conn *later_next, **later_prev;
	/* http_ticket: a response that comes later (the ticket points back
	 * here until it is done or this closes); on_complete is running */
	struct http_ticket *ticket;
	bool completing;
	/* http_upgrade: the connection's input goes to take_data now */
	void (*take_data)(struct http_conn *c, void *arg);
	void *take_arg;
	struct http_request req; /* the big one                          */
	alignas(max_align_t) unsigned char data[]; /* conn_size bytes    */
};

/* http_respond.c */
/* Free the request buffer. */
void http__buf_free(struct http_conn *h);
/* The layer's own answers: an empty 200 with the server's Allow
 * (OPTIONS *); an error that ignores the request's HEAD-ness (its
 * method may be unknown). */
int http__respond_empty(struct http_conn *h);
int http__reject_status(struct http_conn *h, unsigned status);

#endif
