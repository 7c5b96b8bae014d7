/* SPDX-License-Identifier: MIT */
/* TLS over OpenSSL 3, in user space. OpenSSL does no I/O: each TLS
 * connection has two memory BIOs. Ciphertext taken from the ring's
 * buffers goes into rbio (and the buffers go straight back); SSL_read
 * decrypts into the connection's own plaintext segment, which the pipe
 * reader shows as usual. Plaintext written by the application waits in
 * the ordinary output queue; at flush it is gathered into one staging
 * buffer per record (coalesced: many small writes make one record),
 * encrypted, and the ciphertext from wbio is sent from a buffer of the
 * connection's. References are released once their bytes are encrypted.
 *
 * Kernel TLS: where the kernel has the tls ULP (ZG_FEAT_KTLS) and the
 * negotiated suite is one it does, each direction is handed to it after
 * the handshake (keys and sequence numbers from ktls.c), and from then
 * on the connection's recv and send carry plaintext like a plain
 * connection's. Sending is handed over once every byte OpenSSL made is
 * sent; receiving only at a record boundary: the multishot recv is
 * stopped, what it brought is decrypted here, the rest of a record
 * begun is read exactly (no byte past it), and then TLS_RX is set and
 * the recv re-armed. After that, non-data records come through a
 * recvmsg with a control buffer (alerts, session tickets; a key update
 * closes the connection). Anything that fails on the way leaves that
 * direction in user space. */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* TLS cipher suites the kernel's tls ULP implements (by IANA id):
 * AES-GCM-128/256 and ChaCha20-Poly1305, for TLS 1.3 and TLS 1.2. */
bool zg__ktls_cipher_ok(unsigned id)
{
	switch (id) {
	case 0x1301: /* TLS_AES_128_GCM_SHA256 */
	case 0x1302: /* TLS_AES_256_GCM_SHA384 */
	case 0x1303: /* TLS_CHACHA20_POLY1305_SHA256 */
	case 0xc02b: case 0xc02f: /* ECDHE-{ECDSA,RSA}-AES128-GCM-SHA256 */
	case 0xc02c: case 0xc030: /* ECDHE-{ECDSA,RSA}-AES256-GCM-SHA384 */
	case 0xcca8: case 0xcca9: /* ECDHE-{RSA,ECDSA}-CHACHA20-POLY1305 */
		return true;
	default:
		return false;
	}
}

/* Whether the kernel has the tls ULP: on an unconnected TCP socket,
 * setting it fails with ENOTCONN when the module is there and ENOENT
 * when it is not. Probed once per process. */
unsigned zg__ktls_probe(void)
{
	static _Atomic int cached = -1;
	int v = atomic_load(&cached), fd;

	if (v >= 0)
		return (unsigned)v;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	v = fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) &&
	    errno == ENOTCONN;
	if (fd >= 0)
		close(fd);
	atomic_store(&cached, v);
	return (unsigned)v;
}

#ifndef ZG_HAVE_TLS

ZG_EXPORT void zg_tls_config_init(struct zg_tls_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->handshake_timeout_ms = 10000;
}
ZG_EXPORT int zg_tls_new(const struct zg_tls_config *cfg, struct zg_tls **out)
{
	(void)cfg;
	(void)out;
	return -ENOTSUP;
}
ZG_EXPORT void zg_tls_free(struct zg_tls *tls) { (void)tls; }
ZG_EXPORT const char *zg_tls_error(void) { return "libzerg was built without TLS"; }
struct zg_tls *zg__tls_ref(struct zg_tls *tls) { return tls; }
bool zg__tls_client(const struct zg_tls *tls) { (void)tls; return false; }
int zg__tls_attach(struct zg_conn *c, struct zg_tls *tls) { (void)c; (void)tls; return -ENOTSUP; }
void zg__tls_detach(struct zg_conn *c) { (void)c; }
void zg__tls_input(struct zg_conn *c, const uint8_t *p, size_t n) { (void)c; (void)p; (void)n; }
void zg__tls_read(struct zg_conn *c) { (void)c; }
void zg__tls_flush(struct zg_conn *c) { (void)c; }
bool zg__tls_sent(struct zg_conn *c, size_t n) { (void)c; (void)n; return true; }
bool zg__tls_kernel_tx(const struct zg_conn *c) { (void)c; return false; }
bool zg__tls_user_rx(const struct zg_conn *c) { (void)c; return true; }
bool zg__tls_recv_hold(const struct zg_conn *c) { (void)c; return false; }
void zg__tls_recv_ended(struct zg_conn *c) { (void)c; }
bool zg__tls_recv_error(struct zg_conn *c, int res) { (void)c; (void)res; return false; }
bool zg__tls_kernel_notify(struct zg_conn *c) { (void)c; return false; }
void zg__tls_on_recv(struct zg_conn *c, struct io_uring_cqe *cqe) { (void)c; (void)cqe; }
bool zg__tls_handshaking(const struct zg_conn *c) { (void)c; return false; }
bool zg__tls_busy(const struct zg_conn *c) { (void)c; return false; }
bool zg__tls_held(const struct zg_conn *c) { (void)c; return false; }
unsigned zg__tls_timeout(const struct zg_conn *c) { (void)c; return 0; }
ZG_EXPORT const char *zg_conn_tls_alpn(const struct zg_conn *c, unsigned *len)
{
	(void)c;
	if (len)
		*len = 0;
	return NULL;
}
ZG_EXPORT const char *zg_conn_tls_version(const struct zg_conn *c) { (void)c; return NULL; }
ZG_EXPORT const char *zg_conn_tls_cipher(const struct zg_conn *c) { (void)c; return NULL; }
ZG_EXPORT void *zg_conn_tls_peer_cert(const struct zg_conn *c) { (void)c; return NULL; }
ZG_EXPORT void *zg_conn_tls_ssl(const struct zg_conn *c) { (void)c; return NULL; }

