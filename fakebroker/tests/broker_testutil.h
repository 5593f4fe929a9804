/*
 * broker_testutil.h - test clients for the broker core: each sends
 * packets as bytes and reads the broker's output packet by packet.
 */
#ifndef BROKER_TESTUTIL_H
#define BROKER_TESTUTIL_H

#include <stdbool.h>

#include "mqttsim/broker.h"
#include "mqttsim/codec.h"

struct tbroker {
	struct mqtt_broker *b;
	uint64_t now;
};

struct tclient {
	struct tbroker *t;
	struct mqtt_bconn *c;  /* NULL once closed */
	uint8_t rx[1 << 17];   /* output of the broker, not yet taken */
	size_t rx_len, rx_pos;
	uint8_t packet[1 << 16];
	size_t consumed;       /* by the last send */
};

/* A broker with cfg (NULL for defaults) at time 1000. */
void tb_new(struct tbroker *t, const struct mqtt_broker_config *cfg);
void tb_free(struct tbroker *t);
/* Advances time and runs the broker's timers. */
void tb_advance(struct tbroker *t, uint64_t ms);

/* Opens a connection (no CONNECT yet). */
void tc_open(struct tclient *k, struct tbroker *t);
/* Opens, sends CONNECT (keep-alive 0) and expects CONNACK 0 with session_present. */
void tc_connect(struct tclient *k, struct tbroker *t, const char *id, bool clean,
                bool session_present);
/* Sends CONNECT *cp and returns the CONNACK code (-1 when closed without one). */
int tc_connect_with(struct tclient *k, struct tbroker *t, const struct mqtt_connect *cp);
/* A CONNECT of level 4 with this id and clean flag. */
struct mqtt_connect connect_packet(const char *id, bool clean);

void tc_send(struct tclient *k, const struct mqtt_packet *p);
void tc_send_bytes(struct tclient *k, const void *bytes, size_t len);
void tc_publish(struct tclient *k, const char *topic, const char *payload, uint8_t qos,
                bool retain, uint16_t id);
/* Subscribes to one filter and expects the SUBACK code. */
void tc_subscribe(struct tclient *k, const char *filter, uint8_t qos, uint16_t id,
                  uint8_t expect_code);
void tc_ack(struct tclient *k, enum mqtt_type type, uint16_t id);

/* Takes the next packet from the broker's output; false when none. */
bool tc_take(struct tclient *k, struct mqtt_packet *p);
/* The next packet, which must be of type. */
struct mqtt_packet tc_expect(struct tclient *k, enum mqtt_type type);
/* The next packet must be a PUBLISH with this topic, payload and QoS. */
struct mqtt_packet tc_expect_publish(struct tclient *k, const char *topic, const char *payload,
                                     uint8_t qos);
bool tc_quiet(struct tclient *k);
/* Whether the broker wants the transport closed (output is drained first). */
bool tc_closing(struct tclient *k);
/* The transport ends: mqtt_broker_closed(). */
void tc_close(struct tclient *k);

#endif
