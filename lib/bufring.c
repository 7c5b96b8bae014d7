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
#ifdef ZG_BUFRING_CHECKS
	/* held until the first put hands each one to the kernel */
	b->owner = malloc(b->count);
	if (!b->owner)
		return -ENOMEM;
	memset(b->owner, BO_HELD, b->count);
#endif
	return 0;
}

int zg__bufring_init(struct zg_bufring *b, struct io_uring *ring,
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
		zg__bufring_free(b, NULL);
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
		zg__bufring_free(b, NULL);
		return ret;
	}
	b->inc = inc;
	for (unsigned i = 0; i < count; i++)
		zg__bufring_put(b, i);
	zg__bufring_publish(b);
	return 0;
}

void zg__bufring_free(struct zg_bufring *b, struct io_uring *ring)
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
	free(b->owner);
	b->owner = NULL;
	b->br = NULL;
	b->slab = NULL;
	b->pos = NULL;
	b->off = NULL;
	b->refs = NULL;
	b->kdone = NULL;
}

void zg__bufring_rx_begin(struct zg_bufring *b, struct zg_rxbufs *it,
			 unsigned bid, int res, unsigned cqe_flags)
{
	it->bid = bid;
	it->first = b->bundle ? b->pos[bid] : 0;
	it->k = 0;
	it->n = b->bundle ? ((unsigned)res + b->size - 1) / b->size : 1;
	it->res = res;
	it->flags = cqe_flags;
}

/* Bundle: the kernel filled whole buffers in ring order from the first
 * one's position on, so slice k is the k-th ring entry after it. Those
 * entries are intact: a give-back overwrites the oldest ring entry, and
 * CQEs are taken in the order the kernel consumed the ring, so the
 * entries of a CQE being taken are never the oldest ones left.
 * Incremental: the slice starts where the kernel's last fill of bid
 * ended; without IORING_CQE_F_BUF_MORE the kernel is done with it. */
bool zg__bufring_rx_next(struct zg_bufring *b, struct zg_rxbufs *it,
			unsigned *bid, uint8_t **p, unsigned *len)
{
	unsigned id = it->bid, k = it->k, left;

	if (k == it->n)
		return false;
	it->k++;
	if (b->bundle) {
		if (k)
			id = b->br->bufs[(uint16_t)(it->first + k) & b->mask].bid;
		left = (unsigned)it->res - k * b->size;
		*p = zg__bufring_addr(b, id);
		*len = left < b->size ? left : b->size;
		b->free--;
	} else if (b->inc) {
		*p = zg__bufring_addr(b, id) + b->off[id];
		*len = (unsigned)it->res;
		b->off[id] += (unsigned)it->res;
		b->refs[id]++;
		if (!(it->flags & IORING_CQE_F_BUF_MORE)) {
			b->kdone[id] = 1;
			b->free--;
		}
	} else {
		*p = zg__bufring_addr(b, id);
		*len = (unsigned)it->res;
		b->free--;
	}
	zg__bufring_check_take(b, id);
	*bid = id;
	return true;
}

/* Give back every buffer slice of a recv CQE nobody will read (a closing
 * connection's input, a CQE for a connection that is gone). */
void zg__bufring_drop(struct zg_bufring *b, unsigned bid, int res, unsigned cqe_flags)
{
	struct zg_rxbufs it;
	unsigned id, len;
	uint8_t *p;

	zg__bufring_rx_begin(b, &it, bid, res, cqe_flags);
	while (zg__bufring_rx_next(b, &it, &id, &p, &len))
		zg__bufring_release(b, id);
}

#ifdef ZG_BUFRING_CHECKS
#include <stdio.h>

static const char *owner_name(uint8_t o)
{
	return o == BO_KERNEL ? "the kernel" : o == BO_HELD ? "a connection" : "staged";
}

static void check_fail(const struct zg_bufring *b, unsigned bid, const char *what)
{
	fprintf(stderr, "libzerg bufring check: %s: buffer %u of %u (owner: %s)\n",
		what, bid, b->count, bid < b->count ? owner_name(b->owner[bid]) : "none");
	abort();
}

/* A recv CQE named bid: the kernel must have had it. In incremental
 * mode the kernel fills it over several CQEs and it is held only once
 * the kernel has moved past it. */
void zg__bufring_check_take(struct zg_bufring *b, unsigned bid)
{
	if (bid >= b->count)
		check_fail(b, bid, "a recv names a buffer out of range");
	if (b->owner[bid] != BO_KERNEL)
		check_fail(b, bid, "a recv names a buffer that is not the kernel's");
	if (!b->inc || b->kdone[bid])
		b->owner[bid] = BO_HELD;
}

void zg__bufring_check_release(const struct zg_bufring *b, unsigned bid)
{
	if (bid >= b->count || !b->refs[bid])
		check_fail(b, bid, "give-back of a slice not held");
}

void zg__bufring_check_put(struct zg_bufring *b, unsigned bid)
{
	if (bid >= b->count)
		check_fail(b, bid, "give-back of a buffer out of range");
	if (b->owner[bid] == BO_STAGED)
		check_fail(b, bid, "double give-back");
	if (b->owner[bid] != BO_HELD)
		check_fail(b, bid, "give-back of a buffer not held");
	b->owner[bid] = BO_STAGED;
}

void zg__bufring_check_publish(struct zg_bufring *b)
{
	for (unsigned i = 0; i < b->staged; i++) {
		unsigned bid = b->br->bufs[(uint16_t)(b->br->tail + i) & b->mask].bid;
		if (b->owner[bid] != BO_STAGED)
			check_fail(b, bid, "publish of a buffer not staged");
		b->owner[bid] = BO_KERNEL;
	}
}

/* No connection is left: every buffer is the kernel's or staged. */
void zg__bufring_check_idle(const struct zg_bufring *b)
{
	for (unsigned i = 0; i < b->count; i++)
		if (b->owner[i] == BO_HELD || (b->inc && b->refs[i]))
			check_fail(b, i, "a buffer is still held with no connection left");
}
#endif
