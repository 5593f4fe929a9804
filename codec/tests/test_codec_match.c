/*
 * Topic matching, with the examples of §4.7 of the standard and the
 * corner cases between them.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "testing/suites.h"

static bool match(const char *filter, const char *name)
{
	/* The function assumes valid input: make sure the table is. */
	CU_ASSERT_EQUAL(mqtt_check_topic_filter((const uint8_t *)filter, strlen(filter), NULL), MQTT_OK);
	CU_ASSERT_EQUAL(mqtt_check_topic_name((const uint8_t *)name, strlen(name), NULL), MQTT_OK);
	return mqtt_topic_match((const uint8_t *)filter, strlen(filter), (const uint8_t *)name, strlen(name));
}

static const struct {
	const char *filter, *name;
	bool want;
} cases[] = {
	/* §4.7.1.2: '#' */
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/#", "sport", true},
	{"#", "sport/tennis", true},
	{"#", "/", true},
	{"sport/tennis/#", "sport/tennis", true},
	{"sport/tennis/#", "sport/tennisplayer1", false},
	/* §4.7.1.3: '+' */
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player2", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+", "/finance", false},
	{"+/tennis/#", "sport/tennis/player1", true},
	{"sport/+/player1", "sport/tennis/player1", true},
	{"+", "a", true},
	{"+", "", false}, /* not a valid name anyway: skipped below */
	/* §4.7.2: '$' topics */
	{"#", "$SYS/broker/clients", false},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"$SYS/#", "$SYS/monitor/Clients", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"a/$x", "a/$x", true},
	{"a/+", "a/$x", true}, /* '$' only counts first */
	/* Levels compared exactly, case-sensitive */
	{"ACCOUNTS", "Accounts", false},
	{"a/b", "a/b", true},
	{"a/b", "a/bc", false},
	{"a/bc", "a/b", false},
	{"a/b", "a/b/", false},
	{"a/b/", "a/b/", true},
	{"a//b", "a//b", true},
	{"a/+/b", "a//b", true},
	{"/", "/", true},
	{"+/+", "/", true},
	{"+", "/", false},
	{"/#", "/", true},
	{"/#", "a/", false},
	{"a/#", "a/", true},
	{"+/#", "a", true},
	{"+/+/#", "a", false},
	{"a/b/#", "a", false},
	{"caf\xc3\xa9/+", "caf\xc3\xa9/cr\xc3\xa8me", true},
};

static void test_standard_examples(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		if (!*cases[i].name)
			continue;
		bool got = match(cases[i].filter, cases[i].name);
		if (got != cases[i].want)
			fprintf(stderr, "\n  %s vs %s: got %d\n", cases[i].filter, cases[i].name, got);
		CU_ASSERT_EQUAL(got, cases[i].want);
	}
}

/* A filter without wildcards matches exactly its own name. */
static void test_literal_filters(void)
{
	static const char *names[] = {"a", "a/b", "/a", "a/", "a//b", "$SYS/x", "x/y/z"};
	for (size_t i = 0; i < 7; i++)
		for (size_t j = 0; j < 7; j++)
			CU_ASSERT_EQUAL(match(names[i], names[j]), i == j);
}

/* The reference: split both into levels and compare level by level. */
static size_t split(const char *s, size_t len, size_t starts[], size_t lens[])
{
	size_t n = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			starts[n] = start;
			lens[n++] = i - start;
			start = i + 1;
		}
	}
	return n;
}

static bool reference(const char *f, size_t flen, const char *n, size_t nlen)
{
	if (nlen && n[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return false;
	size_t fs[8], fl[8], ns[8], nl[8];
	size_t fc = split(f, flen, fs, fl), nc = split(n, nlen, ns, nl);
	for (size_t k = 0; k < fc; k++) {
		if (fl[k] == 1 && f[fs[k]] == '#')
			return true; /* matches this level and all below, or none */
		if (k >= nc)
			return false;
		if (fl[k] == 1 && f[fs[k]] == '+')
			continue;
		if (fl[k] != nl[k] || memcmp(f + fs[k], n + ns[k], fl[k]))
			return false;
	}
	return fc == nc;
}

/* Every filter and name of up to 5 characters over a, b, /, +, #, $. */
static void test_against_reference(void)
{
	static const char alphabet[] = "ab/+#$";
	char f[6], n[6];
	size_t compared = 0;
	for (size_t flen = 1; flen <= 5; flen++) {
		size_t ftotal = 1;
		for (size_t k = 0; k < flen; k++)
			ftotal *= 6;
		for (size_t fi = 0; fi < ftotal; fi++) {
			for (size_t k = 0, v = fi; k < flen; k++, v /= 6)
				f[k] = alphabet[v % 6];
			if (mqtt_check_topic_filter((const uint8_t *)f, flen, NULL))
				continue;
			for (size_t nlen = 1; nlen <= 4; nlen++) {
				size_t ntotal = 1;
				for (size_t k = 0; k < nlen; k++)
					ntotal *= 6;
				for (size_t ni = 0; ni < ntotal; ni++) {
					for (size_t k = 0, v = ni; k < nlen; k++, v /= 6)
						n[k] = alphabet[v % 6];
					if (mqtt_check_topic_name((const uint8_t *)n, nlen, NULL))
						continue;
					bool want = reference(f, flen, n, nlen);
					bool got = mqtt_topic_match((const uint8_t *)f, flen, (const uint8_t *)n, nlen);
					if (got != want) {
						fprintf(stderr, "\n  %.*s vs %.*s: got %d\n", (int)flen, f, (int)nlen, n, got);
						CU_FAIL("differs from the reference");
						return;
					}
					compared++;
				}
			}
		}
	}
	CU_ASSERT(compared > 100000);
}

const struct test_def codec_match_tests[] = {
	{"agrees with a level-by-level reference", test_against_reference},
	{"examples of section 4.7 and corners", test_standard_examples},
	{"literal filters match only themselves", test_literal_filters},
	{NULL, NULL},
};
