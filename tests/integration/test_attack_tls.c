/* SPDX-License-Identifier: MIT */
/* TLS attacked from outside (the outsider pass of issue #10), both ends
 * on one lone reactor and a certificate pair made with `openssl req`.
 * Each case is an attack that found a defect; the comment says which.
 * Skipped (77) when libzerg was built without TLS or openssl(1) is
 * missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "itest.h"
#include "../tls_cert.h"

static char dir[] = "/tmp/zg-atk-tls-XXXXXX";
static char cert[64], key[64];

struct peer {
	int opens, closes, reason;
	size_t got;
	char buf[256];
	struct zg_conn *c;
};

static void cl_open(struct zg_conn *c)
{
	struct peer *k = zg_conn_udata(c);
	k->opens++;
}

static void cl_data(struct zg_conn *c)
{
	struct peer *k = zg_conn_udata(c);
	struct zg_read_view v;

	zg_conn_read(c, &v);
	for (unsigned i = 0; i < v.nsegs; i++) {
		size_t n = v.segs[i].iov_len;
		if (k->got + n > sizeof(k->buf))
			n = sizeof(k->buf) - k->got;
		memcpy(k->buf + k->got, v.segs[i].iov_base, n);
		k->got += n;
	}
	zg_conn_advance(c, v.len, v.len);
}

static void cl_close(struct zg_conn *c, int reason)
{
	struct peer *k = zg_conn_udata(c);
	k->closes++;
	k->reason = reason;
}

static const struct zg_handler client_h = { .on_open = cl_open, .on_data = cl_data,
					    .on_close = cl_close };

/* The server side: echo, and keep what arrived for the checks. */
static char srv_buf[256];
static size_t srv_got;
static int srv_opens, srv_closes;
static struct zg_conn *srv_conn; /* the last one opened */
static bool srv_quiet;

static void srv_open(struct zg_conn *c)
{
	srv_conn = c;
	srv_opens++;
}

static void srv_data(struct zg_conn *c)
{
	struct zg_read_view v;

	zg_conn_read(c, &v);
	for (unsigned i = 0; i < v.nsegs; i++) {
		size_t n = v.segs[i].iov_len;
		if (srv_got + n > sizeof(srv_buf))
			n = sizeof(srv_buf) - srv_got;
		memcpy(srv_buf + srv_got, v.segs[i].iov_base, n);
		srv_got += n;
	}
	if (srv_quiet) /* reads and answers nothing */
		zg_conn_advance(c, v.len, v.len);
	else
		it_echo_on_data(c);
}

static void srv_close(struct zg_conn *c, int reason)
{
	(void)reason;
	if (c == srv_conn)
		srv_conn = NULL; /* freed after this returns */
	srv_closes++;
}

static const struct zg_handler server_h = { .on_open = srv_open, .on_data = srv_data,
					    .on_close = srv_close };

static struct zg_tls *server_tls(unsigned timeout_ms)
{
	struct zg_tls_config cfg;
	struct zg_tls *t;

	zg_tls_config_init(&cfg);
	cfg.cert_file = cert;
	cfg.key_file = key;
	cfg.handshake_timeout_ms = timeout_ms;
	assert_int_equal(zg_tls_new(&cfg, &t), 0);
	return t;
}

static struct zg_tls *client_tls(void)
{
	struct zg_tls_config cfg;
	struct zg_tls *t;

	zg_tls_config_init(&cfg);
	cfg.flags = ZG_TLS_CLIENT;
	cfg.ca_file = cert; /* self-signed: it is its own CA */
	cfg.server_name = "localhost";
	assert_int_equal(zg_tls_new(&cfg, &t), 0);
	return t;
}

static unsigned ring_count, ring_size; /* tiny rings when set */
static size_t max_in;                  /* max_input when set */

static struct zg_reactor *tls_reactor_out(struct zg_tls *st, uint16_t *port, size_t max_output)
{
	struct zg_reactor_config cfg;
	struct sockaddr_storage ss;
	struct zg_reactor *r;

	it_reactor_config(&cfg);
	if (max_output)
		cfg.max_output = max_output;
	if (max_in)
		cfg.max_input = max_in;
	if (ring_count) {
		cfg.buf_count = ring_count;
		cfg.buf_size = ring_size;
	}
	assert_int_equal(zg_reactor_new(&cfg, &server_h, NULL, &r), 0);
	assert_int_equal(zg_reactor_listen_tls(r, (struct sockaddr *)&ss,
					       it_addr(AF_INET, 0, &ss), 0, 0, st, port), 0);
	srv_got = 0;
	srv_opens = srv_closes = 0;
	srv_quiet = false;
	memset(srv_buf, 0, sizeof(srv_buf));
	return r;
}

static struct zg_reactor *tls_reactor(struct zg_tls *st, uint16_t *port)
{
	return tls_reactor_out(st, port, 0);
}

