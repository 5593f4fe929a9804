/*
 * Simulated links: the client's session core and the broker core joined
 * by fault links in virtual time, no sockets and no threads - the
 * simulator's wiring in miniature. The same plans as on real sockets:
 * a drop after the broker's 2nd PUBACK and a corrupted PUBLISH header
 * cost no QoS 1 message; slow links only take longer.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/broker.h"
#include "mqttsim/faults.h"
#include "mqttsim/session.h"
#include "testing/suites.h"

#define MESSAGES 50

struct sim_client {
	struct mqtt_session *s;
	struct mqtt_fault_plan plan;
	struct mqtt_fault_run *run;
	struct mqtt_fault_link *link; /* NULL while offline */
	struct mqtt_bconn *bc;
	bool got[MESSAGES];
	int distinct, duplicates, connects;
	bool subscribed; /* SUBACK came */
};

static void client_new(struct sim_client *c, const char *id, bool clean, const char *plan)
{
	memset(c, 0, sizeof *c);
	struct mqtt_session_config cfg = {0};
	cfg.client_id = mqtt_slice_str(id);
	cfg.clean_session = clean;
	cfg.keep_alive = 10;
	cfg.at_least_once_max = 8;
	cfg.exactly_once_max = 8;
	cfg.reconnect_wait_min_ms = 100;
	cfg.reconnect_wait_max_ms = 1000;
	cfg.pause_timeout_ms = 5000;
	CU_ASSERT_FATAL(mqtt_session_new(&c->s, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls ==
	                MQTT_SUCCESS);
	char err[256];
	CU_ASSERT_FATAL(mqtt_fault_plan_parse(&c->plan, plan, err, sizeof err) == 0);
	CU_ASSERT_FATAL(mqtt_fault_run_new(&c->run, &c->plan, 3) == 0);
}

static void client_free(struct sim_client *c)
{
	mqtt_fault_link_free(c->link);
	mqtt_fault_run_free(c->run);
	mqtt_fault_plan_free(&c->plan);
	mqtt_session_free(c->s);
}

static void disconnect_both(struct mqtt_broker *b, struct sim_client *c, uint64_t now)
{
	mqtt_session_lost(c->s, now, (struct mqtt_error){MQTT_IO, ECONNRESET});
	mqtt_broker_closed(b, c->bc, now);
	mqtt_fault_link_free(c->link);
	c->link = NULL;
	c->bc = NULL;
}

/* Moves every byte that can move at now; returns whether anything did. */
static bool step(struct mqtt_broker *b, struct sim_client *c, uint64_t now)
{
	bool moved = false;
	if (!c->link) {
		if (!mqtt_session_should_dial(c->s, now))
			return false;
		CU_ASSERT_FATAL(mqtt_fault_link_new(&c->link, c->run, now) == 0);
		c->bc = mqtt_broker_open(b, now);
		mqtt_session_connected(c->s, now);
		c->connects++;
		moved = true;
	}
	const uint8_t *d;
	size_t n;
	while ((n = mqtt_session_output(c->s, &d)) > 0) {
		size_t room = mqtt_fault_link_room(c->link, MQTT_C2B, now, n);
		if (!room)
			break;
		mqtt_session_wrote(c->s, now, mqtt_fault_link_write(c->link, MQTT_C2B, now, d, room));
		moved = true;
	}
	while ((n = mqtt_broker_output(b, c->bc, &d)) > 0) {
		size_t room = mqtt_fault_link_room(c->link, MQTT_B2C, now, n);
		if (!room)
			break;
		mqtt_broker_wrote(b, c->bc, mqtt_fault_link_write(c->link, MQTT_B2C, now, d, room));
		moved = true;
	}
	while ((n = mqtt_fault_link_peek(c->link, MQTT_C2B, now, &d)) > 0) {
		size_t used = mqtt_broker_receive(b, c->bc, now, d, n);
		mqtt_fault_link_consume(c->link, MQTT_C2B, used);
		moved = true;
		if (used < n)
			break;
	}
	while ((n = mqtt_fault_link_peek(c->link, MQTT_B2C, now, &d)) > 0) {
		size_t used = 0;
		struct mqtt_message m = {0};
		struct mqtt_error e = mqtt_session_receive(c->s, now, d, n, &used, &m);
		moved = true;
		if (m.topic.data) { /* it borrows the link's bytes: read it before consuming them */
			char digits[8] = "";
			memcpy(digits, m.payload.data, m.payload.len < 7 ? m.payload.len : 7);
			int k = atoi(digits);
			if (k >= 0 && k < MESSAGES) {
				c->duplicates += c->got[k];
				c->distinct += !c->got[k];
				c->got[k] = true;
			}
			/* The application read it: acknowledge. */
			size_t none;
			mqtt_session_receive(c->s, now, NULL, 0, &none, &m);
		}
		mqtt_fault_link_consume(c->link, MQTT_B2C, used);
		if (e.cls)
			break;
	}
	struct mqtt_event ev;
	while (mqtt_session_next_event(c->s, &ev))
		if (ev.type == MQTT_EVENT_SUBSCRIBED)
			c->subscribed = true;
	const uint8_t *rest;
	bool broker_done = mqtt_bconn_wants_close(c->bc) && !mqtt_broker_output(b, c->bc, &rest);
	if (mqtt_fault_link_state(c->link, MQTT_B2C, now) != MQTT_LINK_OPEN ||
	    mqtt_fault_link_state(c->link, MQTT_C2B, now) != MQTT_LINK_OPEN ||
	    mqtt_session_should_close(c->s) || broker_done) {
		disconnect_both(b, c, now);
		moved = true;
	}
	return moved;
}

static uint64_t next_time(struct mqtt_broker *b, struct sim_client *cs, int n, uint64_t now)
{
	uint64_t next = mqtt_broker_tick(b, now);
	for (int i = 0; i < n; i++) {
		uint64_t t = mqtt_session_tick(cs[i].s, now);
		if (t < next)
			next = t;
		t = cs[i].link ? mqtt_fault_link_next(cs[i].link, now) : mqtt_session_dial_at(cs[i].s);
		if (t < next)
			next = t;
	}
	return next > now ? next : now + 1;
}

/* Publishes MESSAGES at qos from c[0] to c[1] through their plans; returns the virtual ms taken. */
static uint64_t simulate(const char *pub_plan, const char *sub_plan, uint8_t qos,
                         struct sim_client c[2])
{
	struct mqtt_broker *b;
	CU_ASSERT_FATAL(mqtt_broker_new(&b, NULL) == 0);
	client_new(&c[0], "sim-pub", false, pub_plan);
	client_new(&c[1], "sim-sub", false, sub_plan);
	uint64_t now = 1000;
	bool subscribing = false;
	int published = 0;
	while (now < 120000) {
		bool moved = true;
		while (moved) {
			bool pub_moved = step(b, &c[0], now);
			bool sub_moved = step(b, &c[1], now);
			moved = pub_moved || sub_moved;
			if (!subscribing && mqtt_session_state(c[1].s) == MQTT_STATE_ONLINE) {
				struct mqtt_topic f = {mqtt_slice_str("sim/#"), qos};
				CU_ASSERT(mqtt_session_subscribe(c[1].s, now, &f, 1, NULL).cls == MQTT_SUCCESS);
				subscribing = moved = true;
			}
			/* The publisher starts once the subscription is in place at the broker. */
			while (c[1].subscribed && published < MESSAGES &&
			       mqtt_session_state(c[0].s) != MQTT_STATE_CLOSED) {
				char payload[16];
				snprintf(payload, sizeof payload, "%d", published);
				struct mqtt_error e = mqtt_session_publish(c[0].s, now, qos, false,
				                                           mqtt_slice_str("sim/t"),
				                                           mqtt_slice_str(payload), NULL);
				if (e.cls == MQTT_MAX)
					break;
				CU_ASSERT_EQUAL_FATAL(e.cls, MQTT_SUCCESS);
				published++;
				moved = true;
			}
		}
		if (published == MESSAGES && mqtt_session_inflight(c[0].s) == 0 && c[1].distinct == MESSAGES)
			break;
		now = next_time(b, c, 2, now);
	}
	for (int i = 0; i < 2; i++)
		if (c[i].link)
			disconnect_both(b, &c[i], now);
	mqtt_broker_free(b);
	return now;
}

static void check(struct sim_client c[2], uint8_t qos)
{
	CU_ASSERT_EQUAL(c[1].distinct, MESSAGES);
	if (qos == 2)
		CU_ASSERT_EQUAL(c[1].duplicates, 0);
	CU_ASSERT_EQUAL(mqtt_session_inflight(c[0].s), 0);
	client_free(&c[0]);
	client_free(&c[1]);
}

static void clean_links(void)
{
	struct sim_client c[2];
	uint64_t t = simulate("", "", 1, c);
	CU_ASSERT_EQUAL(c[0].connects, 1);
	CU_ASSERT(t < 2000); /* no timers needed */
	check(c, 1);
}

static void drop_after_second_puback(void)
{
	for (uint8_t qos = 1; qos <= 2; qos++) {
		struct sim_client c[2];
		const char *plan = qos == 1 ? "b2c after=PUBACK#2 drop" : "b2c after=PUBREC#2 drop";
		simulate(plan, "", qos, c);
		CU_ASSERT_EQUAL(c[0].connects, 2); /* one reconnect, after the backoff */
		check(c, qos);
	}
}

static void faults_toward_the_subscriber(void)
{
	struct sim_client c[2];
	/* The subscriber's link loses its connection mid-PUBLISH and once more
	 * at its 3rd PUBREL: QoS 2 still arrives exactly once. */
	simulate("", "b2c byte=200 reset\nb2c before=PUBREL#3 drop", 2, c);
	CU_ASSERT(c[1].connects >= 3);
	check(c, 2);
}

static void slow_links_only_take_longer(void)
{
	struct sim_client c[2];
	uint64_t t = simulate("both latency ms=40\nc2b partial-write size=3", "b2c bandwidth rate=2000",
	                      1, c);
	CU_ASSERT_EQUAL(c[0].connects, 1);
	CU_ASSERT(t > 1500);
	check(c, 1);
}

static void corrupt_header_is_recovered(void)
{
	struct sim_client c[2];
	/* The broker sees a damaged PUBLISH header, closes; the client resends. */
	simulate("c2b before=PUBLISH#5 corrupt", "", 1, c);
	CU_ASSERT(c[0].connects >= 2);
	check(c, 1);
}

const struct test_def fault_sim_tests[] = {
	{"clean links", clean_links},
	{"drop after the second acknowledgement", drop_after_second_puback},
	{"faults toward the subscriber", faults_toward_the_subscriber},
	{"slow links only take longer", slow_links_only_take_longer},
	{"a corrupted header is recovered", corrupt_header_is_recovered},
	{NULL, NULL},
};
