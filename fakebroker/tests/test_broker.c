/*
 * The broker core's behaviour as a 3.1.1 server, bytes in and bytes out.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "broker_testutil.h"
#include "testing/suites.h"

static void connect_accepted_and_session_present(void)
{
	struct tbroker t;
	struct tclient a;
	tb_new(&t, NULL);
	tc_connect(&a, &t, "a", false, false); /* MQTT-3.2.2-3: new session, flag 0 */
	CU_ASSERT_STRING_EQUAL(mqtt_bconn_client_id(a.c), "a");
	tc_close(&a);
	tc_connect(&a, &t, "a", false, true); /* MQTT-3.2.2-2: resumed, flag 1 */
	tc_close(&a);
	tc_connect(&a, &t, "a", true, false); /* MQTT-3.2.2-1: clean, flag 0 */
	tc_close(&a);
	tc_connect(&a, &t, "a", false, false); /* the clean session discarded it */
	tc_close(&a);
	tb_free(&t);
}

static void first_packet_must_be_connect(void)
{
	struct tbroker t;
	struct tclient a;
	tb_new(&t, NULL);
	tc_open(&a, &t);
	uint8_t ping[] = {0xc0, 0x00};
	tc_send_bytes(&a, ping, sizeof ping);
	CU_ASSERT_TRUE(tc_closing(&a));
	CU_ASSERT_TRUE(tc_quiet(&a));
	struct mqtt_broker_stats st;
	mqtt_broker_stats(t.b, &st);
	CU_ASSERT_EQUAL(st.protocol_errors, 1);
	tc_close(&a);
	tb_free(&t);
}

static void second_connect_closes(void)
{
	struct tbroker t;
	struct tclient a;
	tb_new(&t, NULL);
	tc_connect(&a, &t, "a", true, false);
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	p.connect = connect_packet("a", true);
	tc_send(&a, &p);
	CU_ASSERT_TRUE(tc_closing(&a)); /* MQTT-3.1.0-2 */
	CU_ASSERT_TRUE(tc_quiet(&a));
	tc_close(&a);
	tb_free(&t);
}

/* A CONNECT of these bytes is closed without CONNACK. */
static void closed_without_connack(struct tbroker *t, const uint8_t *bytes, size_t len)
{
	struct tclient a;
	tc_open(&a, t);
	tc_send_bytes(&a, bytes, len);
	CU_ASSERT_TRUE(tc_closing(&a));
	CU_ASSERT_TRUE(tc_quiet(&a));
	tc_close(&a);
}

static void protocol_level_and_name(void)
{
	struct tbroker t;
	struct tclient a;
	tb_new(&t, NULL);
	/* A 3.1 CONNECT as bytes (the strict encoder refuses level 3). */
	const uint8_t v31[] = {0x10, 15, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 60, 0, 1, 'a'};
	tc_open(&a, &t);
	tc_send_bytes(&a, v31, sizeof v31);
	struct mqtt_packet ack = tc_expect(&a, MQTT_CONNACK);
	CU_ASSERT_EQUAL(ack.connack.return_code, MQTT_CONNACK_PROTOCOL_LEVEL); /* MQTT-3.1.2-2 */
	CU_ASSERT_EQUAL(ack.connack.flags, 0);
	CU_ASSERT_TRUE(tc_closing(&a));
	tc_close(&a);
	/* MQTT-3.1.2-1: another protocol name: closed without CONNACK. */
	const uint8_t bad_name[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'X', 4, 2, 0, 60, 0, 1, 'a'};
	closed_without_connack(&t, bad_name, sizeof bad_name);
	/* MQTT-3.1.2-3: the reserved flag set: closed without CONNACK. */
	const uint8_t reserved[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 3, 0, 60, 0, 1, 'a'};
	closed_without_connack(&t, reserved, sizeof reserved);
	/* The two malformed ones count as protocol errors; the refused 3.1
	 * CONNECT, answered by its own rules, does not. */
	struct mqtt_broker_stats st;
	mqtt_broker_stats(t.b, &st);
	CU_ASSERT_EQUAL(st.protocol_errors, 2);
	tb_free(&t);
}

