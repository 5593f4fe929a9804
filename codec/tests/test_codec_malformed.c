/*
 * Malformed packets: each check of the decoder, with the error and the
 * byte offset it must report, and what lenient mode makes of it
 * (recorded as a violation, or still an error when the packet cannot
 * be read).
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "testing/suites.h"

struct bad_case {
	const char *what;
	const uint8_t *bytes;
	size_t len;
	enum mqtt_err err;
	size_t at;
	int lenient_fatal; /* still an error in lenient mode */
};

#define B(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

static const struct bad_case cases[] = {
	/* Fixed header (§2.2) */
	{"fifth remaining-length byte", B(0x30, 0xff, 0xff, 0xff, 0xff, 0x7f), MQTT_ERR_REMAINING_LENGTH, 4, 1},
	{"reserved type 0", B(0x00, 0x00), MQTT_ERR_PACKET_TYPE, 0, 1},
	{"reserved type 15", B(0xf0, 0x00), MQTT_ERR_PACKET_TYPE, 0, 1},
	{"one byte", B(0xc0), MQTT_ERR_TRUNCATED, 1, 1},
	{"length cut short", B(0x30, 0x80), MQTT_ERR_TRUNCATED, 2, 1},
	{"body shorter than length", B(0x30, 0x05, 0x00, 0x01, 'a'), MQTT_ERR_TRUNCATED, 5, 1},
	{"bytes beyond length", B(0xc0, 0x00, 0x00), MQTT_ERR_TRAILING, 2, 1},
	{"PINGREQ with a body", B(0xc0, 0x01, 0x00), MQTT_ERR_TRAILING, 2, 1},
	{"PUBACK body too long", B(0x40, 0x03, 0x00, 0x01, 0x00), MQTT_ERR_TRAILING, 4, 1},
	{"PUBACK body too short", B(0x40, 0x01, 0x00), MQTT_ERR_TRUNCATED, 3, 1},
	/* Reserved flags [MQTT-2.2.2-1] */
	{"CONNECT flags", B(0x11, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 0), MQTT_ERR_HEADER_FLAGS, 0, 0},
	{"PUBACK flags", B(0x41, 0x02, 0x00, 0x01), MQTT_ERR_HEADER_FLAGS, 0, 0},
	{"PUBREL flags 0 [MQTT-3.6.1-1]", B(0x60, 0x02, 0x00, 0x01), MQTT_ERR_HEADER_FLAGS, 0, 0},
	{"SUBSCRIBE flags 0 [MQTT-3.8.1-1]", B(0x80, 0x06, 0, 1, 0, 1, '#', 0), MQTT_ERR_HEADER_FLAGS, 0, 0},
	{"UNSUBSCRIBE flags 0 [MQTT-3.10.1-1]", B(0xa0, 0x05, 0, 1, 0, 1, '#'), MQTT_ERR_HEADER_FLAGS, 0, 0},
	{"DISCONNECT flags [MQTT-3.14.1-1]", B(0xe1, 0x00), MQTT_ERR_HEADER_FLAGS, 0, 0},
	{"PINGRESP flags", B(0xd8, 0x00), MQTT_ERR_HEADER_FLAGS, 0, 0},
	/* PUBLISH (§3.3) */
	{"QoS 3 [MQTT-3.3.1-4]", B(0x36, 0x05, 0, 1, 'a', 0, 1), MQTT_ERR_QOS, 0, 0},
	{"DUP on QoS 0 [MQTT-3.3.1-2]", B(0x38, 0x03, 0, 1, 'a'), MQTT_ERR_DUP_QOS0, 0, 0},
	{"packet id 0 [MQTT-2.3.1-1]", B(0x32, 0x05, 0, 1, 'a', 0, 0), MQTT_ERR_PACKET_ID, 5, 0},
	{"packet id missing", B(0x32, 0x04, 0, 1, 'a', 0), MQTT_ERR_TRUNCATED, 6, 1},
	{"topic longer than packet", B(0x30, 0x03, 0, 5, 'a'), MQTT_ERR_TRUNCATED, 5, 1},
	{"empty topic [MQTT-4.7.3-1]", B(0x30, 0x02, 0, 0), MQTT_ERR_TOPIC_EMPTY, 4, 0},
	{"'+' in topic [MQTT-3.3.2-2]", B(0x30, 0x05, 0, 3, 'a', '/', '+'), MQTT_ERR_TOPIC_WILDCARD, 6, 0},
	{"'#' in topic [MQTT-3.3.2-2]", B(0x30, 0x03, 0, 1, '#'), MQTT_ERR_TOPIC_WILDCARD, 4, 0},
	{"ill-formed UTF-8 topic [MQTT-1.5.3-1]", B(0x30, 0x04, 0, 2, 0xc3, 0x28), MQTT_ERR_UTF8, 4, 0},
	{"surrogate in topic [MQTT-1.5.3-1]", B(0x30, 0x06, 0, 4, 'a', 0xed, 0xa0, 0x80), MQTT_ERR_UTF8, 5, 0},
	{"overlong NUL in topic", B(0x30, 0x04, 0, 2, 0xc0, 0x80), MQTT_ERR_UTF8, 4, 0},
	{"U+0000 in topic [MQTT-1.5.3-2]", B(0x30, 0x04, 0, 2, 'a', 0), MQTT_ERR_UTF8_NUL, 5, 0},
	/* Acknowledgements */
	{"PUBACK id 0", B(0x40, 0x02, 0, 0), MQTT_ERR_PACKET_ID, 2, 0},
	{"PUBREC id 0", B(0x50, 0x02, 0, 0), MQTT_ERR_PACKET_ID, 2, 0},
	{"PUBREL id 0", B(0x62, 0x02, 0, 0), MQTT_ERR_PACKET_ID, 2, 0},
	{"PUBCOMP id 0", B(0x70, 0x02, 0, 0), MQTT_ERR_PACKET_ID, 2, 0},
	{"UNSUBACK id 0", B(0xb0, 0x02, 0, 0), MQTT_ERR_PACKET_ID, 2, 0},
	/* SUBSCRIBE (§3.8) */
	{"SUBSCRIBE id 0", B(0x82, 0x06, 0, 0, 0, 1, '#', 0), MQTT_ERR_PACKET_ID, 2, 0},
	{"SUBSCRIBE without filters [MQTT-3.8.3-3]", B(0x82, 0x02, 0, 1), MQTT_ERR_NO_TOPICS, 4, 0},
	{"requested QoS 3 [MQTT-3.8.3-4]", B(0x82, 0x06, 0, 1, 0, 1, '#', 3), MQTT_ERR_SUBSCRIBE_OPTIONS, 7, 0},
	{"reserved bits in requested QoS [MQTT-3.8.3-4]", B(0x82, 0x06, 0, 1, 0, 1, '#', 0x04), MQTT_ERR_SUBSCRIBE_OPTIONS, 7, 0},
	{"requested QoS missing", B(0x82, 0x05, 0, 1, 0, 1, '#'), MQTT_ERR_TRUNCATED, 7, 1},
	{"'#' not last [MQTT-4.7.1-2]", B(0x82, 0x08, 0, 1, 0, 3, '#', '/', 'a', 0), MQTT_ERR_FILTER_SYNTAX, 6, 0},
	{"'+' not a whole level [MQTT-4.7.1-3]", B(0x82, 0x07, 0, 1, 0, 2, 'a', '+', 0), MQTT_ERR_FILTER_SYNTAX, 7, 0},
	{"empty filter [MQTT-4.7.3-1]", B(0x82, 0x05, 0, 1, 0, 0, 0), MQTT_ERR_TOPIC_EMPTY, 6, 0},
	{"U+0000 in filter", B(0x82, 0x07, 0, 1, 0, 2, 'a', 0, 1), MQTT_ERR_UTF8_NUL, 7, 0},
	{"second filter bad UTF-8 [MQTT-3.8.3-1]", B(0x82, 0x0a, 0, 1, 0, 1, 'a', 1, 0, 1, 0xff, 1), MQTT_ERR_UTF8, 10, 0},
	/* UNSUBSCRIBE (§3.10) */
	{"UNSUBSCRIBE id 0", B(0xa2, 0x05, 0, 0, 0, 1, '#'), MQTT_ERR_PACKET_ID, 2, 0},
	{"UNSUBSCRIBE without filters [MQTT-3.10.3-2]", B(0xa2, 0x02, 0, 1), MQTT_ERR_NO_TOPICS, 4, 0},
	{"UNSUBSCRIBE bad filter", B(0xa2, 0x06, 0, 1, 0, 2, '#', '#'), MQTT_ERR_FILTER_SYNTAX, 6, 0},
	{"UNSUBSCRIBE filter cut short", B(0xa2, 0x05, 0, 1, 0, 2, 'a'), MQTT_ERR_TRUNCATED, 7, 1},
	/* SUBACK (§3.9) */
	{"SUBACK id 0", B(0x90, 0x03, 0, 0, 0), MQTT_ERR_PACKET_ID, 2, 0},
	{"SUBACK code 3 [MQTT-3.9.3-2]", B(0x90, 0x04, 0, 1, 0, 3), MQTT_ERR_SUBACK_CODE, 5, 0},
	{"SUBACK code 0x81 [MQTT-3.9.3-2]", B(0x90, 0x03, 0, 1, 0x81), MQTT_ERR_SUBACK_CODE, 4, 0},
	{"SUBACK without codes", B(0x90, 0x02, 0, 1), MQTT_ERR_NO_TOPICS, 4, 0},
	/* CONNACK (§3.2) */
	{"CONNACK reserved flags", B(0x20, 0x02, 0x02, 0x00), MQTT_ERR_CONNACK_FLAGS, 2, 0},
	{"CONNACK session present on refusal [MQTT-3.2.2-4]", B(0x20, 0x02, 0x01, 0x05), MQTT_ERR_CONNACK_FLAGS, 2, 0},
	{"CONNACK code 6", B(0x20, 0x02, 0x00, 0x06), MQTT_ERR_CONNACK_CODE, 3, 0},
	{"CONNACK too long", B(0x20, 0x03, 0x00, 0x00, 0x00), MQTT_ERR_TRAILING, 4, 1},
	{"CONNACK too short", B(0x20, 0x01, 0x00), MQTT_ERR_TRUNCATED, 3, 1},
	/* CONNECT (§3.1) */
	{"protocol name MQTX [MQTT-3.1.2-1]", B(0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'X', 4, 2, 0, 0, 0, 0), MQTT_ERR_PROTOCOL_NAME, 2, 0},
	{"protocol level 5 [MQTT-3.1.2-2]", B(0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 0, 0, 0), MQTT_ERR_PROTOCOL_LEVEL, 8, 0},
	{"protocol level 3 with MQTT", B(0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 3, 2, 0, 0, 0, 0), MQTT_ERR_PROTOCOL_LEVEL, 8, 0},
	{"MQIsdp is 3.1, not 3.1.1", B(0x10, 0x0e, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 0, 0, 0), MQTT_ERR_PROTOCOL_NAME, 2, -1},
	{"reserved connect flag [MQTT-3.1.2-3]", B(0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 3, 0, 0, 0, 0), MQTT_ERR_CONNECT_RESERVED, 9, 0},
	{"will QoS without will [MQTT-3.1.2-13]", B(0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x0a, 0, 0, 0, 0), MQTT_ERR_WILL_FLAGS, 9, 0},
	{"will retain without will [MQTT-3.1.2-15]", B(0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x22, 0, 0, 0, 0), MQTT_ERR_WILL_FLAGS, 9, 0},
	{"will QoS 3 [MQTT-3.1.2-14]", B(0x10, 0x12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x1e, 0, 0, 0, 0, 0, 1, 'w', 0, 1, 'm'), MQTT_ERR_WILL_FLAGS, 9, 0},
	{"password without user name [MQTT-3.1.2-22]", B(0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x42, 0, 0, 0, 0, 0, 1, 'p'), MQTT_ERR_PASSWORD_FLAG, 9, 0},
	{"client id bad UTF-8 [MQTT-3.1.3-4]", B(0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 1, 0xfe), MQTT_ERR_UTF8, 14, 0},
	{"client id U+0000", B(0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 1, 0), MQTT_ERR_UTF8_NUL, 14, 0},
	{"will topic with wildcard", B(0x10, 0x12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x06, 0, 0, 0, 0, 0, 1, '#', 0, 1, 'm'), MQTT_ERR_TOPIC_WILDCARD, 16, 0},
	{"user name bad UTF-8 [MQTT-3.1.3-11]", B(0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x82, 0, 0, 0, 0, 0, 1, 0x80), MQTT_ERR_UTF8, 16, 0},
	{"will message missing [MQTT-3.1.2-9]", B(0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x06, 0, 0, 0, 0, 0, 1, 'w'), MQTT_ERR_TRUNCATED, 17, 1},
	{"user name missing [MQTT-3.1.2-19]", B(0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x82, 0, 0, 0, 0), MQTT_ERR_TRUNCATED, 14, 1},
	{"password missing [MQTT-3.1.2-21]", B(0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xc2, 0, 0, 0, 0, 0, 1, 'u'), MQTT_ERR_TRUNCATED, 17, 1},
	{"password present without its flag [MQTT-3.1.2-20]", B(0x10, 0x12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x82, 0, 0, 0, 0, 0, 1, 'u', 0, 1, 'p'), MQTT_ERR_TRAILING, 17, 1},
	{"client id missing [MQTT-3.1.3-3]", B(0x10, 0x0a, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0), MQTT_ERR_TRUNCATED, 12, 1},
	{"keep alive cut", B(0x10, 0x08, 0, 4, 'M', 'Q', 'T', 'T', 4, 2), MQTT_ERR_TRUNCATED, 10, 1},
};

