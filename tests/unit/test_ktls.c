/* Kernel TLS selection: which negotiated suites the kernel's tls ULP
 * can take over (with zg__ktls_choose in test_ktls_keys), what a
 * non-data record read under kernel TLS means, and the probe for the
 * ULP itself: it must agree with a direct setsockopt; where the kernel
 * has no module (this CI's), that part is skipped. */
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

/* Non-data records under kernel TLS: close_notify ends the input,
 * tickets are dropped, the rest closes. */
static void test_ctrl_kind(void **state)
{
	static const uint8_t notify[] = { 1, 0 }, fatal[] = { 2, 40 }, warn_other[] = { 1, 90 };
	static const uint8_t tickets[] = { 4, 0, 0, 2, 0xaa, 0xbb, 4, 0, 0, 0 };
	static const uint8_t key_update[] = { 24, 0, 0, 1, 0 };
	static const uint8_t mixed[] = { 4, 0, 0, 0, 24, 0, 0, 1, 1 };
	static const uint8_t partial[] = { 4, 0, 0, 9, 1, 2 }; /* runs past the record */

	(void)state;
	assert_int_equal(zg__ktls_ctrl_kind(21, notify, 2), ZG__KC_EOF);
	assert_int_equal(zg__ktls_ctrl_kind(-1, NULL, 0), ZG__KC_EOF); /* FIN */
	assert_int_equal(zg__ktls_ctrl_kind(21, fatal, 2), ZG__KC_CLOSE);
	assert_int_equal(zg__ktls_ctrl_kind(21, warn_other, 2), ZG__KC_CLOSE);
	assert_int_equal(zg__ktls_ctrl_kind(21, notify, 1), ZG__KC_CLOSE);
	assert_int_equal(zg__ktls_ctrl_kind(22, tickets, sizeof(tickets)), ZG__KC_SKIP);
	assert_int_equal(zg__ktls_ctrl_kind(22, tickets, 4), ZG__KC_CLOSE);
	assert_int_equal(zg__ktls_ctrl_kind(22, key_update, sizeof(key_update)), ZG__KC_CLOSE);
	assert_int_equal(zg__ktls_ctrl_kind(22, mixed, sizeof(mixed)), ZG__KC_CLOSE);
	assert_int_equal(zg__ktls_ctrl_kind(22, partial, sizeof(partial)), ZG__KC_CLOSE);
	assert_int_equal(zg__ktls_ctrl_kind(22, tickets, 0), ZG__KC_CLOSE);
	assert_int_equal(zg__ktls_ctrl_kind(20, notify, 1), ZG__KC_CLOSE);
	assert_int_equal(zg__ktls_ctrl_kind(23, notify, 2), ZG__KC_CLOSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suites),
		cmocka_unit_test(test_ctrl_kind),
		cmocka_unit_test(test_probe),
	};
	return cmocka_run_group_tests_name("ktls", tests, NULL, NULL);
}
