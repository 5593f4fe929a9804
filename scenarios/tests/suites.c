#include "testing/suites.h"

#include <stddef.h>

extern const struct test_def simdisk_tests[];

const struct suite_def all_suites[] = {
	{"simdisk", simdisk_tests},
	{NULL, NULL},
};