static int tls_connect(struct zg_reactor *r, uint16_t port, struct zg_tls *ct, struct peer *k)
{
	struct sockaddr_storage ss;
	struct zg_connect_opts o;

	zg_connect_opts_init(&o);
	o.handler = &client_h;
	o.udata = k;
	o.tls = ct;
	return zg_reactor_connect(r, (struct sockaddr *)&ss, it_addr(AF_INET, port, &ss), &o,
				  &k->c);
}

/* ---- a client the test drives by hand: OpenSSL over memory BIOs on a
 * plain socket, so the test decides when each flight leaves. */
struct raw {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out;   /* the client SSL's network side */
};

static void raw_start(struct raw *w, uint16_t port)
{
	w->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(w->ctx);
	SSL_CTX_set_verify(w->ctx, SSL_VERIFY_NONE, NULL);
	w->ssl = SSL_new(w->ctx);
	w->in = BIO_new(BIO_s_mem());
	w->out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(w->in, -1);
	SSL_set_bio(w->ssl, w->in, w->out);
	SSL_set_connect_state(w->ssl);
	w->fd = it_connect(port);
	it_set_nonblock(w->fd, true);
}

static void raw_end(struct raw *w)
{
	SSL_free(w->ssl);
	SSL_CTX_free(w->ctx);
	close(w->fd);
}

/* What the client SSL has written, taken off its BIO (not sent). */
static size_t raw_take(struct raw *w, uint8_t *p, size_t cap)
{
	int n = BIO_read(w->out, p, (int)cap);
	return n > 0 ? (size_t)n : 0;
}

static void raw_send(struct raw *w, const uint8_t *p, size_t n)
{
	it_set_nonblock(w->fd, false);
	assert_int_equal(it_send_all(w->fd, p, n, 2000), 0);
	it_set_nonblock(w->fd, true);
}

/* Feed what the socket has to the client SSL; false at EOF or error. */
static bool raw_recv(struct raw *w)
{
	uint8_t b[16384];
	ssize_t k = recv(w->fd, b, sizeof(b), 0);

	if (k > 0)
		BIO_write(w->in, b, (int)k);
	return k > 0 || (k < 0 && errno == EAGAIN);
}

/* Run the handshake while pumping r until the client SSL is done with
 * it; its last flight (TLS 1.3: the client's Finished) stays unsent in
 * *fin, for the test to send when it likes. */
static size_t raw_handshake(struct zg_reactor *r, struct raw *w, uint8_t *fin, size_t cap)
{
	uint8_t b[4096];
	size_t n;
	int ret = 0;

	assert_true(IT_PUMP(r, ({
		ret = SSL_do_handshake(w->ssl);
		if (ret != 1 && (n = raw_take(w, b, sizeof(b))))
			raw_send(w, b, n);
		ret == 1 || !raw_recv(w);
	})));
	assert_int_equal(ret, 1);
	return raw_take(w, fin, cap);
}

/* Plaintext from the server within 5 s, pumping r: bytes read, or -1
 * at EOF/reset before any. */
static ssize_t raw_read(struct zg_reactor *r, struct raw *w, char *p, size_t cap)
{
	size_t got = 0;
	bool alive = true;
	size_t n;

	IT_PUMP(r, ({
		alive = raw_recv(w);
		while (got < cap && SSL_read_ex(w->ssl, p + got, cap - got, &n) == 1)
			got += n;
		got == cap || !alive;
	}));
	return got ? (ssize_t)got : -1;
}

/* Attack: a TLS client writes and closes gracefully before its connect
 * completes (what test_connect checks for plain connections). The close
 * dropped the input of a connection still in its handshake, so the
 * handshake never finished: the bytes were never sent and on_close came
 * with -ETIMEDOUT at the handshake timeout. */
static void test_client_close_before_handshake(void **state)
{
	struct zg_tls *st = server_tls(4000), *ct = client_tls();
	uint16_t port;
	struct zg_reactor *r = tls_reactor(st, &port);
	struct peer k = { 0 };

	(void)state;
	assert_int_equal(tls_connect(r, port, ct, &k), 0);
	assert_int_equal(zg_conn_write(k.c, "request", 7), 0);
	zg_conn_close(k.c, ZG_CLOSE_GRACEFUL);
	if (!IT_PUMP(r, k.closes == 1 && srv_closes == 1))
		fail_msg("client closes %d (reason %d), server opens %d closes %d got %zu",
			 k.closes, k.reason, srv_opens, srv_closes, srv_got);
	assert_int_equal(k.reason, 0);
	assert_int_equal(srv_got, 7);
	assert_memory_equal(srv_buf, "request", 7);
	it_reactor_end(r);
	zg_tls_free(st);
	zg_tls_free(ct);
}

/* Attack: zg_conn_shutdown on a TLS client before the handshake is
 * done, with nothing to send (a client that only listens). The FIN
 * went out right after the ClientHello, so the handshake could not
 * finish. Now: the handshake completes, the server reads end of stream
 * (close_notify) and its answer still arrives. */
