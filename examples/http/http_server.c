/* SPDX-License-Identifier: MIT */
/*
 * zerg_http: the HTTP/1.1 connection state machine on libzerg.
 *
 * A connection alternates between two phases. HTTP_PH_HEAD: the
 * unconsumed input starts with a request head; it is parsed in place
 * (or from a contiguous copy when it straddles ring buffers) and every
 * complete request in the input is answered in the same on_data, so a
 * pipelined batch becomes one send. HTTP_PH_BODY: body bytes are handed
 * on as they arrive, segment by segment, and consumed at once, so
 * uploads are never buffered (unless the handler asked for it).
 */
#include "http_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Its own allocation, not a part of the connection: it outlives it. */
struct http_ticket {
	struct http_conn *h; /* NULL once the connection closed */
};

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* Timeouts: a short one while a request is half-way in, the idle one
 * between requests. Only calls into the library on a change. */
static void set_slow(struct zg_conn *c, struct http_conn *h, bool slow)
{
	if (h->slow == slow)
		return;
	h->slow = slow;
	zg_conn_set_timeout(c, slow ? h->hr->cfg->request_timeout_ms
				    : h->hr->cfg->idle_timeout_ms);
}

/*
 * Hard deadlines (zg_conn_set_deadline: progress does not move them),
 * against peers that trickle bytes to hold connections (slowloris):
 * - a head must arrive whole within the request timeout;
 * - a body must keep a minimum rate: BODY_QUANTUM bytes per request
 *   timeout (6.4 KiB/s at the default 10 s). Each quantum received
 *   re-arms the deadline, so an upload of any size at any sane speed
 *   goes through, while one byte every 3 s is cut at the first expiry;
 *   a body smaller than a quantum must come whole within the timeout.
 * Both are armed only once the input runs out mid-way, so a request that
 * arrives whole costs no timer work.
 */
#define BODY_QUANTUM (64 * 1024)

static void set_deadline(struct zg_conn *c, struct http_conn *h, bool on)
{
	if (h->deadline == on)
		return;
	h->deadline = on;
	zg_conn_set_deadline(c, on ? h->hr->cfg->request_timeout_ms : 0);
}

static void body_deadline(struct zg_conn *c, struct http_conn *h)
{
	h->deadline = true;
	h->body_quota = 0;
	zg_conn_set_deadline(c, h->hr->cfg->request_timeout_ms);
}

static void body_progress(struct zg_conn *c, struct http_conn *h, size_t n)
{
	h->body_quota += n;
	if (h->body_quota >= BODY_QUANTUM)
		body_deadline(c, h);
}

static void next_request(struct http_conn *h)
{
	h->phase = HTTP_PH_HEAD;
	h->allow = NULL;
	h->vary = NULL;
	http_request_init(&h->req);
}

/*
 * Output back-pressure, for clients that pipeline requests faster than
 * they read the answers, or never read them:
 * - per connection: once more than output_mark (1 MiB or the largest
 *   response) is queued, its requests are not parsed and it is not read
 *   until libzerg calls on_drain (its queue has emptied). A queue is
 *   thus at most twice that (max_output).
 * - per loop pass: at most PASS_BUDGET of new output (nothing is sent
 *   before the pass ends); connections past it wait for the next pass
 *   (see on_data).
 * - per reactor: all queued output, at most output_budget. Past it, the
 *   connections whose output is stuck (queued before this pass: their
 *   peers are not taking it) are shed, aborted, which frees their queues
 *   at once. Output just queued for a client is never a reason to shed
 *   it, so a client that reads its answers is never shed.
 * So memory stays flat however many clients do this, and the others go
 * on being served.
 *
 * Counted lazily: each connection records its queue when its turn ends
 * (the holders list); queues shrink as the kernel takes them without
 * telling us, so the sum is an upper bound, and the list is read again
 * (zg_conn_pending) before anyone is shed.
 */
#define PASS_BUDGET (16u << 20)

/* The reactor's clock is cached per loop iteration: it tells passes
 * apart. */
static uint64_t pass_now(struct zg_conn *c)
{
	return zg_reactor_now_ms(zg_conn_reactor(c));
}

