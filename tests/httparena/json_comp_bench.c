/* SPDX-License-Identifier: MIT */
/*
 * json_comp_bench [options]: the numbers behind docs/json-comp-choice.md.
 *
 * Renders the three json-comp bodies of the benchmark (/json/25?m=4,
 * /json/40?m=8, /json/50?m=6, SPEC-HEAD.md 3.3) the way the server does
 * (render_items() on the dataset-int data), compresses each with brotli
 * through br.c at every (quality, window) asked, and with gzip through
 * gz.c, and prints bytes and microseconds per body and the json-comp
 * score estimate of SPEC-HEAD.md 3.4:
 *
 *   bpr          = head + mean body bytes over the three templates
 *   rps          = 1e6 / (fixed + mean compression µs)   (one core)
 *   effectiveRps = rps * (minBpr / bpr)^2
 *   score        = 100 * effectiveRps / best effectiveRps in the table
 *
 * Every result is decoded back (libbrotlidec, zlib) and compared. Not a
 * test; run it pinned to one core (taskset -c N). Times are the
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so a core shared with
 * other processes does not count their time; it still shares caches.
 *
 * Options:
 *   --dataset PATH  dataset-int.json to load (default: generated, the
 *                   bytes httparena-datagen writes)
 *   --fixed US      per-request cost without compression (default 7.36)
 *   --head N        response head bytes with Content-Encoding: br
 *                   (default 146; gzip is 2 more, identity 22 fewer)
 *   --min-bpr N     the field's smallest bytes per response (1287)
 *   --batch S       seconds per timed batch (default 0.1)
 *   --batches N     timed batches per body (default 5, at most 64); the
 *                   median is kept, or with --min the fastest
 *   --only Q:W,...  only these brotli settings (default: every quality
 *                   0..6 and 11 at windows 10, 12, ..., 22)
 *   --quick         a few settings, short batches (a smoke run)
 */
#include "br.h"
#include "data.h"
#include "gz.h"
#include "render.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <isa-l/igzip_lib.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define NBODY 3
#define MAXBATCH 64

static const struct {
	size_t count;
	int64_t mult;
} tmpl[NBODY] = { { 25, 4 }, { 40, 8 }, { 50, 6 } };

static char *body[NBODY];
static size_t body_len[NBODY];
static uint8_t *out, *dec;
static size_t out_cap, dec_cap;

static double batch_s = 0.1;
static int nbatch = 5;
static int use_min;
static double fixed_us = 7.36;
static double head_br = 146;
static double min_bpr = 1287;

/* CPU time of this thread: on a shared machine, time spent descheduled
 * is not the codec's. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

typedef size_t (*codec_fn)(void *ctx, const void *in, size_t n, void *o, size_t cap);

/* Median (or minimum) over nbatch batches of µs per call. */
static double time_us(codec_fn fn, void *ctx, const void *in, size_t n, size_t *len)
{
	double per[MAXBATCH];
	for (int k = 0; k < 3; k++) /* warm: the arena grows, caches fill */
		*len = fn(ctx, in, n, out, out_cap);
	for (int b = 0; b < nbatch; b++) {
		long iters = 0;
		double t0 = now(), t;
		do {
			*len = fn(ctx, in, n, out, out_cap);
			iters++;
			t = now() - t0;
		} while (iters < 10 || t < batch_s);
		per[b] = t / (double)iters * 1e6;
	}
	qsort(per, (size_t)nbatch, sizeof(per[0]), cmp_double);
	return use_min ? per[0] : per[nbatch / 2];
}

static size_t br_fn(void *ctx, const void *in, size_t n, void *o, size_t cap)
{
	return br_compress(ctx, in, n, o, cap);
}

struct oneshot {
	int quality, lgwin, mode;
};

static size_t oneshot_fn(void *ctx, const void *in, size_t n, void *o, size_t cap)
{
	struct oneshot *p = ctx;
	size_t len = cap;
	if (!BrotliEncoderCompress(p->quality, p->lgwin, (BrotliEncoderMode)p->mode, n, in, &len, o))
		return 0;
	return len;
}

static size_t gz_fn(void *ctx, const void *in, size_t n, void *o, size_t cap)
{
	return gz_compress(ctx, in, n, o, cap);
}

/* ISA-L at other levels than gz.c's 1, for reference. */
struct isal_level {
	int level;
	uint8_t *buf;
	uint32_t size;
};