static void test_client_shutdown_before_handshake(void **state)
{
	struct zg_tls *st = server_tls(4000), *ct = client_tls();
	uint16_t port;
	struct zg_reactor *r = tls_reactor(st, &port);
	struct peer k = { 0 };

	(void)state;
	assert_int_equal(tls_connect(r, port, ct, &k), 0);
	assert_int_equal(zg_conn_shutdown(k.c), 0);
	if (!IT_PUMP(r, k.closes == 1 && srv_closes == 1))
		fail_msg("client opens %d closes %d (reason %d), server opens %d closes %d",
			 k.opens, k.closes, k.reason, srv_opens, srv_closes);
	assert_int_equal(k.opens, 1);
	assert_int_equal(srv_opens, 1);
	assert_int_equal(k.reason, 0);
	it_reactor_end(r);
	zg_tls_free(st);
	zg_tls_free(ct);
}

/* Attack: a graceful stop while handshakes are in flight. The server
 * had sent its flight and waited for the client's Finished, which a
 * client sends with its first request; the stop took the connection
 * for idle (no plaintext held) and closed it, so the request was lost,
 * where a plain connection whose request had begun to arrive is
 * served. Now the handshake finishes and the request is answered. */
static void test_stop_during_handshake(void **state)
{
	struct zg_tls *st = server_tls(4000);
	uint16_t port;
	struct zg_reactor *r = tls_reactor(st, &port);
	struct raw w;
	uint8_t fin[4096], rec[4096];
	size_t nfin, nrec, n;
	char got[8];
	uint64_t until;

	(void)state;
	raw_start(&w, port);
	nfin = raw_handshake(r, &w, fin, sizeof(fin));
	assert_int_equal(SSL_write_ex(w.ssl, "ping", 4, &n), 1);
	nrec = raw_take(&w, rec, sizeof(rec));
	zg_reactor_stop(r, 3000);
	until = it_now_ms() + 100; /* the client's flight is on its way */
	while (it_now_ms() < until)
		assert_int_equal(zg_reactor_run_once(r, 10), 1);
	raw_send(&w, fin, nfin);
	raw_send(&w, rec, nrec);
	assert_int_equal(raw_read(r, &w, got, 4), 4);
	assert_memory_equal(got, "ping", 4);
	raw_end(&w);
	it_reactor_end(r);
	zg_tls_free(st);
}

/* Attack: a graceful stop while half a record of the next request has
 * arrived. The ciphertext sat in OpenSSL's input, not in the
 * connection's, so the stop took the connection for idle and the
 * request was lost. */
static void test_stop_with_partial_record(void **state)
{
	struct zg_tls *st = server_tls(4000);
	uint16_t port;
	struct zg_reactor *r = tls_reactor(st, &port);
	struct raw w;
	uint8_t fin[4096], rec[4096];
	size_t nfin, nrec, n;
	char got[8];
	uint64_t until;

	(void)state;
	raw_start(&w, port);
	nfin = raw_handshake(r, &w, fin, sizeof(fin));
	raw_send(&w, fin, nfin);
	assert_true(IT_PUMP(r, srv_opens == 1));
	assert_int_equal(SSL_write_ex(w.ssl, "pong", 4, &n), 1);
	nrec = raw_take(&w, rec, sizeof(rec));
	raw_send(&w, rec, nrec / 2);
	until = it_now_ms() + 100; /* the first half is in */
	while (it_now_ms() < until)
		assert_int_equal(zg_reactor_run_once(r, 10), 1);
	zg_reactor_stop(r, 3000);
	until = it_now_ms() + 100;
	while (it_now_ms() < until)
		assert_int_equal(zg_reactor_run_once(r, 10), 1);
	raw_send(&w, rec + nrec / 2, nrec - nrec / 2);
	assert_int_equal(raw_read(r, &w, got, 4), 4);
	assert_memory_equal(got, "pong", 4);
	raw_end(&w);
	it_reactor_end(r);
	zg_tls_free(st);
}

/* A guard beside test_key_update_flood_threads (below): the same flood
 * driven one update per loop pass on the test's own reactor, where the
 * answers go out as they come and stay small. */
