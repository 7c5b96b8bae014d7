/* A pipelined line protocol on the pipe reader. Each request is one line:
 *   PING          -> PONG
 *   ECHO <text>   -> <text>
 *   SUM <n> <n>.. -> the sum
 *   QUIT          -> BYE, then the connection closes
 * Every complete line in the input is answered in one pass (pipelining),
 * and a line split over reads is picked up where the search stopped:
 * `examined` tells the library not to call back until more bytes come.
 * Usage: zerg-lines [--port N] [--threads N] */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zerg.h>

#include "run.h"

#define MAX_LINE 8192

static void reply(struct zg_conn *c, const char *line, size_t len)
{
	char out[32];

	if (len && line[len - 1] == '\r')
		len--;
	if (len == 4 && !memcmp(line, "PING", 4)) {
		zg_conn_write(c, "PONG\n", 5);
	} else if (len >= 5 && !memcmp(line, "ECHO ", 5)) {
		zg_conn_write(c, line + 5, len - 5);
		zg_conn_write(c, "\n", 1);
	} else if (len >= 4 && !memcmp(line, "SUM ", 4)) {
		int64_t sum = 0;
		char buf[MAX_LINE + 1], *p = buf, *end;
		memcpy(buf, line + 4, len - 4);
		buf[len - 4] = 0;
		for (;;) {
			long long n = strtoll(p, &end, 10);
			if (end == p)
				break;
			sum += n;
			p = end;
		}
		zg_conn_write(c, out, (size_t)snprintf(out, sizeof(out), "%" PRId64 "\n", sum));
	} else if (len == 4 && !memcmp(line, "QUIT", 4)) {
		zg_conn_write(c, "BYE\n", 4);
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
	} else {
		zg_conn_write(c, "ERR\n", 4);
	}
}

static void on_data(struct zg_conn *c)
{
	struct zg_read_view v;
	/* Where the last call stopped searching: input only grows at the
	 * end, so a long line arriving in pieces is scanned once. Kept in
	 * the connection's udata, the only state this protocol needs. */
	size_t searched = (uintptr_t)zg_conn_udata(c);

	zg_conn_set_udata(c, NULL);
	if (zg_conn_read(c, &v)) {
		zg_conn_close(c, ZG_CLOSE_ABORT);
		return;
	}
	while (v.len) {
		const uint8_t *line;
		ssize_t nl = zg_view_find(&v, searched, '\n');
		if (nl < 0) {
			if (v.len > MAX_LINE) {
				zg_conn_write(c, "ERR line too long\n", 18);
				zg_conn_close(c, ZG_CLOSE_GRACEFUL);
				return;
			}
			zg_conn_set_udata(c, (void *)(uintptr_t)v.len);
			zg_conn_advance(c, 0, v.len); /* wait for more bytes */
			return;
		}
		/* in place unless the line straddles two buffers */
		if (nl > MAX_LINE || zg_conn_contig(c, (size_t)nl + 1, &line)) {
			zg_conn_close(c, ZG_CLOSE_ABORT);
			return;
		}
		reply(c, (const char *)line, (size_t)nl);
		zg_conn_advance(c, (size_t)nl + 1, (size_t)nl + 1);
		if (zg_conn_read(c, &v)) {
			zg_conn_close(c, ZG_CLOSE_ABORT);
			return;
		}
		searched = 0;
	}
}

int main(int argc, char **argv)
{
	struct zg_server_config cfg;
	struct zg_handler h = { .on_data = on_data };

	zg_server_config_init(&cfg);
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			cfg.port = (uint16_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--threads"))
			cfg.threads = (unsigned)atoi(argv[i + 1]);
	}
	return run_server("zerg-lines", &cfg, &h);
}
