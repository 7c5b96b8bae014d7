/* SPDX-License-Identifier: MIT */
/*
 * libzerg: a small, fast TCP server core over Linux io_uring.
 *
 * Model (see docs/architecture.md):
 *   - a zg_reactor is one thread's io_uring: listeners with multishot accept,
 *     connections with multishot recv into a kernel-provided buffer ring,
 *     timers, and a cross-thread post queue;
 *   - a zg_server runs N reactors, one thread each, each with its own
 *     SO_REUSEPORT listener (or one acceptor handing fds to the others);
 *   - a zg_conn's input is read as segments over the ring's buffers (the
 *     pipe reader: zg_conn_read / zg_conn_advance), its output is queued
 *     into per-connection chunks and flushed once per CQE batch.
 *
 * Conventions:
 *   - functions return 0 (or a count) on success and -errno on failure;
 *   - every callback runs on the reactor thread that owns the object;
 *   - unless said otherwise a function may only be called on the owning
 *     reactor's thread (from a callback, or from the thread that runs it);
 *   - nothing is printed unless a log callback is set in the config;
 *   - if a call that takes a callback fails, that callback is never called.
 *
 * The comments below are one-line contracts. The reference is the man
 * pages: libzerg(7) for these conventions, and a page per call, named at
 * each declaration (e.g. "see zg_conn_read(3)"); docs/api.md indexes them.
 */
#ifndef ZERG_H
#define ZERG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZG_VERSION_MAJOR 0
#define ZG_VERSION_MINOR 1
#define ZG_VERSION_PATCH 0
/* The version these headers describe, as one comparable number. */
#define ZG_VERSION ((ZG_VERSION_MAJOR << 16) | (ZG_VERSION_MINOR << 8) | ZG_VERSION_PATCH)

/* The version of the library loaded at run time (which may be newer than
 * the headers a program was built with): ZG_VERSION's encoding, and as
 * "major.minor.patch" (static). Any thread. See zg_version(3). */
unsigned zg_version(void);
const char *zg_version_string(void);

struct zg_reactor;
struct zg_server;
struct zg_tls;
struct zg_conn;
struct zg_timer;

/* ------------------------------------------------------------------ */
/* Callbacks                                                           */
/* ------------------------------------------------------------------ */

/*
 * Connection callbacks, copied at creation, called on the connection's
 * reactor thread; any member may be NULL. See man 3 zg_handler.
 *
 * on_open:  accepted, adopted or connected (zg_reactor_connect); the
 *           zg_conn is valid from here until on_close returns.
 * on_data:  input or end of stream: zg_conn_read(), then
 *           zg_conn_advance(). Called again once bytes arrive beyond
 *           what was examined, at end of stream, or next iteration if
 *           input was left unexamined.
 * on_drain: the output queue emptied after passing max_output / 2.
 * on_close: every operation has completed and every write_ref buffer
 *           is released; reason 0 (closed by the application or a clean
 *           end of stream), -ETIMEDOUT, -E2BIG, -ESHUTDOWN, -ENOMEM or
 *           a socket error. The zg_conn is gone after this returns.
 */
struct zg_handler {
	void (*on_open)(struct zg_conn *c);
	void (*on_data)(struct zg_conn *c);
	void (*on_drain)(struct zg_conn *c);
	void (*on_close)(struct zg_conn *c, int reason);
};

/* Log levels for the optional log callback: msg is one line, valid during
 * the call, on the reactor thread. See zg_reactor_new(3). */
enum { ZG_LOG_ERROR = 0, ZG_LOG_WARN = 1, ZG_LOG_INFO = 2 };
typedef void (*zg_log_fn)(int level, const char *msg, void *arg);

/* ------------------------------------------------------------------ */
/* Reactor                                                             */
/* ------------------------------------------------------------------ */

/* Reactor configuration. Fill with zg_reactor_config_init() (any
 * thread), then set what you need; fields may be added at the end in
 * later versions. Copied by zg_reactor_new. See zg_reactor_new(3). */
