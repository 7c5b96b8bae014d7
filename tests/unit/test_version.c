/* The run-time version matches the headers this test was built with,
 * in both forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "zerg.h"

static void test_version(void **state)
{
	char want[32];

	(void)state;
	assert_int_equal(zg_version(), ZG_VERSION);
	assert_int_equal(ZG_VERSION >> 16, ZG_VERSION_MAJOR);
	assert_int_equal((ZG_VERSION >> 8) & 0xff, ZG_VERSION_MINOR);
	snprintf(want, sizeof(want), "%d.%d.%d", ZG_VERSION_MAJOR, ZG_VERSION_MINOR,
		 ZG_VERSION_PATCH);
	assert_string_equal(zg_version_string(), want);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_version) };
	return cmocka_run_group_tests_name("version", tests, NULL, NULL);
}
