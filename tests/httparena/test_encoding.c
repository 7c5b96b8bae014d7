/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of examples/httparena-server/encoding.c and br.c:
 * Accept-Encoding negotiation (RFC 9110 12.5.3) and the brotli / gzip
 * body coders, round-tripped through libbrotlidec and zlib on every
 * /json/{count}?m body the server renders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <brotli/decode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "br.h"
#include "data.h"
#include "encoding.h"
#include "render.h"

#define ALL ENC_ALL
#define ID ENC_BIT(ENC_IDENTITY)
#define GZ ENC_BIT(ENC_GZIP)
#define BR ENC_BIT(ENC_BR)

static enum enc neg(const char *v, unsigned offered)
{
	return enc_negotiate((const uint8_t *)v, v ? strlen(v) : 0, offered);
}

static struct enc_accept parsed(const char *v)
{
	struct enc_accept a;
	enc_accept_init(&a);
	enc_accept_parse(&a, (const uint8_t *)v, strlen(v));
	return a;
}

static int q_of(const char *v, enum enc e)
{
	struct enc_accept a = parsed(v);
	return enc_q(&a, e);
}

/* ------------------------------------------------------------------ */
/* Negotiation                                                         */
/* ------------------------------------------------------------------ */

static void test_no_header(void **state)
{
	(void)state;
	/* SPEC-HEAD 3.1: no Accept-Encoding, no Content-Encoding */
	assert_int_equal(neg(NULL, ALL), ENC_IDENTITY);
	struct enc_accept a;
	enc_accept_init(&a);
	assert_int_equal(enc_q(&a, ENC_BR), 0);
	assert_int_equal(enc_q(&a, ENC_GZIP), 0);
	assert_int_equal(enc_q(&a, ENC_IDENTITY), 1000);
	/* an empty field: "does not want any content coding" */
	assert_int_equal(neg("", ALL), ENC_IDENTITY);
	assert_int_equal(neg("   ", ALL), ENC_IDENTITY);
	assert_int_equal(neg(" , ,", ALL), ENC_IDENTITY);
}

static void test_benchmark_values(void **state)
{
	(void)state;
	/* json-comp's requests and validation, static's wrk script, curl */
	assert_int_equal(neg("gzip, br", ALL), ENC_BR);
	assert_int_equal(neg("br;q=1, gzip;q=0.8", ALL), ENC_BR);
	assert_int_equal(neg("deflate, gzip, br, zstd", ALL), ENC_BR);
	assert_int_equal(neg("gzip", ALL), ENC_GZIP);
	assert_int_equal(neg("br", ALL), ENC_BR);
	assert_int_equal(neg("gzip, deflate", ALL), ENC_GZIP);
	assert_int_equal(neg("deflate", ALL), ENC_IDENTITY);
	assert_int_equal(neg("zstd, deflate", ALL), ENC_IDENTITY);
	/* what the resource has limits the choice */
	assert_int_equal(neg("gzip, br", ID | GZ), ENC_GZIP);
	assert_int_equal(neg("gzip, br", ID), ENC_IDENTITY);
	assert_int_equal(neg("gzip, br", 0), ENC_IDENTITY);
	assert_int_equal(neg("br", ID | GZ), ENC_IDENTITY);
	assert_int_equal(neg("br;q=1, gzip;q=0.8", ID | GZ), ENC_GZIP);
}

