/* SPDX-License-Identifier: MIT */
/* Private definitions shared by the files of lib/. Not installed. */
#ifndef ZG_INTERNAL_H
#define ZG_INTERNAL_H

#include <liburing.h>
#include <linux/tls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "zerg.h"
#include "compat.h"

#define ZG_EXPORT __attribute__((visibility("default")))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- user_data: op(8) | gen(24) | slot(32) ------------------------ */
enum zg_op {
	OP_NONE = 0,
	OP_ACCEPT,   /* slot = listener index               */
	OP_RECV,     /* slot = conn slot                     */
	OP_SEND,
	OP_SEND_ZC,
	OP_CANCEL,   /* completions of our own cancel SQEs  */
	OP_WAKE,     /* eventfd poll (posts, stop)           */
	OP_CONNECT,  /* slot = conn slot                     */
	OP_WATCH,    /* slot = watch index                   */
	OP_TLS_RECV, /* slot = conn slot: kernel TLS's own recv */
};

static inline uint64_t ud_make(unsigned op, uint32_t gen, uint32_t slot)
{
	return ((uint64_t)op << 56) | ((uint64_t)(gen & 0xffffff) << 32) | slot;
}
static inline unsigned ud_op(uint64_t ud) { return ud >> 56; }
static inline uint32_t ud_gen(uint64_t ud) { return (ud >> 32) & 0xffffff; }
static inline uint32_t ud_slot(uint64_t ud) { return (uint32_t)ud; }

/* ---- provided buffer ring (bufring.c) ----------------------------- */
/* Modes: plain (one recv fills one buffer), bundle (one recv fills
 * several buffers, taken in ring order), incremental (the kernel fills a
 * buffer a slice at a time, so one buffer can hold slices of several
 * connections: each buffer then counts the slices still held).
 *
 * Ownership: every buffer is the kernel's (in the published ring), held
 * (a connection's input points into it), or staged (given back, not yet
 * published). Each one moves kernel -> held -> staged -> kernel, exactly
 * once per fill. Built with -Dbufring_checks=true, every move is checked
 * and a wrong one aborts (zg__bufring_check_*). */
struct zg_bufring {
	struct io_uring_buf_ring *br;
	uint8_t *slab;         /* count * size bytes                      */
	unsigned count, size, mask;
	unsigned staged;       /* returned since the last publish         */
	unsigned free;         /* buffers the kernel may fill now         */
	uint16_t bgid;
	bool bundle, inc;
	uint16_t *pos;         /* bundle: ring position of each buffer    */
	uint32_t *off;         /* inc: bytes the kernel has filled        */
	uint16_t *refs;        /* inc: slices still held by connections   */
	uint8_t *kdone;        /* inc: the kernel has moved past it       */
	uint8_t *owner;        /* checks: enum zg_bufowner of each buffer
	                        * (always present, so that code built with
	                        * and without the checks agrees on layout) */
};

enum zg_bufowner { BO_KERNEL = 0, BO_HELD, BO_STAGED };

/* The buffers of one recv CQE, in the order the kernel filled them. The
 * first buffer's ring position is read once, at the start: giving a
 * buffer back rewrites its position, so slices looked up after that
 * would name the wrong buffers. */
struct zg_rxbufs {
	unsigned bid;          /* the CQE's first buffer                   */
	uint16_t first;        /* bundle: its ring position                */
	unsigned k, n;         /* next slice, slices in all                */
	int res;
	unsigned flags;
};

int zg__bufring_init(struct zg_bufring *b, struct io_uring *ring,
		    unsigned count, unsigned size, uint16_t bgid, bool inc);
void zg__bufring_free(struct zg_bufring *b, struct io_uring *ring);
static inline uint8_t *zg__bufring_addr(const struct zg_bufring *b, unsigned bid)
{
	return b->slab + (size_t)bid * b->size;
}

#ifdef ZG_BUFRING_CHECKS
void zg__bufring_check_take(struct zg_bufring *b, unsigned bid);
void zg__bufring_check_put(struct zg_bufring *b, unsigned bid);
void zg__bufring_check_release(const struct zg_bufring *b, unsigned bid);
void zg__bufring_check_publish(struct zg_bufring *b);
void zg__bufring_check_idle(const struct zg_bufring *b);
#else
static inline void zg__bufring_check_take(struct zg_bufring *b, unsigned bid) { (void)b; (void)bid; }
static inline void zg__bufring_check_put(struct zg_bufring *b, unsigned bid) { (void)b; (void)bid; }
static inline void zg__bufring_check_release(const struct zg_bufring *b, unsigned bid) { (void)b; (void)bid; }
static inline void zg__bufring_check_publish(struct zg_bufring *b) { (void)b; }
static inline void zg__bufring_check_idle(const struct zg_bufring *b) { (void)b; }
#endif

