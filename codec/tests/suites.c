#include "testing/suites.h"

#include <stddef.h>

extern const struct test_def codec_check_tests[];
extern const struct test_def codec_roundtrip_tests[];
extern const struct test_def codec_malformed_tests[];
extern const struct test_def codec_lenient_tests[];
extern const struct test_def codec_framer_tests[];
extern const struct test_def codec_match_tests[];

const struct suite_def all_suites[] = {
	{"codec_check", codec_check_tests},
	{"codec_roundtrip", codec_roundtrip_tests},
	{"codec_malformed", codec_malformed_tests},
	{"codec_lenient", codec_lenient_tests},
	{"codec_framer", codec_framer_tests},
	{"codec_match", codec_match_tests},
	{NULL, NULL},
};
