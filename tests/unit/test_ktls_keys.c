/* SPDX-License-Identifier: MIT */
/* Kernel TLS key hand-off, checked without the kernel. Real handshakes
 * (OpenSSL both ends, over memory, the bytes moved by the test as
 * libzerg moves them and shown to the tracker as libzerg shows them):
 * TLS 1.2 and 1.3 x AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 x with
 * and without session tickets x the tracked side being the server or
 * the client x a full or a resumed handshake. After some records each way in user space, the tracked
 * side's crypto_info (what setsockopt(SOL_TLS) would get) is taken, and
 * a record layer written here from the kernel's rules (net/tls: nonce =
 * salt|iv XOR sequence number, or TLS 1.2 AES-GCM's explicit nonce
 * counting up from iv; the AAD of each version), on EVP directly:
 *  - decrypts what the peer's OpenSSL sends next (receive side);
 *  - encrypts records the peer's OpenSSL must accept (send side);
 *  - and fails with the sequence number off by one (so the check is
 *    not vacuous).
 * A wrong key, IV, salt or sequence number fails the AEAD tag. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "../tls_cert.h"
#include "ktls_emu.h"

static char dir[] = "/tmp/zg-ktls-XXXXXX";
static char cert[64], key[64];

/* ---- two OpenSSL ends over memory ---------------------------------- */
struct end {
	SSL *ssl;
	BIO *rb, *wb;
	struct zg__ktls_track t;
};

/* What end a wrote goes to b, seen by both trackers as libzerg sees it
 * (its wbio drained, the peer's bytes fed). Returns the bytes. */
static size_t move(struct end *a, struct end *b, uint8_t *copy, size_t cap)
{
	uint8_t buf[65536];
	size_t total = 0;
	int n;

	while ((n = BIO_read(a->wb, buf, sizeof(buf))) > 0) {
		zg__ktls_wire(&a->t.tx, buf, (size_t)n);
		if (copy) { /* taken by the test, not delivered */
			assert_true(total + (size_t)n <= cap);
			memcpy(copy + total, buf, (size_t)n);
		} else {
			zg__ktls_wire(&b->t.rx, buf, (size_t)n);
			assert_int_equal(BIO_write(b->rb, buf, n), n);
		}
		total += (size_t)n;
	}
	return total;
}

static void deliver(struct end *b, const uint8_t *p, size_t n)
{
	zg__ktls_wire(&b->t.rx, p, n);
	assert_int_equal(BIO_write(b->rb, p, (int)n), (int)n);
}

static void end_new(struct end *e, SSL_CTX *ctx, bool server)
{
	memset(e, 0, sizeof(*e));
	e->ssl = SSL_new(ctx);
	e->rb = BIO_new(BIO_s_mem());
	e->wb = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(e->rb, -1);
	SSL_set_bio(e->ssl, e->rb, e->wb);
	if (server)
		SSL_set_accept_state(e->ssl);
	else
		SSL_set_connect_state(e->ssl);
	zg__ktls_track_start(e->ssl, &e->t);
}

static void end_free(struct end *e)
{
	zg__ktls_track_stop(e->ssl, &e->t);
	SSL_free(e->ssl);
}

/* read everything b has, expecting exactly want (or nothing) */
static void read_all(struct end *b, const uint8_t *want, size_t n)
{
	static uint8_t got[1 << 17];
	size_t have = 0, r;

	while (SSL_read_ex(b->ssl, got + have, sizeof(got) - have, &r) == 1)
		have += r;
	assert_int_equal(SSL_get_error(b->ssl, 0), SSL_ERROR_WANT_READ);
	assert_int_equal(have, n);
	if (n)
		assert_memory_equal(got, want, n);
}

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

