/* The shortest correct libzerg server: echo every byte back.
 * Usage: zerg-echo [--port N] [--threads N] [--bufs N] [--no-bundle] [--inc]
 *                  [--tls CERT KEY [--alpn LIST]]
 * (port 0: ephemeral; --bufs: ring buffers, 256 here; --no-bundle: one
 * buffer per recv; --inc: incremental buffers where the kernel has them;
 * --tls: TLS only, with that PEM certificate and key, offering the ALPN
 * protocols of LIST, e.g. h2,http/1.1) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zerg.h>

#include "run.h"

static void on_data(struct zg_conn *c)
{
	struct zg_read_view v;

	zg_conn_read(c, &v);
	for (unsigned i = 0; i < v.nsegs; i++)
		if (zg_conn_write(c, v.segs[i].iov_base, v.segs[i].iov_len)) {
			zg_conn_close(c, ZG_CLOSE_ABORT);
			return;
		}
	zg_conn_advance(c, v.len, v.len);
}

int main(int argc, char **argv)
{
	struct zg_server_config cfg;
	struct zg_handler h = { .on_data = on_data };

	struct zg_tls_config tc;
	struct zg_tls *tls = NULL;
	int ret;

	zg_server_config_init(&cfg);
	zg_tls_config_init(&tc);
	/* Echo consumes every byte in the callback that sees it, so the ring
	 * only has to cover one loop iteration's receives; a 1 MiB ring
	 * stays in cache where the default 16 MiB does not (4096
	 * connections, depth 16: 0.95x the CPU per message, 7 paired runs;
	 * docs/benchmarks.md). */
	cfg.reactor.buf_count = 256;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-bundle"))
			cfg.reactor.flags &= ~ZG_RF_RECV_BUNDLE;
		else if (!strcmp(argv[i], "--inc"))
			cfg.reactor.flags |= ZG_RF_BUF_INC;
		else if (i + 1 == argc)
			break;
		else if (!strcmp(argv[i], "--port"))
			cfg.port = (uint16_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--threads"))
			cfg.threads = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--bufs"))
			cfg.reactor.buf_count = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--alpn"))
			tc.alpn = argv[++i];
		else if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
			tc.cert_file = argv[++i];
			tc.key_file = argv[++i];
		}
	}
	if (tc.cert_file && zg_tls_new(&tc, &tls)) {
		fprintf(stderr, "zerg-echo: TLS: %s\n", zg_tls_error());
		return 1;
	}
	cfg.tls = tls;
	cfg.listen_flags |= ZG_LISTEN_TLS_ONLY;
	ret = run_server("zerg-echo", &cfg, &h);
	zg_tls_free(tls);
	return ret;
}
