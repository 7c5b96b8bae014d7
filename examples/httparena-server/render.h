/* SPDX-License-Identifier: MIT */
/*
 * JSON documents of the benchmark, serialized per request:
 *   {"items":[{..., "total": price*quantity*mult}, ...],"count":N}
 */
#ifndef RENDER_H
#define RENDER_H

#include "data.h"

/* Measure every item once so render_bound() is tight (a response that
 * fits a pooled output chunk stays in it). 0 or -1 (out of memory: the
 * loose bound is used). */
int render_prepare(struct dataset *d);

/* Upper bound of render_items() for the first `count` items. */
size_t render_bound(const struct dataset *d, size_t count);

/* Write the document for the first `count` items of d at p; returns the
 * end. In a fixed2 dataset totals are hundredths ("147.6"); otherwise
 * integers. Products wrap (no UB) rather than overflow. */
char *render_items(char *p, const struct dataset *d, size_t count, int64_t mult);

#endif