/* a writes n bytes with OpenSSL, b reads them */
static void exchange(struct end *a, struct end *b, size_t n, unsigned seed)
{
	static uint8_t buf[1 << 17];
	size_t done;

	fill_pattern(buf, n, seed);
	assert_int_equal(SSL_write_ex(a->ssl, buf, n, &done), 1);
	assert_int_equal(done, n);
	move(a, b, NULL, 0);
	read_all(b, buf, n);
}

struct kcase {
	int version;
	const char *suite;     /* TLS 1.3 suite or TLS 1.2 cipher list   */
	unsigned tickets;
	bool tracked_server;
	bool resume;           /* a resumed session (ticket or session id) */
};

static SSL_CTX *make_ctx(const struct kcase *k, bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	assert_non_null(ctx);
	SSL_CTX_set_min_proto_version(ctx, k->version);
	SSL_CTX_set_max_proto_version(ctx, k->version);
	if (k->version == TLS1_3_VERSION)
		assert_int_equal(SSL_CTX_set_ciphersuites(ctx, k->suite), 1);
	else
		assert_int_equal(SSL_CTX_set_cipher_list(ctx, k->suite), 1);
	if (server) {
		assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
		SSL_CTX_set_num_tickets(ctx, k->tickets);
		if (!k->tickets)
			SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	}
	zg__ktls_ctx_init(ctx);
	return ctx;
}

static void handshake(struct end *s, struct end *c)
{
	for (int i = 0; i < 8; i++) {
		int rc = SSL_do_handshake(c->ssl);
		move(c, s, NULL, 0);
		int rs = SSL_do_handshake(s->ssl);
		move(s, c, NULL, 0);
		if (rc == 1 && rs == 1)
			return;
	}
	fail_msg("handshake did not finish");
}

static void take_info(struct end *e, bool tx, struct zg__ktls_info *o, struct kdir *k)
{
	int ret = zg__ktls_info(e->ssl, &e->t, tx, o);

	if (ret)
		fail_msg("zg__ktls_info(%s): %d", tx ? "tx" : "rx", ret);
	kdir_from(k, o);
}

