/*
 * test_wire.c - each end of a connection judges its own sender: DUP and
 * identifiers of the PUBLISHes it sends, and which exchanges are left
 * unfinished.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "scenarios/oracle/wire.h"
#include "testing/suites.h"

static struct wire *new_end(enum wire_role role)
{
	struct wire *w = calloc(1, sizeof *w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	wire_init(w, role);
	wire_connection(w, false);
	return w;
}

static void pass(struct wire *w, bool sent, const struct mqtt_packet *p, struct wire_report *r)
{
	uint8_t buf[256];
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf, sizeof buf, p, 0, &n), MQTT_OK);
	wire_bytes(w, false, sent, buf, n, "c", r);
}

static void publish(struct wire *w, bool sent, uint8_t qos, uint16_t id, bool dup,
                    const char *payload, struct wire_report *r)
{
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	p.publish.qos = qos;
	p.publish.dup = dup;
	p.publish.packet_id = id;
	p.publish.topic = mqtt_slice_str("t");
	p.publish.payload = mqtt_slice_str(payload);
	pass(w, sent, &p, r);
}

static void ack(struct wire *w, bool sent, enum mqtt_type type, uint16_t id, struct wire_report *r)
{
	struct mqtt_packet p = {.type = type};
	p.ack.packet_id = id;
	pass(w, sent, &p, r);
}

static void connack(struct wire *w, bool sent, bool session_present, struct wire_report *r)
{
	struct mqtt_packet p = {.type = MQTT_CONNACK};
	p.connack.flags = session_present ? 1 : 0;
	pass(w, sent, &p, r);
}

/* Before: the client's end never saw the PUBACK, so a freed identifier
 * used again for the next message counted as a reuse in flight. */
static void test_acknowledged_identifier_is_free_again(void)
{
	struct wire_report r = {0};
	struct wire *w = new_end(WIRE_CLIENT);
	publish(w, true, 1, 1, false, "a", &r);
	ack(w, false, MQTT_PUBACK, 1, &r);
	publish(w, true, 1, 1, false, "b", &r);
	CU_ASSERT_FALSE(r.id_violation);
	CU_ASSERT_FALSE(r.dup_violation);
	/* Not acknowledged: another message on it is a reuse. */
	publish(w, true, 1, 1, false, "c", &r);
	CU_ASSERT(r.id_violation);
	free(w);
}

static void test_resend_needs_dup_first_send_must_not(void)
{
	struct wire_report r = {0};
	struct wire *w = new_end(WIRE_CLIENT);
	publish(w, true, 2, 5, false, "a", &r);
	publish(w, true, 2, 5, true, "a", &r);
	CU_ASSERT_FALSE(r.dup_violation);
	publish(w, true, 2, 5, false, "a", &r);
	CU_ASSERT(r.dup_violation);
	memset(&r, 0, sizeof r);
	publish(w, true, 1, 6, true, "x", &r);
	CU_ASSERT(r.dup_violation);
	/* An adopted session cannot know what reached the wire. */
	memset(&r, 0, sizeof r);
	wire_connection(w, true);
	publish(w, true, 1, 7, true, "y", &r);
	CU_ASSERT_FALSE(r.dup_violation);
	free(w);
}

/* A broker's first sighting is surely a first attempt only on the
 * session's first connection [MQTT-3.3.1-3]. */
/* An acknowledgement received but never handled: the same message goes
 * again, rightly with DUP; another message with DUP is still wrong. */
static void test_resend_after_unhandled_ack(void)
{
	struct wire_report r = {0};
	struct wire *w = new_end(WIRE_CLIENT);
	publish(w, true, 1, 4, false, "a", &r);
	ack(w, false, MQTT_PUBACK, 4, &r);
	wire_connection(w, false);
	publish(w, true, 1, 4, true, "a", &r);
	CU_ASSERT_FALSE(r.dup_violation);
	ack(w, false, MQTT_PUBACK, 4, &r);
	publish(w, true, 1, 4, true, "b", &r);
	CU_ASSERT(r.dup_violation);
	free(w);
}

static void test_broker_dup_on_first_send(void)
{
	struct wire_report r = {0};
	struct wire *w = new_end(WIRE_BROKER);
	connack(w, true, false, &r);
	publish(w, true, 1, 3, true, "a", &r);
	CU_ASSERT(r.dup_violation);
	memset(&r, 0, sizeof r);
	wire_connection(w, false);
	connack(w, true, true, &r);
	publish(w, true, 1, 4, true, "b", &r);
	CU_ASSERT_FALSE(r.dup_violation);
	free(w);
}

static void test_no_publish_again_after_pubrel(void)
{
	struct wire_report r = {0};
	struct wire *w = new_end(WIRE_BROKER);
	publish(w, true, 2, 9, false, "a", &r);
	ack(w, false, MQTT_PUBREC, 9, &r);
	ack(w, true, MQTT_PUBREL, 9, &r);
	publish(w, true, 2, 9, true, "a", &r);
	CU_ASSERT(r.id_violation);
	free(w);
}

