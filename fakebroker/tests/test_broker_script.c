/*
 * Scripted misbehaviour of the broker core, and its recording.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "broker_testutil.h"
#include "testing/suites.h"

static int rule(struct tbroker *t, const char *text)
{
	char err[256] = "";
	int id = mqtt_broker_rule(t->b, text, err, sizeof err);
	if (id < 0)
		fprintf(stderr, "\nrule '%s': %s\n", text, err);
	CU_ASSERT(id > 0);
	return id;
}

static void refuse_connects(void)
{
	struct tbroker t;
	struct tclient a;
	tb_new(&t, NULL);
	rule(&t, "refuse 3 client=x count=2");
	struct mqtt_connect y = connect_packet("y", true), x = connect_packet("x", true);
	CU_ASSERT_EQUAL(tc_connect_with(&a, &t, &y), 0); /* another client */
	tc_close(&a);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(tc_connect_with(&a, &t, &x), 3);
		CU_ASSERT_TRUE(tc_closing(&a));
		tc_close(&a);
	}
	CU_ASSERT_EQUAL(tc_connect_with(&a, &t, &x), 0); /* spent */
	tc_close(&a);
	tb_free(&t);
}

/* A rule closing one subscriber's connection as a message goes out to
 * it: its clean session ends, after every other subscriber had the
 * message (found by mqttsim explore, seed 14406: the session was freed
 * in the middle of the routing loop, the last session moved into its
 * place and was skipped, and the loop read freed memory). */
static void close_while_routing(void)
{
	struct tbroker t;
	static struct tclient p, s1, s2, s3;
	tb_new(&t, NULL);
	rule(&t, "close b2c:PUBLISH#1 client=s1");
	tc_connect(&p, &t, "p", true, false); /* sessions: p, s1, s2, s3 */
	tc_connect(&s1, &t, "s1", true, false);
	tc_connect(&s2, &t, "s2", true, false);
	tc_connect(&s3, &t, "s3", true, false);
	tc_subscribe(&s1, "t", 1, 1, 1);
	tc_subscribe(&s2, "t", 1, 1, 1);
	tc_subscribe(&s3, "t", 1, 1, 1);
	tc_publish(&p, "t", "m", 1, false, 7);
	CU_ASSERT_EQUAL(tc_expect(&p, MQTT_PUBACK).ack.packet_id, 7);
	CU_ASSERT_TRUE(tc_closing(&s1));
	tc_expect_publish(&s2, "t", "m", 1);
	tc_expect_publish(&s3, "t", "m", 1);
	tc_close(&s1);
	tc_close(&s2);
	tc_close(&s3);
	tc_close(&p);
	tb_free(&t);
}

static void withhold_second_puback(void)
{
	struct tbroker t;
	struct tclient a;
	tb_new(&t, NULL);
	rule(&t, "withhold b2c:PUBACK#2");
	tc_connect(&a, &t, "a", true, false);
	for (uint16_t id = 1; id <= 3; id++)
		tc_publish(&a, "t", "m", 1, false, id);
	CU_ASSERT_EQUAL(tc_expect(&a, MQTT_PUBACK).ack.packet_id, 1);
	CU_ASSERT_EQUAL(tc_expect(&a, MQTT_PUBACK).ack.packet_id, 3);
	CU_ASSERT_TRUE(tc_quiet(&a));
	char buf[256];
	mqtt_broker_rules_format(t.b, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, ""); /* spent rules are gone */
	tc_close(&a);
	tb_free(&t);
}