/* New output of this loop pass. */
static size_t *pass_output(struct http_reactor *hr, struct zg_conn *c)
{
	uint64_t now = pass_now(c);
	if (hr->pass_ms != now) {
		hr->pass_ms = now;
		hr->pass_out = 0;
	}
	return &hr->pass_out;
}

static void held_set(struct http_conn *h, size_t n)
{
	struct http_reactor *hr = h->hr;
	if (n && !h->held) {
		h->held_next = hr->holders;
		h->held_prev = &hr->holders;
		if (hr->holders)
			hr->holders->held_prev = &h->held_next;
		hr->holders = h;
	} else if (!n && h->held) {
		*h->held_prev = h->held_next;
		if (h->held_next)
			h->held_next->held_prev = h->held_prev;
	}
	hr->held = hr->held - h->held + n;
	h->held = n;
}

/* The part of a holder's queue from before this pass. */
static size_t stuck(const struct http_conn *h, uint64_t now)
{
	if (h->turn_ms != now)
		return h->held;
	return h->carried < h->held ? h->carried : h->held;
}

static void shed(struct http_conn *h)
{
	held_set(h, 0);
	zg_conn_close(h->c, ZG_CLOSE_ABORT); /* may free h */
}

/* Over the budget: read every holder's queue again, then shed stuck
 * ones (cur, whose turn this is, last) until under. Returns true if cur
 * was shed. */
static bool reclaim(struct http_reactor *hr, struct http_conn *cur, uint64_t now)
{
	size_t budget = hr->cfg->output_budget;
	struct http_conn *h, *next;

	for (h = hr->holders; h; h = next) {
		next = h->held_next;
		held_set(h, zg_conn_pending(h->c));
	}
	for (h = hr->holders; h && hr->held > budget; h = next) {
		next = h->held_next;
		if (h != cur && stuck(h, now))
			shed(h);
	}
	if (hr->held > budget && stuck(cur, now)) {
		shed(cur);
		return true;
	}
	return false;
}

static int block(struct zg_conn *c, struct http_conn *h)
{
	struct zg_read_view v;

	h->blocked = true;
	zg_conn_pause_read(c);
	/* Look at nothing more until on_drain: input left unexamined would
	 * have on_data called again at once. */
	zg_conn_read(c, &v);
	zg_conn_advance(c, 0, v.len);
	return 0;
}

static void unblock(struct http_conn *h)
{
	held_set(h, 0);
	h->blocked = false;
}

/* After a response: close when asked to, block on a backlog. Returns 1
 * to go on with the next request, 0 to leave on_data. */
static int after_response(struct zg_conn *c, struct http_conn *h)
{
	if (h->close) {
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		return 0;
	}
	next_request(h);
	size_t pending = zg_conn_pending(c);
	*pass_output(h->hr, c) += pending - h->queued;
	h->queued = pending;
	if (pending > h->hr->cfg->output_mark)
		return block(c, h);
	return 1;
}

/* http_upgrade was called: no more HTTP here. What followed the head
 * is the taker's at once. Returns 0: serve() stops. */
static int taken_over(struct zg_conn *c, struct http_conn *h)
{
	set_deadline(c, h, false);
	set_slow(c, h, false);
	held_set(h, 0);
	h->take_data(h, h->take_arg);
	return 0;
}

void http_upgrade(struct http_conn *h, void (*take_data)(struct http_conn *c, void *arg),
		  void *arg)
{
	h->take_data = take_data;
	h->take_arg = arg;
	h->close = false;
}

/* Refuse the request: the error response, then close. */
static int reject(struct zg_conn *c, struct http_conn *h, unsigned status)
{
	if (http__reject_status(h, status) == 0)
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
	else
		zg_conn_close(c, ZG_CLOSE_ABORT);
	return 0;
}

/* The ticket no longer points at h, nor h at it. */
static void ticket_detach(struct http_conn *h)
{
	if (h->ticket) {
		h->ticket->h = NULL;
		h->ticket = NULL;
	}
}

/* The request is complete: its response (the layer's own for OPTIONS *),
 * then the request buffer goes. 0; HTTP_LATER when the handler took a
 * ticket (the buffer stays until it is done); or -1 once the connection
 * had to be aborted. */