static void test_unfinished_names_who_owes(void)
{
	struct wire_report r = {0};
	char why[300] = "";
	struct wire *w = new_end(WIRE_BROKER);
	/* The broker's QoS 2 delivery: PUBREC came, PUBREL not sent. */
	publish(w, true, 2, 4, false, "a", &r);
	CU_ASSERT_EQUAL(wire_unfinished(w, "sub", why, sizeof why), 1);
	ack(w, false, MQTT_PUBREC, 4, &r);
	CU_ASSERT_EQUAL(wire_unfinished(w, "sub", why, sizeof why), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "awaits PUBREL from the broker"));
	ack(w, true, MQTT_PUBREL, 4, &r);
	ack(w, false, MQTT_PUBCOMP, 4, &r);
	CU_ASSERT_EQUAL(wire_unfinished(w, "sub", why, sizeof why), 0);
	/* A client's QoS 1 PUBLISH received: the broker owes PUBACK. */
	publish(w, false, 1, 8, false, "b", &r);
	CU_ASSERT_EQUAL(wire_unfinished(w, "pub", why, sizeof why), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "awaits PUBACK from the broker"));
	ack(w, true, MQTT_PUBACK, 8, &r);
	CU_ASSERT_EQUAL(wire_unfinished(w, "pub", why, sizeof why), 0);
	/* The other end lost its state: what it started is not owed. */
	publish(w, false, 2, 2, false, "c", &r);
	ack(w, true, MQTT_PUBREC, 2, &r);
	CU_ASSERT_EQUAL(wire_unfinished(w, "pub", NULL, 0), 1);
	wire_peer_lost(w);
	CU_ASSERT_EQUAL(wire_unfinished(w, "pub", NULL, 0), 0);
	free(w);
}

/* No session at the broker: it starts afresh, and so does the client's
 * side of the broker's exchanges. */
static void test_session_not_present_forgets(void)
{
	struct wire_report r = {0};
	struct wire *b = new_end(WIRE_BROKER), *c = new_end(WIRE_CLIENT);
	publish(b, true, 1, 1, false, "a", &r);
	publish(c, false, 2, 1, false, "a", &r);
	publish(c, true, 1, 2, false, "mine", &r);
	wire_connection(b, false);
	wire_connection(c, false);
	connack(b, true, false, &r);
	connack(c, false, false, &r);
	CU_ASSERT_EQUAL(wire_unfinished(b, "x", NULL, 0), 0);
	CU_ASSERT_EQUAL(wire_unfinished(c, "x", NULL, 0), 1); /* its own go on */
	free(b);
	free(c);
}

static void connect_packet(struct wire *w, bool clean, struct wire_report *r)
{
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	p.connect.protocol_name = mqtt_slice_str("MQTT");
	p.connect.protocol_level = 4;
	p.connect.clean_session = clean;
	p.connect.keep_alive = 30;
	p.connect.client_id = mqtt_slice_str("c");
	pass(w, false, &p, r);
}

/* A broker that begins a new session forgets what it started at the
 * client's end too, whether or not the client ever saw its CONNACK
 * (explore seed 17570: the CONNACK with Session Present 0 was cut off on
 * its way, the next one said 1, and the client's end waited for ever for
 * a PUBCOMP no broker would ask for). */
static void test_new_session_forgotten_at_both_ends(void)
{
	struct wire_report r = {0};
	struct wire *b = new_end(WIRE_BROKER), *c = new_end(WIRE_CLIENT);
	wire_pair(b, c);
	publish(b, true, 2, 1, false, "a", &r);
	publish(c, false, 2, 1, false, "a", &r);
	ack(c, true, MQTT_PUBREC, 1, &r);
	ack(c, false, MQTT_PUBREL, 1, &r); /* the client's PUBCOMP never leaves */
	CU_ASSERT_EQUAL(wire_unfinished(c, "x", NULL, 0), 1);
	wire_connection(b, false);
	wire_connection(c, false);
	connack(b, true, false, &r); /* never reaches the client */
	CU_ASSERT_EQUAL(wire_unfinished(b, "x", NULL, 0), 0);
	CU_ASSERT_EQUAL(wire_unfinished(c, "x", NULL, 0), 0);
	free(b);
	free(c);
}

/* A clean session ends with its connection, and a clean CONNECT begins a
 * new one [MQTT-3.1.2-6], CONNACK or not (explore seed 962: a broker that
 * closed before its CONNACK). A CONNECT without clean session after one
 * without keeps the session. */