struct zg_reactor_config {
	unsigned sq_entries;      /* SQ size; default 2048 (CQ is 4x)           */
	unsigned buf_count;       /* provided buffers, power of 2; default 4096 */
	unsigned buf_size;        /* bytes per provided buffer; default 4096    */
	unsigned max_conns;       /* connections per reactor; default 65536;
	                           * accepts above it are closed at once         */
	size_t max_input;         /* unconsumed input per connection before
	                           * reading pauses; default 1 MiB              */
	size_t max_output;        /* queued output per connection; writes past
	                           * it fail with -ENOBUFS; default 64 MiB.
	                           * Reading pauses while more than
	                           * max_output / 2 is queued.                   */
	size_t zc_threshold;      /* zg_conn_write_ref() of at least this many
	                           * bytes use SEND_ZC (at the head of the
	                           * queue); 0 (default) disables zero-copy     */
	unsigned idle_timeout_ms; /* close a connection after this long with no
	                           * progress in either direction; 0 disables;
	                           * default 60000                               */
	unsigned linger_ms;       /* graceful close: how long to wait for the
	                           * peer's FIN after our own; default 2000     */
	unsigned compact_segs;    /* input held in more than this many ring
	                           * buffers is copied out so the buffers go
	                           * back to the ring; default 16. Held input
	                           * is also copied out while under a quarter
	                           * of the ring is free.                       */
	unsigned flags;           /* ZG_RF_* below                              */
	zg_log_fn log;            /* optional; called on the reactor thread     */
	void *log_arg;
	void *reserved[6];        /* room to grow without changing the size     */
};

/* zg_reactor_config.flags */
#define ZG_RF_NO_DEFER_TASKRUN (1u << 0) /* don't use SINGLE_ISSUER|DEFER_TASKRUN */
/* One recv may fill several ring buffers (Linux 6.10), for connections
 * that stream (their last recv filled a whole buffer). On by default
 * (zg_reactor_config_init sets it); ignored, with an info log, where the
 * kernel lacks it or the ring runs without DEFER_TASKRUN. */
#define ZG_RF_RECV_BUNDLE      (1u << 1)
/* The kernel fills each ring buffer incrementally, so short reads don't
 * use up a whole buffer (Linux 6.12). Buffers are then shared by slices
 * of several connections and go back once every slice is consumed. */
#define ZG_RF_BUF_INC          (1u << 2)
/* Input stays in the ring buffers it arrived in until the application
 * consumes it (zg_conn_advance), for handing input to zg_conn_write_ref
 * on another connection (a proxy): no compaction behind the
 * application's back (compact_segs and the low-ring rule are off;
 * zg_conn_contig still copies when asked), and input that reaches
 * max_input is not -E2BIG: reading pauses there until the application
 * consumes, also from outside on_data. The application bounds what it
 * holds (how many buffers, for how long). */
#define ZG_RF_HOLD_INPUT       (1u << 3)
/* End of stream does not close a connection once its input is
 * consumed: it stays open for writing (half-closed) until the
 * application closes it. For a proxy, whose peer's FIN must not end
 * the other direction. */
#define ZG_RF_HALF_OPEN        (1u << 4)

void zg_reactor_config_init(struct zg_reactor_config *cfg);

/*
 * Create a reactor owned by the calling thread, the only one that may
 * run it (io_uring SINGLE_ISSUER). cfg (NULL: defaults) and handler are
 * copied; udata is yours. Returns 0 and *out, or -EINVAL (bad config),
 * -ENOSYS (kernel older than 6.0; logged), -ENOMEM, -EPERM (io_uring
 * disabled). See zg_reactor_new(3).
 */
int zg_reactor_new(const struct zg_reactor_config *cfg,
		   const struct zg_handler *handler, void *udata,
		   struct zg_reactor **out);

/*
 * Bind addr and accept on it (multishot); the reactor owns the socket and
 * closes it when a stop begins. ZG_LISTEN_REUSEPORT: SO_REUSEPORT;
 * ZG_LISTEN_V6ONLY: IPv6 only. backlog <= 0: SOMAXCONN. *port (if not
 * NULL): the bound port. Returns 0, -EINVAL, -ENOSPC (8 listeners) or a
 * socket/bind error. Reactor thread. See zg_reactor_listen(3).
 */
