#include "suites.h"

#include <stddef.h>

extern const struct test_def pcap_writer_tests[];

const struct suite_def all_suites[] = {
	{"pcap_writer", pcap_writer_tests},
	{NULL, NULL},
};
