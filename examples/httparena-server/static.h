/* SPDX-License-Identifier: MIT */
/*
 * The static profile's file store (SPEC-HEAD.md 4): every regular file
 * directly under a directory (default /data/static), read into memory
 * once at start and kept for the server's life. A request path
 * "/static/<name>" finds a file by an exact, case-sensitive match of
 * <name> in a hash table: no file system access, no allocation per
 * request. Bytes are served by reference (zg_conn_write_ref with a NULL
 * release: the store outlives every connection).
 *
 * Precompressed siblings: "<name>.br" and "<name>.gz" beside <name> are
 * its brotli and gzip representations, picked by Accept-Encoding through
 * encoding.h (highest q, ties br > gzip > identity). A sibling is kept
 * only when it decodes to the file exactly (checked at load) and is
 * smaller; types that are compressed already (.woff2, .webp, images)
 * never get one. Siblings are not resources of their own.
 *
 * Not found (NULL): a path outside "/static/", an empty name, any name
 * with '/', '\\', '%' (escapes are never decoded), NUL or another byte
 * outside [A-Za-z0-9._~+-], a name starting with '.', "..", a name
 * ending in ".br"/".gz" (siblings are not served by name), unknown
 * names, directories and anything that was not a regular file at load.
 * A query ("?v=2") is ignored; the name is what precedes it.
 */
#ifndef STATIC_H
#define STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encoding.h"

#define STATIC_PREFIX "/static/"
#define STATIC_DEFAULT_DIR "/data/static"
#define STATIC_MAX_FILES 4096
#define STATIC_MAX_NAME 255
#define STATIC_MAX_FILE (256u << 20)  /* bytes, one file */
#define STATIC_MAX_TOTAL (1024u << 20) /* bytes, the whole store */

struct static_rep {
	const uint8_t *data; /* NULL when the file has no such sibling */
	size_t len;
};

struct static_file {
	const char *name;   /* NUL-terminated, as in the directory */
	size_t name_len;
	const char *type;   /* Content-Type */
	struct static_rep rep[ENC_COUNT]; /* by enum enc; rep[ENC_IDENTITY] always set */
	unsigned offered;   /* ENC_BIT() of the reps present */
};

struct static_store;

/* Load dir. 0, or -1 with a message in err (the directory cannot be
 * read, a file cannot be read, too many or too large files). Files the
 * store cannot serve (names outside the allowed bytes, a sibling that
 * does not decode to its file) are skipped and counted in
 * static_skipped(). */
int static_load(struct static_store **out, const char *dir, char *err, size_t errlen);
void static_free(struct static_store *s);

size_t static_count(const struct static_store *s);
const struct static_file *static_at(const struct static_store *s, size_t i); /* sorted by name */
size_t static_skipped(const struct static_store *s);
size_t static_bytes(const struct static_store *s); /* every rep's bytes */

/* The file for a request path (origin-form, possibly with "?query"),
 * or NULL. */
const struct static_file *static_find(const struct static_store *s, const uint8_t *path,
				      size_t n);
/* The file for a bare name (no prefix, no query), or NULL. */
const struct static_file *static_find_name(const struct static_store *s,
					   const uint8_t *name, size_t n);

/* The representation to send for an Accept-Encoding (NULL a: none in
 * the request): its coding (enc_name() gives Content-Encoding) and bytes. */
enum enc static_pick(const struct static_file *f, const struct enc_accept *a,
		     const struct static_rep **rep);

/* Content-Type of a file name by its extension (application/octet-stream
 * when unknown), and whether such a file is worth compressing. */
const char *static_type(const char *name, size_t n, bool *compressible);

#endif