static void delay_duplicate_reorder(void)
{
	struct tbroker t;
	struct tclient a, s;
	tb_new(&t, NULL);
	tc_connect(&s, &t, "s", true, false);
	tc_connect(&a, &t, "a", true, false);
	rule(&t, "delay b2c:PUBACK ms=100 client=a");
	tc_publish(&a, "t", "m", 1, false, 1);
	CU_ASSERT_TRUE(tc_quiet(&a));
	CU_ASSERT_EQUAL(mqtt_broker_tick(t.b, t.now), t.now + 100);
	tb_advance(&t, 99);
	CU_ASSERT_TRUE(tc_quiet(&a));
	tb_advance(&t, 1);
	CU_ASSERT_EQUAL(tc_expect(&a, MQTT_PUBACK).ack.packet_id, 1);
	CU_ASSERT_EQUAL(mqtt_broker_rule_remove(t.b, 0), 0);

	rule(&t, "duplicate SUBACK");
	tc_subscribe(&s, "t", 0, 5, 0);
	CU_ASSERT_EQUAL(tc_expect(&s, MQTT_SUBACK).suback.packet_id, 5);
	mqtt_broker_rule_remove(t.b, 0);

	rule(&t, "reorder PUBLISH#1 client=s");
	tc_publish(&a, "t", "first", 0, false, 0);
	CU_ASSERT_TRUE(tc_quiet(&s)); /* held until the next packet */
	tc_publish(&a, "t", "second", 0, false, 0);
	tc_expect_publish(&s, "t", "second", 0);
	tc_expect_publish(&s, "t", "first", 0);
	CU_ASSERT_TRUE(tc_quiet(&s));
	tc_close(&a);
	tc_close(&s);
	tb_free(&t);
}

static void close_at_packets(void)
{
	struct tbroker t;
	struct tclient pub, sub;
	tb_new(&t, NULL);
	tc_connect(&sub, &t, "sub", false, false);
	tc_subscribe(&sub, "t", 2, 1, 2);
	tc_connect(&pub, &t, "pub", true, false);
	/* The 2nd PUBREC from sub: closed before it is handled. */
	rule(&t, "close c2b:PUBREC#2 client=sub");
	tc_publish(&pub, "t", "a", 2, false, 1);
	tc_publish(&pub, "t", "b", 2, false, 2);
	tc_expect(&pub, MQTT_PUBREC);
	tc_expect(&pub, MQTT_PUBREC);
	struct mqtt_packet a = tc_expect_publish(&sub, "t", "a", 2);
	struct mqtt_packet b = tc_expect_publish(&sub, "t", "b", 2);
	tc_ack(&sub, MQTT_PUBREC, a.publish.packet_id);
	tc_expect(&sub, MQTT_PUBREL);
	CU_ASSERT_FALSE(tc_closing(&sub));
	tc_ack(&sub, MQTT_PUBREC, b.publish.packet_id);
	CU_ASSERT_TRUE(tc_closing(&sub));
	CU_ASSERT_TRUE(tc_quiet(&sub)); /* no PUBREL: the PUBREC was not handled */
	tc_close(&sub);
	/* On resume: PUBREL for a, and b again with DUP. */
	tc_connect(&sub, &t, "sub", false, true);
	CU_ASSERT_EQUAL(tc_expect(&sub, MQTT_PUBREL).ack.packet_id, a.publish.packet_id);
	CU_ASSERT_TRUE(tc_expect_publish(&sub, "t", "b", 2).publish.dup);
	/* Closed right after sending the 1st PUBACK to pub. */
	rule(&t, "close b2c:PUBACK#1 when=after");
	tc_publish(&pub, "t", "c", 1, false, 3);
	tc_expect(&pub, MQTT_PUBACK);
	CU_ASSERT_TRUE(tc_closing(&pub));
	tc_close(&pub);
	tc_close(&sub);
	tb_free(&t);
}

static void stop_reading(void)
{
	struct tbroker t;
	struct tclient a;
	tb_new(&t, NULL);
	tc_connect(&a, &t, "a", true, false);
	rule(&t, "stop-reading PUBLISH#1");
	uint8_t two[] = {0x30, 0x03, 0x00, 0x01, 't', 0x30, 0x03, 0x00, 0x01, 't'};
	tc_send_bytes(&a, two, sizeof two);
	CU_ASSERT_EQUAL(a.consumed, 5);
	CU_ASSERT_FALSE(mqtt_bconn_wants_read(a.c));
	CU_ASSERT_FALSE(tc_closing(&a));
	tc_close(&a);
	/* Immediate form. */
	tc_connect(&a, &t, "a", true, false);
	CU_ASSERT_EQUAL(mqtt_broker_stop_reading(t.b, "a"), 0);
	CU_ASSERT_FALSE(mqtt_bconn_wants_read(a.c));
	CU_ASSERT_EQUAL(mqtt_broker_stop_reading(t.b, "nobody"), -1);
	tc_close(&a);
	tb_free(&t);
}