#define ZG_LISTEN_REUSEPORT (1u << 0)
#define ZG_LISTEN_V6ONLY    (1u << 1)
/* Unix-domain path: remove a socket file already at the path (left by an
 * earlier run) before binding; without it bind fails with -EADDRINUSE.
 * A file that is not a socket is never removed. */
#define ZG_LISTEN_UNLINK    (1u << 2)
/* zg_server_config.listen_flags: with tls, only the TLS listeners, on
 * port (tls_port is ignored; zg_server_port = zg_server_tls_port). */
#define ZG_LISTEN_TLS_ONLY  (1u << 3)
int zg_reactor_listen(struct zg_reactor *r, const struct sockaddr *addr,
		      socklen_t len, int backlog, unsigned flags,
		      uint16_t *port);

/* Accept on an already-listening socket (systemd socket activation,
 * embedding). On success the reactor owns fd and closes it at stop; on
 * failure (-EINVAL: not a listening stream socket, -ENOSPC: more than 8
 * listeners) it stays yours. See zg_reactor_listen_fd(3). */
int zg_reactor_listen_fd(struct zg_reactor *r, int fd);

/* Take over an already-connected socket as a connection: on_open runs
 * on this reactor. The reactor owns fd from here, even on failure
 * (-EMFILE: max_conns reached, -ESHUTDOWN: stopping, -ENOMEM; fd is
 * closed), except -EEXIST: fd is already one of this reactor's
 * connections, and is left as it is. See zg_reactor_adopt(3). */
int zg_reactor_adopt(struct zg_reactor *r, int fd);

/*
 * Run until stopped and every connection is closed. Returns 0 after a
 * stop, or -errno if the ring failed. Owning thread, never from a
 * callback. See zg_reactor_run(3).
 */
int zg_reactor_run(struct zg_reactor *r);

/*
 * One loop iteration: submit, wait up to timeout_ms (-1: until an event
 * or timer, 0: don't wait) for completions, dispatch them, flush.
 * Returns 1 while the reactor is live, 0 once it has stopped and drained,
 * -errno if the ring failed. See zg_reactor_run_once(3).
 */
int zg_reactor_run_once(struct zg_reactor *r, int timeout_ms);

/*
 * Ask the reactor to stop: listeners close, idle connections close at
 * once, busy ones may finish their output until deadline_ms, then the
 * rest are aborted; the first call's deadline wins. Thread-safe and
 * async-signal-safe. See zg_reactor_stop(3).
 */
void zg_reactor_stop(struct zg_reactor *r, unsigned deadline_ms);

/*
 * Run fn(arg) on the reactor thread at the start of its next loop, in
 * post order; arg is yours. Thread-safe (not async-signal-safe: it
 * allocates). Returns 0, -EINVAL, -ENOMEM, or -ESHUTDOWN once the
 * reactor has stopped. See zg_reactor_post(3).
 */
int zg_reactor_post(struct zg_reactor *r, void (*fn)(void *arg), void *arg);

/* Free a stopped (or never run) reactor, not one of a server's: closes
 * every fd, frees every buffer. Connections still open are closed without
 * on_close, but their zg_conn_write_ref() release callbacks run (on the
 * calling thread). Free its timers first; never from a callback. See
 * zg_reactor_free(3). */
void zg_reactor_free(struct zg_reactor *r);

/* The application pointer (never dereferenced). See zg_reactor_udata(3). */
void *zg_reactor_udata(const struct zg_reactor *r);
void zg_reactor_set_udata(struct zg_reactor *r, void *udata);
/* Index of this reactor in its server, 0 for a lone reactor; any thread. */
unsigned zg_reactor_id(const struct zg_reactor *r);
/* CLOCK_MONOTONIC in ms, cached once per loop iteration. */
uint64_t zg_reactor_now_ms(const struct zg_reactor *r);
/* Connections opened whose on_close has not run yet. */
unsigned zg_reactor_conn_count(const struct zg_reactor *r);

/* Kernel features in use (bits of zg_reactor_features(), constant after
 * creation; any thread). See zg_reactor_features(3). */
#define ZG_FEAT_DEFER_TASKRUN (1u << 0)
/* (1u << 1) was ZG_FEAT_SEND_ZC: every reactor has SEND_ZC (Linux 6.0,
 * as for multishot recv), so the bit said nothing. */
