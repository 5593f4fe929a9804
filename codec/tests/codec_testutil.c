#include "codec_testutil.h"

#include <string.h>

struct mqtt_slice slice_n(const void *s, size_t len)
{
	struct mqtt_slice v = {(const uint8_t *)s, len};
	return v;
}

static bool slice_eq(struct mqtt_slice a, struct mqtt_slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

#define DIFF(cond, field)              \
	do {                           \
		if (!(cond)) {         \
			if (why)       \
				*why = field; \
			return false;  \
		}                      \
	} while (0)

static bool connect_equal(const struct mqtt_connect *a, const struct mqtt_connect *b,
                          const char **why)
{
	DIFF(slice_eq(a->protocol_name, b->protocol_name), "protocol_name");
	DIFF(a->protocol_level == b->protocol_level, "protocol_level");
	DIFF(a->clean_session == b->clean_session, "clean_session");
	DIFF(a->will == b->will, "will");
	DIFF(a->will_qos == b->will_qos, "will_qos");
	DIFF(a->will_retain == b->will_retain, "will_retain");
	DIFF(a->has_username == b->has_username, "has_username");
	DIFF(a->has_password == b->has_password, "has_password");
	DIFF(a->reserved_flag == b->reserved_flag, "reserved_flag");
	DIFF(a->keep_alive == b->keep_alive, "keep_alive");
	DIFF(slice_eq(a->client_id, b->client_id), "client_id");
	if (a->will) {
		DIFF(slice_eq(a->will_topic, b->will_topic), "will_topic");
		DIFF(slice_eq(a->will_message, b->will_message), "will_message");
	}
	if (a->has_username)
		DIFF(slice_eq(a->username, b->username), "username");
	if (a->has_password)
		DIFF(slice_eq(a->password, b->password), "password");
	return true;
}

static bool topics_equal(const struct mqtt_packet *a, const struct mqtt_packet *b,
                         const char **why)
{
	DIFF(a->subscribe.packet_id == b->subscribe.packet_id, "packet_id");
	size_t ca = 0, cb = 0, n = 0;
	struct mqtt_topic ta, tb;
	for (;;) {
		bool more_a = mqtt_topic_next(a, &ca, &ta);
		bool more_b = mqtt_topic_next(b, &cb, &tb);
		DIFF(more_a == more_b, "topic count");
		if (!more_a)
			break;
		n++;
		DIFF(slice_eq(ta.filter, tb.filter), "topic filter");
		DIFF(ta.qos == tb.qos, "topic qos");
	}
	DIFF(n == a->subscribe.count && n == b->subscribe.count, "count");
	return true;
}

bool packet_equal(const struct mqtt_packet *a, const struct mqtt_packet *b, bool wire,
                  const char **why)
{
	DIFF(a->type == b->type, "type");
	if (wire) {
		DIFF(a->flags == b->flags, "flags");
		DIFF(a->remaining_length == b->remaining_length, "remaining_length");
		DIFF(a->violations == b->violations, "violations");
	}
	switch (a->type) {
	case MQTT_CONNECT:
		return connect_equal(&a->connect, &b->connect, why);
	case MQTT_CONNACK:
		DIFF(a->connack.flags == b->connack.flags, "connack flags");
		DIFF(a->connack.return_code == b->connack.return_code, "return_code");
		return true;
	case MQTT_PUBLISH:
		DIFF(a->publish.dup == b->publish.dup, "dup");
		DIFF(a->publish.qos == b->publish.qos, "qos");
		DIFF(a->publish.retain == b->publish.retain, "retain");
		DIFF(slice_eq(a->publish.topic, b->publish.topic), "topic");
		DIFF(a->publish.qos == 0 || a->publish.packet_id == b->publish.packet_id, "packet_id");
		DIFF(slice_eq(a->publish.payload, b->publish.payload), "payload");
		return true;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		DIFF(a->ack.packet_id == b->ack.packet_id, "packet_id");
		return true;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return topics_equal(a, b, why);
	case MQTT_SUBACK:
		DIFF(a->suback.packet_id == b->suback.packet_id, "packet_id");
		DIFF(slice_eq(a->suback.return_codes, b->suback.return_codes), "return_codes");
		return true;
	default:
		return true;
	}
}
