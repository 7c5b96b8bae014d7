/* SPDX-License-Identifier: MIT */
/*
 * zerg-proxy's core (see proxy.h and README.md).
 *
 * A pair is a client connection and its upstream connection, both on
 * the client's reactor. Each side's input goes to the other side by
 * reference:
 *
 *   on_data(src):  every new segment of src's input is queued on dst with
 *                  zg_conn_write_ref (no copy); the last one of the batch
 *                  carries a release callback, and the batch's length is
 *                  remembered; src's input is marked examined, not
 *                  consumed, so its ring buffers stay lent to src;
 *   release:       the kernel has sent the batch to dst's peer: consume
 *                  it from src (zg_conn_advance outside on_data), which
 *                  gives the buffers back to the ring and lets reading
 *                  resume.
 *
 * Releases come in queue order, so consuming them in order is exact. The
 * reactors run with two flags that make this sound:
 * ZG_RF_HOLD_INPUT (libzerg never moves held input out of the ring
 * behind our back, which would free the buffers those references point
 * into, and a full input is not -E2BIG: reading just pauses at
 * max_input), and ZG_RF_HALF_OPEN (a peer's FIN does not close its
 * connection, so the other direction can go on).
 *
 * Back-pressure: max_input (the window) bounds the bytes one side holds
 * unsent on the other, exactly (the kernel's multishot recv byte limit);
 * the segment limit bounds the ring buffers it holds (a trickle of tiny
 * reads would otherwise take a whole buffer per byte). Either way the
 * peer that reads slowly stops the reading on the other side, and TCP
 * flow control slows the sender.
 *
 * Half-close: a side's end of stream, once every byte before it is
 * queued, becomes zg_conn_shutdown (FIN after the queued output) on the
 * other side. A side is closed (gracefully) once both peers have sent
 * their FIN and its own input is all consumed.
 *
 * Errors: when a side fails (reset, timeout, connect refused...), its
 * input is gone; the other side is aborted (RST) if it still had
 * references into that input or the failure was an error, else closed
 * gracefully. A failed connect closes the client gracefully.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

enum { CL = 0, UP = 1 };

struct upstream {
	struct sockaddr_storage addr;
	socklen_t len;
	char name[128];
	atomic_bool up;
};

struct preactor;

struct side {
	struct zg_conn *c;      /* NULL before the connect / after on_close */
	struct pair *p;
	unsigned idx;           /* CL or UP                                 */
	size_t held;            /* bytes of c's input referenced on the
	                         * other side, not yet released             */
	uint32_t *lens;         /* lengths of the batches in flight, FIFO   */
	unsigned lhead, llen, lcap;
	uint32_t inline_lens[4];  /* lcap: a power of 2 */
	bool open;              /* on_open ran                              */
	bool eof;               /* c's peer sent FIN (seen by on_data)      */
	bool shut;              /* zg_conn_shutdown(c): the other's FIN     */
	bool closing;           /* we closed c                              */
	bool paused;            /* paused for the segment limit             */
};

struct pair {
	struct side s[2];
	struct preactor *pr;
	unsigned alive;         /* connections whose on_close is to come    */
};

struct zp_rstats {
	uint64_t clients, connected, connect_failed, no_upstream, pairs_closed, aborted;
	uint64_t bytes[2], refs, pauses, held_now, held_max;
	unsigned pairs_open;
};

struct preactor {
	struct zp *zp;
	struct zg_reactor *r;
	unsigned rr;            /* round-robin position                      */
	struct zg_timer *health;
	struct zp_rstats st;
};

struct zp {
	struct zp_config cfg;
	struct zg_server *s;
	char host[256];
	struct upstream up[ZP_MAX_UPSTREAMS];
	unsigned nup;
	struct preactor *pr;
	unsigned npr;
};

static const struct zg_handler upstream_h;
static const struct zg_handler health_h;

/* ---- addresses ------------------------------------------------------ */