static void test_qvalues(void **state)
{
	(void)state;
	assert_int_equal(neg("gzip;q=1, br;q=0.5", ALL), ENC_GZIP);
	assert_int_equal(neg("gzip;q=0.5, br;q=0.499", ALL), ENC_GZIP);
	assert_int_equal(neg("gzip;q=0.001, br", ALL), ENC_BR);
	assert_int_equal(neg("br;q=0.001", ALL), ENC_BR); /* above an unnamed identity */
	assert_int_equal(neg("gzip;q=0.5", ALL), ENC_GZIP);
	assert_int_equal(q_of("gzip;q=0.5", ENC_GZIP), 500);
	assert_int_equal(q_of("gzip;q=0.25", ENC_GZIP), 250);
	assert_int_equal(q_of("gzip;q=0.125", ENC_GZIP), 125);
	assert_int_equal(q_of("gzip;q=1.000", ENC_GZIP), 1000);
	assert_int_equal(q_of("gzip;q=1.", ENC_GZIP), 1000);
	assert_int_equal(q_of("gzip;q=0.", ENC_GZIP), 0);
	assert_int_equal(q_of("gzip;q=0", ENC_GZIP), 0);
	assert_int_equal(q_of("gzip;q=0.000", ENC_GZIP), 0);
	assert_int_equal(q_of("gzip", ENC_GZIP), 1000);
	/* identity named with a higher q than the codings wins */
	assert_int_equal(neg("identity;q=1, gzip;q=0.5, br;q=0.5", ALL), ENC_IDENTITY);
	assert_int_equal(neg("identity, br", ALL), ENC_BR); /* tie: br */
	assert_int_equal(neg("identity, gzip", ALL), ENC_GZIP);
	assert_int_equal(neg("identity", ALL), ENC_IDENTITY);
	assert_int_equal(neg("identity;q=0.5, gzip;q=0.4", ALL), ENC_IDENTITY);
}

static void test_q_zero(void **state)
{
	(void)state;
	assert_int_equal(neg("br;q=0, gzip", ALL), ENC_GZIP);
	assert_int_equal(neg("br;q=0, gzip;q=0", ALL), ENC_IDENTITY);
	assert_int_equal(neg("gzip;q=0, br;q=0.0", ALL), ENC_IDENTITY);
	assert_int_equal(neg("br;q=0.000, gzip;q=0.001", ALL), ENC_GZIP);
	/* identity;q=0: refused, but nothing else is acceptable either ->
	 * identity anyway (SPEC-HEAD 3.1), and enc_acceptable says so */
	struct enc_accept a = parsed("identity;q=0");
	assert_int_equal(enc_choose(&a, ALL), ENC_IDENTITY);
	assert_false(enc_acceptable(&a, ALL));
	assert_int_equal(enc_q(&a, ENC_IDENTITY), 0);
	a = parsed("identity;q=0, gzip");
	assert_int_equal(enc_choose(&a, ALL), ENC_GZIP);
	assert_true(enc_acceptable(&a, ALL));
	assert_false(enc_acceptable(&a, ID | BR));
	a = parsed("gzip;q=0");
	assert_true(enc_acceptable(&a, ALL)); /* identity by default */
	assert_int_equal(enc_choose(&a, ALL), ENC_IDENTITY);
}

static void test_star(void **state)
{
	(void)state;
	assert_int_equal(neg("*", ALL), ENC_BR);
	assert_int_equal(neg("*", ID | GZ), ENC_GZIP);
	assert_int_equal(neg("*", ID), ENC_IDENTITY);
	assert_int_equal(neg("*;q=0.5", ALL), ENC_BR);
	assert_int_equal(neg("*;q=0.5, gzip", ALL), ENC_GZIP);
	assert_int_equal(neg("*, br;q=0", ALL), ENC_GZIP);
	assert_int_equal(neg("*, br;q=0, gzip;q=0", ALL), ENC_IDENTITY);
	assert_int_equal(neg("gzip;q=0.5, *;q=0.6", ALL), ENC_BR);
	assert_int_equal(neg("gzip;q=0.7, *;q=0.6", ALL), ENC_GZIP);
	/* "*;q=0": nothing but what is named */
	struct enc_accept a = parsed("*;q=0");
	assert_false(enc_acceptable(&a, ALL));
	assert_int_equal(enc_choose(&a, ALL), ENC_IDENTITY);
	assert_int_equal(enc_q(&a, ENC_IDENTITY), 0);
	a = parsed("*;q=0, identity");
	assert_int_equal(enc_q(&a, ENC_IDENTITY), 1000);
	assert_int_equal(enc_q(&a, ENC_BR), 0);
	a = parsed("*;q=0, gzip;q=0.3");
	assert_int_equal(enc_choose(&a, ALL), ENC_GZIP);
	/* "*" speaks for identity when identity is not named */
	a = parsed("*;q=0.2");
	assert_int_equal(enc_q(&a, ENC_IDENTITY), 200);
	assert_int_equal(enc_choose(&a, ID), ENC_IDENTITY);
	a = parsed("identity;q=0, *");
	assert_int_equal(enc_q(&a, ENC_IDENTITY), 0);
	assert_int_equal(enc_choose(&a, ALL), ENC_BR);
}