#define ZG_FEAT_RECV_BUNDLE   (1u << 2) /* asked for and in use         */
#define ZG_FEAT_BUF_INC       (1u << 3) /* asked for and in use         */
#define ZG_FEAT_COOP_TASKRUN  (1u << 4)
#define ZG_FEAT_RING_FD       (1u << 5) /* registered ring fd           */
#define ZG_FEAT_KTLS          (1u << 6) /* the kernel has the tls ULP    */
unsigned zg_reactor_features(const struct zg_reactor *r);

/* Counters, for tests and monitoring, copied into *st (yours). Reactor
 * thread. See zg_reactor_stats(3). */
struct zg_reactor_stats {
	uint64_t accepted;        /* connections accepted or adopted */
	uint64_t closed;          /* on_close calls                  */
	uint64_t shed;            /* accepts closed: over max_conns  */
	uint64_t enobufs;         /* recvs parked for lack of buffers */
	uint64_t compactions;     /* input copied out of ring buffers */
	uint64_t sends;           /* send/sendmsg/send_zc submitted   */
	uint64_t partial_sends;   /* sends the kernel cut short       */
	unsigned bufs_free;       /* provided buffers in the ring now */
	uint64_t connects;        /* zg_reactor_connect calls that
	                           * started a connection             */
};
void zg_reactor_stats(const struct zg_reactor *r, struct zg_reactor_stats *st);

/* ------------------------------------------------------------------ */
/* Outbound connections                                                */
/* ------------------------------------------------------------------ */

/* Options of zg_reactor_connect. Fill with zg_connect_opts_init(); fields
 * may be added at the end in later versions. */
struct zg_connect_opts {
	const struct zg_handler *handler; /* this connection's callbacks
	                           * (copied); NULL: the reactor's          */
	void *udata;              /* zg_conn_udata() from the start          */
	unsigned timeout_ms;      /* connect timeout; default 10000, 0 none  */
	const struct sockaddr *bind_addr; /* optional source address (port
	                           * 0: chosen at connect, so one local
	                           * address serves many connections)        */
	socklen_t bind_len;
	struct zg_tls *tls;       /* TLS client context (ZG_TLS_CLIENT), or
	                           * NULL; on_open runs after the handshake  */
	void *reserved[3];
};
void zg_connect_opts_init(struct zg_connect_opts *opts);

/*
 * Connect to addr (IPv4, IPv6 or Unix-domain) with IORING_OP_CONNECT. On
 * 0 the connection exists at once (*out, if not NULL) and may be written
 * to: output waits until it is connected. on_open runs when connected;
 * if the connect fails, on_close runs instead with -ECONNREFUSED,
 * -ETIMEDOUT, -ENETUNREACH... Returns -EINVAL, -EAFNOSUPPORT, -EMFILE
 * (max_conns), -ESHUTDOWN (stopping) or socket/bind errors, and then no
 * callback runs. Reactor thread only; from another thread, post it
 * (zg_reactor_post). See zg_reactor_connect(3).
 */
int zg_reactor_connect(struct zg_reactor *r, const struct sockaddr *addr, socklen_t len,
		       const struct zg_connect_opts *opts, struct zg_conn **out);

/* ------------------------------------------------------------------ */
/* TLS (OpenSSL 3; kernel TLS after the handshake: see zg_tls_new(3)) */
/* ------------------------------------------------------------------ */

/* Fill with zg_tls_config_init(); fields may be added at the end. */
struct zg_tls_config {
	unsigned flags;            /* ZG_TLS_* below                         */
	const char *cert_file;     /* PEM certificate chain (server)         */
	const char *key_file;      /* PEM private key                        */
	void *ssl_ctx;             /* or an SSL_CTX * of the application's
	                            * (a reference is taken); then cert_file,
	                            * key_file and ca_file are not read      */
	const char *alpn;          /* comma list, in order of preference:
	                            * "h2,http/1.1"; NULL: no ALPN           */
	const char *server_name;   /* client: SNI, and the name verified     */
	const char *ca_file;       /* client: PEM CAs; NULL: system store   */
	unsigned handshake_timeout_ms; /* default 10000                      */
	/* Server: called with the client's SNI name during the handshake;
	 * may set *use to another context (same flags) to switch
	 * certificates. Returns 0, or -1 to refuse the handshake. */
	int (*sni)(struct zg_conn *c, const char *name, struct zg_tls **use, void *arg);
	void *sni_arg;
	void *reserved[6];
};

