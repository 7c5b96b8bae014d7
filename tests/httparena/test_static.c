/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of examples/httparena-server/static.c, the static
 * profile's file store (SPEC-HEAD.md 4).
 *
 * Two directories: one the test writes (the 20 names and sizes of
 * SPEC-HEAD 4.2 with generated contents and .gz/.br siblings made here,
 * plus every kind of file the store must refuse or skip), and the
 * benchmark's own data/static when its path is given (argv[1]; meson
 * passes ../shared/httparena/data/static when it exists; otherwise that
 * group is skipped, and says so).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "static.h"

/* SPEC-HEAD.md 4.2 */
static const struct spec_file {
	const char *name;
	size_t bytes, gz, br; /* 0: no sibling */
	const char *type;
} spec[20] = {
	{ "reset.css", 8192, 2838, 2420, "text/css" },
	{ "layout.css", 25600, 6380, 5615, "text/css" },
	{ "theme.css", 18432, 5138, 4520, "text/css" },
	{ "components.css", 204800, 39348, 33268, "text/css" },
	{ "utilities.css", 61440, 13040, 11595, "text/css" },
	{ "analytics.js", 12288, 4390, 3899, "application/javascript" },
	{ "helpers.js", 22528, 7442, 6612, "application/javascript" },
	{ "app.js", 204800, 54813, 47275, "application/javascript" },
	{ "vendor.js", 307200, 79899, 67294, "application/javascript" },
	{ "router.js", 35840, 10856, 9665, "application/javascript" },
	{ "header.html", 122880, 11769, 9390, "text/html" },
	{ "footer.html", 56320, 8256, 6974, "text/html" },
	{ "regular.woff2", 18432, 0, 0, "font/woff2" },
	{ "bold.woff2", 22528, 0, 0, "font/woff2" },
	{ "logo.svg", 15344, 3654, 3028, "image/svg+xml" },
	{ "icon-sprite.svg", 71680, 13657, 11739, "image/svg+xml" },
	{ "hero.webp", 46080, 0, 0, "image/webp" },
	{ "thumb1.webp", 8192, 0, 0, "image/webp" },
	{ "thumb2.webp", 6144, 0, 0, "image/webp" },
	{ "manifest.json", 2883, 927, 735, "application/json" },
};

static char fixture[256];
static const char *real_dir;

static const char wrk_ae[] = "br;q=1, gzip;q=0.8"; /* static-rotate.lua */
static const char curl_ae[] = "deflate, gzip, br, zstd"; /* curl --compressed */

/* ------------------------------------------------------------------ */
/* Making the fixture                                                  */
/* ------------------------------------------------------------------ */

static uint64_t rng = 88172645463325252u;
static uint8_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)rng;
}

static void put(const char *name, const void *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", fixture, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Text that compresses like a stylesheet or a script. */
static uint8_t *text(size_t n)
{
	static const char *words[] = { "color", "margin", "function", "return", "var",
				       "padding", "display:flex;", "{", "}", "\n",
				       "const", "=>", "border", "0px", "1rem", ";" };
	uint8_t *p = malloc(n + 1);
	for (size_t i = 0; i < n;) {
		const char *w = words[rnd() % 16];
		for (size_t k = 0; w[k] && i < n; k++)
			p[i++] = (uint8_t)w[k];
		if (i < n)
			p[i++] = (rnd() & 3) ? ' ' : (uint8_t)('a' + rnd() % 26);
	}
	return p;
}

static size_t gzip_of(const uint8_t *in, size_t n, uint8_t **out)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
			 Z_OK);
	size_t cap = deflateBound(&z, n) + 32;
	*out = malloc(cap);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = *out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t len = z.total_out;
	deflateEnd(&z);
	return len;
}

static size_t br_of(const uint8_t *in, size_t n, uint8_t **out)
{
	size_t len = BrotliEncoderMaxCompressedSize(n) + 16;
	*out = malloc(len);
	assert_true(BrotliEncoderCompress(9, 22, BROTLI_MODE_TEXT, n, in, &len, *out));
	return len;
}

/* What each fixture file holds, to compare with what the store serves. */
struct want {
	char name[64];
	uint8_t *data;
	size_t len;
	uint8_t *gz, *br;
	size_t gz_len, br_len;
};
static struct want wants[32];
static int nwants;

