/*
 * test_topics.c - the oracle's topic matching: the standard's examples,
 * and agreement with the codec's matcher on every short filter and name.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "scenarios/oracle/topics.h"
#include "testing/suites.h"

static bool match(const char *filter, const char *topic)
{
	return oracle_topic_match(filter, strlen(filter), topic, strlen(topic));
}

/* The examples of §4.7.1 and §4.7.2, and the edges around them. */
static void test_standard_examples(void)
{
	/* '#' [MQTT-4.7.1-2]: the level and all below, the parent too. */
	CU_ASSERT(match("sport/tennis/player1/#", "sport/tennis/player1"));
	CU_ASSERT(match("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
	CU_ASSERT(match("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
	CU_ASSERT(match("sport/#", "sport"));
	CU_ASSERT(match("#", "sport/tennis"));
	CU_ASSERT(match("#", "/"));
	CU_ASSERT_FALSE(match("sport/#", "sports"));
	CU_ASSERT_FALSE(match("sport/tennis/#", "sport"));
	/* '+' [MQTT-4.7.1-3]: exactly one level, an empty one included. */
	CU_ASSERT(match("sport/tennis/+", "sport/tennis/player1"));
	CU_ASSERT(match("sport/tennis/+", "sport/tennis/player2"));
	CU_ASSERT_FALSE(match("sport/tennis/+", "sport/tennis/player1/ranking"));
	CU_ASSERT_FALSE(match("sport/+", "sport"));
	CU_ASSERT(match("sport/+", "sport/"));
	CU_ASSERT(match("+/+", "/finance"));
	CU_ASSERT(match("/+", "/finance"));
	CU_ASSERT_FALSE(match("+", "/finance"));
	CU_ASSERT(match("+", "x"));
	CU_ASSERT(match("t/+/a", "t//a"));
	CU_ASSERT(match("+/+/#", "a/b"));
	CU_ASSERT_FALSE(match("+/+/+", "a/b"));
	/* '$' topics [MQTT-4.7.2-1]: no wildcard first matches them. */
	CU_ASSERT_FALSE(match("#", "$SYS/x"));
	CU_ASSERT_FALSE(match("+/monitor/Clients", "$SYS/monitor/Clients"));
	CU_ASSERT(match("$SYS/#", "$SYS/monitor/Clients"));
	CU_ASSERT(match("$SYS/monitor/+", "$SYS/monitor/Clients"));
	CU_ASSERT(match("a/+", "a/$b"));
	/* Byte for byte, case and all [MQTT-4.7.3-4]. */
	CU_ASSERT_FALSE(match("ACCOUNTS", "Accounts"));
	CU_ASSERT_FALSE(match("t/a", "t/a/"));
	CU_ASSERT_FALSE(match("t/a/", "t/a"));
	CU_ASSERT(match("t/a", "t/a"));
}

/* Every string of length up to max over alphabet, in turn, into s. */
static bool next_string(char *s, size_t *len, size_t max, const char *alphabet)
{
	size_t k = strlen(alphabet);
	for (size_t i = *len; i-- > 0;) {
		const char *at = strchr(alphabet, s[i]);
		if ((size_t)(at - alphabet) + 1 < k) {
			s[i] = at[1];
			for (size_t j = i + 1; j < *len; j++)
				s[j] = alphabet[0];
			return true;
		}
	}
	if (*len == max)
		return false;
	(*len)++;
	memset(s, alphabet[0], *len);
	return true;
}

/* Written apart, the two matchers must still agree on every valid filter
 * and name short enough to enumerate: a difference is a defect in one. */
static void test_agrees_with_codec(void)
{
	char f[8] = "", t[8] = "";
	size_t flen = 0, compared = 0, matched = 0;
	while (next_string(f, &flen, 5, "a/+#$")) {
		size_t at;
		if (mqtt_check_topic_filter((const uint8_t *)f, flen, &at) != MQTT_OK)
			continue;
		size_t tlen = 0;
		while (next_string(t, &tlen, 5, "ab/$")) {
			if (mqtt_check_topic_name((const uint8_t *)t, tlen, &at) != MQTT_OK)
				continue;
			bool ours = oracle_topic_match(f, flen, t, tlen);
			bool codec = mqtt_topic_match((const uint8_t *)f, flen, (const uint8_t *)t, tlen);
			if (ours != codec) {
				CU_FAIL("the oracle and the codec disagree");
				fprintf(stderr, "filter \"%.*s\" topic \"%.*s\": oracle %d, codec %d\n",
				        (int)flen, f, (int)tlen, t, ours, codec);
				return;
			}
			compared++;
			matched += ours;
		}
	}
	/* Both outcomes were seen, many times: the loops ran. */
	CU_ASSERT(compared > 10000);
	CU_ASSERT(matched > 1000 && matched < compared);
}

const struct test_def topics_tests[] = {
	{"the standard's examples", test_standard_examples},
	{"agrees with the codec on every short filter and name", test_agrees_with_codec},
	{NULL, NULL},
};
