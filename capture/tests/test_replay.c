/*
 * test_replay.c - the replay core without sockets: a hand-made captured
 * session, the peer's bytes fed in, the actions and the report checked.
 */
#define _DEFAULT_SOURCE
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/replay/replay.h"
#include "testing/suites.h"

/* A session built event by event; packets as hex-free byte lists. */
struct built {
	struct cap_session s;
	struct cap_event ev[32];
	uint8_t bytes[32][64];
};

static void packet(struct built *b, unsigned conn, int dir, uint64_t frame, const uint8_t *d,
                   size_t n)
{
	struct cap_event *e = &b->ev[b->s.n];
	memcpy(b->bytes[b->s.n], d, n);
	*e = (struct cap_event){.kind = CAP_PACKET, .conn = conn, .stream = conn, .dir = dir,
	                        .frame = frame, .ts_us = frame * 1000, .data = b->bytes[b->s.n],
	                        .len = n};
	b->s.n++;
	if (conn + 1 > b->s.nconns)
		b->s.nconns = conn + 1;
	b->s.ev = b->ev;
}

static void closed(struct built *b, unsigned conn, int dir, uint64_t frame)
{
	b->ev[b->s.n] = (struct cap_event){.kind = CAP_CLOSE, .conn = conn, .stream = conn,
	                                   .dir = dir, .frame = frame};
	b->s.n++;
}

#define PKT(b, conn, dir, frame, ...) do { \
	static const uint8_t bytes_[] = {__VA_ARGS__}; \
	packet(b, conn, dir, frame, bytes_, sizeof bytes_); \
} while (0)

static const uint8_t CONNECT_C[] = {0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 1, 'c'};

/* A subscriber session: CONNECT, CONNACK, SUBSCRIBE, SUBACK, a QoS 1
 * PUBLISH from the broker (its id 7), the client's PUBACK, the end. */
static void subscriber(struct built *b)
{
	memset(b, 0, sizeof *b);
	packet(b, 0, 0, 1, CONNECT_C, sizeof CONNECT_C);
	PKT(b, 0, 1, 2, 0x20, 0x02, 0x00, 0x00);
	PKT(b, 0, 0, 3, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x01);
	PKT(b, 0, 1, 4, 0x90, 0x03, 0x00, 0x01, 0x01);
	PKT(b, 0, 1, 5, 0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x07, 'x');
	PKT(b, 0, 0, 6, 0x40, 0x02, 0x00, 0x07);
	PKT(b, 0, 0, 7, 0xe0, 0x00);
	closed(b, 0, 0, 7);
}

static struct replay_config as_client(void)
{
	return (struct replay_config){.role = REPLAY_AS_CLIENT, .speed = 0, .timeout_us = 1000000};
}

/* Runs actions until one of kind todo (or a wait); the action in a. */
static void until(struct replay *r, uint64_t now, struct replay_action *a)
{
	for (int i = 0; i < 20; i++) {
		replay_next(r, now, a);
		if (a->todo != REPLAY_DIAL)
			return;
		replay_dialed(r, a->conn, true, NULL);
	}
}

static char report[4096];

static size_t finish(struct replay *r, uint64_t now)
{
	struct replay_action a;
	for (int i = 0; i < 50; i++) {
		replay_next(r, now, &a);
		if (a.todo == REPLAY_DONE)
			break;
		if (a.todo == REPLAY_WAIT)
			now = a.until;
	}
	CU_ASSERT_EQUAL(a.todo, REPLAY_DONE);
	FILE *f = fmemopen(report, sizeof report, "w");
	size_t n = replay_report(r, f);
	fclose(f);
	return n;
}

static void test_sends_only_after_what_came_before(void)
{
	struct built b;
	subscriber(&b);
	struct replay_config c = as_client();
	struct replay *r = replay_new(&b.s, &c);
	struct replay_action a;
	until(r, 0, &a);
	CU_ASSERT_EQUAL_FATAL(a.todo, REPLAY_SEND);
	CU_ASSERT_EQUAL(a.len, sizeof CONNECT_C);
	/* The SUBSCRIBE waits for the CONNACK the capture shows before it. */
	replay_next(r, 10, &a);
	CU_ASSERT_EQUAL(a.todo, REPLAY_WAIT);
	CU_ASSERT_EQUAL(a.until, 10 + 1000000); /* armed when reached, at 10 */
	replay_input(r, 0, 20, (const uint8_t *)"\x20\x02\x00\x00", 4);
	replay_next(r, 30, &a);
	CU_ASSERT_EQUAL_FATAL(a.todo, REPLAY_SEND);
	CU_ASSERT_EQUAL(a.data[0], 0x82);
	replay_free(r);
}

