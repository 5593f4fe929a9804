/*
 * test_sim.c - the simulator's run loop: how a run ends.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/sim/sim.h"
#include "testing/suites.h"

/* A run with nothing left to happen (no keep-alive, no timer, no byte on
 * its way) ends where it stands, and its verdict says so: it used to run
 * to the end of time, and a quiescent verdict quoted 2^64 ms (explore
 * seed 7165). */
static void test_idle_for_ever_ends_the_run(void)
{
	static const char text[] =
		"# a broker that never releases the 4th QoS 2 message, and nothing else to come\n"
		"client pub keepalive=0\nclient sub keepalive=0\nsubscribe sub t/# qos=2\n"
		"publish pub t/a qos=2 count=10\nrule withhold PUBREL#4 client=sub\n"
		"expect violation quiescent\n";
	struct scenario s;
	char err[600];
	CU_ASSERT_EQUAL_FATAL(scenario_parse(&s, "idle.scn", text, err, sizeof err), 0);
	char *trace = NULL;
	size_t tlen = 0;
	FILE *t = open_memstream(&trace, &tlen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	struct scn_result r;
	CU_ASSERT_EQUAL(scenario_simulate(&s, 1, &r, t, NULL), 0);
	fclose(t);
	CU_ASSERT(r.passed); /* the violation expected was found */
	CU_ASSERT(r.virtual_ms < s.quiet_within_ms); /* not even the quiet bound: nothing could change */
	CU_ASSERT_PTR_NOT_NULL(strstr(trace, "nothing is left to happen"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.first[SCN_QUIESCENT], "nothing was left to happen at t="));
	free(trace);
	scenario_free(&s);
}

/* Instants where nothing happens are skipped, so a run that is still
 * busy at its limit ends at the limit, not at the first event past it
 * (a message every 300 ms: the first event past the limit comes up to 300 ms later). */
static void test_a_busy_run_ends_at_its_limit(void)
{
	static const char text[] =
		"# a workload longer than the run's limit\n"
		"client pub\nclient sub\nsubscribe sub t/# qos=1\n"
		"publish pub t/a qos=1 count=100 every=300ms\nlimit 2s\nexpect at-most-once\n";
	struct scenario s;
	char err[600];
	CU_ASSERT_EQUAL_FATAL(scenario_parse(&s, "busy.scn", text, err, sizeof err), 0);
	for (uint64_t seed = 1; seed <= 5; seed++) {
		struct scn_result r;
		CU_ASSERT_EQUAL(scenario_simulate(&s, seed, &r, NULL, NULL), 0);
		CU_ASSERT_EQUAL(r.virtual_ms, s.limit_ms + 1);
	}
	scenario_free(&s);
}

const struct test_def sim_tests[] = {
	{"a run with nothing left to happen ends there", test_idle_for_ever_ends_the_run},
	{"a busy run ends at its limit", test_a_busy_run_ends_at_its_limit},
	{NULL, NULL},
};