static void bad_broker_duplicates_and_loses(void)
{
	struct tbroker t;
	struct tclient pub, sub;
	tb_new(&t, NULL);
	tc_connect(&sub, &t, "sub", true, false);
	tc_subscribe(&sub, "t", 2, 1, 2);
	tc_connect(&pub, &t, "pub", true, false);
	rule(&t, "deliver-twice PUBLISH#1 client=sub");
	rule(&t, "drop PUBLISH#2 client=sub");
	tc_publish(&pub, "t", "1", 2, false, 1);
	tc_publish(&pub, "t", "2", 2, false, 2);
	tc_publish(&pub, "t", "3", 2, false, 3);
	for (int i = 0; i < 3; i++)
		tc_expect(&pub, MQTT_PUBREC); /* the publisher sees nothing wrong */
	struct mqtt_packet x = tc_expect_publish(&sub, "t", "1", 2);
	struct mqtt_packet y = tc_expect_publish(&sub, "t", "1", 2);
	CU_ASSERT(x.publish.packet_id != y.publish.packet_id); /* a new message, not a resend */
	CU_ASSERT_FALSE(y.publish.dup);
	tc_expect_publish(&sub, "t", "3", 2);
	CU_ASSERT_TRUE(tc_quiet(&sub));
	struct mqtt_broker_stats st;
	mqtt_broker_stats(t.b, &st);
	CU_ASSERT_EQUAL(st.messages_dropped, 1);
	tc_close(&pub);
	tc_close(&sub);
	tb_free(&t);
}

static void refuse_subscribe(void)
{
	struct tbroker t;
	struct tclient a;
	tb_new(&t, NULL);
	rule(&t, "refuse-subscribe secret/#");
	tc_connect(&a, &t, "a", true, false);
	tc_subscribe(&a, "secret/#", 1, 1, MQTT_SUBACK_FAILURE);
	tc_subscribe(&a, "secret/#", 1, 2, MQTT_SUBACK_FAILURE); /* always */
	tc_subscribe(&a, "public/#", 1, 3, 1);
	tc_close(&a);
	tb_free(&t);
}

static void immediate_actions(void)
{
	struct tbroker t;
	struct tclient a;
	tb_new(&t, NULL);
	tc_connect(&a, &t, "a", true, false);
	const uint8_t raw[] = {0xd0, 0x00, 0xf0, 0x00}; /* PINGRESP, then reserved type 15 */
	CU_ASSERT_EQUAL(mqtt_broker_send_raw(t.b, "a", raw, sizeof raw), 0);
	const uint8_t *out;
	size_t n = mqtt_broker_output(t.b, a.c, &out);
	CU_ASSERT_EQUAL_FATAL(n, sizeof raw);
	CU_ASSERT(memcmp(out, raw, n) == 0);
	mqtt_broker_wrote(t.b, a.c, n);
	CU_ASSERT_EQUAL(mqtt_broker_kick(t.b, "a"), 0);
	CU_ASSERT_TRUE(tc_closing(&a));
	CU_ASSERT_EQUAL(mqtt_broker_kick(t.b, "a"), -1); /* gone: a clean session */
	tc_close(&a);
	tb_free(&t);
}

