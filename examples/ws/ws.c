/* SPDX-License-Identifier: MIT */
/* zerg_ws, the pure parts: handshake, UTF-8, frame parser and writer.
 * No libzerg, no allocation. See ws.h. */
#include <stddef.h>
#include <string.h>

#include <openssl/sha.h>

#include "ws.h"

/* ------------------------------------------------------------------ */
/* Handshake                                                           */
/* ------------------------------------------------------------------ */

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static void trim(const char **p, size_t *n)
{
	while (*n && blank(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && blank((*p)[*n - 1]))
		(*n)--;
}

static char lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
}

bool ws_token_in_list(const char *v, size_t n, const char *token)
{
	size_t tn = strlen(token);

	if (!v)
		return false;
	while (n) {
		size_t k = 0;
		while (k < n && v[k] != ',')
			k++;
		const char *e = v;
		size_t en = k;
		trim(&e, &en);
		if (en == tn) {
			size_t i = 0;
			while (i < tn && lower(e[i]) == token[i])
				i++;
			if (i == tn)
				return true;
		}
		if (k == n)
			break;
		v += k + 1;
		n -= k + 1;
	}
	return false;
}

static int b64_value(char ch)
{
	const char *at = ch ? strchr(b64, ch) : NULL;
	return at ? (int)(at - b64) : -1;
}

