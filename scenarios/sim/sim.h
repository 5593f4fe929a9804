/*
 * sim.h - the deterministic simulator: one scenario run with one seed in
 * virtual time, the client's session core, the fake broker's core and
 * fault links wired together, judged by the oracle.
 */
#ifndef SCENARIOS_SIM_H
#define SCENARIOS_SIM_H

#include <stdint.h>
#include <stdio.h>

#include "scenarios/lang/scenario.h"
#include "scenarios/oracle/oracle.h"

/*
 * Runs s with seed in simulation; trace (may be NULL) gets one line per
 * event; pcap (may be NULL) names a capture file of every connection, as
 * delivered, in virtual time (tshark decodes it as MQTT).
 */
int scenario_simulate(const struct scenario *s, uint64_t seed, struct scn_result *r,
                      FILE *trace, const char *pcap);
/* The same, and chart (may be NULL) gets the run's chart events
 * (scenarios/report/chart.h). */
int scenario_simulate_charted(const struct scenario *s, uint64_t seed, struct scn_result *r,
                              FILE *trace, const char *pcap, FILE *chart);

#endif
