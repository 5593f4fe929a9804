/*
 * Lenient mode: MQTT 3.1 sessions as captured in the field, and packets
 * with 3.1.1 violations, decode with the violations recorded and encode
 * back to the same bytes.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "codec_testutil.h"
#include "testing/suites.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	for (; hex[0] && hex[1] && n < cap; hex += 2) {
		unsigned v;
		sscanf(hex, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* decode (lenient) -> encode (lenient) gives back the same bytes, and
 * decoding those gives the same packet. Returns the decoded packet. */
static struct mqtt_packet lenient_roundtrip(const uint8_t *bytes, size_t len, uint64_t violations)
{
	struct mqtt_packet p, again;
	uint8_t out[512];
	size_t n = 0;
	memset(&p, 0, sizeof p);
	CU_ASSERT_EQUAL(mqtt_decode(&p, bytes, len, MQTT_LENIENT, NULL), MQTT_OK);
	CU_ASSERT_EQUAL(p.violations, violations);
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &p, MQTT_LENIENT, &n), MQTT_OK);
	CU_ASSERT(n == len && memcmp(out, bytes, len) == 0);
	CU_ASSERT_EQUAL(mqtt_decode(&again, out, n, MQTT_LENIENT, NULL), MQTT_OK);
	CU_ASSERT(packet_equal(&p, &again, true, NULL));
	return p;
}

/* The CONNECT of a paho client speaking MQTT 3.1, from a public capture
 * (peafowl mqtt-2.pcap, frame 1). */
static void test_mqtt31_connect(void)
{
	uint8_t b[64];
	size_t n = unhex("102500064d51497364700302000500177061686f2f3334414145353441373544383339353636"
	                 "45", b, sizeof b);
	struct mqtt_packet p;
	CU_ASSERT_EQUAL(mqtt_decode(&p, b, n, MQTT_STRICT, NULL), MQTT_ERR_PROTOCOL_NAME);
	p = lenient_roundtrip(b, n, 0);
	CU_ASSERT_EQUAL(p.type, MQTT_CONNECT);
	CU_ASSERT_EQUAL(p.connect.protocol_level, 3);
	CU_ASSERT_EQUAL(p.connect.keep_alive, 5);
	CU_ASSERT(p.connect.clean_session);
	CU_ASSERT_EQUAL(p.connect.client_id.len, 23);
	CU_ASSERT(memcmp(p.connect.client_id.data, "paho/34AAE54A75D839566E", 23) == 0);
}

/* The rest of that session: 3.1 packets that are also valid 3.1.1. */
static void test_mqtt31_session(void)
{
	static const char *frames[] = {
		"20020000",
		"82100001000b53616d706c65546f70696300",
		"9003000100",
		("3130000b53616d706c65546f70696348656c6c6f2066726f6d20746865205061686f20626c6f636b"
		 "696e6720636c69656e74"),
		"c000", "d000", "e000",
	};
	for (size_t i = 0; i < sizeof frames / sizeof *frames; i++) {
		uint8_t b[128];
		size_t n = unhex(frames[i], b, sizeof b);
		struct mqtt_packet p;
		CU_ASSERT_EQUAL(mqtt_decode(&p, b, n, MQTT_STRICT, NULL), MQTT_OK);
		lenient_roundtrip(b, n, 0);
	}
}

/* 3.1 retries set DUP on PUBREL, SUBSCRIBE and UNSUBSCRIBE; 3.1.1 forbids
 * it [MQTT-2.2.2-1]. Lenient mode keeps the header as it was. */
static void test_mqtt31_dup_headers(void)
{
	static const uint8_t pubrel[] = {0x6a, 0x02, 0x00, 0x07};
	static const uint8_t subscribe[] = {0x8a, 0x06, 0x00, 0x02, 0x00, 0x01, 'x', 0x01};
	static const uint8_t unsubscribe[] = {0xaa, 0x05, 0x00, 0x03, 0x00, 0x01, 'x'};
	struct mqtt_packet p = lenient_roundtrip(pubrel, sizeof pubrel, MQTT_VIOLATION(MQTT_ERR_HEADER_FLAGS));
	CU_ASSERT_EQUAL(p.flags, 0x0a);
	CU_ASSERT_EQUAL(p.ack.packet_id, 7);
	lenient_roundtrip(subscribe, sizeof subscribe, MQTT_VIOLATION(MQTT_ERR_HEADER_FLAGS));
	lenient_roundtrip(unsubscribe, sizeof unsubscribe, MQTT_VIOLATION(MQTT_ERR_HEADER_FLAGS));
	/* The strict encoder writes Table 2.2's flags whatever p.flags says. */
	uint8_t out[8];
	size_t n;
	p.flags = 0x0a;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &p, MQTT_STRICT, &n), MQTT_OK);
	CU_ASSERT_EQUAL(out[0], 0x62);
}

