/* SPDX-License-Identifier: MIT */
/*
 * zerg_http's engine: the HTTP/1.1 (RFC 9112) parts that need no I/O.
 *
 * - http_parse(): an incremental, allocation-free request-head parser
 *   over one contiguous byte span. The caller hands it the unconsumed
 *   input (which may grow between calls, same prefix); it resumes where
 *   it stopped and rejects a byte no element may hold at once, and an
 *   element that is wrong as a whole (a request-target's form, a Host)
 *   when it ends, so garbage is answered promptly instead of after a
 *   "\r\n\r\n" that never comes.
 * - http_chunked_step(): a chunked-body decoder that works across any
 *   split of its input (it keeps its own state, never looks back).
 * - http_head_*(): a response-head writer for small heads written
 *   straight into the output buffer.
 *
 * Everything here is pure (no I/O, no libzerg), so it is unit-tested and
 * fuzzed on its own; http_server.h is the layer on libzerg built on it.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Limits. Beyond HTTP_MAX_LINE bytes of request line: 414; beyond
 * HTTP_MAX_FIELDS header lines or HTTP_MAX_FIELD_BYTES bytes of header
 * section: 431; any other violation: 400. */
#define HTTP_MAX_LINE        8192
#define HTTP_MAX_FIELDS      64
#define HTTP_MAX_FIELD_BYTES 16384
#define HTTP_MAX_METHOD      32
#define HTTP_MAX_EMPTY_LINES 16   /* CRLFs tolerated before a request line */
/* A complete head never needs more bytes than this. */
#define HTTP_MAX_HEAD (2 * HTTP_MAX_EMPTY_LINES + HTTP_MAX_LINE + HTTP_MAX_FIELD_BYTES + 64)

enum http_method {
	HTTP_M_OTHER = 0, /* a valid token we don't know: 405 material */
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_OPTIONS,
	HTTP_M_PATCH,
	HTTP_M_CONNECT,
	HTTP_M_TRACE,
};

/* http_request.form: which of the four request-target forms (RFC 9112
 * 3.2). The parser admits asterisk-form only for OPTIONS and
 * authority-form only for (and always for) CONNECT. */
enum http_form {
	HTTP_FORM_ORIGIN = 0, /* "/path?query"                          */
	HTTP_FORM_ABSOLUTE,   /* "http://host/path?query" (http, https)  */
	HTTP_FORM_AUTHORITY,  /* "host:port", CONNECT                    */
	HTTP_FORM_ASTERISK,   /* "*", OPTIONS                            */
};

/* One header line: offsets into the parsed buffer. Values are trimmed
 * of surrounding whitespace. */
struct http_field {
	uint16_t name, name_len;
	uint16_t value, value_len;
};

/* http_request.flags */
#define HTTP_F_CONTENT_LENGTH (1u << 0) /* Content-Length present            */
#define HTTP_F_CHUNKED        (1u << 1) /* Transfer-Encoding: chunked        */
#define HTTP_F_CLOSE          (1u << 2) /* close after the response          */
#define HTTP_F_KEEP_ALIVE     (1u << 3) /* "Connection: keep-alive" (1.0)    */
#define HTTP_F_EXPECT         (1u << 4) /* Expect: 100-continue (1.1 only)   */
#define HTTP_F_CONN_CLOSE     (1u << 5) /* "Connection: close" seen          */
#define HTTP_F_TE             (1u << 6) /* some Transfer-Encoding seen       */
#define HTTP_F_HOST_SEEN      (1u << 7)

struct http_request {
	/* Parser position; private. */
	uint32_t pos;        /* bytes of the buffer examined so far           */
	uint32_t mark;       /* start of the token being scanned              */
	uint32_t fields_at;  /* start of the header section                   */
	uint8_t state;
	uint8_t empty_lines;

