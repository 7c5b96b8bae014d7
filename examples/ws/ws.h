/* SPDX-License-Identifier: MIT */
/*
 * zerg_ws: WebSocket (RFC 6455) for libzerg connections, server side.
 *
 * An HTTP server parses a request head; when it is an upgrade to
 * WebSocket it checks it (ws_handshake_check), answers 101 (ws_write_101,
 * with ws_accept_key) or the status the check gave (ws_write_reject),
 * and from then on hands the connection's input to ws_on_data. See
 * README.md for the wiring.
 *
 * Three layers, each usable alone:
 * - the handshake (pure): header checks, the accept key, response heads;
 * - the frame parser and writer (pure, no libzerg): ws_parse() is
 *   incremental and allocation-free over any split of its input (it
 *   keeps its own state and never looks back, like http_chunked_step),
 *   with every check of RFC 6455 a server must make (SPEC-HEAD.md 9.5);
 *   ws_frame_head() writes a server frame's header;
 * - the connection driver (libzerg): ws_on_data() reads the pipe
 *   reader's segments, feeds the parser, echoes messages or hands them
 *   to a callback, answers Ping and Close, fails the connection with the
 *   right close code, and consumes all the input it is shown.
 */
#ifndef ZERG_WS_H
#define ZERG_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 5.2). */
#define WS_OP_CONT   0x0
#define WS_OP_TEXT   0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE  0x8
#define WS_OP_PING   0x9
#define WS_OP_PONG   0xA

/* Close codes (RFC 6455 7.4.1) the module sends. */
#define WS_CLOSE_NORMAL   1000
#define WS_CLOSE_PROTOCOL 1002 /* a frame breaks the protocol        */
#define WS_CLOSE_BAD_DATA 1007 /* a text message that is not UTF-8   */
#define WS_CLOSE_TOO_BIG  1009 /* a message above the limit          */
#define WS_CLOSE_INTERNAL 1011 /* out of memory, output refused      */

#define WS_MAX_CONTROL    125        /* payload of a control frame     */
#define WS_MAX_HEAD       10         /* a server frame's header        */
#define WS_DEFAULT_LIMIT  (16u << 20) /* bytes of one message          */

/* ------------------------------------------------------------------ */
/* Handshake (RFC 6455 4.2)                                            */
/* ------------------------------------------------------------------ */

/* A header value as the HTTP parser found it (the first line of that
 * name); p == NULL: the header is absent. Surrounding blanks are
 * ignored. */
struct ws_str {
	const char *p;
	size_t n;
};

struct ws_request {
	struct ws_str upgrade;    /* Upgrade: a token list with "websocket"  */
	struct ws_str connection; /* Connection: a token list with "upgrade" */
	struct ws_str key;        /* Sec-WebSocket-Key: base64 of 16 bytes   */
	struct ws_str version;    /* Sec-WebSocket-Version: "13"             */
};

/*
 * Check the upgrade headers of a GET request (the method, the target and
 * HTTP/1.1 are the caller's to check). Returns 0 when the upgrade may go
 * ahead, else the status to answer with ws_write_reject():
 *   426 no "websocket" in Upgrade or no "upgrade" in Connection (both
 *       token lists, case-insensitive), or Sec-WebSocket-Version is
 *       missing or not 13;
 *   400 Sec-WebSocket-Key is missing or is not base64 of 16 bytes.
 */
int ws_handshake_check(const struct ws_request *r);

/* Does the comma-separated list v[0..n) hold token (lowercase ASCII),
 * case-insensitively? Blanks around elements are ignored. */
bool ws_token_in_list(const char *v, size_t n, const char *token);

/* Is k[0..n) (blanks around it ignored) the base64 of exactly 16 bytes
 * (24 characters, the last two "==")? */
bool ws_key_valid(const char *k, size_t n);

/* Sec-WebSocket-Accept for key k[0..n) (blanks around it ignored):
 * base64(SHA-1(key "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), 28
 * characters and a NUL into out. */