static void test_strict(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct bad_case *c = &cases[i];
		struct mqtt_packet p;
		size_t at = 999;
		enum mqtt_err err = mqtt_decode(&p, c->bytes, c->len, MQTT_STRICT, &at);
		if (err != c->err || at != c->at)
			fprintf(stderr, "\n  %s: got %d (%s) at %zu, want %d at %zu\n", c->what, err,
			        mqtt_strerror(err), at, c->err, c->at);
		CU_ASSERT_EQUAL(err, c->err);
		CU_ASSERT_EQUAL(at, c->at);
	}
}

static void test_lenient(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct bad_case *c = &cases[i];
		struct mqtt_packet p;
		size_t at = 999;
		enum mqtt_err err = mqtt_decode(&p, c->bytes, c->len, MQTT_LENIENT, &at);
		if (c->lenient_fatal > 0) {
			CU_ASSERT_EQUAL(err, c->err);
			CU_ASSERT_EQUAL(at, c->at);
		} else if (c->lenient_fatal == 0) {
			if (err != MQTT_OK || p.violations != MQTT_VIOLATION(c->err))
				fprintf(stderr, "\n  lenient %s: got %s, violations %#llx\n", c->what,
				        mqtt_strerror(err), (unsigned long long)p.violations);
			CU_ASSERT_EQUAL(err, MQTT_OK);
			CU_ASSERT_EQUAL(p.violations, MQTT_VIOLATION(c->err));
			CU_ASSERT_EQUAL(at, c->at); /* where the violation was seen */
		} else { /* accepted without remark: MQTT 3.1 */
			CU_ASSERT_EQUAL(err, MQTT_OK);
			CU_ASSERT_EQUAL(p.violations, 0);
		}
	}
}

