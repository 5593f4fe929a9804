/*
 * html.c - the HTML report: a summary of every scenario and the charts
 * of the runs worth looking at, in one page that needs nothing else.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "chart.h"
#include "coverage.h"
#include "html.h"
#include "markup.h"
#include "scenarios/sim/sim.h"

/* The page's look: lanes grey, packets dark, the violation's message
 * and marker red; a packet under the pointer stands out. */
static const char style[] =
"body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}\n"
"h1{font-size:22px}h2{font-size:17px;margin-top:32px}\n"
"table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;"
"vertical-align:top}\n"
"tr.fail td.verdict{color:#b00;font-weight:bold}tr.pass td.verdict{color:#070}\n"
"tr.skip td.verdict,tr.error td.verdict{color:#a60}\n"
"code{font:12px ui-monospace,monospace;background:#f4f4f4;padding:1px 4px}\n"
".chart-wrap{overflow:auto;border:1px solid #ddd;max-height:85vh}\n"
"svg.chart{font:11px ui-monospace,monospace;background:#fff}\n"
"svg.chart text{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}\n"
".lane line{stroke:#bbb;stroke-width:2}.lane-name{font-weight:bold;font-size:12px}\n"
".arrow line{stroke:#333;stroke-width:1.2}.arrow text{fill:#333}\n"
".arrow.subject line{stroke:#d00;stroke-width:2.5}.arrow.subject text{fill:#d00;font-weight:bold}\n"
".arrow.lost line{stroke-dasharray:4 3}.cross{stroke:#d00;stroke-width:2.5}\n"
".arrow.corrupted line{stroke:#c60;stroke-dasharray:2 2}\n"
".arrow:hover line{stroke-width:3.5}.arrow:hover text{font-weight:bold}\n"
"marker path{fill:#333}\n"
".mark rect{fill:#888}.mark text{fill:#555}\n"
".mark.fault rect{fill:#e80}.mark.crash rect{fill:#d00}.mark.restart rect{fill:#07c}\n"
".mark.disk rect,.mark.damage rect{fill:#84c}.mark.close rect{fill:#555}\n"
".mark.note line,.mark.end-of-run line{stroke:#999;stroke-dasharray:6 4}\n"
".fold rect{fill:#f3f3f3;stroke:#ccc}.fold text{fill:#666;font-style:italic}\n"
".time{fill:#666}.gap{fill:#a60;font-style:italic}.stats{fill:#888}\n"
".violation circle{fill:#d00}.violation .bang{fill:#fff;stroke:none;font-weight:bold;font-size:13px}\n"
".violation .why{fill:#d00;font-weight:bold}\n"
".legend span{margin-right:16px}\n"
"table.coverage tr.exercised b{color:#070}table.coverage tr.n-a b{color:#888}\n"
"table.coverage tr.not-exercised b,table.coverage tr.not-tagged b{color:#b00}\n";

void report_make_dirs(const char *path)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *c = buf + 1; *c; c++)
		if (*c == '/') {
			*c = 0;
			mkdir(buf, 0777);
			*c = '/';
		}
	mkdir(buf, 0777);
}

int report_chart_run(const char *dir, const struct scenario *s, uint64_t seed, char *chart,
                     size_t cap, struct scn_result *out, char *why, size_t why_cap)
{
	char runs[1024];
	snprintf(runs, sizeof runs, "%s/runs", dir);
	report_make_dirs(runs);
	const char *base = strrchr(s->path, '/');
	base = base ? base + 1 : s->path;
	char trace_path[1800], pcap[1800], events[1800];
	snprintf(trace_path, sizeof trace_path, "%s/%s-seed%llu.trace", runs, base,
	         (unsigned long long)seed);
	snprintf(pcap, sizeof pcap, "%s/%s-seed%llu.pcap", runs, base, (unsigned long long)seed);
	snprintf(events, sizeof events, "%s/%s-seed%llu.chart.jsonl", runs, base,
	         (unsigned long long)seed);
	FILE *t = fopen(trace_path, "w");
	FILE *e = t ? fopen(events, "w") : NULL;
	if (!t || !e) {
		snprintf(why, why_cap, "%s: %s", t ? events : trace_path, strerror(errno));
		if (t)
			fclose(t);
		return -1;
	}
	struct scn_result r;
	scenario_simulate_charted(s, seed, &r, t, pcap, e);
	if (out)
		*out = r;
	fprintf(t, "verdict: %s%s%s\n", r.passed ? "pass" : "fail", r.passed ? "" : ": ", r.why);
	int bad = ferror(t) | ferror(e);
	bad |= fclose(t) != 0;
	bad |= fclose(e) != 0;
	if (bad) {
		snprintf(why, why_cap, "%s: %s", events, strerror(errno ? errno : EIO));
		return -1;
	}
	snprintf(chart, cap, "%s", events);
	return 0;
}

