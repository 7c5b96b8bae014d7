/* SPDX-License-Identifier: MIT */
/*
 * httparena-server: an HttpArena HTTP/1.1 entry on libzerg.
 *
 *   httparena-server [--port N] [--host ADDR] [--threads N] [--data DIR]
 *                    [--request-timeout-ms N] [--idle-timeout-ms N] [--pin]
 *
 * With no --data it serves /data when /data/dataset.json exists, else a
 * data directory it generates once under $XDG_CACHE_HOME (or ~/.cache,
 * or /tmp). Prints one line when it listens, then nothing.
 */
#include "app.h"
#include "cache.h"
#include "cli.h"
#include "crud.h"
#include "db.h"
#include "gz.h"
#include "render.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct options {
	const char *host;
	const char *data;
	unsigned port;
	unsigned threads;
	unsigned request_timeout_ms;
	unsigned idle_timeout_ms;
	unsigned bufs, buf_size;
	unsigned rflags;
	bool no_bundle;
	bool pin;
	unsigned tls_port;
	const char *tls_cert, *tls_key;
	const char *cache;          /* --cache: "memory", "redis" or NULL */
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [--port N] [--host ADDR] [--threads N] [--data DIR]\n"
		"          [--request-timeout-ms N] [--idle-timeout-ms N] [--pin]\n"
		"  --port N                 TCP port, 0 for an ephemeral one (default 8080)\n"
		"  --host ADDR              numeric address to bind (default 0.0.0.0)\n"
		"  --threads N              reactor threads (default: every allowed CPU)\n"
		"  --data DIR               dataset*.json and benchmark.db (default /data,\n"
		"                           else a generated directory)\n"
		"  --request-timeout-ms N   close a request stalled half-way (default 10000)\n"
		"  --idle-timeout-ms N      close an idle keep-alive connection (default 60000)\n"
		"  --pin                    pin reactor threads to CPUs\n"
		"  --bufs N --buf-size B    provided receive buffers per reactor (power of\n"
		"                           2) and their size (default: libzerg's)\n"
		"  --inc                    incremental buffers where the kernel has them\n"
		"  --no-bundle              one buffer per recv (bundles are the default\n"
		"                           where the kernel has them)\n"
		"  --tls-port N             HTTP/1.1 over TLS on this port too (default\n"
		"                           8081; 0: ephemeral) when a certificate is given\n"
		"  --tls-cert F --tls-key F PEM certificate and key (default\n"
		"                           /certs/server.{crt,key} when both exist; else\n"
		"                           no TLS)\n"
		"  --cache memory|redis     crud's item cache: in-process, or Redis at\n"
		"                           REDIS_URL (default redis://localhost:6379);\n"
		"                           without it: Redis when REDIS_URL is set\n",
		prog);
}