int zp_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon;
	char *end;
	unsigned long port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (!strncmp(s, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		const char *path = s + 5;
		bool abstract = path[0] == '@';
		size_t pl = strlen(path);

		if (pl < (size_t)1 + abstract || pl >= sizeof(un->sun_path))
			return -EINVAL;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, pl);
		if (abstract)
			un->sun_path[0] = 0;
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + pl + !abstract);
		return 0;
	}
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - s - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hl);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
	}
	host[hl] = 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return 0;
	}
	return -EINVAL;
}

/* ---- per-side bookkeeping ------------------------------------------- */

static struct side *other(struct side *s)
{
	return &s->p->s[s->idx ^ 1];
}

static struct preactor *reactor_of(struct zg_conn *c)
{
	return zg_reactor_udata(zg_conn_reactor(c));
}

static int lens_push(struct side *s, uint32_t n)
{
	if (s->llen == s->lcap) {
		unsigned cap = s->lcap * 2;
		uint32_t *l = malloc(cap * sizeof(*l));

		if (!l)
			return -ENOMEM;
		for (unsigned i = 0; i < s->llen; i++)
			l[i] = s->lens[(s->lhead + i) & (s->lcap - 1)];
		if (s->lens != s->inline_lens)
			free(s->lens);
		s->lens = l;
		s->lcap = cap;
		s->lhead = 0;
	}
	s->lens[(s->lhead + s->llen++) & (s->lcap - 1)] = n;
	return 0;
}

static uint32_t lens_pop(struct side *s)
{
	uint32_t n = s->lens[s->lhead];

	s->lhead = (s->lhead + 1) & (s->lcap - 1);
	s->llen--;
	return n;
}

static void side_init(struct side *s, struct pair *p, unsigned idx)
{
	s->p = p;
	s->idx = idx;
	s->lens = s->inline_lens;
	s->lcap = sizeof(s->inline_lens) / sizeof(s->inline_lens[0]);
}

static void pair_free(struct pair *p)
{
	for (int i = 0; i < 2; i++)
		if (p->s[i].lens != p->s[i].inline_lens)
			free(p->s[i].lens);
	p->pr->st.pairs_open--;
	p->pr->st.pairs_closed++;
	free(p);
}

/* Close a side we still hold: gracefully (queued output goes first) or
 * with an RST. */
static void side_close(struct side *s, bool abort)
{
	if (!s->c || s->closing)
		return;
	s->closing = true;
	if (abort)
		s->p->pr->st.aborted++;
	zg_conn_close(s->c, abort ? ZG_CLOSE_ABORT : ZG_CLOSE_GRACEFUL);
}

/* Both peers have sent FIN: a side whose input is all consumed has
 * nothing left to forward; what it has queued still goes out. */
static void maybe_finish(struct pair *p)
{
	if (!p->s[CL].eof && !p->s[UP].eof)
		return;
	for (int i = 0; i < 2; i++) {
		struct side *s = &p->s[i], *o = &p->s[i ^ 1];
		if (s->c && !s->closing && s->eof && !s->held && (o->eof || !o->c))
			side_close(s, false);
	}
}

/* A whole batch of the other side's input has been sent: consume it
 * from its source (this gives its ring buffers back and resumes reading
 * if it had paused at the window). */
static void on_sent(void *arg)
{
	struct side *s = arg;
	struct preactor *pr = s->p->pr;
	size_t before = s->held;
	uint32_t n = lens_pop(s);

	s->held -= n;
	pr->st.held_now -= n;
	if (!s->c || s->closing)
		return; /* its input went with it */
	/* examined = what is referenced: input that came after stays
	 * unexamined and gets its on_data */
	zg_conn_advance(s->c, n, before);
	if (s->paused) {
		struct zg_read_view v;
		zg_conn_read(s->c, &v);
		if (v.nsegs * 2 <= pr->zp->cfg.max_segs) {
			s->paused = false;
			zg_conn_resume_read(s->c);
		}
	}
	maybe_finish(s->p);
}

