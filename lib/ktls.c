/* SPDX-License-Identifier: MIT */
/* Kernel TLS: what the kernel's tls ULP needs to take a connection's
 * record layer over from OpenSSL after the handshake, and the
 * setsockopt calls that hand it over. tls.c decides when.
 *
 * The keys come from the secrets, not from OpenSSL's own kTLS code:
 * OpenSSL 3.0 offers a BIO the crypto_info only for TLS 1.2 both ways
 * and TLS 1.3 sending (never TLS 1.3 receiving), and only by taking the
 * BIO for a socket it then writes plaintext to (docs/architecture.md,
 * TLS). So:
 *  - TLS 1.3: the key log callback gives each side's traffic secret
 *    (CLIENT_/SERVER_TRAFFIC_SECRET_0); key and IV are
 *    HKDF-Expand-Label(secret, "key"/"iv", "", len) (RFC 8446 7.3).
 *  - TLS 1.2: the key block is PRF(master secret, "key expansion",
 *    server_random + client_random) (RFC 5246 6.3), from the session's
 *    master secret and the two randoms, which OpenSSL exports.
 *  - Record sequence numbers: OpenSSL's message callback reports the
 *    header of every record it reads or writes, and the messages that
 *    change keys (a TLS 1.3 Finished, a TLS 1.2 ChangeCipherSpec); the
 *    records after the change are counted.
 *  - TLS 1.2 AES-GCM's explicit nonce: OpenSSL starts it at a random
 *    value and counts up; the kernel continues from the last one
 *    OpenSSL wrote plus one, read from the records libzerg sends.
 * The wire parser also tells where the next record starts in the
 * received bytes: the receive side can only be handed over there. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef SOL_TLS
#define SOL_TLS 282
#endif

int (*zg__ktls_hook)(struct zg_conn *c, bool tx, const struct zg__ktls_info *o,
		     uint64_t stream_bytes);

/* Why a connection stays in user space (0: the kernel can take it). */
int zg__ktls_choose(unsigned features, unsigned tls_flags, int version, unsigned suite)
{
	bool v13 = suite >> 8 == 0x13;

	if (tls_flags & ZG_TLS_NO_KTLS)
		return ZG__KTLS_OFF;
	if (!(features & ZG_FEAT_KTLS))
		return ZG__KTLS_NO_ULP;
	if (version != 0x0304 && version != 0x0303)
		return ZG__KTLS_VERSION;
	/* a TLS 1.3 suite only with TLS 1.3, the others only with 1.2 */
	if (!zg__ktls_cipher_ok(suite) || v13 != (version == 0x0304))
		return ZG__KTLS_SUITE;
	return 0;
}

const char *zg__ktls_reason(int why)
{
	switch (why) {
	case ZG__KTLS_OFF: return "ZG_TLS_NO_KTLS";
	case ZG__KTLS_NO_ULP: return "the kernel has no tls module";
	case ZG__KTLS_VERSION: return "TLS version";
	case ZG__KTLS_SUITE: return "cipher suite the kernel does not do";
	case ZG__KTLS_STATE: return "keys changed before the hand-off";
	default: return "kernel TLS";
	}
}

/* What a non-data record read under kernel TLS means (type: the
 * record's TLS_GET_RECORD_TYPE, -1 for none; p[0..n) its content):
 * close_notify (or end of stream) ends the input, a record of
 * NewSessionTickets is dropped, anything else closes the connection. */
int zg__ktls_ctrl_kind(int type, const uint8_t *p, size_t n)
{
	size_t off = 0;

	if (type < 0 && n == 0)
		return ZG__KC_EOF;
	if (type == 21 && n == 2 && p[1] == 0)
		return ZG__KC_EOF;
	if (type != 22)
		return ZG__KC_CLOSE;
	while (off + 4 <= n && p[off] == 4) /* NewSessionTicket */
		off += 4 + ((size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3]);
	return n && off == n ? ZG__KC_SKIP : ZG__KC_CLOSE;
}

#ifdef ZG_HAVE_TLS

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

static int ssl_idx = -1, ctx_idx = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void idx_init(void)
{
	ssl_idx = SSL_get_ex_new_index(0, "zg ktls track", NULL, NULL, NULL);
	ctx_idx = SSL_CTX_get_ex_new_index(0, "zg keylog chain", NULL, NULL, NULL);
}

static struct zg__ktls_track *track_of(const SSL *ssl)
{
	return ssl_idx < 0 ? NULL : SSL_get_ex_data(ssl, ssl_idx);
}

