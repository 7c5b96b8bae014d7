/* SPDX-License-Identifier: MIT */
/*
 * ws_parse and ws_utf8_feed (examples/ws/ws.c). The input's first byte
 * picks the message limit, the rest is what a client sent.
 *
 * Parsed whole and again cut at random places (each piece in a block of
 * exactly its size, as the parser never looks back), every way gives
 * the same transcript (ws_test.h: messages, control frames, the close
 * or failure code and the offset where it struck); each step keeps its
 * contract (checked inside wt_feed). The same bytes as text are judged
 * by ws_utf8_feed, whole and cut, the same way as by a decoder that
 * works out each code point.
 */
#include "fuzz.h"

#define WS_T_CHECK(c) CHECK(c)
#include "ws_test.h"

#define RANDOM_SETS 4
#define RANDOM_CUTS 16

/* RFC 3629 by decoding: no overlong, no surrogate, nothing past
 * U+10FFFF, nothing cut short. */
static bool utf8_reference(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t b = p[i];
		size_t len;
		uint32_t cp, min;
		if (b < 0x80) {
			i++;
			continue;
		}
		if ((b & 0xe0) == 0xc0) {
			len = 2, cp = b & 0x1f, min = 0x80;
		} else if ((b & 0xf0) == 0xe0) {
			len = 3, cp = b & 0x0f, min = 0x800;
		} else if ((b & 0xf8) == 0xf0) {
			len = 4, cp = b & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rng g;
	struct wt_out whole, o;
	size_t cuts[RANDOM_CUTS];
	uint64_t limit;

	if (!size)
		return 0;
	limit = data[0] ? (uint64_t)1 << (data[0] % 24) : 0;
	data++;
	size--;
	fuzz_rng_seed(&g, data, size);

	wt_run(&whole, limit, data, size, NULL, 0);
	for (int r = 0; r < RANDOM_SETS; r++) {
		size_t k = fuzz_cuts(&g, size, cuts, RANDOM_CUTS);
		wt_run(&o, limit, data, size, cuts, k);
		if (strcmp(whole.log, o.log) || whole.end != o.end) {
			fprintf(stderr, "whole:\n%s(end %zu)\ncut:\n%s(end %zu)\n", whole.log, whole.end,
				o.log, o.end);
			CHECK(!"the same transcript whatever the cuts");
		}
		wt_free(&o);
	}
	wt_free(&whole);

	bool ok = utf8_reference(data, size);
	CHECK(ws_utf8_valid(data, size) == ok);
	for (int r = 0; r < RANDOM_SETS; r++) {
		size_t k = fuzz_cuts(&g, size, cuts, RANDOM_CUTS), at = 0;
		unsigned st = WS_UTF8_OK;
		for (size_t i = 0; i <= k; i++) {
			size_t to = i < k ? cuts[i] : size;
			uint8_t *piece = fuzz_dup(data + at, to - at);
			st = ws_utf8_feed(st, piece, to - at);
			free(piece);
			at = to;
		}
		CHECK((st == WS_UTF8_OK) == ok);
	}
	return 0;
}
