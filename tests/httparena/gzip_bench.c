/* SPDX-License-Identifier: MIT */
/*
 * gzip_bench [dataset-large.json]: compress the /compression document
 * (6000 items, rendered the way the server renders it) at level 1 with
 * zlib, libdeflate and ISA-L; print time per document and size. The
 * numbers behind docs/gzip-choice.md. Each result is inflated back with
 * zlib and compared, so a fast-but-wrong codec can't win.
 */
#include "data.h"
#include "render.h"

#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

typedef size_t (*compress_fn)(const void *in, size_t n, void *out, size_t cap);

static size_t zlib_gz(const void *in, size_t n, void *out, size_t cap)
{
	z_stream s;
	memset(&s, 0, sizeof(s));
	/* 15 + 16: gzip wrapper; memLevel 8 and default strategy as zlib's
	 * own gzip does. */
	if (deflateInit2(&s, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	s.next_in = (Bytef *)in;
	s.avail_in = (uInt)n;
	s.next_out = out;
	s.avail_out = (uInt)cap;
	int rc = deflate(&s, Z_FINISH);
	size_t len = s.total_out;
	deflateEnd(&s);
	return rc == Z_STREAM_END ? len : 0;
}

static struct libdeflate_compressor *ldc;

static size_t libdeflate_gz(const void *in, size_t n, void *out, size_t cap)
{
	return libdeflate_gzip_compress(ldc, in, n, out, cap);
}

static uint8_t isal_buf[ISAL_DEF_LVL1_DEFAULT];

static size_t isal_gz(const void *in, size_t n, void *out, size_t cap)
{
	struct isal_zstream s;
	isal_deflate_init(&s);
	s.level = 1;
	s.level_buf = isal_buf;
	s.level_buf_size = sizeof(isal_buf);
	s.gzip_flag = IGZIP_GZIP;
	s.end_of_stream = 1;
	s.flush = NO_FLUSH;
	s.next_in = (uint8_t *)in;
	s.avail_in = (uint32_t)n;
	s.next_out = out;
	s.avail_out = (uint32_t)cap;
	if (isal_deflate(&s) != COMP_OK || s.avail_in || s.internal_state.state != ZSTATE_END)
		return 0;
	return s.total_out;
}

static int check(const void *gz, size_t n, const void *orig, size_t olen)
{
	z_stream s;
	unsigned char *buf = malloc(olen + 16);
	memset(&s, 0, sizeof(s));
	inflateInit2(&s, 15 + 16);
	s.next_in = (Bytef *)gz;
	s.avail_in = (uInt)n;
	s.next_out = buf;
	s.avail_out = (uInt)olen + 16;
	int rc = inflate(&s, Z_FINISH);
	int ok = rc == Z_STREAM_END && s.total_out == olen && !memcmp(buf, orig, olen);
	inflateEnd(&s);
	free(buf);
	return ok;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(const char *name, compress_fn fn, const char *doc, size_t len)
{
	size_t cap = len + len / 2 + 1024, out = 0;
	char *buf = malloc(cap);
	int iters = 0;
	double t0 = now(), t;
	/* At least 20 runs and half a second, whichever is longer. */
	do {
		out = fn(doc, len, buf, cap);
		iters++;
		t = now() - t0;
	} while (iters < 20 || t < 0.5);
	printf("| %-10s | %8.3f | %9zu | %5.1f%% | %s |\n", name, t / iters * 1e3, out,
	       100.0 * (double)out / (double)len, check(buf, out, doc, len) ? "ok" : "BAD");
	free(buf);
}

int main(int argc, char **argv)
{
	struct dataset d;
	char err[256];
	if (argc > 1 ? dataset_load(&d, DS_LARGE, argv[1], err, sizeof(err))
		     : dataset_generate(&d, DS_LARGE)) {
		fprintf(stderr, "gzip_bench: %s\n", argc > 1 ? err : "generate failed");
		return 1;
	}
	char *doc = malloc(render_bound(&d, d.n));
	size_t len = (size_t)(render_items(doc, &d, d.n, 1) - doc);
	ldc = libdeflate_alloc_compressor(1);
	printf("document: %zu items, %zu bytes\n\n", d.n, len);
	printf("| library    | ms/doc   | gzip size | ratio  | roundtrip |\n");
	printf("|------------|----------|-----------|--------|-----------|\n");
	run("zlib", zlib_gz, doc, len);
	run("libdeflate", libdeflate_gz, doc, len);
	run("isa-l", isal_gz, doc, len);
	libdeflate_free_compressor(ldc);
	free(doc);
	dataset_free(&d);
	return 0;
}