static int complete(struct zg_conn *c, struct http_conn *h)
{
	int rc;

	if (h->builtin) {
		rc = http__respond_empty(h);
	} else {
		h->completing = true;
		rc = h->hr->cfg->handler->on_complete(h);
		h->completing = false;
	}
	if (h->ticket && rc != -1 && !h->failed)
		return HTTP_LATER;
	ticket_detach(h); /* aborted: the ticket's holder sees NULL */
	if (rc == HTTP_LATER)
		rc = 0; /* no ticket out (or done already): answered now */
	if (rc == 0 && !h->failed && !h->responded)
		rc = http_respond_status(h, 500);
	if (h->buf.p)
		http__buf_free(h); /* an idle connection holds nothing */
	if (rc || h->failed) {
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return -1;
	}
	return 0;
}

/*
 * A ticket is out: the head (and body) are consumed; what follows is
 * left unexamined-looking to libzerg but not parsed (on_data marks it
 * examined and returns) until http_ticket_done. Reading goes on, rather
 * than pausing it: a pause cancels the multishot receive and a resume
 * re-arms it, two submissions per deferred request; libzerg's own
 * max_input bounds what a client can pile up meanwhile, and a reset is
 * seen at once. The request timeout (an idle timeout: no progress in
 * either direction) runs while the ticket is out. Returns 0.
 */
static int wait_ticket(struct zg_conn *c, struct http_conn *h)
{
	struct zg_read_view v;

	set_slow(c, h, true);
	zg_conn_read(c, &v);
	zg_conn_advance(c, 0, v.len);
	return 0;
}

/* The head is complete at buf[0..len): the target's path and query for
 * the handler. */
static void split_target(struct http_req *r, const struct http_request *rq,
			 const uint8_t *buf)
{
	const uint8_t *t = buf + rq->path, *end = t + rq->path_len;
	const uint8_t *q = memchr(t, '?', (size_t)(end - t));
	const uint8_t *path_end = q ? q : end;

	r->rq = rq;
	r->buf = buf;
	r->path = t;
	r->path_len = (size_t)(path_end - t);
	if (r->path_len == 0) { /* absolute-form with no path: "/" */
		r->path = (const uint8_t *)"/";
		r->path_len = 1;
	}
	r->query = q ? q + 1 : NULL;
	r->query_len = q ? (size_t)(end - q - 1) : 0;
}

/* The head is complete at buf[0..len): route it, then either answer it
 * at once or go read its body. */
/* eof: the client has finished sending (no body can follow: no 100) */
static int start_request(struct zg_conn *c, struct http_conn *h, const uint8_t *buf,
			 size_t len, size_t avail, bool eof)
{
	const struct http_request *rq = &h->req;
	const struct http_config *cfg = h->hr->cfg;

	h->method = rq->method;
	h->head_only = rq->method == HTTP_M_HEAD;
	h->close = (rq->flags & HTTP_F_CLOSE) != 0;
	h->keep_alive = !h->close && rq->minor == 0;
	h->body_len = 0;
	h->responded = false;
	h->builtin = false;
	/* CONNECT asks for a tunnel, which this server never opens; what the
	 * client sends next would be tunnel bytes, not HTTP: answer, close. */
	if (rq->method == HTTP_M_CONNECT) {
		h->allow = cfg->allow;
		return reject(c, h, 405);
	}
	if (rq->form == HTTP_FORM_ASTERISK) {
		/* OPTIONS *: the server's methods, no content. */
		h->builtin = true;
		h->allow = cfg->allow;
		h->mode = HTTP_BODY_DISCARD;
	} else {
		struct http_req r;
		split_target(&r, rq, buf);
		int mode = cfg->handler->on_request(h, &r);
		if (mode > HTTP_BODY_DISCARD || mode < 0)
			return reject(c, h, mode >= 400 && mode <= 599 ? (unsigned)mode : 500);
		if (mode == HTTP_BODY_BUFFER && rq->content_length > cfg->body_max)
			return reject(c, h, 413);
		h->mode = (uint8_t)mode;
	}
	if (rq->flags & HTTP_F_CHUNKED) {
		h->chunked = true;
		http_chunked_init(&h->chunk);
	} else if (rq->content_length) {
		h->chunked = false;
		h->body_left = rq->content_length;
	} else {
		int rc = complete(c, h);
		if (rc < 0)
			return 0;
		zg_conn_advance(c, len, len);
		if (rc == HTTP_LATER)
			return wait_ticket(c, h);
		if (h->take_data)
			return taken_over(c, h);
		return after_response(c, h);
	}
	h->phase = HTTP_PH_BODY;
	zg_conn_advance(c, len, len);
	/* RFC 9110 10.1.1: a client that sent the body already needs no
	 * 100; one that waits for it (curl) gets it before we read. */
	if ((rq->flags & HTTP_F_EXPECT) && avail == len && !eof &&
	    zg_conn_write(c, continue_100, sizeof(continue_100) - 1)) {
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return 0;
	}
	return 1;
}

