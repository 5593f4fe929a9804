/*
 * wire.h - checks of what a client puts on the wire, packet by packet:
 * the DUP flag and packet identifiers of its PUBLISHes (§3.3.1.1, §2.3.1).
 */
#ifndef SCENARIOS_WIRE_H
#define SCENARIOS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttsim/codec.h"

struct wire_report {
	bool dup_violation, id_violation;
	char dup_why[200], id_why[200];
};

struct wire {
	struct mqtt_framer f[2];         /* [0] client to broker, [1] broker to client */
	uint8_t fbuf[2][1 << 16];
	uint8_t inflight[65536 / 8];     /* the client's QoS 1/2 identifiers not yet released */
	uint32_t content[65536];         /* a hash of what each identifier carries */
	bool adopted;                    /* the session was adopted: a first send may carry DUP */
	bool framing_lost[2];
};

/* Nothing in flight: for a zeroed wire, and for a client that lost its session. */
void wire_init(struct wire *w);
/* A new connection: framing starts over; identifiers stay in flight. */
void wire_connection(struct wire *w, bool after_adopt);
/* Bytes delivered in one direction (c2b: 0, b2c: 1), checked as packets complete. */
void wire_bytes(struct wire *w, int dir, const uint8_t *data, size_t len, const char *client,
                struct wire_report *r);

#endif