/* A server answers an unknown protocol level with CONNACK 0x01
 * [MQTT-3.1.2-2]: the decoder keeps what it needs for that. */
static void test_protocol_level_kept(void)
{
	static const uint8_t v5[] = {0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 0, 0, 0, 0};
	struct mqtt_packet p;
	CU_ASSERT_EQUAL(mqtt_decode(&p, v5, sizeof v5, 0, NULL), MQTT_ERR_PROTOCOL_LEVEL);
	CU_ASSERT_EQUAL(p.type, MQTT_CONNECT);
	CU_ASSERT_EQUAL(p.connect.protocol_level, 5);
	CU_ASSERT_EQUAL(p.connect.protocol_name.len, 4);
	CU_ASSERT_EQUAL(p.connect.client_id.len, 0); /* nothing past the level */
}

/* A failed decode leaves nothing that looks like a packet. */
static void test_failure_clears_output(void)
{
	static const uint8_t bad[] = {0x32, 0x05, 0, 1, 'a', 0, 0};
	struct mqtt_packet p;
	memset(&p, 0x5a, sizeof p);
	CU_ASSERT_EQUAL(mqtt_decode(&p, bad, sizeof bad, 0, NULL), MQTT_ERR_PACKET_ID);
	CU_ASSERT_EQUAL(p.type, 0);
	CU_ASSERT_PTR_NULL(p.publish.topic.data);
	CU_ASSERT_EQUAL(mqtt_decode(&p, NULL, 3, 0, NULL), MQTT_ERR_ARGUMENT);
	CU_ASSERT_EQUAL(mqtt_decode(NULL, bad, sizeof bad, 0, NULL), MQTT_ERR_ARGUMENT);
	CU_ASSERT_EQUAL(mqtt_decode(&p, bad, 0, 0, NULL), MQTT_ERR_TRUNCATED);
}

