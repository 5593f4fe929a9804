/*
 * The session core, driven packet by packet as the broker would, with
 * the time handed in: connect, publish at each QoS, windows, resends,
 * inbound acknowledgement and deduplication, keep-alive, timeouts,
 * backoff, subscriptions, violations, disconnect.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "session_testutil.h"
#include "testing/suites.h"

static struct mqtt_slice S(const char *s)
{
	return mqtt_slice_str(s);
}

static struct mqtt_error publish(struct harness *h, uint8_t qos, const char *topic,
                                 const char *payload, uint16_t *id)
{
	return mqtt_session_publish(h->s, h->now, qos, false, S(topic), S(payload), id);
}

static void test_connect_fields(void)
{
	struct mqtt_session_config c = test_config();
	c.keep_alive = 30;
	c.has_username = c.has_password = true;
	c.username = S("user");
	c.password = S("secret");
	c.will = true;
	c.will_topic = S("status/test");
	c.will_message = S("gone");
	c.will_qos = 1;
	c.will_retain = true;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	CU_ASSERT_EQUAL(mqtt_session_state(h.s), MQTT_STATE_OFFLINE);
	CU_ASSERT(mqtt_session_should_dial(h.s, h.now)); /* the first dial is immediate */
	mqtt_session_connected(h.s, h.now);
	struct mqtt_packet p = expect(&h, MQTT_CONNECT);
	CU_ASSERT(p.connect.clean_session);
	CU_ASSERT_EQUAL(p.connect.keep_alive, 30);
	CU_ASSERT(p.connect.client_id.len == 4 && !memcmp(p.connect.client_id.data, "test", 4));
	CU_ASSERT(p.connect.has_username && p.connect.has_password);
	CU_ASSERT(p.connect.will && p.connect.will_qos == 1 && p.connect.will_retain);
	feed_connack(&h, 0, true);
	struct mqtt_event ev = expect_event(&h, MQTT_EVENT_ONLINE);
	CU_ASSERT(ev.session_present);
	/* A reconnect never cleans the session (as the seed). */
	cut(&h);
	expect_event(&h, MQTT_EVENT_OFFLINE);
	h.now = mqtt_session_dial_at(h.s);
	mqtt_session_connected(h.s, h.now);
	p = expect(&h, MQTT_CONNECT);
	CU_ASSERT_FALSE(p.connect.clean_session);
	harness_free(&h);
}

/* A password without a user name is sent with an empty user name, as
 * the seed does (3.1.1 has no password flag without the user name flag). */
static void test_password_without_user_name(void)
{
	struct mqtt_session_config c = test_config();
	c.has_password = true;
	c.password = S("secret");
	c.username = S("ignored"); /* has_username is false: no name */
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	mqtt_session_connected(h.s, h.now);
	struct mqtt_packet p = expect(&h, MQTT_CONNECT);
	CU_ASSERT(p.connect.has_username);
	CU_ASSERT_EQUAL(p.connect.username.len, 0);
	CU_ASSERT(p.connect.has_password);
	CU_ASSERT(p.connect.password.len == 6 && !memcmp(p.connect.password.data, "secret", 6));
	harness_free(&h);
}

