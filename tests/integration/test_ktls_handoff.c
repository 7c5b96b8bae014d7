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
 * mode (IT_RFLAGS). ZG_TLS_NO_KTLS: the hook is never called.
 *
 * Then the same with the hook saying yes, over a Unix socket (where a
 * send is in the receiver's queue when it returns): the test becomes
 * the kernel. At the receive hand-off it takes what is queued in
 * libzerg's socket (which must be exactly the peer's bytes from the
 * offset on), and from then on opens the peer's records with the TLS_RX
 * info and writes their plaintext to libzerg; from the send offset on it
 * seals what libzerg writes with the TLS_TX info for the peer. So
 * libzerg's plaintext paths after the hand-off carry the echo, and its
 * close_notify (a TLS_SET_RECORD_TYPE record; the Unix socket ignores
 * the type, so it arrives as two bytes 1 0) comes before the FIN.
 *
 * `itest_ktls_handoff kernel` (meson test ktls_kernel) runs the real
 * thing instead, no hook: where the kernel has the tls module, the echo
 * goes through the kernel's TLS_TX/TLS_RX (getsockopt(SOL_TLS) on
 * libzerg's socket says so), TLS 1.3 tickets after the hand-off come
 * through the control-message path, close_notify both ways. Without
 * the module it exits 77. */
#include <sys/un.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "itest.h"
#include "../tls_cert.h"
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

static struct peer *taker; /* the peer whose "kernel" says yes */
static void take(struct zg_conn *c, bool tx, const struct zg__ktls_info *o, uint64_t bytes);