static int on_head(struct zg_conn *c, struct http_conn *h, const struct zg_read_view *v)
{
	const uint8_t *p = v->segs[0].iov_base;
	size_t n = v->segs[0].iov_len;
	int hl;

	if (v->len == 0) {
		if (v->eof)
			zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		else
			set_slow(c, h, false);
		return 0;
	}
	hl = http_parse(&h->req, p, n);
	if (hl == 0 && v->len > n) {
		/* The head straddles ring buffers: make it contiguous. The
		 * parser resumes where it was (it keeps offsets only). */
		n = v->len < HTTP_MAX_HEAD ? v->len : HTTP_MAX_HEAD;
		if (zg_conn_contig(c, n, &p)) {
			zg_conn_close(c, ZG_CLOSE_ABORT);
			return 0;
		}
		hl = http_parse(&h->req, p, n);
	}
	if (hl < 0)
		return reject(c, h, h->req.status);
	if (hl == 0) {
		if (v->eof) {
			zg_conn_close(c, ZG_CLOSE_GRACEFUL);
			return 0;
		}
		set_slow(c, h, true);
		set_deadline(c, h, true);
		zg_conn_advance(c, 0, v->len);
		return 0;
	}
	set_deadline(c, h, false);
	return start_request(c, h, p, (size_t)hl, v->len, v->eof);
}

/* n body bytes, as the request asked them taken: 0, or the status to
 * refuse the request with. */
static unsigned take_body(struct http_conn *h, const uint8_t *p, size_t n)
{
	h->body_len += n;
	switch (h->mode) {
	case HTTP_BODY_STREAM: {
		unsigned (*fn)(struct http_conn *, const uint8_t *, size_t) =
			h->hr->cfg->handler->on_body;
		unsigned refuse = fn && n ? fn(h, p, n) : 0;
		return refuse && (refuse < 400 || refuse > 599) ? 500 : refuse;
	}
	case HTTP_BODY_BUFFER:
		return http_buffer_put(h, p, n) ? 413 : 0;
	default:
		return 0;
	}
}

/* Feed one segment of chunked body; returns bytes used, or minus the
 * status to refuse the request with: 400 for bad framing, or the
 * handler's. *done is set at the end of the body. */
static long chunked_segment(struct http_conn *h, const uint8_t *p, size_t n, bool *done)
{
	size_t off = 0;
	while (off < n) {
		size_t used, doff = 0, dlen = 0;
		int rc = http_chunked_step(&h->chunk, p + off, n - off, &used, &doff, &dlen);
		unsigned refuse = 0;
		if (rc == HTTP_CHUNK_DATA)
			refuse = take_body(h, p + off + doff, dlen);
		if (refuse)
			return -(long)refuse;
		off += used;
		if (rc == HTTP_CHUNK_ERROR)
			return -400;
		if (rc == HTTP_CHUNK_DONE) {
			*done = true;
			break;
		}
	}
	return (long)off;
}

