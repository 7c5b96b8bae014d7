/* SPDX-License-Identifier: MIT */
/* httparena-server: query and path values as the routes read them
 * (routes.c, crud.c). Values are not percent-decoded. */
#ifndef PARAMS_H
#define PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* s[0..n) is exactly lit. */
static inline bool param_is(const uint8_t *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	return n == k && !memcmp(s, lit, k);
}

/* Digits only (leading zeros welcome: gcannon pads its numbers, "00042"
 * is 42), at most 18 of them, so no overflow. */
static inline bool param_digits(const uint8_t *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* An optional sign, then param_digits; false for anything else. */
static inline bool param_int(const uint8_t *s, size_t n, int64_t *out)
{
	bool neg = n && s[0] == '-';
	uint64_t v;
	if (n && (s[0] == '-' || s[0] == '+')) {
		s++;
		n--;
	}
	if (!param_digits(s, n, &v))
		return false;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

#endif
