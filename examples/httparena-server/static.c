/* SPDX-License-Identifier: MIT */
/* The static file store: load once, look up by name, pick a sibling. */
#include "static.h"

#include <brotli/decode.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct static_store {
	struct static_file *files; /* sorted by name */
	size_t n;
	uint32_t *slots;           /* index + 1; 0 = empty */
	uint32_t mask;
	size_t skipped;
	size_t bytes;
};

/* ------------------------------------------------------------------ */
/* Names and types                                                     */
/* ------------------------------------------------------------------ */

static const struct {
	const char *ext;
	const char *type;
	bool compressible;
} types[] = {
	/* SPEC-HEAD.md 4.1; the rest as nginx's mime.types */
	{ "css", "text/css", true },
	{ "js", "application/javascript", true },
	{ "mjs", "application/javascript", true },
	{ "json", "application/json", true },
	{ "map", "application/json", true },
	{ "html", "text/html", true },
	{ "htm", "text/html", true },
	{ "svg", "image/svg+xml", true },
	{ "txt", "text/plain", true },
	{ "xml", "text/xml", true },
	{ "wasm", "application/wasm", true },
	{ "ico", "image/x-icon", true },
	{ "woff2", "font/woff2", false },
	{ "woff", "font/woff", false },
	{ "webp", "image/webp", false },
	{ "png", "image/png", false },
	{ "jpg", "image/jpeg", false },
	{ "jpeg", "image/jpeg", false },
	{ "gif", "image/gif", false },
	{ "avif", "image/avif", false },
};

static bool ieq(const char *s, size_t n, const char *lit)
{
	size_t i = 0;
	for (; i < n && lit[i]; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return false;
	}
	return i == n && !lit[i];
}

const char *static_type(const char *name, size_t n, bool *compressible)
{
	size_t dot = n;
	while (dot > 0 && name[dot - 1] != '.')
		dot--;
	if (dot > 0) {
		const char *ext = name + dot;
		size_t en = n - dot;
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (ieq(ext, en, types[i].ext)) {
				if (compressible)
					*compressible = types[i].compressible;
				return types[i].type;
			}
	}
	if (compressible)
		*compressible = true; /* unknown: a sibling decides */
	return "application/octet-stream";
}

static bool name_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '~' || c == '+';
}

static bool ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n >= k && !memcmp(s + n - k, suf, k);
}

/* Which sibling suffix a name carries: ENC_BR, ENC_GZIP or ENC_IDENTITY. */
static enum enc sibling_kind(const char *s, size_t n)
{
	if (ends_with(s, n, ".br"))
		return ENC_BR;
	if (ends_with(s, n, ".gz"))
		return ENC_GZIP;
	return ENC_IDENTITY;
}

/* A name the store may hold or be asked for. */
static bool name_ok(const uint8_t *s, size_t n)
{
	if (n == 0 || n > STATIC_MAX_NAME || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!name_byte(s[i]))
			return false;
		if (s[i] == '.' && i + 1 < n && s[i + 1] == '.')
			return false;
	}
	return true;
}

static uint32_t hash(const uint8_t *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 16777619u;
	return h;
}

/* ------------------------------------------------------------------ */
/* Lookup                                                              */
/* ------------------------------------------------------------------ */

const struct static_file *static_find_name(const struct static_store *s,
					   const uint8_t *name, size_t n)
{
	if (!s || !s->n || !name_ok(name, n) || sibling_kind((const char *)name, n) != ENC_IDENTITY)
		return NULL;
	for (uint32_t i = hash(name, n) & s->mask;; i = (i + 1) & s->mask) {
		uint32_t k = s->slots[i];
		if (!k)
			return NULL;
		const struct static_file *f = &s->files[k - 1];
		if (f->name_len == n && !memcmp(f->name, name, n))
			return f;
	}
}

const struct static_file *static_find(const struct static_store *s, const uint8_t *path,
				      size_t n)
{
	const size_t pn = sizeof(STATIC_PREFIX) - 1;
	if (n < pn || memcmp(path, STATIC_PREFIX, pn))
		return NULL;
	const uint8_t *q = memchr(path + pn, '?', n - pn);
	size_t end = q ? (size_t)(q - path) : n;
	return static_find_name(s, path + pn, end - pn);
}

enum enc static_pick(const struct static_file *f, const struct enc_accept *a,
		     const struct static_rep **rep)
{
	enum enc e = a ? enc_choose(a, f->offered) : ENC_IDENTITY;
	if (!f->rep[e].data) /* enc_choose keeps to offered; be sure */
		e = ENC_IDENTITY;
	*rep = &f->rep[e];
	return e;
}