/* cli_uint into an unsigned option */
static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	unsigned long v;

	if (cli_uint(s, max, &v))
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "threads", required_argument, NULL, 't' },
		{ "data", required_argument, NULL, 'd' },
		{ "request-timeout-ms", required_argument, NULL, 'r' },
		{ "idle-timeout-ms", required_argument, NULL, 'i' },
		{ "pin", no_argument, NULL, 'P' },
		{ "bufs", required_argument, NULL, 'b' },
		{ "buf-size", required_argument, NULL, 'B' },
		{ "no-bundle", no_argument, NULL, 'N' },
		{ "inc", no_argument, NULL, 'I' },
		{ "tls-port", required_argument, NULL, 'T' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "cache", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int ch, bad = 0;
	*o = (struct options){ .host = "0.0.0.0", .port = 8080, .tls_port = 8081,
			       .request_timeout_ms = 10000, .idle_timeout_ms = 60000 };
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': bad |= parse_uint(optarg, 65535, &o->port); break;
		case 'H': o->host = optarg; break;
		case 't': bad |= parse_uint(optarg, 4096, &o->threads); break;
		case 'd': o->data = optarg; break;
		case 'r': bad |= parse_uint(optarg, 86400000, &o->request_timeout_ms); break;
		case 'i': bad |= parse_uint(optarg, 86400000, &o->idle_timeout_ms); break;
		case 'P': o->pin = true; break;
		case 'b': bad |= parse_uint(optarg, 32768, &o->bufs); break;
		case 'B': bad |= parse_uint(optarg, 1u << 20, &o->buf_size); break;
		case 'N': o->no_bundle = true; break;
		case 'I': o->rflags |= ZG_RF_BUF_INC; break;
		case 'T': bad |= parse_uint(optarg, 65535, &o->tls_port); break;
		case 'C': o->tls_cert = optarg; break;
		case 'K': o->tls_key = optarg; break;
		case 'c':
			o->cache = optarg;
			bad |= strcmp(optarg, "memory") && strcmp(optarg, "redis") ? -1 : 0;
			break;
		case 'h': usage(stdout, argv[0]); exit(0);
		default: bad = -1;
		}
	}
	if (bad || optind != argc || !o->tls_cert != !o->tls_key) {
		usage(stderr, argv[0]);
		return -1;
	}
	if (!o->tls_cert && !access("/certs/server.crt", R_OK) &&
	    !access("/certs/server.key", R_OK)) {
		o->tls_cert = "/certs/server.crt"; /* the benchmark's container */
		o->tls_key = "/certs/server.key";
	}
	return 0;
}

/* json-tls (SPEC-HEAD.md 8): HTTP/1.1 only, so ALPN offers http/1.1 and
 * nothing else; a client without ALPN (wrk) is served the same. */
