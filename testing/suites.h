/*
 * suites.h - how a part's CUnit suites are listed for the shared runner
 * (testing/cunit_main.c). Each test file defines one NULL-terminated
 * table of tests; the part's tests/suites.c lists its tables in
 * all_suites, NULL-terminated, and is linked with the runner.
 */
#ifndef TESTING_SUITES_H
#define TESTING_SUITES_H

struct test_def {
	const char *name;
	void (*fn)(void);
};

struct suite_def {
	const char *name;
	const struct test_def *tests;
};

extern const struct suite_def all_suites[];

#endif