static void test_maps_the_brokers_identifier(void)
{
	struct built b;
	subscriber(&b);
	struct replay_config c = as_client();
	struct replay *r = replay_new(&b.s, &c);
	struct replay_action a;
	until(r, 0, &a); /* CONNECT */
	replay_input(r, 0, 1, (const uint8_t *)"\x20\x02\x00\x00", 4);
	replay_next(r, 2, &a); /* SUBSCRIBE */
	/* The live broker answers, and delivers with its own identifier, 300. */
	static const uint8_t live[] = {0x90, 0x03, 0x00, 0x01, 0x01,
	                               0x32, 0x06, 0x00, 0x01, 't', 0x01, 0x2c, 'x'};
	replay_input(r, 0, 3, live, sizeof live);
	replay_next(r, 4, &a);
	CU_ASSERT_EQUAL_FATAL(a.todo, REPLAY_SEND);
	CU_ASSERT_EQUAL_FATAL(a.len, 4);
	CU_ASSERT(!memcmp(a.data, "\x40\x02\x01\x2c", 4)); /* PUBACK 300, not the captured 7 */
	replay_next(r, 5, &a); /* DISCONNECT */
	CU_ASSERT_EQUAL(a.todo, REPLAY_SEND);
	replay_next(r, 6, &a);
	CU_ASSERT_EQUAL(a.todo, REPLAY_FIN);
	CU_ASSERT_EQUAL(finish(r, 7), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(report, "0 differences"));
	replay_free(r);
}

static void test_missing_extra_and_differing_fields(void)
{
	struct built b;
	subscriber(&b);
	struct replay_config c = as_client();
	struct replay *r = replay_new(&b.s, &c);
	struct replay_action a;
	until(r, 0, &a);
	/* A CONNACK with session present, no SUBACK, a PUBLISH on another topic. */
	static const uint8_t live[] = {0x20, 0x02, 0x01, 0x00,
	                               0x30, 0x04, 0x00, 0x01, 'u', 'y'};
	replay_input(r, 0, 1, live, sizeof live);
	size_t n = finish(r, 2);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(report, "frame 2, stream 0: CONNACK code 0 differs; session "
	                                      "present 0 captured, 1 live"));
	CU_ASSERT_PTR_NOT_NULL(strstr(report, "frame 4, stream 0: missing SUBACK id 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(report, "frame 5, stream 0: missing PUBLISH topic \"t\" qos 1 id 7"));
	CU_ASSERT_PTR_NOT_NULL(strstr(report, "extra PUBLISH topic \"u\" qos 0 (1 bytes) after this frame"));
	CU_ASSERT_PTR_NOT_NULL(strstr(report, "4 differences (2 missing, 1 extra, 1 differ)"));
	/* Lines come in captured-frame order. */
	CU_ASSERT(strstr(report, "frame 2,") < strstr(report, "frame 4,"));
	replay_free(r);
}

static void test_a_lost_message_is_missing_not_paired_with_the_next(void)
{
	/* The capture: a retained message on t, then a new one on t. */
	struct built b;
	memset(&b, 0, sizeof b);
	packet(&b, 0, 0, 1, CONNECT_C, sizeof CONNECT_C);
	PKT(&b, 0, 1, 2, 0x20, 0x02, 0x00, 0x00);
	PKT(&b, 0, 1, 3, 0x31, 0x04, 0x00, 0x01, 't', 'A');
	PKT(&b, 0, 1, 4, 0x30, 0x04, 0x00, 0x01, 't', 'B');
	struct replay_config c = as_client();
	struct replay *r = replay_new(&b.s, &c);
	struct replay_action a;
	until(r, 0, &a);
	/* A fresh broker has no retained message: only B comes. */
	static const uint8_t live[] = {0x20, 0x02, 0x00, 0x00, 0x30, 0x04, 0x00, 0x01, 't', 'B'};
	replay_input(r, 0, 1, live, sizeof live);
	CU_ASSERT_EQUAL(finish(r, 2), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(report, "frame 3, stream 0: missing PUBLISH topic \"t\" qos 0 (1 bytes)"));
	CU_ASSERT_PTR_NULL(strstr(report, "differs"));
	replay_free(r);
}

