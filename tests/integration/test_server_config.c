/* SPDX-License-Identifier: MIT */
/* zg_server_config: threads = 0 (one per allowed CPU), pin_threads,
 * on_reactor_start/stop (once per reactor, on its thread, with the
 * server's udata), an IPv6 host, an adopted listen_fd (owned by the
 * server afterwards), and the failures: a bad host, a port in use, a
 * reactor config the reactors reject (zg_server_start fails cleanly). */
#include <sched.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "itest.h"

static atomic_uint starts, stops, bad_start;
static pthread_t start_tid[8];
static int marker;

static void reactor_start(struct zg_reactor *r, void *udata)
{
	unsigned id = zg_reactor_id(r);

	if (udata != &marker || zg_reactor_udata(r) != &marker || id >= 8)
		atomic_fetch_add(&bad_start, 1);
	else
		start_tid[id] = pthread_self();
	atomic_fetch_add(&starts, 1);
}

static void reactor_stop(struct zg_reactor *r, void *udata)
{
	unsigned id = zg_reactor_id(r);

	if (udata != &marker || id >= 8 || !pthread_equal(start_tid[id], pthread_self()))
		atomic_fetch_add(&bad_start, 1);
	atomic_fetch_add(&stops, 1);
}

static atomic_uint pinned_ok, pinned_bad;

static void reactor_start_pinned(struct zg_reactor *r, void *udata)
{
	cpu_set_t set;

	(void)r;
	(void)udata;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1)
		atomic_fetch_add(&pinned_ok, 1);
	else
		atomic_fetch_add(&pinned_bad, 1);
}

static const struct zg_handler handler = { .on_data = it_echo_on_data };

static void echo_check(int family, uint16_t port)
{
	char b[16];
	int fd = it_connect_af(family, port);

	assert_true(fd >= 0);
	assert_int_equal(it_send_all(fd, "config", 6, 5000), 0);
	assert_int_equal(it_recv_exact(fd, b, 6, 5000), 6);
	assert_memory_equal(b, "config", 6);
	close(fd);
}

static void test_default_threads_and_hooks(void **state)
{
	struct zg_server_config cfg;
	struct zg_server *s;
	cpu_set_t set;
	unsigned ncpu;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	ncpu = (unsigned)CPU_COUNT(&set);
	if (ncpu > 8)
		skip(); /* start_tid[] holds 8 */
	atomic_store(&starts, 0);
	atomic_store(&stops, 0);
	atomic_store(&bad_start, 0);
	it_server_config(&cfg, 0);
	cfg.on_reactor_start = reactor_start;
	cfg.on_reactor_stop = reactor_stop;
	assert_int_equal(zg_server_new(&cfg, &handler, &marker, &s), 0);
	assert_int_equal(zg_server_threads(s), ncpu);
	assert_null(zg_server_reactor(s, 0)); /* not started yet */
	assert_int_equal(zg_server_start(s), 0);
	assert_int_equal(atomic_load(&starts), ncpu);
	for (unsigned i = 0; i < ncpu; i++) {
		assert_non_null(zg_server_reactor(s, i));
		assert_int_equal(zg_reactor_id(zg_server_reactor(s, i)), i);
	}
	assert_null(zg_server_reactor(s, ncpu));
	for (unsigned i = 0; i < 4; i++)
		echo_check(AF_INET, zg_server_port(s));
	it_server_end(s);
	assert_int_equal(atomic_load(&stops), ncpu);
	assert_int_equal(atomic_load(&bad_start), 0);
}

static void test_pin_threads(void **state)
{
	struct zg_server_config cfg;
	struct zg_server *s;

	(void)state;
	atomic_store(&pinned_ok, 0);
	atomic_store(&pinned_bad, 0);
	it_server_config(&cfg, 2);
	cfg.pin_threads = true;
	cfg.on_reactor_start = reactor_start_pinned;
	s = it_server_start(&cfg, &handler, NULL);
	assert_int_equal(atomic_load(&pinned_ok), 2);
	assert_int_equal(atomic_load(&pinned_bad), 0);
	echo_check(AF_INET, zg_server_port(s));
	it_server_end(s);
}

