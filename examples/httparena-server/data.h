/* SPDX-License-Identifier: MIT */
/*
 * The benchmark's data: the three JSON datasets (loaded with jansson or
 * generated in memory) and the SQLite file (generated on disk).
 *
 * Numbers are kept as integers: in a "fixed2" dataset price and score
 * are hundredths (12.3 is 1230), so totals are exact integer products
 * and formatting never touches floating point.
 */
#ifndef DATA_H
#define DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct str {
	const char *p;
	uint32_t n;
};

struct item {
	int64_t id;
	struct str name, category;
	int64_t price;    /* hundredths in a fixed2 dataset          */
	int64_t quantity;
	int64_t score;    /* hundredths in a fixed2 dataset          */
	int64_t count;
	uint32_t tag0;    /* first tag in dataset.tags               */
	uint16_t ntags;
	bool active;
};

struct dataset {
	struct item *items;
	size_t n;
	struct str *tags;
	size_t ntags;
	bool fixed2;
	size_t item_bound; /* max bytes of one serialized item (+ total) */
	size_t *bounds;    /* render_prepare(): bounds[k] bounds the
	                    * first k items (tight: exact but for totals) */
	char *arena;       /* strings of a loaded dataset               */
};

/* Which dataset: decides the generator's formulas and the file name. */
enum dataset_kind { DS_SMALL, DS_INT, DS_LARGE };

extern const char *const dataset_file[3]; /* "dataset.json", ... */
#define DB_FILE "benchmark.db"
#define DB_ROWS 100000

/* Load path into d (fixed2 for DS_SMALL / DS_LARGE). 0 or -1 with a
 * message in err. */
int dataset_load(struct dataset *d, enum dataset_kind kind, const char *path,
		 char *err, size_t errlen);
/* Generate the dataset deterministically in memory. */
int dataset_generate(struct dataset *d, enum dataset_kind kind);
void dataset_free(struct dataset *d);

/* Write d as JSON the way the reference files are formatted (indented
 * for the small ones, one line for the large one). Atomic (temp file +
 * rename). 0 or -errno. */
int dataset_write(const struct dataset *d, enum dataset_kind kind, const char *path);

/* Generate benchmark.db (DB_ROWS rows, no index on price) at path,
 * atomically. 0 or -1 with a message in err. */
int db_generate(const char *path, char *err, size_t errlen);

/* Make sure dir holds every file, generating the missing ones. */
int data_generate_dir(const char *dir, bool force, char *err, size_t errlen);

#endif
