/* SPDX-License-Identifier: MIT */
/*
 * Content codings of a response: which one the request accepts
 * (Accept-Encoding, RFC 9110 12.5.3) and compressing a body with it.
 *
 * Negotiation. Feed every Accept-Encoding field line of the request to
 * enc_accept_parse() (a list split over several lines is one list), then
 * enc_choose() with the codings the resource has. It picks the coding
 * with the highest q-value; a tie goes to the server's preference
 * br > gzip > identity (enc_choose_prefer() puts another coding first:
 * ENC_JSON_PREFER for bodies compressed per request). Rules:
 *   - no Accept-Encoding field, or an empty one: identity (the benchmark
 *     wants no Content-Encoding without the header, SPEC-HEAD 3.2);
 *   - a coding's q is its own entry's, else the entry "*"'s, else it is
 *     not acceptable; q=0 means not acceptable;
 *   - identity is acceptable unless "identity;q=0", or "*;q=0" with no
 *     "identity" entry; when only "*" speaks for it, it takes "*"'s q;
 *     otherwise (not named) it ranks below every named coding (q 0.001)
 *     so "gzip;q=0.5" still gets gzip;
 *   - when nothing is acceptable the answer is identity anyway (the
 *     caller may check enc_acceptable() and send 406 instead);
 *   - names and "q" are case-insensitive, "x-gzip" is gzip (RFC 9110
 *     8.4.1.3), whitespace around ';', ',' and '=' is skipped;
 *   - an entry that does not parse (a bad token, a q outside 0..1 or with
 *     more than 3 decimals, a parameter other than q, a quoted string) is
 *     ignored as if absent; the first entry for a coding counts, later
 *     ones are ignored.
 *
 * Compression: struct enc_coder holds one brotli and one gzip encoder
 * (per reactor thread); enc_compress() writes the coded body into a
 * caller-given buffer of at least enc_bound() bytes and allocates
 * nothing in steady state (see br.h, gz.h).
 */
#ifndef ENCODING_H
#define ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum enc {
	ENC_IDENTITY = 0,
	ENC_GZIP = 1,
	ENC_BR = 2,
	ENC_COUNT
};
#define ENC_BIT(e) (1u << (e))
#define ENC_ALL (ENC_BIT(ENC_IDENTITY) | ENC_BIT(ENC_GZIP) | ENC_BIT(ENC_BR))

/* q-values in thousandths; ENC_Q_UNSET: no entry for it. */
#define ENC_Q_UNSET (-1)
#define ENC_Q_MAX 1000

struct enc_accept {
	int16_t q[ENC_COUNT]; /* indexed by enum enc */
	int16_t star;         /* the "*" entry */
	bool present;         /* an Accept-Encoding field was seen */
};

void enc_accept_init(struct enc_accept *a);
/* One Accept-Encoding field value (OWS already trimmed or not). */
void enc_accept_parse(struct enc_accept *a, const uint8_t *v, size_t n);
/* The effective q (0..1000) of coding e: 0 = not acceptable. */
int enc_q(const struct enc_accept *a, enum enc e);
/* Is some coding of `offered` (ENC_BIT mask) acceptable? */
bool enc_acceptable(const struct enc_accept *a, unsigned offered);
/* The coding to send among `offered` (identity is always possible and
 * is the fallback, whether or not the mask has it). */
enum enc enc_choose(const struct enc_accept *a, unsigned offered);
/* The same with `prefer` first among codings of equal q (then br >
 * gzip > identity). */
enum enc enc_choose_prefer(const struct enc_accept *a, unsigned offered, enum enc prefer);
/* Shorthand: one field value (NULL: no field) -> the coding. */
enum enc enc_negotiate(const uint8_t *v, size_t n, unsigned offered);
enum enc enc_negotiate_prefer(const uint8_t *v, size_t n, unsigned offered, enum enc prefer);

/* What wins a tie of q-values for a body compressed per request
 * (json-comp; the benchmark sends "gzip, br"): gzip. ISA-L level 1 costs
 * about what brotli quality 0 does and its output is smaller, so its
 * json-comp score (req/s x (min bytes / bytes)^2) is the highest of all
 * codings and settings measured (docs/json-comp-choice.md). Precompressed
 * files (static.c) keep br first: their siblings cost nothing. */
#define ENC_JSON_PREFER ENC_GZIP

/* The Content-Encoding value of e ("br", "gzip"); NULL for identity. */
const char *enc_name(enum enc e);

/* Compression settings; enc_params_default() is what json-comp uses
 * (HTTPARENA_BROTLI=QUALITY:WINDOW in the environment overrides it, for
 * measurements). */
struct enc_params {
	int br_quality; /* 0..11 */
	int br_lgwin;   /* 10..24 */
	bool br_text;   /* BROTLI_MODE_TEXT instead of GENERIC */
};
struct enc_params enc_params_default(void);

struct enc_coder;
/* Per thread; NULL when out of memory. p NULL: the defaults. */
struct enc_coder *enc_coder_new(const struct enc_params *p);
void enc_coder_free(struct enc_coder *c);
/* Worst-case bytes of enc_compress(e) for n input bytes (n for
 * identity). */
size_t enc_bound(enum enc e, size_t n);
/* Code in[0..n) with e into out[0..cap): the coded size, or 0 (cap too
 * small, out of memory). Identity copies. cap >= enc_bound(e, n) only
 * fails when out of memory. */
size_t enc_compress(struct enc_coder *c, enum enc e, const void *in, size_t n,
		    void *out, size_t cap);

#endif
