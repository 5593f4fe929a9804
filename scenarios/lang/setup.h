/*
 * setup.h - from a scenario's client to what runs it: its session
 * configuration, fault plan, seeds and trace lines, the same for the
 * simulator and the real-time runner.
 */
#ifndef SCENARIOS_SETUP_H
#define SCENARIOS_SETUP_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "scenarios/lang/scenario.h"

#define CRASH_LINE_BASE 100000u /* plan lines of the hidden faults that mark crash points */
struct mqtt_session_config;
uint64_t scn_client_prng(uint64_t seed, int client);
/* The next number of a client's generator (as its session's jitter draws). */
uint64_t scn_next_random(uint64_t *prng);
uint64_t scn_fault_seed(uint64_t seed, int client);
/* The session configuration of client c (index); prng must outlive the
 * session, will (its will's message) the creation of the session. */
void scn_session_config(const struct scn_client *c, int index, uint64_t *prng, char will[16],
                        struct mqtt_session_config *cfg);
/* Client i's plan: its faults, the network's delay, its crash marks. 0 or -1. */
int scn_client_plan(const struct scenario *sc, int i, struct mqtt_fault_plan *plan);
/*
 * Keeps in plan only the faults that act in the client's own calls
 * (eintr, eagain, the marks of crashes at a packet, and stalls toward
 * the broker, whose writes must block: the client's transport must do
 * those) when own, or only the others (what a proxy in front of the
 * client can do) when not.
 */
void scn_plan_keep(struct mqtt_fault_plan *plan, bool own);
/*
 * Puts prefix before every client identifier ("PREFIX-ID") and topic
 * ("PREFIX/TOPIC", filters and wills too) of s, so that runs against a
 * shared broker do not see each other. NULL or "": nothing. Returns 0,
 * or -1 with err when a name would not fit.
 */
int scn_prefix(struct scenario *s, const char *prefix, char *err, size_t errcap);
/* One trace line, "t=NOWms ..." (nothing when trace is NULL). */
void scn_vtrace(FILE *trace, uint64_t now, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Writes "client:step:seq:" (the identity a message carries) and returns its length. */
int scn_identity(char *out, int client, int step, uint32_t seq);

#endif