static struct want *add(const char *name, uint8_t *data, size_t len, bool gz, bool br)
{
	struct want *w = &wants[nwants++];
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->data = data;
	w->len = len;
	put(name, data, len);
	char sib[80];
	if (gz) {
		w->gz_len = gzip_of(data, len, &w->gz);
		snprintf(sib, sizeof(sib), "%s.gz", name);
		put(sib, w->gz, w->gz_len);
	}
	if (br) {
		w->br_len = br_of(data, len, &w->br);
		snprintf(sib, sizeof(sib), "%s.br", name);
		put(sib, w->br, w->br_len);
	}
	return w;
}

static int setup(void **state)
{
	(void)state;
	snprintf(fixture, sizeof(fixture), "/tmp/test_static.XXXXXX");
	if (!mkdtemp(fixture))
		return -1;
	for (int i = 0; i < 20; i++) {
		const struct spec_file *s = &spec[i];
		bool txt = s->gz != 0;
		uint8_t *d;
		if (txt) {
			d = text(s->bytes);
		} else {
			d = malloc(s->bytes);
			for (size_t k = 0; k < s->bytes; k++)
				d[k] = rnd();
		}
		add(s->name, d, s->bytes, txt, txt);
	}
	/* Served, identity only or with a sibling as said. */
	uint8_t *d = text(300);
	add("bad.css", d, 300, false, false);
	put("bad.css.br", "not brotli at all, not at all", 29); /* does not decode */
	d = (uint8_t *)strdup("tiny");
	struct want *w = add("big.txt", d, 4, false, false);
	w->gz_len = gzip_of(d, 4, &w->gz); /* valid, but larger than the file */
	put("big.txt.gz", w->gz, w->gz_len);
	free(w->gz);
	w->gz = NULL;
	w->gz_len = 0;
	d = text(2000);
	w = add("wrong.js", d, 2000, false, false);
	uint8_t *other = text(2000), *og;
	size_t ogl = gzip_of(other, 2000, &og); /* decodes, to other bytes */
	put("wrong.js.gz", og, ogl);
	free(og);
	free(other);
	add("UPPER.CSS", text(500), 500, true, false);
	add("empty.txt", malloc(1), 0, false, false);
	add("noext", text(100), 100, false, false);
	add("v1.2.3-min_x~y+z.js", text(700), 700, false, true);
	/* A woff2's sibling is never used. */
	uint8_t *wg;
	size_t wgl = gzip_of(wants[12].data, wants[12].len, &wg);
	assert_string_equal(wants[12].name, "regular.woff2");
	put("regular.woff2.gz", wg, wgl);
	free(wg);
	/* Skipped. */
	put(".hidden", "secret", 6);
	put("orphan.js.gz", wants[0].gz, wants[0].gz_len);
	put("only.css.br", wants[0].br, wants[0].br_len);
	put("weird name.css", "x", 1);
	put("a..b.css", "x", 1);
	put("q%41.css", "x", 1);
	/* Not served: a directory and what is in it. */
	char path[512];
	snprintf(path, sizeof(path), "%s/sub", fixture);
	assert_int_equal(mkdir(path, 0755), 0);
	put("sub/inner.css", "x", 1);
	snprintf(path, sizeof(path), "%s/dir.css", fixture);
	assert_int_equal(mkdir(path, 0755), 0);
	/* Links: one to a file (served as that file), one to nothing. */
	snprintf(path, sizeof(path), "%s/link.css", fixture);
	assert_int_equal(symlink("reset.css", path), 0);
	snprintf(path, sizeof(path), "%s/dangling.css", fixture);
	assert_int_equal(symlink("nowhere.css", path), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fixture);
	if (system(cmd) != 0)
		return -1;
	for (int i = 0; i < nwants; i++) {
		free(wants[i].data);
		free(wants[i].gz);
		free(wants[i].br);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static const struct static_file *find(const struct static_store *s, const char *path)
{
	return static_find(s, (const uint8_t *)path, strlen(path));
}

static enum enc pick(const struct static_file *f, const char *ae, const struct static_rep **r)
{
	if (!ae)
		return static_pick(f, NULL, r);
	struct enc_accept a;
	enc_accept_init(&a);
	enc_accept_parse(&a, (const uint8_t *)ae, strlen(ae));
	return static_pick(f, &a, r);
}

static struct static_store *load(const char *dir)
{
	struct static_store *s;
	char err[512] = "";
	int rc = static_load(&s, dir, err, sizeof(err));
	if (rc)
		fail_msg("static_load(%s): %s", dir, err);
	assert_non_null(s);
	return s;
}

static bool decodes_to(enum enc e, const struct static_rep *r, const uint8_t *orig, size_t len)
{
	uint8_t *buf = malloc(len + 1);
	bool ok;
	if (e == ENC_BR) {
		size_t n = len + 1;
		ok = BrotliDecoderDecompress(r->len, r->data, &n, buf) ==
			     BROTLI_DECODER_RESULT_SUCCESS && n == len && !memcmp(buf, orig, len);
	} else if (e == ENC_GZIP) {
		uLongf n = len + 1;
		z_stream z;
		memset(&z, 0, sizeof(z));
		inflateInit2(&z, 16 + MAX_WBITS);
		z.next_in = (Bytef *)(uintptr_t)r->data;
		z.avail_in = (uInt)r->len;
		z.next_out = buf;
		z.avail_out = (uInt)n;
		ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == len &&
		     !memcmp(buf, orig, len);
		inflateEnd(&z);
	} else {
		ok = r->len == len && !memcmp(r->data, orig, len);
	}
	free(buf);
	return ok;
}

/* ------------------------------------------------------------------ */
/* The generated directory                                             */
/* ------------------------------------------------------------------ */

static void test_every_file(void **state)
{
	(void)state;
	struct static_store *s = load(fixture);
	/* 20 + bad.css big.txt wrong.js UPPER.CSS empty.txt noext
	 * v1.2.3-min_x~y+z.js link.css */
	assert_int_equal(static_count(s), 28);
	/* .hidden orphan.js.gz only.css.br "weird name.css" a..b.css
	 * q%41.css dangling.css bad.css.br big.txt.gz wrong.js.gz
	 * regular.woff2.gz */
	assert_int_equal(static_skipped(s), 11);
	for (int i = 0; i < nwants; i++) {
		const struct want *w = &wants[i];
		char path[256];
		snprintf(path, sizeof(path), "/static/%.64s", w->name);
		const struct static_file *f = find(s, path);
		if (!f)
			fail_msg("%s not found", path);
		assert_string_equal(f->name, w->name);
		assert_int_equal(f->rep[ENC_IDENTITY].len, w->len);
		if (w->len)
			assert_memory_equal(f->rep[ENC_IDENTITY].data, w->data, w->len);
		assert_int_equal(f->rep[ENC_GZIP].len, w->gz_len);
		assert_int_equal(f->rep[ENC_BR].len, w->br_len);
		if (w->gz_len)
			assert_memory_equal(f->rep[ENC_GZIP].data, w->gz, w->gz_len);
		if (w->br_len)
			assert_memory_equal(f->rep[ENC_BR].data, w->br, w->br_len);
		unsigned want_bits = ENC_BIT(ENC_IDENTITY) | (w->gz_len ? ENC_BIT(ENC_GZIP) : 0) |
				     (w->br_len ? ENC_BIT(ENC_BR) : 0);
		assert_int_equal(f->offered, want_bits);
		/* the same entry by its bare name, and with a query */
		assert_ptr_equal(static_find_name(s, (const uint8_t *)w->name, strlen(w->name)), f);
		strcat(path, "?v=2&x=/../..");
		assert_ptr_equal(find(s, path), f);
	}
	/* the link is reset.css's bytes */
	const struct static_file *l = find(s, "/static/link.css");
	assert_non_null(l);
	assert_int_equal(l->rep[ENC_IDENTITY].len, 8192);
	assert_memory_equal(l->rep[ENC_IDENTITY].data, wants[0].data, 8192);
	assert_int_equal(l->offered, ENC_BIT(ENC_IDENTITY));
	/* sorted by name */
	for (size_t i = 1; i < static_count(s); i++)
		assert_true(strcmp(static_at(s, i - 1)->name, static_at(s, i)->name) < 0);
	assert_null(static_at(s, static_count(s)));
	static_free(s);
}

static void test_siblings(void **state)
{
	(void)state;
	struct static_store *s = load(fixture);
	const struct static_rep *r;
	for (int i = 0; i < 20; i++) {
		const struct want *w = &wants[i];
		const struct static_file *f = static_find_name(s, (const uint8_t *)w->name,
							       strlen(w->name));
		assert_non_null(f);
		bool txt = spec[i].gz != 0;
		/* wrk's header and curl's: br when there is one */
		assert_int_equal(pick(f, wrk_ae, &r), txt ? ENC_BR : ENC_IDENTITY);
		assert_ptr_equal(r, &f->rep[txt ? ENC_BR : ENC_IDENTITY]);
		assert_true(decodes_to(txt ? ENC_BR : ENC_IDENTITY, r, w->data, w->len));
		assert_int_equal(pick(f, curl_ae, &r), txt ? ENC_BR : ENC_IDENTITY);
		/* gzip only, or br refused */
		assert_int_equal(pick(f, "gzip", &r), txt ? ENC_GZIP : ENC_IDENTITY);
		assert_true(decodes_to(txt ? ENC_GZIP : ENC_IDENTITY, r, w->data, w->len));
		assert_int_equal(pick(f, "br;q=0, gzip", &r), txt ? ENC_GZIP : ENC_IDENTITY);
		assert_int_equal(pick(f, "gzip;q=1, br;q=0.5", &r), txt ? ENC_GZIP : ENC_IDENTITY);
		/* no header, identity, nothing we have */
		assert_int_equal(pick(f, NULL, &r), ENC_IDENTITY);
		assert_ptr_equal(r, &f->rep[ENC_IDENTITY]);
		assert_int_equal(pick(f, "identity", &r), ENC_IDENTITY);
		assert_int_equal(pick(f, "deflate, zstd", &r), ENC_IDENTITY);
		assert_int_equal(pick(f, "", &r), ENC_IDENTITY);
		assert_int_equal(pick(f, "*;q=0", &r), ENC_IDENTITY);
		assert_int_equal(pick(f, "*", &r), txt ? ENC_BR : ENC_IDENTITY);
		/* never a coding the file does not have */
		assert_true(pick(f, "br", &r) == (txt ? ENC_BR : ENC_IDENTITY));
		assert_non_null(r->data);
	}
	/* one sibling only */
	const struct static_file *f = find(s, "/static/UPPER.CSS");
	assert_non_null(f);
	assert_string_equal(f->type, "text/css");
	assert_int_equal(pick(f, "gzip, br", &r), ENC_GZIP);
	assert_int_equal(pick(f, "br", &r), ENC_IDENTITY);
	f = find(s, "/static/v1.2.3-min_x~y+z.js");
	assert_non_null(f);
	assert_int_equal(pick(f, "gzip, br", &r), ENC_BR);
	assert_int_equal(pick(f, "gzip", &r), ENC_IDENTITY);
	/* siblings dropped: undecodable, larger than the file, another
	 * file's, a type never compressed */
	static const char *plain[] = { "bad.css", "big.txt", "wrong.js", "regular.woff2" };
	for (size_t i = 0; i < 4; i++) {
		f = static_find_name(s, (const uint8_t *)plain[i], strlen(plain[i]));
		assert_non_null(f);
		assert_int_equal(f->offered, ENC_BIT(ENC_IDENTITY));
		assert_int_equal(pick(f, "gzip, br", &r), ENC_IDENTITY);
	}
	f = find(s, "/static/empty.txt");
	assert_non_null(f);
	assert_int_equal(f->rep[ENC_IDENTITY].len, 0);
	static_free(s);
}

static void test_refused(void **state)
{
	(void)state;
	struct static_store *s = load(fixture);
	assert_non_null(find(s, "/static/app.js"));
	static const char *no[] = {
		/* traversal, every spelling */
		"/static/../static/app.js", "/static/..", "/static/../", "/static/../../etc/passwd",
		"/static/./app.js", "/static/.", "/static/app.js/..", "/static/sub/../app.js",
		"/static/%2e%2e/app.js", "/static/%2E%2E/app.js", "/static/%2e%2e%2fapp.js",
		"/static/..%2fapp.js", "/static/..%2Fapp.js", "/static/%2e./app.js",
		"/static/.%2e/app.js", "/static/%252e%252e/app.js", "/static/..%5capp.js",
		"/static/..\\app.js", "/static/\\app.js", "/static/....//app.js",
		"/static/%c0%ae%c0%ae/app.js", "/static/%61pp.js", "/static/app%2ejs",
		"/static//app.js", "//static/app.js", "/static///app.js", "/./static/app.js",
		"/static/app.js/", "/static/app.js/.", "/static/app.js//",
		/* not the prefix */
		"/static", "/static/", "/Static/app.js", "/STATIC/app.js", "static/app.js",
		"/staticapp.js", "/static-app.js", "/app.js", "", "/", "/static?app.js",
		"/static/?app.js", "/static/#app.js",
		/* siblings by name, skipped files, directories */
		"/static/app.js.gz", "/static/app.js.br", "/static/reset.css.br",
		"/static/orphan.js.gz", "/static/only.css.br", "/static/regular.woff2.gz",
		"/static/.hidden", "/static/sub", "/static/sub/", "/static/sub/inner.css",
		"/static/dir.css", "/static/dangling.css", "/static/a..b.css",
		"/static/q%41.css", "/static/qA.css", "/static/weird name.css",
		"/static/weird%20name.css",
		/* near names, case, junk */
		"/static/APP.JS", "/static/App.js", "/static/app.j", "/static/app.jss",
		"/static/app", "/static/app.js ", "/static/ app.js", "/static/app.js;x",
		"/static/app.js#frag", "/static/app.js%00", "/static/nonexistent.txt",
		"/static/upper.css", "/static/*", "/static/app.*",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (find(s, no[i]))
			fail_msg("%s was found", no[i]);
	/* a NUL inside the path */
	static const uint8_t nul[] = "/static/app.js\0.css";
	assert_null(static_find(s, nul, sizeof(nul) - 1));
	static const uint8_t nul2[] = "/static/app\0.js";
	assert_null(static_find(s, nul2, sizeof(nul2) - 1));
	/* a name longer than any file system's */
	char longp[600] = "/static/";
	memset(longp + 8, 'a', 500);
	strcpy(longp + 508, ".css");
	assert_null(find(s, longp));
	/* every byte in front of, inside and after a real name */
	for (unsigned c = 0; c < 256; c++) {
		char p[64];
		bool query = c == '?';
		int n = snprintf(p, sizeof(p), "/static/app.js%c", (char)c);
		p[n - 1] = (char)c;
		assert_true((static_find(s, (const uint8_t *)p, (size_t)n) != NULL) == query);
		n = snprintf(p, sizeof(p), "/static/%capp.js", (char)c);
		p[8] = (char)c;
		assert_null(static_find(s, (const uint8_t *)p, (size_t)n));
	}
	/* a NULL or empty store finds nothing */
	assert_null(static_find(NULL, (const uint8_t *)"/static/app.js", 14));
	static_free(s);
}

static void test_types(void **state)
{
	(void)state;
	static const struct {
		const char *name, *type;
		bool comp;
	} t[] = {
		{ "a.css", "text/css", true },
		{ "a.js", "application/javascript", true },
		{ "a.json", "application/json", true },
		{ "a.html", "text/html", true },
		{ "a.svg", "image/svg+xml", true },
		{ "a.woff2", "font/woff2", false },
		{ "a.webp", "image/webp", false },
		{ "A.CSS", "text/css", true },
		{ "a.Js", "application/javascript", true },
		{ "a.min.js", "application/javascript", true },
		{ "a.css.map", "application/json", true },
		{ "a.txt", "text/plain", true },
		{ "a.png", "image/png", false },
		{ "noext", "application/octet-stream", true },
		{ "a.", "application/octet-stream", true },
		{ "a.bin", "application/octet-stream", true },
		{ "a.jsx", "application/octet-stream", true },
		{ "a.cs", "application/octet-stream", true },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool comp = !t[i].comp;
		assert_string_equal(static_type(t[i].name, strlen(t[i].name), &comp), t[i].type);
		assert_int_equal(comp, t[i].comp);
	}
	struct static_store *s = load(fixture);
	for (int i = 0; i < 20; i++) {
		const struct static_file *f = static_find_name(s, (const uint8_t *)spec[i].name,
							       strlen(spec[i].name));
		assert_non_null(f);
		assert_string_equal(f->type, spec[i].type);
	}
	assert_string_equal(find(s, "/static/noext")->type, "application/octet-stream");
	assert_string_equal(find(s, "/static/empty.txt")->type, "text/plain");
	static_free(s);
}

static void test_load_errors(void **state)
{
	(void)state;
	struct static_store *s = (struct static_store *)1;
	char err[256] = "";
	assert_int_equal(static_load(&s, "/nonexistent/static", err, sizeof(err)), -1);
	assert_null(s);
	assert_non_null(strstr(err, "/nonexistent/static"));
	char path[512];
	snprintf(path, sizeof(path), "%s/reset.css", fixture);
	assert_int_equal(static_load(&s, path, err, sizeof(err)), -1); /* not a directory */
	assert_null(s);
	/* an empty directory is a store with no files */
	snprintf(path, sizeof(path), "%s/sub2", fixture);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(static_load(&s, path, err, sizeof(err)), 0);
	assert_int_equal(static_count(s), 0);
	assert_null(find(s, "/static/app.js"));
	static_free(s);
	rmdir(path);
	static_free(NULL);
}

/* ------------------------------------------------------------------ */
/* The benchmark's directory                                           */
/* ------------------------------------------------------------------ */

static void test_real_files(void **state)
{
	(void)state;
	if (!real_dir) {
		print_message("SKIP: no path to the benchmark's data/static was given "
			      "(meson passes ../shared/httparena/data/static when it exists)\n");
		skip();
	}
	struct static_store *s = load(real_dir);
	assert_int_equal(static_count(s), 20);
	assert_int_equal(static_skipped(s), 0);
	size_t with_br = 0, with_gz = 0;
	const struct static_rep *r;
	for (int i = 0; i < 20; i++) {
		char path[128];
		snprintf(path, sizeof(path), "/static/%s", spec[i].name);
		const struct static_file *f = find(s, path);
		if (!f)
			fail_msg("%s not found in %s", path, real_dir);
		assert_string_equal(f->type, spec[i].type);
		assert_int_equal(f->rep[ENC_IDENTITY].len, spec[i].bytes);
		assert_int_equal(f->rep[ENC_GZIP].len, spec[i].gz);
		assert_int_equal(f->rep[ENC_BR].len, spec[i].br);
		const uint8_t *orig = f->rep[ENC_IDENTITY].data;
		size_t len = f->rep[ENC_IDENTITY].len;
		/* the file on disk, byte for byte */
		char disk[600];
		snprintf(disk, sizeof(disk), "%s/%s", real_dir, spec[i].name);
		FILE *fp = fopen(disk, "rb");
		assert_non_null(fp);
		uint8_t *buf = malloc(len + 1);
		assert_int_equal(fread(buf, 1, len + 1, fp), len);
		fclose(fp);
		assert_memory_equal(buf, orig, len);
		free(buf);
		enum enc e = pick(f, wrk_ae, &r);
		assert_int_equal(e, spec[i].br ? ENC_BR : ENC_IDENTITY);
		assert_true(decodes_to(e, r, orig, len));
		with_br += e == ENC_BR;
		e = pick(f, "gzip", &r);
		assert_int_equal(e, spec[i].gz ? ENC_GZIP : ENC_IDENTITY);
		assert_true(decodes_to(e, r, orig, len));
		with_gz += e == ENC_GZIP;
		assert_int_equal(pick(f, NULL, &r), ENC_IDENTITY);
		assert_int_equal(r->len, spec[i].bytes);
	}
	assert_int_equal(with_br, 15);
	assert_int_equal(with_gz, 15);
	/* SPEC-HEAD 4.3 step 6, and 4.2's totals */
	assert_null(find(s, "/static/nonexistent.txt"));
	assert_int_equal(static_bytes(s), 1271603 + 363783 - 101376 + 325405 - 101376);
	static_free(s);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		real_dir = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_file),
		cmocka_unit_test(test_siblings),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_real_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