#define WS_ACCEPT_LEN 28
void ws_accept_key(const char *k, size_t n, char out[WS_ACCEPT_LEN + 1]);

/* The 101 response head for key k[0..n) into out (at least WS_101_MAX
 * bytes); returns its length. */
#define WS_101_MAX 160
size_t ws_write_101(char *out, const char *k, size_t n);

/* A complete response for a refused upgrade (status 400 or 426 from
 * ws_handshake_check; any other status is answered as 400): a short
 * text body with Content-Length, and for 426 "Upgrade: websocket",
 * "Connection: Upgrade" and "Sec-WebSocket-Version: 13". close adds
 * "Connection: close" (426: "Connection: Upgrade, close"). Returns
 * its length; out holds at least WS_REJECT_MAX bytes. */
#define WS_REJECT_MAX 256
size_t ws_write_reject(char *out, int status, bool close);

/* ------------------------------------------------------------------ */
/* UTF-8 (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF) */
/* ------------------------------------------------------------------ */

#define WS_UTF8_OK  0 /* at a character boundary      */
#define WS_UTF8_BAD 8 /* invalid; stays invalid        */
/* Any other state: inside a character. Feed from WS_UTF8_OK; the input
 * may be cut anywhere. */
unsigned ws_utf8_feed(unsigned state, const uint8_t *p, size_t n);
bool ws_utf8_valid(const uint8_t *p, size_t n);

/* ------------------------------------------------------------------ */
/* Frame parser (client frames)                                        */
/* ------------------------------------------------------------------ */

struct ws_parser {
	/* private */
	uint64_t limit;    /* bytes of one message, all its frames      */
	uint64_t left;     /* payload bytes left in the current frame   */
	uint64_t msg_len;  /* payload of the message so far             */
	uint8_t state;
	uint8_t b0;        /* the current frame's first byte            */
	uint8_t need;      /* length or mask bytes still to come        */
	uint8_t phase;     /* payload offset in the frame, mod 4        */
	uint8_t mask[4];
	uint8_t msg_op;    /* the message in progress: 0 none, 1, 2     */
	uint8_t utf8;      /* the text message's UTF-8 state            */
	uint8_t ctl_len;
	uint16_t code;     /* the close code of a failure               */
	uint8_t ctl[WS_MAX_CONTROL]; /* a control frame's payload, unmasked */
};

/* limit: the largest message (0: WS_DEFAULT_LIMIT). */
void ws_parser_init(struct ws_parser *p, uint64_t limit);

enum ws_event_type {
	WS_EV_MORE = 0, /* every byte given was used; nothing to report    */
	WS_EV_FRAME,    /* a data frame's header: opcode (the message's,
	                 * also for continuations), first, fin, len (this
	                 * frame's payload; its DATA events follow)       */
	WS_EV_DATA,     /* len payload bytes at data, still masked: pass
	                 * the event to ws_unmask before the next call    */
	WS_EV_MESSAGE,  /* a data message ended: opcode, len (the whole
	                 * message, all frames); a text one is UTF-8      */
	WS_EV_PING,     /* a Ping: data/len, its payload (unmasked, valid
	                 * until the next call)                           */
	WS_EV_PONG,     /* a Pong, the same way                           */
	WS_EV_CLOSE,    /* a Close: code (0 when the payload was empty),
	                 * data/len the reason (UTF-8). Nothing after it
	                 * is read: later calls return WS_EV_END          */
	WS_EV_ERROR,    /* fail the connection with code (1002, 1007 or
	                 * 1009); later calls return the same             */
	WS_EV_END,      /* after a Close: used is 0                       */
};

struct ws_event {
	uint8_t opcode;
	bool first, fin;
	uint16_t code;
	uint8_t mask[4];      /* DATA: the key as it applies to data[0]  */
	const uint8_t *data;
	uint64_t len;
};

/*
 * Parse from in[0..n), which follows the bytes of the previous call.
 * *used is set to the bytes consumed (all of them for MORE); the event
 * is returned and described in *ev. An event that needs no more bytes
 * (MESSAGE after the last DATA, a header with no payload) comes from a
 * call with n == 0 too, so a caller whose input is used up calls once
 * more, or simply goes on with its next bytes.
 */
