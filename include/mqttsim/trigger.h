/*
 * mqttsim/trigger.h - packet triggers: which packet of a stream a
 * scripted action or a fault applies to.
 *
 * NAME
 *	mqtt_trigger_parse, mqtt_trigger_format, mqtt_trigger_hit - the one
 *	packet-selection syntax of the fake broker's scripts and of fault
 *	plans
 *
 * SYNTAX
 *	[DIR:]TYPE[#K[+]]
 *
 *	DIR is c2b (client to broker) or b2c (broker to client); without
 *	it, the user of the trigger chooses (a broker rule that sends a
 *	packet implies b2c). TYPE is a control packet name (CONNECT,
 *	PUBLISH, PUBREC, ...; case does not matter) or ANY. Without #K the
 *	trigger selects every matching packet; #K selects the K-th only
 *	(from 1); #K+ the K-th and every one after it. Examples:
 *
 *	    b2c:PUBACK        every PUBACK the broker sends
 *	    c2b:PUBREC#2      the second PUBREC a client sends
 *	    PUBLISH#3+        the third PUBLISH and all later ones
 *
 *	Counting is the trigger's own: it starts when the trigger is made,
 *	and counts only the packets that match its direction and type (and
 *	whatever else its user filters on, such as a client identifier).
 *
 * THREADS
 *	None inside; a trigger is plain data.
 */
#ifndef MQTTSIM_TRIGGER_H
#define MQTTSIM_TRIGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttsim/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Directions, combined with |. */
enum mqtt_dir {
	MQTT_C2B = 1, /* client to broker */
	MQTT_B2C = 2, /* broker to client */
};

struct mqtt_trigger {
	unsigned dirs;     /* MQTT_C2B | MQTT_B2C; 0 until chosen (see SYNTAX) */
	uint8_t type;      /* enum mqtt_type; 0 for ANY */
	uint32_t first;    /* the first selected match, from 1 */
	uint32_t count;    /* how many matches from first are selected; 0 for no end */
	uint64_t seen;     /* matches counted so far */
};

/*
 * Parses text[0..len) into *t (seen set to 0). Returns 0, or -1 with
 * *error_at (when not NULL) set to the offset of the offending byte and
 * *why (when not NULL) to a static sentence saying what was expected.
 */
MQTTSIM_API int mqtt_trigger_parse(struct mqtt_trigger *t, const char *text, size_t len,
                                   size_t *error_at, const char **why);

/*
 * Writes t in the syntax above, NUL-terminated, to buf. Returns the
 * length it needs (excluding the NUL), as snprintf(3): the text is
 * whole when that is less than cap. A count other than 1 or 0 that
 * the syntax cannot say is written as " count=N" after the trigger.
 */
MQTTSIM_API int mqtt_trigger_format(const struct mqtt_trigger *t, char *buf, size_t cap);

/*
 * Counts a packet of type going in direction dir (one of enum
 * mqtt_dir) when it matches t, and tells whether t selects it.
 */
MQTTSIM_API bool mqtt_trigger_hit(struct mqtt_trigger *t, unsigned dir, unsigned type);

/*
 * Whether a packet of type can travel in dirs at all: CONNECT, SUBSCRIBE,
 * UNSUBSCRIBE, PINGREQ and DISCONNECT only go to the broker; CONNACK,
 * SUBACK, UNSUBACK and PINGRESP only to the client. Type 0 (ANY) and
 * both directions are always possible. For refusing triggers that could
 * never fire.
 */
MQTTSIM_API bool mqtt_trigger_possible(unsigned dirs, unsigned type);

/* Whether t will select no more packets (its count is used up). */
MQTTSIM_API bool mqtt_trigger_spent(const struct mqtt_trigger *t);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_TRIGGER_H */
