/*
 * Field validation: UTF-8 well-formedness, topic names and filters.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "testing/suites.h"

static enum mqtt_err utf8(const char *s, size_t len, size_t *at)
{
	return mqtt_check_utf8((const uint8_t *)s, len, at);
}

static void test_utf8_well_formed(void)
{
	static const char *good[] = {
		"", "plain ascii", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\xef\xbb\xbf" /* BOM stays a character [MQTT-1.5.3-3] */,
		"\xed\x9f\xbf" /* U+D7FF, just below the surrogates */,
		"\xee\x80\x80" /* U+E000, just above */, "\xf4\x8f\xbf\xbf" /* U+10FFFF */,
		"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xf0\x90\x80\x80",
		"0123456789abcdefghij\xc3\xa9klmnopqrstuvwxyz" /* past the 8-byte fast path */,
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		CU_ASSERT_EQUAL(utf8(good[i], strlen(good[i]), NULL), MQTT_OK);
}

static void test_utf8_ill_formed(void)
{
	static const struct {
		const char *s;
		size_t at;
	} bad[] = {
		{"\x80", 0},                 /* lone continuation */
		{"ab\xc3\x28", 2},           /* bad continuation */
		{"\xc0\x80", 0},             /* overlong NUL */
		{"\xc1\xbf", 0},             /* overlong */
		{"\xe0\x9f\xbf", 0},         /* overlong 3-byte */
		{"\xed\xa0\x80", 0},         /* U+D800 surrogate [MQTT-1.5.3-1] */
		{"\xed\xbf\xbf", 0},         /* U+DFFF */
		{"\xf0\x8f\xbf\xbf", 0},     /* overlong 4-byte */
		{"\xf4\x90\x80\x80", 0},     /* above U+10FFFF */
		{"\xf5\x80\x80\x80", 0},
		{"\xff", 0},
		{"abcdefgh\xe2\x82", 8},     /* cut short at the end */
		{"abcdefghijklmnop\xfe", 16},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		size_t at = 99;
		CU_ASSERT_EQUAL(utf8(bad[i].s, strlen(bad[i].s), &at), MQTT_ERR_UTF8);
		CU_ASSERT_EQUAL(at, bad[i].at);
	}
}

static void test_utf8_nul(void)
{
	size_t at = 99;
	CU_ASSERT_EQUAL(utf8("abc\0def", 7, &at), MQTT_ERR_UTF8_NUL); /* MQTT-1.5.3-2 */
	CU_ASSERT_EQUAL(at, 3);
	CU_ASSERT_EQUAL(utf8("abcdefghijk\0", 12, &at), MQTT_ERR_UTF8_NUL);
	CU_ASSERT_EQUAL(at, 11);
}

static enum mqtt_err name(const char *s, size_t *at)
{
	return mqtt_check_topic_name((const uint8_t *)s, strlen(s), at);
}

static enum mqtt_err filter(const char *s, size_t *at)
{
	return mqtt_check_topic_filter((const uint8_t *)s, strlen(s), at);
}

static void test_topic_names(void)
{
	size_t at = 99;
	CU_ASSERT_EQUAL(name("a/b/c", NULL), MQTT_OK);
	CU_ASSERT_EQUAL(name("/", NULL), MQTT_OK);
	CU_ASSERT_EQUAL(name("$SYS/x", NULL), MQTT_OK);
	CU_ASSERT_EQUAL(name("sport/tennis/player1 ", NULL), MQTT_OK);
	CU_ASSERT_EQUAL(name("", &at), MQTT_ERR_TOPIC_EMPTY); /* MQTT-4.7.3-1 */
	CU_ASSERT_EQUAL(name("a/+", &at), MQTT_ERR_TOPIC_WILDCARD); /* MQTT-3.3.2-2 */
	CU_ASSERT_EQUAL(at, 2);
	CU_ASSERT_EQUAL(name("abcdefghijkl#", &at), MQTT_ERR_TOPIC_WILDCARD);
	CU_ASSERT_EQUAL(at, 12);
	CU_ASSERT_EQUAL(name("#", &at), MQTT_ERR_TOPIC_WILDCARD);
	CU_ASSERT_EQUAL(name("caf\xc3", &at), MQTT_ERR_UTF8);
	CU_ASSERT_EQUAL(at, 3);
}

static void test_topic_filters(void)
{
	static const char *good[] = {
		"#", "+", "a/#", "a/+", "+/+", "/+", "+/", "a/+/b", "sport/tennis/#",
		"/#", "+/#", "a//b", "$SYS/#", "a/b",
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		CU_ASSERT_EQUAL(filter(good[i], NULL), MQTT_OK);
	static const struct {
		const char *s;
		size_t at;
	} bad[] = {
		{"a#", 1},      /* MQTT-4.7.1-2: '#' on its own level */
		{"a/#/b", 2},   /* MQTT-4.7.1-2: '#' last */
		{"#/", 0},
		{"##", 0},
		{"a+", 1},      /* MQTT-4.7.1-3 */
		{"+a", 0},
		{"a/b+/c", 3},
		{"++", 0},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		size_t at = 99;
		CU_ASSERT_EQUAL(filter(bad[i].s, &at), MQTT_ERR_FILTER_SYNTAX);
		CU_ASSERT_EQUAL(at, bad[i].at);
	}
	CU_ASSERT_EQUAL(filter("", NULL), MQTT_ERR_TOPIC_EMPTY);
	CU_ASSERT_EQUAL(mqtt_check_topic_filter((const uint8_t *)"a\0b", 3, NULL), MQTT_ERR_UTF8_NUL);
}

static void test_strerror_and_names(void)
{
	for (int e = 0; e < MQTT_ERR_COUNT; e++) {
		const char *m = mqtt_strerror((enum mqtt_err)e);
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		CU_ASSERT_STRING_NOT_EQUAL(m, "unknown error");
	}
	CU_ASSERT_STRING_EQUAL(mqtt_strerror(MQTT_ERR_COUNT), "unknown error");
	CU_ASSERT_PTR_NOT_NULL(strstr(mqtt_strerror(MQTT_ERR_PACKET_ID), "MQTT-2.3.1-1"));
	CU_ASSERT_STRING_EQUAL(mqtt_type_name(MQTT_PUBLISH), "PUBLISH");
	CU_ASSERT_STRING_EQUAL(mqtt_type_name(MQTT_DISCONNECT), "DISCONNECT");
	CU_ASSERT_STRING_EQUAL(mqtt_type_name(0), "RESERVED0");
	CU_ASSERT_STRING_EQUAL(mqtt_type_name(99), "UNKNOWN");
}

const struct test_def codec_check_tests[] = {
	{"UTF-8 well-formed strings pass", test_utf8_well_formed},
	{"UTF-8 ill-formed strings fail at the right byte", test_utf8_ill_formed},
	{"U+0000 is refused", test_utf8_nul},
	{"topic names", test_topic_names},
	{"topic filters", test_topic_filters},
	{"error sentences and type names", test_strerror_and_names},
	{NULL, NULL},
};
