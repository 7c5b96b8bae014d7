/* Kernel TLS selection: which negotiated suites the kernel's tls ULP
 * could take over, and the probe for the ULP itself. The hand-over is
 * not implemented (see lib/tls.c), so where the kernel has the ULP this
 * only checks the probe agrees with a direct setsockopt; where it does
 * not (this CI's kernel), that part is skipped. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static void test_suites(void **state)
{
	static const unsigned yes[] = { 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
					0xcca8, 0xcca9 };
	static const unsigned no[] = { 0x1304, 0x1305, 0x009c, 0xc013, 0x002f, 0x0000, 0xffff };

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(zg__ktls_cipher_ok(yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(zg__ktls_cipher_ok(no[i]));
}

static void test_probe(void **state)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool have;

	(void)state;
	assert_true(fd >= 0);
	have = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) && errno == ENOTCONN;
	close(fd);
	assert_int_equal(zg__ktls_probe(), have);
	assert_int_equal(zg__ktls_probe(), have); /* cached, same answer */
	if (!have) {
		print_message("SKIP part: this kernel has no tls module (kernel TLS untestable here)\n");
		skip();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suites),
		cmocka_unit_test(test_probe),
	};
	return cmocka_run_group_tests_name("ktls", tests, NULL, NULL);
}