static size_t isal_fn(void *ctx, const void *in, size_t n, void *o, size_t cap)
{
	struct isal_level *l = ctx;
	struct isal_zstream s;
	isal_deflate_init(&s);
	s.level = (uint32_t)l->level;
	s.level_buf = l->buf;
	s.level_buf_size = l->size;
	s.gzip_flag = IGZIP_GZIP;
	s.end_of_stream = 1;
	s.flush = NO_FLUSH;
	s.next_in = (uint8_t *)(uintptr_t)in;
	s.avail_in = (uint32_t)n;
	s.next_out = o;
	s.avail_out = (uint32_t)cap;
	if (isal_deflate(&s) != COMP_OK || s.avail_in || s.internal_state.state != ZSTATE_END)
		return 0;
	return s.total_out;
}

static int br_ok(const uint8_t *c, size_t n, int i)
{
	size_t len = dec_cap;
	return BrotliDecoderDecompress(n, c, &len, dec) == BROTLI_DECODER_RESULT_SUCCESS &&
	       len == body_len[i] && !memcmp(dec, body[i], len);
}

static int gz_ok(const uint8_t *c, size_t n, int i)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	inflateInit2(&z, 16 + MAX_WBITS);
	z.next_in = (Bytef *)c;
	z.avail_in = (uInt)n;
	z.next_out = dec;
	z.avail_out = (uInt)dec_cap;
	int rc = inflate(&z, Z_FINISH);
	int ok = rc == Z_STREAM_END && z.total_out == body_len[i] &&
		 !memcmp(dec, body[i], body_len[i]);
	inflateEnd(&z);
	return ok;
}

struct row {
	char name[32];
	int quality, lgwin;
	size_t bytes[NBODY];
	double us[NBODY];
	double mean_bytes, mean_us, bpr, rps, eff;
	size_t arena;
	int ok;
};

static struct row rows[256];
static int nrows;

static void finish(struct row *r, double head)
{
	r->mean_bytes = r->mean_us = 0;
	for (int i = 0; i < NBODY; i++) {
		r->mean_bytes += (double)r->bytes[i] / NBODY;
		r->mean_us += r->us[i] / NBODY;
	}
	r->bpr = head + r->mean_bytes;
	r->rps = 1e6 / (fixed_us + r->mean_us);
	r->eff = r->rps * (min_bpr / r->bpr) * (min_bpr / r->bpr);
}

static void run_br(int q, int w)
{
	struct row *r = &rows[nrows++];
	struct br *b = br_new(q, w, BR_MODE_GENERIC);
	if (!b) {
		fprintf(stderr, "br_new failed\n");
		exit(1);
	}
	snprintf(r->name, sizeof(r->name), "br q%d w%d", q, w);
	r->quality = q;
	r->lgwin = w;
	r->ok = 1;
	for (int i = 0; i < NBODY; i++) {
		size_t len;
		r->us[i] = time_us(br_fn, b, body[i], body_len[i], &len);
		r->bytes[i] = len;
		r->ok &= len && br_ok(out, len, i);
	}
	r->arena = br_arena_bytes(b);
	br_free(b);
	finish(r, head_br);
	fprintf(stderr, ".");
}

static void print_rows(int from, int to, double best)
{
	printf("| setting | bytes 25/40/50 | µs 25/40/50 | mean bytes | mean µs | bytes/resp | "
	       "req/s (1 core) | effective req/s | score | arena KiB | roundtrip |\n");
	printf("|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|\n");
	for (int k = from; k < to; k++) {
		struct row *r = &rows[k];
		printf("| %s | %zu / %zu / %zu | %.2f / %.2f / %.2f | %.0f | %.2f | %.0f | %.0f | %.0f | "
		       "%.1f | %zu | %s |\n",
		       r->name, r->bytes[0], r->bytes[1], r->bytes[2], r->us[0], r->us[1], r->us[2],
		       r->mean_bytes, r->mean_us, r->bpr, r->rps, r->eff, 100.0 * r->eff / best,
		       r->arena / 1024, r->ok ? "ok" : "BAD");
	}
}