/* Stage one buffer for return; visible to the kernel at publish. */
static inline void zg__bufring_put(struct zg_bufring *b, unsigned bid)
{
	zg__bufring_check_put(b, bid);
	b->pos[bid] = (uint16_t)(b->br->tail + b->staged);
	io_uring_buf_ring_add(b->br, zg__bufring_addr(b, bid), b->size, bid,
			      b->mask, b->staged++);
}
/* A connection is done with a slice of buffer bid. */
static inline void zg__bufring_release(struct zg_bufring *b, unsigned bid)
{
	if (b->inc) {
		zg__bufring_check_release(b, bid);
		if (--b->refs[bid] || !b->kdone[bid])
			return;
		b->off[bid] = 0;
		b->kdone[bid] = 0;
	}
	zg__bufring_put(b, bid);
}
/* Publish staged returns (once per loop). Returns how many. */
static inline unsigned zg__bufring_publish(struct zg_bufring *b)
{
	unsigned n = b->staged;
	if (n) {
		zg__bufring_check_publish(b);
		io_uring_buf_ring_advance(b->br, n);
		b->free += n;
		b->staged = 0;
	}
	return n;
}
/* Under a quarter of the buffers left for the kernel, counting returns
 * not yet published. In incremental mode the buffer the kernel is still
 * filling counts as free, but input kept in it pins it once it is full,
 * so it is not counted. */
static inline bool zg__bufring_low(const struct zg_bufring *b)
{
	unsigned avail = b->free + b->staged;

	if (b->inc && b->free)
		avail--;
	return avail * 4 < b->count;
}
/* Start taking the buffers of a recv CQE of res > 0 bytes. */
void zg__bufring_rx_begin(struct zg_bufring *b, struct zg_rxbufs *it,
			 unsigned bid, int res, unsigned cqe_flags);
/* The next slice: its buffer id, address and length; false after the
 * last. Takes the slice from the kernel's accounting (it is now held). */
bool zg__bufring_rx_next(struct zg_bufring *b, struct zg_rxbufs *it,
			unsigned *bid, uint8_t **p, unsigned *len);
/* Give back every slice of a recv CQE nobody will read. */
void zg__bufring_drop(struct zg_bufring *b, unsigned bid, int res, unsigned cqe_flags);

/* ---- timers (timer.c): a binary min-heap ------------------------- */
struct zg_tnode {
	uint64_t when;
	uint32_t idx;          /* position in the heap, UINT32_MAX if out  */
};
struct zg_theap {
	struct zg_tnode **v;
	uint32_t len, cap;
};
int zg__theap_push(struct zg_theap *h, struct zg_tnode *n);
void zg__theap_remove(struct zg_theap *h, struct zg_tnode *n);
static inline struct zg_tnode *zg__theap_top(const struct zg_theap *h)
{
	return h->len ? h->v[0] : NULL;
}
static inline bool zg__tnode_active(const struct zg_tnode *n)
{
	return n->idx != UINT32_MAX;
}

struct zg_timer {
	struct zg_tnode node;  /* the heap's entry (container_of back)    */
	struct zg_reactor *r;
	zg_timer_fn cb;
	void *arg;
	uint64_t repeat;
};

/* ---- connections (conn.c) ----------------------------------------- */
/* An output queue entry: bytes owned by the conn (a chunk) or by the
 * caller (a reference with a release callback). */
struct zg_wentry {
	uint8_t *p;
	size_t off, len;       /* sent so far, filled so far              */
	size_t cap;            /* chunk capacity; 0 for references         */
	void (*release)(void *);
	void *arg;
	bool zc;               /* handed to SEND_ZC; release waits for the
	                        * kernel's notification                    */
};

enum recv_state { RS_IDLE, RS_ARMED, RS_STARVED, RS_CANCELING };
enum conn_state { CS_FREE, CS_CONNECTING, CS_OPEN, CS_CLOSING, CS_LINGER, CS_DEAD };

#define ZG_INLINE_SEGS 4
#define ZG_MAX_IOV 8  /* entries per sendmsg; more go in the next send */