#else /* ZG_HAVE_TLS */

#include <openssl/err.h>
#include <openssl/ssl.h>

#define RECORD_MAX 16384u          /* plaintext per TLS record            */
#define CIPHER_PENDING_MAX (256u << 10) /* ciphertext made ahead of sends */

struct zg_tls {
	SSL_CTX *ctx;
	_Atomic unsigned refs;
	unsigned flags;
	unsigned handshake_timeout_ms;
	uint8_t alpn[256];          /* wire format: length-prefixed names   */
	unsigned alpn_len;
	char *server_name;
	int (*sni)(struct zg_conn *c, const char *name, struct zg_tls **use, void *arg);
	void *sni_arg;
};

/* A direction's record layer: OpenSSL's, on its way to the kernel
 * (waiting for the point where it can move), or the kernel's. */
enum { K_USER, K_WAIT, K_KERNEL };
/* the connection's own recv in flight (OP_TLS_RECV) */
enum { RX_NONE, RX_EXACT, RX_CTRL };

#define KREC_MAX (5 + RECORD_MAX + 2048) /* the largest TLS 1.2 record */

struct zg__tls_conn {
	SSL *ssl;
	BIO *rbio, *wbio;           /* network side: ciphertext in / out   */
	struct zg_tls *ctx;         /* a reference                          */
	struct zg_tls *sni;         /* the one SNI switched to (a reference) */
	uint8_t *out;               /* ciphertext to send: [off, len)       */
	size_t out_off, out_len, out_cap;
	bool handshaking;
	bool notify_sent;           /* close_notify queued                  */
	bool tracking;              /* kt follows the records               */
	bool ulp;                   /* TCP_ULP "tls" is set on the socket   */
	bool ctrl_send;             /* the send in flight is our alert      */
	uint8_t ktx, krx;           /* K_*                                  */
	uint8_t rx_op;              /* RX_*                                 */
	struct zg__ktls_track kt;
	/* kernel TLS's own I/O: the exact read up to a record boundary, or
	 * a non-data record with its type (RX_CTRL); a close_notify sent
	 * with its type. krec is allocated when first needed. */
	uint8_t *krec;
	struct msghdr rmsg, smsg;
	struct iovec riov, siov;
	union { struct cmsghdr h; uint8_t b[CMSG_SPACE(1)]; } rcm, scm;
};

static _Thread_local char tls_err[256];

static void save_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(tls_err, sizeof(tls_err), "%s%s%s", what, *buf ? ": " : "", buf);
	ERR_clear_error();
}

ZG_EXPORT const char *zg_tls_error(void)
{
	return tls_err;
}

ZG_EXPORT void zg_tls_config_init(struct zg_tls_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->handshake_timeout_ms = 10000;
}

/* "h2,http/1.1" -> "\x02h2\x08http/1.1" */
static int alpn_wire(const char *list, uint8_t *out, unsigned *len)
{
	unsigned n = 0;

	while (list && *list) {
		const char *end = strchr(list, ',');
		size_t l = end ? (size_t)(end - list) : strlen(list);
		if (!l || l > 255 || n + 1 + l > 256)
			return -EINVAL;
		out[n++] = (uint8_t)l;
		memcpy(out + n, list, l);
		n += (unsigned)l;
		list = end ? end + 1 : NULL;
	}
	*len = n;
	return 0;
}