int ws_parse(struct ws_parser *p, const uint8_t *in, size_t n, size_t *used,
	     struct ws_event *ev);

/* Unmask a DATA event's bytes into dst (ev->len bytes, may be the
 * caller's copy of them, not the input itself, which is read-only) and
 * check them as UTF-8 when the message is text. Returns 0, or -1 when
 * they cannot be UTF-8: the parser has failed with 1007. */
int ws_unmask(struct ws_parser *p, const struct ws_event *ev, uint8_t *dst);

/* Is code a close code a peer may send (RFC 6455 7.4: 1000-1003,
 * 1007-1011, 3000-4999)? */
bool ws_close_code_valid(unsigned code);

/* ------------------------------------------------------------------ */
/* Frame writer (server frames: FIN, RSV 0, unmasked)                  */
/* ------------------------------------------------------------------ */

/* The header of a frame of len payload bytes into out (WS_MAX_HEAD
 * bytes); returns its length (2, 4 or 10). */
size_t ws_frame_head(uint8_t *out, unsigned opcode, uint64_t len);

/* Bytes of the header of a frame of len payload bytes. */
static inline size_t ws_head_len(uint64_t len)
{
	return len < 126 ? 2 : len <= 0xffff ? 4 : 10;
}

/* ------------------------------------------------------------------ */
/* Connection driver (libzerg)                                         */
/* ------------------------------------------------------------------ */

struct zg_conn;
struct ws_state;

/* A complete message: opcode WS_OP_TEXT (UTF-8 checked) or
 * WS_OP_BINARY, data[0..len) the unmasked payload, writable, valid
 * during the call. May ws_send() (also other opcodes, any number of
 * frames) or ws_close(). */
typedef void (*ws_message_fn)(struct zg_conn *c, struct ws_state *s, unsigned opcode,
			      uint8_t *data, size_t len, void *arg);

/* Per-connection state: embed it or allocate it; ws_state_init, then
 * ws_state_free from the connection's on_close. */
struct ws_state {
	/* private */
	struct ws_parser p;
	ws_message_fn on_message;
	void *arg;
	uint8_t *buf;    /* reassembly of a message the view did not hold */
	size_t len, cap;
	bool closing;
};

/* on_message NULL: echo every message in one frame (the echo-ws
 * profile), straight from the input into the output when the view
 * holds the whole frame. limit: the largest message (0: default). */
void ws_state_init(struct ws_state *s, uint64_t limit, ws_message_fn on_message, void *arg);
void ws_state_free(struct ws_state *s);

/*
 * The connection's on_data from the upgrade on. Consumes every byte of
 * the view (payload goes out, or into s's buffer, bounded by the
 * limit), answers Ping with Pong and Close with Close (the same code,
 * or empty), fails the connection with a Close of the right code (1011
 * when the output refuses a frame or memory runs out), and closes the
 * TCP connection gracefully after any Close. Returns 0 while the
 * connection goes on, 1 once it is closing (on_close follows; s stays
 * valid until then, c and s are never freed inside).
 */
int ws_on_data(struct zg_conn *c, struct ws_state *s);

/* One frame with FIN: header and payload. 0, or zg_conn_write's error. */
int ws_send(struct zg_conn *c, unsigned opcode, const void *data, size_t len);

/* Send Close with code (0: an empty Close) and close the connection
 * gracefully (the Close goes out first; never an abort, so c and s stay
 * valid until on_close). From an on_message callback, ws_on_data
 * returns 1 after it. */
void ws_close(struct zg_conn *c, struct ws_state *s, unsigned code);

/* An on_message that echoes (the same as on_message NULL, through the
 * callback path: the payload is copied once more). */
void ws_echo_message(struct zg_conn *c, struct ws_state *s, unsigned opcode,
		     uint8_t *data, size_t len, void *arg);

#endif
