/* SPDX-License-Identifier: MIT */
#include "gz.h"

#include <isa-l/igzip_lib.h>
#include <stdint.h>
#include <stdlib.h>

struct gz {
	struct isal_zstream s;
	uint8_t level_buf[ISAL_DEF_LVL1_DEFAULT];
};

struct gz *gz_new(void)
{
	return malloc(sizeof(struct gz));
}

void gz_free(struct gz *z)
{
	free(z);
}

size_t gz_bound(size_t n)
{
	/* zlib's compressBound() plus the gzip header and trailer: stored
	 * blocks are the worst case of every deflate encoder. */
	return n + (n >> 12) + (n >> 14) + (n >> 25) + 13 + 18 + 64;
}

size_t gz_compress(struct gz *z, const void *in, size_t n, void *out, size_t cap)
{
	struct isal_zstream *s = &z->s;
	if (n > UINT32_MAX || cap > UINT32_MAX)
		return 0;
	isal_deflate_init(s);
	s->level = 1;
	s->level_buf = z->level_buf;
	s->level_buf_size = sizeof(z->level_buf);
	s->gzip_flag = IGZIP_GZIP;
	s->end_of_stream = 1;
	s->flush = NO_FLUSH;
	s->next_in = (uint8_t *)(uintptr_t)in;
	s->avail_in = (uint32_t)n;
	s->next_out = out;
	s->avail_out = (uint32_t)cap;
	if (isal_deflate(s) != COMP_OK || s->avail_in || s->internal_state.state != ZSTATE_END)
		return 0;
	return s->total_out;
}

const char *gz_name(void)
{
	return "isa-l";
}