static int on_body(struct zg_conn *c, struct http_conn *h, const struct zg_read_view *v)
{
	size_t used = 0;
	bool done = false;

	for (unsigned i = 0; i < v->nsegs && !done; i++) {
		const uint8_t *p = v->segs[i].iov_base;
		size_t n = v->segs[i].iov_len;
		if (h->chunked) {
			long k = chunked_segment(h, p, n, &done);
			if (k < 0)
				return reject(c, h, (unsigned)-k);
			used += (size_t)k;
		} else {
			size_t take = n < h->body_left ? n : (size_t)h->body_left;
			unsigned refuse = take_body(h, p, take);
			if (refuse)
				return reject(c, h, refuse);
			h->body_left -= take;
			used += take;
			done = h->body_left == 0;
		}
	}
	if (!done) {
		zg_conn_advance(c, used, used);
		if (v->eof) {
			zg_conn_close(c, ZG_CLOSE_GRACEFUL);
			return 0;
		}
		set_slow(c, h, true);
		if (h->deadline)
			body_progress(c, h, used);
		else
			body_deadline(c, h);
		return 0;
	}
	set_deadline(c, h, false);
	int rc = complete(c, h);
	if (rc < 0)
		return 0;
	zg_conn_advance(c, used, used);
	if (rc == HTTP_LATER)
		return wait_ticket(c, h);
	return after_response(c, h);
}

/* A coarse clock (a few ns to read, a tick of 1-4 ms) is enough to
 * bound a turn of a few ms. */
static uint64_t coarse_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/*
 * One connection's turn on the reactor: requests are answered until the
 * input runs out, the connection blocks on its backlog, or the turn
 * ends: SLICE_MS have passed (checked between requests: 400 pipelined
 * slow requests must not stall every other connection), or this loop
 * pass has queued PASS_BUDGET. The rest of the input then waits for a
 * later pass; the answers so far go out meanwhile.
 *
 * Round robin across passes: a connection skipped because the pass is
 * spent (it got no turn) leaves its input unexamined, so libzerg calls
 * on_data again in its next iteration, in the order they were skipped.
 * One whose turn ended goes to the reactor's "later" queue, which a
 * zg_reactor_post() hands back to libzerg at the start of the next
 * iteration: behind the skipped ones. Otherwise the connections served
 * first would be served first again, pass after pass, and the others
 * (a fresh GET) would wait for them all to block. (A post, not a timer:
 * zg_timer_start() refreshes the cached clock that tells passes apart.)
 */
#define SLICE_MS 2

static bool turn_over(struct zg_conn *c, struct http_conn *h, uint64_t start)
{
	return *pass_output(h->hr, c) >= PASS_BUDGET || coarse_ms() - start >= SLICE_MS;
}

static void later_del(struct http_reactor *hr, struct http_conn *h)
{
	*h->later_prev = h->later_next;
	if (h->later_next)
		h->later_next->later_prev = h->later_prev;
	else
		hr->later_tail = h->later_prev;
	h->later = false;
}

static void wake_later(void *arg);

static void wait_later(struct zg_conn *c, struct http_conn *h)
{
	struct http_reactor *hr = h->hr;
	struct zg_read_view v;

	if (!hr->wake_posted) {
		if (zg_reactor_post(zg_conn_reactor(c), wake_later, hr)) {
			zg_conn_advance(c, 0, 0); /* stopping: libzerg's order will do */
			return;
		}
		hr->wake_posted = true;
	}
	/* libzerg need not call on_data for it: wake_later will. */
	zg_conn_read(c, &v);
	zg_conn_advance(c, 0, v.len);
	h->later = true;
	h->later_next = NULL;
	h->later_prev = hr->later_tail;
	*hr->later_tail = h;
	hr->later_tail = &h->later_next;
}

/* Each waiting connection's input is unexamined again, and resuming its
 * reading has libzerg queue it for on_data. */
static void wake_later(void *arg)
{
	struct http_reactor *hr = arg;
	hr->wake_posted = false;
	while (hr->later_head) {
		struct http_conn *h = hr->later_head;
		later_del(hr, h);
		zg_conn_advance(h->c, 0, 0);
		zg_conn_resume_read(h->c);
	}
}

static void serve(struct zg_conn *c, struct http_conn *h)
{
	struct zg_read_view v;
	uint64_t start = coarse_ms();

	for (unsigned turn = 0; !h->blocked; turn++) {
		zg_conn_read(c, &v);
		if (v.len && h->phase == HTTP_PH_HEAD && turn_over(c, h, start)) {
			if (turn)
				wait_later(c, h);
			else
				zg_conn_advance(c, 0, 0); /* skipped */
			return;
		}
		int more = h->phase == HTTP_PH_BODY ? on_body(c, h, &v) : on_head(c, h, &v);
		if (!more)
			return;
	}
}

