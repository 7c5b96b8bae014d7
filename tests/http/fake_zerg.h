/* SPDX-License-Identifier: MIT */
/*
 * A fake of the part of libzerg that examples/http uses, for testing the
 * layer's request/response state machine without a ring: a connection's
 * input is a byte array cut into segments where the test says (so heads
 * and bodies straddle "ring buffers"), its output is one growing buffer,
 * and the test decides what the "kernel" has taken (zg_conn_pending).
 * fake_pump() calls on_data the way libzerg does: while there is input
 * beyond what was examined (or an end of stream not yet seen) and the
 * connection reads.
 */
#ifndef FAKE_ZERG_H
#define FAKE_ZERG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "zerg.h"

#define FAKE_IN_MAX  (1u << 20)
#define FAKE_CUTS    4096

struct zg_reactor {
	void *udata;
	uint64_t now_ms;
	struct { void (*fn)(void *); void *arg; } posts[16];
	unsigned nposts;
	struct zg_timer *timer;
};

struct zg_timer {
	struct zg_reactor *r;
	zg_timer_fn cb;
	void *arg;
	uint64_t timeout_ms, repeat_ms;
	bool active;
};

struct zg_conn {
	struct zg_reactor *r;
	void *udata;
	uint8_t *in;                  /* unconsumed input: in[0..in_len)  */
	size_t in_len;
	size_t cuts[FAKE_CUTS];       /* segment ends inside the input     */
	unsigned ncuts;
	struct iovec segs[FAKE_CUTS + 1];
	size_t examined;
	bool eof, eof_seen;
	bool paused;
	char *out;                    /* every byte queued                 */
	size_t out_len, out_cap;
	size_t taken;                 /* bytes the "kernel" took           */
	size_t max_output;            /* pending past it: -ENOBUFS         */
	size_t reserved;              /* open reservation                  */
	int closed;                   /* 0, FAKE_GRACEFUL, FAKE_ABORT       */
	bool freed;                   /* on_close ran                      */
	unsigned timeout_ms, deadline_ms;
	bool busy;                    /* zg_conn_set_busy                  */
	unsigned contigs;             /* zg_conn_contig calls that copied  */
	unsigned data_calls;
};

enum { FAKE_OPEN = 0, FAKE_GRACEFUL = 1, FAKE_ABORT = 2 };

/* A connection on r, opened through handler->on_open. */
void fake_open(struct zg_conn *c, struct zg_reactor *r, const struct zg_handler *handler);
/* Append input; `seg` > 0 cuts it into segments of that many bytes. */
void fake_input(struct zg_conn *c, const void *p, size_t n, size_t seg);
/* Call on_data while libzerg would (and run posted functions). */
void fake_pump(struct zg_conn *c, const struct zg_handler *handler);
/* The "kernel" takes all queued output; on_drain if it was above half
 * of max_output, as libzerg does. */
void fake_drain(struct zg_conn *c, const struct zg_handler *handler);
/* on_close if not closed yet, and free what the fake holds. */
void fake_close(struct zg_conn *c, const struct zg_handler *handler);
/* Output from `from` as a string (the test's copy; free it). */
char *fake_output(const struct zg_conn *c, size_t from);

#endif