static void test_key_update_flood(void **state)
{
	struct zg_tls *st = server_tls(4000);
	uint16_t port;
	struct zg_reactor *r = tls_reactor_out(st, &port, 64 << 10);
	struct raw w;
	uint8_t fin[4096], rec[256];
	size_t nfin, n, held = 0, most = 0;
	int small = 4096;

	(void)state;
	srv_quiet = true; /* only the TLS layer answers */
	raw_start(&w, port);
	setsockopt(w.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	nfin = raw_handshake(r, &w, fin, sizeof(fin));
	raw_send(&w, fin, nfin);
	assert_true(IT_PUMP(r, srv_opens == 1));
	setsockopt(zg_conn_fd(srv_conn), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	for (int i = 0; i < 20000 && srv_closes == 0; i++) {
		size_t k = 0;
		assert_int_equal(SSL_key_update(w.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
		assert_int_equal(SSL_write_ex(w.ssl, "k", 1, &n), 1);
		k = raw_take(&w, rec, sizeof(rec));
		if (send(w.fd, rec, k, MSG_DONTWAIT) != (ssize_t)k)
			break; /* the server stopped reading: held back */
		assert_int_equal(zg_reactor_run_once(r, 0), 1);
		held = BIO_ctrl_pending(SSL_get_wbio(zg_conn_tls_ssl(srv_conn))) +
		       zg_conn_pending(srv_conn);
		if (held > most)
			most = held;
	}
	/* a queued answer per update would be about 30 bytes each */
	if (most > (128u << 10))
		fail_msg("%zu bytes of TLS answers held for a peer that does not read", most);
	raw_end(&w);
	it_reactor_end(r);
	zg_tls_free(st);
}

/* Read what the server sends until it ends the stream (pumping r):
 * bytes read, and how it ended (0: FIN, -ECONNRESET: reset, -ETIMEDOUT). */
static size_t read_to_end(struct zg_reactor *r, int fd, uint8_t *b, size_t cap, int *how)
{
	size_t got = 0;

	*how = -ETIMEDOUT;
	it_set_nonblock(fd, true);
	IT_PUMP(r, ({
		ssize_t k = recv(fd, b + got, cap - got, 0);
		if (k > 0)
			got += (size_t)k;
		else if (k == 0)
			*how = 0;
		else if (errno != EAGAIN)
			*how = -errno;
		*how != -ETIMEDOUT || got == cap;
	}));
	return got;
}

/* Attack: bad handshakes (a malformed ClientHello, a TLS 1.1 one, an
 * unexpected message) and a forged record after the handshake. OpenSSL
 * wrote the alert that says why, but the connection was closed with an
 * RST at once: the alert was dropped and the peer saw "connection
 * reset" (openssl s_client -tls1_1: write:errno=104). Now the alert
 * goes out, then FIN. */
static void test_alert_reaches_peer(void **state)
{
	static const char *bad[] = {
		"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",   /* ClientHello, body too short */
		"\x16\x03\x01\x00\x04\x14\x00\x00\x00",       /* Finished first */
	};
	struct zg_tls *st = server_tls(4000);
	uint16_t port;
	struct zg_reactor *r = tls_reactor(st, &port);
	uint8_t b[4096], fin[4096], rec[256];
	size_t got, nfin, n;
	struct raw w;
	int how;

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		int fd = it_connect(port);
		assert_int_equal(it_send_all(fd, bad[i], i ? 9 : 10, 1000), 0);
		got = read_to_end(r, fd, b, sizeof(b), &how);
		if (how != 0 || got < 7 || b[0] != 0x15)
			fail_msg("bad hello %u: %zu bytes (first %#x), end %d", i, got,
				 got ? b[0] : 0, how);
		close(fd);
	}
	/* after the handshake: a record whose tag does not match */
	raw_start(&w, port);
	nfin = raw_handshake(r, &w, fin, sizeof(fin));
	raw_send(&w, fin, nfin);
	assert_true(IT_PUMP(r, srv_opens == 1));
	assert_int_equal(SSL_write_ex(w.ssl, "forged", 6, &n), 1);
	n = raw_take(&w, rec, sizeof(rec));
	rec[n - 1] ^= 1;
	raw_send(&w, rec, n);
	got = read_to_end(r, w.fd, b, sizeof(b), &how);
	BIO_write(w.in, b, (int)got);
	assert_int_equal(SSL_read_ex(w.ssl, b, sizeof(b), &n), 0);
	if (how != 0 || SSL_get_error(w.ssl, 0) != SSL_ERROR_SSL)
		fail_msg("forged record: %zu bytes, end %d, no alert read", got, how);
	assert_true(IT_PUMP(r, srv_closes == 1));
	assert_int_equal(srv_got, 0); /* nothing forged reached the application */
	raw_end(&w);
	it_reactor_end(r);
	zg_tls_free(st);
}

/* Streams of pattern bytes through the echo: many TLS clients at once,
 * each checking what comes back. */
struct streamer {
	struct zg_conn *c;
	size_t want, got;
	uint64_t seed;
	int closes, reason;
	bool bad;
};

static void st_data(struct zg_conn *c)
{
	struct streamer *k = zg_conn_udata(c);
	struct zg_read_view v;

	zg_conn_read(c, &v);
	for (unsigned i = 0; i < v.nsegs; i++) {
		size_t n = v.segs[i].iov_len;
		if (it_check(v.segs[i].iov_base, n, k->seed, k->got) != n)
			k->bad = true;
		k->got += n;
	}
	zg_conn_advance(c, v.len, v.len);
	if (k->got >= k->want)
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
}

static void st_close(struct zg_conn *c, int reason)
{
	struct streamer *k = zg_conn_udata(c);
	k->closes++;
	k->reason = reason;
}

static const struct zg_handler streamer_h = { .on_data = st_data, .on_close = st_close };

/* Attack (no defect found): TLS through a ring of 16 buffers of 100
 * bytes, 12 connections at once (records span many buffers, the ring
 * runs dry and connections park): every byte comes back in order. */
static void test_tiny_ring(void **state)
{
	static struct streamer k[12];
	struct zg_tls *st = server_tls(8000), *ct = client_tls();
	struct sockaddr_storage ss;
	struct zg_connect_opts o;
	uint16_t port;
	struct zg_reactor *r;
	size_t n = 100000;
	uint8_t *buf = malloc(n);
	int done;

	(void)state;
	ring_count = 16;
	ring_size = 100;
	r = tls_reactor_out(st, &port, 0);
	ring_count = 0;
	for (int i = 0; i < 12; i++) {
		k[i] = (struct streamer){ .want = n, .seed = (uint64_t)i + 1 };
		it_fill(buf, n, k[i].seed, 0);
		zg_connect_opts_init(&o);
		o.handler = &streamer_h;
		o.udata = &k[i];
		o.tls = ct;
		assert_int_equal(zg_reactor_connect(r, (struct sockaddr *)&ss,
						    it_addr(AF_INET, port, &ss), &o, &k[i].c), 0);
		assert_int_equal(zg_conn_write(k[i].c, buf, n), 0);
	}
	if (!IT_PUMP(r, ({ done = 0; for (int i = 0; i < 12; i++) done += k[i].closes;
			   done == 12; })))
		fail_msg("%d of 12 done", done);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(k[i].reason, 0);
		assert_int_equal(k[i].got, n);
		assert_false(k[i].bad);
	}
	free(buf);
	it_reactor_end(r);
	zg_tls_free(st);
	zg_tls_free(ct);
}

/* Attack (no defect found): the client TLS against servers it must not
 * trust (a certificate from another CA; the right CA but another name)
 * or that has no protocol in common with it: the first two end in
 * on_close(-EPROTO) without on_open and nothing written reaches the
 * server; no ALPN in common is a handshake without ALPN. */
static void test_client_refuses_bad_server(void **state)
{
	struct zg_tls *st = server_tls(4000), *ct[2];
	struct zg_tls_config cfg;
	uint16_t port;
	struct zg_reactor *r = tls_reactor(st, &port);
	char other[96];

	(void)state;
	snprintf(other, sizeof(other), "%s/other.pem", dir);
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd),
			 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
			 "-nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost "
			 "-keyout %s/other.key -out %s >/dev/null 2>&1", dir, other);
		assert_int_equal(system(cmd), 0);
	}
	for (int i = 0; i < 2; i++) {
		zg_tls_config_init(&cfg);
		cfg.flags = ZG_TLS_CLIENT;
		cfg.ca_file = i == 0 ? other : cert;
		cfg.server_name = i == 0 ? "localhost" : "not-this-host.example";
		assert_int_equal(zg_tls_new(&cfg, &ct[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		struct peer k = { 0 };
		assert_int_equal(tls_connect(r, port, ct[i], &k), 0);
		assert_int_equal(zg_conn_write(k.c, "secret", 6), 0);
		assert_true(IT_PUMP(r, k.closes == 1));
		assert_int_equal(k.opens, 0);
		assert_int_equal(k.reason, -EPROTO);
		assert_int_equal(srv_got, 0);
		zg_tls_free(ct[i]);
	}
	{
		struct peer k = { 0 };
		zg_tls_config_init(&cfg);
		cfg.flags = ZG_TLS_CLIENT | ZG_TLS_NO_VERIFY;
		cfg.alpn = "spdy/1,h3";
		assert_int_equal(zg_tls_new(&cfg, &ct[0]), 0);
		assert_int_equal(tls_connect(r, port, ct[0], &k), 0);
		assert_int_equal(zg_conn_write(k.c, "x", 1), 0);
		assert_true(IT_PUMP(r, k.got == 1));
		assert_int_equal(k.opens, 1);
		assert_null(zg_conn_tls_alpn(k.c, NULL));
		zg_conn_close(k.c, ZG_CLOSE_GRACEFUL);
		assert_true(IT_PUMP(r, k.closes == 1));
		zg_tls_free(ct[0]);
	}
	unlink(other);
	snprintf(other, sizeof(other), "%s/other.key", dir);
	unlink(other);
	it_reactor_end(r);
	zg_tls_free(st);
}

/* A TLS connection that has sent nothing yet (no ClientHello) is idle
 * for a stop, like a plain one: the stop closes it at once instead of
 * waiting for the deadline. (The fix of test_stop_during_handshake
 * first turned this close into a deferred one.) */
static void test_stop_before_client_hello(void **state)
{
	struct zg_tls *st = server_tls(8000);
	uint16_t port;
	struct zg_reactor *r = tls_reactor(st, &port);
	struct zg_reactor_stats stats;
	int fd = it_connect(port), ret;
	uint64_t t0, end;

	(void)state;
	assert_true(IT_PUMP(r, (zg_reactor_stats(r, &stats), stats.accepted == 1)));
	t0 = it_now_ms();
	zg_reactor_stop(r, 4000);
	end = t0 + 6000;
	while ((ret = zg_reactor_run_once(r, 10)) == 1 && it_now_ms() < end)
		;
	assert_int_equal(ret, 0);
	if (it_now_ms() - t0 >= 4000)
		fail_msg("the stop waited for its deadline (%llu ms)",
			 (unsigned long long)(it_now_ms() - t0));
	zg_reactor_free(r);
	close(fd);
	zg_tls_free(st);
}

/* Misuse: a client context on a listener or a server, a server context
 * on an outbound connection. Each was taken: the connections then ran
 * the wrong side of the handshake (both ends waiting for the other's
 * first message) until the handshake timeout. Now -EINVAL at once, and
 * no callback. */
static void test_context_mixups(void **state)
{
	struct zg_tls *st = server_tls(4000), *ct = client_tls();
	struct zg_reactor_config rc;
	struct zg_server_config sc;
	struct zg_server *srv = NULL;
	struct sockaddr_storage ss;
	struct zg_connect_opts o;
	struct zg_reactor *r;
	struct zg_conn *c = NULL;
	struct peer k = { 0 };
	uint16_t port;

	(void)state;
	it_reactor_config(&rc);
	assert_int_equal(zg_reactor_new(&rc, &server_h, NULL, &r), 0);
	assert_int_equal(zg_reactor_listen_tls(r, (struct sockaddr *)&ss, it_addr(AF_INET, 0, &ss),
					       0, 0, ct, &port), -EINVAL);
	assert_int_equal(zg_reactor_listen_tls(r, (struct sockaddr *)&ss, it_addr(AF_INET, 0, &ss),
					       0, 0, st, &port), 0);
	zg_connect_opts_init(&o);
	o.handler = &client_h;
	o.udata = &k;
	o.tls = st;
	assert_int_equal(zg_reactor_connect(r, (struct sockaddr *)&ss,
					    it_addr(AF_INET, port, &ss), &o, &c), -EINVAL);
	assert_null(c);
	for (int i = 0; i < 5; i++)
		assert_int_equal(zg_reactor_run_once(r, 1), 1);
	assert_int_equal(k.closes, 0);
	assert_int_equal(zg_reactor_conn_count(r), 0);
	it_reactor_end(r);
	it_server_config(&sc, 1);
	sc.tls = ct;
	assert_int_equal(zg_server_new(&sc, &server_h, NULL, &srv), -EINVAL);
	assert_null(srv);
	zg_tls_free(st);
	zg_tls_free(ct);
}

/* Misuse attack: two contexts made from one application SSL_CTX (a
 * listener each), the second freed. OpenSSL's ALPN and SNI callbacks
 * are per SSL_CTX, and pointed at the context made last: the first
 * listener's next handshake read the freed one (ASan:
 * heap-use-after-free in alpn_select). Now the callbacks take the
 * context from the connection, which holds a reference. */
static void test_shared_ssl_ctx(void **state)
{
	SSL_CTX *x = SSL_CTX_new(TLS_server_method());
	struct zg_tls_config cfg;
	struct zg_tls *t1, *t2, *ct;
	struct zg_reactor_config rc;
	struct sockaddr_storage ss;
	struct zg_reactor *r;
	uint16_t port;
	struct peer k = { 0 };
	unsigned n;
	const char *a;

	(void)state;
	assert_int_equal(SSL_CTX_use_certificate_chain_file(x, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(x, key, SSL_FILETYPE_PEM), 1);
	zg_tls_config_init(&cfg);
	cfg.ssl_ctx = x;
	cfg.alpn = "h2";
	assert_int_equal(zg_tls_new(&cfg, &t1), 0);
	cfg.alpn = "http/1.1";
	assert_int_equal(zg_tls_new(&cfg, &t2), 0);
	zg_tls_free(t2);
	SSL_CTX_free(x); /* the contexts hold their own references */
	it_reactor_config(&rc);
	assert_int_equal(zg_reactor_new(&rc, &server_h, NULL, &r), 0);
	assert_int_equal(zg_reactor_listen_tls(r, (struct sockaddr *)&ss, it_addr(AF_INET, 0, &ss),
					       0, 0, t1, &port), 0);
	zg_tls_config_init(&cfg);
	cfg.flags = ZG_TLS_CLIENT;
	cfg.ca_file = cert;
	cfg.server_name = "localhost";
	cfg.alpn = "http/1.1,h2";
	assert_int_equal(zg_tls_new(&cfg, &ct), 0);
	assert_int_equal(tls_connect(r, port, ct, &k), 0);
	assert_int_equal(zg_conn_write(k.c, "a", 1), 0);
	assert_true(IT_PUMP(r, k.got == 1));
	a = zg_conn_tls_alpn(k.c, &n);
	assert_non_null(a);
	assert_int_equal(n, 2);
	assert_memory_equal(a, "h2", 2); /* t1's list */
	zg_conn_close(k.c, ZG_CLOSE_GRACEFUL);
	assert_true(IT_PUMP(r, k.closes == 1));
	it_reactor_end(r);
	zg_tls_free(t1);
	zg_tls_free(ct);
}

/* The SNI callback's switch (not covered before): a name picks another
 * context, whose certificate and ALPN list the client then sees; the
 * connection holds a reference to it. */
static struct zg_tls *sni_other;

static int pick(struct zg_conn *c, const char *name, struct zg_tls **use, void *arg)
{
	(void)c;
	(void)arg;
	if (!strcmp(name, "other.example"))
		*use = sni_other;
	return 0;
}

static void test_sni_switch(void **state)
{
	struct zg_tls_config cfg;
	struct zg_tls *st, *ct;
	uint16_t port;
	struct zg_reactor *r;
	struct peer k = { 0 };
	char other[96], okey[96], cmd[512];
	unsigned n;
	const char *a;

	(void)state;
	snprintf(other, sizeof(other), "%s/sni.pem", dir);
	snprintf(okey, sizeof(okey), "%s/sni.key", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-days 1 -subj /CN=other.example -addext subjectAltName=DNS:other.example "
		 "-keyout %s -out %s >/dev/null 2>&1", okey, other);
	assert_int_equal(system(cmd), 0);
	zg_tls_config_init(&cfg);
	cfg.cert_file = other;
	cfg.key_file = okey;
	cfg.alpn = "http/1.1";
	assert_int_equal(zg_tls_new(&cfg, &sni_other), 0);
	zg_tls_config_init(&cfg);
	cfg.cert_file = cert;
	cfg.key_file = key;
	cfg.alpn = "h2";
	cfg.sni = pick;
	assert_int_equal(zg_tls_new(&cfg, &st), 0);
	r = tls_reactor(st, &port);
	zg_tls_config_init(&cfg);
	cfg.flags = ZG_TLS_CLIENT;
	cfg.ca_file = other; /* verifies only if the switch happened */
	cfg.server_name = "other.example";
	cfg.alpn = "h2,http/1.1";
	assert_int_equal(zg_tls_new(&cfg, &ct), 0);
	assert_int_equal(tls_connect(r, port, ct, &k), 0);
	assert_int_equal(zg_conn_write(k.c, "s", 1), 0);
	assert_true(IT_PUMP(r, k.got == 1 || k.closes));
	zg_tls_free(sni_other); /* the connection holds it */
	sni_other = NULL;
	assert_int_equal(k.opens, 1);
	a = zg_conn_tls_alpn(k.c, &n);
	assert_non_null(a);
	assert_int_equal(n, 8);
	assert_memory_equal(a, "http/1.1", 8); /* the switched context's list */
	zg_conn_close(k.c, ZG_CLOSE_GRACEFUL);
	assert_true(IT_PUMP(r, k.closes == 1));
	it_reactor_end(r);
	zg_tls_free(st);
	zg_tls_free(ct);
	unlink(other);
	unlink(okey);
}

/* Attack: a record larger than max_input's room completes in the same
 * segment as the next record, and the FIN follows (max_input 16 KiB:
 * 16 000 bytes of a 16 KiB record, a pause, then its rest, an 8 000-byte
 * record and FIN). Decrypting paused at max_input with the second record
 * still in OpenSSL's input; the FIN then set end of stream, which also
 * stopped decrypting for good: the second record was lost, the
 * application saw end of stream after 16 KiB. Now what is in stays
 * readable after a FIN. */
static void test_upload_then_fin(void **state)
{
	struct zg_tls *st = server_tls(4000);
	uint16_t port;
	struct zg_reactor *r;
	struct raw w;
	size_t n = 16384 + 8000, got = 0, wn, len;
	uint8_t fin[4096], *plain = malloc(n), wire[32768], b[16384];
	bool eof = false;
	uint64_t until;

	(void)state;
	max_in = 16384;
	r = tls_reactor(st, &port);
	max_in = 0;
	it_fill(plain, n, 3, 0);
	raw_start(&w, port);
	raw_send(&w, fin, raw_handshake(r, &w, fin, sizeof(fin)));
	assert_true(IT_PUMP(r, srv_opens == 1));
	assert_int_equal(SSL_write_ex(w.ssl, plain, 16384, &wn), 1);
	assert_int_equal(SSL_write_ex(w.ssl, plain + 16384, 8000, &wn), 1);
	len = raw_take(&w, wire, sizeof(wire));
	assert_true(len > 16384 + 8000);
	raw_send(&w, wire, 16000);
	until = it_now_ms() + 100; /* the first part is in */
	while (it_now_ms() < until)
		assert_int_equal(zg_reactor_run_once(r, 10), 1);
	raw_send(&w, wire + 16000, len - 16000);
	shutdown(w.fd, SHUT_WR);
	IT_PUMP(r, ({
		if (!raw_recv(&w))
			eof = true;
		while (SSL_read_ex(w.ssl, b, sizeof(b), &wn) == 1) {
			if (it_check(b, wn, 3, got) != wn)
				fail_msg("wrong bytes at %zu", got);
			got += wn;
		}
		eof || got == n;
	}));
	if (got != n)
		fail_msg("echo: %zu of %zu bytes", got, n);
	free(plain);
	raw_end(&w);
	it_reactor_end(r);
	zg_tls_free(st);
}

/* Attack: a TLS 1.3 client floods key updates at full speed (each
 * asking for ours, a data byte between them so OpenSSL's limit on
 * consecutive ones never trips) from its own thread, against a server
 * on its own thread, and never reads. Each answer waited in the TLS
 * layer's output, outside max_output and its back-pressure, so the
 * server held one per update (release build: 4.2 MiB of ciphertext at
 * 300 000 updates, heaptrack). Now such answers count like writes: past
 * max_output / 2 reading and decrypting pause until they are sent. */
struct flood {
	uint16_t port;
	int rounds;
	atomic_bool flooded;   /* the flood is over, the connection still open */
	atomic_bool measured;  /* ... until the server side has been measured */
};

static void *flooder(void *arg)
{
	struct flood *f = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct timeval tv = { 0, 300000 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;
	struct sockaddr_storage ss;
	SSL *ssl = NULL;

	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (connect(fd, (struct sockaddr *)&ss, it_addr(AF_INET, f->port, &ss)))
		goto out;
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) == 1) {
		/* a write that waits 300 ms (the server stopped reading) ends it */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		while (f->rounds < 60000 && SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1 &&
		       SSL_write(ssl, "k", 1) == 1)
			f->rounds++;
	}
	/* closed only once measured: the server connection must be alive
	 * (not freed, nor the answers gone with it) when it is looked at */
	atomic_store(&f->flooded, true);
	for (int i = 0; i < 3000 && !atomic_load(&f->measured); i++)
		usleep(10000);
out:
	atomic_store(&f->flooded, true);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	return NULL;
}

static size_t held_out;
static bool held_alive; /* the connection was open when measured */

static void measure(struct zg_reactor *r, void *arg)
{
	(void)r;
	(void)arg;
	held_alive = srv_conn != NULL;
	held_out = srv_conn ? BIO_ctrl_pending(SSL_get_wbio(zg_conn_tls_ssl(srv_conn))) +
				      zg_conn_pending(srv_conn)
			    : 0;
}

static void test_key_update_flood_threads(void **state)
{
	struct zg_tls *st = server_tls(4000);
	struct zg_server_config cfg;
	struct zg_server *s;
	struct flood f = { 0 };
	pthread_t t;

	(void)state;
	srv_quiet = true;
	srv_conn = NULL;
	it_server_config(&cfg, 1);
	cfg.tls = st;
	cfg.listen_flags = ZG_LISTEN_TLS_ONLY;
	cfg.reactor.max_output = 16 << 10;
	s = it_server_start(&cfg, &server_h, NULL);
	f.port = zg_server_port(s);
	assert_int_equal(pthread_create(&t, NULL, flooder, &f), 0);
	assert_true(IT_WAIT(atomic_load(&f.flooded), 60000));
	assert_int_equal(it_query(zg_server_reactor(s, 0), measure, NULL, NULL, NULL), 0);
	atomic_store(&f.measured, true);
	pthread_join(t, NULL);
	assert_true(f.rounds > 0);
	assert_true(held_alive);
	/* the limit (8 KiB here) and a few records: one answer per update
	 * would be about 30 bytes each */
	if (held_out > (64u << 10))
		fail_msg("%zu bytes of TLS answers held for a peer that does not read (%d updates)",
			 held_out, f.rounds);
	it_server_end(s);
	srv_quiet = false;
	zg_tls_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_close_before_handshake),
		cmocka_unit_test(test_client_shutdown_before_handshake),
		cmocka_unit_test(test_stop_during_handshake),
		cmocka_unit_test(test_stop_with_partial_record),
		cmocka_unit_test(test_stop_before_client_hello),
		cmocka_unit_test(test_key_update_flood),
		cmocka_unit_test(test_key_update_flood_threads),
		cmocka_unit_test(test_alert_reaches_peer),
		cmocka_unit_test(test_tiny_ring),
		cmocka_unit_test(test_client_refuses_bad_server),
		cmocka_unit_test(test_context_mixups),
		cmocka_unit_test(test_shared_ssl_ctx),
		cmocka_unit_test(test_sni_switch),
		cmocka_unit_test(test_upload_then_fin),
	};
	struct zg_tls_config cfg;
	struct zg_tls *t;
	int ret;

	it_init();
	zg_tls_config_init(&cfg);
	if (zg_tls_new(&cfg, &t) == -ENOTSUP) {
		printf("SKIP: libzerg was built without TLS (-Dtls=disabled or no libssl-dev)\n");
		return IT_SKIP;
	}
	if (!tls_cert_make(dir, cert, sizeof(cert), key, sizeof(key))) {
		printf("SKIP: openssl(1) could not make a test certificate\n");
		return IT_SKIP;
	}
	ret = cmocka_run_group_tests_name("attack_tls", tests, NULL, NULL);
	tls_cert_remove(dir, cert, key);
	return ret;
}
