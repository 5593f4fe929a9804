#include "testing/suites.h"

#include <stddef.h>

extern const struct test_def pcap_writer_tests[];
extern const struct test_def reader_tests[];
extern const struct test_def replay_tests[];

const struct suite_def all_suites[] = {
	{"pcap_writer", pcap_writer_tests},
	{"capture_reader", reader_tests},
	{"replay", replay_tests},
	{NULL, NULL},
};
