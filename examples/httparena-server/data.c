/* SPDX-License-Identifier: MIT */
/* Datasets: load (jansson), generate (deterministic), write; the DB. */
#include "data.h"
#include "http_fmt.h"
#include "jsonw.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const dataset_file[3] = {
	"dataset.json", "dataset-int.json", "dataset-large.json",
};

static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* Bytes one item can take serialized with its "total" (see app.c). */
static size_t item_bound(const struct dataset *d, const struct item *it)
{
	size_t n = 128 + 6 * JW_NUM_BOUND;
	n += JW_STR_BOUND(it->name.n) + JW_STR_BOUND(it->category.n);
	for (unsigned t = 0; t < it->ntags; t++)
		n += JW_STR_BOUND(d->tags[it->tag0 + t].n) + 1;
	return n;
}

static void compute_bound(struct dataset *d)
{
	d->item_bound = 0;
	for (size_t i = 0; i < d->n; i++) {
		size_t b = item_bound(d, &d->items[i]);
		if (b > d->item_bound)
			d->item_bound = b;
	}
}

void dataset_free(struct dataset *d)
{
	free(d->items);
	free(d->tags);
	free(d->bounds);
	free(d->arena);
	memset(d, 0, sizeof(*d));
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

static int64_t num(json_t *v, bool fixed2)
{
	double x = json_number_value(v);
	if (json_is_integer(v))
		return fixed2 ? (int64_t)json_integer_value(v) * 100
			      : (int64_t)json_integer_value(v);
	return (int64_t)llround(fixed2 ? x * 100.0 : x);
}

/* Strings are copied into one arena sized by a first pass. */
static size_t strings_size(json_t *arr, size_t *ntags)
{
	size_t total = 0, i;
	json_t *o;
	*ntags = 0;
	json_array_foreach(arr, i, o) {
		total += json_string_length(json_object_get(o, "name")) + 1;
		total += json_string_length(json_object_get(o, "category")) + 1;
		json_t *tags = json_object_get(o, "tags"), *t;
		size_t k;
		json_array_foreach(tags, k, t) {
			total += json_string_length(t) + 1;
			(*ntags)++;
		}
	}
	return total;
}

static struct str arena_str(char **ap, json_t *s)
{
	struct str r = { *ap, (uint32_t)json_string_length(s) };
	if (r.n)
		memcpy(*ap, json_string_value(s), r.n);
	(*ap)[r.n] = 0;
	*ap += r.n + 1;
	return r;
}

static int load_item(struct dataset *d, json_t *o, struct item *it, char **ap,
		     size_t *tagi)
{
	json_t *rating = json_object_get(o, "rating"), *tags, *t;
	size_t k;
	if (!json_is_object(o) || !json_is_integer(json_object_get(o, "id")) ||
	    !json_is_number(json_object_get(o, "price")) ||
	    !json_is_number(json_object_get(o, "quantity")))
		return -1;
	it->id = json_integer_value(json_object_get(o, "id"));
	it->name = arena_str(ap, json_object_get(o, "name"));
	it->category = arena_str(ap, json_object_get(o, "category"));
	it->price = num(json_object_get(o, "price"), d->fixed2);
	it->quantity = num(json_object_get(o, "quantity"), false);
	it->active = json_is_true(json_object_get(o, "active"));
	it->score = num(json_object_get(rating, "score"), d->fixed2);
	it->count = num(json_object_get(rating, "count"), false);
	it->tag0 = (uint32_t)*tagi;
	tags = json_object_get(o, "tags");
	json_array_foreach(tags, k, t)
		d->tags[(*tagi)++] = arena_str(ap, t);
	it->ntags = (uint16_t)(*tagi - it->tag0);
	return 0;
}

int dataset_load(struct dataset *d, enum dataset_kind kind, const char *path,
		 char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je), *o;
	size_t ntags, i, tagi = 0;
	int rc = -1;

	memset(d, 0, sizeof(*d));
	d->fixed2 = kind != DS_INT;
	if (!root) {
		seterr(err, errlen, "%s:%d: %s", path, je.line, je.text);
		return -1;
	}
	if (!json_is_array(root)) {
		seterr(err, errlen, "%s: not a JSON array", path);
		goto out;
	}
	size_t bytes = strings_size(root, &ntags);
	d->n = json_array_size(root);
	d->items = calloc(d->n ? d->n : 1, sizeof(*d->items));
	d->tags = calloc(ntags ? ntags : 1, sizeof(*d->tags));
	d->arena = malloc(bytes ? bytes : 1);
	if (!d->items || !d->tags || !d->arena) {
		seterr(err, errlen, "%s: out of memory", path);
		goto out;
	}
	char *ap = d->arena;
	d->ntags = ntags;
	json_array_foreach(root, i, o) {
		if (load_item(d, o, &d->items[i], &ap, &tagi)) {
			seterr(err, errlen, "%s: item %zu: missing id/price/quantity", path, i);
			goto out;
		}
	}
	compute_bound(d);
	rc = 0;
out:
	json_decref(root);
	if (rc)
		dataset_free(d);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Generation                                                          */
/* ------------------------------------------------------------------ */

/* Pools recovered from the reference files: dataset.json cycles names
 * (i % 10), categories (i % 8) and tags (1 + i % 3 of them, starting at
 * tag i % 10); its numbers follow SPEC.md's formulas exactly. */
static const char *const small_names[10] = {
	"Alpha Widget", "Pro Valve", "Ultra Driver", "Nano Gadget", "Prime Gear",
	"Core Relay", "Flex Module", "Edge Link", "Swift Switch", "Nova Sensor",
};
static const char *const small_cats[8] = {
	"electronics", "tools", "clothing", "food", "sports", "books", "toys", "health",
};
static const char *const small_tags[10] = {
	"fast", "new", "popular", "sale", "limited", "premium", "eco", "compact",
	"heavy-duty", "wireless",
};
/* dataset-int.json cycles these names and categories (i % 10); its
 * numbers and tags are random in the reference (its PRNG is unknown),
 * so ours come from our own PRNG within the same ranges. */
static const char *const int_names[10] = {
	"Alpha Widget", "Pro Valve", "Core Relay", "Edge Link", "Nano Gadget",
	"Ultra Driver", "Swift Switch", "Prime Gear", "Flex Module", "Hyper Node",
};
static const char *const int_cats[10] = {
	"electronics", "tools", "books", "clothing", "sports", "toys", "home",
	"garden", "office", "auto",
};
static const char *const large_cats[10] = {
	"Electronics", "Books", "Clothing", "Home", "Sports", "Toys", "Garden",
	"Auto", "Beauty", "Food",
};
static const char *const large_tags[10] = {
	"new", "sale", "featured", "limited", "premium", "eco", "handmade",
	"imported", "organic", "clearance",
};

/* splitmix64: tiny, good enough, and the same on every platform. */
struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (the modulo bias is far below anything visible). */
static int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static struct str lit(const char *s)
{
	return (struct str){ s, (uint32_t)strlen(s) };
}

/* 1..4 distinct tags out of a pool of 10, in draw order. */
static unsigned pick_tags(struct rng *r, unsigned out[4])
{
	unsigned n = (unsigned)rng_range(r, 1, 4), k = 0;
	while (k < n) {
		unsigned t = (unsigned)rng_range(r, 0, 9), j;
		for (j = 0; j < k && out[j] != t; j++)
			;
		if (j == k)
			out[k++] = t;
	}
	return n;
}

static void gen_small(struct dataset *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct item *it = &d->items[i];
		int64_t k = (int64_t)i;
		it->id = k + 1;
		it->name = lit(small_names[i % 10]);
		it->category = lit(small_cats[i % 8]);
		/* price = round(5 + (i*73 % 997)/10, 2), in hundredths */
		it->price = 500 + (k * 73 % 997) * 10;
		it->quantity = 1 + (k * 31) % 20;
		it->score = 100 + (k * 47 % 41) * 10;
		it->count = 10 + (k * 53) % 500;
		it->active = i % 3 != 0;
		it->tag0 = (uint32_t)d->ntags;
		it->ntags = (uint16_t)(1 + i % 3);
		for (unsigned t = 0; t < it->ntags; t++)
			d->tags[d->ntags++] = lit(small_tags[(i + t) % 10]);
	}
}

