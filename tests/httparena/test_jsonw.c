/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the JSON writer, the number formatting and the
 * rendering of the benchmark documents (examples/httparena-server).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "jsonw.h"
#include "render.h"

static void check_u64(uint64_t v)
{
	char a[32], b[32];
	*http_fmt_u64(a, v) = 0;
	snprintf(b, sizeof(b), "%" PRIu64, v);
	assert_string_equal(a, b);
}

static void check_i64(int64_t v)
{
	char a[32], b[32];
	*jw_i64(a, v) = 0;
	snprintf(b, sizeof(b), "%" PRId64, v);
	assert_string_equal(a, b);
}

static void test_integers(void **state)
{
	(void)state;
	uint64_t p = 1;
	for (int i = 0; i < 20; i++, p *= 10) {
		check_u64(p);
		check_u64(p - 1);
		check_u64(p + 1);
		check_i64(-(int64_t)(p / 2));
	}
	check_u64(0);
	check_u64(UINT64_MAX);
	check_i64(INT64_MIN);
	check_i64(INT64_MAX);
	for (uint64_t v = 0; v < 100000; v += 7)
		check_u64(v);
}

static void check_cents(int64_t v, const char *want)
{
	char a[32];
	*jw_cents(a, v) = 0;
	assert_string_equal(a, want);
}

/* Same text as Python's repr(round(x, 2)) for these values. */
static void test_cents(void **state)
{
	(void)state;
	check_cents(0, "0.0");
	check_cents(5, "0.05");
	check_cents(50, "0.5");
	check_cents(500, "5.0");
	check_cents(1230, "12.3");
	check_cents(1234, "12.34");
	check_cents(14760, "147.6");
	check_cents(99999, "999.99");
	check_cents(-1230, "-12.3");
	check_cents(-5, "-0.05");
	check_cents(INT64_MIN, "-92233720368547758.08");
}

static void check_str(const char *in, size_t n, const char *want)
{
	char out[JW_STR_BOUND(64) + 1];
	char *e = jw_str(out, in, n);
	assert_true((size_t)(e - out) <= JW_STR_BOUND(n));
	*e = 0;
	assert_string_equal(out, want);
}

static void test_strings(void **state)
{
	(void)state;
	check_str("", 0, "\"\"");
	check_str("Alpha Widget", 12, "\"Alpha Widget\"");
	check_str("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	check_str("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
	check_str("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
	check_str("a\0b", 3, "\"a\\u0000b\"");
	check_str("caf\xc3\xa9 \xe2\x82\xac", 9, "\"caf\xc3\xa9 \xe2\x82\xac\"");
	check_str("/", 1, "\"/\"");
	/* Worst case: every byte escaped as \u00XX. */
	char all[64];
	memset(all, 1, sizeof(all));
	char out[JW_STR_BOUND(64)];
	assert_int_equal(jw_str(out, all, sizeof(all)) - out, JW_STR_BOUND(64));
}

/* The plain byte-by-byte escaper jw_str must agree with. */
static size_t ref_escape(char *out, const unsigned char *s, size_t n)
{
	char *p = out;
	*p++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned c = s[i];
		const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
			      : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b"
			      : c == '\f' ? "\\f" : NULL;
		if (e)
			p += sprintf(p, "%s", e);
		else if (c < 0x20)
			p += sprintf(p, "\\u%04x", c);
		else
			*p++ = (char)c;
	}
	*p++ = '"';
	return (size_t)(p - out);
}

/* Random strings with specials at every position, every length around
 * the 8-byte steps. */
static void test_strings_random(void **state)
{
	(void)state;
	static const unsigned char specials[] = { '"', '\\', 0, 0x1f, '\n', 0x7f, 0x80, 0xff, ' ' };
	unsigned char in[40];
	char want[6 * 40 + 2], got[6 * 40 + 2];
	srand(12345);
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (size_t)(rand() % 40);
		for (size_t i = 0; i < n; i++)
			in[i] = (unsigned char)('a' + rand() % 26);
		if (n && iter % 4)
			in[rand() % n] = specials[rand() % sizeof(specials)];
		size_t wn = ref_escape(want, in, n);
		size_t gn = (size_t)(jw_str(got, (const char *)in, n) - got);
		assert_int_equal(gn, wn);
		assert_memory_equal(got, want, wn);
	}
}

/* The first item of /json, byte for byte. */
static void test_render_small(void **state)
{
	(void)state;
	struct dataset d;
	assert_int_equal(dataset_generate(&d, DS_SMALL), 0);
	assert_int_equal(d.n, 50);
	size_t bound = render_bound(&d, d.n);
	char *buf = malloc(bound);
	char *e = render_items(buf, &d, d.n, 1);
	assert_true((size_t)(e - buf) <= bound);
	*e = 0;
	const char *first = "{\"items\":[{\"id\":1,\"name\":\"Alpha Widget\","
			    "\"category\":\"electronics\",\"price\":5.0,\"quantity\":1,"
			    "\"active\":false,\"tags\":[\"fast\"],\"rating\":{\"score\":1.0,"
			    "\"count\":10},\"total\":5.0},{\"id\":2,";
	assert_memory_equal(buf, first, strlen(first));
	/* Item 2: price 12.3 x 12 = 147.6 (not 147.60000000000002). */
	assert_non_null(strstr(buf, "\"price\":12.3,\"quantity\":12,"));
	assert_non_null(strstr(buf, "\"total\":147.6}"));
	assert_non_null(strstr(buf, "],\"count\":50}"));
	assert_int_equal(e[-1], '}');
	free(buf);
	dataset_free(&d);
}

