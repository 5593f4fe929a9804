/*
 * session_testutil.h - a scripted broker for tests of the session core:
 * read what the core sends, packet by packet, and feed it packets.
 */
#ifndef SESSION_TESTUTIL_H
#define SESSION_TESTUTIL_H

#include <stdbool.h>

#include "mqttsim/session.h"

struct harness {
	struct mqtt_session *s;
	uint64_t now;
	uint8_t packet[1 << 16]; /* the last packet taken */
	size_t packet_len;
	struct mqtt_message msg;   /* the last message delivered */
	struct mqtt_error last;    /* the last receive result */
	char warnings[1024];
};

/* A configuration with client id "test", windows of 8, no jitter. */
struct mqtt_session_config test_config(void);

/* Creates h->s; CU-asserts success. */
void harness_new(struct harness *h, const struct mqtt_session_config *cfg,
                 enum mqtt_session_mode mode, struct mqtt_store *store);
void harness_free(struct harness *h);

/* Takes the next whole packet from the output into *p (slices point
 * into h->packet); false when the output holds none. */
bool take(struct harness *h, struct mqtt_packet *p);
/* Takes the next packet and checks its type; returns it. */
struct mqtt_packet expect(struct harness *h, enum mqtt_type type);
/* Whether the output is empty. */
bool quiet(struct harness *h);

/* Feeds p, encoded, to the core; returns whether a message came out. */
bool feed(struct harness *h, const struct mqtt_packet *p);
bool feed_bytes(struct harness *h, const uint8_t *b, size_t n);
void feed_ack(struct harness *h, enum mqtt_type type, uint16_t id);
void feed_connack(struct harness *h, uint8_t code, bool session_present);
/* A PUBLISH from the broker (slices over the C strings given). */
struct mqtt_packet inbound_publish(uint8_t qos, uint16_t id, const char *topic, const char *payload);

/* Dials, checks the CONNECT, answers CONNACK accepted (Session Present
 * 0; go_online_with: as given): ONLINE. */
void go_online(struct harness *h);
void go_online_with(struct harness *h, bool session_present);
/* The transport dies with an I/O error. */
void cut(struct harness *h);

/* The next event, which must be of type. */
struct mqtt_event expect_event(struct harness *h, enum mqtt_event_type type);
bool no_event(struct harness *h);

#endif