#define ZG_INLINE_WQ 2

/* Laid out for a message's path at thousands of connections, where each
 * line of a connection is a cache miss: the fields every message touches
 * and the inline arrays its common case uses (one input segment, one
 * output entry) come first, in the first five lines; the rest after.
 * The struct is a whole number of cache lines (the connection table is
 * page aligned), so no connection straddles a line it does not need. */
struct zg_conn {
	struct zg_reactor *r;
	const struct zg_handler *h; /* the reactor's, or own_h (connect)   */
	void *udata;
	int fd;
	uint32_t slot, gen;
	uint8_t state;         /* enum conn_state                          */
	uint8_t rstate;        /* enum recv_state                          */
	bool paused;           /* application asked to stop reading        */
	bool eof;
	bool ready;            /* on the reactor's ready list              */
	bool dirty;            /* on the flush list                        */
	bool in_cb;            /* inside on_data                           */
	bool advanced;         /* zg_conn_advance called in this on_data   */
	bool shut_wr;          /* FIN requested after the output drains    */
	bool fin_sent;
	bool abort;
	bool high_wm;          /* output passed max_output / 2             */
	bool starved_listed;
	bool slot_released;    /* freed and back on the free-slot stack    */
	bool send_inflight;
	bool zc_notif;         /* a SEND_ZC notification is still to come  */
	bool zc_deferred;      /* ... and zc_release waits for it          */
	bool bulk;             /* last recv filled a buffer: use bundles  */
	unsigned ops;          /* operations in flight                     */
	int close_reason;

	/* input: segments over ring buffers and the carry buffer. The read
	 * view points at in[] itself, so reading cannot fail; in_bid[i] is
	 * the ring buffer behind in[i], -1 for the carry buffer. */
	struct iovec *in;
	int32_t *in_bid;
	unsigned nsegs, seg_cap;
	size_t in_len;
	size_t examined;       /* input bytes the application has seen    */

	/* output queue: a FIFO of entries */
	struct zg_wentry *wq;
	unsigned wq_head, wq_len, wq_cap;
	size_t out_len;        /* queued, not yet accepted by the kernel   */
	size_t send_len;       /* bytes the in-flight send was given      */
	size_t reserved;       /* zg_conn_reserve'd, not yet committed     */

	/* timeouts: the node fires at the scheduled time; the real
	 * deadline moves forward lazily without touching the heap */
	uint64_t deadline;
	struct zg_conn *next_ready, *next_dirty;
	unsigned timeout_ms;

	struct iovec inline_in[ZG_INLINE_SEGS];
	int32_t inline_bid[ZG_INLINE_SEGS];
	struct zg_wentry inline_wq[ZG_INLINE_WQ];

	/* not on every message's path */
	uint64_t hard_deadline; /* zg_conn_set_deadline, 0 for none        */
	struct zg_conn *next_starved;
	uint8_t *carry;        /* compacted input (owned)                 */
	size_t carry_cap;
	void (*zc_release)(void *);
	void *zc_arg;
	struct zg_timer tmo;
	struct zg_handler own_h;    /* zg_reactor_connect's handler        */
	struct zg__tls_conn *tls;   /* TLS state, NULL for plain (tls.c)   */
	bool close_when_open;       /* closed gracefully while connecting  */
	bool app_busy;              /* zg_conn_set_busy: a stop waits      */
	bool app_knows;             /* on_open ran, or the app connected it:
	                             * on_close is owed                    */
	union {
		struct {            /* a sendmsg's header and iovecs       */
			struct msghdr msg;
			struct iovec iov[ZG_MAX_IOV];
		};
		/* CONNECTING: where to (the kernel reads it at submit;
		 * kept until the connect completes, when no send exists) */
		struct sockaddr_storage connect_to;
	};
} __attribute__((aligned(64)));

/* The layout the comment above promises: the common case's first input
 * segment and first output entry end within the first five cache lines,
 * and slots are whole lines. */
_Static_assert(offsetof(struct zg_conn, inline_wq) + sizeof(struct zg_wentry) <= 5 * 64,
	       "the first output entry must sit in the connection's first five lines");
_Static_assert(offsetof(struct zg_conn, inline_bid) + sizeof(int32_t) <= 5 * 64,
	       "the first input segment must sit in the connection's first five lines");
_Static_assert(sizeof(struct zg_conn) % 64 == 0, "connection slots are whole cache lines");