static void test_ties(void **state)
{
	(void)state;
	/* server preference: br > gzip > identity, whatever the order */
	assert_int_equal(neg("gzip, br", ALL), ENC_BR);
	assert_int_equal(neg("br, gzip", ALL), ENC_BR);
	assert_int_equal(neg("gzip;q=0.8, br;q=0.8", ALL), ENC_BR);
	assert_int_equal(neg("identity;q=0.8, gzip;q=0.8", ALL), ENC_GZIP);
	assert_int_equal(neg("identity, gzip, br", ALL), ENC_BR);
	assert_int_equal(neg("identity;q=0.9, gzip;q=0.9", ID | BR), ENC_IDENTITY);
	/* another preference moves only ties */
	struct enc_accept a = parsed("gzip, br");
	assert_int_equal(enc_choose_prefer(&a, ALL, ENC_GZIP), ENC_GZIP);
	assert_int_equal(enc_choose_prefer(&a, ALL, ENC_BR), ENC_BR);
	assert_int_equal(enc_choose_prefer(&a, ALL, ENC_IDENTITY), ENC_BR);
	assert_int_equal(enc_choose_prefer(&a, ID | BR, ENC_GZIP), ENC_BR);
	a = parsed("gzip;q=0.5, br");
	assert_int_equal(enc_choose_prefer(&a, ALL, ENC_GZIP), ENC_BR);
	a = parsed("identity, gzip, br");
	assert_int_equal(enc_choose_prefer(&a, ALL, ENC_IDENTITY), ENC_IDENTITY);
	assert_int_equal(enc_choose_prefer(&a, ALL, ENC_GZIP), ENC_GZIP);
	assert_int_equal(enc_choose_prefer(&a, ALL, (enum enc)7), ENC_BR);
	a = parsed("br;q=1, gzip;q=0.8"); /* wrk's static header */
	assert_int_equal(enc_choose_prefer(&a, ALL, ENC_GZIP), ENC_BR);
	a = parsed("*");
	assert_int_equal(enc_choose_prefer(&a, ALL, ENC_GZIP), ENC_GZIP);
	enc_accept_init(&a); /* no header: identity whatever is preferred */
	assert_int_equal(enc_choose_prefer(&a, ALL, ENC_GZIP), ENC_IDENTITY);
	/* json-comp's: the benchmark's "gzip, br" gets gzip */
	static const char bench_ae[] = "gzip, br";
	assert_int_equal(enc_negotiate_prefer((const uint8_t *)bench_ae, sizeof(bench_ae) - 1,
					      ALL, ENC_JSON_PREFER), ENC_GZIP);
	assert_int_equal(enc_negotiate_prefer(NULL, 0, ALL, ENC_JSON_PREFER), ENC_IDENTITY);
	assert_int_equal(enc_negotiate_prefer((const uint8_t *)"br", 2, ALL, ENC_JSON_PREFER),
			 ENC_BR);
}

static void test_case_and_space(void **state)
{
	(void)state;
	assert_int_equal(neg("GZIP", ALL), ENC_GZIP);
	assert_int_equal(neg("Br", ALL), ENC_BR);
	assert_int_equal(neg("gZiP;Q=0.5, bR;q=0.4", ALL), ENC_GZIP);
	assert_int_equal(neg("IDENTITY;Q=0", ID), ENC_IDENTITY);
	assert_int_equal(q_of("IDENTITY;Q=0", ENC_IDENTITY), 0);
	assert_int_equal(neg("  gzip  ;  q=0.5  ,   br ; q = 0.4 ", ALL), ENC_GZIP);
	assert_int_equal(neg("\tbr\t;\tq=0.9\t,\tgzip", ALL), ENC_GZIP);
	assert_int_equal(neg("gzip,br", ALL), ENC_BR);
	assert_int_equal(neg(",,gzip,,", ALL), ENC_GZIP);
	assert_int_equal(neg("x-gzip", ALL), ENC_GZIP);
	assert_int_equal(neg("X-GZIP;q=0.5, br;q=0.1", ALL), ENC_GZIP);
}

