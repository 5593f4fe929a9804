/*
 * suites.h - how the client part's CUnit suites are listed. Each test
 * file defines one NULL-terminated test table; suites.c lists them.
 */
#ifndef CLIENT_TESTS_SUITES_H
#define CLIENT_TESTS_SUITES_H

struct test_def {
	const char *name;
	void (*fn)(void);
};

struct suite_def {
	const char *name;
	const struct test_def *tests;
};

extern const struct test_def codec_check_tests[];
extern const struct test_def codec_roundtrip_tests[];
extern const struct test_def codec_malformed_tests[];
extern const struct test_def codec_lenient_tests[];
extern const struct test_def codec_framer_tests[];
extern const struct test_def codec_match_tests[];
extern const struct test_def store_tests[];
extern const struct test_def store_checked_tests[];
extern const struct test_def session_tests[];
extern const struct test_def session_store_tests[];
extern const struct test_def session_output_tests[];
extern const struct test_def client_tests[];
extern const struct test_def mqtttest_tests[];
extern const struct test_def fidelity_tests[];

extern const struct suite_def all_suites[];

#endif
