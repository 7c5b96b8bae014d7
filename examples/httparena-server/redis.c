/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: crud's cache on Redis (redis.h): URL parsing, and a
 * RESP2 client on one libzerg outbound connection per reactor.
 *
 * Every command written pushes what its reply is for onto a FIFO ring
 * (a get's callback, or nothing for SET/DEL); on_data parses the
 * replies in order and pops one each. Commands are formatted in place
 * in the output queue (zg_conn_reserve), so a command costs no copy
 * besides the value of a SET, and the reactor sends a loop pass's
 * commands together.
 *
 * States: no connection (c NULL), connecting (c set, !up), up. One
 * timer does both the reconnect backoff and the reply watchdog.
 */
#include "redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "http_fmt.h"

/* A reply bigger than this is taken as a broken stream: no value of
 * ours comes near it. */
#define REDIS_REPLY_MAX (1u << 20)
/* A status or error line longer than this is a broken stream too. */
#define REDIS_LINE_MAX 512

enum pend_kind { PK_GET, PK_IGNORE, PK_SELECT };

struct pend {
	cache_cb cb;
	void *arg;
	uint8_t kind;
};

struct redis {
	const struct redis_addr *addr;
	struct zg_reactor *r;
	struct zg_conn *c;       /* NULL: no connection                   */
	bool up;                 /* on_open ran (and SELECT was written)  */
	bool ok;                 /* this connection answered (or needs no
	                          * SELECT): a break, not a failed attempt */
	bool lost;               /* broke; "back" to be said              */
	uint64_t broke_ms;       /* the last break                        */
	uint64_t said_ms;        /* the last message (one a second)       */
	unsigned unsaid;         /* messages left out since               */
	bool freeing;
	unsigned ttl_ms;
	unsigned next_addr;      /* which of addr->ss the next attempt uses */
	unsigned fails;          /* attempts failed in a row              */
	uint64_t next_try_ms;    /* no attempt before this                */
	uint64_t progress_ms;    /* last reply, or the queue's first entry */
	struct zg_timer *timer;
	struct pend *q;          /* ring of qcap (a power of 2)           */
	size_t qcap, qhead, qlen;
	char buf[CACHE_VALUE_MAX]; /* a GET's value, gathered from segments */
};

/* A line on stderr, at most one a second per reactor (a Redis that
 * keeps dropping us must not flood the log). */
static void say(struct redis *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct redis *rd, const char *fmt, ...)
{
	uint64_t now = zg_reactor_now_ms(rd->r);
	char msg[512];
	va_list ap;

	if (rd->said_ms && now - rd->said_ms < 1000) {
		rd->unsaid++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rd->unsaid)
		fprintf(stderr, "httparena-server: redis %s: %s (%u messages left out)\n",
			rd->addr->name, msg, rd->unsaid);
	else
		fprintf(stderr, "httparena-server: redis %s: %s\n", rd->addr->name, msg);
	rd->said_ms = now;
	rd->unsaid = 0;
}

static void seterr(char *err, size_t len, const char *fmt, const char *a, const char *b)
{
	if (err && len)
		snprintf(err, len, fmt, a, b);
}

/* ------------------------------------------------------------------ */
/* URL                                                                 */
/* ------------------------------------------------------------------ */

static int parse_unix(const char *url, const char *path, struct redis_addr *a, char *err,
		      size_t errlen)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&a->ss[0];
	size_t n = strlen(path);

	if (path[0] != '/' || n >= sizeof(un->sun_path)) {
		seterr(err, errlen, "redis URL \"%s\": %s", url,
		       path[0] != '/' ? "unix: needs an absolute path (unix:/path)"
				      : "the socket path is too long");
		return -EINVAL;
	}
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, n + 1);
	a->len[0] = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	a->n = 1;
	snprintf(a->name, sizeof(a->name), "%s", path);
	return 0;
}

