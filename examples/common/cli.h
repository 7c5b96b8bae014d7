/* SPDX-License-Identifier: MIT */
/* Command-line helpers shared by the example programs' main.c. */
#ifndef ZG_EXAMPLES_CLI_H
#define ZG_EXAMPLES_CLI_H

#include <errno.h>
#include <stdlib.h>

/* A decimal option value in 0..max: all of s, no sign (strtoul would
 * take "-1" as ULONG_MAX). 0, or -1 for anything else. */
static inline int cli_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

#endif
