/* SPDX-License-Identifier: MIT */
/*
 * A minimal JSON writer for responses built per request. The caller
 * sizes the output beforehand (jw_str_bound and friends) so the inner
 * loops carry no capacity checks; every function returns the new end.
 */
#ifndef JSONW_H
#define JSONW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http_fmt.h"

/* Worst case bytes of jw_str() for n input bytes. */
#define JW_STR_BOUND(n) (6 * (size_t)(n) + 2)
/* Worst case bytes of a number written by jw_i64/jw_cents. */
#define JW_NUM_BOUND 24

/* "s" with JSON escaping; bytes >= 0x80 pass through (UTF-8). */
char *jw_str(char *p, const char *s, size_t n);

static inline char *jw_raw(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define JW_LIT(p, s) jw_raw((p), (s), sizeof(s) - 1)

static inline char *jw_i64(char *p, int64_t v) { return http_fmt_i64(p, v); }
static inline char *jw_cents(char *p, int64_t v) { return http_fmt_cents(p, v); }

static inline char *jw_bool(char *p, int v)
{
	return v ? JW_LIT(p, "true") : JW_LIT(p, "false");
}

#endif