static void on_data(struct zg_conn *c)
{
	struct http_conn *h = zg_conn_udata(c);
	struct http_reactor *hr = h->hr;
	uint64_t now = pass_now(c);

	if (h->take_data) { /* http_upgrade: not HTTP any more */
		h->take_data(h, h->take_arg);
		return;
	}
	if (h->blocked || h->later || h->ticket) {
		/* Bytes that were on their way came in, or new ones while it
		 * waits for its turn or for a response: they wait too. */
		struct zg_read_view v;
		zg_conn_read(c, &v);
		zg_conn_advance(c, 0, v.len);
		return;
	}
	/* What is still queued from before is stuck: don't add to it while
	 * the reactor is over its budget. */
	h->carried = h->queued = zg_conn_pending(c);
	h->turn_ms = now;
	held_set(h, h->queued);
	if (h->carried && hr->held > hr->cfg->output_budget && reclaim(hr, h, now))
		return;
	hr->turn = h;
	serve(c, h);
	if (hr->turn != h)
		return; /* closed and freed on the way */
	hr->turn = NULL;
	held_set(h, zg_conn_pending(c));
	if (hr->held > hr->cfg->output_budget)
		reclaim(hr, h, now);
}

/* The queue has emptied. Parsing resumes from the loop, not in here (a
 * send completion): the input, unexamined again, and resumed reading
 * have libzerg call on_data in its next iteration. */
static void on_drain(struct zg_conn *c)
{
	struct http_conn *h = zg_conn_udata(c);
	if (h && h->blocked) {
		unblock(h);
		zg_conn_advance(c, 0, 0);
		zg_conn_resume_read(c);
	}
}

static void on_open(struct zg_conn *c)
{
	struct http_reactor *hr = zg_reactor_udata(zg_conn_reactor(c));
	size_t size = hr->cfg->conn_size;
	struct http_conn *h = malloc(sizeof(*h) + size);
	if (!h) {
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return;
	}
	memset(h, 0, offsetof(struct http_conn, req));
	memset(h->data, 0, size);
	h->hr = hr;
	h->c = c;
	next_request(h);
	zg_conn_set_udata(c, h);
}

/* Resets land here like any close: no logging. */
static void on_close(struct zg_conn *c, int reason)
{
	struct http_conn *h = zg_conn_udata(c);
	(void)reason;
	if (h) {
		struct http_reactor *hr = h->hr;
		ticket_detach(h);
		if (hr->cfg->handler->on_close)
			hr->cfg->handler->on_close(h);
		unblock(h);
		if (h->later)
			later_del(hr, h);
		http__buf_free(h);
		if (hr->turn == h)
			hr->turn = NULL;
	}
	free(h);
	zg_conn_set_udata(c, NULL);
}

const struct zg_handler http_zg_handler = {
	.on_open = on_open,
	.on_data = on_data,
	.on_drain = on_drain,
	.on_close = on_close,
};

/* ------------------------------------------------------------------ */
/* Responses that come later                                           */
/* ------------------------------------------------------------------ */

struct http_ticket *http_ticket(struct http_conn *h)
{
	if (!h->completing || h->ticket)
		return NULL; /* only from on_complete, one per request */
	struct http_ticket *t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	t->h = h;
	h->ticket = t;
	zg_conn_set_busy(h->c, true); /* a graceful stop waits for the answer */
	return t;
}

struct http_conn *http_ticket_conn(const struct http_ticket *t)
{
	return t->h;
}

/* The pipelined input, unexamined again, and resumed reading have
 * libzerg call on_data in its next iteration (as on_drain does): never
 * parsed from in here, which may be deep in the application's stack (a
 * database callback). An end of stream with nothing left is the close
 * that on_data would have made. */
static void resume(struct zg_conn *c)
{
	struct zg_read_view v;

	zg_conn_read(c, &v);
	if (v.len == 0 && v.eof) {
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		return;
	}
	zg_conn_advance(c, 0, 0);
	zg_conn_resume_read(c);
}