static int tls_context(const struct options *o, struct zg_tls **out)
{
	struct zg_tls_config tc;

	*out = NULL;
	if (!o->tls_cert)
		return 0;
	zg_tls_config_init(&tc);
	tc.cert_file = o->tls_cert;
	tc.key_file = o->tls_key;
	tc.alpn = "http/1.1";
	if (zg_tls_new(&tc, out)) {
		fprintf(stderr, "httparena-server: TLS: %s\n", zg_tls_error());
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Data                                                                */
/* ------------------------------------------------------------------ */

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A per-user cache directory for generated data. */
static int cache_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char parent[PATH_MAX];
	if (xdg && *xdg)
		snprintf(parent, sizeof(parent), "%s", xdg);
	else if (home && *home)
		snprintf(parent, sizeof(parent), "%s/.cache", home);
	else
		parent[0] = 0;
	if (parent[0] && (mkdir(parent, 0700) == 0 || errno == EEXIST) &&
	    access(parent, W_OK) == 0) {
		snprintf(buf, len, "%s/httparena-zerg", parent);
		return 0;
	}
	snprintf(buf, len, "/tmp/httparena-zerg-%u", (unsigned)getuid());
	return 0;
}

static int pick_data_dir(const struct options *o, struct app *a)
{
	char err[512];
	if (o->data) {
		snprintf(a->data_dir, sizeof(a->data_dir), "%s", o->data);
		return 0;
	}
	if (file_exists("/data/dataset.json")) {
		snprintf(a->data_dir, sizeof(a->data_dir), "/data");
		return 0;
	}
	cache_dir(a->data_dir, sizeof(a->data_dir));
	if (data_generate_dir(a->data_dir, false, err, sizeof(err))) {
		fprintf(stderr, "httparena-server: generating data: %s\n", err);
		return -1;
	}
	return 0;
}

/* No benchmark.db beside the datasets: SQLite needs a file, so make one
 * in the cache directory (once). If that fails too, /db answers with no
 * rows, as the spec says for a missing database. */
static void generated_db(struct app *a)
{
	char dir[PATH_MAX], err[512];
	cache_dir(dir, sizeof(dir));
	if (mkdir(dir, 0755) && errno != EEXIST)
		return;
	snprintf(a->db_path, sizeof(a->db_path), "%s/%s", dir, DB_FILE);
	if (!file_exists(a->db_path) && db_generate(a->db_path, err, sizeof(err)))
		return;
	a->have_db = true;
	a->generated_db = true;
}

/* Each dataset comes from its file when the directory has it, else
 * from the generator (the benchmark mounts only some of the files). */
/* The static profile's files (SPEC-HEAD.md 4), read once: DIR/static,
 * when there is one. */
static int load_statics(struct app *a)
{
	char path[PATH_MAX + 16], err[512];

	struct stat st;

	snprintf(path, sizeof(path), "%s/static", a->data_dir);
	if (stat(path, &st) || !S_ISDIR(st.st_mode))
		return 0;
	if (static_load(&a->statics, path, err, sizeof(err))) {
		fprintf(stderr, "httparena-server: %s: %s\n", path, err);
		return -1;
	}
	return 0;
}

static int load_data(struct app *a)
{
	struct dataset *ds[3] = { &a->small, &a->ints, &a->large };
	char path[PATH_MAX + 64], err[512];
	for (int k = DS_SMALL; k <= DS_LARGE; k++) {
		snprintf(path, sizeof(path), "%s/%s", a->data_dir, dataset_file[k]);
		if (!file_exists(path)) {
			a->generated[k] = true;
			if (dataset_generate(ds[k], (enum dataset_kind)k)) {
				fprintf(stderr, "httparena-server: out of memory\n");
				return -1;
			}
		} else if (dataset_load(ds[k], (enum dataset_kind)k, path, err, sizeof(err))) {
			fprintf(stderr, "httparena-server: %s\n", err);
			return -1;
		}
	}
	for (int k = DS_SMALL; k <= DS_LARGE; k++)
		render_prepare(ds[k]);
	if (load_statics(a))
		return -1;
	snprintf(a->db_path, sizeof(a->db_path), "%s/%s", a->data_dir, DB_FILE);
	a->have_db = file_exists(a->db_path);
	if (!a->have_db)
		generated_db(a);
	return 0;
}

static void features_text(const struct app *a, char *buf, size_t len)
{
	static const struct { unsigned bit; const char *name; } feats[] = {
		{ ZG_FEAT_DEFER_TASKRUN, "defer_taskrun" },
		{ ZG_FEAT_COOP_TASKRUN, "coop_taskrun" },
	};
	unsigned f = atomic_load(&a->features);
	size_t n = (size_t)snprintf(buf, len, "io_uring");
	for (size_t i = 0; i < sizeof(feats) / sizeof(feats[0]) && n < len; i++)
		if (f & feats[i].bit)
			n += (size_t)snprintf(buf + n, len - n, ",%s", feats[i].name);
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, " gzip=%s db=%s", gz_name(),
				      a->have_db ? "sqlite" : "none");
	if (n < len && a->caches)
		n += (size_t)snprintf(buf + n, len - n, " cache=%s", cache_shared_kind(a->caches));
	for (int k = DS_SMALL; k <= DS_LARGE && n < len; k++)
		if (a->generated[k])
			n += (size_t)snprintf(buf + n, len - n, " generated=%s", dataset_file[k]);
	if (a->generated_db && n < len)
		snprintf(buf + n, len - n, " generated=%s", a->db_path);
}

/* crud's item cache (README.md, "crud's cache"): Redis at REDIS_URL when
 * it is set, as the issue asks, else in-process; --cache memory ignores
 * REDIS_URL (SPEC-HEAD.md 6.5's choice), --cache redis uses it or
 * redis://localhost:6379. */