/* Every truncation of a valid packet is reported, never read past. */
static void test_every_truncation(void)
{
	static const uint8_t full[] = {
		0x10, 0x20, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xee, 0, 10, 0, 1, 'c', 0, 1, 'w', 0, 2,
		'm', 'm', 0, 2, 'u', 'u', 0, 6, 's', 'e', 'c', 'r', 'e', 't',
	};
	struct mqtt_packet p;
	CU_ASSERT_EQUAL_FATAL(mqtt_decode(&p, full, sizeof full, 0, NULL), MQTT_OK);
	uint8_t cut[sizeof full];
	for (size_t len = 0; len < sizeof full; len++) {
		memcpy(cut, full, len);
		/* As the framer would hand it: the length agrees with the bytes. */
		if (len >= 2)
			cut[1] = (uint8_t)(len - 2);
		enum mqtt_err err = mqtt_decode(&p, cut, len, 0, NULL);
		CU_ASSERT_EQUAL(err, MQTT_ERR_TRUNCATED);
	}
}

const struct test_def codec_malformed_tests[] = {
	{"strict mode rejects each case at its byte", test_strict},
	{"lenient mode records or rejects each case", test_lenient},
	{"unknown protocol level keeps name and level", test_protocol_level_kept},
	{"failure clears the output", test_failure_clears_output},
	{"every truncation of a CONNECT", test_every_truncation},
	{NULL, NULL},
};