void http_ticket_done(struct http_ticket *t)
{
	struct http_conn *h = t->h;

	free(t);
	if (!h)
		return;
	h->ticket = NULL;
	zg_conn_set_busy(h->c, false); /* what was written keeps it busy */
	if (h->completing)
		return; /* done within on_complete: complete() answers as usual */
	struct zg_conn *c = h->c;
	/* A turn of its own, for the output accounting (see on_data) */
	h->carried = h->queued = zg_conn_pending(c);
	h->turn_ms = pass_now(c);
	if (!h->failed && !h->responded)
		http_respond_status(h, 500);
	if (h->buf.p)
		http__buf_free(h);
	if (h->failed) {
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return;
	}
	set_slow(c, h, false);
	held_set(h, zg_conn_pending(c));
	if (after_response(c, h))
		resume(c);
}

/* ------------------------------------------------------------------ */
/* Per-reactor state, configuration                                    */
/* ------------------------------------------------------------------ */

static void tick(struct zg_timer *t, void *arg)
{
	struct http_reactor *hr = arg;
	(void)t;
	http_format_date(hr->date, time(NULL));
}

static void reactor_start(struct zg_reactor *r, void *udata)
{
	const struct http_config *cfg = udata;
	struct http_reactor *hr = calloc(1, sizeof(*hr));
	if (!hr)
		abort(); /* nothing sensible to serve without it */
	hr->cfg = cfg;
	http_format_date(hr->date, time(NULL));
	if (zg_timer_new(r, tick, hr, &hr->clock) == 0)
		zg_timer_start(hr->clock, 1000, 1000);
	hr->later_tail = &hr->later_head;
	if (cfg->handler->on_reactor_start)
		hr->worker = cfg->handler->on_reactor_start(r, cfg->udata);
	zg_reactor_set_udata(r, hr);
}

static void reactor_stop(struct zg_reactor *r, void *udata)
{
	struct http_reactor *hr = zg_reactor_udata(r);
	(void)udata;
	if (!hr)
		return;
	if (hr->cfg->handler->on_reactor_stop)
		hr->cfg->handler->on_reactor_stop(r, hr->worker);
	zg_timer_free(hr->clock);
	free(hr);
	zg_reactor_set_udata(r, NULL);
}

void http_config_init(struct http_config *hc)
{
	*hc = (struct http_config){
		.server = "zerg",
		.allow = "GET, HEAD, OPTIONS",
		.request_timeout_ms = 10000,
		.idle_timeout_ms = 60000,
		.body_max = 64 * 1024,
		.output_mark = 1u << 20,
		.output_budget = 32u << 20,
	};
}

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* A connection stops being answered once more than output_mark is
 * queued and resumes in on_drain, which libzerg calls only for a queue
 * that passed max_output / 2: so max_output is twice the mark. The mark
 * holds the largest response, which may be written on top of it. */
void http_server_config(struct http_config *hc, struct zg_server_config *zc)
{
	hc->output_mark = max_size(hc->output_mark, hc->largest_response + HTTP_HEAD_MAX);
	zc->reactor.max_output = 2 * hc->output_mark;
	hc->output_budget = max_size(hc->output_budget, 4 * zc->reactor.max_output);
	zc->reactor.idle_timeout_ms = hc->idle_timeout_ms;
	zc->on_reactor_start = reactor_start;
	zc->on_reactor_stop = reactor_stop;
}

int http_server_new(struct http_config *hc, struct zg_server_config *zc,
		    struct zg_server **out)
{
	http_server_config(hc, zc);
	return zg_server_new(zc, &http_zg_handler, hc, out);
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

void *http_conn_data(struct http_conn *c)
{
	return c->data;
}

void *http_worker(const struct http_conn *c)
{
	return c->hr->worker;
}

struct zg_conn *http_conn_zg(const struct http_conn *c)
{
	return c->c;
}

uint64_t http_body_length(const struct http_conn *c)
{
	return c->body_len;
}

void http_set_allow(struct http_conn *c, const char *allow)
{
	c->allow = allow;
}

void http_set_vary(struct http_conn *c, const char *vary)
{
	c->vary = vary;
}