/* Abort both sides: something went wrong in the middle of a batch. An
 * abort may run on_close at once, and the first one's on_close closes
 * the other side too: the extra count keeps the pair until both calls
 * have returned. The caller must not touch the pair afterwards. */
static void pair_abort(struct pair *p)
{
	p->alive++;
	side_close(&p->s[UP], true);
	side_close(&p->s[CL], true);
	if (--p->alive == 0)
		pair_free(p);
}

/* Forward src's new input to the other side, by reference. */
static void pump(struct side *src)
{
	struct side *dst = other(src);
	struct preactor *pr = src->p->pr;
	struct zg_read_view v;
	size_t skip, total = 0;
	bool eof;

	zg_conn_read(src->c, &v);
	eof = v.eof;
	if (!dst->c || dst->closing || dst->shut) {
		/* nowhere to go: the other side is closing (and src with it
		 * soon). Its queue may still point into the front of this
		 * input, so nothing is consumed; the rest waits, examined. */
		zg_conn_advance(src->c, 0, v.len);
		return;
	}
	skip = src->held;
	for (unsigned i = 0; i < v.nsegs; i++) {
		const uint8_t *b = v.segs[i].iov_base;
		size_t n = v.segs[i].iov_len;
		bool last = i + 1 == v.nsegs;
		int ret;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		b += skip;
		n -= skip;
		skip = 0;
		if (last && lens_push(src, (uint32_t)(total + n))) {
			pair_abort(src->p);
			return;
		}
		ret = zg_conn_write_ref(dst->c, b, n, last ? on_sent : NULL, last ? src : NULL);
		if (ret) {
			/* earlier segments of this batch are queued without a
			 * release: nothing can be consumed exactly any more */
			if (last)
				src->llen--;
			pair_abort(src->p);
			return;
		}
		total += n;
	}
	if (total) {
		src->held += total;
		pr->st.bytes[src->idx] += total;
		pr->st.refs++;
		pr->st.held_now += total;
		if (src->held > pr->st.held_max)
			pr->st.held_max = src->held;
	}
	zg_conn_advance(src->c, 0, v.len); /* examined, kept */
	if (v.nsegs >= pr->zp->cfg.max_segs && !src->paused) {
		src->paused = true;
		pr->st.pauses++;
		zg_conn_pause_read(src->c);
	}
	if (eof && !src->eof) {
		src->eof = true;
		dst->shut = true;
		zg_conn_shutdown(dst->c); /* FIN once what is queued is sent */
		maybe_finish(src->p);
	}
}

static void on_data(struct zg_conn *c)
{
	pump(zg_conn_udata(c));
}

/* A side is gone (every reference it had was released before this). */
static void on_close(struct zg_conn *c, int reason)
{
	struct side *s = zg_conn_udata(c);
	struct side *o = other(s);
	struct pair *p = s->p;
	bool held = s->held > 0;

	s->c = NULL;
	if (s->idx == UP && !s->open)
		p->pr->st.connect_failed++;
	if (o->c && !o->closing) {
		if (s->idx == UP && !s->open)
			side_close(o, false);   /* no upstream: close the client */
		else if (held || (reason && reason != -ESHUTDOWN))
			side_close(o, true);    /* o's queue points into freed
			                         * input, or s failed: reset    */
		else
			side_close(o, false);
	}
	if (--p->alive == 0)
		pair_free(p);
}

static void on_upstream_open(struct zg_conn *c)
{
	struct side *s = zg_conn_udata(c);

	s->open = true;
	s->p->pr->st.connected++;
}

/* Round robin over the upstreams marked up; -1 if none is. */
static int pick_upstream(struct preactor *pr)
{
	struct zp *zp = pr->zp;

	for (unsigned k = 0; k < zp->nup; k++) {
		unsigned i = pr->rr++ % zp->nup;
		if (atomic_load_explicit(&zp->up[i].up, memory_order_relaxed))
			return (int)i;
	}
	return -1;
}

