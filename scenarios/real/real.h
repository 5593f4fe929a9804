/*
 * real.h - a scenario run in real time (`mqttsim run --real`): real
 * sockets, threads and a process per client, judged by the same oracle.
 */
#ifndef SCENARIOS_REAL_H
#define SCENARIOS_REAL_H

#include <stdint.h>
#include <stdio.h>

#include "scenarios/lang/scenario.h"
#include "scenarios/oracle/oracle.h"

/*
 * Runs s with seed over real sockets, threads and processes (real.c): the
 * fake broker in this process, each client in a process of its own made
 * by running exe ("mqttsim __client ..."). trace and pcap as for
 * scenario_simulate. Returns -1 with r->why when it could not be set up.
 */
int scenario_real(const struct scenario *s, const char *exe, uint64_t seed, struct scn_result *r,
                  FILE *trace, const char *pcap);
/* The client process's main: mqttsim __client FILE INDEX PORT FD SEED GENERATION DIR. */
int scenario_real_client(int argc, char **argv);

#endif
