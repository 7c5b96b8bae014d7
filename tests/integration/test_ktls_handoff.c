/* SPDX-License-Identifier: MIT */
/* The kernel TLS hand-off on real libzerg connections, without the
 * kernel's tls module: a test hook (zg__ktls_hook) stands in for the
 * setsockopt calls, keeps what they would have been given, and refuses
 * (as a kernel without the cipher would), so the connection must go on
 * in user space without losing a byte. The peer is OpenSSL over memory,
 * its bytes moved by the test to and from a loopback socket and kept,
 * so the test sees both ciphertext streams whole.
 *
 * The peer's last handshake flight, its first data record and part of
 * the second arrive together: the receive side must stop its multishot
 * recv, decrypt what came, read exactly the rest of the second record
 * and only then hand over, at that record boundary. Checked:
 *  - the hand-off waits for the rest of the record (not called before);
 *  - the receive offset is a record boundary of the peer's stream, and
 *    every peer record after it opens with the TLS_RX crypto_info (as
 *    the kernel would, ktls_emu.h) and gives the peer's plaintext;
 *  - every record libzerg sends after the send offset opens with the
 *    TLS_TX crypto_info (TLS 1.3 tickets included in the count), and
 *    TLS 1.2 AES-GCM's first explicit nonce is the one given;
 *  - the echo comes back whole in every case (user space took over).
 * libzerg as server and as client, TLS 1.3 and 1.2, in each receive
 * mode (IT_RFLAGS). ZG_TLS_NO_KTLS: the hook is never called. */
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "itest.h"
#include "../unit/ktls_emu.h"

static char dir[] = "/tmp/zg-ktlsh-XXXXXX";
static char cert[64], key[64];

#define DATA1 40000
#define DATA2 5000

/* ---- what the hook was given ---------------------------------------- */
static struct {
	int calls;
	bool tx, rx;
	struct zg__ktls_info txi, rxi;
	uint64_t tx_bytes, rx_bytes;
} cap;

static int hook(struct zg_conn *c, bool tx, const struct zg__ktls_info *o, uint64_t bytes)
{
	(void)c;
	cap.calls++;
	if (tx) {
		cap.tx = true;
		cap.txi = *o;
		cap.tx_bytes = bytes;
	} else {
		cap.rx = true;
		cap.rxi = *o;
		cap.rx_bytes = bytes;
	}
	return -ENOPROTOOPT;
}

/* ---- the peer: OpenSSL over memory, moved by hand ------------------ */
struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

struct peer {
	SSL *ssl;
	BIO *rb, *wb;
	int fd;
	bool done;
	struct buf sent;       /* the peer's ciphertext stream            */
	size_t sent_off, hold; /* written to the socket; not past hold    */
	struct buf got;        /* libzerg's ciphertext stream             */
	struct buf plain;      /* what the peer decrypted                 */
	uint8_t data[DATA1 + DATA2];
};

static void drain(struct peer *p)
{
	uint8_t b[16384];
	int n;

	while ((n = BIO_read(p->wb, b, sizeof(b))) > 0)
		buf_add(&p->sent, b, (size_t)n);
}

/* The peer's handshake is done: its last flight, the first data record
 * and 1000 bytes of the second go together; the rest is held. */
static void split_after_handshake(struct peer *p)
{
	size_t before = p->sent.len, done, off[64], len[64];
	unsigned n, i;

	drain(p);
	size_t flight = p->sent.len; /* end of the last handshake flight */
	assert_int_equal(SSL_write_ex(p->ssl, p->data, DATA1, &done), 1);
	drain(p);
	n = split_records(p->sent.p + before, p->sent.len - before, off, len, 64);
	for (i = 0; i < n && before + off[i] < flight; i++)
		;
	assert_true(i + 1 < n); /* two data records at least */
	p->hold = before + off[i + 1] + 1000;
}

static void peer_io(struct peer *p)
{
	uint8_t b[65536];
	ssize_t k;
	size_t r;

	if (!p->done && SSL_do_handshake(p->ssl) == 1) {
		p->done = true;
		split_after_handshake(p);
	}
	drain(p);
	while (p->sent_off < p->sent.len && p->sent_off < p->hold) {
		size_t n = p->sent.len < p->hold ? p->sent.len : p->hold;
		k = send(p->fd, p->sent.p + p->sent_off, n - p->sent_off, MSG_NOSIGNAL);
		if (k <= 0)
			break;
		p->sent_off += (size_t)k;
	}
	while ((k = recv(p->fd, b, sizeof(b), 0)) > 0) {
		buf_add(&p->got, b, (size_t)k);
		assert_int_equal(BIO_write(p->rb, b, (int)k), (int)k);
	}
	while (p->done && SSL_read_ex(p->ssl, b, sizeof(b), &r) == 1)
		buf_add(&p->plain, b, r);
}

