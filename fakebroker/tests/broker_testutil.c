#include "broker_testutil.h"

#include <CUnit/CUnit.h>
#include <string.h>

void tb_new(struct tbroker *t, const struct mqtt_broker_config *cfg)
{
	t->now = 1000;
	CU_ASSERT_FATAL(mqtt_broker_new(&t->b, cfg) == 0);
}

void tb_free(struct tbroker *t)
{
	mqtt_broker_free(t->b);
	t->b = NULL;
}

void tb_advance(struct tbroker *t, uint64_t ms)
{
	t->now += ms;
	mqtt_broker_tick(t->b, t->now);
}

void tc_open(struct tclient *k, struct tbroker *t)
{
	k->t = t;
	k->rx_len = k->rx_pos = 0;
	k->c = mqtt_broker_open(t->b, t->now);
	CU_ASSERT_FATAL(k->c != NULL);
}

struct mqtt_connect connect_packet(const char *id, bool clean)
{
	struct mqtt_connect c = {0};
	c.protocol_name = (struct mqtt_slice){(const uint8_t *)"MQTT", 4};
	c.protocol_level = 4;
	c.clean_session = clean;
	c.client_id = (struct mqtt_slice){(const uint8_t *)id, strlen(id)};
	return c;
}

int tc_connect_with(struct tclient *k, struct tbroker *t, const struct mqtt_connect *cp)
{
	tc_open(k, t);
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	p.connect = *cp;
	tc_send(k, &p);
	struct mqtt_packet ack;
	if (!tc_take(k, &ack))
		return -1;
	CU_ASSERT_EQUAL(ack.type, MQTT_CONNACK);
	return ack.connack.return_code;
}

void tc_connect(struct tclient *k, struct tbroker *t, const char *id, bool clean,
                bool session_present)
{
	struct mqtt_connect cp = connect_packet(id, clean);
	tc_open(k, t);
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	p.connect = cp;
	tc_send(k, &p);
	struct mqtt_packet ack = tc_expect(k, MQTT_CONNACK);
	CU_ASSERT_EQUAL(ack.connack.return_code, 0);
	CU_ASSERT_EQUAL(ack.connack.flags, session_present ? 1 : 0);
}

void tc_send_bytes(struct tclient *k, const void *bytes, size_t len)
{
	CU_ASSERT_FATAL(k->c != NULL);
	k->consumed = mqtt_broker_receive(k->t->b, k->c, k->t->now, bytes, len);
}

void tc_send(struct tclient *k, const struct mqtt_packet *p)
{
	uint8_t buf[1 << 16];
	size_t n = 0;
	CU_ASSERT_FATAL(mqtt_encode(buf, sizeof buf, p, MQTT_STRICT, &n) == MQTT_OK);
	tc_send_bytes(k, buf, n);
	CU_ASSERT_EQUAL(k->consumed, n);
}

void tc_publish(struct tclient *k, const char *topic, const char *payload, uint8_t qos,
                bool retain, uint16_t id)
{
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	p.publish.qos = qos;
	p.publish.retain = retain;
	p.publish.packet_id = id;
	p.publish.topic = (struct mqtt_slice){(const uint8_t *)topic, strlen(topic)};
	p.publish.payload = (struct mqtt_slice){(const uint8_t *)payload, strlen(payload)};
	tc_send(k, &p);
}

void tc_subscribe(struct tclient *k, const char *filter, uint8_t qos, uint16_t id,
                  uint8_t expect_code)
{
	struct mqtt_topic topic = {.filter = {(const uint8_t *)filter, strlen(filter)}, .qos = qos};
	struct mqtt_packet p = {.type = MQTT_SUBSCRIBE};
	p.subscribe.packet_id = id;
	p.subscribe.count = 1;
	p.subscribe.topics = &topic;
	tc_send(k, &p);
	struct mqtt_packet ack = tc_expect(k, MQTT_SUBACK);
	CU_ASSERT_EQUAL(ack.suback.packet_id, id);
	CU_ASSERT_EQUAL_FATAL(ack.suback.return_codes.len, 1);
	CU_ASSERT_EQUAL(ack.suback.return_codes.data[0], expect_code);
}