/* ---- connection lists ---------------------------------------------- */
/* An intrusive FIFO of connections (ready, dirty, starved). A connection
 * is on a list at most once: its flag for the list says so, and the
 * list's link field in the connection chains it. */
struct zg_clist {
	struct zg_conn *head, **tail;
};

static inline void zg__clist_init(struct zg_clist *l)
{
	l->head = NULL;
	l->tail = &l->head;
}
#define zg__clist_push(l, c, link)                                           \
	do {                                                                 \
		(c)->link = NULL;                                            \
		*(l)->tail = (c);                                            \
		(l)->tail = &(c)->link;                                      \
	} while (0)
#define zg__clist_pop(l, link)                                               \
	({                                                                   \
		struct zg_conn *c_ = (l)->head;                              \
		if (c_ && !((l)->head = c_->link))                           \
			(l)->tail = &(l)->head;                              \
		c_;                                                          \
	})

/* ---- reactor ------------------------------------------------------- */
struct zg_post {
	struct zg_post *next;
	void (*fn)(void *);
	void *arg;
};

struct zg_listener {
	int fd;
	bool armed;
	bool dead;             /* accept failed for good: not re-armed   */
	struct zg_tls *tls;    /* a TLS listener's context (a reference) */
};

#define ZG_MAX_LISTENERS 8

struct zg_reactor {
	struct io_uring ring;
	struct zg_reactor_config cfg;
	struct zg_handler h;
	void *udata;
	unsigned id;
	unsigned features;
	bool ktls_logged;           /* kernel TLS: said once (tls.c)       */
	struct zg_server *server;   /* NULL for a lone reactor           */
	bool handoff;               /* ZG_ACCEPT_ONE: spread accepted fds */

	struct zg_bufring buf;
	struct zg_conn *conns;      /* max_conns slots (mmap)             */
	size_t conns_bytes;
	uint32_t *free_slots;       /* stack of free slot indices         */
	uint32_t nfree;
	uint32_t hiwater;           /* slots [0, hiwater) were ever used   */
	uint64_t *fd_bits;          /* fds that are live connections here, */
	unsigned fd_words;          /* so adopt can refuse one twice       */
	unsigned live;              /* open connections                   */

	struct zg_listener lst[ZG_MAX_LISTENERS];
	unsigned nlst;
	struct zg_timer *accept_retry;

	struct zg_clist ready;      /* on_data to run (conn->next_ready)  */
	void *chunk_pool;           /* free output chunks (singly linked) */
	unsigned chunk_nfree;
	bool ring_ok;
	unsigned ring_features;     /* io_uring_params.features            */
	int recv_limit;             /* multishot byte limit: 0 untried,
	                             * 1 works, -1 not in this kernel      */
	struct zg_clist dirty;      /* to flush (conn->next_dirty)        */
	struct zg_clist starved;    /* recv parked on -ENOBUFS
	                             * (conn->next_starved)                */

	struct zg_theap timers;
	uint64_t now_ms;
	bool worked;                /* a timer or post ran this iteration */

	/* cross-thread: posts and stop */
	int wake_fd;
	bool wake_armed;
	pthread_mutex_t post_lock;
	struct zg_post *posts;
	atomic_bool wake_pending;
	_Atomic uint64_t stop_req;  /* deadline + 1 (64 bits: never wraps),
	                             * or 0                               */
	bool stopping;
	bool stopped;
	bool post_closed;
	uint64_t stop_deadline;
	unsigned inflight_misc;     /* cancels, accepts, wake poll         */

	struct zg_watch **watches;  /* watch table, by index (watch.c)    */
	uint32_t watch_cap, watch_hint;

	struct zg_reactor_stats st;
	int err;
};

