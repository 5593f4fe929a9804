/*
 * run.h - mqttsim run and mqttsim check (run.c), for the dispatcher.
 */
#ifndef SCENARIOS_PROGRAM_RUN_H
#define SCENARIOS_PROGRAM_RUN_H

/* argv[1] is "run" or "check" (anything else: a usage error, exit 2);
 * returns the exit status mqttsim(1) documents. */
int mqttsim_run(int argc, char **argv);

/* mqttsim(1)'s usage: run and check in full, the other subcommands'
 * synopses (each of those has a --help of its own). */
extern const char mqttsim_usage[];

/* mqttsim coverage (coverage.c): run with the statements' table at the end. */
int mqttsim_coverage(int argc, char **argv);

/* mqttsim explore (explore.c): exit status as its --help says. */
int mqttsim_explore(int argc, char **argv);

/* "mqttsim VERSION (generator N)": what mqttsim --version prints, and what
 * a campaign compares between machines. */
extern const char mqttsim_version[];

#endif