/* /json/{count}?m=: integer totals times m, first count items. */
static void test_render_int(void **state)
{
	(void)state;
	struct dataset d;
	char *buf;
	assert_int_equal(dataset_generate(&d, DS_INT), 0);
	buf = malloc(render_bound(&d, 3));
	char *e = render_items(buf, &d, 3, 7);
	assert_true((size_t)(e - buf) <= render_bound(&d, 3));
	*e = 0;
	char want[64];
	const struct item *it = &d.items[2];
	snprintf(want, sizeof(want), "\"total\":%" PRId64 "}],\"count\":3}",
		 it->price * it->quantity * 7);
	assert_non_null(strstr(buf, want));
	assert_null(strstr(buf, "\"id\":4,"));
	/* Zero items is a valid document. */
	*render_items(buf, &d, 0, 1) = 0;
	assert_string_equal(buf, "{\"items\":[],\"count\":0}");
	free(buf);
	dataset_free(&d);
}

static void test_render_large_bound(void **state)
{
	(void)state;
	struct dataset d;
	assert_int_equal(dataset_generate(&d, DS_LARGE), 0);
	assert_int_equal(d.n, 6000);
	size_t bound = render_bound(&d, d.n);
	char *buf = malloc(bound);
	char *e = render_items(buf, &d, d.n, 1);
	assert_true((size_t)(e - buf) <= bound);
	assert_true(e - buf > 1000000);
	assert_non_null(strstr(buf, ",\"count\":6000}"));
	free(buf);
	dataset_free(&d);
}

/* The tight bound holds for every count and extreme multipliers, and
 * the /json document fits one 16 KiB output chunk with its head. */
static void test_render_tight(void **state)
{
	(void)state;
	static const int64_t mults[] = { 1, 0, -1, 7, 1000000007, INT64_MAX, INT64_MIN };
	for (int k = DS_SMALL; k <= DS_LARGE; k++) {
		struct dataset d;
		assert_int_equal(dataset_generate(&d, (enum dataset_kind)k), 0);
		size_t loose = render_bound(&d, d.n);
		assert_int_equal(render_prepare(&d), 0);
		assert_true(render_bound(&d, d.n) <= loose);
		char *buf = malloc(render_bound(&d, d.n));
		size_t step = k == DS_LARGE ? 599 : 1;
		for (size_t count = 0; count <= d.n; count += step) {
			for (size_t m = 0; m < sizeof(mults) / sizeof(mults[0]); m++) {
				size_t len = (size_t)(render_items(buf, &d, count, mults[m]) - buf);
				assert_true(len <= render_bound(&d, count));
			}
		}
		if (k == DS_SMALL)
			assert_true(render_bound(&d, d.n) + 512 <= 16384);
		free(buf);
		dataset_free(&d);
	}
}

static bool str_eq(struct str a, struct str b)
{
	return a.n == b.n && !memcmp(a.p, b.p, a.n);
}

/* What the generator writes, jansson loads back unchanged. */
static void test_write_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_jsonw.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	for (int k = DS_SMALL; k <= DS_LARGE; k++) {
		struct dataset g, l;
		char err[256];
		snprintf(path, sizeof(path), "%s/%s", dir, dataset_file[k]);
		assert_int_equal(dataset_generate(&g, (enum dataset_kind)k), 0);
		assert_int_equal(dataset_write(&g, (enum dataset_kind)k, path), 0);
		assert_int_equal(dataset_load(&l, (enum dataset_kind)k, path, err, sizeof(err)), 0);
		assert_int_equal(l.n, g.n);
		assert_int_equal(l.fixed2, g.fixed2);
		for (size_t i = 0; i < g.n; i++) {
			const struct item *a = &g.items[i], *b = &l.items[i];
			assert_true(a->id == b->id && a->price == b->price &&
				    a->quantity == b->quantity && a->score == b->score &&
				    a->count == b->count && a->active == b->active &&
				    a->ntags == b->ntags);
			assert_true(str_eq(a->name, b->name) && str_eq(a->category, b->category));
			for (unsigned t = 0; t < a->ntags; t++)
				assert_true(str_eq(g.tags[a->tag0 + t], l.tags[b->tag0 + t]));
		}
		dataset_free(&g);
		dataset_free(&l);
		unlink(path);
	}
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_cents),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_strings_random),
		cmocka_unit_test(test_render_small),
		cmocka_unit_test(test_render_int),
		cmocka_unit_test(test_render_large_bound),
		cmocka_unit_test(test_render_tight),
		cmocka_unit_test(test_write_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
