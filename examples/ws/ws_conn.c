/* SPDX-License-Identifier: MIT */
/* zerg_ws, the connection driver: the parser over a libzerg
 * connection's input. See ws.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zerg.h>

#include "ws.h"

/* A message for a callback that the view holds whole, up to this size,
 * is unmasked on the stack: no buffer for a connection of small ones. */
#define WS_SCRATCH 2048
/* The reassembly buffer is kept between messages up to this size. */
#define WS_KEEP    (64u << 10)
/* An echo from the reassembly buffer from this size goes by reference
 * (the buffer is handed over and freed once sent), not copied. */
#define WS_REF_MIN (64u << 10)

void ws_state_init(struct ws_state *s, uint64_t limit, ws_message_fn on_message, void *arg)
{
	memset(s, 0, sizeof(*s));
	ws_parser_init(&s->p, limit);
	s->on_message = on_message;
	s->arg = arg;
}

void ws_state_free(struct ws_state *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

int ws_send(struct zg_conn *c, unsigned opcode, const void *data, size_t len)
{
	/* One reservation, so a frame is queued whole or not at all (a
	 * large one gets a buffer of its own from the connection). */
	size_t h = ws_head_len(len);
	uint8_t *o = zg_conn_reserve(c, h + len);

	if (!o)
		return -ENOBUFS;
	ws_frame_head(o, opcode, len);
	if (len)
		memcpy(o + h, data, len);
	return zg_conn_commit(c, h + len);
}

void ws_close(struct zg_conn *c, struct ws_state *s, unsigned code)
{
	uint8_t b[4] = { 0x80 | WS_OP_CLOSE, 0, (uint8_t)(code >> 8), (uint8_t)code };

	if (s->closing)
		return;
	s->closing = true;
	if (code)
		b[1] = 2;
	/* A Close the queue refuses is lost; the TCP close still happens. */
	(void)zg_conn_write(c, b, code ? 4 : 2);
	zg_conn_close(c, ZG_CLOSE_GRACEFUL);
}

void ws_echo_message(struct zg_conn *c, struct ws_state *s, unsigned opcode, uint8_t *data,
		     size_t len, void *arg)
{
	(void)arg;
	if (ws_send(c, opcode, data, len))
		ws_close(c, s, WS_CLOSE_INTERNAL);
}

/* Room for need bytes in the reassembly buffer (need <= the limit). */
static int buf_room(struct ws_state *s, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (need <= s->cap)
		return 0;
	cap = s->cap ? s->cap : 4096;
	while (cap < need)
		cap *= 2;
	if (cap > s->p.limit && need <= s->p.limit)
		cap = (size_t)s->p.limit;
	p = realloc(s->buf, cap);
	if (!p)
		return -1;
	s->buf = p;
	s->cap = cap;
	return 0;
}

/* Output refused (past max_output, or out of memory): Close with 1011
 * and the graceful close, as for any failure (never an abort, whose
 * on_close inside would free s under us); queued output still goes. */
static int refuse(struct zg_conn *c, struct ws_state *s)
{
	ws_close(c, s, WS_CLOSE_INTERNAL);
	return 1;
}

/* Echo a message held in the reassembly buffer: 0, -1 when nothing was
 * queued, -2 when the header was and its payload was refused. */
static int echo_buffered(struct zg_conn *c, struct ws_state *s, unsigned opcode)
{
	uint8_t head[WS_MAX_HEAD];
	size_t len = s->len;

	if (len < WS_REF_MIN)
		return ws_send(c, opcode, s->buf, len) ? -1 : 0;
	if (zg_conn_write(c, head, ws_frame_head(head, opcode, len)))
		return -1;
	if (zg_conn_write_ref(c, s->buf, len, free, s->buf))
		return -2;
	s->buf = NULL; /* the connection frees it once sent */
	s->cap = 0;
	return 0;
}

enum { TO_BUF, TO_OUT, TO_SCRATCH };

int ws_on_data(struct zg_conn *c, struct ws_state *s)
{
	struct zg_read_view v;
	uint8_t scratch[WS_SCRATCH];
	/* Where the current frame's payload goes: the reassembly buffer,
	 * or (for a whole single-frame message in the view) straight into
	 * an output reservation after its header (echo) or the stack. */
	unsigned mode = TO_BUF;
	uint8_t *dst = NULL, *out = NULL;
	size_t out_len = 0, base = 0;

	if (s->closing)
		return 1;
	zg_conn_read(c, &v);
	for (unsigned i = 0; i < v.nsegs; base += v.segs[i].iov_len, i++) {
		const uint8_t *b = v.segs[i].iov_base;
		size_t n = v.segs[i].iov_len, pos = 0;

		for (bool more = true; more;) {
			struct ws_event ev;
			size_t used;
			int t = ws_parse(&s->p, b + pos, n - pos, &used, &ev);

			pos += used;
			switch (t) {
			case WS_EV_MORE:
				more = false;
				break;
			case WS_EV_FRAME:
				mode = TO_BUF;
				if (!ev.first || !ev.fin || ev.len > v.len - (base + pos))
					break;
				if (!s->on_message) {
					size_t h = ws_head_len(ev.len);
					out_len = h + (size_t)ev.len;
					out = zg_conn_reserve(c, out_len);
					if (!out)
						return refuse(c, s);
					ws_frame_head(out, ev.opcode, ev.len);
					dst = out + h;
					mode = TO_OUT;
				} else if (ev.len <= sizeof(scratch)) {
					dst = scratch;
					mode = TO_SCRATCH;
				}
				break;
			case WS_EV_DATA:
				if (mode == TO_BUF) {
					if (buf_room(s, s->len + (size_t)ev.len))
						return refuse(c, s);
					dst = s->buf + s->len;
					s->len += (size_t)ev.len;
				}
				if (ws_unmask(&s->p, &ev, dst)) {
					if (out)
						zg_conn_commit(c, 0); /* cancel the echo */
					ws_close(c, s, WS_CLOSE_BAD_DATA);
					return 1;
				}
				dst += ev.len;
				break;
			case WS_EV_MESSAGE:
				if (mode == TO_OUT) {
					out = NULL;
					if (zg_conn_commit(c, out_len))
						return refuse(c, s);
				} else if (!s->on_message) {
					int ret = echo_buffered(c, s, ev.opcode);
					if (ret == -2) {
						/* a Close now would read as payload:
						 * the TCP close alone ends it */
						s->closing = true;
						zg_conn_close(c, ZG_CLOSE_GRACEFUL);
						return 1;
					}
					if (ret)
						return refuse(c, s);
				} else {
					uint8_t *m = mode == TO_SCRATCH ? scratch : s->buf ? s->buf : scratch;
					s->on_message(c, s, ev.opcode, m, (size_t)ev.len, s->arg);
					if (s->closing)
						return 1;
				}
				mode = TO_BUF;
				s->len = 0;
				if (s->cap > WS_KEEP) {
					free(s->buf);
					s->buf = NULL;
					s->cap = 0;
				}
				break;
			case WS_EV_PING:
				if (ws_send(c, WS_OP_PONG, ev.data, (size_t)ev.len))
					return refuse(c, s);
				break;
			case WS_EV_PONG: /* unsolicited: ignored */
				break;
			case WS_EV_CLOSE:
				ws_close(c, s, ev.code);
				return 1;
			default: /* WS_EV_ERROR; WS_EV_END never comes: we stop at CLOSE */
				if (out)
					zg_conn_commit(c, 0);
				ws_close(c, s, ev.code ? ev.code : WS_CLOSE_PROTOCOL);
				return 1;
			}
		}
	}
	if (v.eof) { /* the peer left without a Close */
		s->closing = true;
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		return 1;
	}
	zg_conn_advance(c, v.len, v.len);
	return 0;
}