/* A path under dir/runs/ as the page links it: relative to the page. */
static const char *in_runs(const char *path)
{
	const char *at = strstr(path, "/runs/");
	return at ? at + 1 : path;
}

/* The links of a charted run: its files beside its events. */
static void run_links(FILE *f, const char *events)
{
	char stem[1024];
	snprintf(stem, sizeof stem, "%s", in_runs(events));
	char *dot = strstr(stem, ".chart.jsonl");
	if (dot)
		*dot = 0;
	static const char *const kinds[][2] = {{".trace", "trace"}, {".pcap", "pcap"},
	                                       {".pcap.jsonl", "sidecar"}, {".chart.jsonl", "events"}};
	fputs("<p class=\"links\">", f);
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		fprintf(f, "%s<a class=\"%s\" href=\"", k ? " &middot; " : "", kinds[k][1]);
		markup_text(f, stem);
		markup_text(f, kinds[k][0]);
		fprintf(f, "\">%s</a>", kinds[k][1]);
	}
	fputs("</p>\n", f);
}

static void legend(FILE *f)
{
	fputs("<p class=\"legend\"><span>one lane per client process (a restart begins a new one), "
	      "the network, the broker</span><span>arrow: a packet from its send to its receipt; "
	      "point at it for its fields</span><span style=\"color:#d00\">red: the message the "
	      "violation is about, and where it was found</span><span>&#10005;: lost on the way"
	      "</span><span style=\"color:#e80\">&#9632; fault</span><span style=\"color:#d00\">"
	      "&#9632; crash</span><span style=\"color:#07c\">&#9632; restart</span>"
	      "<span style=\"color:#84c\">&#9632; disk</span></p>\n", f);
}

/* One charted run: heading, how to run it again, links, the chart. */
static void chart_section(FILE *f, int ordinal, const struct result *r, uint64_t seed,
                          const char *events, const struct result_failure *fl)
{
	fprintf(f, "<section class=\"run\" id=\"run-%d\" data-scenario=\"", ordinal);
	markup_text(f, r->path);
	fprintf(f, "\" data-seed=\"%llu\" data-verdict=\"%s\">\n<h2>", (unsigned long long)seed,
	        fl ? "fail" : "pass");
	markup_text(f, r->path);
	fprintf(f, ", seed %llu: ", (unsigned long long)seed);
	if (fl) {
		fputs("<span style=\"color:#b00\">", f);
		markup_text(f, fl->guarantee);
		fputs(" broken</span></h2>\n<p class=\"why\">", f);
		markup_text(f, fl->why);
		fputs("</p>\n<p>Reproduce: <code class=\"reproduce\">", f);
		markup_text(f, fl->reproduce);
		fputs("</code></p>\n", f);
	} else {
		fprintf(f, "passed%s</h2>\n<p>Reproduce: <code class=\"reproduce\">mqttsim run --seeds ",
		        r->expects_violation ? ", the violation it expects caught" : "");
		fprintf(f, "%llu --trace ", (unsigned long long)seed);
		markup_text(f, r->path);
		fputs("</code></p>\n", f);
	}
	run_links(f, events);
	struct chart *c;
	char why[600];
	if (chart_load(events, &c, why, sizeof why) != 0) {
		fputs("<p class=\"error\">The chart cannot be drawn: ", f);
		markup_text(f, why);
		fputs("</p>\n</section>\n", f);
		return;
	}
	char id[32];
	snprintf(id, sizeof id, "chart-%d", ordinal);
	fputs("<div class=\"chart-wrap\">\n", f);
	chart_svg(f, c, id);
	fputs("</div>\n</section>\n", f);
	chart_free(c);
}

static void head(FILE *f, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
	markup_text(f, title);
	fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", style);
	markup_text(f, title);
	fputs("</h1>\n", f);
}

