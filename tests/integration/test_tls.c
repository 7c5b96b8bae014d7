/* SPDX-License-Identifier: MIT */
/* TLS through the unchanged read/write API, both ends libzerg on one
 * reactor (a TLS listener echoing, TLS clients from zg_reactor_connect),
 * with a certificate pair the test makes with `openssl req`:
 *  - echo of 1 B ... 16 MiB each way, TLS 1.3 and (forced) TLS 1.2;
 *  - ALPN: the server's preference among what the client offers, none
 *    when the client offers none or nothing matches;
 *  - 200 handshakes at once;
 *  - garbage instead of a ClientHello, a client that stops mid-handshake
 *    (the handshake timeout), a truncated record then EOF;
 *  - close_notify: a graceful close on one side is end of stream on the
 *    other.
 * Skipped (77) when libzerg was built without TLS or openssl(1) is
 * missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "itest.h"
#include "../tls_cert.h"

static char dir[] = "/tmp/zg-tls-XXXXXX";
static char cert[64], key[64];

struct peer {
	int opens, closes, reason;
	size_t got, want;
	uint64_t seed;
	bool bad;
	char alpn[32], version[16];
	struct zg_conn *c;
};

static void cl_open(struct zg_conn *c)
{
	struct peer *k = zg_conn_udata(c);
	unsigned n;
	const char *a = zg_conn_tls_alpn(c, &n);

	k->opens++;
	snprintf(k->alpn, sizeof(k->alpn), "%.*s", a ? (int)n : 0, a ? a : "");
	snprintf(k->version, sizeof(k->version), "%s", zg_conn_tls_version(c));
}

/* Check the echo against the pattern as it streams in. */
static void cl_data(struct zg_conn *c)
{
	struct peer *k = zg_conn_udata(c);
	struct zg_read_view v;

	zg_conn_read(c, &v);
	for (unsigned i = 0; i < v.nsegs; i++) {
		size_t n = v.segs[i].iov_len;
		if (it_check(v.segs[i].iov_base, n, k->seed, k->got) != n)
			k->bad = true;
		k->got += n;
	}
	zg_conn_advance(c, v.len, v.len);
	if (k->want && k->got >= k->want)
		zg_conn_close(c, ZG_CLOSE_GRACEFUL);
}

static void cl_close(struct zg_conn *c, int reason)
{
	struct peer *k = zg_conn_udata(c);
	k->closes++;
	k->reason = reason;
}

static const struct zg_handler client_h = { .on_open = cl_open, .on_data = cl_data,
					    .on_close = cl_close };

static int srv_closes;
static char srv_alpn[32];

static int srv_unopened_calls; /* callbacks before on_open: a bug */

static void srv_open(struct zg_conn *c)
{
	unsigned n;
	const char *a = zg_conn_tls_alpn(c, &n);
	snprintf(srv_alpn, sizeof(srv_alpn), "%.*s", a ? (int)n : 0, a ? a : "");
	zg_conn_set_udata(c, srv_alpn); /* "on_open ran" */
}

static void srv_data(struct zg_conn *c)
{
	if (!zg_conn_udata(c))
		srv_unopened_calls++;
	it_echo_on_data(c);
}

static void srv_close(struct zg_conn *c, int reason)
{
	(void)c;
	(void)reason;
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
	cfg.alpn = "h2,http/1.1";
	cfg.handshake_timeout_ms = timeout_ms;
	assert_int_equal(zg_tls_new(&cfg, &t), 0);
	return t;
}

static struct zg_tls *client_tls(const char *alpn, bool tls12)
{
	struct zg_tls_config cfg;
	struct zg_tls *t;
	SSL_CTX *ctx = NULL;

	zg_tls_config_init(&cfg);
	cfg.flags = ZG_TLS_CLIENT;
	cfg.ca_file = cert; /* self-signed: it is its own CA */
	cfg.server_name = "localhost";
	cfg.alpn = alpn;
	if (tls12) { /* the application's own SSL_CTX */
		ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		cfg.ssl_ctx = ctx;
	}
	assert_int_equal(zg_tls_new(&cfg, &t), 0);
	SSL_CTX_free(ctx); /* zg_tls holds its own reference */
	return t;
}

static struct zg_reactor *tls_reactor(struct zg_tls *st, uint16_t *port)
{
	struct zg_reactor_config cfg;
	struct sockaddr_storage ss;
	struct zg_reactor *r;

	it_reactor_config(&cfg);
	cfg.max_output = 64u << 20;
	assert_int_equal(zg_reactor_new(&cfg, &server_h, NULL, &r), 0);
	assert_int_equal(zg_reactor_listen_tls(r, (struct sockaddr *)&ss,
					       it_addr(AF_INET, 0, &ss), 0, 0, st, port), 0);
	srv_closes = 0;
	return r;
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

/* Send n pattern bytes through the echo, check them, close. */
static void echo(struct zg_reactor *r, uint16_t port, struct zg_tls *ct, size_t n,
		 const char *want_version)
{
	struct peer k = { .want = n, .seed = n };
	uint8_t *buf = malloc(n);

	it_fill(buf, n, n, 0);
	assert_int_equal(tls_connect(r, port, ct, &k), 0);
	assert_int_equal(zg_conn_write(k.c, buf, n), 0); /* before the handshake */
	if (!IT_PUMP(r, k.closes == 1))
		fail_msg("%zu bytes: got %zu, opens %d, pending %zu", n, k.got, k.opens,
			 zg_conn_pending(k.c));
	assert_int_equal(k.opens, 1);
	assert_int_equal(k.reason, 0);
	assert_int_equal(k.got, n);
	assert_false(k.bad);
	if (want_version)
		assert_string_equal(k.version, want_version);
	free(buf);
}

static void test_echo_sizes(void **state)
{
	static const size_t sizes[] = { 1, 100, 16384, 16385, 300000, 16u << 20 };
	struct zg_tls *st = server_tls(5000), *c13 = client_tls(NULL, false),
		      *c12 = client_tls(NULL, true);
	uint16_t port;
	struct zg_reactor *r = tls_reactor(st, &port);

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		echo(r, port, c13, sizes[i], "TLSv1.3");
		echo(r, port, c12, sizes[i], "TLSv1.2");
	}
	assert_true(IT_PUMP(r, srv_closes == 12));
	it_reactor_end(r);
	zg_tls_free(st);
	zg_tls_free(c13);
	zg_tls_free(c12);
}