static void test_multiple_fields(void **state)
{
	(void)state;
	struct enc_accept a;
	enc_accept_init(&a);
	enc_accept_parse(&a, (const uint8_t *)"gzip;q=0.4", 10);
	enc_accept_parse(&a, (const uint8_t *)"br;q=0.3", 8);
	assert_int_equal(enc_choose(&a, ALL), ENC_GZIP);
	enc_accept_init(&a);
	enc_accept_parse(&a, (const uint8_t *)"deflate", 7);
	enc_accept_parse(&a, (const uint8_t *)"br", 2);
	assert_int_equal(enc_choose(&a, ALL), ENC_BR);
	/* the first entry for a coding counts */
	assert_int_equal(neg("br;q=0, br", ALL), ENC_IDENTITY);
	assert_int_equal(neg("br, br;q=0", ALL), ENC_BR);
	assert_int_equal(neg("gzip;q=0, x-gzip", ALL), ENC_IDENTITY);
}

static void test_garbage(void **state)
{
	(void)state;
	/* malformed entries are ignored as if absent */
	assert_int_equal(neg("br;q=2", ALL), ENC_IDENTITY);
	assert_int_equal(neg("br;q=1.5, gzip", ALL), ENC_GZIP);
	assert_int_equal(neg("br;q=1.001, gzip", ALL), ENC_GZIP);
	assert_int_equal(neg("br;q=0.1234, gzip;q=0.1", ALL), ENC_GZIP);
	assert_int_equal(neg("br;q=-0.5", ALL), ENC_IDENTITY);
	assert_int_equal(neg("br;q=.5", ALL), ENC_IDENTITY);
	assert_int_equal(neg("br;q=", ALL), ENC_IDENTITY);
	assert_int_equal(neg("br;q", ALL), ENC_IDENTITY);
	assert_int_equal(neg("br;", ALL), ENC_IDENTITY);
	assert_int_equal(neg("br;;q=1", ALL), ENC_IDENTITY);
	assert_int_equal(neg("br;q=abc, gzip", ALL), ENC_GZIP);
	assert_int_equal(neg("br;q=0.5;q=0.6, gzip;q=0.1", ALL), ENC_GZIP);
	assert_int_equal(neg("br;level=5, gzip;q=0.1", ALL), ENC_GZIP);
	assert_int_equal(neg("br q=1, gzip;q=0.2", ALL), ENC_GZIP);
	assert_int_equal(neg("b r", ALL), ENC_IDENTITY);
	assert_int_equal(neg("br/1, gzip", ALL), ENC_GZIP);
	assert_int_equal(neg("\"br\", gzip", ALL), ENC_GZIP);
	assert_int_equal(neg("br;q=\"1\", gzip", ALL), ENC_GZIP);
	/* a quoted ',' does not end a bad element early */
	assert_int_equal(neg("x;y=\"a, br\", gzip", ALL), ENC_GZIP);
	assert_int_equal(neg("x;y=\"a\\\", br\", gzip", ALL), ENC_GZIP);
	assert_int_equal(neg(";q=1", ALL), ENC_IDENTITY);
	assert_int_equal(neg("=", ALL), ENC_IDENTITY);
	assert_int_equal(neg("brotli, gz, gzip2, xgzip", ALL), ENC_IDENTITY);
	assert_int_equal(neg("identity;q=x, br;q=0", ALL), ENC_IDENTITY);
	/* a bad identity entry leaves identity at its default */
	assert_int_equal(q_of("identity;q=9", ENC_IDENTITY), 1);
	/* NUL and high bytes */
	static const uint8_t nul[] = { 'b', 'r', 0, ',', 'g', 'z', 'i', 'p' };
	assert_int_equal(enc_negotiate(nul, sizeof(nul), ALL), ENC_GZIP);
	static const uint8_t hi[] = { 0xff, 0xfe, ',', 'b', 'r', ';', 'q', '=', '0', '.', '5' };
	assert_int_equal(enc_negotiate(hi, sizeof(hi), ALL), ENC_BR);
	/* every prefix and every single byte of a long mixed value parses
	 * without reading past it (ASan/valgrind would see) */
	const char *v = " gzip;q=0.5 , br ; q=1.000,*;q=0,identity;q=0.1, \"x,\"y";
	size_t n = strlen(v);
	for (size_t k = 0; k <= n; k++) {
		uint8_t *copy = malloc(k ? k : 1);
		memcpy(copy, v, k);
		enum enc e = enc_negotiate(copy, k, ALL);
		assert_true(e == ENC_IDENTITY || e == ENC_GZIP || e == ENC_BR);
		free(copy);
	}
	for (unsigned c = 0; c < 256; c++) {
		uint8_t b = (uint8_t)c;
		assert_int_equal(enc_negotiate(&b, 1, ALL), c == '*' ? ENC_BR : ENC_IDENTITY);
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(enc_name(ENC_BR), "br");
	assert_string_equal(enc_name(ENC_GZIP), "gzip");
	assert_null(enc_name(ENC_IDENTITY));
}

/* ------------------------------------------------------------------ */
/* Coders                                                              */
/* ------------------------------------------------------------------ */

static size_t br_decode(const void *in, size_t n, uint8_t *out, size_t cap)
{
	size_t len = cap;
	if (BrotliDecoderDecompress(n, in, &len, out) != BROTLI_DECODER_RESULT_SUCCESS)
		return (size_t)-1;
	return len;
}

static size_t gz_decode(const void *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	int rc = inflate(&z, Z_FINISH);
	size_t len = rc == Z_STREAM_END && z.avail_in == 0 ? z.total_out : (size_t)-1;
	inflateEnd(&z);
	return len;
}

static void roundtrip(struct enc_coder *c, enum enc e, const void *in, size_t n)
{
	size_t cap = enc_bound(e, n);
	uint8_t *out = malloc(cap ? cap : 1), *back = malloc(n + 16);
	size_t len = enc_compress(c, e, in, n, out, cap);
	assert_true(len > 0 || (e == ENC_IDENTITY && n == 0));
	assert_true(len <= cap);
	size_t got = e == ENC_BR ? br_decode(out, len, back, n + 16)
		   : e == ENC_GZIP ? gz_decode(out, len, back, n + 16)
				   : (memcpy(back, out, len), len);
	assert_int_equal(got, n);
	assert_memory_equal(back, in, n);
	free(out);
	free(back);
}

/* Every body /json/{count}?m can have: count 0..50 (and past the
 * dataset, which renders all 50) with the benchmark's and validation's
 * multipliers and a few more. */
static void test_json_bodies(void **state)
{
	(void)state;
	struct dataset d;
	assert_int_equal(dataset_generate(&d, DS_INT), 0);
	assert_int_equal(render_prepare(&d), 0);
	static const int64_t mults[] = { 0, 1, 2, 3, 4, 6, 7, 8, 1000, -5 };
	struct enc_coder *c = enc_coder_new(NULL);
	assert_non_null(c);
	char *doc = malloc(render_bound(&d, d.n + 10));
	size_t checked = 0;
	for (size_t count = 0; count <= d.n + 2; count++)
		for (size_t k = 0; k < sizeof(mults) / sizeof(mults[0]); k++) {
			size_t n = (size_t)(render_items(doc, &d, count, mults[k]) - doc);
			roundtrip(c, ENC_BR, doc, n);
			roundtrip(c, ENC_GZIP, doc, n);
			roundtrip(c, ENC_IDENTITY, doc, n);
			checked++;
		}
	assert_true(checked > 500);
	free(doc);
	enc_coder_free(c);
	dataset_free(&d);
}

/* Every quality and a spread of windows, on one body. */
static void test_br_settings(void **state)
{
	(void)state;
	struct dataset d;
	assert_int_equal(dataset_generate(&d, DS_INT), 0);
	char *doc = malloc(render_bound(&d, 50));
	size_t n = (size_t)(render_items(doc, &d, 50, 6) - doc);
	for (int q = -1; q <= 12; q++)
		for (int w = 8; w <= 25; w += 3) {
			struct enc_params p = { .br_quality = q, .br_lgwin = w, .br_text = (q & 1) != 0 };
			struct enc_coder *c = enc_coder_new(&p);
			assert_non_null(c);
			roundtrip(c, ENC_BR, doc, n);
			enc_coder_free(c);
		}
	free(doc);
	dataset_free(&d);
}

/* Steady state allocates nothing: the arena grows at most once. */
static void test_br_no_alloc(void **state)
{
	(void)state;
	struct dataset d;
	assert_int_equal(dataset_generate(&d, DS_INT), 0);
	char *doc = malloc(render_bound(&d, 50));
	size_t n = (size_t)(render_items(doc, &d, 50, 6) - doc);
	uint8_t *out = malloc(br_bound(n));
	struct enc_params dp = enc_params_default();
	struct br *b = br_new(dp.br_quality, dp.br_lgwin, dp.br_text ? BR_MODE_TEXT : BR_MODE_GENERIC);
	assert_true(br_compress(b, doc, n, out, br_bound(n)) > 0);
	unsigned long g = br_arena_grows(b);
	assert_true(g <= 1);
	for (int i = 0; i < 200; i++) {
		size_t m = (size_t)(render_items(doc, &d, (size_t)(i % 51), i) - doc);
		assert_true(br_compress(b, doc, m, out, br_bound(n)) > 0);
	}
	assert_int_equal(br_arena_grows(b), g);
	br_free(b);
	free(out);
	free(doc);
	dataset_free(&d);
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint8_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)rng;
}

