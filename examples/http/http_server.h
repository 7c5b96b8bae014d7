/* SPDX-License-Identifier: MIT */
/*
 * zerg_http: an HTTP/1.1 server layer on libzerg (examples/http).
 *
 * The layer owns the connections. It parses request heads (in place in
 * the ring buffers, or from a contiguous copy when a head straddles
 * two), answers every pipelined request of a read in the same pass,
 * sends 100 Continue, takes bodies (Content-Length or chunked), keeps
 * the request and idle timeouts and the slow-peer deadlines, bounds
 * queued output per connection and per reactor, and answers what is
 * HTTP's own business: malformed requests (400, 414, 431, then close),
 * CONNECT (405, close) and OPTIONS * (200, Allow). The application
 * gives a handler table:
 *
 *   on_request   the head is complete: route it, keep what the response
 *                needs from it (its bytes are released before the body),
 *                and say how the body is taken: HTTP_BODY_STREAM,
 *                _BUFFER or _DISCARD, or refuse with a status;
 *   on_body      a run of body bytes (HTTP_BODY_STREAM);
 *   on_complete  the request is complete: write the response, once,
 *                with http_begin()/http_end(), http_respond() or
 *                http_respond_status(), now or later (http_ticket()).
 *
 * Every callback runs on the connection's reactor thread. Names: every
 * public name of the layer starts with http_ (HTTP_ for macros); those
 * of the pure parser and head writer are in http.h, number formatting
 * in http_fmt.h. See README.md.
 */
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "zerg.h"

/* One connection (opaque; valid until its on_close returns). */
struct http_conn;

/* What on_request sees, valid during the call only: the head's bytes
 * are released before the body is read. */
struct http_req {
	const struct http_request *rq; /* the parsed head: method, fields...  */
	const uint8_t *buf;            /* its bytes: rq's offsets index them   */
	const uint8_t *path;           /* absolute-path, without the query;
	                                * "/" for an absolute-form without one */
	size_t path_len;
	const uint8_t *query;          /* after the '?', NULL without one      */
	size_t query_len;
};

/* How on_request wants the body taken (or it returns a status). */
enum http_body_mode {
	HTTP_BODY_STREAM = 0,  /* on_body for each run, as it arrives       */
	HTTP_BODY_BUFFER = 1,  /* appended to the request buffer, at most
	                        * body_max bytes (past them: 413 and close);
	                        * http_buffer() in on_complete              */
	HTTP_BODY_DISCARD = 2, /* read and dropped; http_body_length() counts */
};

struct http_handler {
	/* The head is complete. Returns an enum http_body_mode, or an HTTP
	 * status (400..599; anything else is 500) to refuse the request
	 * before its body: that error response, with Connection: close, and
	 * the connection closes. */
	int (*on_request)(struct http_conn *c, const struct http_req *r);
	/* n body bytes (HTTP_BODY_STREAM; may be NULL). Returns 0, or a
	 * status to refuse the request with (as on_request). */
	unsigned (*on_body)(struct http_conn *c, const uint8_t *p, size_t n);
	/* The whole request is in: write its response. Returns 0, or -1 to
	 * abort the connection (also done when a response could not be
	 * queued), or HTTP_LATER with a ticket taken (below). No response
	 * written: a 500 is sent. */
	int (*on_complete)(struct http_conn *c);
	/* Optional: the connection is going away (its data is freed after). */
	void (*on_close)(struct http_conn *c);
	/* Optional, on each reactor thread: per-reactor application state
	 * (http_worker()), made from the config's udata / freed. */
	void *(*on_reactor_start)(struct zg_reactor *r, void *udata);
	void (*on_reactor_stop)(struct zg_reactor *r, void *worker);
};

/* Configuration: http_config_init(), then set what you need. Shared
 * read-only by the reactor threads: it must outlive the server. */
struct http_config {
	const struct http_handler *handler;
	void *udata;                 /* given to on_reactor_start             */
	const char *server;          /* Server value; "": none; "zerg"        */
	const char *allow;           /* the methods of the server, as an Allow
	                              * value: OPTIONS * and CONNECT's 405;
	                              * "GET, HEAD, OPTIONS"                    */
	unsigned request_timeout_ms; /* a request stalled half-way, and the
	                              * slow-peer deadlines; 10000            */
	unsigned idle_timeout_ms;    /* a keep-alive connection at rest; 60000 */
	size_t body_max;             /* HTTP_BODY_BUFFER's limit; 64 KiB       */
	size_t conn_size;            /* application bytes per connection,
	                              * zeroed at open: http_conn_data(); 0    */
	size_t largest_response;     /* the largest body a request can get   */
	size_t output_mark;          /* a connection stops being answered and
	                              * read above this much queued output, until
	                              * it drains; at least 1 MiB, raised to
	                              * largest_response + HTTP_HEAD_MAX       */
	size_t output_budget;        /* output stuck in a reactor's queues
	                              * (peers that do not read) before such
	                              * connections are shed; at least 32 MiB,
	                              * raised to 4 queues                     */
};