static void test_clean_connect_begins_a_session(void)
{
	struct wire_report r = {0};
	struct wire *b = new_end(WIRE_BROKER), *c = new_end(WIRE_CLIENT);
	wire_pair(b, c);
	connect_packet(b, false, &r);
	publish(b, true, 1, 1, false, "a", &r);
	publish(c, false, 1, 1, false, "a", &r);
	wire_connection(b, false);
	connect_packet(b, false, &r); /* the session goes on */
	CU_ASSERT_EQUAL(wire_unfinished(b, "x", NULL, 0), 1);
	CU_ASSERT_EQUAL(wire_unfinished(c, "x", NULL, 0), 1);
	wire_connection(b, false);
	connect_packet(b, true, &r); /* a clean one */
	CU_ASSERT_EQUAL(wire_unfinished(b, "x", NULL, 0), 0);
	CU_ASSERT_EQUAL(wire_unfinished(c, "x", NULL, 0), 0);
	publish(b, true, 1, 2, false, "b", &r);
	wire_connection(b, false);
	connect_packet(b, false, &r); /* after a clean one: a new session again */
	CU_ASSERT_EQUAL(wire_unfinished(b, "x", NULL, 0), 0);
	free(b);
	free(c);
}

/* A connection let go of still passes its last bytes, framed apart from
 * the next connection's. */
static void test_retired_connection_framed_apart(void)
{
	struct wire_report r = {0};
	struct wire *w = new_end(WIRE_BROKER);
	uint8_t buf[64];
	size_t n;
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	p.publish.qos = 1;
	p.publish.packet_id = 11;
	p.publish.topic = mqtt_slice_str("t");
	p.publish.payload = mqtt_slice_str("old");
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf, sizeof buf, &p, 0, &n), MQTT_OK);
	wire_bytes(w, false, true, buf, 3, "c", &r); /* half a packet */
	wire_retire(w);
	wire_connection(w, false);
	publish(w, true, 1, 12, false, "new", &r);
	wire_bytes(w, true, true, buf + 3, n - 3, "c", &r); /* the rest, on the old one */
	CU_ASSERT_EQUAL(wire_unfinished(w, "c", NULL, 0), 2);
	CU_ASSERT_FALSE(r.id_violation || r.dup_violation);
	free(w);
}

/* A wire given back and taken again starts with nothing in flight. */
/* A PUBLISH written only in part before its connection ended was an
 * attempt: sent again with DUP it is no "first time with DUP" (found by
 * mqttsim explore); a whole first send with DUP still is. */
static void test_partial_publish_was_an_attempt(void)
{
	struct wire *w = new_end(WIRE_CLIENT);
	struct wire_report r = {0};
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	p.publish.qos = 1;
	p.publish.packet_id = 7;
	p.publish.topic = mqtt_slice_str("t");
	p.publish.payload = mqtt_slice_str("partly");
	uint8_t buf[64];
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf, sizeof buf, &p, 0, &n), MQTT_OK);
	wire_bytes(w, false, true, buf, 3, "c", &r); /* the connection ends after 3 bytes */
	wire_connection(w, false);
	publish(w, true, 1, 7, true, "partly", &r);
	CU_ASSERT_FALSE(r.dup_violation);
	publish(w, true, 1, 8, true, "whole", &r);
	CU_ASSERT_TRUE(r.dup_violation);
	free(w);
}

static void test_taken_again_is_clean(void)
{
	struct wire_report r = {0};
	struct wire *w = wire_take(WIRE_CLIENT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	wire_connection(w, true);
	publish(w, true, 2, 9, false, "a", &r);
	publish(w, false, 1, 3, false, "b", &r);
	wire_release(w);
	struct wire *again = wire_take(WIRE_BROKER);
	CU_ASSERT_PTR_NOT_NULL_FATAL(again);
	CU_ASSERT_EQUAL(wire_unfinished(again, "x", NULL, 0), 0);
	CU_ASSERT_EQUAL(again->role, WIRE_BROKER);
	CU_ASSERT_FALSE(again->adopted);
	wire_connection(again, false);
	publish(again, true, 2, 9, true, "a", &r); /* first on its first connection: not a resend */
	CU_ASSERT(r.dup_violation);
	wire_release(again);
}

const struct test_def wire_tests[] = {
	{"a wire taken again is clean", test_taken_again_is_clean},
	{"a PUBLISH written in part was an attempt", test_partial_publish_was_an_attempt},
	{"an acknowledged identifier is free again", test_acknowledged_identifier_is_free_again},
	{"a resend needs DUP, a first send must not have it", test_resend_needs_dup_first_send_must_not},
	{"a resend after an acknowledgement never handled", test_resend_after_unhandled_ack},
	{"a broker's first delivery with DUP", test_broker_dup_on_first_send},
	{"no PUBLISH again after its PUBREL", test_no_publish_again_after_pubrel},
	{"unfinished exchanges name who owes the next packet", test_unfinished_names_who_owes},
	{"no session at the broker: its exchanges are forgotten", test_session_not_present_forgets},
	{"a new session is forgotten at both ends", test_new_session_forgotten_at_both_ends},
	{"a clean CONNECT begins a session", test_clean_connect_begins_a_session},
	{"a retired connection is framed apart", test_retired_connection_framed_apart},
	{NULL, NULL},
};
