/* SPDX-License-Identifier: MIT */
/* The provided-buffer ring. Set up by hand (mmap + io_uring_register_buf_ring)
 * because liburing 2.3 has no io_uring_setup_buf_ring, and because manual
 * registration is the way to pass ring flags on old liburing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

static int alloc_arrays(struct zg_bufring *b, bool inc)
{
	b->pos = calloc(b->count, sizeof(*b->pos));
	if (inc) {
		b->off = calloc(b->count, sizeof(*b->off));
		b->refs = calloc(b->count, sizeof(*b->refs));
		b->kdone = calloc(b->count, sizeof(*b->kdone));
	}
	if (!b->pos || (inc && (!b->off || !b->refs || !b->kdone)))
		return -ENOMEM;
	return 0;
}

int zg_bufring_init(struct zg_bufring *b, struct io_uring *ring,
		    unsigned count, unsigned size, uint16_t bgid, bool inc)
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
	/* A 16 MiB slab in 4 KiB pages costs a TLB miss on nearly every
	 * buffer the kernel fills; huge pages where THP allows. */
	madvise(b->slab, (size_t)count * size, MADV_HUGEPAGE);
	b->count = count;
	b->size = size;
	b->mask = io_uring_buf_ring_mask(count);
	b->bgid = bgid;
	io_uring_buf_ring_init(b->br);
	ret = alloc_arrays(b, inc);
	if (ret) {
		zg_bufring_free(b, NULL);
		return ret;
	}

	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)b->br;
	reg.ring_entries = count;
	reg.bgid = bgid;
	/* liburing 2.3 calls the kernel's flags field pad[0] */
	if (inc)
		memcpy(&reg.pad, &(uint16_t){ IOU_PBUF_RING_INC }, sizeof(uint16_t));
	ret = io_uring_register_buf_ring(ring, &reg, 0);
	if (ret) {
		zg_bufring_free(b, NULL);
		return ret;
	}
	b->inc = inc;
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
	free(b->pos);
	free(b->off);
	free(b->refs);
	free(b->kdone);
	b->br = NULL;
	b->slab = NULL;
	b->pos = NULL;
	b->off = NULL;
	b->refs = NULL;
	b->kdone = NULL;
}

/* Bundle: the kernel filled whole buffers in ring order from bid on, so
 * slice k is the k-th ring entry after bid's. No buffer in that range can
 * have been handed back yet (we hold them), so the entries are intact.
 * Incremental: the slice starts where the kernel's last fill of bid
 * ended; without IORING_CQE_F_BUF_MORE the kernel is done with it. */
unsigned zg_bufring_slice(struct zg_bufring *b, unsigned bid, unsigned k,
			  int res, unsigned cqe_flags, uint8_t **p, unsigned *len)
{
	if (b->bundle) {
		if (k)
			bid = b->br->bufs[(b->pos[bid] + k) & b->mask].bid;
		*p = zg_bufring_addr(b, bid);
		*len = (unsigned)res - k * b->size < b->size ? (unsigned)res - k * b->size : b->size;
		b->free--;
	} else if (b->inc) {
		*p = zg_bufring_addr(b, bid) + b->off[bid];
		*len = (unsigned)res;
		b->off[bid] += (unsigned)res;
		b->refs[bid]++;
		if (!(cqe_flags & IORING_CQE_F_BUF_MORE)) {
			b->kdone[bid] = 1;
			b->free--;
		}
	} else {
		*p = zg_bufring_addr(b, bid);
		*len = (unsigned)res;
		b->free--;
	}
	return bid;
}

/* Give back every buffer slice of a recv CQE nobody will read (a closing
 * connection's input, a CQE for a connection that is gone). */
void zg_bufring_drop(struct zg_bufring *b, unsigned bid, int res, unsigned cqe_flags)
{
	unsigned n = zg_bufring_nslices(b, res);

	for (unsigned k = 0; k < n; k++) {
		uint8_t *p;
		unsigned len;
		zg_bufring_release(b, zg_bufring_slice(b, bid, k, res, cqe_flags, &p, &len));
	}
}
