#include "suites.h"

#include <stddef.h>

extern const struct test_def fault_plan_tests[];
extern const struct test_def fault_link_tests[];

const struct suite_def all_suites[] = {
	{"fault_plan", fault_plan_tests},
	{"fault_link", fault_link_tests},
	{NULL, NULL},
};