bool ws_key_valid(const char *k, size_t n)
{
	if (!k)
		return false;
	trim(&k, &n);
	/* 16 bytes: 21 full characters and one holding 2 bits, then "==". */
	if (n != 24 || k[22] != '=' || k[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++)
		if (b64_value(k[i]) < 0)
			return false;
	return true;
}

int ws_handshake_check(const struct ws_request *r)
{
	const char *v = r->version.p;
	size_t vn = r->version.n;

	if (!ws_token_in_list(r->upgrade.p, r->upgrade.n, "websocket") ||
	    !ws_token_in_list(r->connection.p, r->connection.n, "upgrade"))
		return 426;
	if (v)
		trim(&v, &vn);
	if (!v || vn != 2 || v[0] != '1' || v[1] != '3')
		return 426;
	if (!ws_key_valid(r->key.p, r->key.n))
		return 400;
	return 0;
}

void ws_accept_key(const char *k, size_t n, char out[WS_ACCEPT_LEN + 1])
{
	uint8_t in[64 + sizeof(ws_guid)], md[SHA_DIGEST_LENGTH];
	char *o = out;

	trim(&k, &n);
	if (n > 64) /* never a valid key; hashed cut short, still defined */
		n = 64;
	memcpy(in, k, n);
	memcpy(in + n, ws_guid, sizeof(ws_guid) - 1);
	SHA1(in, n + sizeof(ws_guid) - 1, md);
	/* 20 bytes: six groups of three, then two bytes and one '='. */
	for (int i = 0; i < 21; i += 3) {
		uint32_t w = (uint32_t)md[i] << 16 | (uint32_t)md[i + 1] << 8 |
			     (i + 2 < 20 ? md[i + 2] : 0);
		*o++ = b64[w >> 18 & 63];
		*o++ = b64[w >> 12 & 63];
		*o++ = b64[w >> 6 & 63];
		*o++ = i + 2 < 20 ? b64[w & 63] : '=';
	}
	*o = 0;
}

static char *put(char *o, const char *s)
{
	size_t n = strlen(s);
	memcpy(o, s, n);
	return o + n;
}

size_t ws_write_101(char *out, const char *k, size_t n)
{
	char *o = out;

	o = put(o, "HTTP/1.1 101 Switching Protocols\r\n"
		   "Upgrade: websocket\r\n"
		   "Connection: Upgrade\r\n"
		   "Sec-WebSocket-Accept: ");
	ws_accept_key(k, n, o);
	o += WS_ACCEPT_LEN;
	o = put(o, "\r\n\r\n");
	return (size_t)(o - out);
}

size_t ws_write_reject(char *out, int status, bool close)
{
	static const char body426[] = "WebSocket upgrade required (version 13)\n";
	static const char body400[] = "Bad WebSocket upgrade request\n";
	char *o = out;
	const char *body;
	size_t blen;

	if (status == 426) {
		body = body426;
		blen = sizeof(body426) - 1;
		o = put(o, "HTTP/1.1 426 Upgrade Required\r\n"
			   "Upgrade: websocket\r\n");
		o = put(o, close ? "Connection: Upgrade, close\r\n" : "Connection: Upgrade\r\n");
		o = put(o, "Sec-WebSocket-Version: 13\r\n");
	} else {
		body = body400;
		blen = sizeof(body400) - 1;
		o = put(o, "HTTP/1.1 400 Bad Request\r\n");
		if (close)
			o = put(o, "Connection: close\r\n");
	}
	o = put(o, "Content-Type: text/plain\r\nContent-Length: ");
	*o++ = (char)('0' + blen / 10);
	*o++ = (char)('0' + blen % 10);
	o = put(o, "\r\n\r\n");
	memcpy(o, body, blen);
	return (size_t)(o + blen - out);
}

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */
/* ------------------------------------------------------------------ */

/* States: OK, then how many continuation bytes are due, and the four
 * lead bytes whose next byte has a narrower range (RFC 3629 4). */
enum { U_OK = WS_UTF8_OK, U_1, U_2, U_3, U_E0, U_ED, U_F0, U_F4, U_BAD = WS_UTF8_BAD };

static unsigned utf8_step(unsigned st, uint8_t b)
{
	switch (st) {
	case U_OK:
		if (b < 0x80)
			return U_OK;
		if (b < 0xc2) /* a continuation, or C0/C1: overlong */
			return U_BAD;
		if (b < 0xe0)
			return U_1;
		if (b == 0xe0) /* E0 80..9F would be overlong */
			return U_E0;
		if (b == 0xed) /* ED A0..BF: surrogates */
			return U_ED;
		if (b < 0xf0)
			return U_2;
		if (b == 0xf0) /* F0 80..8F would be overlong */
			return U_F0;
		if (b < 0xf4)
			return U_3;
		if (b == 0xf4) /* F4 90.. is past U+10FFFF */
			return U_F4;
		return U_BAD;
	case U_1:
	case U_2:
	case U_3:
		return (b & 0xc0) == 0x80 ? st - 1 : U_BAD;
	case U_E0:
		return b >= 0xa0 && b <= 0xbf ? U_1 : U_BAD;
	case U_ED:
		return b >= 0x80 && b <= 0x9f ? U_1 : U_BAD;
	case U_F0:
		return b >= 0x90 && b <= 0xbf ? U_2 : U_BAD;
	case U_F4:
		return b >= 0x80 && b <= 0x8f ? U_2 : U_BAD;
	default:
		return U_BAD;
	}
}

unsigned ws_utf8_feed(unsigned st, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && st != U_BAD) {
		if (st == U_OK) {
			/* ASCII runs eight bytes at a time */
			while (n - i >= 8) {
				uint64_t w;
				memcpy(&w, p + i, 8);
				if (w & 0x8080808080808080ull)
					break;
				i += 8;
			}
			while (i < n && p[i] < 0x80)
				i++;
			if (i == n)
				break;
		}
		st = utf8_step(st, p[i++]);
	}
	return st;
}

bool ws_utf8_valid(const uint8_t *p, size_t n)
{
	return ws_utf8_feed(U_OK, p, n) == U_OK;
}

/* ------------------------------------------------------------------ */
/* Frame parser                                                        */
/* ------------------------------------------------------------------ */

enum {
	S_HDR0 = 0, /* FIN, RSV, opcode                               */
	S_HDR1,     /* MASK, 7-bit length                             */
	S_LEN,      /* 2 or 8 bytes of extended length                */
	S_MASK,     /* 4 bytes of masking key                         */
	S_HDR_END,  /* header complete: check it, report it           */
	S_DATA,     /* a data frame's payload                         */
	S_DATA_END, /* a data frame ended: the message may have too   */
	S_CTL,      /* a control frame's payload, collected           */
	S_CTL_END,  /* a control frame complete: report it            */
	S_END,      /* after a Close                                  */
	S_ERROR,
};