void http_config_init(struct http_config *hc);

/*
 * zg_server_new() for the layer: sets zc's reactor.max_output (twice
 * output_mark), reactor.idle_timeout_ms and the reactor hooks, raises
 * hc's output limits as said above, and passes hc as the reactors'
 * udata. Returns what zg_server_new returns.
 */
int http_server_new(struct http_config *hc, struct zg_server_config *zc,
		    struct zg_server **out);

/* The same without creating the server (zg_server_new(zc,
 * &http_zg_handler, hc, ...) then), and the handler it needs. */
void http_server_config(struct http_config *hc, struct zg_server_config *zc);
extern const struct zg_handler http_zg_handler;

/*
 * From on_complete of a request without a body (a WebSocket upgrade):
 * after its response (http_respond_raw, say a 101), the connection is no
 * longer HTTP. The layer consumes the head, clears its request deadlines
 * (the idle timeout stays), takes the connection out of its output
 * accounting, and from then on calls take_data(c, arg) instead of
 * parsing: at once for bytes that followed the head, then for every
 * on_data. The handler's on_close still runs at the end.
 */
void http_upgrade(struct http_conn *c, void (*take_data)(struct http_conn *c, void *arg),
		  void *arg);
/* A response whose body p[0..n) is sent by reference, not copied: it
 * must stay unchanged for the server's life (encoding: a
 * Content-Encoding value, or NULL). 0 or -1. */
int http_respond_ref(struct http_conn *c, unsigned status, const char *type,
		     const char *encoding, const void *p, size_t n);
/* A complete response the application made itself (a 101, or a refusal
 * with headers of its own), written as it is: 0 or -1. */
int http_respond_raw(struct http_conn *c, const void *p, size_t n);

/*
 * Responses that come later (a database answer). on_complete takes a
 * ticket and returns HTTP_LATER: the layer reads no further request of
 * the connection (pipelined ones wait, in order) until the ticket is
 * done. Later, on the connection's reactor thread:
 *
 *   struct http_conn *c = http_ticket_conn(t);  NULL: it closed meanwhile
 *   if (c) ... http_begin()/http_end(), http_respond() ...
 *   http_ticket_done(t);                       always, exactly once
 *
 * http_ticket_done() frees the ticket and, for a live connection, sends
 * a 500 if nothing was written and goes on with the next request. A
 * ticket outlives its connection (its on_close still runs), never the
 * reactor. NULL when out of memory (answer now, or return -1).
 *
 * Precisely:
 * - http_ticket() works only inside on_complete, once per request (NULL
 *   otherwise). The ticket is malloc'd and owned by whoever took it
 *   until http_ticket_done() frees it.
 * - Once a ticket is out when on_complete returns, the response is
 *   deferred whatever the return value, except -1 (or a response the
 *   output queue refused): the connection is aborted, and the ticket
 *   stays valid with http_ticket_conn() NULL. HTTP_LATER returned with
 *   no ticket out counts as 0 (answered now, or a 500).
 * - http_ticket_done() inside the same on_complete is allowed: the
 *   request is then answered as if no ticket had been taken.
 * - While a ticket is out the request buffer (http_buffer(),
 *   http_conn_data()) stays, and the request timeout (request_timeout_ms,
 *   an idle timeout) replaces the idle one: a connection with no
 *   progress for that long is closed (RST); the ticket then gives NULL.
 *   Bytes the client sends meanwhile are kept, not parsed.
 * - http_ticket_done() on a live connection ends the request as a
 *   return of 0 from on_complete would: a 500 if nothing was written,
 *   then the buffer is freed, Connection: close honoured, output
 *   back-pressure applied; the requests behind it are parsed from the
 *   reactor's next iteration, never from inside http_ticket_done().
 *   A response the output queue refused aborts the connection there.
 * - The connection closing (reset, timeout, server stopping) detaches
 *   the ticket before the handler's on_close runs.
 * - A ticket marks its connection busy (zg_conn_set_busy): a graceful
 *   stop (zg_reactor_stop) waits for the answer, up to its deadline.
 *   Tickets still out when the reactor stops must be done by the end
 *   of on_reactor_stop (the connections are closed by then: every
 *   ticket gives NULL); the layer does not track them.
 * - Not for an upgraded connection (http_upgrade()).
 */
