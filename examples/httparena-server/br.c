/* SPDX-License-Identifier: MIT */
/*
 * brotli through libbrotlienc's streaming API with our own allocator.
 *
 * BrotliEncoderCompress() would do: it creates an encoder (malloc),
 * sets the parameters, runs one FINISH pass of the streaming API and
 * destroys it (free), which is exactly what br_compress() does, except
 * that the encoder's memory comes from a bump arena owned by struct br.
 * brotli's free is a no-op; the arena is reset when the call ends. A
 * call that needs more than the arena holds gets the rest from malloc
 * (kept on a list), and at its end the arena is replaced by one block
 * big enough for the whole call, so the next calls allocate nothing.
 */
#include "br.h"

#include <brotli/encode.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 64 /* the encoder's tables: cache lines, any type */
#define ARENA_MIN (256 * 1024)

struct spill {
	struct spill *next;
	size_t size;
};

struct br {
	int quality, lgwin, mode;
	uint8_t *arena;
	size_t cap, used;
	size_t spilled;       /* bytes malloc'd past the arena this call */
	struct spill *spills; /* those blocks                            */
	int failed;           /* an allocation failed this call          */
	unsigned long grows;
};

static size_t round_up(size_t n)
{
	return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

static void *arena_alloc(void *opaque, size_t size)
{
	struct br *b = opaque;
	size_t n = round_up(size ? size : 1);
	if (n < size) /* wrapped */
		return NULL;
	if (n <= b->cap - b->used) {
		void *p = b->arena + b->used;
		b->used += n;
		return p;
	}
	/* Past the arena: a block of its own, aligned past its header. */
	size_t hdr = round_up(sizeof(struct spill));
	if (n > SIZE_MAX - hdr - ALIGN) {
		b->failed = 1;
		return NULL;
	}
	void *raw;
	if (posix_memalign(&raw, ALIGN, hdr + n)) {
		b->failed = 1;
		return NULL;
	}
	struct spill *s = raw;
	s->next = b->spills;
	s->size = n;
	b->spills = s;
	b->spilled += n;
	return (uint8_t *)raw + hdr;
}

static void arena_free(void *opaque, void *p)
{
	(void)opaque;
	(void)p; /* everything goes at once when the call ends */
}

/* The call is over: forget its allocations; if it spilled, make the
 * arena hold what the whole call needed. */
static void arena_reset(struct br *b)
{
	size_t need = b->used + b->spilled;
	while (b->spills) {
		struct spill *s = b->spills;
		b->spills = s->next;
		free(s);
	}
	if (b->spilled) {
		void *p;
		size_t cap = round_up(need + need / 8);
		if (!posix_memalign(&p, ALIGN, cap)) {
			free(b->arena);
			b->arena = p;
			b->cap = cap;
			b->grows++;
		}
	}
	b->used = 0;
	b->spilled = 0;
	b->failed = 0;
}

struct br *br_new(int quality, int lgwin, enum br_mode mode)
{
	struct br *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	if (quality < BROTLI_MIN_QUALITY)
		quality = BROTLI_MIN_QUALITY;
	if (quality > BROTLI_MAX_QUALITY)
		quality = BROTLI_MAX_QUALITY;
	if (lgwin < BROTLI_MIN_WINDOW_BITS)
		lgwin = BROTLI_MIN_WINDOW_BITS;
	if (lgwin > BROTLI_MAX_WINDOW_BITS)
		lgwin = BROTLI_MAX_WINDOW_BITS;
	b->quality = quality;
	b->lgwin = lgwin;
	b->mode = mode == BR_MODE_TEXT ? BROTLI_MODE_TEXT : BROTLI_MODE_GENERIC;
	void *p;
	if (posix_memalign(&p, ALIGN, ARENA_MIN)) {
		free(b);
		return NULL;
	}
	b->arena = p;
	b->cap = ARENA_MIN;
	return b;
}

void br_free(struct br *b)
{
	if (!b)
		return;
	arena_reset(b);
	free(b->arena);
	free(b);
}

size_t br_bound(size_t n)
{
	return BrotliEncoderMaxCompressedSize(n);
}

size_t br_stored_bound(size_t n)
{
	/* Stream header and an empty metadata block (2), per meta-block of
	 * at most 16 MiB a header of up to 4, the last empty one (1). */
	size_t blocks = n / (1u << 24) + 1;
	return n + 3 + 4 * blocks;
}

/* What brotli's own encoder emits when compressing does not pay
 * (MakeUncompressedStream in its encode.c): window 10, an empty
 * metadata block to reach a byte boundary, ISUNCOMPRESSED meta-blocks,
 * then ISLAST + ISLASTEMPTY. */
size_t br_stored(const void *in, size_t n, void *out)
{
	const uint8_t *src = in;
	uint8_t *o = out;
	size_t r = 0;
	if (n == 0) {
		o[0] = 6; /* lgwin 16, ISLAST, ISLASTEMPTY */
		return 1;
	}
	o[r++] = 0x21; /* WBITS for lgwin 10, ISLAST = 0 */
	o[r++] = 0x03; /* MNIBBLES = 0: metadata, MSKIPBYTES = 0, padding */
	while (n) {
		uint32_t chunk = n > (1u << 24) ? (1u << 24) : (uint32_t)n;
		uint32_t nibbles = chunk > (1u << 16) ? (chunk > (1u << 20) ? 2 : 1) : 0;
		/* ISLAST 0, MNIBBLES - 4, MLEN - 1, ISUNCOMPRESSED 1 */
		uint32_t bits = (nibbles << 1) | ((chunk - 1) << 3) | (1u << (19 + 4 * nibbles));
		o[r++] = (uint8_t)bits;
		o[r++] = (uint8_t)(bits >> 8);
		o[r++] = (uint8_t)(bits >> 16);
		if (nibbles == 2)
			o[r++] = (uint8_t)(bits >> 24);
		memcpy(o + r, src, chunk);
		r += chunk;
		src += chunk;
		n -= chunk;
	}
	o[r++] = 3; /* ISLAST, ISLASTEMPTY */
	return r;
}

size_t br_compress(struct br *b, const void *in, size_t n, void *out, size_t cap)
{
	if (cap == 0)
		return 0;
	BrotliEncoderState *s = BrotliEncoderCreateInstance(arena_alloc, arena_free, b);
	size_t total = 0;
	int ok = 0;
	if (s) {
		size_t avail_in = n, avail_out = cap;
		const uint8_t *next_in = in;
		uint8_t *next_out = out;
		BrotliEncoderSetParameter(s, BROTLI_PARAM_QUALITY, (uint32_t)b->quality);
		BrotliEncoderSetParameter(s, BROTLI_PARAM_LGWIN, (uint32_t)b->lgwin);
		BrotliEncoderSetParameter(s, BROTLI_PARAM_MODE, (uint32_t)b->mode);
		/* As BrotliEncoderCompress: the size picks the hasher and
		 * lets a small input skip clearing whole tables. */
		BrotliEncoderSetParameter(s, BROTLI_PARAM_SIZE_HINT,
					  n > (1u << 30) ? (1u << 30) : (uint32_t)n);
		ok = BrotliEncoderCompressStream(s, BROTLI_OPERATION_FINISH, &avail_in, &next_in,
						 &avail_out, &next_out, &total) &&
		     BrotliEncoderIsFinished(s) && !b->failed;
		BrotliEncoderDestroyInstance(s);
	}
	int oom = b->failed || !s;
	arena_reset(b);
	if (ok)
		return total;
	/* Out of room (incompressible input): stored, if it fits. */
	if (!oom && cap >= br_stored_bound(n))
		return br_stored(in, n, out);
	return 0;
}

size_t br_arena_bytes(const struct br *b)
{
	return b->cap;
}

unsigned long br_arena_grows(const struct br *b)
{
	return b->grows;
}

const char *br_name(void)
{
	return "brotli";
}