/* Several violations in one packet are all recorded. */
static void test_many_violations(void)
{
	/* CONNECT, header flags 1, reserved flag, password without user
	 * name, client id with U+0000. */
	static const uint8_t connect[] = {
		0x11, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x43, 0, 0, 0, 1, 0, 0, 1, 'p',
	};
	uint64_t want = MQTT_VIOLATION(MQTT_ERR_HEADER_FLAGS) | MQTT_VIOLATION(MQTT_ERR_CONNECT_RESERVED) |
	                MQTT_VIOLATION(MQTT_ERR_PASSWORD_FLAG) | MQTT_VIOLATION(MQTT_ERR_UTF8_NUL);
	struct mqtt_packet p = lenient_roundtrip(connect, sizeof connect, want);
	CU_ASSERT(p.connect.has_password && !p.connect.has_username);
	CU_ASSERT_EQUAL(p.connect.password.len, 1);

	/* PUBLISH QoS 3 with DUP, wildcard topic, id 0. */
	static const uint8_t publish[] = {0x3e, 0x06, 0, 2, 'a', '#', 0, 0};
	want = MQTT_VIOLATION(MQTT_ERR_QOS) | MQTT_VIOLATION(MQTT_ERR_TOPIC_WILDCARD) |
	       MQTT_VIOLATION(MQTT_ERR_PACKET_ID);
	p = lenient_roundtrip(publish, sizeof publish, want);
	CU_ASSERT_EQUAL(p.publish.qos, 3);
	size_t at = 99;
	CU_ASSERT_EQUAL(mqtt_decode(&p, publish, sizeof publish, MQTT_LENIENT, &at), MQTT_OK);
	CU_ASSERT_EQUAL(at, 0); /* the first violation: QoS 3, in the header */

	static const uint8_t suback[] = {0x90, 0x05, 0, 0, 0x03, 0x80, 0x7f};
	want = MQTT_VIOLATION(MQTT_ERR_PACKET_ID) | MQTT_VIOLATION(MQTT_ERR_SUBACK_CODE);
	lenient_roundtrip(suback, sizeof suback, want);

	static const uint8_t connack[] = {0x20, 0x02, 0xff, 0x09};
	want = MQTT_VIOLATION(MQTT_ERR_CONNACK_FLAGS) | MQTT_VIOLATION(MQTT_ERR_CONNACK_CODE);
	lenient_roundtrip(connack, sizeof connack, want);
}

/* Lenient mode never forgives what cannot be read. */
static void test_structure_still_checked(void)
{
	static const uint8_t cut[] = {0x30, 0x05, 0x00, 0x09, 'a', 'b', 'c'};
	struct mqtt_packet p;
	CU_ASSERT_EQUAL(mqtt_decode(&p, cut, sizeof cut, MQTT_LENIENT, NULL), MQTT_ERR_TRUNCATED);
	static const uint8_t extra[] = {0x40, 0x03, 0x00, 0x01, 0x00};
	CU_ASSERT_EQUAL(mqtt_decode(&p, extra, sizeof extra, MQTT_LENIENT, NULL), MQTT_ERR_TRAILING);
}

const struct test_def codec_lenient_tests[] = {
	{"MQTT 3.1 CONNECT from a capture", test_mqtt31_connect},
	{"MQTT 3.1 session packets", test_mqtt31_session},
	{"MQTT 3.1 DUP in PUBREL/SUBSCRIBE/UNSUBSCRIBE headers", test_mqtt31_dup_headers},
	{"several violations recorded in one packet", test_many_violations},
	{"structure is still checked", test_structure_still_checked},
	{NULL, NULL},
};
