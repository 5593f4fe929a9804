#include "testing/suites.h"

#include <stddef.h>

extern const struct test_def broker_tests[];
extern const struct test_def broker_script_tests[];
extern const struct test_def trigger_tests[];
extern const struct test_def server_tests[];

const struct suite_def all_suites[] = {
	{"broker", broker_tests},
	{"broker_script", broker_script_tests},
	{"trigger", trigger_tests},
	{"server", server_tests},
	{NULL, NULL},
};
