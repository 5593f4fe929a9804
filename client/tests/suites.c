#include "suites.h"

#include <stddef.h>

const struct suite_def all_suites[] = {
	{"codec_check", codec_check_tests},
	{"codec_roundtrip", codec_roundtrip_tests},
	{"codec_malformed", codec_malformed_tests},
	{"codec_lenient", codec_lenient_tests},
	{"codec_framer", codec_framer_tests},
	{"codec_match", codec_match_tests},
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
