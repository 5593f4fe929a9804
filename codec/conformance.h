/*
 * conformance.h - places in the code that enforce or implement a
 * normative statement of MQTT 3.1.1, counted as they are reached.
 *
 * MQTT_CONFORMS("MQTT-3.3.1-1") marks such a place: the codec, the
 * client's session core and the fake broker's core put one where they
 * act on a statement (the check that refuses, the code that does what
 * the statement asks). The first time a place is reached it joins a
 * list; each time, its count goes up by one. `mqttsim coverage` reads
 * the counts around each simulated run to tell which statements the
 * scenario library exercises (docs/reports.md).
 *
 * Cost: nothing but a flag's test unless counting is on (mqttsim turns it
 * on); then an increment (relaxed atomic load and store: from threads at
 * once a count may come out short, never racy) and, the first time, a
 * lock-free insert. Never blocking, no allocation.
 */
#ifndef CODEC_CONFORMANCE_H
#define CODEC_CONFORMANCE_H

#include <stdbool.h>
#include <stdint.h>

struct mqtt_conformance_site {
	const char *id;       /* "MQTT-x.y.z-n" */
	const char *file;
	int line;
	int registered;       /* joined the list (atomic) */
	uint64_t hits;        /* times reached (atomic) */
	struct mqtt_conformance_site *next;
	int statement;        /* the reader's cache (coverage.c): -1 not looked up */
};

#define MQTT_CONFORMS(ID)                                                                        \
	do {                                                                                         \
		static struct mqtt_conformance_site mqtt_conformance_site_ = {ID, __FILE__, __LINE__, 0, \
		                                                              0, 0, -1};                 \
		if (__builtin_expect(__atomic_load_n(&mqtt_conformance_on, __ATOMIC_RELAXED), 0))        \
			mqtt_conformance_reach(&mqtt_conformance_site_);                                     \
	} while (0)

/* Whether places count (mqtt_conformance_count()): off, a reach costs
 * one load of this flag and a branch not taken. */
extern int mqtt_conformance_on;

/* Starts (on) or stops counting, from now on, in every thread. */
void mqtt_conformance_count(bool on);

/* Counts a reach of s (MQTT_CONFORMS does it). */
void mqtt_conformance_reach(struct mqtt_conformance_site *s);

/* The places reached so far, newest first (linked by next); never freed. */
struct mqtt_conformance_site *mqtt_conformance_sites(void);

#endif
