/* SPDX-License-Identifier: MIT */
#include "jsonw.h"

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

char *jw_str(char *p, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	*p++ = '"';
	while (i < n) {
		/* Copy the run that needs no escaping in one go: names and
		 * tags are almost always a single run. */
		size_t j = i;
		while (j < n && !esc[u[j]])
			j++;
		memcpy(p, s + i, j - i);
		p += j - i;
		if (j == n)
			break;
		char e = esc[u[j]];
		*p++ = '\\';
		*p++ = e;
		if (e == 'u') {
			*p++ = '0';
			*p++ = '0';
			*p++ = hex[u[j] >> 4];
			*p++ = hex[u[j] & 15];
		}
		i = j + 1;
	}
	*p++ = '"';
	return p;
}