/* digits only, at most max; false otherwise. */
static bool parse_num(const char *s, size_t n, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static int resolve(const char *url, const char *host, const char *port,
		   struct redis_addr *a, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	int rc = getaddrinfo(host, port, &hints, &res);

	if (rc) {
		seterr(err, errlen, "redis URL \"%s\": cannot resolve the host: %s", url,
		       gai_strerror(rc));
		return -EINVAL;
	}
	a->n = 0;
	for (ai = res; ai && a->n < 4; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(a->ss[0]))
			continue;
		memcpy(&a->ss[a->n], ai->ai_addr, ai->ai_addrlen);
		a->len[a->n++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	if (!a->n) {
		seterr(err, errlen, "redis URL \"%s\": %s", url, "the host has no address");
		return -EINVAL;
	}
	snprintf(a->name, sizeof(a->name), "%s:%s", host, port);
	return 0;
}

int redis_url_parse(const char *url, struct redis_addr *a, char *err, size_t errlen)
{
	static const char scheme[] = "redis://";
	char host[256], port[8] = "6379";
	const char *p, *end, *hs, *he, *slash;
	unsigned long v;

	*a = (struct redis_addr){ 0 };
	if (!strncmp(url, "unix:", 5))
		return parse_unix(url, url + 5, a, err, errlen);
	if (!strncmp(url, "rediss://", 9)) {
		seterr(err, errlen, "redis URL \"%s\": %s", url, "TLS (rediss://) is not supported");
		return -EINVAL;
	}
	if (strncmp(url, scheme, sizeof(scheme) - 1)) {
		seterr(err, errlen, "redis URL \"%s\": %s", url,
		       "expected redis://host[:port][/db] or unix:/path");
		return -EINVAL;
	}
	p = url + sizeof(scheme) - 1;
	end = p + strlen(p);
	slash = strchr(p, '/');
	he = slash ? slash : end;
	if (memchr(p, '@', (size_t)(he - p)) || strpbrk(p, "?#")) {
		seterr(err, errlen, "redis URL \"%s\": %s", url,
		       "user, password and options are not supported");
		return -EINVAL;
	}
	/* host: a name, an IPv4 address or [an IPv6 one]; then :port */
	hs = p;
	const char *colon;
	if (*hs == '[') {
		const char *rb = memchr(hs, ']', (size_t)(he - hs));
		if (!rb) {
			seterr(err, errlen, "redis URL \"%s\": %s", url, "unclosed [ in the host");
			return -EINVAL;
		}
		hs++;
		colon = rb + 1 < he && rb[1] == ':' ? rb + 1 : NULL;
		if (rb + 1 < he && !colon) {
			seterr(err, errlen, "redis URL \"%s\": %s", url, "junk after ]");
			return -EINVAL;
		}
		he = rb;
	} else {
		colon = memchr(hs, ':', (size_t)(he - hs));
	}
	const char *port_end = slash ? slash : end;
	if (colon) {
		if (!parse_num(colon + 1, (size_t)(port_end - colon - 1), 65535, &v) || v == 0) {
			seterr(err, errlen, "redis URL \"%s\": %s", url,
			       "the port must be a number from 1 to 65535");
			return -EINVAL;
		}
		snprintf(port, sizeof(port), "%lu", v);
		if (*hs != '[' && he > colon)
			he = colon;
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(host)) {
		seterr(err, errlen, "redis URL \"%s\": %s", url,
		       he == hs ? "no host" : "the host is too long");
		return -EINVAL;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = 0;
	if (slash && slash[1]) {
		if (!parse_num(slash + 1, strlen(slash + 1), INT_MAX, &v)) {
			seterr(err, errlen, "redis URL \"%s\": %s", url,
			       "the database (after /) must be a number");
			return -EINVAL;
		}
		a->db = (unsigned)v;
	}
	return resolve(url, host, port, a, err, errlen);
}

/* ------------------------------------------------------------------ */
/* The FIFO of replies due                                             */
/* ------------------------------------------------------------------ */

static bool q_push(struct redis *rd, uint8_t kind, cache_cb cb, void *arg)
{
	if (rd->qlen == rd->qcap) {
		size_t ncap = rd->qcap ? rd->qcap * 2 : 64;
		if (ncap > REDIS_MAX_PENDING)
			return false;
		struct pend *nq = malloc(ncap * sizeof(*nq));
		if (!nq)
			return false;
		for (size_t i = 0; i < rd->qlen; i++)
			nq[i] = rd->q[(rd->qhead + i) & (rd->qcap - 1)];
		free(rd->q);
		rd->q = nq;
		rd->qcap = ncap;
		rd->qhead = 0;
	}
	if (rd->qlen == 0)
		rd->progress_ms = zg_reactor_now_ms(rd->r);
	rd->q[(rd->qhead + rd->qlen++) & (rd->qcap - 1)] = (struct pend){ cb, arg, kind };
	return true;
}

static struct pend q_pop(struct redis *rd)
{
	struct pend p = rd->q[rd->qhead];
	rd->qhead = (rd->qhead + 1) & (rd->qcap - 1);
	rd->qlen--;
	return p;
}

/* Every get in flight completes as a miss (a callback may queue more:
 * they fail at once, the connection being gone). */
static void q_fail_all(struct redis *rd)
{
	while (rd->qlen) {
		struct pend p = q_pop(rd);
		if (p.kind == PK_GET)
			p.cb(p.arg, false, NULL, 0);
	}
}

/* ------------------------------------------------------------------ */
/* Connection                                                          */
/* ------------------------------------------------------------------ */

static void rd_open(struct zg_conn *c);
static void rd_data(struct zg_conn *c);
static void rd_close(struct zg_conn *c, int reason);

static const struct zg_handler redis_handler = {
	.on_open = rd_open, .on_data = rd_data, .on_close = rd_close,
};

static uint64_t backoff_ms(unsigned fails)
{
	uint64_t ms = REDIS_BACKOFF_MS;
	for (unsigned i = 1; i < fails && ms < REDIS_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < REDIS_BACKOFF_MAX_MS ? ms : REDIS_BACKOFF_MAX_MS;
}

/* An attempt failed (at once or later): when to try again. Past the
 * bound on attempts the timer is left off: only a cache call (poke)
 * dials again, at most once per REDIS_BACKOFF_MAX_MS. */
static void attempt_failed(struct redis *rd, int reason)
{
	uint64_t now = zg_reactor_now_ms(rd->r);
	if (rd->fails++ == 0)
		say(rd, "%s; cache misses until it is back",
		    reason ? zg_strerror(reason) : "closed");
	rd->next_try_ms = now + backoff_ms(rd->fails);
	if (rd->fails < REDIS_MAX_ATTEMPTS)
		zg_timer_start(rd->timer, rd->next_try_ms - now, 0);
}

/* Commands are answered again. */
static void back(struct redis *rd)
{
	if (rd->fails || rd->lost)
		say(rd, "back");
	rd->fails = 0;
	rd->lost = false;
	rd->ok = true;
}

static void try_connect(struct redis *rd)
{
	struct zg_connect_opts o;
	unsigned i;
	int rc;

	if (rd->c || rd->freeing)
		return;
	i = rd->next_addr++ % rd->addr->n;
	zg_connect_opts_init(&o);
	o.handler = &redis_handler;
	o.udata = rd;
	o.timeout_ms = REDIS_CONNECT_TIMEOUT_MS;
	rc = zg_reactor_connect(rd->r, (const struct sockaddr *)&rd->addr->ss[i],
				rd->addr->len[i], &o, &rd->c);
	if (rc == -ESHUTDOWN)
		return; /* the reactor is stopping */
	if (rc) {
		rd->c = NULL;
		attempt_failed(rd, rc);
	}
}

/* A cache call while there is no connection: dial if it is time (from
 * the timer: never inside the caller's stack). */
static void poke(struct redis *rd)
{
	if (rd->c || rd->freeing || zg_timer_active(rd->timer))
		return;
	if (zg_reactor_now_ms(rd->r) >= rd->next_try_ms)
		zg_timer_start(rd->timer, 0, 0);
}

/* The one timer: reconnect when there is no connection, else the reply
 * watchdog. */
static void tick(struct zg_timer *t, void *arg)
{
	struct redis *rd = arg;
	uint64_t now = zg_reactor_now_ms(rd->r);

	if (!rd->c) {
		try_connect(rd);
		return;
	}
	if (!rd->up || !rd->qlen)
		return;
	if (now - rd->progress_ms >= REDIS_REPLY_TIMEOUT_MS) {
		say(rd, "no reply for %u ms", REDIS_REPLY_TIMEOUT_MS);
		zg_conn_close(rd->c, ZG_CLOSE_ABORT); /* rd_close fails the queue */
		return;
	}
	zg_timer_start(t, REDIS_REPLY_TIMEOUT_MS - (now - rd->progress_ms), 0);
}

/* Watch for replies that do not come, while some are due. */
static void watch(struct redis *rd)
{
	if (!zg_timer_active(rd->timer))
		zg_timer_start(rd->timer, REDIS_REPLY_TIMEOUT_MS, 0);
}

static int write_select(struct redis *rd)
{
	char cmd[64], *p = cmd, num[16];
	size_t n = (size_t)(http_fmt_u64(num, rd->addr->db) - num);

	p += snprintf(p, sizeof(cmd), "*2\r\n$6\r\nSELECT\r\n$%zu\r\n", n);
	memcpy(p, num, n);
	p += n;
	*p++ = '\r';
	*p++ = '\n';
	if (zg_conn_write(rd->c, cmd, (size_t)(p - cmd)) || !q_push(rd, PK_SELECT, NULL, NULL))
		return -1;
	watch(rd);
	return 0;
}

static void rd_open(struct zg_conn *c)
{
	struct redis *rd = zg_conn_udata(c);

	/* Quiet hours are normal: the HTTP layer's idle timeout is not
	 * for this connection; the reply watchdog is. */
	zg_conn_set_timeout(c, 0);
	rd->up = true;
	/* Commands may follow SELECT at once: Redis runs them in order. */
	if (rd->addr->db && write_select(rd)) {
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return;
	}
	if (!rd->addr->db)
		back(rd);
}

static void rd_close(struct zg_conn *c, int reason)
{
	struct redis *rd = zg_conn_udata(c);
	uint64_t now;
	bool was_ok;

	if (!rd)
		return; /* redis_free let it go */
	was_ok = rd->ok;
	rd->c = NULL;
	rd->up = rd->ok = false;
	q_fail_all(rd);
	if (reason == -ESHUTDOWN || rd->freeing)
		return;
	now = zg_reactor_now_ms(rd->r);
	if (was_ok && now - rd->broke_ms >= REDIS_BACKOFF_MAX_MS) {
		/* A break: the first attempt right away (but a Redis that
		 * keeps dropping us gets the backoff). */
		rd->broke_ms = now;
		say(rd, "connection lost (%s)", reason ? zg_strerror(reason) : "closed");
		rd->lost = true;
		rd->next_try_ms = 0;
		zg_timer_start(rd->timer, 0, 0);
	} else {
		attempt_failed(rd, reason);
	}
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */
/* ------------------------------------------------------------------ */

/* Copy n bytes from offset off of the input view into dst. */
static void view_copy(const struct zg_read_view *v, size_t off, char *dst, size_t n)
{
	for (unsigned i = 0; i < v->nsegs && n; i++) {
		size_t len = v->segs[i].iov_len;
		if (off >= len) {
			off -= len;
			continue;
		}
		size_t k = len - off < n ? len - off : n;
		memcpy(dst, (const char *)v->segs[i].iov_base + off, k);
		dst += k;
		n -= k;
		off = 0;
	}
}

/* The first line of the input into line[] (NUL-terminated, without
 * CRLF): its length with CRLF; 0 while incomplete; -1 when too long or
 * not ended by CRLF. */
static long first_line(const struct zg_read_view *v, char line[REDIS_LINE_MAX])
{
	size_t k = 0;
	for (unsigned i = 0; i < v->nsegs; i++) {
		const char *s = v->segs[i].iov_base;
		for (size_t j = 0; j < v->segs[i].iov_len; j++) {
			if (k == REDIS_LINE_MAX - 1)
				return -1;
			line[k++] = s[j];
			if (s[j] == '\n') {
				if (k < 3 || line[k - 2] != '\r')
					return -1;
				line[k - 2] = 0;
				return (long)k;
			}
		}
	}
	return 0;
}

/* A signed decimal (Redis's lengths and integers). */
static bool line_num(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

/* One reply for p: deliver it. A value is found only for a bulk string
 * of at most CACHE_VALUE_MAX bytes. */
static void deliver(struct redis *rd, struct pend p, bool found, size_t n)
{
	if (p.kind == PK_GET)
		p.cb(p.arg, found, found ? rd->buf : NULL, found ? n : 0);
}

/* Parse one reply from the input: 1 consumed (and delivered), 0 wait for
 * more, -1 a broken stream, -2 SELECT refused (said already); the caller
 * aborts the connection for both. */
static int one_reply(struct redis *rd, struct zg_conn *c)
{
	struct zg_read_view v;
	char line[REDIS_LINE_MAX];
	long long num;
	long hl;

	zg_conn_read(c, &v);
	if (!v.len)
		return 0;
	hl = first_line(&v, line);
	if (hl <= 0)
		return hl < 0 ? -1 : 0;
	if (!rd->qlen)
		return -1; /* a reply to nothing */
	switch (line[0]) {
	case '+':
	case '-':
	case ':': {
		struct pend p = q_pop(rd);
		zg_conn_advance(c, (size_t)hl, (size_t)hl);
		if (p.kind == PK_SELECT && line[0] == '-') {
			say(rd, "SELECT %u: %s", rd->addr->db, line + 1);
			return -2;
		}
		if (p.kind == PK_SELECT)
			back(rd);
		deliver(rd, p, false, 0);
		return 1;
	}
	case '$': {
		if (!line_num(line + 1, &num) || num < -1 || num > REDIS_REPLY_MAX)
			return -1;
		if (num == -1) {
			struct pend p = q_pop(rd);
			zg_conn_advance(c, (size_t)hl, (size_t)hl);
			deliver(rd, p, false, 0);
			return 1;
		}
		size_t n = (size_t)num, total = (size_t)hl + n + 2;
		char crlf[2];
		if (v.len < total) {
			zg_conn_advance(c, 0, v.len);
			return 0;
		}
		view_copy(&v, (size_t)hl + n, crlf, 2);
		if (crlf[0] != '\r' || crlf[1] != '\n')
			return -1;
		bool keep = n <= CACHE_VALUE_MAX;
		if (keep)
			view_copy(&v, (size_t)hl, rd->buf, n);
		struct pend p = q_pop(rd);
		zg_conn_advance(c, total, total);
		deliver(rd, p, keep, n);
		return 1;
	}
	default:
		return -1; /* arrays and the rest: not a reply to our commands */
	}
}

static void rd_data(struct zg_conn *c)
{
	struct redis *rd = zg_conn_udata(c);
	int rc;

	while ((rc = one_reply(rd, c)) > 0)
		rd->progress_ms = zg_reactor_now_ms(rd->r);
	if (rc < 0) {
		if (rc == -1)
			say(rd, "a malformed reply");
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return;
	}
	struct zg_read_view v;
	zg_conn_read(c, &v);
	if (v.eof)
		zg_conn_close(c, ZG_CLOSE_ABORT); /* Redis went away: rd_close */
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

/* "crud:<id>" as a bulk string: "$<len>\r\ncrud:<id>\r\n". */
static char *put_key(char *p, uint32_t id)
{
	char num[16];
	size_t n = (size_t)(http_fmt_u64(num, id) - num);
	*p++ = '$';
	p = http_fmt_u64(p, 5 + n);
	memcpy(p, "\r\ncrud:", 7);
	p += 7;
	memcpy(p, num, n);
	p += n;
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

#define LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) + sizeof(s) - 1)

/* A command may be written now: the connection is up and the FIFO has
 * room. Without a connection, a call may dial (poke). */
static bool can_send(struct redis *rd)
{
	if (rd->c && rd->up && rd->qlen < REDIS_MAX_PENDING)
		return true;
	if (!rd->c)
		poke(rd);
	return false;
}

/* Queue the command formatted at base..end and what its reply is for;
 * false (nothing sent) when the FIFO cannot grow. */
static bool commit(struct redis *rd, char *base, char *end, uint8_t kind, cache_cb cb,
		   void *arg)
{
	if (!q_push(rd, kind, cb, arg)) {
		zg_conn_commit(rd->c, 0);
		return false;
	}
	zg_conn_commit(rd->c, (size_t)(end - base));
	watch(rd);
	return true;
}

int redis_get(struct redis *rd, uint32_t id, cache_cb cb, void *arg)
{
	char *base, *p;

	if (!can_send(rd) || !(base = zg_conn_reserve(rd->c, 64)))
		return -1;
	p = LIT(base, "*2\r\n$3\r\nGET\r\n");
	p = put_key(p, id);
	return commit(rd, base, p, PK_GET, cb, arg) ? 0 : -1;
}

void redis_set(struct redis *rd, uint32_t id, const void *val, size_t n)
{
	char *base, *p;

	if (n > CACHE_VALUE_MAX) {
		redis_del(rd, id); /* not kept: an older copy must go */
		return;
	}
	if (!can_send(rd) || !(base = zg_conn_reserve(rd->c, 128 + n)))
		return;
	p = LIT(base, "*5\r\n$3\r\nSET\r\n");
	p = put_key(p, id);
	*p++ = '$';
	p = http_fmt_u64(p, n);
	p = LIT(p, "\r\n");
	if (n)
		memcpy(p, val, n);
	p += n;
	p = LIT(p, "\r\n$2\r\nPX\r\n$");
	char ttl[16];
	size_t tn = (size_t)(http_fmt_u64(ttl, rd->ttl_ms ? rd->ttl_ms : 1) - ttl);
	p = http_fmt_u64(p, tn);
	p = LIT(p, "\r\n");
	memcpy(p, ttl, tn);
	p += tn;
	p = LIT(p, "\r\n");
	commit(rd, base, p, PK_IGNORE, NULL, NULL);
}

void redis_del(struct redis *rd, uint32_t id)
{
	char *base, *p;

	if (!can_send(rd) || !(base = zg_conn_reserve(rd->c, 64)))
		return;
	p = LIT(base, "*2\r\n$3\r\nDEL\r\n");
	p = put_key(p, id);
	commit(rd, base, p, PK_IGNORE, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Life                                                                */
/* ------------------------------------------------------------------ */

struct redis *redis_new(const struct redis_addr *a, struct zg_reactor *r, unsigned ttl_ms)
{
	struct redis *rd = calloc(1, sizeof(*rd));
	if (!rd)
		return NULL;
	rd->addr = a;
	rd->r = r;
	rd->ttl_ms = ttl_ms;
	if (zg_timer_new(r, tick, rd, &rd->timer)) {
		free(rd);
		return NULL;
	}
	try_connect(rd);
	return rd;
}

void redis_free(struct redis *rd)
{
	if (!rd)
		return;
	rd->freeing = true;
	if (rd->c) {
		/* Its on_close may come later: it must find nothing. */
		zg_conn_set_udata(rd->c, NULL);
		zg_conn_close(rd->c, ZG_CLOSE_ABORT);
		rd->c = NULL;
	}
	q_fail_all(rd);
	zg_timer_free(rd->timer);
	free(rd->q);
	free(rd);
}

bool redis_up(const struct redis *rd)
{
	return rd->c && rd->up;
}