int report_write(const char *dir, const struct results_run *run, const struct result *rs, int n,
                 char *why, size_t cap)
{
	report_make_dirs(dir);
	char path[1100];
	snprintf(path, sizeof path, "%s/index.html", dir);
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(why, cap, "%s: %s", path, strerror(errno));
		return -1;
	}
	int counts[4] = {0};
	for (int i = 0; i < n; i++)
		counts[rs[i].verdict]++;
	head(f, "mqttsim report");
	char stamp[40];
	time_t now = time(NULL);
	struct tm tm;
	strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tm));
	fprintf(f, "<p class=\"summary\"><b>%d passed, %d failed</b>", counts[RESULT_PASS],
	        counts[RESULT_FAIL]);
	if (counts[RESULT_SKIP])
		fprintf(f, ", %d skipped", counts[RESULT_SKIP]);
	if (counts[RESULT_ERROR])
		fprintf(f, ", %d errors", counts[RESULT_ERROR]);
	fprintf(f, " &middot; %s, seeds %llu..%llu, %.1f s &middot; %s</p>\n", run->mode,
	        (unsigned long long)run->first, (unsigned long long)run->last, run->seconds, stamp);
	if (run->summary) {
		fputs("<p class=\"headline\">", f);
		markup_text(f, run->summary);
		fputs("</p>\n", f);
	}
	fputs("<p>Command: <code>", f);
	markup_text(f, run->command);
	fputs("</code></p>\n<table class=\"scenarios\">\n<tr><th>scenario</th><th>verdict</th>"
	      "<th>seeds run</th><th>guarantees</th><th>failure</th></tr>\n", f);
	static const char *const verdicts[] = {"fail", "pass", "skip", "error"};
	int ordinal = 0;
	for (int i = 0; i < n; i++) {
		const struct result *r = &rs[i];
		fprintf(f, "<tr class=\"%s\" data-scenario=\"", verdicts[r->verdict]);
		markup_text(f, r->path);
		fputs("\"><td>", f);
		markup_text(f, r->path);
		if (*r->description) {
			fputs("<br><small>", f);
			markup_text(f, r->description);
			fputs("</small>", f);
		}
		fprintf(f, "</td><td class=\"verdict\">%s</td><td>%llu of %llu..%llu</td><td>",
		        verdicts[r->verdict], (unsigned long long)r->runs, (unsigned long long)r->first,
		        (unsigned long long)r->last);
		for (int g = 0; g < r->nguarantees; g++) {
			if (g)
				fputs(", ", f);
			markup_text(f, r->guarantees[g]);
		}
		fputs("</td><td>", f);
		for (size_t k = 0; k < r->nfailures; k++) {
			const struct result_failure *x = &r->failures[k];
			if (k)
				fputs("<br>", f);
			fputs("<b>", f);
			markup_text(f, x->guarantee);
			fprintf(f, "</b>, seed %llu: ", (unsigned long long)x->seed);
			markup_text(f, x->why);
			fputs("<br><code class=\"reproduce\">", f);
			markup_text(f, x->reproduce);
			fputs("</code>", f);
			if (*x->chart)
				fprintf(f, " <a href=\"#run-%d\">chart</a>", ++ordinal);
		}
		if (!r->nfailures && *r->caught_chart)
			fprintf(f, "<a href=\"#run-%d\">chart of seed %llu</a>", ++ordinal,
			        (unsigned long long)r->caught_seed);
		if ((r->verdict == RESULT_SKIP || r->verdict == RESULT_ERROR) && *r->note)
			markup_text(f, r->note);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
	struct coverage_run *cov = calloc((size_t)n + 1, sizeof *cov);
	int ncov = 0;
	for (int i = 0; cov && i < n; i++)
		if (rs[i].has_coverage)
			cov[ncov++] = (struct coverage_run){rs[i].path, rs[i].reached};
	if (ncov) {
		struct coverage_counts cc = coverage_count(cov, ncov);
		fprintf(f, "<p><a href=\"#coverage\">Conformance coverage</a>: %d of %d applicable "
		        "statements of MQTT 3.1.1 exercised.</p>\n", cc.exercised, cc.applicable);
	}
	if (ordinal)
		legend(f);
	ordinal = 0;
	for (int i = 0; i < n; i++) {
		const struct result *r = &rs[i];
		for (size_t k = 0; k < r->nfailures; k++)
			if (*r->failures[k].chart)
				chart_section(f, ++ordinal, r, r->failures[k].seed, r->failures[k].chart,
				              &r->failures[k]);
		if (!r->nfailures && *r->caught_chart)
			chart_section(f, ++ordinal, r, r->caught_seed, r->caught_chart, NULL);
	}
	if (ncov)
		coverage_html(f, cov, ncov);
	free(cov);
	fputs("</body>\n</html>\n", f);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		snprintf(why, cap, "%s: %s", path, strerror(errno ? errno : EIO));
		return -1;
	}
	return 0;
}

int report_write_chart(FILE *f, const char *title, const char *events, char *why, size_t cap)
{
	struct chart *c;
	if (chart_load(events, &c, why, cap) != 0)
		return -1;
	head(f, title);
	legend(f);
	fputs("<div class=\"chart-wrap\">\n", f);
	chart_svg(f, c, "chart-1");
	fputs("</div>\n</body>\n</html>\n", f);
	chart_free(c);
	if (fflush(f) != 0 || ferror(f)) {
		snprintf(why, cap, "%s", strerror(errno ? errno : EIO));
		return -1;
	}
	return 0;
}
