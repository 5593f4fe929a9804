#include "testing/suites.h"

#include <stddef.h>

extern const struct test_def fault_plan_tests[];
extern const struct test_def fault_link_tests[];
extern const struct test_def fault_transport_tests[];
extern const struct test_def fault_e2e_tests[];
extern const struct test_def fault_sim_tests[];
extern const struct test_def fault_proxy_tests[];

const struct suite_def all_suites[] = {
	{"fault_plan", fault_plan_tests},
	{"fault_link", fault_link_tests},
	{"fault_transport", fault_transport_tests},
	{"fault_e2e", fault_e2e_tests},
	{"fault_sim", fault_sim_tests},
	{"fault_proxy", fault_proxy_tests},
	{NULL, NULL},
};