static void on_client_open(struct zg_conn *c)
{
	struct preactor *pr = reactor_of(c);
	struct zg_connect_opts o;
	struct pair *p = calloc(1, sizeof(*p));
	struct upstream *u;
	int i, ret;

	pr->st.clients++;
	if (!p) {
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return;
	}
	p->pr = pr;
	side_init(&p->s[CL], p, CL);
	side_init(&p->s[UP], p, UP);
	p->s[CL].c = c;
	p->s[CL].open = true;
	p->alive = 1;
	pr->st.pairs_open++;
	zg_conn_set_udata(c, &p->s[CL]);
	i = pick_upstream(pr);
	if (i < 0) {
		pr->st.no_upstream++;
		side_close(&p->s[CL], false);
		return;
	}
	u = &pr->zp->up[i];
	zg_connect_opts_init(&o);
	o.handler = &upstream_h;
	o.udata = &p->s[UP];
	o.timeout_ms = pr->zp->cfg.connect_timeout_ms;
	ret = zg_reactor_connect(pr->r, (struct sockaddr *)&u->addr, u->len, &o, &p->s[UP].c);
	if (ret) {
		p->s[UP].c = NULL;
		pr->st.connect_failed++;
		side_close(&p->s[CL], false);
		return;
	}
	p->alive = 2;
}

static const struct zg_handler client_h = {
	.on_open = on_client_open,
	.on_data = on_data,
	.on_close = on_close,
};

static const struct zg_handler upstream_h = {
	.on_open = on_upstream_open,
	.on_data = on_data,
	.on_close = on_close,
};

/* ---- health check (reactor 0): connect to each upstream -------------- */

struct hc {
	struct zp *zp;
	unsigned idx;
	bool opened;
};

static void hc_mark(struct zp *zp, unsigned i, bool up)
{
	if (atomic_exchange(&zp->up[i].up, up) != up)
		fprintf(stderr, "zerg-proxy: upstream %s is %s\n", zp->up[i].name,
			up ? "up" : "DOWN");
}

static void hc_open(struct zg_conn *c)
{
	struct hc *h = zg_conn_udata(c);

	h->opened = true;
	hc_mark(h->zp, h->idx, true);
	zg_conn_close(c, ZG_CLOSE_ABORT); /* no FIN handshake to wait for */
}

static void hc_close(struct zg_conn *c, int reason)
{
	struct hc *h = zg_conn_udata(c);

	(void)reason;
	if (!h->opened)
		hc_mark(h->zp, h->idx, false);
	free(h);
}

static const struct zg_handler health_h = {
	.on_open = hc_open,
	.on_close = hc_close,
};

static void health_tick(struct zg_timer *t, void *arg)
{
	struct preactor *pr = arg;
	struct zp *zp = pr->zp;
	unsigned tmo = zp->cfg.health_interval_ms;

	(void)t;
	if (zp->cfg.connect_timeout_ms && zp->cfg.connect_timeout_ms < tmo)
		tmo = zp->cfg.connect_timeout_ms;
	for (unsigned i = 0; i < zp->nup; i++) {
		struct zg_connect_opts o;
		struct hc *h = calloc(1, sizeof(*h));
		int ret;

		if (!h)
			return;
		h->zp = zp;
		h->idx = i;
		zg_connect_opts_init(&o);
		o.handler = &health_h;
		o.udata = h;
		o.timeout_ms = tmo;
		ret = zg_reactor_connect(pr->r, (struct sockaddr *)&zp->up[i].addr, zp->up[i].len,
					 &o, NULL);
		if (ret) {
			free(h);
			if (ret != -ESHUTDOWN)
				hc_mark(zp, i, false);
		}
	}
}

/* ---- server --------------------------------------------------------- */