size_t static_count(const struct static_store *s)
{
	return s ? s->n : 0;
}

const struct static_file *static_at(const struct static_store *s, size_t i)
{
	return s && i < s->n ? &s->files[i] : NULL;
}

size_t static_skipped(const struct static_store *s)
{
	return s ? s->skipped : 0;
}

size_t static_bytes(const struct static_store *s)
{
	return s ? s->bytes : 0;
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

struct cand {
	char *name;
	size_t name_len;
	size_t size;
	enum enc kind;   /* sibling suffix */
	long base;       /* sibling: index of its file in the list, or -1 */
	uint8_t *data;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int read_file(int dfd, const char *name, size_t size, uint8_t **out)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size != size) {
		close(fd);
		return -ESTALE; /* changed between the listing and now */
	}
	uint8_t *p = malloc(size ? size : 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, p + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? -errno : -ESTALE;
			free(p);
			close(fd);
			return e;
		}
		got += (size_t)r;
	}
	close(fd);
	*out = p;
	return 0;
}

static bool gz_matches(const uint8_t *gz, size_t n, const uint8_t *orig, size_t len,
		       uint8_t *buf)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (n > UINT32_MAX || len >= UINT32_MAX || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return false;
	z.next_in = (Bytef *)(uintptr_t)gz;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)len + 1; /* one more: a longer stream shows */
	int rc = inflate(&z, Z_FINISH);
	bool ok = rc == Z_STREAM_END && z.avail_in == 0 && z.total_out == len &&
		  !memcmp(buf, orig, len);
	inflateEnd(&z);
	return ok;
}

static bool br_matches(const uint8_t *br, size_t n, const uint8_t *orig, size_t len,
		       uint8_t *buf)
{
	size_t out = len + 1;
	return BrotliDecoderDecompress(n, br, &out, buf) == BROTLI_DECODER_RESULT_SUCCESS &&
	       out == len && !memcmp(buf, orig, len);
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	return strcmp(x->name, y->name);
}

static int find_cand(const struct cand *c, size_t n, const char *name, size_t len)
{
	/* c is sorted by name */
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strncmp(c[mid].name, name, len);
		if (r == 0 && c[mid].name_len != len)
			r = c[mid].name_len < len ? -1 : 1;
		if (r == 0)
			return (int)mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void free_cands(struct cand *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].name);
		free(c[i].data);
	}
	free(c);
}

void static_free(struct static_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free((char *)s->files[i].name);
		for (int e = 0; e < ENC_COUNT; e++)
			free((uint8_t *)s->files[i].rep[e].data);
	}
	free(s->files);
	free(s->slots);
	free(s);
}

