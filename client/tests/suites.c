#include "testing/suites.h"

#include <stddef.h>

extern const struct test_def store_tests[];
extern const struct test_def store_checked_tests[];
extern const struct test_def session_tests[];
extern const struct test_def session_store_tests[];
extern const struct test_def session_output_tests[];
extern const struct test_def client_tests[];
extern const struct test_def mqtttest_tests[];
extern const struct test_def fidelity_tests[];

const struct suite_def all_suites[] = {
	{"store", store_tests},
	{"store_checked", store_checked_tests},
	{"session", session_tests},
	{"session_store", session_store_tests},
	{"session_output", session_output_tests},
	{"client", client_tests},
	{"mqtttest", mqtttest_tests},
	{"stub_fidelity", fidelity_tests},
	{NULL, NULL},
};
