#include "suites.h"

#include <stddef.h>

extern const struct test_def simdisk_tests[];
extern const struct test_def replay_tests[];

const struct suite_def all_suites[] = {
	{"simdisk", simdisk_tests},
	{"replay", replay_tests},
	{NULL, NULL},
};