static void rule_errors(void)
{
	struct tbroker t;
	tb_new(&t, NULL);
	const struct {
		const char *text, *err;
	} bad[] = {
		{"", "empty rule"},
		{"explode PUBACK", "column 1: unknown action"},
		{"withhold", "column 9: withhold needs an argument"},
		{"withhold PUBAK", "column 10: expected a packet type"},
		{"withhold c2b:PUBLISH", "b2c"},
		{"withhold b2c:CONNECT", "never sends CONNECT"},
		{"close c2b:CONNACK", "clients never send CONNACK"},
		{"delay PUBACK", "ms=N"},
		{"delay PUBACK ms=x", "column 14: ms="},
		{"withhold PUBACK ms=5", "delay only"},
		{"refuse 6", "column 8: expected a CONNACK refusal code"},
		{"refuse-subscribe a/#/b", "valid topic filter"},
		{"drop b2c:PUBACK", "PUBLISH only"},
		{"close PUBACK when=later", "before or after"},
		{"withhold PUBACK colour=red", "column 17: unknown key"},
		{"withhold PUBACK count=0", "count="},
		{"withhold PUBACK client=", "client="},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[256] = "";
		CU_ASSERT_EQUAL(mqtt_broker_rule(t.b, bad[i].text, err, sizeof err), -1);
		if (!strstr(err, bad[i].err))
			fprintf(stderr, "\n'%s': got '%s', expected '%s'\n", bad[i].text, err, bad[i].err);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].err));
	}
	/* Good rules print back in their own syntax. */
	rule(&t, "refuse 5 client=x count=2");
	rule(&t, "delay b2c:PUBACK#2+ ms=50");
	rule(&t, "close PUBREC#3 when=after client=y");
	rule(&t, "refuse-subscribe a/+");
	char buf[512];
	mqtt_broker_rules_format(t.b, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "1: refuse 5 client=x count=2\n"
	                            "2: delay b2c:PUBACK#2+ ms=50\n"
	                            "3: close PUBREC#3 client=y when=after\n"
	                            "4: refuse-subscribe a/+\n");
	CU_ASSERT_EQUAL(mqtt_broker_rule_remove(t.b, 2), 0);
	CU_ASSERT_EQUAL(mqtt_broker_rule_remove(t.b, 2), -1);
	tb_free(&t);
}

static void recording(void)
{
	struct mqtt_broker_config cfg = {.record = true, .record_max = 4};
	struct tbroker t;
	struct tclient a;
	tb_new(&t, &cfg);
	tc_connect(&a, &t, "rec", true, false);
	struct mqtt_broker_record r[8];
	size_t n = mqtt_broker_records(t.b, 0, r, 8);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(r[0].seq, 1);
	CU_ASSERT_EQUAL(r[0].dir, MQTT_C2B);
	CU_ASSERT_EQUAL(r[0].type, MQTT_CONNECT);
	CU_ASSERT_STRING_EQUAL(r[0].client_id, ""); /* before it was accepted */
	CU_ASSERT_EQUAL(r[0].conn, mqtt_bconn_id(a.c));
	CU_ASSERT_EQUAL(r[0].time, t.now);
	CU_ASSERT_EQUAL(r[1].dir, MQTT_B2C);
	CU_ASSERT_EQUAL(r[1].type, MQTT_CONNACK);
	CU_ASSERT_STRING_EQUAL(r[1].client_id, "rec");
	CU_ASSERT_EQUAL(r[1].len, 4);
	CU_ASSERT(memcmp(r[1].bytes, "\x20\x02\x00\x00", 4) == 0);
	t.now += 5;
	tc_publish(&a, "t", "m", 1, false, 1);
	tc_expect(&a, MQTT_PUBACK);
	n = mqtt_broker_records(t.b, 2, r, 8);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(r[0].type, MQTT_PUBLISH);
	CU_ASSERT_EQUAL(r[1].type, MQTT_PUBACK);
	CU_ASSERT_EQUAL(r[1].seq, 4);
	CU_ASSERT_EQUAL(r[1].time, t.now);
	/* The ring keeps the newest four. */
	struct mqtt_packet ping = {.type = MQTT_PINGREQ};
	tc_send(&a, &ping);
	tc_expect(&a, MQTT_PINGRESP);
	n = mqtt_broker_records(t.b, 0, r, 8);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	CU_ASSERT_EQUAL(r[0].seq, 3);
	CU_ASSERT_EQUAL(r[3].seq, 6);
	CU_ASSERT_EQUAL(mqtt_broker_records(t.b, 6, r, 8), 0);
	CU_ASSERT_EQUAL(mqtt_broker_records(t.b, 5, r, 1), 1);
	CU_ASSERT_EQUAL(r[0].type, MQTT_PINGRESP);
	tc_close(&a);
	tb_free(&t);
}

/* A connection closed by a rule at its CONNACK, with messages queued for
 * its session: before, the session was resumed on the connection gone
 * and the broker crashed (found by mqttsim explore). */
