/*
 * The packet-trigger syntax shared by broker scripts and fault plans.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "mqttsim/trigger.h"
#include "testing/suites.h"

static void parse_and_format(void)
{
	const struct {
		const char *text, *formatted;
		unsigned dirs;
		uint8_t type;
		uint32_t first, count;
	} ok[] = {
		{"b2c:PUBACK", "b2c:PUBACK", MQTT_B2C, MQTT_PUBACK, 1, 0},
		{"c2b:pubrec#2", "c2b:PUBREC#2", MQTT_C2B, MQTT_PUBREC, 2, 1},
		{"PUBLISH#3+", "PUBLISH#3+", 0, MQTT_PUBLISH, 3, 0},
		{"any", "ANY", 0, 0, 1, 0},
		{"B2C:Connack#1", "b2c:CONNACK#1", MQTT_B2C, MQTT_CONNACK, 1, 1},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct mqtt_trigger t;
		CU_ASSERT_EQUAL_FATAL(mqtt_trigger_parse(&t, ok[i].text, strlen(ok[i].text), NULL, NULL), 0);
		CU_ASSERT_EQUAL(t.dirs, ok[i].dirs);
		CU_ASSERT_EQUAL(t.type, ok[i].type);
		CU_ASSERT_EQUAL(t.first, ok[i].first);
		CU_ASSERT_EQUAL(t.count, ok[i].count);
		char buf[64];
		CU_ASSERT_EQUAL((size_t)mqtt_trigger_format(&t, buf, sizeof buf), strlen(ok[i].formatted));
		CU_ASSERT_STRING_EQUAL(buf, ok[i].formatted);
	}
}

static void errors_name_the_place(void)
{
	const struct {
		const char *text;
		size_t at;
		const char *why_part;
	} bad[] = {
		{"x2y:PUBACK", 0, "c2b: or b2c:"},
		{"b2c:PUBAK", 4, "packet type"},
		{"", 0, "packet type"},
		{"PUBACK#", 7, "ordinal"},
		{"PUBACK#0", 7, "ordinal"},
		{"PUBACK#2x", 8, "unexpected"},
		{"PUBACK#99999999999", 7, "too large"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct mqtt_trigger t;
		size_t at = 999;
		const char *why = NULL;
		CU_ASSERT_EQUAL(mqtt_trigger_parse(&t, bad[i].text, strlen(bad[i].text), &at, &why), -1);
		CU_ASSERT_EQUAL(at, bad[i].at);
		CU_ASSERT_PTR_NOT_NULL_FATAL(why);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, bad[i].why_part));
	}
}

static void selection(void)
{
	struct mqtt_trigger t;
	CU_ASSERT_EQUAL_FATAL(mqtt_trigger_parse(&t, "c2b:PUBREC#2", 12, NULL, NULL), 0);
	CU_ASSERT_FALSE(mqtt_trigger_hit(&t, MQTT_B2C, MQTT_PUBREC)); /* other direction */
	CU_ASSERT_FALSE(mqtt_trigger_hit(&t, MQTT_C2B, MQTT_PUBACK)); /* other type */
	CU_ASSERT_FALSE(mqtt_trigger_hit(&t, MQTT_C2B, MQTT_PUBREC)); /* the first */
	CU_ASSERT_FALSE(mqtt_trigger_spent(&t));
	CU_ASSERT_TRUE(mqtt_trigger_hit(&t, MQTT_C2B, MQTT_PUBREC));  /* the second */
	CU_ASSERT_TRUE(mqtt_trigger_spent(&t));
	CU_ASSERT_FALSE(mqtt_trigger_hit(&t, MQTT_C2B, MQTT_PUBREC));
	CU_ASSERT_EQUAL_FATAL(mqtt_trigger_parse(&t, "ANY#2+", 6, NULL, NULL), 0);
	CU_ASSERT_FALSE(mqtt_trigger_hit(&t, MQTT_B2C, MQTT_CONNACK));
	for (int i = 0; i < 5; i++)
		CU_ASSERT_TRUE(mqtt_trigger_hit(&t, i % 2 ? MQTT_B2C : MQTT_C2B, MQTT_PUBLISH));
	CU_ASSERT_FALSE(mqtt_trigger_spent(&t));
}

static void possible_directions(void)
{
	CU_ASSERT_FALSE(mqtt_trigger_possible(MQTT_B2C, MQTT_CONNECT));
	CU_ASSERT_FALSE(mqtt_trigger_possible(MQTT_C2B, MQTT_SUBACK));
	CU_ASSERT_TRUE(mqtt_trigger_possible(MQTT_C2B, MQTT_CONNECT));
	CU_ASSERT_TRUE(mqtt_trigger_possible(MQTT_B2C, MQTT_PUBLISH));
	CU_ASSERT_TRUE(mqtt_trigger_possible(MQTT_C2B | MQTT_B2C, MQTT_CONNACK));
	CU_ASSERT_TRUE(mqtt_trigger_possible(MQTT_B2C, 0));
}

const struct test_def trigger_tests[] = {
	{"possible directions", possible_directions},
	{"parse and format", parse_and_format},
	{"errors name the place", errors_name_the_place},
	{"selection", selection},
	{NULL, NULL},
};