static void gen_random(struct dataset *d, enum dataset_kind kind)
{
	struct rng r = { kind == DS_INT ? 0x1d5e7 : 0x6000 };
	char *names = d->arena;
	for (size_t i = 0; i < d->n; i++) {
		struct item *it = &d->items[i];
		unsigned tags[4], nt;
		it->id = (int64_t)i + 1;
		if (kind == DS_INT) {
			it->name = lit(int_names[i % 10]);
			it->category = lit(int_cats[i % 10]);
			it->price = rng_range(&r, 1, 500);
			it->quantity = rng_range(&r, 1, 100);
			it->score = rng_range(&r, 1, 50);
			it->count = rng_range(&r, 1, 500);
		} else {
			/* "Product 00001": 13 bytes and a NUL each */
			char *nm = names + 16 * i;
			snprintf(nm, 16, "Product %05u", (unsigned)(i % 99999) + 1);
			it->name = lit(nm);
			it->category = lit(large_cats[rng_range(&r, 0, 9)]);
			it->price = rng_range(&r, 100, 100000);
			it->quantity = rng_range(&r, 1, 1000);
			it->score = rng_range(&r, 10, 50) * 10;
			it->count = rng_range(&r, 1, 5000);
		}
		it->active = rng_next(&r) & 1;
		nt = pick_tags(&r, tags);
		it->tag0 = (uint32_t)d->ntags;
		it->ntags = (uint16_t)nt;
		for (unsigned t = 0; t < nt; t++)
			d->tags[d->ntags++] = lit(kind == DS_INT ? small_tags[tags[t]]
								 : large_tags[tags[t]]);
	}
}