#define PUMP(r, p, cond)                                                      \
	({                                                                    \
		uint64_t end_ = it_now_ms() + 5000;                           \
		bool ok_;                                                     \
		while (!(ok_ = (cond)) && it_now_ms() < end_) {               \
			peer_io(p);                                           \
			assert_int_equal(zg_reactor_run_once((r), 1), 1);     \
		}                                                             \
		ok_;                                                          \
	})

static SSL_CTX *peer_ctx(bool server, int version, const char *suite)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_max_proto_version(ctx, version);
	if (version == TLS1_3_VERSION)
		assert_int_equal(SSL_CTX_set_ciphersuites(ctx, suite), 1);
	else
		assert_int_equal(SSL_CTX_set_cipher_list(ctx, suite), 1);
	if (server) {
		assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
	}
	return ctx;
}

static void peer_start(struct peer *p, SSL_CTX *ctx, bool server, int fd)
{
	memset(p, 0, sizeof(*p));
	p->ssl = SSL_new(ctx);
	p->rb = BIO_new(BIO_s_mem());
	p->wb = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(p->rb, -1);
	SSL_set_bio(p->ssl, p->rb, p->wb);
	if (server)
		SSL_set_accept_state(p->ssl);
	else
		SSL_set_connect_state(p->ssl);
	p->fd = fd;
	p->hold = SIZE_MAX;
	it_fill(p->data, sizeof(p->data), 77, 0);
	it_set_nonblock(fd, true);
}

static void peer_free(struct peer *p)
{
	SSL_free(p->ssl);
	free(p->sent.p);
	free(p->got.p);
	free(p->plain.p);
	close(p->fd);
}

/* ---- checks ---------------------------------------------------------- */

/* Is at a record boundary of stream s? */
static bool boundary(const struct buf *s, uint64_t at)
{
	size_t o = 0;

	while (o < at && o + 5 <= s->len)
		o += 5 + ((size_t)s->p[o + 3] << 8 | s->p[o + 4]);
	return o == at;
}

/* Every record of s from at on opens with info; the data records'
 * plaintext is the tail of want[0..wlen). Returns the data bytes. */
static size_t open_all(const struct buf *s, uint64_t at, const struct zg__ktls_info *info,
		       const uint8_t *want, size_t wlen)
{
	static uint8_t pt[16384 + 256], all[DATA1 + DATA2];
	size_t off[256], len[256], plen, total = 0;
	struct kdir k;
	unsigned n;
	uint8_t type;

	kdir_from(&k, info);
	n = split_records(s->p + at, s->len - at, off, len, 256);
	assert_true(n > 0);
	for (unsigned i = 0; i < n; i++) {
		if (k_open(&k, s->p + at + off[i], len[i], pt, &plen, &type))
			fail_msg("record %u after the hand-off (seq %llu) does not open", i,
				 (unsigned long long)k.seq);
		if (type == 23) {
			assert_true(total + plen <= sizeof(all));
			memcpy(all + total, pt, plen);
			total += plen;
		} else {
			assert_true(type == 21 || type == 22);
		}
	}
	assert_true(total > 0 && total <= wlen);
	assert_memory_equal(all, want + wlen - total, total);
	return total;
}

/* ---- the cases ------------------------------------------------------- */

static struct zg_tls *zg_ctx(bool server, unsigned flags)
{
	struct zg_tls_config cfg;
	struct zg_tls *t;

	zg_tls_config_init(&cfg);
	cfg.flags = flags | (server ? 0 : ZG_TLS_CLIENT | ZG_TLS_NO_VERIFY);
	if (server) {
		cfg.cert_file = cert;
		cfg.key_file = key;
	}
	assert_int_equal(zg_tls_new(&cfg, &t), 0);
	return t;
}

static const struct zg_handler echo_h = { .on_data = it_echo_on_data };

/* libzerg (server or client) against the peer: n handed-over directions
 * expected (0 with ZG_TLS_NO_KTLS). */