static int hook(struct zg_conn *c, bool tx, const struct zg__ktls_info *o, uint64_t bytes)
{
	cap.calls++;
	if (taker) {
		take(c, tx, o, bytes);
		return 0;
	}
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
	/* the kernel, played by the test ("take" cases) */
	bool krx, ktx;
	struct kdir rx, tx;    /* libzerg's receive and send directions  */
	size_t rx_off;         /* peer stream: opened up to here          */
	struct buf to_lz;      /* plaintext for libzerg                   */
	size_t to_lz_off;
	uint64_t tx_at;        /* libzerg stream: plaintext from here on  */
	struct buf lz_plain;   /* what libzerg sent after tx_at           */
	bool peer_eof;         /* the peer's close_notify became a FIN    */
	bool lz_eof;           /* libzerg's FIN                           */
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

/* The kernel's TLS_RX, played: whole peer records up to hold are
 * opened; data goes to libzerg, a close_notify becomes a FIN. */
static void kernel_rx(struct peer *p)
{
	static uint8_t pt[16384 + 256];
	size_t lim = p->sent.len < p->hold ? p->sent.len : p->hold, plen;
	size_t off[64], len[64];
	unsigned n = split_records(p->sent.p + p->rx_off, lim - p->rx_off, off, len, 64);
	uint8_t type;

	for (unsigned i = 0; i < n; i++) {
		if (k_open(&p->rx, p->sent.p + p->rx_off + off[i], len[i], pt, &plen, &type))
			fail_msg("kernel RX: peer record seq %llu does not open",
				 (unsigned long long)p->rx.seq);
		if (type == 23)
			buf_add(&p->to_lz, pt, plen);
		else if (type == 21 && plen == 2 && pt[1] == 0)
			p->peer_eof = true;
		else
			assert_int_equal(type, 22); /* tickets: dropped, as libzerg does */
	}
	if (n)
		p->rx_off += off[n - 1] + len[n - 1];
	while (p->to_lz_off < p->to_lz.len) {
		ssize_t k = send(p->fd, p->to_lz.p + p->to_lz_off, p->to_lz.len - p->to_lz_off,
				 MSG_NOSIGNAL);
		if (k <= 0)
			break;
		p->to_lz_off += (size_t)k;
	}
	if (p->peer_eof && p->to_lz_off == p->to_lz.len)
		shutdown(p->fd, SHUT_WR);
}

/* The kernel's TLS_TX, played: libzerg's bytes past tx_at are
 * plaintext, sealed into records for the peer. */
static void kernel_tx(struct peer *p, const uint8_t *b, size_t n)
{
	static uint8_t rec[16384 + 64];

	buf_add(&p->lz_plain, b, n);
	for (size_t o = 0; o < n;) {
		size_t take = n - o < 16384 ? n - o : 16384;
		size_t l = k_seal(&p->tx, b + o, take, rec);
		assert_int_equal(BIO_write(p->rb, rec, (int)l), (int)l);
		o += take;
	}
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
	while (!p->krx && p->sent_off < p->sent.len && p->sent_off < p->hold) {
		size_t n = p->sent.len < p->hold ? p->sent.len : p->hold;
		k = send(p->fd, p->sent.p + p->sent_off, n - p->sent_off, MSG_NOSIGNAL);
		if (k <= 0)
			break;
		p->sent_off += (size_t)k;
	}
	if (p->krx)
		kernel_rx(p);
	while ((k = recv(p->fd, b, sizeof(b), 0)) > 0) {
		size_t at = p->got.len, n = (size_t)k, cipher = n;
		buf_add(&p->got, b, n);
		if (p->ktx) /* the part past tx_at is plaintext */
			cipher = at >= p->tx_at ? 0 : p->tx_at - at < n ? p->tx_at - at : n;
		assert_int_equal(BIO_write(p->rb, b, (int)cipher), (int)cipher);
		if (cipher < n)
			kernel_tx(p, b + cipher, n - cipher);
	}
	if (k == 0)
		p->lz_eof = true;
	while (p->done && SSL_read_ex(p->ssl, b, sizeof(b), &r) == 1)
		buf_add(&p->plain, b, r);
}

/* The hook said yes: from here on the test is libzerg's kernel. */
static void take(struct zg_conn *c, bool tx, const struct zg__ktls_info *o, uint64_t bytes)
{
	struct peer *p = taker;
	uint8_t b[65536];
	struct buf q = { 0 };
	ssize_t k;

	if (tx) {
		kdir_from(&p->tx, o);
		p->tx_at = bytes;
		p->ktx = true;
		return;
	}
	/* what libzerg has not read is the kernel's now: exactly the
	 * peer's bytes from the offset on */
	while ((k = recv(zg_conn_fd(c), b, sizeof(b), MSG_DONTWAIT)) > 0)
		buf_add(&q, b, (size_t)k);
	assert_true(bytes <= p->sent_off);
	assert_int_equal(q.len, p->sent_off - bytes);
	if (q.len)
		assert_memory_equal(q.p, p->sent.p + bytes, q.len);
	free(q.p);
	kdir_from(&p->rx, o);
	p->rx_off = bytes;
	p->krx = true;
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
	free(p->to_lz.p);
	free(p->lz_plain.p);
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

static struct zg_conn *lz_conn; /* the last connection libzerg opened */

static void note_open(struct zg_conn *c)
{
	lz_conn = c;
}

static const struct zg_handler echo_h = { .on_open = note_open, .on_data = it_echo_on_data };

/* A loopback TCP connection between libzerg (TLS server or client with
 * t) and the test: the test's end (its fd); *lfd is the test's listener
 * when libzerg is the client (-1 otherwise), the caller's to close. */
static int tcp_pair(struct zg_reactor *r, bool lz_server, struct zg_tls *t, int *lfd)
{
	struct sockaddr_storage ss;
	struct zg_connect_opts o;
	uint16_t port;
	int fd;

	*lfd = -1;
	if (lz_server) {
		assert_int_equal(zg_reactor_listen_tls(r, (struct sockaddr *)&ss,
						       it_addr(AF_INET, 0, &ss), 0, 0, t, &port), 0);
		return it_connect(port);
	}
	*lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(*lfd, (struct sockaddr *)&ss, it_addr(AF_INET, 0, &ss)), 0);
	assert_int_equal(listen(*lfd, 1), 0);
	port = it_local_port(*lfd);
	zg_connect_opts_init(&o);
	o.tls = t;
	assert_int_equal(zg_reactor_connect(r, (struct sockaddr *)&ss,
					    it_addr(AF_INET, port, &ss), &o, NULL), 0);
	it_set_nonblock(*lfd, true);
	assert_true(IT_PUMP(r, (fd = accept(*lfd, NULL, NULL)) >= 0));
	return fd;
}

/* run() only: libzerg closes while the rest of the record is held, with
 * its own exact recv in flight */
#define CLOSE_HELD (1u << 31)

/* libzerg's close while its own recv waits for the rest of a record:
 * no multishot recv beside it (two recvs on one socket, and under
 * kernel TLS two recvmsg for one control record), and the close goes
 * through once the bytes come. */
static void close_held(struct zg_reactor *r, struct peer *p)
{
	assert_non_null(lz_conn);
	assert_int_equal(lz_conn->rstate, RS_IDLE); /* the own recv only */
	zg_conn_close(lz_conn, ZG_CLOSE_GRACEFUL);
	for (int i = 0; i < 5; i++) {
		peer_io(p);
		assert_int_equal(zg_reactor_run_once(r, 1), 1);
		assert_int_not_equal(lz_conn->rstate, RS_ARMED);
	}
	p->hold = SIZE_MAX;
	if (!PUMP(r, p, p->lz_eof))
		fail_msg("no FIN from libzerg after its close");
}

/* libzerg (server or client) against the peer: n handed-over directions
 * expected (0 with ZG_TLS_NO_KTLS). */
static void run(bool lz_server, int version, const char *suite, unsigned flags)
{
	struct zg_reactor_config rc;
	struct zg_reactor *r;
	struct zg_tls *t = (zg__ktls_hook = hook, zg_ctx(lz_server, flags & ~CLOSE_HELD));
	SSL_CTX *pc = peer_ctx(!lz_server, version, suite);
	struct peer *p = calloc(1, sizeof(*p));
	int fd, lfd;
	bool want = !(flags & ZG_TLS_NO_KTLS);

	print_message("libzerg %s, %s %s%s\n", lz_server ? "server" : "client",
		      version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2", suite,
		      want ? "" : ", ZG_TLS_NO_KTLS");
	memset(&cap, 0, sizeof(cap));
	zg__ktls_hook = hook;
	lz_conn = NULL;
	it_reactor_config(&rc);
	assert_int_equal(zg_reactor_new(&rc, &echo_h, NULL, &r), 0);
	fd = tcp_pair(r, lz_server, t, &lfd);
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
	if (flags & CLOSE_HELD) {
		close_held(r, p);
		goto out;
	}
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
out:
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

/* The hook says yes and the test plays the kernel (see the top). */
static void run_take(bool lz_server, int version, const char *suite)
{
	struct zg_reactor_config rc;
	struct zg_reactor *r;
	struct zg_tls *t = (zg__ktls_hook = hook, zg_ctx(lz_server, 0)); /* hook first */
	SSL_CTX *pc = peer_ctx(!lz_server, version, suite);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct peer *p = calloc(1, sizeof(*p));
	int fd, lfd = -1;
	size_t done;

	print_message("libzerg %s on a played kernel, %s %s\n", lz_server ? "server" : "client",
		      version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2", suite);
	memset(&cap, 0, sizeof(cap));
	zg__ktls_hook = hook;
	lz_conn = NULL;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/sock", dir);
	unlink(sun.sun_path);
	it_reactor_config(&rc);
	assert_int_equal(zg_reactor_new(&rc, &echo_h, NULL, &r), 0);
	if (lz_server) {
		assert_int_equal(zg_reactor_listen_tls(r, (struct sockaddr *)&sun, sizeof(sun), 0,
						       ZG_LISTEN_UNLINK, t, NULL), 0);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	} else {
		struct zg_connect_opts o;
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		assert_int_equal(listen(lfd, 1), 0);
		zg_connect_opts_init(&o);
		o.tls = t;
		assert_int_equal(zg_reactor_connect(r, (struct sockaddr *)&sun, sizeof(sun), &o,
						    NULL), 0);
		it_set_nonblock(lfd, true);
		assert_true(IT_PUMP(r, (fd = accept(lfd, NULL, NULL)) >= 0));
	}
	peer_start(p, pc, !lz_server, fd);
	taker = p;
	assert_true(PUMP(r, p, p->done));
	for (int i = 0; i < 30; i++) {
		peer_io(p);
		assert_int_equal(zg_reactor_run_once(r, 1), 1);
	}
	p->hold = SIZE_MAX;
	if (!PUMP(r, p, p->plain.len == DATA1))
		fail_msg("echo: %zu of %d bytes back (kernel rx %d tx %d)", p->plain.len, DATA1,
			 p->krx, p->ktx);
	assert_int_equal(SSL_write_ex(p->ssl, p->data + DATA1, DATA2, &done), 1);
	assert_true(PUMP(r, p, p->plain.len == DATA1 + DATA2));
	assert_memory_equal(p->plain.p, p->data, DATA1 + DATA2);
	assert_int_equal(cap.calls, 2);
	assert_true(p->krx && p->ktx);
	/* the kernel's TLS sendmsg refuses MSG_WAITALL (-EOPNOTSUPP: it
	 * takes MSG_MORE, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_EOR only), which
	 * this Unix socket would not show */
	assert_non_null(lz_conn);
	assert_int_equal(zg__conn_send_flags(lz_conn) & MSG_WAITALL, 0);
	/* the kernel's part of the echo: past the hand-off both ways */
	assert_true(p->lz_plain.len > 0 && p->to_lz.len > 0);
	/* the peer's close_notify: end of stream for libzerg, which closes
	 * with its own close_notify (1 0) and then the FIN */
	assert_int_equal(SSL_shutdown(p->ssl), 0);
	if (!PUMP(r, p, p->lz_eof))
		fail_msg("no FIN from libzerg after the peer's close_notify");
	assert_true(p->lz_plain.len >= 2);
	assert_memory_equal(p->lz_plain.p + p->lz_plain.len - 2, "\x01\x00", 2);
	assert_int_equal(p->plain.len, DATA1 + DATA2 + 2);
	taker = NULL;
	zg__ktls_hook = NULL;
	peer_free(p);
	free(p);
	if (lfd >= 0)
		close(lfd);
	unlink(sun.sun_path);
	it_reactor_end(r);
	zg_tls_free(t);
	SSL_CTX_free(pc);
	OPENSSL_cleanse(&cap, sizeof(cap));
}

/* The kernel's own TLS: no hook. Where the module is missing this is
 * not run (main exits 77). */
static void run_kernel(bool lz_server, int version, const char *suite, int cipher_type)
{
	struct zg_reactor_config rc;
	struct zg_reactor *r;
	struct zg_tls *t = zg_ctx(lz_server, 0);
	SSL_CTX *pc = peer_ctx(!lz_server, version, suite);
	struct peer *p = calloc(1, sizeof(*p));
	struct zg__ktls_info got;
	socklen_t gl;
	int fd, lfd;
	size_t done;

	print_message("libzerg %s on the kernel's TLS, %s %s\n", lz_server ? "server" : "client",
		      version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2", suite);
	zg__ktls_hook = NULL;
	lz_conn = NULL;
	it_reactor_config(&rc);
	assert_int_equal(zg_reactor_new(&rc, &echo_h, NULL, &r), 0);
	assert_true(zg_reactor_features(r) & ZG_FEAT_KTLS);
	fd = tcp_pair(r, lz_server, t, &lfd);
	peer_start(p, pc, !lz_server, fd);
	assert_true(PUMP(r, p, p->done));
	p->hold = SIZE_MAX;
	if (!PUMP(r, p, p->plain.len == DATA1))
		fail_msg("echo: %zu of %d bytes back", p->plain.len, DATA1);
	assert_int_equal(SSL_write_ex(p->ssl, p->data + DATA1, DATA2, &done), 1);
	assert_true(PUMP(r, p, p->plain.len == DATA1 + DATA2));
	assert_memory_equal(p->plain.p, p->data, DATA1 + DATA2);
	/* both directions are the kernel's, with the suite negotiated */
	assert_non_null(lz_conn);
	gl = sizeof(got);
	assert_int_equal(getsockopt(zg_conn_fd(lz_conn), SOL_TLS, TLS_TX, &got, &gl), 0);
	assert_int_equal(got.base.cipher_type, cipher_type);
	gl = sizeof(got);
	assert_int_equal(getsockopt(zg_conn_fd(lz_conn), SOL_TLS, TLS_RX, &got, &gl), 0);
	assert_int_equal(got.base.cipher_type, cipher_type);
	/* close_notify both ways, then libzerg's FIN */
	assert_int_equal(SSL_shutdown(p->ssl), 0);
	assert_true(PUMP(r, p, p->lz_eof));
	assert_int_equal(SSL_get_shutdown(p->ssl) & SSL_RECEIVED_SHUTDOWN, SSL_RECEIVED_SHUTDOWN);
	assert_int_equal(p->plain.len, DATA1 + DATA2);
	peer_free(p);
	free(p);
	if (lfd >= 0)
		close(lfd);
	it_reactor_end(r);
	zg_tls_free(t);
	SSL_CTX_free(pc);
}

static void test_kernel(void **state)
{
	(void)state;
	run_kernel(true, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", TLS_CIPHER_AES_GCM_128);
	run_kernel(true, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", TLS_CIPHER_AES_GCM_256);
	run_kernel(false, TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256",
		   TLS_CIPHER_CHACHA20_POLY1305);
	run_kernel(false, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", TLS_CIPHER_AES_GCM_128);
}

static void test_take(void **state)
{
	(void)state;
	run_take(true, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
	run_take(true, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384");
	run_take(false, TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256");
	run_take(false, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256");
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

static void test_close_held(void **state)
{
	(void)state;
	run(true, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", CLOSE_HELD);
}

/* The context an SNI callback switches to decides: made with
 * ZG_TLS_NO_KTLS, its connections stay in user space (TLS 1.2: the keys
 * come from the session, whichever context logged what). */
static struct zg_tls *sni_target;
static int sni_calls;

static int sni_pick(struct zg_conn *c, const char *name, struct zg_tls **use, void *arg)
{
	(void)c;
	(void)name;
	(void)arg;
	sni_calls++;
	*use = sni_target;
	return 0;
}

static void test_sni_no_ktls(void **state)
{
	struct zg_reactor_config rc;
	struct zg_reactor *r;
	struct zg_tls_config cfg;
	struct zg_tls *t;
	SSL_CTX *pc = peer_ctx(false, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256");
	struct peer *p = calloc(1, sizeof(*p));
	int fd, lfd;

	(void)state;
	memset(&cap, 0, sizeof(cap));
	zg__ktls_hook = hook; /* before the contexts */
	sni_calls = 0;
	sni_target = zg_ctx(true, ZG_TLS_NO_KTLS);
	zg_tls_config_init(&cfg);
	cfg.cert_file = cert;
	cfg.key_file = key;
	cfg.sni = sni_pick;
	assert_int_equal(zg_tls_new(&cfg, &t), 0);
	it_reactor_config(&rc);
	assert_int_equal(zg_reactor_new(&rc, &echo_h, NULL, &r), 0);
	fd = tcp_pair(r, true, t, &lfd);
	peer_start(p, pc, false, fd);
	assert_int_equal(SSL_set_tlsext_host_name(p->ssl, "localhost"), 1);
	assert_true(PUMP(r, p, p->done));
	p->hold = SIZE_MAX;
	if (!PUMP(r, p, p->plain.len == DATA1))
		fail_msg("echo: %zu of %d bytes back", p->plain.len, DATA1);
	assert_memory_equal(p->plain.p, p->data, DATA1);
	assert_int_equal(sni_calls, 1);
	assert_int_equal(cap.calls, 0);
	zg__ktls_hook = NULL;
	peer_free(p);
	free(p);
	it_reactor_end(r);
	zg_tls_free(t);
	zg_tls_free(sni_target);
	SSL_CTX_free(pc);
}

static void test_off(void **state)
{
	(void)state;
	run(true, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", ZG_TLS_NO_KTLS);
	run(false, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", ZG_TLS_NO_KTLS);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_close_held),
		cmocka_unit_test(test_sni_no_ktls),
		cmocka_unit_test(test_take),
	};
	const struct CMUnitTest kernel[] = {
		cmocka_unit_test(test_kernel),
	};
	bool real = argc > 1 && !strcmp(argv[1], "kernel");
	int ret;

	it_init();
	if (real && !zg__ktls_probe()) {
		printf("SKIP: this kernel has no tls module (modprobe tls): the kernel TLS "
		       "hand-off cannot run here (its key material and hand-off points are "
		       "checked by ktls_keys and ktls_handoff)\n");
		return IT_SKIP;
	}
	if (!tls_cert_make(dir, cert, sizeof(cert), key, sizeof(key))) {
		printf("SKIP: openssl(1) could not make a test certificate\n");
		return IT_SKIP;
	}
	ret = real ? cmocka_run_group_tests_name("ktls_kernel", kernel, NULL, NULL)
		   : cmocka_run_group_tests_name("ktls_handoff", tests, NULL, NULL);
	tls_cert_remove(dir, cert, key);
	return ret;
}
