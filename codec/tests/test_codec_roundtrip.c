/*
 * Round trips: every packet type, at the remaining lengths where the
 * length encoding changes size (0, 127, 128, 16383, 16384, 2,097,151,
 * 2,097,152) and at the maximum, 268,435,455, wherever the type can
 * reach them. Each packet is encoded, checked for its size, decoded
 * strictly, compared, encoded again to the same bytes, and gathered
 * through mqtt_encode_iov() to the same bytes once more.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "codec_testutil.h"
#include "testing/suites.h"

static const uint32_t edge_lengths[] = {
	0, 127, 128, 16383, 16384, 2097151, 2097152, MQTT_REMAINING_LENGTH_MAX,
};
#define EDGES (sizeof edge_lengths / sizeof *edge_lengths)

static size_t header_size(uint32_t rl)
{
	return 1 + (rl < 128 ? 1 : rl < 16384 ? 2 : rl < 2097152 ? 3 : 4);
}

/* A buffer of n filler bytes, shared by the tests of one size. */
static uint8_t *filler(size_t n, uint8_t byte)
{
	uint8_t *b = malloc(n ? n : 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	memset(b, byte, n);
	return b;
}

static void check_roundtrip(const struct mqtt_packet *p, uint32_t rl)
{
	size_t size = header_size(rl) + rl;
	CU_ASSERT_EQUAL_FATAL(mqtt_encoded_size(p), size);

	uint8_t *buf = malloc(size), *again = malloc(size), *gathered = malloc(size);
	CU_ASSERT_FATAL(buf && again && gathered);
	size_t n = 0;
	CU_ASSERT_EQUAL(mqtt_encode(buf, size - 1, p, MQTT_STRICT, &n), MQTT_ERR_BUFFER_SIZE);
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf, size, p, MQTT_STRICT, &n), MQTT_OK);
	CU_ASSERT_EQUAL_FATAL(n, size);

	struct mqtt_packet d;
	size_t at = 99;
	CU_ASSERT_EQUAL_FATAL(mqtt_decode(&d, buf, size, MQTT_STRICT, &at), MQTT_OK);
	CU_ASSERT_EQUAL(at, 0);
	CU_ASSERT_EQUAL(d.violations, 0);
	CU_ASSERT_EQUAL(d.remaining_length, rl);
	const char *why = NULL;
	CU_ASSERT(packet_equal(p, &d, false, &why));
	if (why)
		fprintf(stderr, "\n  %s: field %s differs\n", mqtt_type_name(p->type), why);

	CU_ASSERT_EQUAL_FATAL(mqtt_encode(again, size, &d, MQTT_STRICT, &n), MQTT_OK);
	CU_ASSERT_EQUAL(n, size);
	CU_ASSERT(memcmp(buf, again, size) == 0);

	struct iovec iov[MQTT_IOV_MAX];
	int iovcnt = 0;
	size_t total = 0;
	uint8_t *scratch = p->type == MQTT_PUBLISH ? malloc(MQTT_PUBLISH_SCRATCH) : malloc(size);
	size_t scratch_cap = p->type == MQTT_PUBLISH ? MQTT_PUBLISH_SCRATCH : size;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode_iov(iov, &iovcnt, scratch, scratch_cap, p, MQTT_STRICT, &total),
	                      MQTT_OK);
	CU_ASSERT_EQUAL(total, size);
	size_t off = 0;
	for (int i = 0; i < iovcnt && off <= size; i++) {
		CU_ASSERT(iov[i].iov_len > 0);
		if (off + iov[i].iov_len > size)
			break;
		memcpy(gathered + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	CU_ASSERT_EQUAL(off, size);
	CU_ASSERT(memcmp(buf, gathered, size) == 0);
	if (p->type == MQTT_PUBLISH && p->publish.payload.len) /* the payload is not copied */
		CU_ASSERT_PTR_EQUAL(iov[iovcnt - 1].iov_base, p->publish.payload.data);

	free(scratch);
	free(buf);
	free(again);
	free(gathered);
}

static void test_publish_edges(void)
{
	static const char topic[] = "sensors/room-1/temperature";
	size_t tlen = sizeof topic - 1;
	for (size_t e = 0; e < EDGES; e++) {
		for (uint8_t qos = 0; qos <= 2; qos++) {
			uint32_t rl = edge_lengths[e];
			size_t fixed = 2 + tlen + (qos ? 2 : 0);
			if (rl < fixed)
				continue;
			/* The maximum costs 768 MiB a round; once (QoS 1) proves it. */
			if (rl == MQTT_REMAINING_LENGTH_MAX && qos != 1)
				continue;
			uint8_t *payload = filler(rl - fixed, 0xa5);
			struct mqtt_packet p = {.type = MQTT_PUBLISH};
			p.publish.qos = qos;
			p.publish.dup = qos == 2;
			p.publish.retain = qos == 1;
			p.publish.topic = mqtt_slice_str(topic);
			p.publish.packet_id = qos ? (uint16_t)(0xfff0 + qos) : 0;
			p.publish.payload = slice_n(payload, rl - fixed);
			check_roundtrip(&p, rl);
			free(payload);
		}
	}
}

static void test_publish_smallest(void)
{
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	p.publish.topic = mqtt_slice_str("t");
	check_roundtrip(&p, 3); /* one-byte topic, no payload */
	p.publish.qos = 1;
	p.publish.packet_id = 1;
	check_roundtrip(&p, 5);
	uint8_t big_topic[MQTT_STRING_MAX];
	memset(big_topic, 'x', sizeof big_topic);
	p.publish.topic = slice_n(big_topic, sizeof big_topic);
	check_roundtrip(&p, 2 + MQTT_STRING_MAX + 2);
}

/* A SUBSCRIBE or UNSUBSCRIBE with remaining length rl, its filters all
 * slices of one buffer of 'a'. */
static void check_topic_list(enum mqtt_type type, uint32_t rl)
{
	const size_t entry_extra = 2 + (type == MQTT_SUBSCRIBE ? 1 : 0);
	const size_t chunk = 60000;
	size_t left = rl - 2;
	size_t count = left / (entry_extra + chunk / 2) + 1;
	struct mqtt_topic *topics = calloc(count, sizeof *topics);
	uint8_t *text = filler(chunk, 'a');
	CU_ASSERT_PTR_NOT_NULL_FATAL(topics);
	size_t n = 0;
	while (left) {
		size_t len;
		if (left <= entry_extra + chunk)
			len = left - entry_extra; /* the last entry */
		else if (left - (entry_extra + chunk) < entry_extra + 1)
			len = chunk - (entry_extra + 1); /* leave the last a byte of filter */
		else
			len = chunk;
		topics[n].filter = slice_n(text, len);
		topics[n].qos = type == MQTT_SUBSCRIBE ? (uint8_t)(n % 3) : 0;
		left -= entry_extra + len;
		n++;
	}
	struct mqtt_packet p = {.type = type};
	p.subscribe.packet_id = 0x1234;
	p.subscribe.topics = topics;
	p.subscribe.count = n;
	check_roundtrip(&p, rl);
	free(topics);
	free(text);
}

static void test_subscribe_edges(void)
{
	for (size_t e = 0; e < EDGES; e++)
		if (edge_lengths[e] >= 6)
			check_topic_list(MQTT_SUBSCRIBE, edge_lengths[e]);
	struct mqtt_topic wild[] = {
		{mqtt_slice_str("a/+/#"), 0}, {mqtt_slice_str("#"), 1}, {mqtt_slice_str("+"), 2},
	};
	struct mqtt_packet p = {.type = MQTT_SUBSCRIBE};
	p.subscribe.packet_id = 1;
	p.subscribe.topics = wild;
	p.subscribe.count = 3;
	check_roundtrip(&p, 2 + 8 + 4 + 4);
}

static void test_unsubscribe_edges(void)
{
	for (size_t e = 0; e < EDGES; e++)
		if (edge_lengths[e] >= 5)
			check_topic_list(MQTT_UNSUBSCRIBE, edge_lengths[e]);
}

static void test_suback_edges(void)
{
	static const uint8_t codes[] = {0, 1, 2, MQTT_SUBACK_FAILURE};
	for (size_t e = 0; e < EDGES; e++) {
		uint32_t rl = edge_lengths[e];
		if (rl < 3)
			continue;
		uint8_t *c = filler(rl - 2, 0);
		for (size_t i = 0; i < rl - 2; i++)
			c[i] = codes[i % 4];
		struct mqtt_packet p = {.type = MQTT_SUBACK};
		p.suback.packet_id = 7;
		p.suback.return_codes = slice_n(c, rl - 2);
		check_roundtrip(&p, rl);
		free(c);
	}
}

static void test_connect_variants(void)
{
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	struct mqtt_connect *c = &p.connect;
	c->protocol_name = mqtt_slice_str("MQTT");
	c->protocol_level = 4;
	c->clean_session = true;
	c->keep_alive = 60;
	c->client_id = mqtt_slice_str("");
	check_roundtrip(&p, 12); /* the smallest: empty client id */

	c->client_id = mqtt_slice_str("sensor-1");
	c->keep_alive = 65535;
	c->clean_session = false;
	check_roundtrip(&p, 20);

	c->has_username = true;
	c->username = mqtt_slice_str("user");
	check_roundtrip(&p, 26);
	c->has_password = true;
	c->password = slice_n("\0\1\2", 3); /* binary data */
	check_roundtrip(&p, 31);

	c->will = true;
	c->will_qos = 2;
	c->will_retain = true;
	c->will_topic = mqtt_slice_str("status/sensor-1");
	c->will_message = mqtt_slice_str("offline");
	check_roundtrip(&p, 31 + 17 + 9);
	c->keep_alive = 0;
	check_roundtrip(&p, 31 + 17 + 9);
}

static void test_connect_edges(void)
{
	/* Base: name, level, flags, keep alive (10), client id "c" (3), will
	 * topic "w" (3) and message (2), user name "u" (3), password (2). */
	const uint32_t base = 10 + 3 + 3 + 2 + 3 + 2;
	uint8_t *bytes = filler(MQTT_STRING_MAX, 0x5a);
	for (size_t e = 0; e < EDGES; e++) {
		uint32_t rl = edge_lengths[e];
		if (rl < base || rl - base > 2 * MQTT_STRING_MAX)
			continue;
		struct mqtt_packet p = {.type = MQTT_CONNECT};
		struct mqtt_connect *c = &p.connect;
		c->protocol_name = mqtt_slice_str("MQTT");
		c->protocol_level = 4;
		c->client_id = mqtt_slice_str("c");
		c->will = c->has_username = c->has_password = true;
		c->will_qos = 1;
		c->will_topic = mqtt_slice_str("w");
		c->username = mqtt_slice_str("u");
		size_t extra = rl - base;
		size_t m = extra > MQTT_STRING_MAX ? MQTT_STRING_MAX : extra;
		c->will_message = slice_n(bytes, m);
		c->password = slice_n(bytes, extra - m);
		check_roundtrip(&p, rl);
	}
	free(bytes);
}

static void test_fixed_size_types(void)
{
	static const enum mqtt_type acks[] = {
		MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP, MQTT_UNSUBACK,
	};
	for (size_t i = 0; i < sizeof acks / sizeof *acks; i++) {
		for (uint32_t id = 1; id <= 0x10000; id += 0x7fff) {
			struct mqtt_packet p = {.type = acks[i]};
			p.ack.packet_id = (uint16_t)(id > 0xffff ? 0xffff : id);
			check_roundtrip(&p, 2);
		}
	}
	static const enum mqtt_type empty[] = {MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT};
	for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
		struct mqtt_packet p = {.type = empty[i]};
		check_roundtrip(&p, 0);
	}
	for (uint8_t rc = 0; rc <= 5; rc++) {
		struct mqtt_packet p = {.type = MQTT_CONNACK};
		p.connack.return_code = rc;
		p.connack.flags = rc == 0 ? MQTT_CONNACK_SESSION_PRESENT : 0;
		check_roundtrip(&p, 2);
	}
}