static void alpn_case(struct zg_reactor *r, uint16_t port, const char *offer, const char *want)
{
	struct zg_tls *ct = client_tls(offer, false);
	struct peer k = { .want = 1, .seed = 1 };

	srv_alpn[0] = 0;
	assert_int_equal(tls_connect(r, port, ct, &k), 0);
	assert_int_equal(zg_conn_write(k.c, "\x5b", 1), 0);
	assert_true(IT_PUMP(r, k.closes == 1));
	assert_int_equal(k.opens, 1);
	assert_string_equal(k.alpn, want);
	assert_string_equal(srv_alpn, want);
	zg_tls_free(ct);
}

static void test_alpn(void **state)
{
	struct zg_tls *st = server_tls(5000);
	uint16_t port;
	struct zg_reactor *r = tls_reactor(st, &port);

	(void)state;
	it_fill((uint8_t[1]){ 0 }, 1, 1, 0);
	alpn_case(r, port, "http/1.1,h2", "h2");       /* the server's order wins */
	alpn_case(r, port, "http/1.1", "http/1.1");
	alpn_case(r, port, NULL, "");                  /* no ALPN offered */
	alpn_case(r, port, "spdy/3", "");              /* nothing in common */
	it_reactor_end(r);
	zg_tls_free(st);
}

#define MANY 200

static void test_many_handshakes(void **state)
{
	static struct peer k[MANY];
	struct zg_tls *st = server_tls(10000), *ct = client_tls("http/1.1", false);
	uint16_t port;
	struct zg_reactor *r = tls_reactor(st, &port);
	uint8_t b[1000];
	int done;

	(void)state;
	it_fill(b, sizeof(b), 7, 0);
	for (int i = 0; i < MANY; i++) {
		k[i] = (struct peer){ .want = sizeof(b), .seed = 7 };
		assert_int_equal(tls_connect(r, port, ct, &k[i]), 0);
		assert_int_equal(zg_conn_write(k[i].c, b, sizeof(b)), 0);
	}
	assert_true(IT_PUMP(r, ({ done = 0; for (int i = 0; i < MANY; i++) done += k[i].closes;
				  done == MANY; })));
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(k[i].reason, 0);
		assert_int_equal(k[i].got, sizeof(b));
		assert_false(k[i].bad);
	}
	it_reactor_end(r);
	zg_tls_free(st);
	zg_tls_free(ct);
}

static uint64_t closed(struct zg_reactor *r)
{
	struct zg_reactor_stats st;
	zg_reactor_stats(r, &st);
	return st.closed;
}

/* Plain TCP clients misbehave against the TLS listener: each connection
 * is closed (counted in the stats; the application never saw it, so no
 * on_close) and the peer sees the end, not a hang. */
static void test_bad_peers(void **state)
{
	struct zg_tls *st = server_tls(300);
	uint16_t port;
	struct zg_reactor *r = tls_reactor(st, &port);
	uint8_t b[512];
	int fd;

	(void)state;
	/* garbage instead of a ClientHello: an alert, then the close */
	fd = it_connect(port);
	assert_int_equal(it_send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, 1000), 0);
	assert_true(IT_PUMP(r, closed(r) == 1));
	close(fd);
	/* silent after connecting: the handshake timeout */
	fd = it_connect(port);
	assert_true(IT_PUMP(r, closed(r) == 2));
	it_set_nonblock(fd, false);
	assert_true(it_recv_exact(fd, b, sizeof(b), 2000) <= 0); /* EOF or reset */
	close(fd);
	/* a truncated record (a TLS record header promising more), then
	 * EOF: closed, not hung */
	fd = it_connect(port);
	assert_int_equal(it_send_all(fd, "\x16\x03\x01\x02\x00\x01\x00", 7, 1000), 0);
	shutdown(fd, SHUT_WR);
	assert_true(IT_PUMP(r, closed(r) == 3));
	close(fd);
	/* a peer gone mid-handshake (FIN after a partial ClientHello): the
	 * end of stream must not reach on_data before on_open */
	fd = it_connect(port);
	assert_int_equal(it_send_all(fd, "\x16\x03\x01", 3, 1000), 0);
	close(fd);
	assert_true(IT_PUMP(r, closed(r) == 4));
	assert_int_equal(srv_closes, 0);
	assert_int_equal(srv_unopened_calls, 0);
	it_reactor_end(r);
	zg_tls_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_sizes),
		cmocka_unit_test(test_alpn),
		cmocka_unit_test(test_many_handshakes),
		cmocka_unit_test(test_bad_peers),
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
	ret = cmocka_run_group_tests_name("tls", tests, NULL, NULL);
	tls_cert_remove(dir, cert, key);
	return ret;
}
