/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Make *buf (of *cap bytes) hold at least need bytes, doubling from
 * first; the contents are kept. 0 or -ENOMEM (then *buf is unchanged). */
int zg__grow(uint8_t **buf, size_t *cap, size_t need, size_t first)
{
	size_t n = *cap ? *cap : first;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

uint64_t zg__clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define STR_(x) #x
#define STR(x) STR_(x)

ZG_EXPORT unsigned zg_version(void)
{
	return ZG_VERSION;
}

ZG_EXPORT const char *zg_version_string(void)
{
	return STR(ZG_VERSION_MAJOR) "." STR(ZG_VERSION_MINOR) "." STR(ZG_VERSION_PATCH);
}

ZG_EXPORT const char *zg_strerror(int err)
{
	if (err == INT_MIN)
		return "unknown error"; /* -INT_MIN does not exist */
	if (err > 0)
		err = -err;
	switch (err) {
	case 0: return "success";
	case -ENOSYS: return "the running kernel lacks an io_uring feature libzerg needs (multishot recv: Linux 6.0 or newer)";
	case -E2BIG: return "input over the connection's max_input";
	case -ETIMEDOUT: return "idle timeout";
	case -ESHUTDOWN: return "reactor stopped";
	case -ENOBUFS: return "output over the connection's max_output";
	default: return strerror(-err);
	}
}
