/* SPDX-License-Identifier: MIT */
/*
 * JSON documents of the benchmark, serialized per request:
 *   {"items":[{..., "total": price*quantity*mult}, ...],"count":N}
 */
#ifndef RENDER_H
#define RENDER_H

#include "data.h"

/* Upper bound of render_items() for the first `count` items. */
size_t render_bound(const struct dataset *d, size_t count);

/* Write the document for the first `count` items of d at p; returns the
 * end. In a fixed2 dataset totals are hundredths ("147.6"); otherwise
 * integers. Products wrap (no UB) rather than overflow. */
char *render_items(char *p, const struct dataset *d, size_t count, int64_t mult);

#endif
