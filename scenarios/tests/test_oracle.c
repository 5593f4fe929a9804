/*
 * test_oracle.c - the oracle's judgements fed event by event, without a
 * simulator: here, the reconnect policy (expect backoff).
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "scenarios/lang/scenario.h"
#include "scenarios/oracle/oracle.h"
#include "testing/suites.h"

static const char backoff_scn[] = "# the policy alone\nclient pub\nexpect backoff\n";

/* The verdict on pub's dials: each owed at ended, made at dialled (0: the
 * run ends at end with it still owed). */
static bool backoff_holds(const uint64_t (*waits)[4], int n, uint64_t end, char *why, size_t cap)
{
	struct scenario s;
	char err[600];
	CU_ASSERT_FATAL(scenario_parse(&s, "backoff.scn", backoff_scn, err, sizeof err) == 0);
	struct oracle *o = oracle_new(&s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	oracle_backoff_policy(o, 0, 200, 5000);
	for (int i = 0; i < n; i++) {
		/* waits[i]: accepted (1) or not (0), when it ended, when it
		 * dialled, and whether its process restarted before that */
		oracle_redial_owed(o, 0, waits[i][0] != 0, waits[i][1]);
		if (waits[i][3])
			oracle_backoff_policy(o, 0, 200, 5000); /* a new process dials at once */
		if (waits[i][2])
			oracle_dialled(o, 0, waits[i][2]);
	}
	if (end)
		oracle_undialled(o, 0, end);
	struct scn_result r;
	memset(&r, 0, sizeof r);
	oracle_judge(o, &s, true, &r);
	snprintf(why, cap, "%s", r.first[SCN_BACKOFF]);
	bool held = !r.violated[SCN_BACKOFF];
	oracle_free(o);
	scenario_free(&s);
	return held;
}

static void test_backoff_wait_by_wait(void)
{
	char why[256];
	/* Within the shortest wait after accepted connections, within the cap
	 * after failed ones: both bounds themselves included. */
	static const uint64_t good[][4] = {{1, 1000, 1200}, {0, 2000, 7000}, {0, 8000, 8001}, {1, 9000, 9150}};
	CU_ASSERT(backoff_holds(good, 4, 0, why, sizeof why));
	/* A wait past the shortest after an accepted connection: the backoff
	 * was not started again. */
	static const uint64_t no_reset[][4] = {{1, 1000, 1201}};
	CU_ASSERT(!backoff_holds(no_reset, 1, 0, why, sizeof why));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "pub dialled again 201 ms after its connection ended at t=1000ms"));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "200 ms at most after an accepted connection"));
	/* A wait past the cap after a failed attempt. */
	static const uint64_t no_cap[][4] = {{0, 1000, 6001}};
	CU_ASSERT(!backoff_holds(no_cap, 1, 0, why, sizeof why));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "5000 ms at most after a failed one"));
	/* A run that ends while a dial is owed: judged by how long it is owed. */
	static const uint64_t waiting[][4] = {{0, 1000, 0}};
	CU_ASSERT(backoff_holds(waiting, 1, 6000, why, sizeof why));
	CU_ASSERT(!backoff_holds(waiting, 1, 6001, why, sizeof why));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "pub had not dialled again 5001 ms"));
	/* A dial made settles what was owed: the end of the run owes nothing. */
	static const uint64_t settled[][4] = {{1, 1000, 1100}};
	CU_ASSERT(backoff_holds(settled, 1, 90000, why, sizeof why));
}

/* A new process dials at once: what the dead one owed is not judged. */
static void test_backoff_new_process(void)
{
	char why[256];
	static const uint64_t restarted[][4] = {{1, 1000, 4000, 1}};
	CU_ASSERT(backoff_holds(restarted, 1, 9000, why, sizeof why));
}

const struct test_def oracle_tests[] = {
	{"backoff: each wait held to the shortest after a success, the cap after a failure", test_backoff_wait_by_wait},
	{"backoff: a new process owes no dial of the old one", test_backoff_new_process},
	{NULL, NULL},
};