static void empty_client_id(void)
{
	struct tbroker t;
	struct tclient a, b;
	tb_new(&t, NULL);
	struct mqtt_connect cp = connect_packet("", false);
	CU_ASSERT_EQUAL(tc_connect_with(&a, &t, &cp), MQTT_CONNACK_CLIENT_ID); /* MQTT-3.1.3-8 */
	CU_ASSERT_TRUE(tc_closing(&a));
	tc_close(&a);
	cp.clean_session = true;
	CU_ASSERT_EQUAL(tc_connect_with(&a, &t, &cp), 0); /* MQTT-3.1.3-6 */
	CU_ASSERT_EQUAL(tc_connect_with(&b, &t, &cp), 0);
	CU_ASSERT(strlen(mqtt_bconn_client_id(a.c)) > 0);
	CU_ASSERT(strcmp(mqtt_bconn_client_id(a.c), mqtt_bconn_client_id(b.c)) != 0);
	CU_ASSERT_FALSE(tc_closing(&a));
	tc_close(&a);
	tc_close(&b);
	tb_free(&t);
}

static void takeover_closes_first(void)
{
	struct tbroker t;
	struct tclient a1, a2, s;
	tb_new(&t, NULL);
	tc_connect(&s, &t, "s", true, false);
	tc_subscribe(&s, "will", 0, 1, 0);
	struct mqtt_connect cp = connect_packet("a", false);
	cp.will = true;
	cp.will_topic = (struct mqtt_slice){(const uint8_t *)"will", 4};
	cp.will_message = (struct mqtt_slice){(const uint8_t *)"gone", 4};
	CU_ASSERT_EQUAL(tc_connect_with(&a1, &t, &cp), 0);
	tc_subscribe(&a1, "x", 1, 1, 1);
	tc_connect(&a2, &t, "a", false, true); /* MQTT-3.1.4-2 */
	CU_ASSERT_TRUE(tc_closing(&a1));
	CU_ASSERT_FALSE(tc_closing(&a2));
	/* The first connection's end was not a DISCONNECT: its will goes out. */
	tc_expect_publish(&s, "will", "gone", 0);
	tc_close(&a1);
	/* The session went over with its subscription. */
	tc_publish(&s, "x", "m", 1, false, 7);
	tc_expect(&s, MQTT_PUBACK);
	tc_expect_publish(&a2, "x", "m", 1);
	CU_ASSERT_TRUE(tc_quiet(&a1));
	tc_close(&a2);
	tc_close(&s);
	tb_free(&t);
}

