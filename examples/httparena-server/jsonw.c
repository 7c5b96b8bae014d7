/* SPDX-License-Identifier: MIT */
#include "jsonw.h"

#include <stdbool.h>

/* 0: copy as is; otherwise the letter after the backslash ('u' for
 * \u00XX). */
static const char esc[256] = {
	['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
	['"'] = '"', ['\\'] = '\\',
	[0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',
	[0x05] = 'u', [0x06] = 'u', [0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u',
	[0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u', [0x13] = 'u',
	[0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u', [0x18] = 'u',
	[0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u',
	[0x1e] = 'u', [0x1f] = 'u',
};

static const char hex[] = "0123456789abcdef";

#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Does any byte of w need escaping (< 0x20, '"' or '\\')? The classic
 * has-zero-byte trick; it can only err towards "yes" above a byte that
 * really matches, which is fine for a yes/no question. */
static inline bool word_needs_escape(uint64_t w)
{
	uint64_t quote = w ^ (ONES * '"'), bslash = w ^ (ONES * '\\');
	uint64_t ctl = (w - ONES * 0x20) & ~w;
	uint64_t q = (quote - ONES) & ~quote;
	uint64_t b = (bslash - ONES) & ~bslash;
	return ((ctl | q | b) & HIGHS) != 0;
}

char *jw_str(char *p, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	*p++ = '"';
	/* Eight bytes at a time while nothing needs escaping: names and
	 * tags are plain ASCII. */
	while (i + 8 <= n) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		if (word_needs_escape(w))
			break;
		memcpy(p, &w, 8);
		p += 8;
		i += 8;
	}
	for (; i < n; i++) {
		char e = esc[u[i]];
		if (!e) {
			*p++ = (char)u[i];
			continue;
		}
		*p++ = '\\';
		*p++ = e;
		if (e == 'u') {
			*p++ = '0';
			*p++ = '0';
			*p++ = hex[u[i] >> 4];
			*p++ = hex[u[i] & 15];
		}
	}
	*p++ = '"';
	return p;
}