void tc_ack(struct tclient *k, enum mqtt_type type, uint16_t id)
{
	struct mqtt_packet p = {.type = type};
	p.ack.packet_id = id;
	tc_send(k, &p);
}

static void pull(struct tclient *k)
{
	if (!k->c)
		return;
	const uint8_t *data;
	size_t n = mqtt_broker_output(k->t->b, k->c, &data);
	if (!n)
		return;
	if (k->rx_pos == k->rx_len)
		k->rx_pos = k->rx_len = 0;
	CU_ASSERT_FATAL(k->rx_len + n <= sizeof k->rx);
	memcpy(k->rx + k->rx_len, data, n);
	k->rx_len += n;
	mqtt_broker_wrote(k->t->b, k->c, n);
}

bool tc_take(struct tclient *k, struct mqtt_packet *p)
{
	pull(k);
	if (k->rx_pos == k->rx_len)
		return false;
	struct mqtt_framer f;
	uint8_t fbuf[16];
	mqtt_framer_init(&f, fbuf, sizeof fbuf);
	/* Whole packets only: the framer hands them out as views. */
	size_t used = 0;
	struct mqtt_frame frame;
	enum mqtt_err err =
		mqtt_framer_feed(&f, k->rx + k->rx_pos, k->rx_len - k->rx_pos, &used, &frame);
	if (err == MQTT_ERR_PACKET_SIZE) {
		mqtt_framer_init(&f, k->packet, sizeof k->packet);
		err = mqtt_framer_feed(&f, k->rx + k->rx_pos, k->rx_len - k->rx_pos, &used, &frame);
	}
	CU_ASSERT_FATAL(err == MQTT_OK && frame.len > 0);
	memmove(k->packet, frame.data, frame.len);
	k->rx_pos += used;
	CU_ASSERT_FATAL(mqtt_decode(p, k->packet, frame.len, MQTT_STRICT, NULL) == MQTT_OK);
	return true;
}

struct mqtt_packet tc_expect(struct tclient *k, enum mqtt_type type)
{
	struct mqtt_packet p = {0};
	bool got = tc_take(k, &p);
	CU_ASSERT_TRUE_FATAL(got);
	if (p.type != type)
		fprintf(stderr, "\nexpected %s, got %s\n", mqtt_type_name(type), mqtt_type_name(p.type));
	CU_ASSERT_EQUAL_FATAL(p.type, type);
	return p;
}

struct mqtt_packet tc_expect_publish(struct tclient *k, const char *topic, const char *payload,
                                     uint8_t qos)
{
	struct mqtt_packet p = tc_expect(k, MQTT_PUBLISH);
	CU_ASSERT_EQUAL(p.publish.qos, qos);
	CU_ASSERT_EQUAL(p.publish.topic.len, strlen(topic));
	CU_ASSERT(memcmp(p.publish.topic.data, topic, p.publish.topic.len) == 0);
	CU_ASSERT_EQUAL(p.publish.payload.len, strlen(payload));
	CU_ASSERT(p.publish.payload.len == 0 ||
	          memcmp(p.publish.payload.data, payload, p.publish.payload.len) == 0);
	return p;
}

bool tc_quiet(struct tclient *k)
{
	pull(k);
	return k->rx_pos == k->rx_len;
}

bool tc_closing(struct tclient *k)
{
	return k->c && mqtt_bconn_wants_close(k->c);
}

void tc_close(struct tclient *k)
{
	if (!k->c)
		return;
	pull(k);
	mqtt_broker_closed(k->t->b, k->c, k->t->now);
	k->c = NULL;
}