static void run(bool lz_server, int version, const char *suite, unsigned flags)
{
	struct zg_reactor_config rc;
	struct zg_reactor *r;
	struct zg_tls *t = zg_ctx(lz_server, flags);
	SSL_CTX *pc = peer_ctx(!lz_server, version, suite);
	struct sockaddr_storage ss;
	struct peer *p = calloc(1, sizeof(*p));
	uint16_t port;
	int fd, lfd = -1;
	bool want = !(flags & ZG_TLS_NO_KTLS);

	print_message("libzerg %s, %s %s%s\n", lz_server ? "server" : "client",
		      version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2", suite,
		      want ? "" : ", ZG_TLS_NO_KTLS");
	memset(&cap, 0, sizeof(cap));
	zg__ktls_hook = hook;
	it_reactor_config(&rc);
	assert_int_equal(zg_reactor_new(&rc, &echo_h, NULL, &r), 0);
	if (lz_server) {
		assert_int_equal(zg_reactor_listen_tls(r, (struct sockaddr *)&ss,
						       it_addr(AF_INET, 0, &ss), 0, 0, t, &port), 0);
		fd = it_connect(port);
	} else {
		struct zg_connect_opts o;
		socklen_t l = it_addr(AF_INET, 0, &ss);
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(bind(lfd, (struct sockaddr *)&ss, l), 0);
		assert_int_equal(listen(lfd, 1), 0);
		port = it_local_port(lfd);
		zg_connect_opts_init(&o);
		o.tls = t;
		assert_int_equal(zg_reactor_connect(r, (struct sockaddr *)&ss,
						    it_addr(AF_INET, port, &ss), &o, NULL), 0);
		it_set_nonblock(lfd, true);
		assert_true(IT_PUMP(r, (fd = accept(lfd, NULL, NULL)) >= 0));
	}
	peer_start(p, pc, !lz_server, fd);
	assert_true(PUMP(r, p, p->done));
	/* the rest of the second record is held: no receive hand-off yet,
	 * unless it happened before the data came: where libzerg's side
	 * ends the handshake before the peer's (a TLS 1.3 client, a TLS 1.2
	 * server), the peer's data comes after it */
	bool early_rx = lz_server != (version == TLS1_3_VERSION);
	for (int i = 0; i < 30; i++) {
		peer_io(p);
		assert_int_equal(zg_reactor_run_once(r, 1), 1);
	}
	assert_int_equal(cap.rx, want && early_rx);
	p->hold = SIZE_MAX;
	if (!PUMP(r, p, p->plain.len == DATA1))
		fail_msg("echo: %zu of %d bytes back", p->plain.len, DATA1);
	size_t done;
	assert_int_equal(SSL_write_ex(p->ssl, p->data + DATA1, DATA2, &done), 1);
	assert_true(PUMP(r, p, p->plain.len == DATA1 + DATA2));
	assert_memory_equal(p->plain.p, p->data, DATA1 + DATA2);
	if (want) {
		assert_int_equal(cap.calls, 2);
		assert_true(cap.tx && cap.rx);
		assert_true(boundary(&p->sent, cap.rx_bytes));
		assert_true(boundary(&p->got, cap.tx_bytes));
		if (!early_rx) /* past the handshake, the first record, the second */
			assert_true(cap.rx_bytes > 2 * 16384);
		open_all(&p->sent, cap.rx_bytes, &cap.rxi, p->data, DATA1 + DATA2);
		open_all(&p->got, cap.tx_bytes, &cap.txi, p->plain.p, p->plain.len);
		if (cap.txi.base.version == TLS_1_2_VERSION &&
		    cap.txi.base.cipher_type != TLS_CIPHER_CHACHA20_POLY1305) {
			const uint8_t *iv = cap.txi.base.cipher_type == TLS_CIPHER_AES_GCM_128
					    ? cap.txi.gcm128.iv : cap.txi.gcm256.iv;
			assert_memory_equal(p->got.p + cap.tx_bytes + 5, iv, 8);
		}
	} else {
		assert_int_equal(cap.calls, 0);
	}
	zg__ktls_hook = NULL;
	peer_free(p);
	free(p);
	if (lfd >= 0)
		close(lfd);
	it_reactor_end(r);
	zg_tls_free(t);
	SSL_CTX_free(pc);
	OPENSSL_cleanse(&cap, sizeof(cap));
}

static void test_server(void **state)
{
	(void)state;
	run(true, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0);
	run(true, TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", 0);
	run(true, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", 0);
	run(true, TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", 0);
}

static void test_client(void **state)
{
	(void)state;
	run(false, TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", 0);
	run(false, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", 0);
}

static void test_off(void **state)
{
	(void)state;
	run(true, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", ZG_TLS_NO_KTLS);
	run(false, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", ZG_TLS_NO_KTLS);
}

static bool make_cert(void)
{
	char cmd[512];

	if (!mkdtemp(dir))
		return false;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-days 1 -subj /CN=localhost -keyout %s -out %s >/dev/null 2>&1", key, cert);
	return system(cmd) == 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_off),
	};
	int ret;

	it_init();
	if (!make_cert()) {
		printf("SKIP: openssl(1) could not make a test certificate\n");
		return IT_SKIP;
	}
	ret = cmocka_run_group_tests_name("ktls_handoff", tests, NULL, NULL);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	return ret;
}