static void reactor_start(struct zg_reactor *r, void *udata)
{
	struct zp *zp = udata;
	struct preactor *pr = &zp->pr[zg_reactor_id(r)];

	pr->zp = zp;
	pr->r = r;
	pr->rr = zg_reactor_id(r); /* reactors start at different upstreams */
	zg_reactor_set_udata(r, pr);
	if (zg_reactor_id(r) == 0 && zp->cfg.health_interval_ms &&
	    zg_timer_new(r, health_tick, pr, &pr->health) == 0)
		zg_timer_start(pr->health, 0, zp->cfg.health_interval_ms);
}

static void reactor_stop(struct zg_reactor *r, void *udata)
{
	struct preactor *pr = zg_reactor_udata(r);

	(void)udata;
	if (pr->health)
		zg_timer_free(pr->health);
	pr->health = NULL;
}

void zp_config_init(struct zp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->connect_timeout_ms = 3000;
	cfg->idle_timeout_ms = 60000;
	cfg->window = 256 * 1024;
	cfg->max_segs = 64;
	/* 2048 x 4 KiB: 8 MiB of ring per reactor instead of libzerg's 16.
	 * The kernel fills buffers in ring order, so a ring's whole slab is
	 * resident once traffic has gone round it, and at 10 000 pairs it
	 * was the larger part of the proxy's memory; 2048 buffers still
	 * cover every side's window of 64 buffers many times over. */
	cfg->bufs = 2048;
}

static int fail(char *err, size_t errlen, int ret, const char *fmt, const char *arg)
{
	if (err && errlen) {
		char what[256];
		snprintf(what, sizeof(what), fmt, arg);
		snprintf(err, errlen, "%s: %s", what, zg_strerror(ret));
	}
	return ret;
}

int zp_new(const struct zp_config *cfg, struct zp **out, char *err, size_t errlen)
{
	struct zg_server_config sc;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct zp *zp;
	int ret;

	if (!cfg->listen || !cfg->nupstreams || cfg->nupstreams > ZP_MAX_UPSTREAMS ||
	    cfg->window < 1024 || cfg->window > (1u << 30) || cfg->max_segs < 2)
		return fail(err, errlen, -EINVAL, "%s", "bad configuration");
	if (zp_parse_addr(cfg->listen, &ss, &sl))
		return fail(err, errlen, -EINVAL, "listen address %s", cfg->listen);
	zp = calloc(1, sizeof(*zp));
	if (!zp)
		return -ENOMEM;
	zp->cfg = *cfg;
	zp->cfg.reactor = NULL;
	for (unsigned i = 0; i < cfg->nupstreams; i++) {
		struct upstream *u = &zp->up[i];
		if (zp_parse_addr(cfg->upstreams[i], &u->addr, &u->len)) {
			free(zp);
			return fail(err, errlen, -EINVAL, "upstream address %s", cfg->upstreams[i]);
		}
		snprintf(u->name, sizeof(u->name), "%s", cfg->upstreams[i]);
		atomic_init(&u->up, true);
	}
	zp->nup = cfg->nupstreams;

	zg_server_config_init(&sc);
	if (cfg->reactor)
		sc.reactor = *cfg->reactor;
	if (ss.ss_family == AF_UNIX) {
		snprintf(zp->host, sizeof(zp->host), "%s", cfg->listen);
		sc.listen_flags = ZG_LISTEN_UNLINK;
	} else {
		/* the host part, without brackets */
		const char *l = cfg->listen, *colon = strrchr(l, ':');
		size_t hl = (size_t)(colon - l);
		if (l[0] == '[') {
			l++;
			hl -= 2;
		}
		snprintf(zp->host, sizeof(zp->host), "%.*s", (int)hl, l);
		sc.port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
							: ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	sc.host = zp->host;
	sc.threads = cfg->threads;
	sc.pin_threads = cfg->pin;
	sc.on_reactor_start = reactor_start;
	sc.on_reactor_stop = reactor_stop;
	/* Input is referenced until the other side has sent it (see the
	 * top of this file); a peer's FIN must not end the other way. */
	sc.reactor.flags |= ZG_RF_HOLD_INPUT | ZG_RF_HALF_OPEN;
	sc.reactor.max_input = cfg->window;
	/* never reached: one side's queue holds at most a window of the
	 * other's input, so libzerg's own pause at max_output / 2 (which
	 * would stop the wrong direction) stays out of the way */
	if (sc.reactor.max_output < 4 * cfg->window)
		sc.reactor.max_output = 4 * cfg->window;
	sc.reactor.idle_timeout_ms = cfg->idle_timeout_ms;
	if (cfg->bufs)
		sc.reactor.buf_count = cfg->bufs;
	if (cfg->buf_size)
		sc.reactor.buf_size = cfg->buf_size;
	ret = zg_server_new(&sc, &client_h, zp, &zp->s);
	if (ret) {
		free(zp);
		return fail(err, errlen, ret, "listen on %s", cfg->listen);
	}
	zp->npr = zg_server_threads(zp->s);
	zp->pr = calloc(zp->npr, sizeof(*zp->pr));
	if (!zp->pr) {
		zg_server_free(zp->s);
		free(zp);
		return -ENOMEM;
	}
	*out = zp;
	return 0;
}

int zp_start(struct zp *zp)
{
	return zg_server_start(zp->s);
}

void zp_stop(struct zp *zp, unsigned deadline_ms)
{
	zg_server_stop(zp->s, deadline_ms);
}

int zp_wait(struct zp *zp)
{
	return zg_server_wait(zp->s);
}

void zp_free(struct zp *zp)
{
	if (!zp)
		return;
	zg_server_free(zp->s);
	free(zp->pr);
	free(zp);
}

uint16_t zp_port(const struct zp *zp)
{
	return zg_server_port(zp->s);
}

struct zg_server *zp_server(const struct zp *zp)
{
	return zp->s;
}

/* ---- stats: read on each reactor's thread ---------------------------- */

struct stats_q {
	struct preactor *pr;
	struct zp_rstats st;
	pthread_mutex_t m;
	pthread_cond_t cv;
	bool done;
};

static void stats_run(void *arg)
{
	struct stats_q *q = arg;

	pthread_mutex_lock(&q->m);
	q->st = q->pr->st;
	q->done = true;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->m);
}