static void authentication(void)
{
	struct tbroker t;
	struct tclient a;
	tb_new(&t, NULL);
	CU_ASSERT_EQUAL(mqtt_broker_add_user(t.b, "alice", "secret"), 0);
	/* mosquitto_passwd hashes of "pw6" ($6$) and "pw7" ($7$, 101 rounds). */
	CU_ASSERT_EQUAL(mqtt_broker_add_user(t.b, "six",
		"$6$c2FsdHNhbHQ=$jJzmPTI6QUrbL2QXWVw3tWh1ZWcjn4CWwY1g1u8QrRDqu2GC24jfOBnSY3Y4wEsbrrIyc2Rp9Iqs0Ym6Ol12WQ=="), 0);
	CU_ASSERT_EQUAL(mqtt_broker_add_user(t.b, "seven",
		"$7$101$c2FsdHNhbHRzYWx0$4p5oMvPbmli+citMkHHYkpmE3kE3Y12lSOA5UMBS8PtMj/Xyz2Us4FLVnJv9llnYM9Jlo2lhay0H3xcuRh2yrg=="), 0);
	CU_ASSERT_EQUAL(mqtt_broker_add_user(t.b, "bad", "$7$x$y$z"), EINVAL);
	struct {
		const char *user, *password;
		int code;
	} cases[] = {
		{NULL, NULL, MQTT_CONNACK_NOT_AUTHORIZED},
		{"alice", NULL, MQTT_CONNACK_BAD_CREDENTIALS},
		{"alice", "wrong", MQTT_CONNACK_BAD_CREDENTIALS},
		{"alice", "secretx", MQTT_CONNACK_BAD_CREDENTIALS},
		{"mallory", "secret", MQTT_CONNACK_BAD_CREDENTIALS},
		{"alice", "secret", 0},
		{"six", "pw6", 0},
		{"six", "pw7", MQTT_CONNACK_BAD_CREDENTIALS},
		{"seven", "pw7", 0},
		{"seven", "pw6", MQTT_CONNACK_BAD_CREDENTIALS},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mqtt_connect cp = connect_packet("a", true);
		if (cases[i].user) {
			cp.has_username = true;
			cp.username = (struct mqtt_slice){(const uint8_t *)cases[i].user, strlen(cases[i].user)};
		}
		if (cases[i].password) {
			cp.has_password = true;
			cp.password = (struct mqtt_slice){(const uint8_t *)cases[i].password,
			                                  strlen(cases[i].password)};
		}
		int code = tc_connect_with(&a, &t, &cp);
		if (code != cases[i].code)
			fprintf(stderr, "\ncase %zu: code %d, expected %d\n", i, code, cases[i].code);
		CU_ASSERT_EQUAL(code, cases[i].code);
		CU_ASSERT_EQUAL(tc_closing(&a), cases[i].code != 0); /* MQTT-3.2.2-5 */
		tc_close(&a);
	}
	tb_free(&t);
	struct mqtt_broker_config cfg = {.anonymous = true};
	tb_new(&t, &cfg);
	CU_ASSERT_EQUAL(mqtt_broker_add_user(t.b, "alice", "secret"), 0);
	struct mqtt_connect cp = connect_packet("a", true);
	CU_ASSERT_EQUAL(tc_connect_with(&a, &t, &cp), 0);
	tc_close(&a);
	tb_free(&t);
}

static void qos_round_trips(void)
{
	struct tbroker t;
	struct tclient pub, sub;
	tb_new(&t, NULL);
	tc_connect(&sub, &t, "sub", true, false);
	tc_subscribe(&sub, "t/#", 2, 1, 2);
	tc_connect(&pub, &t, "pub", true, false);

	tc_publish(&pub, "t/0", "zero", 0, false, 0);
	CU_ASSERT_TRUE(tc_quiet(&pub));
	tc_expect_publish(&sub, "t/0", "zero", 0);

	tc_publish(&pub, "t/1", "one", 1, false, 11);
	CU_ASSERT_EQUAL(tc_expect(&pub, MQTT_PUBACK).ack.packet_id, 11); /* MQTT-4.3.2-2 */
	struct mqtt_packet p = tc_expect_publish(&sub, "t/1", "one", 1);
	CU_ASSERT_FALSE(p.publish.dup);
	CU_ASSERT_FALSE(p.publish.retain); /* MQTT-3.3.1-9 */
	tc_ack(&sub, MQTT_PUBACK, p.publish.packet_id);

	tc_publish(&pub, "t/2", "two", 2, false, 12);
	CU_ASSERT_EQUAL(tc_expect(&pub, MQTT_PUBREC).ack.packet_id, 12);
	p = tc_expect_publish(&sub, "t/2", "two", 2);
	uint16_t id = p.publish.packet_id;
	tc_ack(&sub, MQTT_PUBREC, id);
	CU_ASSERT_EQUAL(tc_expect(&sub, MQTT_PUBREL).ack.packet_id, id);
	tc_ack(&sub, MQTT_PUBCOMP, id);
	tc_ack(&pub, MQTT_PUBREL, 12);
	CU_ASSERT_EQUAL(tc_expect(&pub, MQTT_PUBCOMP).ack.packet_id, 12);
	CU_ASSERT_TRUE(tc_quiet(&sub));

	/* Delivered at the lower of the published and the granted QoS. */
	tc_subscribe(&sub, "t/#", 1, 2, 1); /* MQTT-3.8.4-3: replaces */
	tc_publish(&pub, "t/2", "down", 2, false, 13);
	tc_expect(&pub, MQTT_PUBREC);
	p = tc_expect_publish(&sub, "t/2", "down", 1);
	tc_ack(&sub, MQTT_PUBACK, p.publish.packet_id);
	struct mqtt_broker_stats st;
	mqtt_broker_stats(t.b, &st);
	CU_ASSERT_EQUAL(st.messages_in, 4);
	CU_ASSERT_EQUAL(st.messages_out, 4);
	tc_close(&pub);
	tc_close(&sub);
	tb_free(&t);
}