static int cache_setup(const struct options *o, struct app *a)
{
	const char *url = getenv("REDIS_URL");
	char err[512];

	if (o->cache && !strcmp(o->cache, "memory"))
		url = NULL;
	else if (o->cache && (!url || !*url))
		url = "redis://localhost:6379";
	if (cache_shared_new(&a->caches, url, CRUD_TTL_MS, err, sizeof(err))) {
		fprintf(stderr, "httparena-server: %s\n", err);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* The largest body a request can get with this data: the 6000-item
 * document, plain or gzipped (its bound), a /json one, or what / and
 * /echo keep. /db's 50 rows are far smaller. The HTTP layer sizes the
 * output limits on it. */
static size_t largest_response(const struct app *a)
{
	size_t doc = render_bound(&a->large, a->large.n);
	size_t n = max_size(doc, gz_bound(doc));
	n = max_size(n, render_bound(&a->small, a->small.n));
	n = max_size(n, render_bound(&a->ints, a->ints.n));
	return max_size(n, KEEP_MAX);
}

/* The HTTP layer's configuration: the routes, the timeouts, what / and
 * /echo may keep, the output limits' base. */
static void http_setup(const struct options *o, struct app *a)
{
	struct http_config *hc = &a->http;
	http_config_init(hc);
	hc->handler = &app_handler;
	hc->udata = a;
	hc->allow = SERVER_ALLOW;
	hc->request_timeout_ms = o->request_timeout_ms;
	hc->idle_timeout_ms = o->idle_timeout_ms;
	hc->body_max = KEEP_MAX;
	hc->conn_size = sizeof(struct hstate);
	hc->largest_response = largest_response(a);
}

/* async-db and crud (SPEC-HEAD.md 6.1): PostgreSQL at DATABASE_URL
 * (unset: every query fails, the routes answer as for a database that
 * is down), at most DATABASE_MAX_CONN connections (default 256) shared
 * out over the reactors. */
static int pg_setup(struct app *a, unsigned threads)
{
	const char *url = getenv("DATABASE_URL"), *max = getenv("DATABASE_MAX_CONN");
	unsigned n = 256;

	if (max && *max && (parse_uint(max, 1u << 20, &n) || n == 0)) {
		fprintf(stderr, "httparena-server: DATABASE_MAX_CONN=%s: not a count, "
				"using 256\n", max);
		n = 256;
	}
	return db_shared_new(&a->dbs, url, n, threads);
}

static int serve(const struct options *o, struct app *a)
{
	struct zg_server_config cfg;
	struct zg_server *s = NULL;
	sigset_t sigs;
	char feats[8192];
	int sig, rc;

	zg_server_config_init(&cfg);
	cfg.host = o->host;
	cfg.port = (uint16_t)o->port;
	cfg.threads = o->threads;
	cfg.pin_threads = o->pin;
	cfg.reactor.flags |= o->rflags;
	if (o->no_bundle)
		cfg.reactor.flags &= ~ZG_RF_RECV_BUNDLE;
	if (o->bufs)
		cfg.reactor.buf_count = o->bufs;
	if (o->buf_size)
		cfg.reactor.buf_size = o->buf_size;
	if (tls_context(o, &cfg.tls))
		return 1;
	cfg.tls_port = o->tls_port;

	/* Block the stop signals before threads exist, so only sigwait()
	 * below sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	http_setup(o, a);
	rc = http_server_new(&a->http, &cfg, &s);
	zg_tls_free(cfg.tls); /* the server holds its own reference */
	if (rc == 0)
		rc = pg_setup(a, zg_server_threads(s));
	if (rc == 0)
		rc = zg_server_start(s);
	if (rc) {
		fprintf(stderr, "httparena-server: %s:%u: %s\n", o->host, o->port,
			zg_strerror(rc));
		zg_server_free(s);
		return 1;
	}
	features_text(a, feats, sizeof(feats));
	printf("httparena-server: port %u, threads %u, data %s, features %s", zg_server_port(s),
	       zg_server_threads(s), a->data_dir, feats);
	if (zg_server_tls_port(s))
		printf(", tls-port %u", zg_server_tls_port(s));
	printf("\n");
	fflush(stdout);

	sigwait(&sigs, &sig);
	zg_server_stop(s, 2000);
	rc = zg_server_wait(s);
	zg_server_free(s);
	db_shared_free(a->dbs);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct options o;
	static struct app a;
	if (parse_options(argc, argv, &o))
		return 2;
	if (pick_data_dir(&o, &a) || load_data(&a) || cache_setup(&o, &a))
		return 1;
	int rc = serve(&o, &a);
	dataset_free(&a.small);
	dataset_free(&a.ints);
	dataset_free(&a.large);
	static_free(a.statics);
	cache_shared_free(a.caches);
	return rc;
}
