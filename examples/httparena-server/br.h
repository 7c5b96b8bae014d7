/* SPDX-License-Identifier: MIT */
/*
 * brotli (RFC 7932), one whole buffer per call, at a quality and window
 * fixed per encoder. Backed by libbrotlienc; the encoder's memory comes
 * from an arena the struct br owns, so a call allocates nothing once
 * the arena has grown to what the setting needs (the first call or
 * two). The setting json-comp uses and why: docs/json-comp-choice.md
 * (tests/httparena/brotli_bench.c).
 */
#ifndef BR_H
#define BR_H

#include <stddef.h>

/* BROTLI_MODE_GENERIC / BROTLI_MODE_TEXT, without brotli's header. */
enum br_mode { BR_MODE_GENERIC = 0, BR_MODE_TEXT = 1 };

struct br;

/* Per thread. quality 0..11, lgwin 10..24 (out of range: clamped);
 * NULL when out of memory. */
struct br *br_new(int quality, int lgwin, enum br_mode mode);
void br_free(struct br *b);
/* Worst-case output bytes for n input bytes (BrotliEncoderMaxCompressedSize;
 * 0 if n is too large to say). */
size_t br_bound(size_t n);
/* Compress in[0..n) into out[0..cap): returns the brotli size, or 0
 * (cap too small, or out of memory). With cap >= br_bound(n) it fails
 * only when out of memory: output that does not fit is sent as stored
 * (uncompressed) meta-blocks instead. */
size_t br_compress(struct br *b, const void *in, size_t n, void *out, size_t cap);
/* Bytes the encoder's arena holds (what a reactor pays for it). */
size_t br_arena_bytes(const struct br *b);
/* How many calls had to grow the arena (malloc): 0 or 1 in steady state. */
unsigned long br_arena_grows(const struct br *b);
const char *br_name(void);

/* A valid brotli stream that stores in[0..n) uncompressed: what
 * br_compress falls back to. Needs br_stored_bound(n) bytes at out;
 * returns the size. Exposed for the tests. */
size_t br_stored(const void *in, size_t n, void *out);
size_t br_stored_bound(size_t n);

#endif