static void inbound_qos2_deduplicated(void)
{
	struct tbroker t;
	struct tclient pub, sub;
	tb_new(&t, NULL);
	tc_connect(&sub, &t, "sub", true, false);
	tc_subscribe(&sub, "t", 0, 1, 0);
	tc_connect(&pub, &t, "pub", false, false);
	tc_publish(&pub, "t", "once", 2, false, 5);
	tc_expect(&pub, MQTT_PUBREC);
	tc_expect_publish(&sub, "t", "once", 0);
	/* MQTT-4.3.3-2: the same identifier before PUBREL is the same message. */
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	p.publish = (struct mqtt_publish){.dup = true, .qos = 2, .packet_id = 5,
	                                  .topic = {(const uint8_t *)"t", 1},
	                                  .payload = {(const uint8_t *)"once", 4}};
	tc_send(&pub, &p);
	tc_expect(&pub, MQTT_PUBREC);
	/* Across a reconnect too (the session is persistent). */
	tc_close(&pub);
	tc_connect(&pub, &t, "pub", false, true);
	tc_send(&pub, &p);
	tc_expect(&pub, MQTT_PUBREC);
	CU_ASSERT_TRUE(tc_quiet(&sub));
	tc_ack(&pub, MQTT_PUBREL, 5);
	tc_expect(&pub, MQTT_PUBCOMP);
	/* Released: the identifier names a new message now. */
	tc_publish(&pub, "t", "again", 2, false, 5);
	tc_expect(&pub, MQTT_PUBREC);
	tc_expect_publish(&sub, "t", "again", 0);
	tc_close(&pub);
	tc_close(&sub);
	tb_free(&t);
}

static void window_limits_in_flight(void)
{
	struct mqtt_broker_config cfg = {.inflight_max = 2};
	struct tbroker t;
	struct tclient pub, sub;
	tb_new(&t, &cfg);
	tc_connect(&sub, &t, "sub", true, false);
	tc_subscribe(&sub, "t", 1, 1, 1);
	tc_connect(&pub, &t, "pub", true, false);
	for (int i = 0; i < 4; i++) {
		char payload[2] = {(char)('a' + i), 0};
		tc_publish(&pub, "t", payload, 1, false, (uint16_t)(i + 1));
		tc_expect(&pub, MQTT_PUBACK);
	}
	struct mqtt_packet a = tc_expect_publish(&sub, "t", "a", 1);
	struct mqtt_packet b = tc_expect_publish(&sub, "t", "b", 1);
	CU_ASSERT_TRUE(tc_quiet(&sub));
	CU_ASSERT(a.publish.packet_id != b.publish.packet_id);
	/* Out of order acknowledgement frees one place. */
	tc_ack(&sub, MQTT_PUBACK, b.publish.packet_id);
	struct mqtt_packet c = tc_expect_publish(&sub, "t", "c", 1);
	CU_ASSERT_TRUE(tc_quiet(&sub));
	tc_ack(&sub, MQTT_PUBACK, a.publish.packet_id);
	struct mqtt_packet d = tc_expect_publish(&sub, "t", "d", 1);
	CU_ASSERT(c.publish.packet_id != d.publish.packet_id);
	CU_ASSERT(a.publish.packet_id != c.publish.packet_id);
	/* An acknowledgement of nothing changes nothing. */
	tc_ack(&sub, MQTT_PUBACK, 999);
	CU_ASSERT_FALSE(tc_closing(&sub));
	CU_ASSERT_TRUE(tc_quiet(&sub));
	tc_close(&pub);
	tc_close(&sub);
	tb_free(&t);
}