int dataset_generate(struct dataset *d, enum dataset_kind kind)
{
	memset(d, 0, sizeof(*d));
	d->n = kind == DS_LARGE ? 6000 : 50;
	d->fixed2 = kind != DS_INT;
	d->items = calloc(d->n, sizeof(*d->items));
	d->tags = calloc(d->n * 4, sizeof(*d->tags));
	d->arena = malloc(16 * d->n);
	if (!d->items || !d->tags || !d->arena) {
		dataset_free(d);
		return -1;
	}
	if (kind == DS_SMALL)
		gen_small(d);
	else
		gen_random(d, kind);
	compute_bound(d);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writing files                                                       */
/* ------------------------------------------------------------------ */

/* Layout strings for Python's json.dump(indent=2) and json.dumps(). */
struct layout {
	const char *open_item, *sep, *colon, *list_open, *list_sep, *list_close,
		*rating_open, *rating_close, *close_item, *item_sep, *end;
};

static const struct layout indented = {
	"[\n  {\n    ", ",\n    ", ": ", "[\n      ", ",\n      ", "\n    ]",
	"{\n      ", "\n    }", "\n  }", ",\n  {\n    ", "\n]",
};
static const struct layout oneline = {
	"[{", ", ", ": ", "[", ", ", "]", "{", "}", "}", ", {", "]",
};

static void put_num(FILE *f, int64_t v, bool fixed2)
{
	char b[32], *e = fixed2 ? http_fmt_cents(b, v) : http_fmt_i64(b, v);
	fwrite(b, 1, (size_t)(e - b), f);
}

static void put_str(FILE *f, struct str s)
{
	char b[JW_STR_BOUND(256)];
	if (s.n > 256)
		s.n = 256;
	char *e = jw_str(b, s.p, s.n);
	fwrite(b, 1, (size_t)(e - b), f);
}

static void put_key(FILE *f, const struct layout *l, const char *sep, const char *k)
{
	fprintf(f, "%s\"%s\"%s", sep, k, l->colon);
}

static void write_item(FILE *f, const struct dataset *d, const struct layout *l,
		       const struct item *it, bool first)
{
	fputs(first ? l->open_item : l->item_sep, f);
	put_key(f, l, "", "id");
	put_num(f, it->id, false);
	put_key(f, l, l->sep, "name");
	put_str(f, it->name);
	put_key(f, l, l->sep, "category");
	put_str(f, it->category);
	put_key(f, l, l->sep, "price");
	put_num(f, it->price, d->fixed2);
	put_key(f, l, l->sep, "quantity");
	put_num(f, it->quantity, false);
	put_key(f, l, l->sep, "active");
	fputs(it->active ? "true" : "false", f);
	put_key(f, l, l->sep, "tags");
	fputs(l->list_open, f);
	for (unsigned t = 0; t < it->ntags; t++) {
		if (t)
			fputs(l->list_sep, f);
		put_str(f, d->tags[it->tag0 + t]);
	}
	fputs(l->list_close, f);
	put_key(f, l, l->sep, "rating");
	fputs(l->rating_open, f);
	put_key(f, l, "", "score");
	put_num(f, it->score, d->fixed2);
	put_key(f, l, l == &indented ? ",\n      " : ", ", "count");
	put_num(f, it->count, false);
	fputs(l->rating_close, f);
	fputs(l->close_item, f);
}

static int tmp_path(char *buf, size_t len, const char *path)
{
	int n = snprintf(buf, len, "%s.tmp.%ld", path, (long)getpid());
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int dataset_write(const struct dataset *d, enum dataset_kind kind, const char *path)
{
	const struct layout *l = kind == DS_LARGE ? &oneline : &indented;
	char tmp[4096];
	int rc = tmp_path(tmp, sizeof(tmp), path);
	if (rc)
		return rc;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	for (size_t i = 0; i < d->n; i++)
		write_item(f, d, l, &d->items[i], i == 0);
	fputs(d->n ? l->end : "[]", f);
	if (ferror(f) | fclose(f) || rename(tmp, path)) {
		rc = -errno;
		unlink(tmp);
		return rc ? rc : -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* SQLite                                                              */
/* ------------------------------------------------------------------ */

static const char db_schema[] =
	"PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
	"CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, category TEXT,"
	" price REAL, quantity INTEGER, active INTEGER, tags TEXT,"
	" rating_score REAL, rating_count INTEGER);";

static int db_fill(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct rng r = { 0xdb };
	char name[64], tags[128];
	int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO items VALUES(?,?,?,?,?,?,?,?,?)",
					-1, &st, NULL);
	for (int id = 1; rc == SQLITE_OK && id <= DB_ROWS; id++) {
		unsigned t[4], nt;
		snprintf(name, sizeof(name), "%s %d", small_names[rng_range(&r, 0, 9)], id);
		const char *cat = small_cats[rng_range(&r, 0, 7)];
		double price = (double)rng_range(&r, 100, 50000) / 100.0;
		int64_t qty = rng_range(&r, 1, 1000);
		int active = (int)(rng_next(&r) & 1);
		nt = pick_tags(&r, t);
		char *p = tags;
		*p++ = '[';
		for (unsigned k = 0; k < nt; k++)
			p += sprintf(p, "%s\"%s\"", k ? "," : "", small_tags[t[k]]);
		*p++ = ']';
		double score = (double)rng_range(&r, 10, 50) / 10.0;
		int64_t cnt = rng_range(&r, 1, 1000);
		sqlite3_bind_int(st, 1, id);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, cat, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 4, price);
		sqlite3_bind_int64(st, 5, qty);
		sqlite3_bind_int(st, 6, active);
		sqlite3_bind_text(st, 7, tags, (int)(p - tags), SQLITE_TRANSIENT);
		sqlite3_bind_double(st, 8, score);
		sqlite3_bind_int64(st, 9, cnt);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? sqlite3_reset(st) : rc;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		seterr(err, errlen, "sqlite: %s", sqlite3_errmsg(db));
	return rc == SQLITE_OK ? 0 : -1;
}

int db_generate(const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	sqlite3 *db = NULL;
	if (tmp_path(tmp, sizeof(tmp), path)) {
		seterr(err, errlen, "%s: path too long", path);
		return -1;
	}
	unlink(tmp);
	int rc = sqlite3_open(tmp, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, db_schema, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		seterr(err, errlen, "%s: %s", tmp, db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		unlink(tmp);
		return -1;
	}
	rc = db_fill(db, err, errlen);
	sqlite3_close(db);
	if (rc == 0 && rename(tmp, path)) {
		seterr(err, errlen, "rename %s: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc)
		unlink(tmp);
	return rc;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int data_generate_dir(const char *dir, bool force, char *err, size_t errlen)
{
	char path[4096];
	if (mkdir(dir, 0755) && errno != EEXIST) {
		seterr(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	for (int k = DS_SMALL; k <= DS_LARGE; k++) {
		struct dataset d;
		snprintf(path, sizeof(path), "%s/%s", dir, dataset_file[k]);
		if (!force && exists(path))
			continue;
		if (dataset_generate(&d, (enum dataset_kind)k)) {
			seterr(err, errlen, "out of memory");
			return -1;
		}
		int rc = dataset_write(&d, (enum dataset_kind)k, path);
		dataset_free(&d);
		if (rc) {
			seterr(err, errlen, "%s: %s", path, strerror(-rc));
			return -1;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", dir, DB_FILE);
	if (!force && exists(path))
		return 0;
	return db_generate(path, err, errlen);
}