#define ZG_TLS_CLIENT    (1u << 0) /* a client context (zg_reactor_connect) */
#define ZG_TLS_NO_VERIFY (1u << 1) /* client: do not verify the server     */
#define ZG_TLS_NO_KTLS   (1u << 2) /* never hand records to the kernel
                                    * (default: where the kernel can)      */

void zg_tls_config_init(struct zg_tls_config *cfg);
/* Create a context. -ENOTSUP when libzerg was built without TLS;
 * -EINVAL for unusable files or settings (zg_tls_error() says why). */
int zg_tls_new(const struct zg_tls_config *cfg, struct zg_tls **out);
/* Drop the caller's reference; listeners and connections keep theirs. */
void zg_tls_free(struct zg_tls *tls);
/* The OpenSSL error text of the last failed zg_tls_new on this thread. */
const char *zg_tls_error(void);

/* Listen with TLS: as zg_reactor_listen, connections do the handshake
 * first and on_open runs once it is done. The listener takes a
 * reference to tls. */
int zg_reactor_listen_tls(struct zg_reactor *r, const struct sockaddr *addr, socklen_t len,
			  int backlog, unsigned flags, struct zg_tls *tls, uint16_t *port);

/* After on_open of a TLS connection: the negotiated ALPN protocol (NULL:
 * none; *len its length), version ("TLSv1.3"), cipher name, the peer's
 * certificate (an X509 *, owned by the connection, NULL if none) and
 * the SSL * itself. On a plain connection: NULL. */
const char *zg_conn_tls_alpn(const struct zg_conn *c, unsigned *len);
const char *zg_conn_tls_version(const struct zg_conn *c);
const char *zg_conn_tls_cipher(const struct zg_conn *c);
void *zg_conn_tls_peer_cert(const struct zg_conn *c);
void *zg_conn_tls_ssl(const struct zg_conn *c);
/* The server's TLS port (cfg.tls_port, or the ephemeral one). */
uint16_t zg_server_tls_port(const struct zg_server *s);

/* ------------------------------------------------------------------ */
/* Watches: readiness of file descriptors the application owns         */
/* ------------------------------------------------------------------ */

struct zg_watch;

#define ZG_WATCH_READ  (1u << 0) /* readable (or end of stream)            */
#define ZG_WATCH_WRITE (1u << 1) /* writable                               */
#define ZG_WATCH_ERROR (1u << 2) /* error on the fd (callback only)        */
#define ZG_WATCH_HUP   (1u << 3) /* peer hung up (callback only)           */

typedef void (*zg_watch_fn)(struct zg_watch *w, unsigned events, void *arg);

/*
 * Call cb(w, events, arg) on the reactor thread when fd becomes ready for
 * the ZG_WATCH_READ/WRITE events asked (multishot poll). Edge-triggered:
 * a callback reports readiness that arrived since the last one, so read
 * or write until EAGAIN; zg_watch_set() re-arms and checks at once. The
 * fd stays the caller's (never closed); the watch is freed with
 * zg_watch_free (also from its own callback). See zg_watch_new(3).
 */
int zg_watch_new(struct zg_reactor *r, int fd, unsigned events, zg_watch_fn cb, void *arg,
		 struct zg_watch **out);
int zg_watch_set(struct zg_watch *w, unsigned events);
unsigned zg_watch_events(const struct zg_watch *w);
int zg_watch_fd(const struct zg_watch *w);
void zg_watch_free(struct zg_watch *w);

/* ------------------------------------------------------------------ */
/* Timers                                                              */
/* ------------------------------------------------------------------ */

