/*
 * real.h - a scenario run in real time (`mqttsim run --real`): real
 * sockets, threads and a process per client, judged by the same oracle.
 */
#ifndef SCENARIOS_REAL_H
#define SCENARIOS_REAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scenarios/lang/scenario.h"
#include "scenarios/oracle/oracle.h"

/* Where a real run goes: the fake broker in this process, or a broker under test. */
struct real_target {
	const char *broker;      /* a broker's address: tcp://HOST:PORT, tls://HOST:PORT or unix:PATH */
	const char *broker_ca;   /* tls://: the CAs its certificate is verified against (NULL: the system's) */
	const char *broker_cmd;  /* or a command that runs one ({port}, {dir}) per run */
	unsigned wait_ms;        /* how long the command may take to listen */
	const char *prefix;      /* before client identifiers and topics; NULL or "": none */
	bool direct;             /* no fault link: clients dial the broker, faults in their transport */
	const char *client_cmd;  /* a driver of a client library under test (docs/drivers.md) */
	const char *driver_caps; /* what it declares: ",persistence,ack-timeout," */
	unsigned driver_timeout_ms; /* how long it may take to answer a command */
	uint64_t max_ms;         /* a run ends by then at the latest, whatever the scenario's limit (0: none) */
};

/*
 * Whether s cannot run against t (NULL: the fake broker), and why: a
 * simulated disk, or, against a broker under test, what only the fake
 * broker does (its rules, limits, a scripted side).
 */
bool scenario_real_skip(const struct scenario *s, const struct real_target *t, char *why,
                        size_t cap);

/*
 * Runs s with seed over real sockets, threads and processes (real.c): the
 * fake broker in this process, each client in a process of its own made
 * by running exe ("mqttsim __client ..."). trace and pcap as for
 * scenario_simulate. Returns -1 with r->why when it could not be set up.
 */
int scenario_real(const struct scenario *s, const char *exe, uint64_t seed,
                  const struct real_target *t, struct scn_result *r, FILE *trace, const char *pcap);
/* The client process's main: mqttsim __client FILE INDEX ADDRESS FD SEED GENERATION DIR
 * FIRED PREFIX OWN. */
int scenario_real_client(int argc, char **argv);

/* The adapter's main, for a driver: mqttsim __driver ... CMD TIMEOUT_MS (driver.c). */
int scenario_driver_client(int argc, char **argv);

/*
 * Runs a driver's command once and reads its hello: its capabilities
 * as ",NAME,NAME," into caps, "driver (library)" into who. Returns 0, or
 * -1 with err saying what it did instead (exited, no hello in 10 s,
 * something else first).
 */
int driver_probe(const char *cmd, char *caps, size_t capscap, char *who, size_t whocap, char *err,
                 size_t errcap);

/*
 * What a driver's declared capabilities do not let the oracle hold s's
 * clients to, one "; "-separated phrase each, into out ("" when nothing).
 */
void scenario_driver_notes(const struct scenario *s, const struct real_target *t, char *out,
                           size_t cap);

#endif