static void test_captured_timing_scaled_by_speed(void)
{
	/* The subscriber's events are 1 ms apart (ts = frame * 1000 us). */
	struct built b;
	subscriber(&b);
	struct replay_config c = as_client();
	c.speed = 0.5; /* half speed: gaps doubled */
	struct replay *r = replay_new(&b.s, &c);
	struct replay_action a;
	until(r, 100, &a); /* the CONNECT (frame 1) is the origin */
	CU_ASSERT_EQUAL(a.todo, REPLAY_SEND);
	replay_input(r, 0, 150, (const uint8_t *)"\x20\x02\x00\x00", 4);
	/* The SUBSCRIBE, frame 3: 2 ms after the CONNECT captured, 4 ms at half speed. */
	replay_next(r, 200, &a);
	CU_ASSERT_EQUAL(a.todo, REPLAY_WAIT);
	CU_ASSERT_EQUAL(a.until, 100 + 4000);
	replay_next(r, 4100, &a);
	CU_ASSERT_EQUAL(a.todo, REPLAY_SEND);
	CU_ASSERT_EQUAL(a.data[0], 0x82);
	replay_free(r);
}

static void test_client_id_prefix(void)
{
	struct built b;
	subscriber(&b);
	struct replay_config c = as_client();
	c.client_id_prefix = "rp-";
	struct replay *r = replay_new(&b.s, &c);
	struct replay_action a;
	until(r, 0, &a);
	static const uint8_t want[] = {0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 4,
	                               'r', 'p', '-', 'c'};
	CU_ASSERT_EQUAL_FATAL(a.len, sizeof want);
	CU_ASSERT(!memcmp(a.data, want, sizeof want));
	replay_free(r);
}

static void test_as_broker_answers_pings_and_counts_extra_connections(void)
{
	struct built b;
	subscriber(&b);
	struct replay_config c = {.role = REPLAY_AS_BROKER, .timeout_us = 1000000,
	                          .first_wait_us = 5000000};
	struct replay *r = replay_new(&b.s, &c);
	struct replay_action a;
	replay_next(r, 0, &a);
	CU_ASSERT_EQUAL(a.todo, REPLAY_WAIT); /* for the first client */
	CU_ASSERT_EQUAL(replay_accepted(r, 10), 0);
	replay_input(r, 0, 11, CONNECT_C, sizeof CONNECT_C);
	replay_next(r, 12, &a);
	CU_ASSERT_EQUAL_FATAL(a.todo, REPLAY_SEND);
	CU_ASSERT(!memcmp(a.data, "\x20\x02\x00\x00", 4)); /* the captured CONNACK */
	replay_input(r, 0, 13, (const uint8_t *)"\xc0\x00", 2); /* PINGREQ */
	replay_next(r, 14, &a);
	CU_ASSERT_EQUAL_FATAL(a.todo, REPLAY_SEND);
	CU_ASSERT(!memcmp(a.data, "\xd0\x00", 2));
	/* The client's SUBSCRIBE with its own identifier 9: the SUBACK carries 9. */
	replay_input(r, 0, 15, (const uint8_t *)"\x82\x06\x00\x09\x00\x01t\x01", 8);
	replay_next(r, 16, &a);
	CU_ASSERT_EQUAL_FATAL(a.todo, REPLAY_SEND);
	CU_ASSERT(!memcmp(a.data, "\x90\x03\x00\x09\x01", 5));
	CU_ASSERT_EQUAL(replay_accepted(r, 17), -1); /* the capture has one connection */
	replay_free(r);
}

const struct test_def replay_tests[] = {
	{"sends only after what came before", test_sends_only_after_what_came_before},
	{"maps the broker's identifier", test_maps_the_brokers_identifier},
	{"missing, extra and differing fields", test_missing_extra_and_differing_fields},
	{"a lost message is missing, not paired with the next", test_a_lost_message_is_missing_not_paired_with_the_next},
	{"captured timing scaled by the speed", test_captured_timing_scaled_by_speed},
	{"client id prefix", test_client_id_prefix},
	{"as broker: pings answered, extra connections", test_as_broker_answers_pings_and_counts_extra_connections},
	{NULL, NULL},
};