static void close_at_connack_with_queue(void)
{
	struct tbroker t;
	struct tclient pub, sub;
	tb_new(&t, NULL);
	tc_connect(&sub, &t, "sub", false, false);
	tc_subscribe(&sub, "t", 1, 1, 1);
	tc_connect(&pub, &t, "pub", true, false);
	tc_publish(&pub, "t", "queued", 1, false, 1);
	tc_expect(&pub, MQTT_PUBACK);
	tc_expect_publish(&sub, "t", "queued", 1); /* in flight, never acknowledged */
	tc_close(&sub);
	rule(&t, "close b2c:CONNACK#1 client=sub");
	struct mqtt_connect cp = connect_packet("sub", false);
	CU_ASSERT_EQUAL(tc_connect_with(&sub, &t, &cp), -1); /* closed instead of the CONNACK */
	CU_ASSERT_TRUE(tc_closing(&sub));
	tc_close(&sub);
	tc_connect(&sub, &t, "sub", false, true); /* the session and its queue are still there */
	CU_ASSERT_TRUE(tc_expect_publish(&sub, "t", "queued", 1).publish.dup);
	tc_close(&sub);
	tc_close(&pub);
	tb_free(&t);
}

/* A rule closes the connection as its SUBACK goes, while a retained
 * message matches the filter, or as the CONNACK of a clean session goes:
 * before, the broker used the session the close had ended (a crash for
 * the first, a use after free for both; found by mqttsim explore). */
static void close_at_suback_with_retained(void)
{
	struct tbroker t;
	struct tclient pub, sub;
	tb_new(&t, NULL);
	tc_connect(&pub, &t, "pub", true, false);
	tc_publish(&pub, "t", "kept", 1, true, 1);
	tc_expect(&pub, MQTT_PUBACK);
	for (int clean = 0; clean < 2; clean++) {
		rule(&t, "close b2c:SUBACK#1 client=sub when=after");
		tc_connect(&sub, &t, "sub", clean, false);
		tc_subscribe(&sub, "t", 1, 1, 1);
		CU_ASSERT_TRUE(tc_closing(&sub));
		tc_close(&sub);
		/* A persistent session kept the subscription its SUBACK told of,
		 * and the retained copy waited in it: it comes on the next
		 * connection, unasked (explore seed 1559777 found it never came).
		 * A clean one is asked again, and the retained one comes. */
		tc_connect(&sub, &t, "sub", false, !clean);
		if (clean)
			tc_subscribe(&sub, "t", 1, 2, 1); /* (it took the SUBACK) */
		struct mqtt_packet got;
		bool kept = false;
		while (tc_take(&sub, &got))
			kept |= got.type == MQTT_PUBLISH && got.publish.retain &&
			        got.publish.payload.len == 4 && !memcmp(got.publish.payload.data, "kept", 4);
		CU_ASSERT_TRUE(kept);
		tc_close(&sub);
		struct mqtt_connect cp = connect_packet("sub", true); /* clean it for the next round */
		CU_ASSERT_EQUAL(tc_connect_with(&sub, &t, &cp), 0);
		tc_close(&sub);
	}
	rule(&t, "close b2c:CONNACK#1 client=sub");
	struct mqtt_connect cp = connect_packet("sub", true);
	CU_ASSERT_EQUAL(tc_connect_with(&sub, &t, &cp), -1);
	tc_close(&sub);
	tc_close(&pub);
	tb_free(&t);
}

const struct test_def broker_script_tests[] = {
	{"close at SUBACK with a retained message, at a clean CONNACK", close_at_suback_with_retained},
	{"close at CONNACK with messages queued", close_at_connack_with_queue},
	{"refuse connects", refuse_connects},
	{"a connection closed while a message is routed", close_while_routing},
	{"withhold the second PUBACK", withhold_second_puback},
	{"delay, duplicate, reorder", delay_duplicate_reorder},
	{"close at packets", close_at_packets},
	{"stop reading", stop_reading},
	{"a bad broker duplicates and loses", bad_broker_duplicates_and_loses},
	{"refuse a subscription", refuse_subscribe},
	{"immediate actions", immediate_actions},
	{"rule errors and formatting", rule_errors},
	{"recording", recording},
	{NULL, NULL},
};