/* The server picks: its own order of preference wins. Without a common
 * protocol the handshake goes on without ALPN. OpenSSL's callbacks are
 * per SSL_CTX, which several contexts may share (an application's), so
 * they take the context from the connection, which holds a reference,
 * never from their arg. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	struct zg__tls_conn *s = ((struct zg_conn *)SSL_get_app_data(ssl))->tls;
	struct zg_tls *t = s->sni ? s->sni : s->ctx;
	unsigned char *sel;

	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, t->alpn, t->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct zg_conn *c = SSL_get_app_data(ssl);
	struct zg_tls *t = c->tls->ctx, *use = t;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	(void)arg;
	if (!t->sni || !name)
		return SSL_TLSEXT_ERR_OK;
	if (t->sni(c, name, &use, t->sni_arg))
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	if (use && use != t) {
		SSL_set_SSL_CTX(ssl, use->ctx);
		zg_tls_free(c->tls->sni); /* (a second ClientHello) */
		c->tls->sni = zg__tls_ref(use);
	}
	return SSL_TLSEXT_ERR_OK;
}

static int load_files(SSL_CTX *ctx, const struct zg_tls_config *cfg)
{
	bool client = cfg->flags & ZG_TLS_CLIENT;

	if (cfg->cert_file && SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
		save_error(cfg->cert_file);
		return -EINVAL;
	}
	if (cfg->key_file && SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
		save_error(cfg->key_file);
		return -EINVAL;
	}
	if (!client && (!cfg->cert_file || !cfg->key_file || SSL_CTX_check_private_key(ctx) != 1)) {
		save_error("a server needs a certificate and its key");
		return -EINVAL;
	}
	if (client && !(cfg->flags & ZG_TLS_NO_VERIFY)) {
		if (cfg->ca_file ? SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1
				 : SSL_CTX_set_default_verify_paths(ctx) != 1) {
			save_error(cfg->ca_file ? cfg->ca_file : "system CA store");
			return -EINVAL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return 0;
}

static SSL_CTX *make_ctx(const struct zg_tls_config *cfg)
{
	bool client = cfg->flags & ZG_TLS_CLIENT;
	SSL_CTX *ctx = SSL_CTX_new(client ? TLS_client_method() : TLS_server_method());

	if (!ctx) {
		save_error("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Renegotiation is refused: it is a TLS 1.2 attack surface and no
	 * client of ours needs it. Partial writes let SSL_write take what
	 * the record layer can. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
	if (load_files(ctx, cfg)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

ZG_EXPORT int zg_tls_new(const struct zg_tls_config *cfg, struct zg_tls **out)
{
	struct zg_tls *t;

	if (!cfg || !out)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->refs = 1;
	t->flags = cfg->flags;
	t->handshake_timeout_ms = cfg->handshake_timeout_ms;
	t->sni = cfg->sni;
	t->sni_arg = cfg->sni_arg;
	if (alpn_wire(cfg->alpn, t->alpn, &t->alpn_len) ||
	    (cfg->server_name && !(t->server_name = strdup(cfg->server_name)))) {
		snprintf(tls_err, sizeof(tls_err), "bad ALPN list or out of memory");
		zg_tls_free(t);
		return -EINVAL;
	}
	if (cfg->ssl_ctx) {
		t->ctx = cfg->ssl_ctx;
		SSL_CTX_up_ref(t->ctx);
	} else if (!(t->ctx = make_ctx(cfg))) {
		zg_tls_free(t);
		return -EINVAL;
	}
	/* the key log, for TLS 1.3 keys; not where no kernel could use
	 * them (OpenSSL formats every line it logs) */
	if (!(t->flags & ZG_TLS_NO_KTLS) && (zg__ktls_probe() || zg__ktls_hook))
		zg__ktls_ctx_init(t->ctx);
	if (!(t->flags & ZG_TLS_CLIENT)) {
		if (t->alpn_len)
			SSL_CTX_set_alpn_select_cb(t->ctx, alpn_select, NULL);
		SSL_CTX_set_tlsext_servername_callback(t->ctx, sni_cb);
	}
	*out = t;
	return 0;
}

/* For the checks of listeners and connections: which side t is for. */
bool zg__tls_client(const struct zg_tls *t)
{
	return t->flags & ZG_TLS_CLIENT;
}

struct zg_tls *zg__tls_ref(struct zg_tls *t)
{
	if (t)
		atomic_fetch_add(&t->refs, 1);
	return t;
}

ZG_EXPORT void zg_tls_free(struct zg_tls *t)
{
	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	SSL_CTX_free(t->ctx);
	free(t->server_name);
	free(t);
}

static int client_setup(SSL *ssl, struct zg_tls *t)
{
	if (t->alpn_len && SSL_set_alpn_protos(ssl, t->alpn, t->alpn_len))
		return -ENOMEM;
	if (t->server_name) {
		if (SSL_set_tlsext_host_name(ssl, t->server_name) != 1)
			return -EINVAL;
		if (!(t->flags & ZG_TLS_NO_VERIFY) && SSL_set1_host(ssl, t->server_name) != 1)
			return -EINVAL;
	}
	SSL_set_connect_state(ssl);
	return 0;
}

/* Give c a TLS state: SSL object, memory BIOs, handshake deadline. */
int zg__tls_attach(struct zg_conn *c, struct zg_tls *t)
{
	struct zg__tls_conn *s = calloc(1, sizeof(*s));
	int ret = -ENOMEM;

	if (!s)
		return -ENOMEM;
	s->ssl = SSL_new(t->ctx);
	s->rbio = BIO_new(BIO_s_mem());
	s->wbio = BIO_new(BIO_s_mem());
	if (!s->ssl || !s->rbio || !s->wbio)
		goto fail;
	BIO_set_mem_eof_return(s->rbio, -1); /* empty means "wait", not EOF */
	SSL_set_bio(s->ssl, s->rbio, s->wbio); /* the SSL owns them now */
	SSL_set_app_data(s->ssl, c);
	if (t->flags & ZG_TLS_CLIENT) {
		if ((ret = client_setup(s->ssl, t)) != 0)
			goto fail_ssl;
	} else {
		SSL_set_accept_state(s->ssl);
	}
	s->ctx = zg__tls_ref(t);
	s->handshaking = true;
	/* follow the records from the first one, in case the kernel can
	 * take the connection after the handshake */
	if (!(t->flags & ZG_TLS_NO_KTLS) && ((c->r->features & ZG_FEAT_KTLS) || zg__ktls_hook)) {
		zg__ktls_track_start(s->ssl, &s->kt);
		s->tracking = true;
	}
	c->tls = s;
	if (!(t->flags & ZG_TLS_CLIENT)) /* a client's starts once connected */
		zg_conn_set_deadline(c, t->handshake_timeout_ms);
	return 0;
fail:
	BIO_free(s->rbio);
	BIO_free(s->wbio);
	SSL_free(s->ssl);
	free(s);
	return ret;
fail_ssl:
	SSL_free(s->ssl);
	free(s);
	return ret;
}

void zg__tls_detach(struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;

	if (!s)
		return;
	if (s->tracking)
		zg__ktls_track_stop(s->ssl, &s->kt);
	SSL_free(s->ssl);
	zg_tls_free(s->ctx);
	zg_tls_free(s->sni);
	free(s->out);
	free(s->krec);
	free(s);
	c->tls = NULL;
}

unsigned zg__tls_timeout(const struct zg_conn *c)
{
	return c->tls->ctx->handshake_timeout_ms;
}

bool zg__tls_handshaking(const struct zg_conn *c)
{
	return c->tls && c->tls->handshaking;
}

/* Output OpenSSL made that is not counted in c->out_len yet (it moves
 * there at the next flush): the high mark holds while there is some. */
bool zg__tls_held(const struct zg_conn *c)
{
	return BIO_ctrl_pending(c->tls->wbio) > 0;
}

/* Not idle for a stop: the peer owes the next handshake message (the
 * client's Finished travels with its first request), or part of a record
 * is in (in rbio, or taken by OpenSSL). A handshake that has not begun
 * (no ClientHello) is idle. */
bool zg__tls_busy(const struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;

	return s && ((s->handshaking && !SSL_in_before(s->ssl)) || BIO_ctrl_pending(s->rbio) ||
		     SSL_has_pending(s->ssl));
}

void zg__tls_input(struct zg_conn *c, const uint8_t *p, size_t n)
{
	struct zg__tls_conn *s = c->tls;

	if (s->tracking)
		zg__ktls_wire(&s->kt.rx, p, n);
	if (BIO_write(s->rbio, p, (int)n) != (int)n)
		zg__conn_fail(c, -ENOMEM);
}

/* A fatal TLS error. The alert OpenSSL wrote says why: it goes out
 * before our FIN (an RST would destroy it), and nothing else does. */
static void tls_fail(struct zg_conn *c, const char *what)
{
	struct zg__tls_conn *s = c->tls;

	save_error(what);
	zg__log(c->r, ZG_LOG_INFO, "TLS: %s", tls_err);
	if (c->state != CS_OPEN || s->ktx == K_KERNEL || !BIO_ctrl_pending(s->wbio)) {
		zg__conn_fail(c, -EPROTO);
		return;
	}
	c->close_reason = -EPROTO;
	s->handshaking = false;
	s->notify_sent = true; /* no close_notify after a fatal alert */
	zg__conn_drop_output(c);
	c->out_len = s->out_len - s->out_off; /* ciphertext already made */
	zg_conn_close(c, ZG_CLOSE_GRACEFUL);
}

/* The handshake is done: will the kernel take the record layer? Each
 * direction then waits for its hand-off point (K_WAIT). */
static void ktls_consider(struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;
	const SSL_CIPHER *ci = SSL_get_current_cipher(s->ssl);
	unsigned feat = c->r->features | (zg__ktls_hook ? ZG_FEAT_KTLS : 0);
	/* the flags of the context the handshake ran on: one an SNI
	 * callback switched to may say ZG_TLS_NO_KTLS */
	int why = zg__ktls_choose(feat, (s->sni ? s->sni : s->ctx)->flags, SSL_version(s->ssl),
				  ci ? SSL_CIPHER_get_protocol_id(ci) : 0);

	if (!why && s->tracking && !s->kt.bad) {
		s->ktx = s->krx = K_WAIT;
		return;
	}
	if (why == ZG__KTLS_NO_ULP && !c->r->ktls_logged) {
		c->r->ktls_logged = true; /* once per reactor: it is the kernel's */
		zg__log(c->r, ZG_LOG_INFO, "TLS: the kernel has no tls module: records in user space");
	} else if (why != ZG__KTLS_OFF && why != ZG__KTLS_NO_ULP) {
		zg__log(c->r, ZG_LOG_INFO, "TLS: %s %s: records in user space (%s)",
			SSL_get_version(s->ssl), ci ? SSL_CIPHER_get_name(ci) : "?",
			zg__ktls_reason(why ? why : ZG__KTLS_STATE));
	}
	if (s->tracking) {
		zg__ktls_track_stop(s->ssl, &s->kt);
		s->tracking = false;
	}
}

/* Give one direction to the kernel (or to the test hook). */
static int ktls_set(struct zg_conn *c, bool tx)
{
	struct zg__tls_conn *s = c->tls;
	struct zg__ktls_info o;
	int ret = zg__ktls_info(s->ssl, &s->kt, tx, &o);

	if (ret > 0) {
		zg__log(c->r, ZG_LOG_INFO, "TLS: kernel TLS not used: %s", zg__ktls_reason(ret));
		ret = -ENOTSUP;
	} else if (ret) { /* say, the key log callback was replaced */
		zg__log(c->r, ZG_LOG_INFO, "TLS: kernel TLS not used: no %s keys", tx ? "send" : "receive");
	} else if (!ret && zg__ktls_hook) {
		ret = zg__ktls_hook(c, tx, &o, tx ? s->kt.tx.bytes : s->kt.rx.bytes);
	} else if (!ret) {
		ret = zg__ktls_install(c->fd, &s->ulp, tx, &o);
		if (ret) {
			zg__log(c->r, ZG_LOG_INFO, "TLS: kernel TLS %s refused (%s): user space",
				tx ? "TLS_TX" : "TLS_RX", strerror(-ret));
		} else if (!c->r->ktls_logged) {
			c->r->ktls_logged = true; /* once per reactor */
			zg__log(c->r, ZG_LOG_INFO, "TLS: records handed to the kernel (%s %s)",
				SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl));
		}
	}
	OPENSSL_cleanse(&o, sizeof(o));
	return ret;
}

/* Sending moves once OpenSSL's last ciphertext is sent (s->out empty
 * and nothing in flight: the caller checked): from here on the output
 * queue is sent as plaintext. */
static void ktls_tx_step(struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;

	s->ktx = ktls_set(c, true) ? K_USER : K_KERNEL;
}

static void arm_own_recv(struct zg_conn *c, unsigned op, size_t n)
{
	struct zg__tls_conn *s = c->tls;
	struct io_uring_sqe *sqe;

	if (!s->krec && !(s->krec = malloc(KREC_MAX))) {
		zg__conn_fail(c, -ENOMEM);
		return;
	}
	if (!(sqe = zg__sqe(c->r))) {
		zg__conn_fail(c, -ENOMEM);
		return;
	}
	if (op == RX_EXACT) {
		io_uring_prep_recv(sqe, c->fd, s->krec, n < KREC_MAX ? n : KREC_MAX, 0);
	} else {
		s->riov = (struct iovec){ s->krec, KREC_MAX };
		s->rmsg = (struct msghdr){ .msg_iov = &s->riov, .msg_iovlen = 1,
					   .msg_control = &s->rcm, .msg_controllen = sizeof(s->rcm) };
		io_uring_prep_recvmsg(sqe, c->fd, &s->rmsg, 0);
	}
	io_uring_sqe_set_data64(sqe, ud_make(OP_TLS_RECV, c->gen, c->slot));
	s->rx_op = (uint8_t)op;
	c->ops++;
}

/* Receiving moves at a record boundary, with every byte read so far
 * decrypted by OpenSSL: wait for the multishot recv to end (it is
 * cancelled while krx is K_WAIT), for the application to make room for
 * what is still to decrypt, and for the rest of a record begun. */
static void ktls_rx_step(struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;
	size_t need;

	if (s->krx != K_WAIT || s->rx_op || c->state != CS_OPEN)
		return;
	zg__conn_recv_update(c); /* cancels the multishot recv */
	if (c->rstate != RS_IDLE)
		return;
	if (BIO_ctrl_pending(s->rbio) || SSL_pending(s->ssl))
		return; /* plaintext at max_input: on once the application reads */
	if (c->eof || s->kt.bad) {
		s->krx = K_USER;
	} else if ((need = zg__ktls_wire_need(&s->kt.rx)) > 0) {
		arm_own_recv(c, RX_EXACT, need);
		return;
	} else {
		s->krx = ktls_set(c, false) ? K_USER : K_KERNEL;
	}
	zg__conn_recv_update(c); /* the multishot recv again */
}
static void handshake(struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;
	int ret = SSL_do_handshake(s->ssl), err;

	if (ret == 1) {
		s->handshaking = false;
		zg_conn_set_deadline(c, 0);
		ktls_consider(c);
		zg__conn_opened(c);
		if (c->state == CS_OPEN && c->close_when_open)
			zg_conn_close(c, ZG_CLOSE_GRACEFUL);
		/* plaintext written during the handshake (a client's), or a
		 * shutdown, can go now, even when the handshake's last
		 * message was the peer's */
		if (c->out_len || c->shut_wr)
			zg__conn_make_dirty(c);
		return;
	}
	err = SSL_get_error(s->ssl, ret);
	if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
		tls_fail(c, "handshake");
}

/* What OpenSSL answers by itself counts like a write: a peer that makes
 * it answer (key updates) without reading is held back as a writer is,
 * past max_output / 2: reading and decrypting pause, and sent() resumes
 * them once everything is out. */
static void hold_back(struct zg_conn *c)
{
	if (!c->high_wm &&
	    c->out_len + BIO_ctrl_pending(c->tls->wbio) > c->r->cfg.max_output / 2) {
		c->high_wm = true;
		zg__conn_recv_update(c);
	}
}

/* Decrypt what rbio holds into the input, up to max_input. A TCP FIN
 * (c->eof) does not stop it: records that came before it are read. */
static void decrypt(struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;
	size_t max = c->r->cfg.max_input;
	bool got = false;

	while (c->state == CS_OPEN && c->in_len < max && !c->high_wm) {
		uint8_t *p = zg__conn_plain_room(c, RECORD_MAX);
		size_t n;
		int ret, err;

		if (!p) {
			zg__conn_fail(c, -ENOMEM);
			return;
		}
		ret = SSL_read_ex(s->ssl, p, RECORD_MAX, &n);
		if (ret == 1) {
			zg__conn_plain_added(c, n);
			got = true;
			hold_back(c); /* (a key update may have come with it) */
			continue;
		}
		err = SSL_get_error(s->ssl, ret);
		if (err == SSL_ERROR_ZERO_RETURN) {
			got |= !c->eof; /* news once: close_notify */
			c->eof = true;
		} else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
			tls_fail(c, "record");
			return;
		}
		break;
	}
	if (got)
		zg__conn_make_ready(c);
}

/* New ciphertext arrived, or room came back under max_input. */
void zg__tls_read(struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;

	if (s->krx == K_KERNEL)
		return; /* the kernel decrypts; input is plaintext */
	if (s->handshaking)
		handshake(c);
	if (c->tls && !s->handshaking && c->state == CS_OPEN)
		decrypt(c);
	if (!c->tls || c->state == CS_DEAD)
		return;
	/* handshake messages, alerts, tickets, key-update answers */
	if (BIO_ctrl_pending(s->wbio)) {
		if (s->ktx == K_KERNEL) {
			/* with keys the kernel has moved past: cannot go out */
			zg__log(c->r, ZG_LOG_INFO, "TLS: a record to send (key update answer, "
				"alert) after the kernel took sending over: closing");
			zg__conn_fail(c, -EPROTO);
			return;
		}
		zg__conn_make_dirty(c);
		hold_back(c);
	}
	if (s->ktx == K_WAIT)
		zg__conn_make_dirty(c); /* the flush hands sending over */
	if (s->krx == K_WAIT)
		ktls_rx_step(c);
}

static int out_reserve(struct zg__tls_conn *s, size_t n)
{
	if (s->out_off && s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
	return zg__grow(&s->out, &s->out_cap, s->out_len + n, 32768);
}

/* Move what OpenSSL wrote into wbio to the send buffer. */
static int drain_wbio(struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;
	size_t pend;

	while ((pend = BIO_ctrl_pending(s->wbio)) > 0) {
		int n;
		if (out_reserve(s, pend))
			return -ENOMEM;
		n = BIO_read(s->wbio, s->out + s->out_len, (int)pend);
		if (n <= 0)
			break;
		if (s->tracking)
			zg__ktls_wire(&s->kt.tx, s->out + s->out_len, (size_t)n);
		s->out_len += (size_t)n;
		c->out_len += (size_t)n;
	}
	return 0;
}

/* Encrypt queued plaintext, a record's worth at a time, while the
 * ciphertext waiting to be sent stays under CIPHER_PENDING_MAX. */
static int encrypt(struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;
	static _Thread_local uint8_t stage[RECORD_MAX];

	while (s->out_len - s->out_off < CIPHER_PENDING_MAX) {
		size_t n = zg__conn_take_output(c, stage, sizeof(stage)), done;
		if (!n)
			break;
		if (SSL_write_ex(s->ssl, stage, n, &done) != 1 || done != n) {
			tls_fail(c, "encrypt");
			return -EPROTO;
		}
		if (drain_wbio(c))
			return -ENOMEM;
	}
	return 0;
}

/* CLOSING with nothing left, or a half-close: close_notify first. */
static void notify(struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;

	if (s->notify_sent || s->handshaking)
		return;
	s->notify_sent = true;
	SSL_shutdown(s->ssl);
}

void zg__tls_flush(struct zg_conn *c)
{
	struct zg__tls_conn *s = c->tls;
	bool plain_left;

	if (c->send_inflight)
		return;
	/* waiting for the kernel: plaintext is not encrypted here any more */
	if (!s->handshaking && s->ktx == K_USER && encrypt(c))
		return;
	plain_left = c->out_len > s->out_len - s->out_off;
	if (!plain_left && (c->state == CS_CLOSING || c->shut_wr)) {
		s->ktx = s->ktx == K_WAIT ? K_USER : s->ktx; /* ending anyway */
		notify(c);
	}
	if (drain_wbio(c)) {
		zg__conn_fail(c, -ENOMEM);
		return;
	}
	if (s->out_len > s->out_off) {
		zg__conn_send_buf(c, s->out + s->out_off, s->out_len - s->out_off);
		return;
	}
	if (s->ktx == K_WAIT && !s->handshaking) {
		/* every byte OpenSSL made is sent: the hand-off point */
		ktls_tx_step(c);
		zg__conn_flush(c); /* on, by the kernel or here */
		return;
	}
	/* plaintext, close_notify and a shutdown's FIN wait for the handshake */
	if (plain_left || (s->handshaking && c->state != CS_CLOSING))
		return;
	if (c->state == CS_CLOSING)
		zg__conn_to_linger(c);
	else if (c->shut_wr)
		zg__conn_send_fin(c);
}

/* A send of ours completed: true when the bytes were the TLS layer's
 * (ciphertext, or the kernel-TLS close_notify), false when they came
 * from the output queue (plaintext under kernel TLS). */
bool zg__tls_sent(struct zg_conn *c, size_t n)
{
	struct zg__tls_conn *s = c->tls;

	if (s->ctrl_send) {
		s->ctrl_send = false;
		if (n != 2) /* a record is all or nothing */
			zg__conn_fail(c, -EIO);
		return true;
	}
	if (s->ktx == K_KERNEL)
		return false;
	s->out_off += n;
	if (s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
	return true;
}

/* ---- under kernel TLS ---------------------------------------------- */

bool zg__tls_kernel_tx(const struct zg_conn *c)
{
	return c->tls->ktx == K_KERNEL;
}

bool zg__tls_user_rx(const struct zg_conn *c)
{
	return c->tls->krx != K_KERNEL;
}

/* The multishot recv waits: for the receive hand-off (not once closing:
 * the input is discarded then), or while a recv of our own is in
 * flight. */
bool zg__tls_recv_hold(const struct zg_conn *c)
{
	return (c->tls->krx == K_WAIT && c->state == CS_OPEN) || c->tls->rx_op != RX_NONE;
}

/* The multishot recv ended (its last CQE is in). */
void zg__tls_recv_ended(struct zg_conn *c)
{
	if (c->tls->krx == K_WAIT && c->state == CS_OPEN)
		ktls_rx_step(c);
}

/* The kernel's recv fails with EIO when the next record is not data:
 * read it with its type. Closing too (a close_notify or a ticket while
 * the last output goes out): it is read and dropped like other input,
 * where an error would drop that output and leave the record unread
 * for an RST. */
bool zg__tls_recv_error(struct zg_conn *c, int res)
{
	if (res != -EIO || c->tls->krx != K_KERNEL || c->state == CS_DEAD)
		return false;
	arm_own_recv(c, RX_CTRL, 0);
	return true;
}

/* The close_notify alert, sent as a record of type 21 (TLS_SET_RECORD_TYPE)
 * before the FIN; counted in out_len like any output. False when not
 * under kernel TLS or already sent. */
bool zg__tls_kernel_notify(struct zg_conn *c)
{
	static const uint8_t alert[2] = { 1, 0 }; /* warning, close_notify */
	struct zg__tls_conn *s = c->tls;
	struct io_uring_sqe *sqe;
	struct cmsghdr *cm;

	if (s->ktx != K_KERNEL || s->notify_sent)
		return false;
	s->notify_sent = true;
	if (!(sqe = zg__sqe(c->r))) {
		zg__conn_fail(c, -ENOMEM);
		return true;
	}
	s->siov = (struct iovec){ (void *)alert, sizeof(alert) };
	s->smsg = (struct msghdr){ .msg_iov = &s->siov, .msg_iovlen = 1,
				   .msg_control = &s->scm, .msg_controllen = CMSG_SPACE(1) };
	cm = CMSG_FIRSTHDR(&s->smsg);
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(1);
	*CMSG_DATA(cm) = SSL3_RT_ALERT;
	io_uring_prep_sendmsg(sqe, c->fd, &s->smsg, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, c->gen, c->slot));
	c->send_len = sizeof(alert);
	c->out_len += sizeof(alert);
	s->ctrl_send = true;
	c->send_inflight = true;
	c->ops++;
	c->r->st.sends++;
	return true;
}

/* A non-data record under kernel TLS: close_notify is the end of the
 * stream, session tickets are dropped (a client on kernel TLS keeps no
 * session from them), anything else closes the connection: a key
 * update (its new keys would have to reach the kernel and our answer go
 * out), a fatal alert, a stray handshake message. */
static void ctrl_record(struct zg_conn *c, int res)
{
	struct zg__tls_conn *s = c->tls;
	const uint8_t *p = s->krec;
	struct cmsghdr *cm;
	int type = -1;

	if (res < 0) {
		zg__conn_fail(c, res);
		return;
	}
	for (cm = CMSG_FIRSTHDR(&s->rmsg); cm; cm = CMSG_NXTHDR(&s->rmsg, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			type = *CMSG_DATA(cm);
	switch (zg__ktls_ctrl_kind(type, p, (size_t)res)) {
	case ZG__KC_EOF: /* close_notify, or a FIN without it */
		c->eof = true;
		zg__conn_make_ready(c);
		return;
	case ZG__KC_SKIP:
		return;
	}
	zg__log(c->r, ZG_LOG_INFO, "TLS: under kernel TLS, a record of type %d (%s %u): closing",
		type, type == SSL3_RT_ALERT ? "alert" : "message", res >= 2 ? p[type == 21] : 0);
	zg__conn_fail(c, -EPROTO);
}

/* Our own recv completed (OP_TLS_RECV): the exact read towards a record
 * boundary, or a non-data record under kernel TLS. */
void zg__tls_on_recv(struct zg_conn *c, struct io_uring_cqe *cqe)
{
	struct zg__tls_conn *s = c->tls;
	unsigned op = s->rx_op;
	int res = cqe->res;

	assert(c->ops > 0 && op != RX_NONE);
	c->ops--;
	s->rx_op = RX_NONE;
	if (c->state != CS_OPEN) { /* closing: the input goes anyway */
		if (res == 0)
			c->eof = true;
		if (c->state == CS_LINGER && res <= 0 && res != -ECANCELED)
			zg__conn_to_dead(c);
		else if (c->state != CS_DEAD)
			zg__conn_recv_update(c);
		zg__conn_dead_to_free(c);
		return;
	}
	if (res > 0)
		zg__conn_touch(c);
	if (op == RX_CTRL) {
		ctrl_record(c, res);
	} else if (res > 0) {
		zg__tls_input(c, s->krec, (size_t)res);
		if (c->state == CS_OPEN)
			zg__tls_read(c); /* decrypts, and the next step */
	} else if (res == 0) {
		c->eof = true; /* mid-record: user space sees the truncation */
		s->krx = K_USER;
		zg__conn_make_ready(c);
	} else {
		zg__conn_fail(c, res);
	}
	if (c->state == CS_OPEN)
		zg__conn_recv_update(c);
	zg__conn_dead_to_free(c);
}

static SSL *ssl_of(const struct zg_conn *c)
{
	return c->tls && !c->tls->handshaking ? c->tls->ssl : NULL;
}

ZG_EXPORT const char *zg_conn_tls_alpn(const struct zg_conn *c, unsigned *len)
{
	const unsigned char *p = NULL;
	unsigned n = 0;

	if (ssl_of(c))
		SSL_get0_alpn_selected(ssl_of(c), &p, &n);
	if (len)
		*len = n;
	return n ? (const char *)p : NULL;
}

ZG_EXPORT const char *zg_conn_tls_version(const struct zg_conn *c)
{
	return ssl_of(c) ? SSL_get_version(ssl_of(c)) : NULL;
}

ZG_EXPORT const char *zg_conn_tls_cipher(const struct zg_conn *c)
{
	return ssl_of(c) ? SSL_get_cipher_name(ssl_of(c)) : NULL;
}

ZG_EXPORT void *zg_conn_tls_peer_cert(const struct zg_conn *c)
{
	return ssl_of(c) ? SSL_get0_peer_certificate(ssl_of(c)) : NULL;
}

ZG_EXPORT void *zg_conn_tls_ssl(const struct zg_conn *c)
{
	return c->tls ? c->tls->ssl : NULL;
}

#endif /* ZG_HAVE_TLS */