int main(int argc, char **argv)
{
	const char *path = NULL, *only = NULL;
	int quick = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dataset") && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "--fixed") && i + 1 < argc)
			fixed_us = atof(argv[++i]);
		else if (!strcmp(argv[i], "--head") && i + 1 < argc)
			head_br = atof(argv[++i]);
		else if (!strcmp(argv[i], "--min-bpr") && i + 1 < argc)
			min_bpr = atof(argv[++i]);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch_s = atof(argv[++i]);
		else if (!strcmp(argv[i], "--batches") && i + 1 < argc)
			nbatch = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--min"))
			use_min = 1;
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else {
			fprintf(stderr, "usage: %s [--dataset PATH] [--fixed US] [--head N] "
					"[--min-bpr N] [--batch S] [--batches N] [--min] [--only Q:W,...] "
					"[--quick]\n", argv[0]);
			return 2;
		}
	}
	if (quick)
		batch_s = 0.01;
	if (nbatch < 1 || nbatch > MAXBATCH) {
		fprintf(stderr, "--batches: 1..%d\n", MAXBATCH);
		return 2;
	}

	struct dataset d;
	char err[256];
	if (path ? dataset_load(&d, DS_INT, path, err, sizeof(err)) : dataset_generate(&d, DS_INT)) {
		fprintf(stderr, "json_comp_bench: %s\n", path ? err : "generate failed");
		return 1;
	}
	render_prepare(&d);
	double render_us[NBODY];
	for (int i = 0; i < NBODY; i++) {
		body[i] = malloc(render_bound(&d, tmpl[i].count));
		double t0 = now();
		long it = 0;
		do {
			body_len[i] = (size_t)(render_items(body[i], &d, tmpl[i].count, tmpl[i].mult) -
					       body[i]);
			it++;
		} while (now() - t0 < batch_s);
		render_us[i] = (now() - t0) / (double)it * 1e6;
		if (body_len[i] + 64 > dec_cap)
			dec_cap = body_len[i] + 64;
	}
	out_cap = br_bound(dec_cap) + gz_bound(dec_cap);
	out = malloc(out_cap);
	dec = malloc(dec_cap);

	cpu_set_t set;
	int ncpu = sched_getaffinity(0, sizeof(set), &set) ? -1 : CPU_COUNT(&set);
	printf("dataset: %s (%zu items); brotli %u.%u.%u, %s\n", path ? path : "generated (DS_INT)",
	       d.n, BrotliEncoderVersion() >> 24, (BrotliEncoderVersion() >> 12) & 0xfff,
	       BrotliEncoderVersion() & 0xfff, gz_name());
	printf("CPUs this process may use: %d%s\n", ncpu, ncpu == 1 ? "" : " (not pinned!)");
	printf("bodies (identity bytes, render µs): ");
	for (int i = 0; i < NBODY; i++)
		printf("/json/%zu?m=%lld %zu B %.2f µs%s", tmpl[i].count, (long long)tmpl[i].mult,
		       body_len[i], render_us[i], i + 1 < NBODY ? "; " : "\n");
	printf("model: fixed %.2f µs/request, head %.0f B (br), %.0f B (gzip), %.0f B (identity), "
	       "minBpr %.0f, CPU time per call: %s of %d batches of %.2f s\n\n",
	       fixed_us, head_br, head_br + 2, head_br - 22, min_bpr, use_min ? "fastest" : "median",
	       nbatch, batch_s);

	/* identity and gzip (gz.c: ISA-L level 1) */
	struct row *r = &rows[nrows++];
	snprintf(r->name, sizeof(r->name), "identity");
	r->ok = 1;
	for (int i = 0; i < NBODY; i++)
		r->bytes[i] = body_len[i];
	finish(r, head_br - 22);
	struct gz *z = gz_new();
	r = &rows[nrows++];
	snprintf(r->name, sizeof(r->name), "gzip %s 1", gz_name());
	r->ok = 1;
	for (int i = 0; i < NBODY; i++) {
		size_t len;
		r->us[i] = time_us(gz_fn, z, body[i], body_len[i], &len);
		r->bytes[i] = len;
		r->ok &= len && gz_ok(out, len, i);
	}
	finish(r, head_br + 2);
	gz_free(z);
	static const uint32_t lvl_size[] = { ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT,
					     ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT };
	for (int lv = 0; lv <= 3; lv++) {
		if (lv == 1 || quick)
			continue;
		struct isal_level l = { lv, malloc(lvl_size[lv] ? lvl_size[lv] : 1), lvl_size[lv] };
		r = &rows[nrows++];
		snprintf(r->name, sizeof(r->name), "gzip isa-l %d", lv);
		r->ok = 1;
		for (int i = 0; i < NBODY; i++) {
			size_t len;
			r->us[i] = time_us(isal_fn, &l, body[i], body_len[i], &len);
			r->bytes[i] = len;
			r->ok &= len && gz_ok(out, len, i);
		}
		finish(r, head_br + 2);
		free(l.buf);
	}

	static const int qs_full[] = { 0, 1, 2, 3, 4, 5, 6, 11 };
	static const int ws_full[] = { 10, 12, 14, 16, 18, 20, 22 };
	static const int qs_quick[] = { 1, 5 };
	static const int ws_quick[] = { 16, 22 };
	const int *qs = quick ? qs_quick : qs_full, *ws = quick ? ws_quick : ws_full;
	int nq = quick ? 2 : 8, nw = quick ? 2 : 7;
	int first_br = nrows;
	if (only) {
		for (const char *p = only; *p;) {
			int q, w, used;
			if (sscanf(p, "%d:%d%n", &q, &w, &used) != 2) {
				fprintf(stderr, "--only: Q:W,Q:W,...\n");
				return 2;
			}
			run_br(q, w);
			p += used;
			if (*p == ',')
				p++;
		}
	} else {
		for (int a = 0; a < nq; a++)
			for (int b = 0; b < nw; b++)
				run_br(qs[a], ws[b]);
	}
	int end_br = nrows;
	fprintf(stderr, "\n");

	double best = 0;
	int besti = 0;
	for (int k = 0; k < nrows; k++)
		if (rows[k].eff > best) {
			best = rows[k].eff;
			besti = k;
		}
	print_rows(0, first_br, best);
	printf("\n");
	print_rows(first_br, end_br, best);
	printf("\nbest: %s\n", rows[besti].name);

	/* How the choice moves with the fixed cost per request: the model's
	 * weakest number (the server's own cost is measured separately). */
	printf("\n| fixed µs/request | best setting | best brotli | its score | gzip's score | "
	       "best brotli at q>=4 | its score |\n|---:|:---|:---|---:|---:|:---|---:|\n");
	double base = fixed_us;
	static const double fmul[] = { 0.5, 1, 2, 4, 8 };
	for (size_t m = 0; m < sizeof(fmul) / sizeof(fmul[0]); m++) {
		fixed_us = base * fmul[m];
		int bi = 0, bb = first_br, b4 = -1;
		for (int k = 0; k < nrows; k++) {
			finish(&rows[k], k == 0 ? head_br - 22 : k < first_br ? head_br + 2 : head_br);
			if (rows[k].eff > rows[bi].eff)
				bi = k;
			if (k >= first_br && rows[k].eff > rows[bb].eff)
				bb = k;
			if (k >= first_br && rows[k].quality >= 4 && (b4 < 0 || rows[k].eff > rows[b4].eff))
				b4 = k;
		}
		printf("| %.2f | %s | %s | %.1f | %.1f | %s | %.1f |\n", fixed_us, rows[bi].name,
		       rows[bb].name, 100 * rows[bb].eff / rows[bi].eff, 100 * rows[1].eff / rows[bi].eff,
		       b4 >= 0 ? rows[b4].name : "-", b4 >= 0 ? 100 * rows[b4].eff / rows[bi].eff : 0);
	}
	fixed_us = base;
	for (int k = 0; k < nrows; k++)
		finish(&rows[k], k == 0 ? head_br - 22 : k < first_br ? head_br + 2 : head_br);

	/* The same settings the best row's quality has, as the one-shot
	 * BrotliEncoderCompress (malloc per call) vs br.c (arena), and
	 * BROTLI_MODE_TEXT: does the wrapper cost anything, does text mode
	 * help. */
	printf("\n| setting | br.c µs (mean) | BrotliEncoderCompress µs (mean) | bytes (mean) same? | "
	       "text mode bytes (mean) | text mode µs (mean) |\n|:---|---:|---:|:---|---:|---:|\n");
	for (int k = first_br; k < end_br; k++) {
		struct row *b = &rows[k];
		if (b->lgwin != 16 && b->lgwin != 22 && b->lgwin != rows[besti].lgwin)
			continue;
		struct oneshot os = { b->quality, b->lgwin, BROTLI_MODE_GENERIC };
		struct br *t = br_new(b->quality, b->lgwin, BR_MODE_TEXT);
		double us = 0, tus = 0, tbytes = 0;
		int same = 1;
		for (int i = 0; i < NBODY; i++) {
			size_t len;
			us += time_us(oneshot_fn, &os, body[i], body_len[i], &len) / NBODY;
			same &= len == b->bytes[i] && br_ok(out, len, i);
			tus += time_us(br_fn, t, body[i], body_len[i], &len) / NBODY;
			tbytes += (double)len / NBODY;
			same &= br_ok(out, len, i);
		}
		br_free(t);
		printf("| %s | %.2f | %.2f | %s | %.0f | %.2f |\n", b->name, b->mean_us, us,
		       same ? "yes" : "NO", tbytes, tus);
		fprintf(stderr, ".");
	}
	fprintf(stderr, "\n");

	for (int i = 0; i < NBODY; i++)
		free(body[i]);
	free(out);
	free(dec);
	dataset_free(&d);
	return 0;
}