/*
 * A timer belongs to one reactor and fires on its thread. Millisecond
 * resolution; the reactor sleeps until the nearest deadline (no polling).
 * zg_timer_new allocates; the caller owns the timer and frees it with
 * zg_timer_free (which stops it), on the reactor thread, before the
 * reactor is freed. A callback may start, stop or free its own timer.
 * zg_timer_new returns 0, -EINVAL or -ENOMEM. Reactor thread only.
 * See zg_timer_new(3).
 */
typedef void (*zg_timer_fn)(struct zg_timer *t, void *arg);
int zg_timer_new(struct zg_reactor *r, zg_timer_fn cb, void *arg,
		 struct zg_timer **out);
/* First fire after timeout_ms, then every repeat_ms (0: one-shot).
 * Restarting a running timer reschedules it. Measured from the current
 * time (this refreshes the reactor's cached clock). */
void zg_timer_start(struct zg_timer *t, uint64_t timeout_ms, uint64_t repeat_ms);
void zg_timer_stop(struct zg_timer *t);
bool zg_timer_active(const struct zg_timer *t);
void zg_timer_free(struct zg_timer *t);

/* ------------------------------------------------------------------ */
/* Connections: the pipe reader                                        */
/* ------------------------------------------------------------------ */

/*
 * The unconsumed input of a connection. segs points into the kernel's
 * ring buffers (or the connection's own carry buffer); the segments and
 * the bytes are owned by the connection and stay valid until the next
 * zg_conn_advance(), zg_conn_contig(), zg_conn_read() or zg_conn_close(),
 * and at most until the callback returns. See zg_conn_read(3).
 */
struct zg_read_view {
	const struct iovec *segs; /* nsegs segments, in order              */
	unsigned nsegs;
	size_t len;               /* total bytes over all segments          */
	bool eof;                 /* the peer shut down its side; no more   */
	bool full;                /* len reached max_input: reading has
	                           * paused until the application consumes  */
};

/* Fill *v with the connection's unconsumed input. Always returns 0: the
 * view points at the connection's own segment array, nothing is built. */
int zg_conn_read(struct zg_conn *c, struct zg_read_view *v);

/*
 * Offset (from the start of the view) of the first byte equal to `byte`
 * at or after offset `from`, searching across segments; -1 if there is
 * none. Pure function of the view: any thread that holds a valid view.
 * A parser keeps `from` across calls (the `examined` count) so a message
 * split over receives is not searched twice. See zg_view_find(3).
 */
ssize_t zg_view_find(const struct zg_read_view *v, size_t from, int byte);

/*
 * Release the first `consumed` bytes (their ring buffers go back to the
 * kernel) and record that the first `examined` bytes (>= consumed) have
 * been looked at: on_data comes again once bytes arrive beyond them.
 * Offsets are relative to the input at the time of the call (once per
 * pipelined request is fine); no call in on_data means advance(0, all).
 * Returns 0, or -EINVAL if consumed > examined or examined is beyond the
 * input. Invalidates earlier views. See zg_conn_advance(3).
 */
int zg_conn_advance(struct zg_conn *c, size_t consumed, size_t examined);

/*
 * *p = a contiguous view of the first n input bytes. In place when they
 * sit in one segment; otherwise those n bytes (not the rest) are copied into the
 * connection's carry buffer (and the ring buffers returned). Returns 0,
 * -EINVAL if n exceeds the input, -ENOMEM. Invalidates earlier views;
 * *p is valid as a view is. See zg_conn_contig(3).
 */
int zg_conn_contig(struct zg_conn *c, size_t n, const uint8_t **p);

/* Stop / restart reading (read back-pressure). Input already received
 * stays readable. Idempotent. See zg_conn_pause_read(3). */
void zg_conn_pause_read(struct zg_conn *c);
void zg_conn_resume_read(struct zg_conn *c);

/* ------------------------------------------------------------------ */
/* Connections: the write path                                         */
/* ------------------------------------------------------------------ */

/*
 * Queue a copy of p[0..n). Output is sent once per loop iteration (one
 * send or sendmsg per connection), in write order. May be called while a
 * send is in flight; p is yours again on return. Returns 0, -ENOBUFS
 * past max_output, -EPIPE after close/shutdown, -ENOMEM. See
 * zg_conn_write(3).
 */
int zg_conn_write(struct zg_conn *c, const void *p, size_t n);