static int unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	for (; s[0] && s[1] && s[0] != ' '; s += 2) {
		unsigned v;
		if (n == max || sscanf(s, "%2x", &v) != 1)
			return -1;
		out[n++] = (uint8_t)v;
	}
	return (int)n;
}

/* A key log line: the TLS 1.3 application traffic secrets are kept for
 * the tracked connection; the line goes on to a callback the context
 * had before (an application's SSLKEYLOGFILE, say). */
static void keylog_cb(const SSL *ssl, const char *line)
{
	struct zg__ktls_track *t = track_of(ssl);
	SSL_CTX_keylog_cb_func prev = NULL;
	void *p = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx);

	if (p)
		memcpy(&prev, &p, sizeof(prev));
	if (prev)
		prev(ssl, line);
	if (!t)
		return;
	bool client = !strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24);
	bool server = !strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24);
	if (!client && !server)
		return;
	struct zg__ktls_dir *d = client == !SSL_is_server(ssl) ? &t->tx : &t->rx;
	const char *sec = strchr(line + 24, ' ');
	int n = sec ? unhex(sec + 1, d->secret, sizeof(d->secret)) : -1;
	d->secret_len = n > 0 ? (unsigned)n : 0;
}

void zg__ktls_ctx_init(struct ssl_ctx_st *ctx)
{
	SSL_CTX_keylog_cb_func prev;
	void *p = NULL;

	pthread_once(&idx_once, idx_init);
	if (ssl_idx < 0 || ctx_idx < 0)
		return;
	prev = SSL_CTX_get_keylog_callback(ctx);
	if (prev == keylog_cb)
		return; /* a second zg_tls on the same SSL_CTX */
	if (prev)
		memcpy(&p, &prev, sizeof(p));
	SSL_CTX_set_ex_data(ctx, ctx_idx, p);
	SSL_CTX_set_keylog_callback(ctx, keylog_cb);
}

/* A key change in direction d: its records are counted from here. A
 * second one (TLS 1.3 key update, post-handshake Finished) makes the
 * connection one the kernel cannot take: its new keys are not logged. */
static void epoch_begins(struct zg__ktls_track *t, struct zg__ktls_dir *d)
{
	if (d->app)
		t->bad = true;
	d->app = true;
	d->seq = 0;
}

static void msg_cb(int write_p, int version, int type, const void *buf, size_t len,
		   SSL *ssl, void *arg)
{
	struct zg__ktls_track *t = track_of(ssl);
	const uint8_t *p = buf;
	struct zg__ktls_dir *d;
	bool tls13 = SSL_version(ssl) == TLS1_3_VERSION;

	(void)version;
	(void)arg;
	if (!t)
		return;
	d = write_p ? &t->tx : &t->rx;
	if (type == SSL3_RT_HEADER && len >= 5) {
		if (d->app)
			d->seq++;
		/* TLS 1.2: the records after a ChangeCipherSpec use the new
		 * keys (TLS 1.3's compatibility CCS changes nothing) */
		if (p[0] == SSL3_RT_CHANGE_CIPHER_SPEC && !tls13)
			epoch_begins(t, d);
	} else if (type == SSL3_RT_HANDSHAKE && len) {
		if (p[0] == SSL3_MT_FINISHED && tls13)
			epoch_begins(t, d);
		else if (p[0] == SSL3_MT_KEY_UPDATE)
			t->bad = true;
	}
}

void zg__ktls_track_start(struct ssl_st *ssl, struct zg__ktls_track *t)
{
	memset(t, 0, sizeof(*t));
	pthread_once(&idx_once, idx_init);
	if (ssl_idx < 0 || !SSL_set_ex_data(ssl, ssl_idx, t)) {
		t->bad = true;
		return;
	}
	SSL_set_msg_callback(ssl, msg_cb);
}

void zg__ktls_track_stop(struct ssl_st *ssl, struct zg__ktls_track *t)
{
	if (ssl_idx >= 0)
		SSL_set_ex_data(ssl, ssl_idx, NULL);
	SSL_set_msg_callback(ssl, NULL);
	OPENSSL_cleanse(t->tx.secret, sizeof(t->tx.secret));
	OPENSSL_cleanse(t->rx.secret, sizeof(t->rx.secret));
}

/* Follow the record stream of one direction: where each record begins,
 * and (after a ChangeCipherSpec) the first 8 bytes of each record's
 * body, TLS 1.2 AES-GCM's explicit nonce. */