static void persistent_session_queues_and_resends(void)
{
	struct tbroker t;
	struct tclient pub, sub;
	tb_new(&t, NULL);
	tc_connect(&sub, &t, "sub", false, false);
	tc_subscribe(&sub, "t", 2, 1, 2);
	tc_connect(&pub, &t, "pub", true, false);
	tc_publish(&pub, "t", "q1", 1, false, 1);
	tc_publish(&pub, "t", "q2", 2, false, 2);
	tc_expect(&pub, MQTT_PUBACK);
	tc_expect(&pub, MQTT_PUBREC);
	struct mqtt_packet m1 = tc_expect_publish(&sub, "t", "q1", 1);
	struct mqtt_packet m2 = tc_expect_publish(&sub, "t", "q2", 2);
	uint16_t id1 = m1.publish.packet_id, id2 = m2.publish.packet_id;
	tc_ack(&sub, MQTT_PUBREC, id2); /* q2 is delivered; PUBREL pending */
	tc_expect(&sub, MQTT_PUBREL);
	tc_close(&sub); /* lost without DISCONNECT */

	/* While away: QoS 1 and 2 queue, QoS 0 does not. */
	tc_publish(&pub, "t", "away0", 0, false, 0);
	tc_publish(&pub, "t", "away1", 1, false, 3);
	tc_expect(&pub, MQTT_PUBACK);

	tc_connect(&sub, &t, "sub", false, true);
	/* MQTT-4.4.0-1: the unacknowledged PUBLISH with DUP, the PUBREL
	 * again, then what waited. */
	struct mqtt_packet r1 = tc_expect_publish(&sub, "t", "q1", 1);
	CU_ASSERT_TRUE(r1.publish.dup);
	CU_ASSERT_EQUAL(r1.publish.packet_id, id1);
	CU_ASSERT_EQUAL(tc_expect(&sub, MQTT_PUBREL).ack.packet_id, id2);
	struct mqtt_packet w = tc_expect_publish(&sub, "t", "away1", 1);
	CU_ASSERT_FALSE(w.publish.dup);
	CU_ASSERT_TRUE(tc_quiet(&sub));
	tc_ack(&sub, MQTT_PUBACK, id1);
	tc_ack(&sub, MQTT_PUBCOMP, id2);
	tc_ack(&sub, MQTT_PUBACK, w.publish.packet_id);
	CU_ASSERT_TRUE(tc_quiet(&sub));
	/* The subscription survived too. */
	tc_publish(&pub, "t", "live", 0, false, 0);
	tc_expect_publish(&sub, "t", "live", 0);
	tc_close(&pub);
	tc_close(&sub);
	tb_free(&t);
}

static void queue_is_bounded(void)
{
	struct mqtt_broker_config cfg = {.queue_max = 2};
	struct tbroker t;
	struct tclient pub, sub;
	tb_new(&t, &cfg);
	tc_connect(&sub, &t, "sub", false, false);
	tc_subscribe(&sub, "t", 1, 1, 1);
	tc_close(&sub);
	tc_connect(&pub, &t, "pub", true, false);
	for (int i = 0; i < 3; i++) {
		char payload[2] = {(char)('a' + i), 0};
		tc_publish(&pub, "t", payload, 1, false, (uint16_t)(i + 1));
		tc_expect(&pub, MQTT_PUBACK);
	}
	struct mqtt_broker_stats st;
	mqtt_broker_stats(t.b, &st);
	CU_ASSERT_EQUAL(st.messages_dropped, 1);
	tc_connect(&sub, &t, "sub", false, true);
	tc_expect_publish(&sub, "t", "a", 1);
	tc_expect_publish(&sub, "t", "b", 1);
	CU_ASSERT_TRUE(tc_quiet(&sub));
	tc_close(&pub);
	tc_close(&sub);
	tb_free(&t);
}

