/* SPDX-License-Identifier: MIT */
/*
 * zerg-proxy's core: a TCP (and Unix-domain) proxy on libzerg, usable
 * from a program (examples/proxy/main.c) or in-process by a test.
 *
 * One zg_server (a reactor per thread, a SO_REUSEPORT listener each);
 * every accepted client gets its own upstream connection, opened with
 * zg_reactor_connect on the client's reactor from on_open, upstreams
 * taken in round robin (skipping those a health check found down).
 * Bytes move by reference: a segment of one side's input is queued on
 * the other side with zg_conn_write_ref and consumed (zg_conn_advance)
 * when its release callback says the kernel has sent it. See README.md.
 */
#ifndef ZERG_PROXY_H
#define ZERG_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <zerg.h>

#define ZP_MAX_UPSTREAMS 64

struct zp_config {
	const char *listen;            /* "ADDR:PORT", "[V6]:PORT", "unix:PATH",
	                                * "unix:@NAME"                        */
	const char *upstreams[ZP_MAX_UPSTREAMS]; /* same forms            */
	unsigned nupstreams;
	unsigned threads;              /* 0: one per allowed CPU            */
	bool pin;                      /* pin reactor i to the i-th CPU     */
	unsigned connect_timeout_ms;   /* default 3000                      */
	unsigned idle_timeout_ms;      /* both sides; default 60000, 0 none */
	unsigned health_interval_ms;   /* 0 (default): no health check      */
	size_t window;                 /* per side: input held until the
	                                * other side has sent it (the
	                                * reactor's max_input); 256 KiB      */
	unsigned max_segs;             /* per side: ring buffers held before
	                                * reading pauses; default 64         */
	unsigned bufs, buf_size;       /* provided buffers per reactor:
	                                * 2048, and libzerg's 4 KiB size
	                                * (0: libzerg's defaults)            */
	/* Optional starting point for the reactor config (tests: the
	 * receive mode); the settings above are applied on top. */
	const struct zg_reactor_config *reactor;
};

/* Counters, summed over the reactors. */
struct zp_stats {
	uint64_t clients;         /* accepted clients                        */
	uint64_t connected;       /* upstream connects that completed         */
	uint64_t connect_failed;  /* connects refused, timed out, or failing
	                           * at once                                 */
	uint64_t no_upstream;     /* clients closed: every upstream down      */
	uint64_t pairs_closed;    /* pairs whose both sides are gone          */
	uint64_t aborted;         /* sides closed with RST for the other's
	                           * error or reset                          */
	uint64_t bytes[2];        /* client->upstream, upstream->client       */
	uint64_t refs;            /* write_ref batches queued                 */
	uint64_t pauses;          /* reads paused for the segment limit       */
	uint64_t held_now;        /* input bytes referenced right now         */
	uint64_t held_max;        /* most held by one side at any time        */
	unsigned pairs_open;
	unsigned up_healthy;      /* upstreams currently marked up            */
};

struct zp;

void zp_config_init(struct zp_config *cfg);

/* Parse "ADDR:PORT", "[V6]:PORT", "unix:PATH" or "unix:@NAME" into *ss.
 * Returns 0 or -EINVAL. */
int zp_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* Bind the listener(s) (the port is known at once), start nothing.
 * On error, err (if not NULL) says why. */
int zp_new(const struct zp_config *cfg, struct zp **out, char *err, size_t errlen);
int zp_start(struct zp *p);
/* Thread- and async-signal-safe. */
void zp_stop(struct zp *p, unsigned deadline_ms);
int zp_wait(struct zp *p);
void zp_free(struct zp *p);

uint16_t zp_port(const struct zp *p);
struct zg_server *zp_server(const struct zp *p);
/* Any thread; after zp_start. 0 or -errno. */
int zp_stats(struct zp *p, struct zp_stats *st);

#endif
