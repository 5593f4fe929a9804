/*
 * The CUnit runner every part shares: registers the suites its
 * tests/suites.c lists (all_suites) and runs them in basic mode. Exit status 1 when any test
 * failed, so make and CI see it.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "testing/suites.h"

int main(int argc, char **argv)
{
	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		return 2;
	}
	for (const struct suite_def *s = all_suites; s->name; s++) {
		/* One suite by name: codec_tests codec_framer;
		 * one test of it: client_tests store "file-system store traced save" */
		if (argc > 1 && strcmp(argv[1], s->name) != 0)
			continue;
		CU_pSuite suite = CU_add_suite(s->name, NULL, NULL);
		if (!suite) {
			fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
			return 2;
		}
		for (const struct test_def *t = s->tests; t->name; t++) {
			if (argc > 2 && strcmp(argv[2], t->name) != 0)
				continue;
			if (!CU_add_test(suite, t->name, t->fn)) {
				fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
				return 2;
			}
		}
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures();
	unsigned ran = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	if (ran == 0) {
		fprintf(stderr, "no test ran%s%s%s%s\n", argc > 1 ? " for suite " : "", argc > 1 ? argv[1] : "",
		        argc > 2 ? ", test " : "", argc > 2 ? argv[2] : "");
		return 1;
	}
	return failed ? 1 : 0;
}
