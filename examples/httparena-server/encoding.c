/* SPDX-License-Identifier: MIT */
/* Accept-Encoding negotiation (RFC 9110 12.5.3) and the body coders. */
#include "encoding.h"
#include "br.h"
#include "gz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* identity when no entry names it (nor "*"): acceptable, but below any
 * coding the client did name. */
#define IDENTITY_DEFAULT_Q 1

/* ------------------------------------------------------------------ */
/* Accept-Encoding                                                     */
/* ------------------------------------------------------------------ */

static bool is_tchar(uint8_t c)
{
	/* RFC 9110 5.6.2 */
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static bool ieq(const uint8_t *s, size_t n, const char *lit)
{
	size_t i = 0;
	for (; i < n && lit[i]; i++) {
		uint8_t c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		if (c != (uint8_t)lit[i])
			return false;
	}
	return i == n && !lit[i];
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), RFC
 * 9110 12.4.2. -1 when v[0..n) is not one. */
static int parse_qvalue(const uint8_t *v, size_t n)
{
	if (n == 0 || (v[0] != '0' && v[0] != '1'))
		return -1;
	int q = (v[0] - '0') * 1000;
	if (n == 1)
		return q;
	if (v[1] != '.' || n > 5)
		return -1;
	int scale = 100;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (v[i] < '0' || v[i] > '9' || (q == 1000 && v[i] != '0'))
			return -1;
		q += (v[i] - '0') * scale;
	}
	return q;
}

/* Past the rest of a bad element: to the ',' that ends it, stepping
 * over quoted strings (a ',' inside one does not end it). */
static size_t skip_element(const uint8_t *v, size_t n, size_t i)
{
	bool quoted = false;
	for (; i < n; i++) {
		if (quoted) {
			if (v[i] == '\\' && i + 1 < n)
				i++;
			else if (v[i] == '"')
				quoted = false;
		} else if (v[i] == '"') {
			quoted = true;
		} else if (v[i] == ',') {
			break;
		}
	}
	return i;
}

static size_t skip_ows(const uint8_t *v, size_t n, size_t i)
{
	while (i < n && is_ows(v[i]))
		i++;
	return i;
}

static void set_q(int16_t *slot, int q)
{
	if (*slot == ENC_Q_UNSET) /* the first entry for a coding counts */
		*slot = (int16_t)q;
}

void enc_accept_init(struct enc_accept *a)
{
	for (int e = 0; e < ENC_COUNT; e++)
		a->q[e] = ENC_Q_UNSET;
	a->star = ENC_Q_UNSET;
	a->present = false;
}

/*
 *   Accept-Encoding = #( codings [ weight ] )
 *   codings = content-coding / "identity" / "*"
 *   weight  = OWS ";" OWS "q=" qvalue
 * The list rule allows empty elements (", ,gzip").
 */
void enc_accept_parse(struct enc_accept *a, const uint8_t *v, size_t n)
{
	size_t i = 0;
	a->present = true;
	while (i < n) {
		i = skip_ows(v, n, i);
		if (i < n && v[i] == ',') {
			i++;
			continue;
		}
		if (i >= n)
			break;
		size_t ts = i;
		while (i < n && is_tchar(v[i]))
			i++;
		size_t te = i;
		bool ok = te > ts;
		int q = ENC_Q_MAX;
		bool have_q = false;
		i = skip_ows(v, n, i);
		while (ok && i < n && v[i] == ';') {
			i = skip_ows(v, n, i + 1);
			size_t ps = i;
			while (i < n && is_tchar(v[i]))
				i++;
			size_t pe = i;
			i = skip_ows(v, n, i);
			if (pe == ps || i >= n || v[i] != '=' || have_q || !ieq(v + ps, pe - ps, "q")) {
				ok = false;
				break;
			}
			i = skip_ows(v, n, i + 1);
			size_t vs = i;
			while (i < n && is_tchar(v[i]))
				i++;
			q = parse_qvalue(v + vs, i - vs);
			have_q = true;
			ok = q >= 0;
			i = skip_ows(v, n, i);
		}
		if (ok && i < n && v[i] != ',')
			ok = false;
		if (!ok) {
			i = skip_element(v, n, i);
			continue;
		}
		const uint8_t *t = v + ts;
		size_t tn = te - ts;
		if (ieq(t, tn, "br"))
			set_q(&a->q[ENC_BR], q);
		else if (ieq(t, tn, "gzip") || ieq(t, tn, "x-gzip"))
			set_q(&a->q[ENC_GZIP], q);
		else if (ieq(t, tn, "identity"))
			set_q(&a->q[ENC_IDENTITY], q);
		else if (tn == 1 && t[0] == '*')
			set_q(&a->star, q);
		/* any other coding: not ours, nothing to record */
	}
}

