/* SPDX-License-Identifier: MIT */
/* The kernel's TLS record layer (net/tls) in user space, on EVP, for the
 * tests of the kernel TLS hand-off: set up from the crypto_info libzerg
 * would give setsockopt(SOL_TLS), it seals records as TLS_TX would and
 * opens them as TLS_RX would, so a wrong key, IV, salt or sequence
 * number fails the AEAD tag. For cmocka tests (uses its asserts). */
#ifndef ZG_KTLS_EMU_H
#define ZG_KTLS_EMU_H

#include <openssl/evp.h>
#include <string.h>

#include "internal.h"

struct kdir {
	bool tls13, gcm12;
	const EVP_CIPHER *cipher;
	uint8_t key[32];
	uint8_t iv[12];        /* salt|iv (GCM) or iv (ChaCha20)          */
	uint64_t seq;
};

static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline void kdir_from(struct kdir *k, const struct zg__ktls_info *o)
{
	memset(k, 0, sizeof(*k));
	k->tls13 = o->base.version == TLS_1_3_VERSION;
	switch (o->base.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		assert_int_equal(o->len, sizeof(o->gcm128));
		k->cipher = EVP_aes_128_gcm();
		memcpy(k->key, o->gcm128.key, 16);
		memcpy(k->iv, o->gcm128.salt, 4);
		memcpy(k->iv + 4, o->gcm128.iv, 8);
		k->seq = get_be64(o->gcm128.rec_seq);
		break;
	case TLS_CIPHER_AES_GCM_256:
		assert_int_equal(o->len, sizeof(o->gcm256));
		k->cipher = EVP_aes_256_gcm();
		memcpy(k->key, o->gcm256.key, 32);
		memcpy(k->iv, o->gcm256.salt, 4);
		memcpy(k->iv + 4, o->gcm256.iv, 8);
		k->seq = get_be64(o->gcm256.rec_seq);
		break;
	case TLS_CIPHER_CHACHA20_POLY1305:
		assert_int_equal(o->len, sizeof(o->chacha));
		k->cipher = EVP_chacha20_poly1305();
		memcpy(k->key, o->chacha.key, 32);
		memcpy(k->iv, o->chacha.iv, 12);
		k->seq = get_be64(o->chacha.rec_seq);
		break;
	default:
		fail_msg("cipher type %u", o->base.cipher_type);
	}
	k->gcm12 = !k->tls13 && o->base.cipher_type != TLS_CIPHER_CHACHA20_POLY1305;
}

/* nonce: TLS 1.2 AES-GCM salt|explicit; otherwise iv XOR seq */
static inline void nonce(const struct kdir *k, const uint8_t *explicit, uint8_t out[12])
{
	uint8_t s[8];

	memcpy(out, k->iv, 12);
	if (k->gcm12) {
		memcpy(out + 4, explicit, 8);
		return;
	}
	put_be64(s, k->seq);
	for (int i = 0; i < 8; i++)
		out[4 + i] ^= s[i];
}

static inline int aead(const struct kdir *k, bool enc, const uint8_t n[12], const uint8_t *aad,
		size_t alen, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int l, ok;

	ok = EVP_CipherInit_ex(x, k->cipher, NULL, k->key, n, enc) == 1 &&
	     EVP_CipherUpdate(x, NULL, &l, aad, (int)alen) == 1 &&
	     EVP_CipherUpdate(x, out, &l, in, (int)len) == 1 &&
	     (enc || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1) &&
	     EVP_CipherFinal_ex(x, out + l, &l) == 1 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1);
	EVP_CIPHER_CTX_free(x);
	return ok ? 0 : -1;
}

/* TLS 1.2's AAD: seq, type, version, plaintext length */
static inline size_t aad12(uint64_t seq, uint8_t type, size_t len, uint8_t a[13])
{
	put_be64(a, seq);
	a[8] = type;
	a[9] = 3;
	a[10] = 3;
	a[11] = (uint8_t)(len >> 8);
	a[12] = (uint8_t)len;
	return 13;
}

/* Encrypt one record of plaintext pt (type 23) as the kernel's TLS_TX
 * would; returns its length in out. */
static inline size_t k_seal(struct kdir *k, const uint8_t *pt, size_t n, uint8_t *out)
{
	uint8_t nn[12], a[13], tmp[16385], *body = out + 5;
	size_t blen;

	if (k->tls13) {
		memcpy(tmp, pt, n);
		tmp[n] = 23; /* inner content type */
		blen = n + 1 + 16;
		out[0] = 23;
		out[1] = out[2] = 3;
		out[3] = (uint8_t)(blen >> 8);
		out[4] = (uint8_t)blen;
		nonce(k, NULL, nn);
		assert_int_equal(aead(k, true, nn, out, 5, tmp, n + 1, body, body + n + 1), 0);
	} else {
		size_t eiv = k->gcm12 ? 8 : 0;
		blen = eiv + n + 16;
		out[0] = 23;
		out[1] = out[2] = 3;
		out[3] = (uint8_t)(blen >> 8);
		out[4] = (uint8_t)blen;
		if (k->gcm12) /* the explicit nonce: the iv, counting up */
			memcpy(body, k->iv + 4, 8);
		nonce(k, body, nn);
		aad12(k->seq, 23, n, a);
		assert_int_equal(aead(k, true, nn, a, 13, pt, n, body + eiv, body + eiv + n), 0);
		if (k->gcm12)
			put_be64(k->iv + 4, get_be64(k->iv + 4) + 1);
	}
	k->seq++;
	return 5 + blen;
}

/* Decrypt one record as TLS_RX would: 0 and the plaintext and type,
 * or -1 when it does not authenticate. */
static inline int k_open(struct kdir *k, const uint8_t *rec, size_t len, uint8_t *pt, size_t *n,
		  uint8_t *type)
{
	uint8_t nn[12], a[13], tag[16];
	const uint8_t *body = rec + 5;
	size_t eiv = k->gcm12 ? 8 : 0, clen;

	*n = 0;
	*type = 0;
	assert_true(len >= 5 + eiv + 16);
	clen = len - 5 - eiv - 16;
	memcpy(tag, body + eiv + clen, 16);
	nonce(k, body, nn);
	if (k->tls13) {
		if (aead(k, false, nn, rec, 5, body, clen, pt, tag))
			return -1;
		while (clen && !pt[clen - 1]) /* padding */
			clen--;
		assert_true(clen > 0);
		*type = pt[--clen];
	} else {
		aad12(k->seq, rec[0], clen, a);
		if (aead(k, false, nn, a, 13, body + eiv, clen, pt, tag))
			return -1;
		*type = rec[0];
	}
	*n = clen;
	k->seq++;
	return 0;
}

/* the records in p[0..n): each one's start and length; stops at a
 * partial one */
static inline unsigned split_records(const uint8_t *p, size_t n, size_t *off, size_t *len, unsigned max)
{
	unsigned k = 0;

	for (size_t o = 0; o + 5 <= n && k < max; k++) {
		size_t l = 5 + ((size_t)p[o + 3] << 8 | p[o + 4]);
		if (o + l > n)
			break;
		off[k] = o;
		len[k] = l;
		o += l;
	}
	return k;
}

#endif