int static_load(struct static_store **out, const char *dir, char *err, size_t errlen)
{
	*out = NULL;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail(err, errlen, "%s: %s", dir, strerror(errno));
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		return fail(err, errlen, "%s: %s", dir, strerror(e));
	}
	struct static_store *s = calloc(1, sizeof(*s));
	struct cand *c = NULL;
	size_t nc = 0, cap = 0, total = 0;
	int rc = -1;
	if (!s) {
		fail(err, errlen, "out of memory");
		goto out;
	}

	/* 1. The listing: regular files with names the store can hold. */
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno) {
				fail(err, errlen, "%s: %s", dir, strerror(errno));
				goto out;
			}
			break;
		}
		const char *nm = de->d_name;
		size_t len = strlen(nm);
		if (!strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		struct stat st;
		if (fstatat(dfd, nm, &st, 0)) {
			s->skipped++; /* a dangling link */
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			if (!S_ISDIR(st.st_mode))
				s->skipped++;
			continue; /* directories are never served */
		}
		if (!name_ok((const uint8_t *)nm, len)) {
			s->skipped++;
			continue;
		}
		if ((uint64_t)st.st_size > STATIC_MAX_FILE) {
			fail(err, errlen, "%s/%s: %lld bytes, more than %u", dir, nm,
			     (long long)st.st_size, STATIC_MAX_FILE);
			goto out;
		}
		if (nc == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct cand *p = realloc(c, ncap * sizeof(*c));
			if (!p) {
				fail(err, errlen, "out of memory");
				goto out;
			}
			c = p;
			cap = ncap;
		}
		if (nc >= 2 * (size_t)STATIC_MAX_FILES) {
			fail(err, errlen, "%s: more than %d files", dir, 2 * STATIC_MAX_FILES);
			goto out;
		}
		c[nc] = (struct cand){ .name = strdup(nm), .name_len = len,
				       .size = (size_t)st.st_size,
				       .kind = sibling_kind(nm, len), .base = -1 };
		if (!c[nc].name) {
			fail(err, errlen, "out of memory");
			goto out;
		}
		nc++;
	}
	if (nc)
		qsort(c, nc, sizeof(*c), cmp_cand);

	/* 2. Siblings find their file; files count. */
	size_t nfiles = 0;
	for (size_t i = 0; i < nc; i++) {
		if (c[i].kind == ENC_IDENTITY) {
			nfiles++;
			continue;
		}
		int b = find_cand(c, nc, c[i].name, c[i].name_len - 3);
		bool comp = false;
		if (b >= 0 && c[b].kind == ENC_IDENTITY) {
			static_type(c[b].name, c[b].name_len, &comp);
			if (comp && c[i].size < c[b].size)
				c[i].base = b;
		}
		if (c[i].base < 0)
			s->skipped++; /* no file, a type never compressed, or not smaller */
	}
	if (nfiles > STATIC_MAX_FILES) {
		fail(err, errlen, "%s: more than %d files", dir, STATIC_MAX_FILES);
		goto out;
	}

	/* 3. Read what stays. */
	for (size_t i = 0; i < nc; i++) {
		if (c[i].kind != ENC_IDENTITY && c[i].base < 0)
			continue;
		if (c[i].size > STATIC_MAX_TOTAL - total) {
			fail(err, errlen, "%s: more than %u bytes in all", dir, STATIC_MAX_TOTAL);
			goto out;
		}
		int e = read_file(dfd, c[i].name, c[i].size, &c[i].data);
		if (e) {
			fail(err, errlen, "%s/%s: %s", dir, c[i].name, strerror(-e));
			goto out;
		}
		total += c[i].size;
	}

	/* 4. A sibling must decode to its file, byte for byte. */
	for (size_t i = 0; i < nc; i++) {
		if (c[i].base < 0)
			continue;
		const struct cand *b = &c[c[i].base];
		uint8_t *buf = malloc(b->size + 1);
		if (!buf) {
			fail(err, errlen, "out of memory");
			goto out;
		}
		bool ok = c[i].kind == ENC_BR ? br_matches(c[i].data, c[i].size, b->data, b->size, buf)
					      : gz_matches(c[i].data, c[i].size, b->data, b->size, buf);
		free(buf);
		if (!ok) {
			fprintf(stderr, "static: %s/%s does not decode to %s; not served\n", dir,
				c[i].name, b->name);
			free(c[i].data);
			c[i].data = NULL;
			total -= c[i].size;
			c[i].base = -1;
			s->skipped++;
		}
	}

	/* 5. The files, sorted (c is), and their hash table. */
	s->files = calloc(nfiles ? nfiles : 1, sizeof(*s->files));
	uint32_t size = 16;
	while (size < 2 * nfiles)
		size *= 2;
	s->slots = calloc(size, sizeof(*s->slots));
	if (!s->files || !s->slots) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	s->mask = size - 1;
	long *index = calloc(nc ? nc : 1, sizeof(*index)); /* cand -> file */
	if (!index) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nc; i++) {
		if (c[i].kind != ENC_IDENTITY)
			continue;
		struct static_file *f = &s->files[s->n];
		index[i] = (long)s->n++;
		f->name = c[i].name;
		f->name_len = c[i].name_len;
		f->type = static_type(f->name, f->name_len, NULL);
		f->rep[ENC_IDENTITY] = (struct static_rep){ c[i].data, c[i].size };
		f->offered = ENC_BIT(ENC_IDENTITY);
		c[i].name = NULL;
		c[i].data = NULL;
		uint32_t h = hash((const uint8_t *)f->name, f->name_len) & s->mask;
		while (s->slots[h])
			h = (h + 1) & s->mask;
		s->slots[h] = (uint32_t)(f - s->files) + 1;
	}
	for (size_t i = 0; i < nc; i++) {
		if (c[i].kind == ENC_IDENTITY || c[i].base < 0)
			continue;
		struct static_file *f = &s->files[index[c[i].base]];
		f->rep[c[i].kind] = (struct static_rep){ c[i].data, c[i].size };
		f->offered |= ENC_BIT(c[i].kind);
		c[i].data = NULL;
	}
	free(index);
	s->bytes = total;
	*out = s;
	s = NULL;
	rc = 0;
out:
	closedir(d);
	free_cands(c, nc);
	static_free(s);
	return rc;
}