/* reactor.c */
struct io_uring_sqe *zg__sqe(struct zg_reactor *r);
void zg__log(struct zg_reactor *r, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* listen.c */
int zg__listen_socket(const struct sockaddr *addr, socklen_t len, int backlog,
		      unsigned flags, uint16_t *port);
int zg__bound_port(int fd, uint16_t *port);
void zg__arm_accept(struct zg_reactor *r, unsigned li);
void zg__on_accept(struct zg_reactor *r, struct io_uring_cqe *cqe);
void zg__listeners_close(struct zg_reactor *r);
int zg__listen_fd_tls(struct zg_reactor *r, int fd, struct zg_tls *tls);

/* conn.c: lifecycle */
struct zg_conn *zg__conn_take_slot(struct zg_reactor *r, int fd);
struct zg_conn *zg__conn_open(struct zg_reactor *r, int fd, struct zg_tls *tls);
void zg__conn_opened(struct zg_conn *c);
struct zg_conn *zg__conn_of(struct zg_reactor *r, uint64_t ud);
bool zg__fd_is_conn(const struct zg_reactor *r, int fd);
void zg__conn_to_linger(struct zg_conn *c);
void zg__conn_to_dead(struct zg_conn *c);
void zg__conn_fail(struct zg_conn *c, int reason);
void zg__conn_dead_to_free(struct zg_conn *c);
void zg__conn_slot_reuse(struct zg_conn *c);
void zg__conn_stop(struct zg_conn *c, uint64_t abort_at);
void zg__conn_discard(struct zg_conn *c);
void zg__conns_free(struct zg_reactor *r);

static inline void zg__conn_touch(struct zg_conn *c)
{
	if (c->timeout_ms)
		c->deadline = c->r->now_ms + c->timeout_ms;
}
static inline void zg__conn_make_ready(struct zg_conn *c)
{
	if (c->ready)
		return;
	c->ready = true;
	zg__clist_push(&c->r->ready, c, next_ready);
}
static inline void zg__conn_make_dirty(struct zg_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	zg__clist_push(&c->r->dirty, c, next_dirty);
}

/* tls.c: a TLS connection's record layer in user space. The read path
 * hands it ciphertext and it appends plaintext to the input; the write
 * path asks it to flush, and it encrypts the queued plaintext into its
 * own ciphertext buffer and sends that. */
struct zg__tls_conn;
int zg__tls_attach(struct zg_conn *c, struct zg_tls *tls);
void zg__tls_detach(struct zg_conn *c);
void zg__tls_input(struct zg_conn *c, const uint8_t *p, size_t n);
void zg__tls_read(struct zg_conn *c);
void zg__tls_flush(struct zg_conn *c);
bool zg__tls_sent(struct zg_conn *c, size_t n);
bool zg__tls_handshaking(const struct zg_conn *c);
bool zg__tls_busy(const struct zg_conn *c);
bool zg__tls_held(const struct zg_conn *c);
/* ... and under kernel TLS (or on the way to it), per direction */
bool zg__tls_kernel_tx(const struct zg_conn *c);
bool zg__tls_user_rx(const struct zg_conn *c);
bool zg__tls_recv_hold(const struct zg_conn *c);
void zg__tls_recv_ended(struct zg_conn *c);
bool zg__tls_recv_error(struct zg_conn *c, int res);
bool zg__tls_kernel_notify(struct zg_conn *c);
void zg__tls_on_recv(struct zg_conn *c, struct io_uring_cqe *cqe);
unsigned zg__tls_timeout(const struct zg_conn *c);
struct zg_tls *zg__tls_ref(struct zg_tls *tls);
bool zg__tls_client(const struct zg_tls *tls);
unsigned zg__ktls_probe(void);
bool zg__ktls_cipher_ok(unsigned iana_id);

/* ktls.c: handing the record layer to the kernel. A tracker follows
 * one TLS connection from its start: per direction, the records of the
 * application epoch (their count is the kernel's first sequence
 * number), the TLS 1.3 traffic secret, and the record stream on the
 * wire (where the next record starts; TLS 1.2 AES-GCM's last explicit
 * nonce). */
struct zg__ktls_dir {
	uint64_t seq;          /* application-epoch records so far       */
	bool app;              /* the application epoch has begun        */
	bool ccs;              /* wire: a ChangeCipherSpec went by        */
	bool eiv_seen;
	uint8_t eiv[8];        /* wire: the last record's explicit nonce  */
	uint8_t secret[48];    /* TLS 1.3 traffic secret (key log)        */
	unsigned secret_len;
	uint8_t hdr[13];       /* wire: current record's header + nonce   */
	unsigned hdr_have;
	size_t left;           /* wire: body bytes of it still to come    */
	uint64_t bytes, records; /* wire: so far                         */
};
struct zg__ktls_track {
	struct zg__ktls_dir tx, rx;
	bool bad;              /* keys changed again: not derivable       */
};
/* the argument of setsockopt(SOL_TLS, TLS_TX / TLS_RX) */
struct zg__ktls_info {
	union {
		struct tls_crypto_info base;
		struct tls12_crypto_info_aes_gcm_128 gcm128;
		struct tls12_crypto_info_aes_gcm_256 gcm256;
		struct tls12_crypto_info_chacha20_poly1305 chacha;
	};
	socklen_t len;
};
/* reasons for user space, from zg__ktls_choose and zg__ktls_info */
enum { ZG__KTLS_OFF = 1, ZG__KTLS_NO_ULP, ZG__KTLS_VERSION, ZG__KTLS_SUITE, ZG__KTLS_STATE };
struct ssl_st;
struct ssl_ctx_st;
int zg__ktls_choose(unsigned features, unsigned tls_flags, int version, unsigned suite);
enum { ZG__KC_CLOSE, ZG__KC_EOF, ZG__KC_SKIP };
int zg__ktls_ctrl_kind(int type, const uint8_t *p, size_t n);
const char *zg__ktls_reason(int why);
void zg__ktls_ctx_init(struct ssl_ctx_st *ctx);
void zg__ktls_track_start(struct ssl_st *ssl, struct zg__ktls_track *t);
void zg__ktls_track_stop(struct ssl_st *ssl, struct zg__ktls_track *t);
void zg__ktls_wire(struct zg__ktls_dir *d, const uint8_t *p, size_t n);
size_t zg__ktls_wire_need(const struct zg__ktls_dir *d);
int zg__ktls_info(struct ssl_st *ssl, const struct zg__ktls_track *t, bool tx,
		  struct zg__ktls_info *o);
int zg__ktls_install(int fd, bool *ulp_set, bool tx, const struct zg__ktls_info *o);
/* Tests only: when set, kernel TLS is attempted whatever the probe said,
 * and this is called instead of the setsockopt calls, with the bytes of
 * that direction's stream so far; it returns 0 (taken) or -errno. */
extern int (*zg__ktls_hook)(struct zg_conn *c, bool tx, const struct zg__ktls_info *o,
			    uint64_t stream_bytes);

/* watch.c */
void zg__watch_on_cqe(struct zg_reactor *r, struct io_uring_cqe *cqe);
void zg__watches_free(struct zg_reactor *r);

/* connect.c */
void zg__conn_on_connect(struct zg_conn *c, struct io_uring_cqe *cqe);

/* conn_read.c */
uint8_t *zg__conn_plain_room(struct zg_conn *c, size_t n);
void zg__conn_plain_added(struct zg_conn *c, size_t n);
void zg__conn_arm_recv(struct zg_conn *c);
void zg__conn_recv_update(struct zg_conn *c);
void zg__conn_on_recv(struct zg_conn *c, struct io_uring_cqe *cqe);
void zg__conn_drop_input(struct zg_conn *c);
void zg__conn_dispatch(struct zg_conn *c);
void zg__conns_run_ready(struct zg_reactor *r);
void zg__conns_rearm_starved(struct zg_reactor *r);

/* conn_write.c */
size_t zg__conn_take_output(struct zg_conn *c, uint8_t *dst, size_t max);
void zg__conn_send_buf(struct zg_conn *c, uint8_t *p, size_t n);
int zg__conn_send_flags(const struct zg_conn *c);
void zg__conn_flush(struct zg_conn *c);
void zg__conn_send_fin(struct zg_conn *c);
void zg__conn_drop_output(struct zg_conn *c);
void zg__conn_on_send(struct zg_conn *c, struct io_uring_cqe *cqe);
void zg__conn_on_send_zc(struct zg_conn *c, struct io_uring_cqe *cqe);
void zg__conns_flush_dirty(struct zg_reactor *r);

/* timer.c */
void zg__timers_run(struct zg_reactor *r);
int zg__timers_wait_ms(struct zg_reactor *r);
void zg__timer_setup(struct zg_timer *t, struct zg_reactor *r, zg_timer_fn cb, void *arg);
void zg__timer_arm_at(struct zg_timer *t, uint64_t when);

/* post.c */
void zg__posts_run(struct zg_reactor *r);
void zg__wake_arm(struct zg_reactor *r);
void zg__wake_read(struct zg_reactor *r);
void zg__posts_free(struct zg_reactor *r);
void zg__posts_close(struct zg_reactor *r);

/* server.c */
bool zg__server_handoff(struct zg_reactor *r, int fd);

/* util.c */
uint64_t zg__clock_ms(void);
int zg__grow(uint8_t **buf, size_t *cap, size_t need, size_t first);

#endif