static void topic_matching_and_overlap(void)
{
	struct tbroker t;
	struct tclient pub, sub;
	tb_new(&t, NULL);
	tc_connect(&sub, &t, "sub", true, false);
	tc_subscribe(&sub, "a/+/c", 0, 1, 0);
	tc_subscribe(&sub, "a/#", 1, 2, 1);
	tc_subscribe(&sub, "#", 0, 3, 0);
	tc_connect(&pub, &t, "pub", true, false);
	/* Matched by all three: one delivery at the highest QoS. */
	tc_publish(&pub, "a/b/c", "x", 2, false, 1);
	tc_expect(&pub, MQTT_PUBREC);
	struct mqtt_packet p = tc_expect_publish(&sub, "a/b/c", "x", 1);
	tc_ack(&sub, MQTT_PUBACK, p.publish.packet_id);
	CU_ASSERT_TRUE(tc_quiet(&sub));
	/* MQTT-4.7.2-1: '#' does not match a topic that starts with '$'. */
	tc_publish(&pub, "$SYS/x", "sys", 0, false, 0);
	CU_ASSERT_TRUE(tc_quiet(&sub));
	tc_subscribe(&sub, "$SYS/#", 0, 4, 0);
	tc_publish(&pub, "$SYS/x", "sys", 0, false, 0);
	tc_expect_publish(&sub, "$SYS/x", "sys", 0);
	/* Only '#' matches b. */
	tc_publish(&pub, "b", "y", 0, false, 0);
	tc_expect_publish(&sub, "b", "y", 0);
	/* MQTT-3.10.4-2: unsubscribed filters deliver no more. */
	struct mqtt_topic topics[] = {{.filter = {(const uint8_t *)"#", 1}},
	                              {.filter = {(const uint8_t *)"nope", 4}}};
	struct mqtt_packet un = {.type = MQTT_UNSUBSCRIBE};
	un.subscribe.packet_id = 9;
	un.subscribe.count = 2;
	un.subscribe.topics = topics;
	tc_send(&sub, &un);
	CU_ASSERT_EQUAL(tc_expect(&sub, MQTT_UNSUBACK).ack.packet_id, 9);
	tc_publish(&pub, "b", "z", 0, false, 0);
	CU_ASSERT_TRUE(tc_quiet(&sub));
	tc_close(&pub);
	tc_close(&sub);
	tb_free(&t);
}

static void retained_messages(void)
{
	struct tbroker t;
	struct tclient pub, sub;
	tb_new(&t, NULL);
	tc_connect(&pub, &t, "pub", true, false);
	tc_publish(&pub, "r/1", "old", 1, true, 1);
	tc_expect(&pub, MQTT_PUBACK);
	tc_publish(&pub, "r/1", "new", 1, true, 2); /* MQTT-3.3.1-5: replaces */
	tc_expect(&pub, MQTT_PUBACK);
	tc_publish(&pub, "r/2", "two", 0, true, 0);
	tc_publish(&pub, "r/3", "three", 0, true, 0);
	tc_publish(&pub, "r/3", "", 0, true, 0); /* MQTT-3.3.1-10: clears */
	struct mqtt_broker_stats st;
	mqtt_broker_stats(t.b, &st);
	CU_ASSERT_EQUAL(st.retained, 2);
	tc_connect(&sub, &t, "sub", true, false);
	tc_subscribe(&sub, "r/+", 1, 1, 1);
	/* MQTT-3.3.1-6, MQTT-3.3.1-8: after SUBACK, with retain set. */
	int new_seen = 0, two_seen = 0;
	for (int i = 0; i < 2; i++) {
		struct mqtt_packet p = tc_expect(&sub, MQTT_PUBLISH);
		CU_ASSERT_TRUE(p.publish.retain);
		CU_ASSERT_EQUAL_FATAL(p.publish.topic.len, 3);
		if (memcmp(p.publish.topic.data, "r/1", 3) == 0) {
			new_seen = p.publish.payload.len == 3 && memcmp(p.publish.payload.data, "new", 3) == 0;
			CU_ASSERT_EQUAL(p.publish.qos, 1);
			tc_ack(&sub, MQTT_PUBACK, p.publish.packet_id);
		} else {
			two_seen = memcmp(p.publish.topic.data, "r/2", 3) == 0;
			CU_ASSERT_EQUAL(p.publish.qos, 0);
		}
	}
	CU_ASSERT_TRUE(new_seen && two_seen);
	CU_ASSERT_TRUE(tc_quiet(&sub));
	/* A live retained publish goes to established subscribers without
	 * the flag (MQTT-3.3.1-9). */
	tc_publish(&pub, "r/2", "live", 0, true, 0);
	struct mqtt_packet live = tc_expect_publish(&sub, "r/2", "live", 0);
	CU_ASSERT_FALSE(live.publish.retain);
	tc_close(&pub);
	tc_close(&sub);
	tb_free(&t);
}

