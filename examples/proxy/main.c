/* SPDX-License-Identifier: MIT */
/*
 * zerg-proxy: a TCP / Unix-domain proxy on libzerg (see README.md).
 *
 *   zerg-proxy --listen ADDR:PORT --upstream ADDR:PORT [--upstream ...]
 *              [--threads N] [--pin] [--connect-timeout-ms N]
 *              [--idle-timeout-ms N] [--health-check-ms N] [--window BYTES]
 *              [--max-segs N] [--bufs N] [--buf-size B]
 *
 * Addresses: 127.0.0.1:8080, [::1]:8080, unix:/path, unix:@abstract.
 * Prints one line when it listens; SIGINT/SIGTERM stop it (2 s for
 * connections to finish).
 */
#include "cli.h"
#include "proxy.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct zp *proxy;

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s --listen ADDR:PORT --upstream ADDR:PORT [--upstream ...]\n"
		"  --listen ADDR:PORT        where clients connect: 0.0.0.0:8080, [::1]:8080,\n"
		"                            unix:/path or unix:@abstract (port 0: ephemeral)\n"
		"  --upstream ADDR:PORT      a server (same forms); several: round robin\n"
		"  --threads N               reactor threads (default: every allowed CPU)\n"
		"  --pin                     pin reactor threads to CPUs\n"
		"  --connect-timeout-ms N    upstream connect timeout (default 3000)\n"
		"  --idle-timeout-ms N       close a side idle this long (default 60000, 0 off)\n"
		"  --health-check-ms N       connect to every upstream every N ms and skip\n"
		"                            the ones that fail (default 0: off)\n"
		"  --window BYTES            input one side may hold unsent on the other\n"
		"                            (default 262144)\n"
		"  --max-segs N              receive buffers one side may hold (default 64)\n"
		"  --bufs N --buf-size B     provided receive buffers per reactor (power of\n"
		"                            2, default 2048) and their size (default 4096)\n",
		prog);
}

static void on_signal(int sig)
{
	(void)sig;
	zp_stop(proxy, 2000); /* async-signal-safe */
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "threads", required_argument, NULL, 't' },
		{ "pin", no_argument, NULL, 'P' },
		{ "connect-timeout-ms", required_argument, NULL, 'c' },
		{ "idle-timeout-ms", required_argument, NULL, 'i' },
		{ "health-check-ms", required_argument, NULL, 'H' },
		{ "window", required_argument, NULL, 'w' },
		{ "max-segs", required_argument, NULL, 's' },
		{ "bufs", required_argument, NULL, 'b' },
		{ "buf-size", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct zp_config cfg;
	char err[512];
	unsigned long v;
	int opt, ret, bad = 0;

	zp_config_init(&cfg);
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l': cfg.listen = optarg; break;
		case 'u':
			if (cfg.nupstreams == ZP_MAX_UPSTREAMS) {
				fprintf(stderr, "zerg-proxy: at most %d upstreams\n", ZP_MAX_UPSTREAMS);
				return 2;
			}
			cfg.upstreams[cfg.nupstreams++] = optarg;
			break;
		case 't': bad |= cli_uint(optarg, 4096, &v); cfg.threads = (unsigned)v; break;
		case 'P': cfg.pin = true; break;
		case 'c': bad |= cli_uint(optarg, 3600000, &v); cfg.connect_timeout_ms = (unsigned)v; break;
		case 'i': bad |= cli_uint(optarg, 86400000, &v); cfg.idle_timeout_ms = (unsigned)v; break;
		case 'H': bad |= cli_uint(optarg, 3600000, &v); cfg.health_interval_ms = (unsigned)v; break;
		case 'w': bad |= cli_uint(optarg, 1ul << 30, &v); cfg.window = v; break;
		case 's': bad |= cli_uint(optarg, 65536, &v); cfg.max_segs = (unsigned)v; break;
		case 'b': bad |= cli_uint(optarg, 32768, &v); cfg.bufs = (unsigned)v; break;
		case 'B': bad |= cli_uint(optarg, 1u << 20, &v); cfg.buf_size = (unsigned)v; break;
		case 'h': usage(stdout, argv[0]); return 0;
		default: bad = 1;
		}
	}
	if (bad || optind != argc || !cfg.listen || !cfg.nupstreams) {
		usage(stderr, argv[0]);
		return 2;
	}
	ret = zp_new(&cfg, &proxy, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "zerg-proxy: %s\n", err);
		return 1;
	}
	ret = zp_start(proxy);
	if (ret) {
		fprintf(stderr, "zerg-proxy: start: %s\n", zg_strerror(ret));
		zp_free(proxy);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	printf("zerg-proxy listening on %s (port %u), %u threads, %u upstream(s), features 0x%x\n",
	       cfg.listen, zp_port(proxy), zg_server_threads(zp_server(proxy)), cfg.nupstreams,
	       zg_reactor_features(zg_server_reactor(zp_server(proxy), 0)));
	fflush(stdout);
	ret = zp_wait(proxy);
	signal(SIGINT, SIG_DFL); /* the handler must not outlive the proxy */
	signal(SIGTERM, SIG_DFL);
	zp_free(proxy);
	return ret ? 1 : 0;
}
