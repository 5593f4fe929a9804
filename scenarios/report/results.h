/*
 * results.h - what a run of scenarios found, kept for the reports that
 * outlive its terminal output: JSON (docs/reports.md has the schema),
 * JUnit XML for CI systems, and the HTML report (html.h).
 *
 * A scenario's results are gathered by whichever process ran it
 * (mqttsim run --jobs forks): results_save() and results_load() carry
 * them to the parent through a file.
 */
#ifndef SCENARIOS_REPORT_RESULTS_H
#define SCENARIOS_REPORT_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scenarios/lang/scenario.h"
#include "scenarios/oracle/oracle.h"
#include "coverage.h"

enum result_verdict { RESULT_FAIL, RESULT_PASS, RESULT_SKIP, RESULT_ERROR };

/* One failing seed. */
struct result_failure {
	uint64_t seed;
	char guarantee[64];   /* what broke: an invariant's name, "reconnects", "state", ... */
	char why[512];        /* the oracle's sentence */
	char reproduce[1200]; /* a command line that runs it again */
	char trace[1024];     /* artifacts kept ("" none) */
	char pcap[1024];
	char chart[1024];     /* its chart's events (html.h), when a report was asked for */
	char shrunk[1024];    /* --shrink's smaller scenario */
};

/* One scenario over its seeds. */
struct result {
	char path[512];
	char description[256];
	enum result_verdict verdict;
	uint64_t first, last;       /* the seeds asked for */
	uint64_t runs;              /* seeds run (fewer when it stopped at a failure) */
	double seconds;             /* wall-clock time */
	char note[600];             /* why skipped or an error; what a driver is not held to */
	char guarantees[SCN_MAX_EXPECTS][80]; /* what its expectations claim, one each */
	bool expects_violation;     /* it must catch a violation (expect violation) */
	int nguarantees;
	uint32_t published, delivered; /* in its last run */
	struct result_failure *failures;
	size_t nfailures;
	/* A passing run that caught the violation it expects, charted for
	 * the report (its chart's events; "" none). */
	char caught_chart[1024];
	uint64_t caught_seed;
	/* The normative statements its simulated runs reached (coverage.h),
	 * by index; has_coverage: it ran in simulation. */
	bool has_coverage;
	uint8_t reached[COVERAGE_MAX / 8];
};

/* Fills r's identity and guarantees from s; no failures yet. */
void result_init(struct result *r, const struct scenario *s, uint64_t first, uint64_t last);
/* Adds a failing seed's record; -1 when out of memory (the run goes on,
 * its failure still printed). The fields are copied. */
int result_add_failure(struct result *r, const struct result_failure *f);
void result_free(struct result *r);

/* The name of what broke in a run: the failed expectation's guarantee. */
void result_guarantee(const struct scenario *s, const struct scn_result *run, char *out,
                      size_t cap);
/* An expectation as a table states it: "at-least-once", "catches order",
 * "pub reconnects 2 times". */
void result_expect_text(const struct scenario *s, const struct scn_expect *e, char *out,
                        size_t cap);

/* Writes r to f and reads it back (the same build only): 0, or -1 with
 * errno (a short or damaged file: EINVAL). */
int result_save(FILE *f, const struct result *r);
int result_load(FILE *f, struct result *r);

/* The run's setting, for the reports' header. */
struct results_run {
	const char *mode;        /* "simulation", "real", "broker", "driver", "explore" */
	uint64_t first, last;
	double seconds;
	const char *command;     /* the command line, as run */
	const char *summary;     /* a line more for the page's head (NULL: none) */
};

/* --json: every scenario; 0, or -1 with errno. */
int results_write_json(const char *path, const struct results_run *run, const struct result *rs,
                       int n);
/* --junit: one testsuite, one testcase per scenario; 0, or -1 with errno. */
int results_write_junit(const char *path, const struct results_run *run, const struct result *rs,
                        int n);

#endif
