/*
 * test_explore.c - the generator and the signatures of mqttsim explore:
 * every seed's scenario is one the language takes, the same seed gives
 * the same text, and failures that differ only in sizes, names and
 * topics share a signature while different ones do not.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "scenarios/explore/explore.h"
#include "scenarios/explore/gen.h"
#include "scenarios/lang/scenario.h"
#include "testing/suites.h"

#define GOLDEN_FNV 0xf4efd082bf1a50a0u

static void test_every_seed_parses(void)
{
	char text[EXPLORE_TEXT_MAX], again[EXPLORE_TEXT_MAX], err[600];
	unsigned bad = 0;
	for (uint64_t seed = 0; seed < 20000; seed++) {
		size_t n = explore_generate(seed, text, sizeof text);
		CU_ASSERT_FATAL(n > 0);
		CU_ASSERT_EQUAL(explore_generate(seed, again, sizeof again), n);
		CU_ASSERT(!memcmp(text, again, n));
		struct scenario s;
		if (scenario_parse(&s, "gen", text, err, sizeof err) != 0) {
			if (!bad++)
				fprintf(stderr, "\nseed %llu: %s\n", (unsigned long long)seed, err);
			continue;
		}
		CU_ASSERT(s.nclients >= 1 && s.nclients <= 4);
		CU_ASSERT(s.nexpects >= 10);
		scenario_free(&s);
	}
	CU_ASSERT_EQUAL(bad, 0);
	/* The largest seeds too: no arithmetic depends on the seed's size. */
	CU_ASSERT(explore_generate(UINT64_MAX, text, sizeof text) > 0);
	/* Too small a buffer says so. */
	CU_ASSERT_EQUAL(explore_generate(1, text, 16), 0);
}

/*
 * The same bytes on every build: a digest of what these seeds generate,
 * checked under gcc (make test, make san) and clang (make tsan). It
 * changes only with the generator (EXPLORE_GENERATOR, and the golden
 * digest of pytests/test_explore.py): argument evaluation order once
 * made gcc and clang builds generate different scenarios.
 */
static void test_same_bytes_every_build(void)
{
	static const uint64_t seeds[] = {1, 2, 3, 42, 1000, UINT64_MAX};
	char text[EXPLORE_TEXT_MAX];
	uint64_t h = 14695981039346656037u;
	for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
		size_t n = explore_generate(seeds[i], text, sizeof text);
		CU_ASSERT_FATAL(n > 0);
		for (size_t k = 0; k < n; k++)
			h = (h ^ (uint8_t)text[k]) * 1099511628211u;
	}
	CU_ASSERT_EQUAL(EXPLORE_GENERATOR, 6);
	if (h != GOLDEN_FNV)
		fprintf(stderr, "\ngenerated digest %016llx\n", (unsigned long long)h);
	CU_ASSERT_EQUAL(h, GOLDEN_FNV);
}

static void test_signatures(void)
{
	char a[512], b[512], c[512];
	explore_signature("# one\nclient c1 clean=no window=4\nclient c2\nsubscribe c2 t/# qos=1\n"
	                  "publish c1 t/a qos=1 count=12\nfault c1 b2c after=PUBACK#3 drop\n"
	                  "expect at-least-once\n", a, sizeof a);
	explore_signature("# two\nclient c3 clean=no window=16\nclient c1\nsubscribe c1 +/+ qos=1\n"
	                  "publish c3 u/c qos=1 count=40\nfault c3 b2c after=PUBACK#17 drop\n"
	                  "expect at-least-once\n", b, sizeof b);
	CU_ASSERT_STRING_EQUAL(a, b);
	CU_ASSERT(!strncmp(a, "at-least-once; ", 15)); /* the broken guarantee first */
	/* Another action, another QoS, another guarantee: another signature. */
	explore_signature("# three\nclient c1 clean=no window=4\nclient c2\nsubscribe c2 t/# qos=1\n"
	                  "publish c1 t/a qos=1 count=12\nfault c1 b2c after=PUBACK#3 reset\n"
	                  "expect at-least-once\n", c, sizeof c);
	CU_ASSERT_STRING_NOT_EQUAL(a, c);
	explore_signature("# four\nclient c1 clean=no window=4\nclient c2\nsubscribe c2 t/# qos=2\n"
	                  "publish c1 t/a qos=2 count=12\nfault c1 b2c after=PUBACK#3 drop\n"
	                  "expect at-least-once\n", c, sizeof c);
	CU_ASSERT_STRING_NOT_EQUAL(a, c);
	CU_ASSERT_NOT_EQUAL(explore_signature_hash(a), explore_signature_hash(c));
	CU_ASSERT_EQUAL(explore_failed_invariant("line 9: exactly-once violated: x"), SCN_EXACTLY_ONCE);
	CU_ASSERT_EQUAL(explore_failed_invariant("the run crashed"), 0);
}

const struct test_def explore_tests[] = {
	{"every seed generates a scenario the language takes, the same each time", test_every_seed_parses},
	{"signatures: the same failure shape, the same signature", test_signatures},
	{"the same seed, the same bytes on every build", test_same_bytes_every_build},
	{NULL, NULL},
};
