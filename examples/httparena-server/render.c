/* SPDX-License-Identifier: MIT */
#include "render.h"
#include "jsonw.h"

#include <stdlib.h>

#define DOC_OVERHEAD (32 + JW_NUM_BOUND) /* {"items":[ ],"count":N} */

size_t render_bound(const struct dataset *d, size_t count)
{
	if (count > d->n)
		count = d->n;
	if (d->bounds)
		return DOC_OVERHEAD + d->bounds[count];
	return DOC_OVERHEAD + count * (d->item_bound + 1);
}

static int64_t total_of(const struct item *it, int64_t mult)
{
	uint64_t t = (uint64_t)it->price * (uint64_t)it->quantity * (uint64_t)mult;
	return (int64_t)t;
}

static char *num(char *p, int64_t v, bool fixed2)
{
	return fixed2 ? jw_cents(p, v) : jw_i64(p, v);
}

static char *render_item(char *p, const struct dataset *d, const struct item *it,
			 int64_t mult)
{
	p = JW_LIT(p, "{\"id\":");
	p = jw_i64(p, it->id);
	p = JW_LIT(p, ",\"name\":");
	p = jw_str(p, it->name.p, it->name.n);
	p = JW_LIT(p, ",\"category\":");
	p = jw_str(p, it->category.p, it->category.n);
	p = JW_LIT(p, ",\"price\":");
	p = num(p, it->price, d->fixed2);
	p = JW_LIT(p, ",\"quantity\":");
	p = jw_i64(p, it->quantity);
	p = JW_LIT(p, ",\"active\":");
	p = jw_bool(p, it->active);
	p = JW_LIT(p, ",\"tags\":[");
	for (unsigned t = 0; t < it->ntags; t++) {
		const struct str *s = &d->tags[it->tag0 + t];
		if (t)
			*p++ = ',';
		p = jw_str(p, s->p, s->n);
	}
	p = JW_LIT(p, "],\"rating\":{\"score\":");
	p = num(p, it->score, d->fixed2);
	p = JW_LIT(p, ",\"count\":");
	p = jw_i64(p, it->count);
	p = JW_LIT(p, "},\"total\":");
	p = num(p, total_of(it, mult), d->fixed2);
	*p++ = '}';
	return p;
}

int render_prepare(struct dataset *d)
{
	char *buf = malloc(d->item_bound);
	size_t *b = malloc((d->n + 1) * sizeof(*b));
	if (!buf || !b) {
		free(buf);
		free(b);
		return -1;
	}
	b[0] = 0;
	for (size_t i = 0; i < d->n; i++) {
		/* Everything but the total is fixed: measure it with a zero
		 * total and leave room for the widest one, and a comma. */
		size_t len = (size_t)(render_item(buf, d, &d->items[i], 0) - buf);
		size_t zero = d->fixed2 ? 3 : 1; /* "0.0" or "0" */
		b[i + 1] = b[i] + len - zero + JW_NUM_BOUND + 1;
	}
	free(buf);
	free(d->bounds);
	d->bounds = b;
	return 0;
}

char *render_items(char *p, const struct dataset *d, size_t count, int64_t mult)
{
	if (count > d->n)
		count = d->n;
	p = JW_LIT(p, "{\"items\":[");
	for (size_t i = 0; i < count; i++) {
		if (i)
			*p++ = ',';
		p = render_item(p, d, &d->items[i], mult);
	}
	p = JW_LIT(p, "],\"count\":");
	p = jw_i64(p, (int64_t)count);
	*p++ = '}';
	return p;
}