void zg__ktls_wire(struct zg__ktls_dir *d, const uint8_t *p, size_t n)
{
	d->bytes += n;
	while (n) {
		if (d->hdr_have < 5) {
			size_t take = 5 - d->hdr_have < n ? 5 - d->hdr_have : n;
			memcpy(d->hdr + d->hdr_have, p, take);
			d->hdr_have += (unsigned)take;
			p += take;
			n -= take;
			if (d->hdr_have < 5)
				return;
			d->left = (size_t)d->hdr[3] << 8 | d->hdr[4];
		}
		size_t take = d->left < n ? d->left : n;
		if (d->ccs && d->hdr_have < 13) {
			size_t e = 13 - d->hdr_have < take ? 13 - d->hdr_have : take;
			memcpy(d->hdr + d->hdr_have, p, e);
			d->hdr_have += (unsigned)e;
			if (d->hdr_have == 13) {
				memcpy(d->eiv, d->hdr + 5, 8);
				d->eiv_seen = true;
			}
		}
		d->left -= take;
		p += take;
		n -= take;
		if (!d->left) { /* the record is complete */
			if (d->hdr[0] == SSL3_RT_CHANGE_CIPHER_SPEC)
				d->ccs = true;
			d->hdr_have = 0;
			d->records++;
		}
	}
}

/* Bytes still to come before the next record starts (0: at a boundary). */
size_t zg__ktls_wire_need(const struct zg__ktls_dir *d)
{
	if (!d->hdr_have)
		return 0;
	return d->hdr_have < 5 ? 5 - d->hdr_have : d->left;
}

static int kdf(const char *name, OSSL_PARAM *params, uint8_t *out, size_t len)
{
	EVP_KDF *k = EVP_KDF_fetch(NULL, name, NULL);
	EVP_KDF_CTX *kc = k ? EVP_KDF_CTX_new(k) : NULL;
	int ret = kc && EVP_KDF_derive(kc, out, len, params) == 1 ? 0 : -EINVAL;

	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(k);
	return ret;
}

/* HKDF-Expand-Label(secret, label, "", len) of RFC 8446 7.1 */
static int expand_label(const char *md, const uint8_t *secret, size_t slen, const char *label,
			uint8_t *out, size_t len)
{
	uint8_t info[2 + 1 + 6 + 8 + 1];
	size_t ll = strlen(label), n = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;

	info[n++] = (uint8_t)(len >> 8);
	info[n++] = (uint8_t)len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, ll);
	n += 6 + ll;
	info[n++] = 0; /* empty context */
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
		OSSL_PARAM_construct_end(),
	};
	return kdf(OSSL_KDF_NAME_HKDF, p, out, len);
}

/* TLS 1.2's key block: client key, server key, client IV, server IV
 * (AEAD suites have no MAC keys). */
static int key_block(SSL *ssl, const char *md, uint8_t *out, size_t len)
{
	uint8_t master[SSL_MAX_MASTER_KEY_LENGTH], seed[13 + 2 * SSL3_RANDOM_SIZE];
	size_t mlen = SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof(master));
	int ret;

	memcpy(seed, "key expansion", 13);
	SSL_get_server_random(ssl, seed + 13, SSL3_RANDOM_SIZE);
	SSL_get_client_random(ssl, seed + 13 + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE);
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, mlen),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed)),
		OSSL_PARAM_construct_end(),
	};
	ret = mlen ? kdf(OSSL_KDF_NAME_TLS1_PRF, p, out, len) : -EINVAL;
	OPENSSL_cleanse(master, sizeof(master));
	return ret;
}