static void wills(void)
{
	struct tbroker t;
	struct tclient a, s, late;
	tb_new(&t, NULL);
	tc_connect(&s, &t, "s", true, false);
	tc_subscribe(&s, "will/#", 1, 1, 1);
	struct mqtt_connect cp = connect_packet("a", true);
	cp.will = true;
	cp.will_qos = 1;
	cp.will_retain = true;
	cp.will_topic = (struct mqtt_slice){(const uint8_t *)"will/a", 6};
	cp.will_message = (struct mqtt_slice){(const uint8_t *)"bye", 3};
	/* DISCONNECT discards the will (MQTT-3.14.4-3). */
	CU_ASSERT_EQUAL(tc_connect_with(&a, &t, &cp), 0);
	struct mqtt_packet d = {.type = MQTT_DISCONNECT};
	tc_send(&a, &d);
	CU_ASSERT_TRUE(tc_closing(&a));
	tc_close(&a);
	CU_ASSERT_TRUE(tc_quiet(&s));
	/* A lost connection publishes it (MQTT-3.1.2-8), retained. */
	CU_ASSERT_EQUAL(tc_connect_with(&a, &t, &cp), 0);
	tc_close(&a);
	struct mqtt_packet w = tc_expect_publish(&s, "will/a", "bye", 1);
	CU_ASSERT_FALSE(w.publish.retain);
	tc_connect(&late, &t, "late", true, false);
	tc_subscribe(&late, "will/a", 0, 1, 0);
	struct mqtt_packet r = tc_expect_publish(&late, "will/a", "bye", 0);
	CU_ASSERT_TRUE(r.publish.retain);
	tc_close(&late);
	tc_close(&s);
	tb_free(&t);
}

static void keep_alive_and_connect_timeout(void)
{
	struct mqtt_broker_config cfg = {.connect_timeout_ms = 500};
	struct tbroker t;
	struct tclient a, idle;
	tb_new(&t, &cfg);
	tc_open(&idle, &t);
	struct mqtt_connect cp = connect_packet("a", true);
	cp.keep_alive = 10;
	CU_ASSERT_EQUAL(tc_connect_with(&a, &t, &cp), 0);
	tb_advance(&t, 499);
	CU_ASSERT_FALSE(tc_closing(&idle));
	tb_advance(&t, 1);
	CU_ASSERT_TRUE(tc_closing(&idle));
	tc_close(&idle);
	/* Activity within 15 s keeps the connection; PINGREQ answered. */
	tb_advance(&t, 14000);
	struct mqtt_packet ping = {.type = MQTT_PINGREQ};
	tc_send(&a, &ping);
	tc_expect(&a, MQTT_PINGRESP); /* MQTT-3.12.4-1 */
	tb_advance(&t, 14999);
	CU_ASSERT_FALSE(tc_closing(&a));
	/* MQTT-3.1.2-24: 1.5 times the keep-alive without a packet. */
	tb_advance(&t, 1);
	CU_ASSERT_TRUE(tc_closing(&a));
	CU_ASSERT_EQUAL(mqtt_broker_tick(t.b, t.now), UINT64_MAX);
	tc_close(&a);
	tb_free(&t);
}