int enc_q(const struct enc_accept *a, enum enc e)
{
	if ((unsigned)e >= ENC_COUNT)
		return 0;
	if (!a->present)
		return e == ENC_IDENTITY ? ENC_Q_MAX : 0;
	if (a->q[e] != ENC_Q_UNSET)
		return a->q[e];
	if (a->star != ENC_Q_UNSET)
		return a->star;
	return e == ENC_IDENTITY ? IDENTITY_DEFAULT_Q : 0;
}

bool enc_acceptable(const struct enc_accept *a, unsigned offered)
{
	for (int e = 0; e < ENC_COUNT; e++)
		if ((offered & ENC_BIT(e)) && enc_q(a, (enum enc)e) > 0)
			return true;
	return false;
}

enum enc enc_choose_prefer(const struct enc_accept *a, unsigned offered, enum enc prefer)
{
	/* The server's preference: the first of a tie wins. */
	enum enc order[] = { ENC_BR, ENC_GZIP, ENC_IDENTITY };
	if ((unsigned)prefer < ENC_COUNT)
		for (size_t k = 1; k < 3; k++)
			if (order[k] == prefer) {
				memmove(order + 1, order, k * sizeof(order[0]));
				order[0] = prefer;
				break;
			}
	enum enc best = ENC_IDENTITY;
	int bestq = 0;
	offered |= ENC_BIT(ENC_IDENTITY);
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		enum enc e = order[k];
		int q = (offered & ENC_BIT(e)) ? enc_q(a, e) : 0;
		if (q > bestq) {
			best = e;
			bestq = q;
		}
	}
	return best;
}

enum enc enc_choose(const struct enc_accept *a, unsigned offered)
{
	return enc_choose_prefer(a, offered, ENC_BR);
}

enum enc enc_negotiate_prefer(const uint8_t *v, size_t n, unsigned offered, enum enc prefer)
{
	struct enc_accept a;
	enc_accept_init(&a);
	if (v)
		enc_accept_parse(&a, v, n);
	return enc_choose_prefer(&a, offered, prefer);
}

enum enc enc_negotiate(const uint8_t *v, size_t n, unsigned offered)
{
	return enc_negotiate_prefer(v, n, offered, ENC_BR);
}

const char *enc_name(enum enc e)
{
	switch (e) {
	case ENC_BR:
		return "br";
	case ENC_GZIP:
		return "gzip";
	default:
		return NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Coders                                                              */
/* ------------------------------------------------------------------ */

struct enc_coder {
	struct br *br;
	struct gz *gz;
};

struct enc_params enc_params_default(void)
{
	/* docs/json-comp-choice.md */
	/* Quality 0, window 16: the highest json-comp score of every brotli
	 * setting, modelled and measured end to end (quality 2..3 win only
	 * when the rest of a request costs more than ~17 µs; 16 is the
	 * smallest window at which the bodies stop shrinking). */
	struct enc_params p = { .br_quality = 0, .br_lgwin = 16, .br_text = false };
	/* For measurements only (tests/httparena/json_comp_cost.sh): another
	 * brotli setting without a rebuild, "QUALITY:WINDOW". */
	const char *v = getenv("HTTPARENA_BROTLI");
	int q, w;
	if (v && sscanf(v, "%d:%d", &q, &w) == 2) {
		p.br_quality = q;
		p.br_lgwin = w;
	}
	return p;
}

struct enc_coder *enc_coder_new(const struct enc_params *p)
{
	struct enc_params d = enc_params_default();
	if (!p)
		p = &d;
	struct enc_coder *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->br = br_new(p->br_quality, p->br_lgwin, p->br_text ? BR_MODE_TEXT : BR_MODE_GENERIC);
	c->gz = gz_new();
	if (!c->br || !c->gz) {
		enc_coder_free(c);
		return NULL;
	}
	return c;
}

void enc_coder_free(struct enc_coder *c)
{
	if (!c)
		return;
	br_free(c->br);
	gz_free(c->gz);
	free(c);
}

size_t enc_bound(enum enc e, size_t n)
{
	switch (e) {
	case ENC_BR: {
		size_t a = br_bound(n), b = br_stored_bound(n);
		return a > b ? a : b;
	}
	case ENC_GZIP:
		return gz_bound(n);
	default:
		return n;
	}
}

size_t enc_compress(struct enc_coder *c, enum enc e, const void *in, size_t n,
		    void *out, size_t cap)
{
	switch (e) {
	case ENC_BR:
		return br_compress(c->br, in, n, out, cap);
	case ENC_GZIP:
		return gz_compress(c->gz, in, n, out, cap);
	case ENC_IDENTITY:
		if (cap < n)
			return 0;
		if (n)
			memcpy(out, in, n);
		return n;
	default:
		return 0;
	}
}
