/* SPDX-License-Identifier: MIT */
/*
 * gzip (RFC 1952) at level 1, one whole buffer per call. Backed by ISA-L
 * igzip: measured about 2x faster than libdeflate and 4x faster than
 * zlib on the /compression document at a similar size (see
 * docs/gzip-choice.md and tests/httparena/gzip_bench.c).
 */
#ifndef GZ_H
#define GZ_H

#include <stddef.h>

struct gz;

struct gz *gz_new(void); /* per thread: holds the level-1 work buffer */
void gz_free(struct gz *z);
/* Worst-case output bytes for n input bytes. */
size_t gz_bound(size_t n);
/* Compress in[0..n) into out[0..cap): returns the gzip size, or 0. */
size_t gz_compress(struct gz *z, const void *in, size_t n, void *out, size_t cap);
const char *gz_name(void);

#endif
