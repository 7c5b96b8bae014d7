/* SPDX-License-Identifier: MIT */
/* What every small example server does after filling its config: start,
 * stop gracefully on SIGINT/SIGTERM, wait, free. */
#ifndef EXAMPLE_RUN_H
#define EXAMPLE_RUN_H

#include <signal.h>
#include <stdio.h>
#include <zerg.h>

static struct zg_server *run_server_s;

static void run_server_on_signal(int sig)
{
	(void)sig;
	zg_server_stop(run_server_s, 2000); /* async-signal-safe */
}

/* Serve until a signal; one line on stdout once listening. 0 or 1. */
static inline int run_server(const char *name, const struct zg_server_config *cfg,
			     const struct zg_handler *h)
{
	int ret = zg_server_new(cfg, h, NULL, &run_server_s);

	if (!ret)
		ret = zg_server_start(run_server_s);
	if (ret) {
		fprintf(stderr, "%s: %s\n", name, zg_strerror(ret));
		return 1;
	}
	signal(SIGINT, run_server_on_signal);
	signal(SIGTERM, run_server_on_signal);
	printf("%s listening on port %u with %u threads, features 0x%x\n", name,
	       zg_server_port(run_server_s), zg_server_threads(run_server_s),
	       zg_reactor_features(zg_server_reactor(run_server_s, 0)));
	fflush(stdout);
	ret = zg_server_wait(run_server_s);
	signal(SIGINT, SIG_DFL); /* the handler must not outlive the server */
	signal(SIGTERM, SIG_DFL);
	zg_server_free(run_server_s);
	return ret ? 1 : 0;
}

#endif
