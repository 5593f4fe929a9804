#include "session_testutil.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

struct mqtt_session_config test_config(void)
{
	struct mqtt_session_config c;
	memset(&c, 0, sizeof c);
	c.client_id = mqtt_slice_str("test");
	c.clean_session = true;
	c.at_least_once_max = 8;
	c.exactly_once_max = 8;
	return c;
}

static void collect_warning(void *arg, const char *text)
{
	struct harness *h = arg;
	size_t n = strlen(h->warnings);
	snprintf(h->warnings + n, sizeof h->warnings - n, "%s\n", text);
}

void harness_new(struct harness *h, const struct mqtt_session_config *cfg,
                 enum mqtt_session_mode mode, struct mqtt_store *store)
{
	memset(h, 0, sizeof *h);
	h->now = 1000000;
	struct mqtt_error e = mqtt_session_new(&h->s, cfg, mode, store, collect_warning, h);
	CU_ASSERT_EQUAL_FATAL(e.cls, MQTT_SUCCESS);
}

void harness_free(struct harness *h)
{
	mqtt_session_free(h->s);
	h->s = NULL;
}

bool take(struct harness *h, struct mqtt_packet *p)
{
	const uint8_t *out;
	size_t n = mqtt_session_output(h->s, &out);
	if (n == 0)
		return false;
	struct mqtt_framer f;
	mqtt_framer_init(&f, h->packet, sizeof h->packet);
	size_t used;
	struct mqtt_frame fr;
	CU_ASSERT_EQUAL_FATAL(mqtt_framer_feed(&f, out, n, &used, &fr), MQTT_OK);
	CU_ASSERT_FATAL(fr.len > 0);
	memmove(h->packet, fr.data, fr.len);
	h->packet_len = fr.len;
	mqtt_session_wrote(h->s, h->now, used);
	CU_ASSERT_EQUAL_FATAL(mqtt_decode(p, h->packet, h->packet_len, MQTT_STRICT, NULL), MQTT_OK);
	return true;
}

struct mqtt_packet expect(struct harness *h, enum mqtt_type type)
{
	struct mqtt_packet p;
	memset(&p, 0, sizeof p);
	bool got = take(h, &p);
	if (!got || p.type != type)
		fprintf(stderr, "\n  expected %s, got %s\n", mqtt_type_name(type),
		        got ? mqtt_type_name(p.type) : "nothing");
	CU_ASSERT_FATAL(got);
	CU_ASSERT_EQUAL_FATAL(p.type, type);
	return p;
}

bool quiet(struct harness *h)
{
	const uint8_t *out;
	return mqtt_session_output(h->s, &out) == 0;
}

bool feed_bytes(struct harness *h, const uint8_t *b, size_t n)
{
	size_t used;
	h->last = mqtt_session_receive(h->s, h->now, b, n, &used, &h->msg);
	if (h->last.cls == MQTT_SUCCESS && !h->msg.topic.data && !used && n)
		/* It acknowledged the last message first: the input comes next. */
		h->last = mqtt_session_receive(h->s, h->now, b, n, &used, &h->msg);
	if (h->last.cls == MQTT_SUCCESS && !h->msg.topic.data)
		CU_ASSERT_EQUAL(used, n);
	return h->last.cls == MQTT_SUCCESS && h->msg.topic.data != NULL;
}

bool feed(struct harness *h, const struct mqtt_packet *p)
{
	static uint8_t buf[1 << 16];
	size_t n;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf, sizeof buf, p, MQTT_LENIENT, &n), MQTT_OK);
	return feed_bytes(h, buf, n);
}

void feed_ack(struct harness *h, enum mqtt_type type, uint16_t id)
{
	struct mqtt_packet p = {.type = type};
	p.flags = type == MQTT_PUBREL ? 2 : 0;
	p.ack.packet_id = id;
	feed(h, &p);
}

void feed_connack(struct harness *h, uint8_t code, bool session_present)
{
	struct mqtt_packet p = {.type = MQTT_CONNACK};
	p.connack.return_code = code;
	p.connack.flags = session_present ? 1 : 0;
	feed(h, &p);
}

struct mqtt_packet inbound_publish(uint8_t qos, uint16_t id, const char *topic, const char *payload)
{
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = qos;
	m.publish.packet_id = id;
	m.publish.topic = mqtt_slice_str(topic);
	m.publish.payload = mqtt_slice_str(payload);
	return m;
}

void go_online(struct harness *h)
{
	go_online_with(h, false);
}

void go_online_with(struct harness *h, bool session_present)
{
	CU_ASSERT_FATAL(mqtt_session_should_dial(h->s, h->now));
	mqtt_session_connected(h->s, h->now);
	CU_ASSERT_EQUAL(mqtt_session_state(h->s), MQTT_STATE_CONNECTING);
	expect(h, MQTT_CONNECT);
	feed_connack(h, 0, session_present);
	CU_ASSERT_EQUAL_FATAL(h->last.cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(mqtt_session_state(h->s), MQTT_STATE_ONLINE);
	expect_event(h, MQTT_EVENT_ONLINE);
}

void cut(struct harness *h)
{
	struct mqtt_error e = {MQTT_IO, 104};
	mqtt_session_lost(h->s, h->now, e);
}

struct mqtt_event expect_event(struct harness *h, enum mqtt_event_type type)
{
	struct mqtt_event ev;
	memset(&ev, 0, sizeof ev);
	bool got = mqtt_session_next_event(h->s, &ev);
	if (!got || ev.type != type)
		fprintf(stderr, "\n  expected event %d, got %d\n", type, got ? (int)ev.type : -1);
	CU_ASSERT_FATAL(got);
	CU_ASSERT_EQUAL_FATAL(ev.type, type);
	return ev;
}

bool no_event(struct harness *h)
{
	struct mqtt_event ev;
	return !mqtt_session_next_event(h->s, &ev);
}