void ws_parser_init(struct ws_parser *p, uint64_t limit)
{
	memset(p, 0, offsetof(struct ws_parser, ctl));
	p->limit = limit ? limit : WS_DEFAULT_LIMIT;
	p->state = S_HDR0;
}

bool ws_close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
	       (code >= 3000 && code <= 4999);
}

static int fail(struct ws_parser *p, unsigned code, size_t i, size_t *used,
		struct ws_event *ev)
{
	p->state = S_ERROR;
	p->code = (uint16_t)code;
	ev->code = (uint16_t)code;
	*used = i;
	return WS_EV_ERROR;
}

int ws_parse(struct ws_parser *p, const uint8_t *in, size_t n, size_t *used,
	     struct ws_event *ev)
{
	size_t i = 0;
	unsigned op;

	for (;;) {
		switch (p->state) {
		case S_HDR0: {
			if (i == n)
				goto more;
			uint8_t b = in[i++];
			op = b & 0x0f;
			if (b & 0x70) /* RSV1-3: no extension is negotiated */
				return fail(p, WS_CLOSE_PROTOCOL, i, used, ev);
			if (op >= 8) {
				if (op > WS_OP_PONG || !(b & 0x80)) /* reserved; fragmented control */
					return fail(p, WS_CLOSE_PROTOCOL, i, used, ev);
			} else if (op == WS_OP_CONT) {
				if (!p->msg_op) /* no message to continue */
					return fail(p, WS_CLOSE_PROTOCOL, i, used, ev);
			} else if (op > WS_OP_BINARY || p->msg_op) {
				/* reserved, or a new message inside a fragmented one */
				return fail(p, WS_CLOSE_PROTOCOL, i, used, ev);
			}
			p->b0 = b;
			p->state = S_HDR1;
			break;
		}
		case S_HDR1: {
			if (i == n)
				goto more;
			uint8_t b = in[i++];
			unsigned len = b & 0x7f;
			if (!(b & 0x80)) /* client frames are masked */
				return fail(p, WS_CLOSE_PROTOCOL, i, used, ev);
			if ((p->b0 & 0x08) && len > WS_MAX_CONTROL)
				return fail(p, WS_CLOSE_PROTOCOL, i, used, ev);
			p->left = len < 126 ? len : 0;
			p->need = len < 126 ? 0 : len == 126 ? 2 : 8;
			p->state = p->need ? S_LEN : S_MASK;
			if (!p->need)
				p->need = 4;
			break;
		}
		case S_LEN:
			while (i < n && p->need) {
				p->left = p->left << 8 | in[i++];
				p->need--;
			}
			if (p->need)
				goto more;
			if (p->left >> 63) /* the most significant bit must be 0 */
				return fail(p, WS_CLOSE_PROTOCOL, i, used, ev);
			p->need = 4;
			p->state = S_MASK;
			break;
		case S_MASK:
			while (i < n && p->need) {
				p->mask[4 - p->need] = in[i++];
				p->need--;
			}
			if (p->need)
				goto more;
			p->phase = 0;
			p->state = S_HDR_END;
			break;
		case S_HDR_END:
			op = p->b0 & 0x0f;
			if (op >= 8) {
				p->ctl_len = 0;
				p->state = p->left ? S_CTL : S_CTL_END;
				break;
			}
			if (p->left > p->limit - (op ? 0 : p->msg_len))
				return fail(p, WS_CLOSE_TOO_BIG, i, used, ev);
			if (op) {
				p->msg_op = (uint8_t)op;
				p->msg_len = 0;
				p->utf8 = U_OK;
			}
			p->msg_len += p->left;
			ev->opcode = p->msg_op;
			ev->first = op != WS_OP_CONT;
			ev->fin = p->b0 & 0x80;
			ev->len = p->left;
			p->state = p->left ? S_DATA : S_DATA_END;
			*used = i;
			return WS_EV_FRAME;
		case S_DATA: {
			if (i == n)
				goto more;
			uint64_t take = n - i;
			if (take > p->left)
				take = p->left;
			for (unsigned k = 0; k < 4; k++)
				ev->mask[k] = p->mask[(p->phase + k) & 3];
			ev->opcode = p->msg_op;
			ev->data = in + i;
			ev->len = take;
			p->phase = (uint8_t)((p->phase + take) & 3);
			p->left -= take;
			i += (size_t)take;
			if (!p->left)
				p->state = S_DATA_END;
			*used = i;
			return WS_EV_DATA;
		}
		case S_DATA_END:
			p->state = S_HDR0;
			if (!(p->b0 & 0x80))
				break; /* continuations follow */
			if (p->msg_op == WS_OP_TEXT && p->utf8 != U_OK)
				return fail(p, WS_CLOSE_BAD_DATA, i, used, ev);
			ev->opcode = p->msg_op;
			ev->len = p->msg_len;
			p->msg_op = 0;
			*used = i;
			return WS_EV_MESSAGE;
		case S_CTL:
			while (i < n && p->left) {
				p->ctl[p->ctl_len++] = in[i++] ^ p->mask[p->phase];
				p->phase = (p->phase + 1) & 3;
				p->left--;
			}
			if (p->left)
				goto more;
			p->state = S_CTL_END;
			break;
		case S_CTL_END:
			op = p->b0 & 0x0f;
			p->state = S_HDR0;
			ev->opcode = (uint8_t)op;
			ev->data = p->ctl;
			ev->len = p->ctl_len;
			ev->code = 0;
			*used = i;
			if (op == WS_OP_PING)
				return WS_EV_PING;
			if (op == WS_OP_PONG)
				return WS_EV_PONG;
			if (p->ctl_len == 1)
				return fail(p, WS_CLOSE_PROTOCOL, i, used, ev);
			if (p->ctl_len) {
				unsigned code = (unsigned)p->ctl[0] << 8 | p->ctl[1];
				if (!ws_close_code_valid(code))
					return fail(p, WS_CLOSE_PROTOCOL, i, used, ev);
				if (!ws_utf8_valid(p->ctl + 2, p->ctl_len - 2u))
					return fail(p, WS_CLOSE_BAD_DATA, i, used, ev);
				ev->code = (uint16_t)code;
				ev->data = p->ctl + 2;
				ev->len = p->ctl_len - 2u;
			}
			p->state = S_END;
			return WS_EV_CLOSE;
		case S_END:
			*used = 0;
			return WS_EV_END;
		default: /* S_ERROR */
			ev->code = p->code;
			*used = 0;
			return WS_EV_ERROR;
		}
	}
more:
	*used = i;
	return WS_EV_MORE;
}

int ws_unmask(struct ws_parser *p, const struct ws_event *ev, uint8_t *dst)
{
	const uint8_t *src = ev->data;
	size_t n = (size_t)ev->len, i = 0;
	uint64_t m8;
	uint32_t m4;

	memcpy(&m4, ev->mask, 4);
	m8 = (uint64_t)m4 << 32 | m4; /* the key repeats every 4 bytes */
	for (; n - i >= 8; i += 8) {
		uint64_t w;
		memcpy(&w, src + i, 8);
		w ^= m8;
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ ev->mask[i & 3];
	if (p->msg_op == WS_OP_TEXT) {
		p->utf8 = (uint8_t)ws_utf8_feed(p->utf8, dst, n);
		if (p->utf8 == U_BAD) {
			p->state = S_ERROR;
			p->code = WS_CLOSE_BAD_DATA;
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Frame writer                                                        */
/* ------------------------------------------------------------------ */

size_t ws_frame_head(uint8_t *out, unsigned opcode, uint64_t len)
{
	out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (int k = 0; k < 8; k++)
		out[2 + k] = (uint8_t)(len >> (56 - 8 * k));
	return 10;
}