static void be64(uint8_t *out, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

static void inc64(uint8_t *v)
{
	for (int i = 7; i >= 0 && !++v[i]; i--)
		;
}

/* Fill the kernel's crypto_info for one direction. key: keylen bytes;
 * iv: TLS 1.3's 12-byte IV, TLS 1.2's 4-byte salt (AES-GCM) or 12-byte
 * IV (ChaCha20); eiv: TLS 1.2 AES-GCM's next explicit nonce. */
static void fill(struct zg__ktls_info *o, bool tls13, unsigned suite, const uint8_t *key,
		 const uint8_t *iv, const uint8_t *eiv, uint64_t seq)
{
	uint16_t ver = tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;

	memset(o, 0, sizeof(*o));
	if (suite == 0x1303 || suite == 0xcca8 || suite == 0xcca9) {
		struct tls12_crypto_info_chacha20_poly1305 *c = &o->chacha;
		c->info = (struct tls_crypto_info){ ver, TLS_CIPHER_CHACHA20_POLY1305 };
		memcpy(c->iv, iv, 12);
		memcpy(c->key, key, 32);
		be64(c->rec_seq, seq);
		o->len = sizeof(*c);
	} else if (suite == 0x1301 || suite == 0xc02b || suite == 0xc02f) {
		struct tls12_crypto_info_aes_gcm_128 *g = &o->gcm128;
		g->info = (struct tls_crypto_info){ ver, TLS_CIPHER_AES_GCM_128 };
		memcpy(g->salt, iv, 4);
		memcpy(g->iv, tls13 ? iv + 4 : eiv, 8);
		memcpy(g->key, key, 16);
		be64(g->rec_seq, seq);
		o->len = sizeof(*g);
	} else {
		struct tls12_crypto_info_aes_gcm_256 *g = &o->gcm256;
		g->info = (struct tls_crypto_info){ ver, TLS_CIPHER_AES_GCM_256 };
		memcpy(g->salt, iv, 4);
		memcpy(g->iv, tls13 ? iv + 4 : eiv, 8);
		memcpy(g->key, key, 32);
		be64(g->rec_seq, seq);
		o->len = sizeof(*g);
	}
}

/* The crypto_info of one direction (tx: what we send), as the state is
 * now: 0, ZG__KTLS_* (why not), or -EAGAIN (that direction's keys are
 * not in use yet). The caller wipes *o after use. */
int zg__ktls_info(struct ssl_st *ssl, const struct zg__ktls_track *t, bool tx,
		  struct zg__ktls_info *o)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
	const struct zg__ktls_dir *d = tx ? &t->tx : &t->rx;
	unsigned suite = ci ? SSL_CIPHER_get_protocol_id(ci) : 0;
	bool tls13 = SSL_version(ssl) == TLS1_3_VERSION, chacha;
	const EVP_MD *md = ci ? SSL_CIPHER_get_handshake_digest(ci) : NULL;
	const char *mdname = md ? EVP_MD_get0_name(md) : NULL;
	size_t klen, ivlen;
	uint8_t key[32], iv[12], eiv[8] = { 0 }, kb[2 * 32 + 2 * 12];
	int ret;

	ret = zg__ktls_choose(ZG_FEAT_KTLS, 0, SSL_version(ssl), suite);
	if (ret)
		return ret;
	if (t->bad)
		return ZG__KTLS_STATE;
	if (!d->app || !mdname || (tls13 && !d->secret_len))
		return -EAGAIN;
	chacha = suite == 0x1303 || suite == 0xcca8 || suite == 0xcca9;
	klen = suite == 0x1301 || suite == 0xc02b || suite == 0xc02f ? 16 : 32;
	if (tls13) {
		ret = expand_label(mdname, d->secret, d->secret_len, "key", key, klen);
		if (!ret)
			ret = expand_label(mdname, d->secret, d->secret_len, "iv", iv, 12);
	} else {
		bool ours_client = tx == !SSL_is_server(ssl); /* these keys are the client's */
		ivlen = chacha ? 12 : 4;
		ret = key_block(ssl, mdname, kb, 2 * klen + 2 * ivlen);
		memcpy(key, kb + (ours_client ? 0 : klen), klen);
		memcpy(iv, kb + 2 * klen + (ours_client ? 0 : ivlen), ivlen);
		if (!chacha && tx) { /* OpenSSL's last explicit nonce, plus one */
			if (!d->eiv_seen)
				ret = -EAGAIN;
			memcpy(eiv, d->eiv, 8);
			inc64(eiv);
		} else if (!chacha) {
			be64(eiv, d->seq); /* unused: each record carries its own */
		}
	}
	if (!ret)
		fill(o, tls13, suite, key, iv, eiv, d->seq);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	OPENSSL_cleanse(kb, sizeof(kb));
	return ret;
}

/* Set the tls ULP on fd (once: *ulp_set), then TLS_TX or TLS_RX.
 * -errno; a socket with the ULP but no keys is still plain TCP. */
int zg__ktls_install(int fd, bool *ulp_set, bool tx, const struct zg__ktls_info *o)
{
	if (!*ulp_set) {
		if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")))
			return -errno;
		*ulp_set = true;
	}
	if (setsockopt(fd, SOL_TLS, tx ? TLS_TX : TLS_RX, o, o->len))
		return -errno;
	return 0;
}

#endif /* ZG_HAVE_TLS */
