/*
 * coverage.h - which normative statements of MQTT 3.1.1 the scenarios
 * exercise: the statements' table (scenarios/conformance/mqtt-3.1.1.tsv,
 * compiled in), the places of the codec, the client's session core and
 * the fake broker's core tagged with MQTT_CONFORMS (codec/conformance.h),
 * and which of those a run reached.
 */
#ifndef SCENARIOS_REPORT_COVERAGE_H
#define SCENARIOS_REPORT_COVERAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* More statements than MQTT 3.1.1 has (137). */
#define COVERAGE_MAX 192

struct statement {
	char id[24];          /* "MQTT-3.3.1-1" */
	char who[8];          /* client, server, both */
	char summary[160];
	char why_not[200];    /* "n/a: ..." or "not exercised: ..." from the table; "" */
	char tagged[200];     /* where the library tags it ("file:line, ..."); "" none */
};

/* The table, parsed once; NULL (with n 0) only when it is broken, which
 * the build's tests rule out. */
const struct statement *coverage_statements(int *n);

/* The statement index of id, or -1. */
int coverage_find(const char *id);

/* Reaches so far, by statement (counts[COVERAGE_MAX]): read before and
 * after a run, the difference is what the run reached. */
void coverage_snapshot(uint64_t *counts);

/* Sets bit i of reached (COVERAGE_MAX / 8 bytes) for each statement whose
 * count grew from before to after. */
void coverage_diff(const uint64_t *before, const uint64_t *after, uint8_t *reached);

/* Tags that name no statement of the table ("ID file:line" each), for the
 * tests: a typo in a tag would count for nothing. */
size_t coverage_unknown_tags(char *out, size_t cap);

/* One scenario's reach, for the table. */
struct coverage_run {
	const char *name;     /* the scenario */
	const uint8_t *reached;
};

/*
 * The table of every statement: exercised by which scenarios, not
 * exercised (and whether any place is tagged), or not applicable, with
 * the reason; then the counts. As text (one statement a line), as an
 * HTML section, or as JSON (an array).
 */
void coverage_print(FILE *out, const struct coverage_run *runs, int n);
void coverage_html(FILE *out, const struct coverage_run *runs, int n);
void coverage_json(FILE *out, const struct coverage_run *runs, int n);

/* The counts the table ends with. */
struct coverage_counts {
	int statements, applicable, exercised, tagged;
};
struct coverage_counts coverage_count(const struct coverage_run *runs, int n);

#endif