static void test_ipv6_host(void **state)
{
	struct zg_server_config cfg;
	struct zg_server *s;

	(void)state;
	if (!it_have_ipv6()) {
		print_message("SKIP: no IPv6 loopback\n");
		skip();
	}
	for (int mode = 0; mode < 2; mode++) {
		it_server_config(&cfg, 2);
		cfg.host = "::1";
		cfg.accept_mode = mode ? ZG_ACCEPT_ONE : ZG_ACCEPT_REUSEPORT;
		assert_int_equal(zg_server_new(&cfg, &handler, NULL, &s), 0);
		assert_int_not_equal(zg_server_port(s), 0);
		assert_int_equal(zg_server_start(s), 0);
		for (unsigned i = 0; i < 8; i++)
			echo_check(AF_INET6, zg_server_port(s));
		it_server_end(s);
	}
}

static void test_listen_fd(void **state)
{
	for (int mode = 0; mode < 2; mode++) {
		struct zg_server_config cfg;
		struct zg_server *s;
		struct sockaddr_storage ss;
		socklen_t sl = it_addr(AF_INET, 0, &ss);
		int one = 1;
		int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		uint16_t port;

		(void)state;
		assert_true(lfd >= 0);
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		assert_int_equal(bind(lfd, (struct sockaddr *)&ss, sl), 0);
		assert_int_equal(listen(lfd, 128), 0);
		port = it_local_port(lfd);

		it_server_config(&cfg, 2);
		cfg.listen_fd = lfd;
		cfg.accept_mode = mode ? ZG_ACCEPT_ONE : ZG_ACCEPT_REUSEPORT;
		assert_int_equal(zg_server_new(&cfg, &handler, NULL, &s), 0);
		assert_int_equal(zg_server_port(s), port);
		assert_int_equal(zg_server_start(s), 0);
		for (unsigned i = 0; i < 16; i++)
			echo_check(AF_INET, port);
		it_server_end(s);
		/* the server owned it: closed now */
		assert_int_equal(fcntl(lfd, F_GETFD), -1);
		assert_int_equal(errno, EBADF);
	}
}

static void test_failures(void **state)
{
	struct zg_server_config cfg;
	struct zg_server *s = NULL, *s2;

	(void)state;
	it_server_config(&cfg, 1);
	cfg.host = "not-an-address";
	assert_int_equal(zg_server_new(&cfg, &handler, NULL, &s), -EINVAL);
	assert_null(s);

	/* a port in use (no SO_REUSEPORT in ZG_ACCEPT_ONE) */
	it_server_config(&cfg, 2);
	cfg.accept_mode = ZG_ACCEPT_ONE;
	assert_int_equal(zg_server_new(&cfg, &handler, NULL, &s), 0);
	cfg.port = zg_server_port(s);
	assert_int_equal(zg_server_new(&cfg, &handler, NULL, &s2), -EADDRINUSE);
	zg_server_free(s);

	/* every reactor fails to start: start reports it, joins, frees */
	it_server_config(&cfg, 2);
	cfg.reactor.buf_count = 3; /* not a power of 2 */
	assert_int_equal(zg_server_new(&cfg, &handler, NULL, &s), 0);
	assert_int_equal(zg_server_start(s), -EINVAL);
	zg_server_free(s);

	/* max_input below buf_size: rejected as well */
	it_server_config(&cfg, 1);
	cfg.reactor.max_input = 100;
	assert_int_equal(zg_server_new(&cfg, &handler, NULL, &s), 0);
	assert_int_equal(zg_server_start(s), -EINVAL);
	zg_server_free(s);
}

/* zg_server_stop from a signal handler (async-signal-safe). */
static struct zg_server *sig_server;

static void on_usr1(int sig)
{
	(void)sig;
	zg_server_stop(sig_server, 500);
}

static void test_stop_from_signal_handler(void **state)
{
	struct zg_server_config cfg;
	struct sigaction sa, old;
	int fd;

	(void)state;
	it_server_config(&cfg, 2);
	sig_server = it_server_start(&cfg, &handler, NULL);
	fd = it_connect(zg_server_port(sig_server));
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(raise(SIGUSR1), 0);
	/* the idle connection is closed, the threads end */
	assert_int_equal(it_expect_eof(fd, 5000), 0);
	assert_int_equal(zg_server_wait(sig_server), 0);
	zg_server_free(sig_server);
	sigaction(SIGUSR1, &old, NULL);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_threads_and_hooks),
		cmocka_unit_test(test_pin_threads),
		cmocka_unit_test(test_ipv6_host),
		cmocka_unit_test(test_listen_fd),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_stop_from_signal_handler),
	};

	it_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
