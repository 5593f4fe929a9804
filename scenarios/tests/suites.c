#include "testing/suites.h"

#include <stddef.h>

extern const struct test_def simdisk_tests[];
extern const struct test_def wire_tests[];
extern const struct test_def explore_tests[];
extern const struct test_def report_tests[];
extern const struct test_def sim_tests[];
extern const struct test_def oracle_tests[];
extern const struct test_def topics_tests[];

const struct suite_def all_suites[] = {
	{"simdisk", simdisk_tests},
	{"wire", wire_tests},
	{"explore", explore_tests},
	{"report", report_tests},
	{"sim", sim_tests},
	{"oracle", oracle_tests},
	{"topics", topics_tests},
	{NULL, NULL},
};