static void stats_add(struct zp_stats *st, const struct zp_rstats *r)
{
	st->clients += r->clients;
	st->connected += r->connected;
	st->connect_failed += r->connect_failed;
	st->no_upstream += r->no_upstream;
	st->pairs_closed += r->pairs_closed;
	st->aborted += r->aborted;
	st->bytes[0] += r->bytes[0];
	st->bytes[1] += r->bytes[1];
	st->refs += r->refs;
	st->pauses += r->pauses;
	st->held_now += r->held_now;
	if (r->held_max > st->held_max)
		st->held_max = r->held_max;
	st->pairs_open += r->pairs_open;
}

int zp_stats(struct zp *zp, struct zp_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < zp->nup; i++)
		st->up_healthy += atomic_load(&zp->up[i].up);
	for (unsigned i = 0; i < zp->npr; i++) {
		struct zg_reactor *r = zg_server_reactor(zp->s, i);
		struct stats_q q = { .pr = &zp->pr[i] };
		int ret;

		if (!r)
			return -ESRCH;
		pthread_mutex_init(&q.m, NULL);
		pthread_cond_init(&q.cv, NULL);
		ret = zg_reactor_post(r, stats_run, &q);
		if (ret == 0) {
			pthread_mutex_lock(&q.m);
			while (!q.done)
				pthread_cond_wait(&q.cv, &q.m);
			pthread_mutex_unlock(&q.m);
		} else if (ret == -ESHUTDOWN) {
			q.st = zp->pr[i].st; /* stopped: nothing writes any more */
			ret = 0;
		}
		pthread_cond_destroy(&q.cv);
		pthread_mutex_destroy(&q.m);
		if (ret)
			return ret;
		stats_add(st, &q.st);
	}
	return 0;
}