/*
 * Reserve n contiguous bytes at the end of the output queue for the
 * caller to fill, then zg_conn_commit() how many were written (<= n).
 * Returns NULL on the same conditions zg_conn_write fails. The pointer
 * is valid until commit; nothing else may be written in between.
 * zg_conn_commit returns 0, or -EINVAL (nothing committed) when n is
 * larger than the reservation, there is none, or the connection is
 * closing. See zg_conn_reserve(3).
 */
void *zg_conn_reserve(struct zg_conn *c, size_t n);
int zg_conn_commit(struct zg_conn *c, size_t n);

/*
 * Queue p[0..n) by reference, in order with copied writes. The caller
 * keeps ownership and must keep the bytes unchanged until release(arg)
 * is called (on this reactor's thread) once the kernel is done with
 * them, also when the connection fails or closes. release may be NULL.
 * Uses SEND_ZC when zc_threshold is set, n >= zc_threshold, and the
 * reference is first in the queue when a send starts (behind a copied
 * head it goes out in the same sendmsg, copied). Returns 0, -EPIPE,
 * -ENOBUFS or -ENOMEM. See zg_conn_write_ref(3).
 */
int zg_conn_write_ref(struct zg_conn *c, const void *p, size_t n,
		      void (*release)(void *arg), void *arg);

/* Bytes queued and not yet accepted by the kernel. See zg_conn_pending(3). */
size_t zg_conn_pending(const struct zg_conn *c);

/* Prepare the send now instead of at the end of the batch. Returns 0, or
 * -EPIPE once the connection is dead; a pending close may complete, and
 * on_close run, inside. See zg_conn_flush(3). */
int zg_conn_flush(struct zg_conn *c);

/* ------------------------------------------------------------------ */
/* Connections: closing, timeouts, accessors                           */
/* ------------------------------------------------------------------ */

/* zg_conn_close() flags */
#define ZG_CLOSE_GRACEFUL 0u        /* flush, FIN, drain input, close   */
#define ZG_CLOSE_ABORT    (1u << 0) /* drop output, close with RST      */

/*
 * Close the connection. Graceful: queued output is sent first, then our
 * side is shut down and input is read and discarded until the peer's
 * FIN or linger_ms, so the peer never sees an RST that could destroy
 * the last response. on_data is not called again; on_close(c, 0) comes
 * once every operation has completed (with ZG_CLOSE_ABORT possibly
 * inside this call: don't touch c after it). Idempotent; an abort may
 * follow a graceful close. See zg_conn_close(3).
 */
void zg_conn_close(struct zg_conn *c, unsigned flags);

/* Half-close: send FIN after queued output; reading goes on, writes fail.
 * Returns 0, or -EPIPE if already closing. See zg_conn_shutdown(3). */
int zg_conn_shutdown(struct zg_conn *c);

/* Per-connection idle timeout (0 disables), replacing the reactor's
 * idle_timeout_ms: closed with -ETIMEDOUT after ms without progress in
 * either direction, counted from now. See zg_conn_set_timeout(3). */
void zg_conn_set_timeout(struct zg_conn *c, unsigned ms);

/* Work for this connection is in progress where libzerg cannot see it
 * (a database query for its request): while busy, a graceful stop does
 * not count it idle (it waits, up to the stop's deadline). Cleared by
 * busy = false; see zg_conn_set_busy(3). */
void zg_conn_set_busy(struct zg_conn *c, bool busy);

/* Close with -ETIMEDOUT ms from now whatever the progress (a limit on a
 * whole request, against peers that trickle bytes); 0 removes it. See
 * zg_conn_set_deadline(3). */
void zg_conn_set_deadline(struct zg_conn *c, unsigned ms);

/* Accessors, valid from on_open until on_close returns. udata is yours
 * (never dereferenced); the fd is the library's: getsockopt/setsockopt
 * only. See zg_conn_udata(3). */
void zg_conn_set_udata(struct zg_conn *c, void *udata);
void *zg_conn_udata(const struct zg_conn *c);
struct zg_reactor *zg_conn_reactor(const struct zg_conn *c);
int zg_conn_fd(const struct zg_conn *c);
/* Peer address (getpeername); *len in: size of *addr, out: the address
 * length. Returns 0 or -errno. */