static void run_case(const struct kcase *kc)
{
	static uint8_t wire[1 << 18], pt[1 << 17], out[1 << 18], want[1 << 17];
	SSL_CTX *sctx = make_ctx(kc, true), *cctx = make_ctx(kc, false);
	struct end s, c, *x, *y;
	struct zg__ktls_info o;
	struct kdir rx, tx, bad;
	size_t off[16], len[16], n, got = 0, plen, sizes[] = { 100, 16384 + 300 };
	uint8_t type;
	unsigned nrec;

	end_new(&s, sctx, true);
	end_new(&c, cctx, false);
	handshake(&s, &c);
	if (kc->resume) { /* a first connection gives the session */
		SSL_SESSION *sess;
		exchange(&s, &c, 10, 0); /* the client reads the tickets */
		sess = SSL_get1_session(c.ssl);
		SSL_shutdown(s.ssl); /* a clean end: the session stays good */
		SSL_shutdown(c.ssl);
		end_free(&s);
		end_free(&c);
		end_new(&s, sctx, true);
		end_new(&c, cctx, false);
		assert_int_equal(SSL_set_session(c.ssl, sess), 1);
		SSL_SESSION_free(sess);
		handshake(&s, &c);
		assert_true(SSL_session_reused(c.ssl));
	}
	x = kc->tracked_server ? &s : &c; /* the side handed to the "kernel" */
	y = kc->tracked_server ? &c : &s;
	/* user-space traffic first, tickets included: the sequence numbers
	 * the kernel starts from are past 0 */
	exchange(&s, &c, 1000, 1);
	exchange(&c, &s, 20000, 2);
	exchange(&s, &c, 5, 3);
	exchange(&c, &s, 7, 4);
	assert_string_equal(SSL_get_version(x->ssl),
			    kc->version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2");

	/* receive side: the peer's next records decrypt with x's RX info */
	take_info(x, false, &o, &rx);
	bad = rx;
	bad.seq++;
	n = 0;
	for (unsigned i = 0; i < 2; i++) {
		size_t done;
		fill_pattern(want + got, sizes[i], 10 + i);
		assert_int_equal(SSL_write_ex(y->ssl, want + got, sizes[i], &done), 1);
		got += sizes[i];
	}
	n = move(y, x, wire, sizeof(wire));
	nrec = split_records(wire, n, off, len, 16);
	assert_int_equal(nrec, 3); /* 100, 16384, 300 */
	assert_int_equal(k_open(&bad, wire + off[0], len[0], pt, &plen, &type), -1);
	for (unsigned i = 0, at = 0; i < nrec; i++) {
		if (k_open(&rx, wire + off[i], len[i], pt, &plen, &type))
			fail_msg("record %u (seq %llu) does not decrypt with the RX info", i,
				 (unsigned long long)rx.seq);
		assert_int_equal(type, 23);
		assert_memory_equal(pt, want + at, plen);
		at += (unsigned)plen;
		if (i == nrec - 1)
			assert_int_equal(at, got);
	}
	deliver(x, wire, n); /* keep x's own OpenSSL in step */
	read_all(x, want, got);

	/* TLS 1.2 AES-GCM: the TX nonce continues OpenSSL's own count */
	take_info(x, true, &o, &tx);
	if (tx.gcm12) {
		size_t done;
		assert_int_equal(SSL_write_ex(x->ssl, "z", 1, &done), 1);
		n = move(x, y, wire, sizeof(wire));
		assert_int_equal(get_be64(wire + 5), get_be64(tx.iv + 4));
		deliver(y, wire, n);
		read_all(y, (const uint8_t *)"z", 1);
		take_info(x, true, &o, &tx);
	}
	/* send side: records made with x's TX info, the peer accepts */
	n = 0;
	for (unsigned i = 0; i < 3; i++) {
		fill_pattern(want + 1000 * i, 1000, 20 + i);
		n += k_seal(&tx, want + 1000 * i, 1000, out + n);
	}
	deliver(y, out, n);
	read_all(y, want, 3000);
	/* and a record one sequence number ahead is refused */
	bad = tx;
	bad.seq++;
	if (bad.gcm12)
		put_be64(bad.iv + 4, get_be64(bad.iv + 4) + 1);
	n = k_seal(&bad, want, 10, out);
	deliver(y, out, n);
	assert_int_equal(SSL_read_ex(y->ssl, pt, sizeof(pt), &plen), 0);
	assert_int_equal(SSL_get_error(y->ssl, 0), SSL_ERROR_SSL);

	OPENSSL_cleanse(&o, sizeof(o));
	end_free(&s);
	end_free(&c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

static void test_matrix(void **state)
{
	static const struct { int v; const char *suite; } suites[] = {
		{ TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256" },
		{ TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384" },
		{ TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256" },
		{ TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256" },
		{ TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384" },
		{ TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		for (unsigned tickets = 0; tickets <= 2; tickets += 2)
			for (int srv = 0; srv < 4; srv++) {
				struct kcase k = { suites[i].v, suites[i].suite, tickets, srv & 1,
						   srv >> 1 };
				/* TLS 1.3 resumes from tickets only */
				if (k.resume && !tickets && k.version == TLS1_3_VERSION)
					continue;
				print_message("%s %s, %u tickets, tracked %s%s\n",
					      suites[i].v == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2",
					      suites[i].suite, tickets, srv & 1 ? "server" : "client",
					      k.resume ? ", resumed" : "");
				run_case(&k);
			}
}

/* A key update before the hand-off: the new keys are not logged, so the
 * tracker must say the kernel cannot take the connection. */
static void test_key_update(void **state)
{
	struct kcase kc = { TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 2, true, false };
	SSL_CTX *sctx = make_ctx(&kc, true), *cctx = make_ctx(&kc, false);
	struct end s, c;
	struct zg__ktls_info o;

	(void)state;
	end_new(&s, sctx, true);
	end_new(&c, cctx, false);
	handshake(&s, &c);
	exchange(&s, &c, 10, 1);
	assert_int_equal(zg__ktls_info(s.ssl, &s.t, true, &o), 0);
	assert_int_equal(SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
	exchange(&c, &s, 10, 2);
	assert_int_equal(zg__ktls_info(s.ssl, &s.t, true, &o), ZG__KTLS_STATE);
	assert_int_equal(zg__ktls_info(s.ssl, &s.t, false, &o), ZG__KTLS_STATE);
	end_free(&s);
	end_free(&c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

/* The wire parser: where the next record starts, split anywhere. */
static void test_wire(void **state)
{
	uint8_t stream[5 + 3 + 5 + 1];
	struct zg__ktls_dir d;

	(void)state;
	memcpy(stream, "\x17\x03\x03\x00\x03xyz\x14\x03\x03\x00\x01\x01", sizeof(stream));
	for (size_t cut = 0; cut <= sizeof(stream); cut++) {
		memset(&d, 0, sizeof(d));
		zg__ktls_wire(&d, stream, cut);
		size_t need = zg__ktls_wire_need(&d);
		size_t want = cut == 0 || cut == 8 || cut == 14 ? 0
			    : cut < 5 ? 5 - cut : cut < 8 ? 8 - cut : cut < 13 ? 13 - cut : 14 - cut;
		assert_int_equal(need, want);
		zg__ktls_wire(&d, stream + cut, sizeof(stream) - cut);
		assert_int_equal(zg__ktls_wire_need(&d), 0);
		assert_int_equal(d.records, 2);
		assert_true(d.ccs);
	}
}

/* Which connections the kernel gets: the flag, the module, the
 * version, the suite, and suites of the other version. */
static void test_choose(void **state)
{
	unsigned f = ZG_FEAT_KTLS;

	(void)state;
	assert_int_equal(zg__ktls_choose(f, 0, 0x0304, 0x1301), 0);
	assert_int_equal(zg__ktls_choose(f, 0, 0x0304, 0x1302), 0);
	assert_int_equal(zg__ktls_choose(f, 0, 0x0304, 0x1303), 0);
	assert_int_equal(zg__ktls_choose(f, 0, 0x0303, 0xc02b), 0);
	assert_int_equal(zg__ktls_choose(f, 0, 0x0303, 0xc030), 0);
	assert_int_equal(zg__ktls_choose(f, 0, 0x0303, 0xcca8), 0);
	assert_int_equal(zg__ktls_choose(f, ZG_TLS_NO_KTLS, 0x0304, 0x1301), ZG__KTLS_OFF);
	assert_int_equal(zg__ktls_choose(0, 0, 0x0304, 0x1301), ZG__KTLS_NO_ULP);
	assert_int_equal(zg__ktls_choose(f, 0, 0x0302, 0xc02b), ZG__KTLS_VERSION);
	assert_int_equal(zg__ktls_choose(f, 0, 0x0304, 0x1304), ZG__KTLS_SUITE); /* CCM */
	assert_int_equal(zg__ktls_choose(f, 0, 0x0303, 0x009c), ZG__KTLS_SUITE); /* RSA kx */
	assert_int_equal(zg__ktls_choose(f, 0, 0x0303, 0xc013), ZG__KTLS_SUITE); /* CBC */
	assert_int_equal(zg__ktls_choose(f, 0, 0x0303, 0x1301), ZG__KTLS_SUITE);
	assert_int_equal(zg__ktls_choose(f, 0, 0x0304, 0xc02f), ZG__KTLS_SUITE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_key_update),
	};
	int ret;

	if (!tls_cert_make(dir, cert, sizeof(cert), key, sizeof(key))) {
		printf("SKIP: openssl(1) could not make a test certificate\n");
		return 77;
	}
	ret = cmocka_run_group_tests_name("ktls_keys", tests, NULL, NULL);
	tls_cert_remove(dir, cert, key);
	return ret;
}
