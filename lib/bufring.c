/* SPDX-License-Identifier: MIT */
/* The provided-buffer ring. Set up by hand (mmap + io_uring_register_buf_ring)
 * because liburing 2.3 has no io_uring_setup_buf_ring, and because manual
 * registration is the way to pass ring flags on old liburing. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

int zg_bufring_init(struct zg_bufring *b, struct io_uring *ring,
		    unsigned count, unsigned size, uint16_t bgid)
{
	struct io_uring_buf_reg reg;
	size_t ring_bytes = (size_t)count * sizeof(struct io_uring_buf);
	int ret;

	memset(b, 0, sizeof(*b));
	if (!count || (count & (count - 1)) || count > 32768 || size < 64)
		return -EINVAL;
	b->br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->br == MAP_FAILED) {
		b->br = NULL;
		return -ENOMEM;
	}
	b->slab = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->slab == MAP_FAILED) {
		b->slab = NULL;
		munmap(b->br, ring_bytes);
		b->br = NULL;
		return -ENOMEM;
	}
	b->count = count;
	b->size = size;
	b->mask = io_uring_buf_ring_mask(count);
	b->bgid = bgid;
	io_uring_buf_ring_init(b->br);

	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)b->br;
	reg.ring_entries = count;
	reg.bgid = bgid;
	ret = io_uring_register_buf_ring(ring, &reg, 0);
	if (ret) {
		zg_bufring_free(b, NULL);
		return ret;
	}
	for (unsigned i = 0; i < count; i++)
		zg_bufring_put(b, i);
	zg_bufring_publish(b);
	return 0;
}

void zg_bufring_free(struct zg_bufring *b, struct io_uring *ring)
{
	if (ring && b->br)
		io_uring_unregister_buf_ring(ring, b->bgid);
	if (b->br)
		munmap(b->br, (size_t)b->count * sizeof(struct io_uring_buf));
	if (b->slab)
		munmap(b->slab, (size_t)b->count * b->size);
	b->br = NULL;
	b->slab = NULL;
}