int zg_conn_peer(const struct zg_conn *c, struct sockaddr *addr, socklen_t *len);

/* ------------------------------------------------------------------ */
/* Server: N reactor threads                                           */
/* ------------------------------------------------------------------ */

enum zg_accept_mode {
	ZG_ACCEPT_REUSEPORT = 0, /* a SO_REUSEPORT listener per reactor    */
	ZG_ACCEPT_ONE = 1,       /* reactor 0 accepts and hands out fds   */
};

/* Server configuration. Fill with zg_server_config_init() (any thread),
 * then set what you need; copied by zg_server_new. See zg_server_new(3). */
struct zg_server_config {
	const char *host;        /* numeric IPv4/IPv6, "unix:PATH" or
	                          * "unix:@ABSTRACT"; default "0.0.0.0"     */
	uint16_t port;           /* 0 = ephemeral (see zg_server_port)       */
	int backlog;             /* default SOMAXCONN                        */
	unsigned threads;        /* 0 (default) = CPUs in the affinity mask  */
	bool pin_threads;        /* pin reactor i to the i-th allowed CPU    */
	enum zg_accept_mode accept_mode;
	int listen_fd;           /* >= 0: adopt this listening socket instead
	                          * of binding (owned by the server from
	                          * zg_server_new on, even if it fails);
	                          * default -1                               */
	struct zg_reactor_config reactor; /* for every reactor               */
	/* Optional, called on each reactor thread after its reactor is
	 * created / before it is freed (per-reactor state: DB handles...). */
	void (*on_reactor_start)(struct zg_reactor *r, void *udata);
	void (*on_reactor_stop)(struct zg_reactor *r, void *udata);
	unsigned listen_flags;    /* ZG_LISTEN_UNLINK for a Unix path        */
	unsigned tls_port;        /* with tls: also listen here, with TLS;
	                           * 0 = ephemeral (zg_server_tls_port)      */
	struct zg_tls *tls;       /* NULL (default): no TLS listener; the
	                           * server takes a reference                */
	void *reserved[4];        /* room to grow without changing the size  */
};

void zg_server_config_init(struct zg_server_config *cfg);

/* Bind the listener(s) now (so the port is known), spawn nothing yet.
 * cfg and handler are copied; udata is each reactor's initial udata.
 * Returns 0 and *out, -EINVAL, -ENOMEM or a socket/bind error. See
 * zg_server_new(3). */
int zg_server_new(const struct zg_server_config *cfg,
		  const struct zg_handler *handler, void *udata,
		  struct zg_server **out);
/* Start the reactor threads, once. Returns once every reactor is running,
 * or -errno if one failed to start (the others are stopped and joined),
 * -EALREADY on a second call. Not from a reactor thread. See
 * zg_server_start(3). */
int zg_server_start(struct zg_server *s);
/* Stop every reactor (see zg_reactor_stop). Thread- and
 * async-signal-safe. See zg_server_stop(3). */
void zg_server_stop(struct zg_server *s, unsigned deadline_ms);
/* Join the threads; 0, or the first reactor's error. The reactors are
 * kept (stopped) until zg_server_free, so zg_server_stop stays safe to
 * call, from a signal handler too, until zg_server_free begins: remove
 * such a handler before calling it. Not from a reactor thread. See
 * zg_server_wait(3). */
int zg_server_wait(struct zg_server *s);
/* Stop (deadline 0) and wait if still running, then free the server and
 * its reactors; s may be NULL. Not from a reactor thread. See
 * zg_server_free(3). */
void zg_server_free(struct zg_server *s);

/* The bound port (host order) and the number of reactors; any thread.
 * See zg_server_port(3). */
uint16_t zg_server_port(const struct zg_server *s);
unsigned zg_server_threads(const struct zg_server *s);
/* Reactor i, or NULL before start (valid until zg_server_free). See
 * zg_server_reactor(3). */
struct zg_reactor *zg_server_reactor(const struct zg_server *s, unsigned i);

/* A static, human-readable message for a -errno value returned by
 * libzerg; any thread. See zg_strerror(3). */
const char *zg_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
