/* SPDX-License-Identifier: MIT */
/* Shared by the unit tests that need a real io_uring reactor. */
#ifndef ZG_UNIT_H
#define ZG_UNIT_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "zerg.h"

/* Exit 77 (meson: skipped) where a reactor cannot be made at all: no
 * io_uring in this kernel or sandbox, or a kernel without what libzerg
 * needs. Any other failure is left to the test to report. */
static inline void unit_need_ring(void)
{
	struct zg_reactor *r;
	int ret = zg_reactor_new(NULL, NULL, NULL, &r);

	if (ret == 0) {
		zg_reactor_free(r);
		return;
	}
	if (ret == -ENOSYS || ret == -EPERM || ret == -EACCES || ret == -ENOMEM) {
		printf("SKIP: cannot create an io_uring reactor here: %s\n", zg_strerror(ret));
		exit(77);
	}
}

#endif