/* Bytes written by hand, as the standard's figures show them, decode to
 * the expected fields and re-encode to the same bytes. */
static void test_known_bytes(void)
{
	static const uint8_t connect[] = {
		0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c,
		0x00, 0x04, 'd', 'e', 'm', 'o',
	};
	static const uint8_t publish[] = {
		0x3b, 0x0a, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0a, 'h', 'i', '!',
	};
	static const uint8_t subscribe[] = {
		0x82, 0x0c, 0x00, 0x02, 0x00, 0x03, 'a', '/', 'b', 0x01, 0x00, 0x01, '#', 0x02,
	};
	struct mqtt_packet d;
	uint8_t out[64];
	size_t n;

	CU_ASSERT_EQUAL_FATAL(mqtt_decode(&d, connect, sizeof connect, 0, NULL), MQTT_OK);
	CU_ASSERT_EQUAL(d.type, MQTT_CONNECT);
	CU_ASSERT(d.connect.clean_session);
	CU_ASSERT_EQUAL(d.connect.keep_alive, 60);
	CU_ASSERT_EQUAL(d.connect.client_id.len, 4);
	CU_ASSERT(memcmp(d.connect.client_id.data, "demo", 4) == 0);
	CU_ASSERT_PTR_EQUAL(d.connect.client_id.data, connect + 14); /* zero copy */
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &d, 0, &n), MQTT_OK);
	CU_ASSERT(n == sizeof connect && memcmp(out, connect, n) == 0);

	CU_ASSERT_EQUAL_FATAL(mqtt_decode(&d, publish, sizeof publish, 0, NULL), MQTT_OK);
	CU_ASSERT(d.publish.dup && d.publish.retain);
	CU_ASSERT_EQUAL(d.publish.qos, 1);
	CU_ASSERT_EQUAL(d.publish.packet_id, 10);
	CU_ASSERT_PTR_EQUAL(d.publish.payload.data, publish + 9);
	CU_ASSERT_EQUAL(d.publish.payload.len, 3);
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &d, 0, &n), MQTT_OK);
	CU_ASSERT(n == sizeof publish && memcmp(out, publish, n) == 0);

	CU_ASSERT_EQUAL_FATAL(mqtt_decode(&d, subscribe, sizeof subscribe, 0, NULL), MQTT_OK);
	CU_ASSERT_EQUAL(d.subscribe.count, 2);
	size_t cursor = 0;
	struct mqtt_topic t;
	CU_ASSERT_FATAL(mqtt_topic_next(&d, &cursor, &t));
	CU_ASSERT(t.filter.len == 3 && memcmp(t.filter.data, "a/b", 3) == 0 && t.qos == 1);
	CU_ASSERT_FATAL(mqtt_topic_next(&d, &cursor, &t));
	CU_ASSERT(t.filter.len == 1 && t.filter.data[0] == '#' && t.qos == 2);
	CU_ASSERT_FALSE(mqtt_topic_next(&d, &cursor, &t));
}

