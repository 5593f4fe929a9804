/*
 * explore.h - one explored seed: its scenario generated, run in
 * simulation, judged and, when it fails, shrunk to the smallest
 * scenario that still fails and named by a signature (explore.c).
 * The command (scenarios/program/explore.c) spreads seeds over
 * processes and gathers these.
 */
#ifndef SCENARIOS_EXPLORE_H
#define SCENARIOS_EXPLORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A failing seed, explained. Strings are NUL-terminated, owned by the struct. */
struct explore_failure {
	uint64_t seed;
	char signature[512]; /* the broken guarantee and the minimal scenario's shape */
	char why[512];       /* the verdict of the generated scenario's run */
	char *minimal;       /* the minimal scenario's text (malloc'd); NULL: not shrunk */
	unsigned shrink_runs;
	size_t lines_before, lines_after;
};

/*
 * Generates seed's scenario (with extra: explore_text), runs it and judges it. Returns 0 when it
 * passed, 1 when it failed (f filled in; shrunk when shrink), -1 when
 * the scenario could not be made or run (f->why says why: a generator
 * error, or memory).
 */
int explore_seed(uint64_t seed, bool shrink, const char *extra, struct explore_failure *f);

/*
 * The scenario seed generates, with extra (lines, each ending in a
 * newline; may be NULL) added after its workload: what explore runs.
 * Returns its length, 0 when it does not fit cap.
 */
size_t explore_text(uint64_t seed, const char *extra, char *out, size_t cap);

/*
 * The signature of a minimal scenario text: the expectation it fails
 * ("exactly-once"), then its directives' shape, sorted: client names,
 * numbers and durations left out, the words that say what happens
 * kept ("fault C b2c after=PUBREC#N drop"). Two seeds that fail for
 * the same reason in the same way shrink to the same signature.
 */
void explore_signature(const char *minimal, char *out, size_t cap);

/* The expectation a run's verdict (why: "line N: NAME violated: ...")
 * says failed, as enum scn_invariant; 0 for anything else. */
int explore_failed_invariant(const char *why);

/* A short stable name of a signature: 8 hex digits (FNV-1a). */
uint32_t explore_signature_hash(const char *signature);

#endif