static void test_invalid_configuration(void)
{
	struct mqtt_session *s = NULL;
	struct mqtt_session_config c = test_config();
	c.client_id = S("bad\xff");
	CU_ASSERT_EQUAL(mqtt_session_new(&s, &c, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls, MQTT_DENY);
	c = test_config();
	c.client_id = S("");
	c.clean_session = false; /* MQTT-3.1.3-7 */
	CU_ASSERT_EQUAL(mqtt_session_new(&s, &c, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls, MQTT_DENY);
	c = test_config();
	c.will = true;
	c.will_topic = S("a/#");
	CU_ASSERT_EQUAL(mqtt_session_new(&s, &c, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls, MQTT_DENY);
	CU_ASSERT_PTR_NULL(s);
	c = test_config();
	CU_ASSERT_EQUAL(mqtt_session_new(&s, &c, MQTT_SESSION_INIT, NULL, NULL, NULL).cls, MQTT_DENY);
}

static void test_refused_waits_the_maximum(void)
{
	struct mqtt_session_config c = test_config();
	c.reconnect_wait_max_ms = 30000;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	mqtt_session_connected(h.s, h.now);
	expect(&h, MQTT_CONNECT);
	feed_connack(&h, MQTT_CONNACK_BAD_CREDENTIALS, false);
	CU_ASSERT_EQUAL(h.last.cls, MQTT_REFUSED);
	CU_ASSERT_EQUAL(h.last.code, 4);
	struct mqtt_event ev = expect_event(&h, MQTT_EVENT_REFUSED);
	CU_ASSERT_EQUAL(ev.err.code, 4);
	CU_ASSERT(mqtt_session_should_close(h.s));
	mqtt_session_lost(h.s, h.now, h.last);
	CU_ASSERT_EQUAL(mqtt_session_dial_at(h.s), h.now + 30000);
	CU_ASSERT_FALSE(mqtt_session_should_dial(h.s, h.now + 29999));
	CU_ASSERT(mqtt_session_should_dial(h.s, h.now + 30000));
	/* Only that refusal: the next failed dial waits the backoff again. */
	h.now += 30000;
	mqtt_session_lost(h.s, h.now, (struct mqtt_error){MQTT_IO, ECONNREFUSED});
	CU_ASSERT(mqtt_session_dial_at(h.s) - h.now < 30000);
	harness_free(&h);
}

static void test_backoff_doubles_and_resets(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	static const uint64_t waits[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
	struct mqtt_error refused = {MQTT_IO, ECONNREFUSED};
	for (size_t i = 0; i < 8; i++) {
		CU_ASSERT(mqtt_session_should_dial(h.s, h.now));
		mqtt_session_lost(h.s, h.now, refused); /* the dial failed */
		CU_ASSERT_EQUAL(mqtt_session_dial_at(h.s) - h.now, waits[i]);
		h.now = mqtt_session_dial_at(h.s);
	}
	go_online(&h); /* success resets the backoff */
	cut(&h);
	CU_ASSERT_EQUAL(mqtt_session_dial_at(h.s) - h.now, 1000);
	harness_free(&h);
}

static uint64_t fixed_random(void *arg)
{
	return (*(uint64_t *)arg)++ * 7919;
}

static void test_backoff_jitter(void)
{
	struct mqtt_session_config c = test_config();
	uint64_t state = 1;
	c.random = fixed_random;
	c.random_arg = &state;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	uint64_t base = 1000;
	struct mqtt_error e = {MQTT_IO, ECONNREFUSED};
	for (int i = 0; i < 10; i++) {
		mqtt_session_lost(h.s, h.now, e);
		uint64_t wait = mqtt_session_dial_at(h.s) - h.now;
		CU_ASSERT(wait >= base / 2 && wait <= base);
		h.now = mqtt_session_dial_at(h.s);
		base = base * 2 > 60000 ? 60000 : base * 2;
	}
	harness_free(&h);
}

static void test_publish_qos0(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	CU_ASSERT_EQUAL(publish(&h, 0, "t", "x", NULL).cls, MQTT_DOWN);
	go_online(&h);
	CU_ASSERT_EQUAL(publish(&h, 0, "a/b", "hello", NULL).cls, MQTT_SUCCESS);
	struct mqtt_packet p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT_EQUAL(p.publish.qos, 0);
	CU_ASSERT(p.publish.payload.len == 5 && !memcmp(p.publish.payload.data, "hello", 5));
	CU_ASSERT_EQUAL(mqtt_session_inflight(h.s), 0);
	/* Deny: nothing sent. */
	CU_ASSERT_EQUAL(publish(&h, 0, "a/+", "x", NULL).cls, MQTT_DENY);
	CU_ASSERT_EQUAL(publish(&h, 0, "", "x", NULL).cls, MQTT_DENY);
	CU_ASSERT_EQUAL(publish(&h, 3, "t", "x", NULL).cls, MQTT_DENY);
	CU_ASSERT_EQUAL(publish(&h, 1, "bad\xc0", "x", NULL).cls, MQTT_DENY);
	CU_ASSERT(quiet(&h));
	CU_ASSERT_EQUAL(mqtt_session_inflight(h.s), 0);
	harness_free(&h);
}

static void test_publish_qos1(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	uint16_t id = 0;
	CU_ASSERT_EQUAL(publish(&h, 1, "q/1", "one", &id).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(id & 0xc000, MQTT_SPACE_AT_LEAST_ONCE);
	struct mqtt_packet p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT_EQUAL(p.publish.qos, 1);
	CU_ASSERT_EQUAL(p.publish.packet_id, id);
	CU_ASSERT_FALSE(p.publish.dup);
	CU_ASSERT_EQUAL(mqtt_session_inflight(h.s), 1);
	feed_ack(&h, MQTT_PUBACK, id);
	CU_ASSERT_EQUAL(h.last.cls, MQTT_SUCCESS);
	struct mqtt_event ev = expect_event(&h, MQTT_EVENT_PUBLISHED);
	CU_ASSERT_EQUAL(ev.id, id);
	CU_ASSERT_EQUAL(mqtt_session_inflight(h.s), 0);
	/* The same ack again names no request: a violation. */
	feed_ack(&h, MQTT_PUBACK, id);
	CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
	CU_ASSERT_EQUAL(h.last.code, MQTT_V_UNKNOWN_PACKET_ID);
	CU_ASSERT(mqtt_session_should_close(h.s));
	harness_free(&h);
}

static void test_publish_qos2(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	uint16_t id = 0;
	CU_ASSERT_EQUAL(publish(&h, 2, "q/2", "two", &id).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(id & 0xc000, MQTT_SPACE_EXACTLY_ONCE);
	struct mqtt_packet p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT_EQUAL(p.publish.qos, 2);
	/* PUBCOMP before PUBREC is out of order. */
	feed_ack(&h, MQTT_PUBREC, id);
	CU_ASSERT_EQUAL(h.last.cls, MQTT_SUCCESS);
	p = expect(&h, MQTT_PUBREL);
	CU_ASSERT_EQUAL(p.ack.packet_id, id);
	expect_event(&h, MQTT_EVENT_RELEASED);
	feed_ack(&h, MQTT_PUBREC, id); /* repeated: PUBREL repeated */
	expect(&h, MQTT_PUBREL);
	feed_ack(&h, MQTT_PUBCOMP, id);
	struct mqtt_event ev = expect_event(&h, MQTT_EVENT_PUBLISHED);
	CU_ASSERT_EQUAL(ev.id, id);
	CU_ASSERT_EQUAL(mqtt_session_inflight(h.s), 0);
	harness_free(&h);
}

static void test_acks_in_the_wrong_space(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	uint16_t id1, id2;
	publish(&h, 1, "t", "1", &id1);
	publish(&h, 2, "t", "2", &id2);
	feed_ack(&h, MQTT_PUBACK, id2); /* a QoS 2 exchange acked as QoS 1 */
	CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
	harness_free(&h);

	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	publish(&h, 2, "t", "2", &id2);
	feed_ack(&h, MQTT_PUBCOMP, id2); /* completion before release */
	CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
	harness_free(&h);

	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	publish(&h, 1, "t", "1", &id1);
	feed_ack(&h, MQTT_PUBREC, id1); /* QoS 1 exchange released */
	CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
	harness_free(&h);
}

static void test_windows(void)
{
	struct mqtt_session_config c = test_config();
	c.at_least_once_max = 2;
	c.exactly_once_max = 0; /* disabled */
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	uint16_t a, b;
	CU_ASSERT_EQUAL(publish(&h, 1, "t", "1", &a).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(publish(&h, 1, "t", "2", &b).cls, MQTT_SUCCESS);
	CU_ASSERT_NOT_EQUAL(a, b);
	CU_ASSERT_EQUAL(publish(&h, 1, "t", "3", NULL).cls, MQTT_MAX);
	CU_ASSERT_EQUAL(publish(&h, 2, "t", "x", NULL).cls, MQTT_MAX);
	expect(&h, MQTT_PUBLISH);
	expect(&h, MQTT_PUBLISH);
	CU_ASSERT(quiet(&h));
	feed_ack(&h, MQTT_PUBACK, a);
	CU_ASSERT_EQUAL(publish(&h, 1, "t", "3", NULL).cls, MQTT_SUCCESS);
	harness_free(&h);
}

/* Unacknowledged messages are resent on reconnect, in order, with DUP;
 * released QoS 2 exchanges resend PUBREL, in PUBREC order. */
static void test_resend_after_reconnect(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	uint16_t q1a, q2, q1b;
	publish(&h, 1, "t", "first", &q1a);
	publish(&h, 2, "t", "second", &q2);
	publish(&h, 1, "t", "third", &q1b);
	for (int i = 0; i < 3; i++)
		expect(&h, MQTT_PUBLISH);
	feed_ack(&h, MQTT_PUBREC, q2);
	expect(&h, MQTT_PUBREL);
	cut(&h);
	expect_event(&h, MQTT_EVENT_RELEASED);
	expect_event(&h, MQTT_EVENT_OFFLINE);
	/* Offline, QoS 1 and 2 are still accepted: they go after the resends,
	 * and without DUP, for they were never sent. */
	uint16_t q1c;
	CU_ASSERT_EQUAL(publish(&h, 1, "t", "fourth", &q1c).cls, MQTT_SUCCESS);
	h.now = mqtt_session_dial_at(h.s);
	go_online(&h);
	struct mqtt_packet p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT(p.publish.dup && p.publish.packet_id == q1a);
	p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT(p.publish.dup && p.publish.packet_id == q1b);
	p = expect(&h, MQTT_PUBREL);
	CU_ASSERT_EQUAL(p.ack.packet_id, q2);
	p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT(!p.publish.dup && p.publish.packet_id == q1c);
	CU_ASSERT(p.publish.payload.len == 6 && !memcmp(p.publish.payload.data, "fourth", 6));
	CU_ASSERT(quiet(&h));
	CU_ASSERT_EQUAL(mqtt_session_inflight(h.s), 4);
	harness_free(&h);
}

/* After a cut: reconnects, and the written PUBLISH comes again with DUP,
 * the unwritten one without [MQTT-3.3.1-1]. */
static void resent_after_cut(struct harness *h, uint16_t written, uint16_t unwritten)
{
	expect_event(h, MQTT_EVENT_OFFLINE);
	h->now = mqtt_session_dial_at(h->s);
	go_online(h);
	struct mqtt_packet p = expect(h, MQTT_PUBLISH);
	CU_ASSERT(p.publish.packet_id == written && p.publish.dup);
	p = expect(h, MQTT_PUBLISH);
	CU_ASSERT(p.publish.packet_id == unwritten && !p.publish.dup);
}

/* A PUBLISH queued on a connection that broke before a byte of it was
 * written was never on the wire: its next send is a first one, DUP clear
 * [MQTT-3.3.1-1]. (It used to carry DUP; the scenario oracle's dup-flag
 * invariant found it.) One that was written, even once, keeps DUP. */
static void test_unwritten_publish_resent_without_dup(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	uint16_t written, unwritten;
	publish(&h, 1, "t", "written", &written);
	expect(&h, MQTT_PUBLISH); /* taken: written to the transport */
	publish(&h, 1, "t", "never", &unwritten);
	cut(&h); /* before the second one was written */
	resent_after_cut(&h, written, unwritten);
	/* Cut again, now that both were written: both carry DUP from here on. */
	cut(&h);
	expect_event(&h, MQTT_EVENT_OFFLINE);
	h.now = mqtt_session_dial_at(h.s);
	go_online(&h);
	struct mqtt_packet p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT(p.publish.packet_id == written && p.publish.dup);
	p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT(p.publish.packet_id == unwritten && p.publish.dup);
	harness_free(&h);
}

static void test_inbound_ack_after_next_read(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = 1;
	m.publish.packet_id = 77;
	m.publish.topic = S("in/1");
	m.publish.payload = S("payload");
	CU_ASSERT(feed(&h, &m));
	CU_ASSERT(h.msg.topic.len == 4 && !memcmp(h.msg.topic.data, "in/1", 4));
	CU_ASSERT_EQUAL(h.msg.qos, 1);
	CU_ASSERT(quiet(&h)); /* not acknowledged until the application reads on */
	CU_ASSERT_FALSE(feed_bytes(&h, NULL, 0));
	struct mqtt_packet p = expect(&h, MQTT_PUBACK);
	CU_ASSERT_EQUAL(p.ack.packet_id, 77);
	/* QoS 0: nothing to acknowledge. */
	m.publish.qos = 0;
	CU_ASSERT(feed(&h, &m));
	feed_bytes(&h, NULL, 0);
	CU_ASSERT(quiet(&h));
	harness_free(&h);
}

static void test_inbound_exactly_once(void)
{
	struct mqtt_session_config c = test_config();
	c.clean_session = false; /* a clean session's identifiers end with its connection */
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = 2;
	m.publish.packet_id = 9;
	m.publish.topic = S("in/2");
	m.publish.payload = S("once");
	CU_ASSERT(feed(&h, &m));
	CU_ASSERT(quiet(&h));
	/* The broker resends before our PUBREC: not delivered again. */
	m.publish.dup = true;
	CU_ASSERT_FALSE(feed(&h, &m)); /* also acknowledges the first */
	struct mqtt_packet p = expect(&h, MQTT_PUBREC);
	CU_ASSERT_EQUAL(p.ack.packet_id, 9);
	p = expect(&h, MQTT_PUBREC);
	CU_ASSERT_EQUAL(p.ack.packet_id, 9);
	/* Across a reconnect to the session too. */
	cut(&h);
	expect_event(&h, MQTT_EVENT_OFFLINE);
	h.now = mqtt_session_dial_at(h.s);
	go_online_with(&h, true);
	CU_ASSERT_FALSE(feed(&h, &m));
	expect(&h, MQTT_PUBREC);
	feed_ack(&h, MQTT_PUBREL, 9);
	p = expect(&h, MQTT_PUBCOMP);
	CU_ASSERT_EQUAL(p.ack.packet_id, 9);
	/* Released: the identifier may carry a new message. */
	m.publish.dup = false;
	m.publish.payload = S("new");
	CU_ASSERT(feed(&h, &m));
	/* A PUBREL for an identifier not held is still completed. */
	feed_ack(&h, MQTT_PUBREL, 1234);
	expect(&h, MQTT_PUBREC); /* the ack of "new", flushed by this call */
	expect(&h, MQTT_PUBCOMP);
	harness_free(&h);
}

/* A broker without the session (Session Present 0) will never release
 * what the client held for it, and may send new messages under those
 * identifiers: they are forgotten, in the store too (they were taken for
 * duplicates and lost; mqttsim explore, seed 126119). */
/* A session not clean, on a memory store, online. */
static void stored_online(struct harness *h, struct mqtt_store *st)
{
	CU_ASSERT_EQUAL_FATAL(mqtt_store_mem(st), 0);
	struct mqtt_session_config c = test_config();
	c.clean_session = false;
	harness_new(h, &c, MQTT_SESSION_INIT, st);
	go_online(h);
}

static int count_one(void *arg, uint32_t key)
{
	(void)key;
	++*(size_t *)arg;
	return 0;
}

static size_t records(struct mqtt_store *st)
{
	size_t n = 0;
	st->ops->list(st->self, count_one, &n);
	return n;
}

static void test_inbound_forgotten_without_session(void)
{
	struct mqtt_store st;
	struct harness h;
	stored_online(&h, &st);
	size_t base = records(&st); /* the client identifier */
	struct mqtt_packet m = inbound_publish(2, 1, "in/2", "old");
	CU_ASSERT(feed(&h, &m));
	CU_ASSERT_EQUAL(records(&st), base + 1);
	feed_bytes(&h, NULL, 0);
	expect(&h, MQTT_PUBREC); /* its PUBREL is lost with the connection */
	cut(&h);
	expect_event(&h, MQTT_EVENT_OFFLINE);
	h.now = mqtt_session_dial_at(h.s);
	go_online_with(&h, false);
	CU_ASSERT_EQUAL(records(&st), base); /* forgotten in the store too */
	m.publish.payload = S("new");
	CU_ASSERT(feed(&h, &m)); /* a new message, delivered */
	CU_ASSERT(h.msg.payload.len == 3 && !memcmp(h.msg.payload.data, "new", 3));
	feed_bytes(&h, NULL, 0);
	expect(&h, MQTT_PUBREC);
	harness_free(&h);
	mqtt_store_close(&st);
}

/* A clean session ends with its connection [MQTT-3.1.2-6]: what it held
 * is not reused, even when the next CONNACK says a session is present
 * (one the broker began on a connection whose CONNACK was lost; mqttsim
 * explore, seed 245676). */
static void test_clean_session_identifiers_end_with_it(void)
{
	struct mqtt_session_config c = test_config();
	c.clean_session = true;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	struct mqtt_packet m = inbound_publish(2, 1, "in/2", "old");
	CU_ASSERT(feed(&h, &m));
	feed_bytes(&h, NULL, 0);
	expect(&h, MQTT_PUBREC);
	cut(&h);
	expect_event(&h, MQTT_EVENT_OFFLINE);
	h.now = mqtt_session_dial_at(h.s);
	go_online_with(&h, true);
	m.publish.payload = S("new");
	CU_ASSERT(feed(&h, &m)); /* a new message, delivered */
	harness_free(&h);
}

static void test_keep_alive(void)
{
	struct mqtt_session_config c = test_config();
	c.keep_alive = 10;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	uint64_t deadline = mqtt_session_tick(h.s, h.now);
	CU_ASSERT_EQUAL(deadline, h.now + 10000);
	h.now += 5000;
	publish(&h, 0, "t", "x", NULL); /* activity pushes the ping back */
	expect(&h, MQTT_PUBLISH);
	CU_ASSERT_EQUAL(mqtt_session_tick(h.s, h.now), h.now + 10000);
	h.now += 10000;
	deadline = mqtt_session_tick(h.s, h.now);
	expect(&h, MQTT_PINGREQ);
	feed(&h, &(struct mqtt_packet){.type = MQTT_PINGRESP});
	CU_ASSERT_EQUAL(h.last.cls, MQTT_SUCCESS);
	CU_ASSERT(no_event(&h)); /* our own ping: no event */
	/* Unanswered: the connection is given up after one more period. */
	h.now += 10000;
	mqtt_session_tick(h.s, h.now);
	expect(&h, MQTT_PINGREQ);
	CU_ASSERT_FALSE(mqtt_session_should_close(h.s));
	h.now += 10000;
	mqtt_session_tick(h.s, h.now);
	CU_ASSERT(mqtt_session_should_close(h.s));
	harness_free(&h);
}

static void test_user_ping(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	CU_ASSERT_EQUAL(mqtt_session_ping(h.s, h.now).cls, MQTT_DOWN);
	go_online(&h);
	CU_ASSERT_EQUAL(mqtt_session_ping(h.s, h.now).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(mqtt_session_ping(h.s, h.now).cls, MQTT_MAX); /* one slot */
	expect(&h, MQTT_PINGREQ);
	feed(&h, &(struct mqtt_packet){.type = MQTT_PINGRESP});
	expect_event(&h, MQTT_EVENT_PONG);
	feed(&h, &(struct mqtt_packet){.type = MQTT_PINGRESP});
	CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
	CU_ASSERT_EQUAL(h.last.code, MQTT_V_UNEXPECTED_PINGRESP);
	harness_free(&h);

	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	mqtt_session_ping(h.s, h.now);
	cut(&h);
	struct mqtt_event ev = expect_event(&h, MQTT_EVENT_FAILED);
	CU_ASSERT_EQUAL(ev.err.cls, MQTT_BREAK);
	harness_free(&h);
}

static bool stored(struct mqtt_store *st, uint32_t key)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int rc = st->ops->load(st->self, key, &v, &n);
	bool there = rc == 0 && v != NULL;
	free(v);
	return there;
}

/*
 * The read after a message acknowledges it and takes no input: the
 * PUBREC goes out before the next QoS 2 identifier is saved. Before, a
 * process killed while writing that PUBREC had saved the next message's
 * identifier without handing the message over, and refused it as a
 * duplicate when the broker sent it again: lost.
 */
static void test_ack_leaves_before_next_input(void)
{
	struct mqtt_store st;
	struct harness h;
	stored_online(&h, &st);
	uint8_t buf[128];
	size_t n1, n2;
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = 2;
	m.publish.topic = S("in/2");
	m.publish.packet_id = 1;
	m.publish.payload = S("one");
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf, sizeof buf, &m, 0, &n1), MQTT_OK);
	m.publish.packet_id = 2;
	m.publish.payload = S("two");
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf + n1, sizeof buf - n1, &m, 0, &n2), MQTT_OK);
	size_t used;
	struct mqtt_message msg;
	CU_ASSERT_EQUAL(mqtt_session_receive(h.s, h.now, buf, n1 + n2, &used, &msg).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(used, n1);
	CU_ASSERT_PTR_NOT_NULL(msg.topic.data);
	CU_ASSERT(stored(&st, MQTT_KEY_INBOUND | 1));
	/* The next read: the PUBREC of the first, alone. */
	CU_ASSERT_EQUAL(mqtt_session_receive(h.s, h.now, buf + n1, n2, &used, &msg).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(used, 0);
	CU_ASSERT_PTR_NULL(msg.topic.data);
	CU_ASSERT_EQUAL(expect(&h, MQTT_PUBREC).ack.packet_id, 1);
	CU_ASSERT_FALSE(stored(&st, MQTT_KEY_INBOUND | 2));
	/* Then the input. */
	CU_ASSERT_EQUAL(mqtt_session_receive(h.s, h.now, buf + n1, n2, &used, &msg).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(used, n2);
	CU_ASSERT_EQUAL(msg.payload.len, 3);
	CU_ASSERT(stored(&st, MQTT_KEY_INBOUND | 2));
	harness_free(&h);
	mqtt_store_close(&st);
}

/*
 * A PUBREL and the next QoS 2 PUBLISH in one read: the call stops before
 * the PUBLISH, so that the PUBCOMP it queued is written before that
 * message's identifier is saved. Before, a process killed while its driver
 * wrote that PUBCOMP (inside the read that returned the message) had saved
 * the identifier without handing the message over, and refused it as a
 * duplicate when the broker sent it again: lost (mqttsim's
 * crash-writing-while-reading-qos2, once the simulator delivered writes of
 * one instant in one read).
 */
static void test_qos2_publish_waits_for_what_the_read_queued(void)
{
	struct mqtt_store st;
	struct harness h;
	stored_online(&h, &st);
	uint8_t buf[128];
	size_t n1, n2, n3, used;
	struct mqtt_message msg;
	struct mqtt_packet m = inbound_publish(2, 1, "in/2", "one");
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf, sizeof buf, &m, 0, &n1), MQTT_OK);
	CU_ASSERT_EQUAL(mqtt_session_receive(h.s, h.now, buf, n1, &used, &msg).cls, MQTT_SUCCESS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(msg.topic.data);
	CU_ASSERT_EQUAL(mqtt_session_receive(h.s, h.now, NULL, 0, &used, &msg).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(expect(&h, MQTT_PUBREC).ack.packet_id, 1);
	/* Its PUBREL, then the next message, in one read. */
	struct mqtt_packet rel = {.type = MQTT_PUBREL};
	rel.ack.packet_id = 1;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf, sizeof buf, &rel, 0, &n1), MQTT_OK);
	m.publish.packet_id = 2;
	m.publish.payload = S("two");
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf + n1, sizeof buf - n1, &m, 0, &n2), MQTT_OK);
	CU_ASSERT_EQUAL(mqtt_session_receive(h.s, h.now, buf, n1 + n2, &used, &msg).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(used, n1);
	CU_ASSERT_PTR_NULL(msg.topic.data);
	CU_ASSERT_FALSE(stored(&st, MQTT_KEY_INBOUND | 2));
	CU_ASSERT_EQUAL(expect(&h, MQTT_PUBCOMP).ack.packet_id, 1);
	/* Written: now the message, whole. */
	CU_ASSERT_EQUAL(mqtt_session_receive(h.s, h.now, buf + n1, n2, &used, &msg).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(used, n2);
	CU_ASSERT_EQUAL(msg.payload.len, 3);
	CU_ASSERT(stored(&st, MQTT_KEY_INBOUND | 2));
	CU_ASSERT(quiet(&h));
	/* A QoS 1 message saves nothing: it comes in the same call as the
	 * PUBREL ahead of it. */
	CU_ASSERT_EQUAL(mqtt_session_receive(h.s, h.now, NULL, 0, &used, &msg).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(expect(&h, MQTT_PUBREC).ack.packet_id, 2);
	rel.ack.packet_id = 2;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf, sizeof buf, &rel, 0, &n1), MQTT_OK);
	m.publish.qos = 1;
	m.publish.packet_id = 3;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(buf + n1, sizeof buf - n1, &m, 0, &n3), MQTT_OK);
	CU_ASSERT_EQUAL(mqtt_session_receive(h.s, h.now, buf, n1 + n3, &used, &msg).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(used, n1 + n3);
	CU_ASSERT_PTR_NOT_NULL(msg.topic.data);
	harness_free(&h);
	mqtt_store_close(&st);
}

/*
 * A driver may call with a clock read before another thread's call that
 * it waited for (a ping sent while the reader wrote): a time before one
 * the core has seen is no time at all, not a wrapped-around eternity.
 */
static void test_time_read_before_the_last_call(void)
{
	struct mqtt_session_config c = test_config();
	c.pause_timeout_ms = 5000;
	c.ack_timeout_ms = 3000;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	uint64_t stale = h.now;
	h.now += 10;
	CU_ASSERT_EQUAL(mqtt_session_ping(h.s, h.now).cls, MQTT_SUCCESS);
	publish(&h, 1, "t", "x", NULL);
	expect(&h, MQTT_PINGREQ);
	mqtt_session_tick(h.s, stale);
	CU_ASSERT_FALSE(mqtt_session_should_close(h.s));
	expect(&h, MQTT_PUBLISH);
	mqtt_session_tick(h.s, stale);
	CU_ASSERT_FALSE(mqtt_session_should_close(h.s));
	/* Half-read input dated after the stale clock. */
	const uint8_t half[] = {0x30, 0x05, 0x00};
	size_t used = 0;
	struct mqtt_message m;
	memset(&m, 0, sizeof m);
	mqtt_session_receive(h.s, h.now, half, sizeof half, &used, &m);
	mqtt_session_tick(h.s, stale);
	CU_ASSERT_FALSE(mqtt_session_should_close(h.s));
	/* The timers still run from the times the core saw. */
	mqtt_session_tick(h.s, h.now + 2999);
	CU_ASSERT_FALSE(mqtt_session_should_close(h.s));
	mqtt_session_tick(h.s, h.now + 3000);
	CU_ASSERT(mqtt_session_should_close(h.s));
	harness_free(&h);
}

/* A link that silently loses packets still delivers, with the timeout. */
/* The core takes any millisecond clock, one that starts at 0 too (the
 * simulator's does). "Sent at 0" once read as "not sent on this
 * connection": a message queued at 0 and never written then kept DUP, and
 * one written at 0 had no acknowledgement timeout (mqttsim explore found
 * the first, seed 15366). */
static void test_clock_starting_at_zero(void)
{
	struct mqtt_session_config c = test_config();
	c.ack_timeout_ms = 3000;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	h.now = 0;
	go_online(&h);
	uint16_t written, unwritten;
	publish(&h, 1, "t", "written", &written);
	expect(&h, MQTT_PUBLISH);
	CU_ASSERT_EQUAL(mqtt_session_tick(h.s, h.now), 3000);
	mqtt_session_tick(h.s, 3000);
	CU_ASSERT(mqtt_session_should_close(h.s));
	publish(&h, 1, "t", "never", &unwritten);
	cut(&h); /* before the second one was written */
	resent_after_cut(&h, written, unwritten);
	harness_free(&h);
}

static void test_ack_timeout(void)
{
	struct mqtt_session_config c = test_config();
	c.ack_timeout_ms = 3000;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	uint16_t id;
	publish(&h, 1, "t", "lost", &id);
	expect(&h, MQTT_PUBLISH); /* ... and the link drops it */
	CU_ASSERT_EQUAL(mqtt_session_tick(h.s, h.now), h.now + 3000);
	h.now += 2999;
	mqtt_session_tick(h.s, h.now);
	CU_ASSERT_FALSE(mqtt_session_should_close(h.s));
	h.now += 1;
	mqtt_session_tick(h.s, h.now);
	CU_ASSERT(mqtt_session_should_close(h.s));
	mqtt_session_lost(h.s, h.now, (struct mqtt_error){MQTT_TIMEOUT, 0});
	struct mqtt_event ev = expect_event(&h, MQTT_EVENT_OFFLINE);
	CU_ASSERT_EQUAL(ev.err.cls, MQTT_TIMEOUT);
	h.now = mqtt_session_dial_at(h.s);
	go_online(&h);
	struct mqtt_packet p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT(p.publish.dup && p.publish.packet_id == id);
	feed_ack(&h, MQTT_PUBACK, id);
	expect_event(&h, MQTT_EVENT_PUBLISHED);
	/* Off by default: nothing times out. */
	harness_free(&h);
	c.ack_timeout_ms = 0;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	publish(&h, 1, "t", "x", NULL);
	expect(&h, MQTT_PUBLISH);
	CU_ASSERT_EQUAL(mqtt_session_tick(h.s, h.now + 3600000), UINT64_MAX);
	CU_ASSERT_FALSE(mqtt_session_should_close(h.s));
	harness_free(&h);
}

/* Ticks h ms on, one before and at the end: the session wants its
 * connection closed then, not before. */
static void closes_after(struct harness *h, uint64_t ms)
{
	h->now += ms - 1;
	mqtt_session_tick(h->s, h->now);
	CU_ASSERT_FALSE(mqtt_session_should_close(h->s));
	h->now += 1;
	mqtt_session_tick(h->s, h->now);
	CU_ASSERT(mqtt_session_should_close(h->s));
}

/* A broker that never answers CONNECT: the session gives up after ms. */
static void connack_never_comes(struct harness *h, uint64_t ms)
{
	mqtt_session_connected(h->s, h->now);
	expect(h, MQTT_CONNECT);
	CU_ASSERT_EQUAL(mqtt_session_tick(h->s, h->now), h->now + ms);
	closes_after(h, ms);
	mqtt_session_lost(h->s, h->now, (struct mqtt_error){MQTT_TIMEOUT, 0});
	expect_event(h, MQTT_EVENT_OFFLINE);
}

static void test_pause_timeout(void)
{
	struct mqtt_session_config c = test_config();
	c.pause_timeout_ms = 4000;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	connack_never_comes(&h, 4000);
	/* A peer that stops reading: output pending with no progress. */
	h.now = mqtt_session_dial_at(h.s);
	go_online(&h);
	publish(&h, 0, "t", "stuck", NULL);
	closes_after(&h, 4000);
	harness_free(&h);
}

/* No pause timeout: a CONNACK that does not come within a keep-alive
 * period ends the connection (before, the client waited for good). */
static void test_connack_awaited_one_keep_alive(void)
{
	struct mqtt_session_config c = test_config();
	c.keep_alive = 10;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	connack_never_comes(&h, 10000);
	/* Online, the wait is over: only the keep-alive's PINGREQ is due. */
	h.now = mqtt_session_dial_at(h.s);
	go_online(&h);
	h.now += 10000;
	mqtt_session_tick(h.s, h.now);
	CU_ASSERT_FALSE(mqtt_session_should_close(h.s));
	expect(&h, MQTT_PINGREQ);
	harness_free(&h);
	/* Without a keep-alive, nothing bounds the wait: as before. */
	c.keep_alive = 0;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	mqtt_session_connected(h.s, h.now);
	CU_ASSERT_EQUAL(mqtt_session_tick(h.s, h.now), UINT64_MAX);
	harness_free(&h);
}

/* A SUBACK or UNSUBACK before the session ever asked anything names no
 * request (the table of requests is made at the first one). */
static void test_answer_before_any_request(void)
{
	uint8_t types[2] = {MQTT_SUBACK, MQTT_UNSUBACK};
	for (int i = 0; i < 2; i++) {
		struct mqtt_session_config c = test_config();
		struct harness h;
		harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
		go_online(&h);
		if (types[i] == MQTT_SUBACK) {
			struct mqtt_packet ack = {.type = MQTT_SUBACK};
			ack.suback.packet_id = MQTT_SPACE_SUBSCRIBE | 1;
			ack.suback.return_codes = mqtt_slice_str("\x01");
			feed(&h, &ack);
		} else {
			feed_ack(&h, MQTT_UNSUBACK, MQTT_SPACE_UNSUBSCRIBE | 1);
		}
		CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
		CU_ASSERT_EQUAL(h.last.code, MQTT_V_UNKNOWN_PACKET_ID);
		CU_ASSERT(mqtt_session_should_close(h.s));
		harness_free(&h);
	}
}

/* An answer names its request once: a SUBACK or UNSUBACK repeated names
 * none (the identifier is free again) [MQTT-2.3.1-6]. */
static void test_answer_repeated(void)
{
	for (int i = 0; i < 2; i++) {
		struct mqtt_session_config c = test_config();
		struct harness h;
		harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
		go_online(&h);
		struct mqtt_topic f = {S("a/+"), 1};
		uint16_t id;
		struct mqtt_packet ack = {.type = MQTT_SUBACK};
		ack.suback.return_codes = mqtt_slice_str("\x01");
		for (int k = 0; k < 2; k++) {
			if (i == 0) {
				if (k == 0) {
					CU_ASSERT_EQUAL(mqtt_session_subscribe(h.s, h.now, &f, 1, &id).cls, MQTT_SUCCESS);
					expect(&h, MQTT_SUBSCRIBE);
				}
				ack.suback.packet_id = id;
				feed(&h, &ack);
			} else {
				if (k == 0) {
					CU_ASSERT_EQUAL(mqtt_session_unsubscribe(h.s, h.now, &f, 1, &id).cls, MQTT_SUCCESS);
					expect(&h, MQTT_UNSUBSCRIBE);
				}
				feed_ack(&h, MQTT_UNSUBACK, id);
			}
			if (k == 0) {
				CU_ASSERT_EQUAL(h.last.cls, MQTT_SUCCESS);
				expect_event(&h, i == 0 ? MQTT_EVENT_SUBSCRIBED : MQTT_EVENT_UNSUBSCRIBED);
			}
		}
		CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
		CU_ASSERT_EQUAL(h.last.code, MQTT_V_UNKNOWN_PACKET_ID);
		CU_ASSERT(mqtt_session_should_close(h.s));
		harness_free(&h);
	}
}

static void test_subscribe(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	struct mqtt_topic f[2] = {{S("a/+"), 1}, {S("b/#"), 2}};
	CU_ASSERT_EQUAL(mqtt_session_subscribe(h.s, h.now, f, 2, NULL).cls, MQTT_DOWN);
	go_online(&h);
	uint16_t id;
	CU_ASSERT_EQUAL(mqtt_session_subscribe(h.s, h.now, f, 2, &id).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(id & 0xe000, MQTT_SPACE_SUBSCRIBE);
	struct mqtt_packet p = expect(&h, MQTT_SUBSCRIBE);
	CU_ASSERT_EQUAL(p.subscribe.packet_id, id);
	CU_ASSERT_EQUAL(p.subscribe.count, 2);
	struct mqtt_packet ack = {.type = MQTT_SUBACK};
	ack.suback.packet_id = id;
	ack.suback.return_codes = mqtt_slice_str("\x01\x80");
	feed(&h, &ack);
	struct mqtt_event ev = expect_event(&h, MQTT_EVENT_SUBSCRIBED);
	CU_ASSERT_EQUAL(ev.id, id);
	CU_ASSERT_EQUAL(ev.err.cls, MQTT_SUBSCRIBE_FAILED);
	CU_ASSERT_EQUAL(ev.err.code, 1); /* the second filter */
	CU_ASSERT(ev.ncodes == 2 && ev.codes[0] == 1 && ev.codes[1] == 0x80);

	/* Unsubscribe, and a SUBACK with the wrong number of codes. */
	CU_ASSERT_EQUAL(mqtt_session_unsubscribe(h.s, h.now, f, 1, &id).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(id & 0xe000, MQTT_SPACE_UNSUBSCRIBE);
	expect(&h, MQTT_UNSUBSCRIBE);
	feed_ack(&h, MQTT_UNSUBACK, id);
	expect_event(&h, MQTT_EVENT_UNSUBSCRIBED);
	CU_ASSERT_EQUAL(mqtt_session_subscribe(h.s, h.now, f, 2, &id).cls, MQTT_SUCCESS);
	ack.suback.packet_id = id;
	ack.suback.return_codes = mqtt_slice_str("\x01");
	feed(&h, &ack);
	CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
	CU_ASSERT_EQUAL(h.last.code, MQTT_V_SUBACK_COUNT);
	/* Lost while pending: the outcome is unknown. */
	cut(&h);
	ev = expect_event(&h, MQTT_EVENT_FAILED);
	CU_ASSERT_EQUAL(ev.err.cls, MQTT_BREAK);
	harness_free(&h);

	/* Deny. */
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	struct mqtt_topic bad[1] = {{S("a#"), 0}};
	CU_ASSERT_EQUAL(mqtt_session_subscribe(h.s, h.now, bad, 1, NULL).cls, MQTT_DENY);
	bad[0].filter = S("a");
	bad[0].qos = 3;
	CU_ASSERT_EQUAL(mqtt_session_subscribe(h.s, h.now, bad, 1, NULL).cls, MQTT_DENY);
	CU_ASSERT_EQUAL(mqtt_session_subscribe(h.s, h.now, bad, 0, NULL).cls, MQTT_DENY);
	CU_ASSERT(quiet(&h));
	harness_free(&h);
}

static void test_violations(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	/* Anything but CONNACK first. */
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	mqtt_session_connected(h.s, h.now);
	expect(&h, MQTT_CONNECT);
	feed(&h, &(struct mqtt_packet){.type = MQTT_PINGRESP});
	CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
	CU_ASSERT_EQUAL(h.last.code, MQTT_V_NOT_CONNACK_FIRST);
	CU_ASSERT(mqtt_session_should_close(h.s));
	harness_free(&h);

	static const enum mqtt_type server_never[] = {MQTT_CONNACK, MQTT_PINGREQ, MQTT_DISCONNECT};
	static const int codes[] = {MQTT_V_SECOND_CONNACK, MQTT_V_SERVER_ONLY_PACKET, MQTT_V_SERVER_ONLY_PACKET};
	for (int i = 0; i < 3; i++) {
		harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
		go_online(&h);
		feed(&h, &(struct mqtt_packet){.type = server_never[i]});
		CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
		CU_ASSERT_EQUAL(h.last.code, codes[i]);
		harness_free(&h);
	}

	/* Malformed bytes: the codec's error is the code. */
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	static const uint8_t qos3[] = {0x36, 0x05, 0, 1, 'a', 0, 1};
	feed_bytes(&h, qos3, sizeof qos3);
	CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
	CU_ASSERT_EQUAL(h.last.code, MQTT_ERR_QOS);
	CU_ASSERT(mqtt_session_should_close(h.s));
	CU_ASSERT_EQUAL(mqtt_session_receive(h.s, h.now, qos3, 1, &(size_t){0}, &h.msg).cls, MQTT_DOWN);
	harness_free(&h);
}

static void feed_big(struct harness *h, uint8_t qos, uint16_t id, bool dup, size_t size)
{
	static uint8_t payload[1000];
	for (size_t i = 0; i < size; i++)
		payload[i] = (uint8_t)(i * 7);
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = qos;
	m.publish.dup = dup;
	m.publish.packet_id = id;
	m.publish.topic = S("big/one");
	m.publish.payload.data = payload;
	m.publish.payload.len = size;
	static uint8_t wire[1100];
	size_t n;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(wire, sizeof wire, &m, 0, &n), MQTT_OK);
	/* In three pieces, as reads would bring it. */
	size_t cuts[] = {40, 300, n};
	size_t off = 0;
	for (int i = 0; i < 3; i++) {
		while (off < cuts[i]) {
			size_t used;
			h->last = mqtt_session_receive(h->s, h->now, wire + off, cuts[i] - off, &used, &h->msg);
			off += used;
			if (h->last.cls || h->msg.topic.data)
				return; /* the caller looks, then feeds the rest */
		}
	}
}

/* Feeds the rest of a big message after a report: wire bytes are the
 * same, so the harness resends from where it stopped. */
static void test_big_message(void)
{
	struct mqtt_session_config c = test_config();
	c.read_buffer_size = 64;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);

	/* Skipped: reported with its topic and size, then acknowledged. */
	static uint8_t payload[1000];
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 7);
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = 1;
	m.publish.packet_id = 21;
	m.publish.topic = S("big/one");
	m.publish.payload.data = payload;
	m.publish.payload.len = 500;
	uint8_t wire[1100];
	size_t n, used;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(wire, sizeof wire, &m, 0, &n), MQTT_OK);
	struct mqtt_error e = mqtt_session_receive(h.s, h.now, wire, n, &used, &h.msg);
	CU_ASSERT_EQUAL(e.cls, MQTT_BIG_MESSAGE);
	CU_ASSERT_EQUAL(e.code, 500);
	CU_ASSERT(h.msg.topic.len == 7 && !memcmp(h.msg.topic.data, "big/one", 7));
	CU_ASSERT_EQUAL(h.msg.qos, 1);
	CU_ASSERT_FALSE(mqtt_session_should_close(h.s)); /* not a connection failure */
	CU_ASSERT(quiet(&h));
	size_t rest;
	e = mqtt_session_receive(h.s, h.now, wire + used, n - used, &rest, &h.msg);
	CU_ASSERT_EQUAL(e.cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(rest, n - used);
	CU_ASSERT_PTR_NULL(h.msg.topic.data); /* skipped */
	struct mqtt_packet p = expect(&h, MQTT_PUBACK);
	CU_ASSERT_EQUAL(p.ack.packet_id, 21);

	/* Claimed: delivered whole, acknowledged after the next read. */
	m.publish.packet_id = 22;
	m.publish.payload.len = 1000;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(wire, sizeof wire, &m, 0, &n), MQTT_OK);
	size_t off = 0;
	e = mqtt_session_receive(h.s, h.now, wire, 30, &used, &h.msg); /* not even the head yet */
	CU_ASSERT(e.cls == MQTT_SUCCESS && !h.msg.topic.data);
	off += used;
	e = mqtt_session_receive(h.s, h.now, wire + off, n - off, &used, &h.msg);
	off += used;
	CU_ASSERT_EQUAL_FATAL(e.cls, MQTT_BIG_MESSAGE);
	CU_ASSERT_EQUAL(e.code, 1000);
	static uint8_t got[1000];
	CU_ASSERT(mqtt_session_claim(h.s, got));
	CU_ASSERT_FALSE(mqtt_session_claim(h.s, got)); /* once */
	bool delivered = false;
	while (off < n && !delivered) {
		size_t chunk = n - off < 100 ? n - off : 100;
		e = mqtt_session_receive(h.s, h.now, wire + off, chunk, &used, &h.msg);
		CU_ASSERT_EQUAL_FATAL(e.cls, MQTT_SUCCESS);
		off += used;
		delivered = h.msg.topic.data != NULL;
	}
	CU_ASSERT_FATAL(delivered);
	CU_ASSERT_EQUAL(off, n);
	CU_ASSERT_PTR_EQUAL(h.msg.payload.data, got);
	CU_ASSERT(h.msg.payload.len == 1000 && !memcmp(got, payload, 1000));
	CU_ASSERT(h.msg.topic.len == 7 && !memcmp(h.msg.topic.data, "big/one", 7));
	CU_ASSERT(quiet(&h));
	feed_bytes(&h, NULL, 0);
	p = expect(&h, MQTT_PUBACK);
	CU_ASSERT_EQUAL(p.ack.packet_id, 22);

	/* A packet other than PUBLISH over the buffer cannot be read. */
	uint16_t sid;
	struct mqtt_topic f = {S("x"), 0};
	mqtt_session_subscribe(h.s, h.now, &f, 1, &sid);
	expect(&h, MQTT_SUBSCRIBE);
	uint8_t codes[100] = {0};
	struct mqtt_packet ack = {.type = MQTT_SUBACK};
	ack.suback.packet_id = sid;
	ack.suback.return_codes.data = codes;
	ack.suback.return_codes.len = sizeof codes;
	feed(&h, &ack);
	CU_ASSERT_EQUAL(h.last.cls, MQTT_BIG_MESSAGE);
	CU_ASSERT(mqtt_session_should_close(h.s));
	harness_free(&h);
}

/* Feeds a big QoS 2 message whole, claiming it at its head; returns
 * whether it was delivered (false: not reported, a duplicate skipped). */
static bool feed_big_claimed(struct harness *h, uint16_t id, bool dup)
{
	static uint8_t payload[400], got[400];
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = 2;
	m.publish.dup = dup;
	m.publish.packet_id = id;
	m.publish.topic = S("big/one");
	m.publish.payload.data = payload;
	m.publish.payload.len = sizeof payload;
	static uint8_t wire[500];
	size_t n, off = 0, used;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(wire, sizeof wire, &m, 0, &n), MQTT_OK);
	bool delivered = false;
	while (off < n && !delivered) {
		size_t chunk = n - off < 100 ? n - off : 100;
		h->last = mqtt_session_receive(h->s, h->now, wire + off, chunk, &used, &h->msg);
		off += used;
		if (h->last.cls == MQTT_BIG_MESSAGE) {
			CU_ASSERT_FATAL(mqtt_session_claim(h->s, got)); /* reported at its head */
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(h->last.cls, MQTT_SUCCESS);
		delivered = h->msg.topic.data != NULL;
	}
	CU_ASSERT_EQUAL(off, n);
	return delivered;
}

/*
 * A big QoS 2 message is held (its identifier saved) once it has come
 * whole, not at its head: one cut short by a lost connection was never
 * handed over, and its resend is reported again (it used to be taken for
 * a duplicate and lost; mqttsim explore, seed 44823). One that came whole
 * is not reported again [MQTT-4.3.3-2].
 */
static void test_big_message_exactly_once(void)
{
	struct mqtt_session_config c = test_config();
	c.read_buffer_size = 64;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	feed_big(&h, 2, 31, false, 400);
	CU_ASSERT_EQUAL_FATAL(h.last.cls, MQTT_BIG_MESSAGE);
	/* The connection drops mid-message; the broker resends it. */
	cut(&h);
	expect_event(&h, MQTT_EVENT_OFFLINE);
	h.now = mqtt_session_dial_at(h.s);
	go_online(&h);
	CU_ASSERT(feed_big_claimed(&h, 31, true)); /* reported again, and delivered */
	CU_ASSERT(h.msg.dup); /* as it came: a resend */
	feed_bytes(&h, NULL, 0); /* the next read acknowledges it */
	CU_ASSERT_EQUAL(expect(&h, MQTT_PUBREC).ack.packet_id, 31);
	/* The PUBREC is lost with the connection: the broker resends again. */
	cut(&h);
	expect_event(&h, MQTT_EVENT_OFFLINE);
	h.now = mqtt_session_dial_at(h.s);
	go_online_with(&h, true);
	CU_ASSERT_FALSE(feed_big_claimed(&h, 31, true)); /* held: not delivered twice */
	CU_ASSERT_EQUAL(expect(&h, MQTT_PUBREC).ack.packet_id, 31);
	harness_free(&h);
}

static void test_disconnect_and_close(void)
{
	struct mqtt_session_config c = test_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	struct mqtt_topic f = {S("x"), 0};
	mqtt_session_subscribe(h.s, h.now, &f, 1, NULL);
	expect(&h, MQTT_SUBSCRIBE);
	CU_ASSERT_EQUAL(mqtt_session_disconnect(h.s, h.now).cls, MQTT_SUCCESS);
	struct mqtt_event ev = expect_event(&h, MQTT_EVENT_FAILED);
	CU_ASSERT_EQUAL(ev.err.cls, MQTT_CLOSED);
	CU_ASSERT_FALSE(mqtt_session_should_close(h.s)); /* DISCONNECT not written yet */
	expect(&h, MQTT_DISCONNECT);
	CU_ASSERT(mqtt_session_should_close(h.s));
	mqtt_session_lost(h.s, h.now, (struct mqtt_error){MQTT_SUCCESS, 0});
	CU_ASSERT_EQUAL(mqtt_session_state(h.s), MQTT_STATE_CLOSED);
	expect_event(&h, MQTT_EVENT_CLOSED);
	CU_ASSERT_EQUAL(publish(&h, 0, "t", "x", NULL).cls, MQTT_CLOSED);
	CU_ASSERT_EQUAL(publish(&h, 1, "t", "x", NULL).cls, MQTT_CLOSED);
	CU_ASSERT_EQUAL(mqtt_session_ping(h.s, h.now).cls, MQTT_CLOSED);
	CU_ASSERT_EQUAL(mqtt_session_disconnect(h.s, h.now).cls, MQTT_CLOSED);
	CU_ASSERT_FALSE(mqtt_session_should_dial(h.s, h.now + 3600000));
	harness_free(&h);

	harness_new(&h, &c, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	mqtt_session_close(h.s, h.now);
	CU_ASSERT(mqtt_session_should_close(h.s));
	CU_ASSERT(quiet(&h)); /* no DISCONNECT: the will is published */
	expect_event(&h, MQTT_EVENT_CLOSED);
	harness_free(&h);
}

const struct test_def session_tests[] = {
	{"password without a user name: an empty user name, as the seed", test_password_without_user_name},
	{"a PUBLISH never written is resent without DUP", test_unwritten_publish_resent_without_dup},
	{"CONNECT carries the configuration; reconnects do not clean", test_connect_fields},
	{"invalid configurations are denied", test_invalid_configuration},
	{"a refusal waits the maximum", test_refused_waits_the_maximum},
	{"backoff doubles to the maximum and resets", test_backoff_doubles_and_resets},
	{"backoff jitter stays in range", test_backoff_jitter},
	{"publish QoS 0", test_publish_qos0},
	{"publish QoS 1", test_publish_qos1},
	{"publish QoS 2", test_publish_qos2},
	{"acks in the wrong space are violations", test_acks_in_the_wrong_space},
	{"in-flight windows", test_windows},
	{"resend after reconnect, in order, with DUP", test_resend_after_reconnect},
	{"inbound acknowledged on the next read", test_inbound_ack_after_next_read},
	{"inbound QoS 2 delivered once", test_inbound_exactly_once},
	{"an acknowledgement leaves before the next input is taken", test_ack_leaves_before_next_input},
	{"a QoS 2 message waits for what its read queued ahead of it",
	 test_qos2_publish_waits_for_what_the_read_queued},
	{"keep-alive pings when idle, gives up unanswered", test_keep_alive},
	{"ping requests", test_user_ping},
	{"a clock read before the last call is no time, not an eternity", test_time_read_before_the_last_call},
	{"acknowledgement timeout", test_ack_timeout},
	{"inbound QoS 2 identifiers forgotten without a session", test_inbound_forgotten_without_session},
	{"a clean session's identifiers end with it", test_clean_session_identifiers_end_with_it},
	{"a clock that starts at 0", test_clock_starting_at_zero},
	{"pause timeout", test_pause_timeout},
	{"a CONNACK is awaited one keep-alive period", test_connack_awaited_one_keep_alive},
	{"subscribe and unsubscribe", test_subscribe},
	{"a SUBACK or UNSUBACK before any request names none", test_answer_before_any_request},
	{"a SUBACK or UNSUBACK repeated names no request", test_answer_repeated},
	{"protocol violations close the connection", test_violations},
	{"big messages: reported, skipped or claimed", test_big_message},
	{"big QoS 2 message delivered once", test_big_message_exactly_once},
	{"disconnect and close", test_disconnect_and_close},
	{NULL, NULL},
};
