/* SPDX-License-Identifier: MIT */
/*
 * A fake of the few libzerg calls ws_conn.c makes, to run the driver
 * without a ring: the test hands a connection input as segments (each
 * in a block of exactly its size, so AddressSanitizer sees any read past
 * one), the driver's output goes into one growing buffer, reservations
 * are blocks of exactly the size asked, and write_ref releases wait
 * until the test says the "kernel" is done.
 */
#ifndef FAKE_ZG_H
#define FAKE_ZG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "zerg.h"

#define FZ_SEGS 70000
#define FZ_REFS 64

enum { FZ_OPEN = 0, FZ_GRACEFUL, FZ_ABORT };

struct zg_conn {
	struct iovec *segs;   /* the unconsumed input, FZ_SEGS at most  */
	uint8_t **blocks;     /* each segment's block (segs may start inside) */
	unsigned nsegs;
	size_t in_len;
	bool eof;
	unsigned advances;    /* zg_conn_advance calls                   */
	uint8_t *out;         /* every byte queued                       */
	size_t out_len, out_cap;
	size_t max_output;    /* 0: no limit; else a write past it fails */
	uint8_t *res;         /* the open reservation                    */
	size_t res_len;
	int closed;           /* FZ_OPEN, FZ_GRACEFUL, FZ_ABORT          */
	struct {
		void (*release)(void *);
		void *arg;
	} refs[FZ_REFS];
	unsigned nrefs;
};

void fz_init(struct zg_conn *c);
/* Append p[0..n) as one more segment of the input. */
void fz_push(struct zg_conn *c, const void *p, size_t n);
/* Run the write_ref releases (the kernel is done with them). */
void fz_release(struct zg_conn *c);
/* Release everything, including unconsumed input. */
void fz_free(struct zg_conn *c);

#endif