#define HTTP_LATER 1
struct http_ticket;
struct http_ticket *http_ticket(struct http_conn *c);
struct http_conn *http_ticket_conn(const struct http_ticket *t);
void http_ticket_done(struct http_ticket *t);

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

void *http_conn_data(struct http_conn *c);      /* conn_size bytes      */
void *http_worker(const struct http_conn *c);   /* on_reactor_start's   */
struct zg_conn *http_conn_zg(const struct http_conn *c);
/* Body bytes received so far for this request. */
uint64_t http_body_length(const struct http_conn *c);

/* The Allow value of this request's resource (a static string): sent
 * with a 405, and with any answer to OPTIONS. Reset per request. */
void http_set_allow(struct http_conn *c, const char *allow);

/* The Vary value of this request's answer (a static string, say
 * "Accept-Encoding" when the body was chosen by it): sent with every
 * response to the request, errors too. Reset per request. */
void http_set_vary(struct http_conn *c, const char *vary);

/* ------------------------------------------------------------------ */
/* The request buffer: bytes kept across the body, freed once the      */
/* response is written (an idle connection holds nothing)              */
/* ------------------------------------------------------------------ */

/* Append n bytes; 0, or -1 past body_max or out of memory. */
int http_buffer_put(struct http_conn *c, const void *p, size_t n);
/* Append each header line of the request as "Name: value\n", in order,
 * values as parsed (from on_request); 0 or -1. */
int http_buffer_fields(struct http_conn *c, const struct http_req *r);
/* What is kept (a body taken with HTTP_BODY_BUFFER, and what was put). */
const uint8_t *http_buffer(const struct http_conn *c, size_t *len);

/* Grow the heap buffer *p of *cap bytes (NULL, 0 at first) to hold at
 * least need, doubling from 1 KiB: the request buffer's growth, for an
 * application's buffers that responses are built in too. false when out
 * of memory (*p and *cap unchanged). */
bool http_grow(char **p, size_t *cap, size_t need);

/* ------------------------------------------------------------------ */
/* Responses (from on_complete)                                        */
/* ------------------------------------------------------------------ */

/*
 * Begin a response with a body of at most max_len bytes, written at the
 * returned pointer, then http_end() with the end of what was written:
 * the head (status line, Server, Date, Content-Type if type, Allow when
 * due, Content-Length, Connection as the request asks) gets the exact
 * length without a copy of the body. A HEAD request gets the head only.
 * NULL: the output queue refused it; return -1 (the connection is
 * aborted once the callback returns).
 */
char *http_begin(struct http_conn *c, unsigned status, const char *type, size_t max_len);
/* The same with a Content-Encoding value (NULL: none). */
char *http_begin_coded(struct http_conn *c, unsigned status, const char *type,
		       const char *encoding, size_t max_len);
/* The same with header lines of the application's (X-Cache: HIT): extra
 * is zero or more whole lines, each "Name: value\r\n", at most
 * HTTP_EXTRA_MAX bytes in all, written after the layer's own fields (it
 * must stay valid until http_end). NULL or "": none. A head stays under
 * HTTP_HEAD_MAX + HTTP_EXTRA_MAX bytes (HttpArena's client reads heads
 * of at most 1024 bytes and 16 lines: keep extra to a few short lines).
 * NULL also when extra is not such lines (nothing is queued then). */
#define HTTP_EXTRA_MAX 256
char *http_begin_extra(struct http_conn *c, unsigned status, const char *type,
		       const char *extra, size_t max_len);
/* end: one past the last body byte, at most max_len after the start.
 * Returns 0, or -1 without a begun response. */
int http_end(struct http_conn *c, char *end);

/* A whole response of n bytes from p (type NULL: no Content-Type). */
int http_respond(struct http_conn *c, unsigned status, const char *type, const void *p,
		 size_t n);
/* A text/plain response whose body is the reason phrase ("Not Found"). */
int http_respond_status(struct http_conn *c, unsigned status);
/* The same as an error: Connection: close, and the connection closes
 * once it is sent; the Allow value goes only with a 405. */
int http_error(struct http_conn *c, unsigned status);

/* ------------------------------------------------------------------ */
/* Query strings                                                       */
/* ------------------------------------------------------------------ */

/* A "k=v" pair of a query (not decoded). */
struct http_qpair {
	const uint8_t *k, *v;
	size_t klen, vlen;
};

/* Walk "k=v&k=v" from *q up to end: the next pair that has a '=' (the
 * others are skipped); false at the end. */
bool http_query_next(const uint8_t **q, const uint8_t *end, struct http_qpair *p);

#endif