	/* Results, valid once http_parse() returned > 0. */
	uint8_t method;      /* enum http_method                              */
	uint8_t minor;       /* HTTP/1.<minor>                                */
	uint16_t status;     /* after an error: 400, 414 or 431               */
	uint16_t nfields;
	uint32_t start;      /* offset of the request line                    */
	uint32_t method_len;
	uint32_t target, target_len;
	/* The origin-form part of the target: absolute-path [ "?" query ].
	 * Empty for an absolute-form with no path (which names "/"), and
	 * for the authority and asterisk forms. */
	uint32_t path, path_len;
	uint8_t form;        /* enum http_form                                */
	uint32_t flags;      /* HTTP_F_*                                      */
	uint64_t content_length;
	struct http_field fields[HTTP_MAX_FIELDS];
};

/* Reset for a new request (cheap: the field array is not cleared). */
void http_request_init(struct http_request *r);

/*
 * Parse buf[0..len), which must start with the same bytes as on the
 * previous call for this request (it may have grown). Returns the head
 * length (through the final CRLF) when the head is complete, 0 when
 * more bytes are needed (every byte so far is valid), or -1 on error
 * with r->status set to 400, 414 or 431.
 */
int http_parse(struct http_request *r, const uint8_t *buf, size_t len);

/* First header named `name` (lowercase, ASCII, case-insensitive match),
 * or NULL. */
const struct http_field *http_find(const struct http_request *r,
				   const uint8_t *buf, const char *name);

/* Does a list-valued header (Accept-Encoding ...) accept `coding`
 * (lowercase)? Honors ";q=0". */
bool http_accepts(const uint8_t *v, size_t n, const char *coding);

/* ------------------------------------------------------------------ */
/* Chunked body decoder                                                */
/* ------------------------------------------------------------------ */

#define HTTP_CHUNK_MAX_LINE     4096  /* size line incl. extensions   */
#define HTTP_CHUNK_MAX_TRAILERS 16384 /* bytes of trailer section     */

struct http_chunked {
	uint64_t left;  /* payload bytes left in the current chunk */
	uint32_t count; /* bytes in the current line / trailer section */
	uint8_t state;
	uint8_t digits;
};

enum {
	HTTP_CHUNK_ERROR = -1,
	HTTP_CHUNK_MORE = 0, /* all input used, body not finished        */
	HTTP_CHUNK_DATA = 1, /* payload at p + *data_off, *data_len bytes */
	HTTP_CHUNK_DONE = 2, /* body (with trailers) ends at p + *used    */
};

void http_chunked_init(struct http_chunked *d);

/*
 * Decode from p[0..n). *used is set to the bytes consumed. DATA returns
 * one run of payload (call again with the rest); MORE means every byte
 * was used; DONE means the body ended after *used bytes.
 */
int http_chunked_step(struct http_chunked *d, const uint8_t *p, size_t n,
		      size_t *used, size_t *data_off, size_t *data_len);

/* ------------------------------------------------------------------ */
/* Response head                                                       */
/* ------------------------------------------------------------------ */

#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Format t as an IMF-fixdate into out[0..29) (not NUL-terminated). */
void http_format_date(char out[HTTP_DATE_LEN], time_t t);

/* The Server value of a head whose server is NULL. */
#define HTTP_SERVER_NAME "zerg"

/* What goes into a response head. */
struct http_head {
	unsigned status;         /* 200, 400, ...                          */
	const char *server;      /* Server value; NULL: HTTP_SERVER_NAME;
	                          * "": no Server field                    */
	const char *type;        /* Content-Type value or NULL             */
	const char *encoding;    /* Content-Encoding value or NULL         */
	const char *allow;       /* Allow value (405) or NULL              */
	const char *vary;        /* Vary value or NULL                     */
	const char *date;        /* HTTP_DATE_LEN bytes                    */
	bool close;              /* "Connection: close"                    */
	bool keep_alive;         /* "Connection: keep-alive" (HTTP/1.0)    */
};

/* Bytes of the head apart from the Content-Length digits. */
size_t http_head_fixed(const struct http_head *h);

/* Number of decimal digits of v (>= 1). */
unsigned http_digits(uint64_t v);

/* Write the head for a body of `length` bytes at out; returns the bytes
 * written, which is http_head_fixed(h) + http_digits(length). */
size_t http_head_write(char *out, const struct http_head *h, uint64_t length);

/* Upper bound of any head we write (with short header values). */
#define HTTP_HEAD_MAX 512

const char *http_reason(unsigned status);

#endif