static void bad_input_closes_only_offender(void)
{
	struct mqtt_broker_config cfg = {.packet_max = 1024};
	struct tbroker t;
	struct tclient good, bad;
	tb_new(&t, &cfg);
	tc_connect(&good, &t, "good", true, false);
	tc_subscribe(&good, "#", 0, 1, 0);
	const struct {
		const char *what;
		uint8_t bytes[16];
		size_t len;
	} cases[] = {
		{"reserved type 0", {0x00, 0x00}, 2},
		{"five length bytes", {0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 6},
		{"oversize", {0x30, 0x80, 0x10}, 3},
		{"wildcard topic", {0x30, 0x04, 0x00, 0x02, 'a', '+'}, 6},
		{"invalid UTF-8", {0x30, 0x04, 0x00, 0x02, 0xc0, 0xaf}, 6},
		{"PUBREL flags", {0x60, 0x02, 0x00, 0x01}, 4},
		{"server packet", {0x20, 0x02, 0x00, 0x00}, 4},
		{"QoS 3", {0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}, 7},
		{"empty SUBSCRIBE", {0x82, 0x02, 0x00, 0x01}, 4},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char id[8];
		snprintf(id, sizeof id, "bad%zu", i);
		tc_connect(&bad, &t, id, true, false);
		tc_send_bytes(&bad, cases[i].bytes, cases[i].len);
		if (!tc_closing(&bad))
			fprintf(stderr, "\n%s: not closed\n", cases[i].what);
		CU_ASSERT_TRUE(tc_closing(&bad));
		tc_close(&bad);
		/* The others are served as before. */
		tc_publish(&good, "ok", id, 0, false, 0);
		tc_expect_publish(&good, "ok", id, 0);
	}
	struct mqtt_broker_stats st;
	mqtt_broker_stats(t.b, &st);
	CU_ASSERT_EQUAL(st.protocol_errors, sizeof cases / sizeof cases[0]);
	CU_ASSERT_EQUAL(st.connections, 1);
	tc_close(&good);
	tb_free(&t);
}

static void byte_at_a_time(void)
{
	struct tbroker t;
	struct tclient a;
	tb_new(&t, NULL);
	tc_open(&a, &t);
	uint8_t buf[64];
	size_t n;
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	p.connect = connect_packet("slow", true);
	CU_ASSERT_FATAL(mqtt_encode(buf, sizeof buf, &p, MQTT_STRICT, &n) == MQTT_OK);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_TRUE(tc_quiet(&a));
		tc_send_bytes(&a, buf + i, 1);
		CU_ASSERT_EQUAL(a.consumed, 1);
	}
	CU_ASSERT_EQUAL(tc_expect(&a, MQTT_CONNACK).connack.return_code, 0);
	tc_close(&a);
	tb_free(&t);
}

const struct test_def broker_tests[] = {
	{"connect accepted, session present", connect_accepted_and_session_present},
	{"first packet must be CONNECT", first_packet_must_be_connect},
	{"second CONNECT closes", second_connect_closes},
	{"protocol level and name", protocol_level_and_name},
	{"empty client identifier", empty_client_id},
	{"takeover closes the first connection", takeover_closes_first},
	{"authentication", authentication},
	{"QoS 0, 1, 2 round trips", qos_round_trips},
	{"inbound QoS 2 deduplicated", inbound_qos2_deduplicated},
	{"window limits in flight", window_limits_in_flight},
	{"persistent session queues and resends", persistent_session_queues_and_resends},
	{"queue is bounded", queue_is_bounded},
	{"topic matching and overlap", topic_matching_and_overlap},
	{"retained messages", retained_messages},
	{"wills", wills},
	{"keep-alive and connect timeout", keep_alive_and_connect_timeout},
	{"bad input closes only the offender", bad_input_closes_only_offender},
	{"byte at a time", byte_at_a_time},
	{NULL, NULL},
};
