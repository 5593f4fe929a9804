/*
 * html.h - the HTML report: DIR/index.html, one self-contained page (no
 * script, no font, nothing fetched): a summary of every scenario, then a
 * message sequence chart (chart.h) of each charted run, linked to the
 * run's trace, capture, sidecar and events kept in DIR/runs/.
 */
#ifndef SCENARIOS_REPORT_HTML_H
#define SCENARIOS_REPORT_HTML_H

#include <stddef.h>
#include <stdint.h>

#include "scenarios/lang/scenario.h"
#include "results.h"

/* mkdir -p: path and any folder above it that is missing. */
void report_make_dirs(const char *path);

/*
 * Runs s with seed once more in simulation, keeping its trace, capture
 * (and sidecar) and chart events in dir/runs/ (made as needed). The
 * events' path goes into chart (cap bytes), the run's verdict into *r
 * (may be NULL). 0, or -1 with why.
 */
int report_chart_run(const char *dir, const struct scenario *s, uint64_t seed, char *chart,
                     size_t cap, struct scn_result *r, char *why, size_t why_cap);

/*
 * Writes dir/index.html from the results (their charts read from the
 * events files they name). 0, or -1 with why (a chart that cannot be
 * read is said in the page, not an error).
 */
int report_write(const char *dir, const struct results_run *run, const struct result *rs, int n,
                 char *why, size_t cap);

/*
 * A page of one chart (mqttsim decode --format html): events, a chart's
 * events file made by the caller (from a capture); title heads it.
 * Written to out. 0, or -1 with why (events that cannot be read).
 */
int report_write_chart(FILE *out, const char *title, const char *events, char *why, size_t cap);

#endif