/* What the encoder refuses: it never writes a packet a peer must reject. */
static void test_encoder_refuses(void)
{
	uint8_t out[256];
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	p.publish.topic = mqtt_slice_str("a/+");
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &p, 0, NULL), MQTT_ERR_TOPIC_WILDCARD);
	p.publish.topic = mqtt_slice_str("");
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &p, 0, NULL), MQTT_ERR_TOPIC_EMPTY);
	p.publish.topic = mqtt_slice_str("t");
	p.publish.qos = 1;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &p, 0, NULL), MQTT_ERR_PACKET_ID);
	p.publish.qos = 3;
	p.publish.packet_id = 1;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &p, 0, NULL), MQTT_ERR_QOS);
	p.publish.qos = 4;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &p, MQTT_LENIENT, NULL), MQTT_ERR_ARGUMENT);
	p.publish.qos = 0;
	p.publish.dup = true;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &p, 0, NULL), MQTT_ERR_DUP_QOS0);
	p.publish.dup = false;
	p.publish.payload.len = 5; /* with no data */
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &p, 0, NULL), MQTT_ERR_ARGUMENT);
	CU_ASSERT_EQUAL(mqtt_encoded_size(&p), 0);

	uint8_t *big = filler(MQTT_STRING_MAX + 1, 'x');
	p.publish.payload.len = 0;
	p.publish.topic = slice_n(big, MQTT_STRING_MAX + 1);
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &p, 0, NULL), MQTT_ERR_STRING_LENGTH);
	CU_ASSERT_EQUAL(mqtt_encoded_size(&p), 0);
	free(big);

	p.publish.topic = mqtt_slice_str("t");
	p.publish.payload = slice_n(out, (size_t)MQTT_REMAINING_LENGTH_MAX); /* 3 bytes too many */
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &p, 0, NULL), MQTT_ERR_PACKET_SIZE);
	CU_ASSERT_EQUAL(mqtt_encoded_size(&p), 0);

	struct mqtt_packet s = {.type = MQTT_SUBSCRIBE};
	s.subscribe.packet_id = 1;
	struct mqtt_topic topics[2] = {{mqtt_slice_str("a/#"), 2}, {mqtt_slice_str("b+"), 0}};
	s.subscribe.topics = topics;
	s.subscribe.count = 0;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &s, 0, NULL), MQTT_ERR_NO_TOPICS);
	s.subscribe.count = 2;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &s, 0, NULL), MQTT_ERR_FILTER_SYNTAX);
	topics[1].filter = mqtt_slice_str("b/+");
	topics[1].qos = 3;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &s, 0, NULL), MQTT_ERR_SUBSCRIBE_OPTIONS);

	struct mqtt_packet c = {.type = MQTT_CONNECT};
	c.connect.protocol_name = mqtt_slice_str("MQTT");
	c.connect.protocol_level = 4;
	c.connect.has_password = true;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &c, 0, NULL), MQTT_ERR_PASSWORD_FLAG);
	c.connect.has_password = false;
	c.connect.will_retain = true;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &c, 0, NULL), MQTT_ERR_WILL_FLAGS);
	c.connect.will_retain = false;
	c.connect.client_id = slice_n("a\0", 2);
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &c, 0, NULL), MQTT_ERR_UTF8_NUL);

	struct mqtt_packet a = {.type = MQTT_PUBACK};
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &a, 0, NULL), MQTT_ERR_PACKET_ID);
	struct mqtt_packet k = {.type = MQTT_CONNACK};
	k.connack.return_code = 6;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &k, 0, NULL), MQTT_ERR_CONNACK_CODE);
	k.connack.return_code = 5;
	k.connack.flags = 1;
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &k, 0, NULL), MQTT_ERR_CONNACK_FLAGS);
	struct mqtt_packet bad = {.type = (enum mqtt_type)15};
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, &bad, 0, NULL), MQTT_ERR_ARGUMENT);
	CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, NULL, 0, NULL), MQTT_ERR_ARGUMENT);
}

const struct test_def codec_roundtrip_tests[] = {
	{"PUBLISH at every edge length and QoS", test_publish_edges},
	{"PUBLISH smallest and longest topic", test_publish_smallest},
	{"SUBSCRIBE at every edge length", test_subscribe_edges},
	{"UNSUBSCRIBE at every edge length", test_unsubscribe_edges},
	{"SUBACK at every edge length", test_suback_edges},
	{"CONNECT flag combinations", test_connect_variants},
	{"CONNECT at the edge lengths it reaches", test_connect_edges},
	{"fixed-size types", test_fixed_size_types},
	{"hand-written bytes", test_known_bytes},
	{"the encoder refuses invalid packets", test_encoder_refuses},
	{NULL, NULL},
};