/* Incompressible input, tight and too-small buffers, the stored form. */
static void test_br_edges(void **state)
{
	(void)state;
	struct enc_coder *c = enc_coder_new(NULL);
	static const size_t sizes[] = { 0, 1, 2, 100, 16383, 16384, 65536, 65537,
					(1u << 20) + 1, 3u << 20 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		uint8_t *in = malloc(n + 1);
		for (size_t i = 0; i < n; i++)
			in[i] = rnd();
		roundtrip(c, ENC_BR, in, n);
		roundtrip(c, ENC_GZIP, in, n);
		/* the stored stream itself decodes */
		uint8_t *st = malloc(br_stored_bound(n)), *back = malloc(n + 1);
		size_t sl = br_stored(in, n, st);
		assert_true(sl <= br_stored_bound(n));
		assert_true(sl <= br_bound(n) || n == 0);
		assert_int_equal(br_decode(st, sl, back, n + 1), n);
		assert_memory_equal(back, in, n);
		/* a buffer too small for anything: 0, not an overrun */
		if (n > 100) {
			size_t small = n / 2;
			uint8_t *o = malloc(small);
			assert_int_equal(enc_compress(c, ENC_BR, in, n, o, small), 0);
			assert_int_equal(enc_compress(c, ENC_IDENTITY, in, n, o, small), 0);
			free(o);
		}
		free(st);
		free(back);
		free(in);
	}
	uint8_t o[1];
	assert_int_equal(enc_compress(c, ENC_BR, "abc", 3, o, 0), 0);
	enc_coder_free(c);
	/* a stored stream longer than one 16 MiB meta-block */
	size_t n = (16u << 20) + 1000;
	uint8_t *in = malloc(n), *st = malloc(br_stored_bound(n)), *back = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		in[i] = (uint8_t)(i * 7);
	size_t sl = br_stored(in, n, st);
	assert_int_equal(br_decode(st, sl, back, n + 1), n);
	assert_memory_equal(back, in, n);
	free(in);
	free(st);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_header),
		cmocka_unit_test(test_benchmark_values),
		cmocka_unit_test(test_qvalues),
		cmocka_unit_test(test_q_zero),
		cmocka_unit_test(test_star),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_case_and_space),
		cmocka_unit_test(test_multiple_fields),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_json_bodies),
		cmocka_unit_test(test_br_settings),
		cmocka_unit_test(test_br_no_alloc),
		cmocka_unit_test(test_br_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
