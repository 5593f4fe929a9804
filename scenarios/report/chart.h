/*
 * chart.h - a run's message sequence chart: its events, recorded as the
 * simulator makes them (JSON lines, one event a line, docs/reports.md),
 * and drawn as SVG for the HTML report.
 *
 * Recording: the simulator calls the chart_note_* functions with the
 * events file (scenario_simulate_charted()); each writes one line. A
 * packet is recorded twice, as it leaves its sender and as it reaches
 * its receiver, both keyed by connection, direction and stream offset:
 * a packet with no receipt was lost on the way.
 *
 * Drawing: chart_load() reads such a file back, chart_svg() writes the
 * chart. Lanes left to right: each client process incarnation (a crash
 * ends one, a restart begins the next), the network (fault links) and
 * the broker; one row per event, top to bottom in virtual time.
 */
#ifndef SCENARIOS_REPORT_CHART_H
#define SCENARIOS_REPORT_CHART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scenarios/lang/scenario.h"
#include "scenarios/oracle/oracle.h"

/* The most client lanes' owners a chart holds (a capture's clients). */
#define CHART_MAX_CLIENTS 64

/* Recording. f may be NULL: nothing is written. */
void chart_note_run(FILE *f, const struct scenario *s, uint64_t seed);
/* The same for what is not a scenario (a capture): its title, its clients' names. */
void chart_note_title(FILE *f, const char *title, const char *const *names, int n);
/* A client process starts (incarnation 1, 2, ... as it restarts). */
void chart_note_process(FILE *f, uint64_t t, int client, const char *name, int incarnation);
/* A connection of client opens (numbered as the fault links number them). */
void chart_note_connection(FILE *f, uint64_t t, int client, uint32_t conn);
/* A whole packet sent into, or received from, connection conn. */
void chart_note_packet(FILE *f, uint64_t t, int client, uint32_t conn, bool to_broker, bool received,
                       uint64_t offset, const uint8_t *packet, size_t len, bool corrupted);
/*
 * Something that happened on a lane: lane is "client" (of client), "link"
 * (client's connection) or "broker"; kind one of "fault", "crash",
 * "restart", "disk", "damage", "end", "close", "note".
 */
void chart_note_mark(FILE *f, uint64_t t, const char *lane, int client, const char *kind,
                     const char *text);
/* The verdict, and where each violation the oracle found was found. */
void chart_note_verdict(FILE *f, const struct scenario *s, const struct scn_result *r);

struct chart;

/*
 * Reads an events file: 0, or -1 with why filled (a file that cannot be
 * read, a line that is not an event: its line number). *out is freed with
 * chart_free().
 */
int chart_load(const char *path, struct chart **out, char *why, size_t cap);
void chart_free(struct chart *c);

/* What chart_svg() drew, for the report's text and its tests. */
struct chart_stats {
	int lanes;        /* client incarnations, the network and the broker */
	int arrows;       /* packets drawn (sent and received, or lost) */
	int lost;         /* of those, ended in a cross */
	int collapsed;    /* packets not drawn: folded into a collapsed stretch */
	bool violation;   /* the violation's marker was drawn */
};

/*
 * Writes c as an inline <svg> element (no script, no external resource):
 * each arrow with a <title> of the packet's decoded fields, the
 * violation's subject highlighted. id prefixes the element ids, unique
 * within the page. Drawing lays out c's events: draw a chart once.
 * Returns what it drew.
 */
struct chart_stats chart_svg(FILE *out, struct chart *c, const char *id);

#endif
