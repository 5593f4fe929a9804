/*
 * results.c - scenario results: gathered, carried between processes,
 * written as JSON and JUnit XML.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "markup.h"
#include "results.h"

void result_expect_text(const struct scenario *s, const struct scn_expect *x, char *out, size_t cap)
{
	const char *who = x->what == SCN_RECONNECTS ? s->clients[x->client].name : "";
	if (x->what == SCN_RECONNECTS && x->max == 0)
		snprintf(out, cap, "%s never reconnects", who);
	else if (x->what == SCN_RECONNECTS && x->min == x->max)
		snprintf(out, cap, "%s reconnects %u time%s", who, x->min, x->min == 1 ? "" : "s");
	else if (x->what == SCN_RECONNECTS && x->max == UINT32_MAX)
		snprintf(out, cap, "%s reconnects (at least %u)", who, x->min);
	else if (x->what == SCN_RECONNECTS)
		snprintf(out, cap, "%s reconnects %u to %u times", who, x->min, x->max);
	else
		snprintf(out, cap, "%s%s", x->violation ? "catches " : "", scn_invariant_name(x->what));
}

void result_init(struct result *r, const struct scenario *s, uint64_t first, uint64_t last)
{
	memset(r, 0, sizeof *r);
	snprintf(r->path, sizeof r->path, "%s", s->path);
	snprintf(r->description, sizeof r->description, "%s", s->description);
	r->first = first;
	r->last = last;
	for (int e = 0; e < s->nexpects; e++)
		r->expects_violation = r->expects_violation || s->expects[e].violation;
	for (int e = 0; e < s->nexpects && e < SCN_MAX_EXPECTS; e++)
		result_expect_text(s, &s->expects[e], r->guarantees[r->nguarantees++],
		                   sizeof r->guarantees[0]);
}

int result_add_failure(struct result *r, const struct result_failure *f)
{
	struct result_failure *grown = realloc(r->failures, (r->nfailures + 1) * sizeof *grown);
	if (!grown)
		return -1;
	r->failures = grown;
	r->failures[r->nfailures++] = *f;
	return 0;
}

void result_free(struct result *r)
{
	free(r->failures);
	r->failures = NULL;
	r->nfailures = 0;
}

void result_guarantee(const struct scenario *s, const struct scn_result *run, char *out, size_t cap)
{
	if (run->failed_expect < 0 || run->failed_expect >= s->nexpects) {
		/* The run itself failed: it never finished (a livelock) or could not start. */
		snprintf(out, cap, "%s", strstr(run->why, "livelock") ? "live" : "run");
		return;
	}
	const struct scn_expect *e = &s->expects[run->failed_expect];
	if (e->what == SCN_RECONNECTS || e->what == SCN_STATE)
		snprintf(out, cap, "%s", scn_invariant_name(e->what));
	else
		snprintf(out, cap, "%s%s", e->violation ? "catches " : "", scn_invariant_name(e->what));
}

/* The record, then its failures: one build writes and reads it. */
int result_save(FILE *f, const struct result *r)
{
	struct result head = *r;
	head.failures = NULL;
	if (fwrite(&head, sizeof head, 1, f) != 1 ||
	    (r->nfailures && fwrite(r->failures, sizeof *r->failures, r->nfailures, f) != r->nfailures) ||
	    fflush(f) != 0)
		return -1;
	return 0;
}

int result_load(FILE *f, struct result *r)
{
	if (fread(r, sizeof *r, 1, f) != 1 || r->nfailures > (1u << 24)) {
		memset(r, 0, sizeof *r);
		errno = EINVAL;
		return -1;
	}
	r->failures = NULL;
	size_t n = r->nfailures;
	r->nfailures = 0;
	if (!n)
		return 0;
	r->failures = calloc(n, sizeof *r->failures);
	if (!r->failures)
		return -1;
	if (fread(r->failures, sizeof *r->failures, n, f) != n) {
		result_free(r);
		errno = EINVAL;
		return -1;
	}
	r->nfailures = n;
	return 0;
}

static const char *verdict_name(enum result_verdict v)
{
	static const char *const names[] = {"fail", "pass", "skip", "error"};
	return names[v];
}

/* json_object_set_new's result is not news: a failed set is out of
 * memory, which json_dump_file then fails on. */
#define SET(o, k, v) (void)json_object_set_new((o), (k), (v))

int results_write_json(const char *path, const struct results_run *run, const struct result *rs,
                       int n)
{
	json_t *root = json_object(), *list = json_array();
	int passed = 0, failed = 0, skipped = 0, errors = 0;
	for (int i = 0; i < n; i++) {
		const struct result *r = &rs[i];
		passed += r->verdict == RESULT_PASS;
		failed += r->verdict == RESULT_FAIL;
		skipped += r->verdict == RESULT_SKIP;
		errors += r->verdict == RESULT_ERROR;
		json_t *o = json_object(), *g = json_array(), *fl = json_array();
		SET(o, "file", json_string(r->path));
		SET(o, "description", json_string(r->description));
		SET(o, "verdict", json_string(verdict_name(r->verdict)));
		SET(o, "seeds", json_pack("{s:I,s:I,s:I}", "first", (json_int_t)r->first, "last",
		                          (json_int_t)r->last, "run", (json_int_t)r->runs));
		for (int k = 0; k < r->nguarantees; k++)
			(void)json_array_append_new(g, json_string(r->guarantees[k]));
		SET(o, "guarantees", g);
		SET(o, "duration_s", json_real(r->seconds));
		if (*r->note)
			SET(o, "note", json_string(r->note));
		for (size_t k = 0; k < r->nfailures; k++) {
			const struct result_failure *f = &r->failures[k];
			json_t *x = json_object();
			SET(x, "seed", json_integer((json_int_t)f->seed));
			SET(x, "guarantee", json_string(f->guarantee));
			SET(x, "why", json_string(f->why));
			SET(x, "reproduce", json_string(f->reproduce));
			if (*f->trace)
				SET(x, "trace", json_string(f->trace));
			if (*f->pcap)
				SET(x, "pcap", json_string(f->pcap));
			if (*f->shrunk)
				SET(x, "shrunk", json_string(f->shrunk));
			(void)json_array_append_new(fl, x);
		}
		SET(o, "failures", fl);
		if (r->has_coverage) {
			/* The statements its runs reached, by id. */
			json_t *ids = json_array();
			int nst;
			const struct statement *st = coverage_statements(&nst);
			for (int k = 0; k < nst; k++)
				if (r->reached[k / 8] >> (k % 8) & 1)
					(void)json_array_append_new(ids, json_string(st[k].id));
			SET(o, "statements", ids);
		}
		(void)json_array_append_new(list, o);
	}
	SET(root, "schema", json_string("mqttsim-results/1"));
	SET(root, "mode", json_string(run->mode));
	SET(root, "seeds", json_pack("{s:I,s:I}", "first", (json_int_t)run->first, "last",
	                             (json_int_t)run->last));
	SET(root, "duration_s", json_real(run->seconds));
	SET(root, "command", json_string(run->command));
	SET(root, "passed", json_integer(passed));
	SET(root, "failed", json_integer(failed));
	SET(root, "skipped", json_integer(skipped));
	SET(root, "errors", json_integer(errors));
	SET(root, "scenarios", list);
	struct coverage_run *cov = calloc((size_t)n + 1, sizeof *cov);
	int ncov = 0;
	for (int i = 0; cov && i < n; i++)
		if (rs[i].has_coverage)
			cov[ncov++] = (struct coverage_run){rs[i].path, rs[i].reached};
	if (ncov) {
		struct coverage_counts c = coverage_count(cov, ncov);
		SET(root, "coverage", json_pack("{s:i,s:i,s:i,s:i}", "statements", c.statements,
		                                "applicable", c.applicable, "exercised", c.exercised,
		                                "tagged", c.tagged));
	}
	free(cov);
	int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(root);
	if (rc != 0 && !errno)
		errno = EIO;
	return rc ? -1 : 0;
}

/* The testcase's class: "mqttsim" and the scenario's folders, dotted, as
 * JUnit readers group them ("/", "." and ".." name none). */
static void classname(FILE *f, const char *path)
{
	char name[1024] = "mqttsim";
	size_t used = strlen(name);
	const char *slash = strrchr(path, '/');
	for (const char *c = path; slash && c < slash && used < sizeof name - 2;) {
		size_t n = strcspn(c, "/");
		if (c + n > slash)
			n = (size_t)(slash - c);
		if (n && !(n == 1 && *c == '.') && !(n == 2 && !strncmp(c, "..", 2))) {
			name[used++] = '.';
			for (size_t k = 0; k < n && used < sizeof name - 1; k++)
				name[used++] = c[k] == '.' ? '_' : c[k];
		}
		c += n + 1;
	}
	name[used] = 0;
	markup_text(f, name);
}

int results_write_junit(const char *path, const struct results_run *run, const struct result *rs,
                        int n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int failures = 0, skipped = 0, errors = 0;
	for (int i = 0; i < n; i++) {
		failures += rs[i].verdict == RESULT_FAIL;
		skipped += rs[i].verdict == RESULT_SKIP;
		errors += rs[i].verdict == RESULT_ERROR;
	}
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", gmtime_r(&now, &tm));
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<testsuites name=\"mqttsim\" tests=\"%d\" failures=\"%d\" errors=\"%d\" "
	        "time=\"%.3f\">\n"
	        "  <testsuite name=\"mqttsim %s\" tests=\"%d\" failures=\"%d\" errors=\"%d\" "
	        "skipped=\"%d\" time=\"%.3f\" timestamp=\"%s\">\n",
	        n, failures, errors, run->seconds, run->mode, n, failures, errors, skipped,
	        run->seconds, stamp);
	fprintf(f, "    <properties>\n      <property name=\"seeds\" value=\"%llu..%llu\"/>\n"
	        "      <property name=\"command\" value=\"", (unsigned long long)run->first,
	        (unsigned long long)run->last);
	markup_text(f, run->command);
	fputs("\"/>\n    </properties>\n", f);
	for (int i = 0; i < n; i++) {
		const struct result *r = &rs[i];
		const char *base = strrchr(r->path, '/');
		fputs("    <testcase name=\"", f);
		markup_text(f, base ? base + 1 : r->path);
		fputs("\" classname=\"", f);
		classname(f, r->path);
		fprintf(f, "\" time=\"%.3f\">\n", r->seconds);
		if (r->verdict == RESULT_SKIP) {
			fputs("      <skipped message=\"", f);
			markup_text(f, r->note);
			fputs("\"/>\n", f);
		} else if (r->verdict == RESULT_ERROR) {
			fputs("      <error message=\"", f);
			markup_text(f, r->note);
			fputs("\" type=\"target\"/>\n", f);
		} else if (r->verdict == RESULT_FAIL) {
			/* The first failing seed is the message; every one is in the body. */
			const struct result_failure *x = r->nfailures ? &r->failures[0] : NULL;
			char msg[2000];
			if (x)
				snprintf(msg, sizeof msg, "%s broken with seed %llu: %s; reproduce: %s",
				         x->guarantee, (unsigned long long)x->seed, x->why, x->reproduce);
			else
				snprintf(msg, sizeof msg, "failed");
			fputs("      <failure message=\"", f);
			markup_text(f, msg);
			fprintf(f, "\" type=\"%s\">", x ? x->guarantee : "run");
			for (size_t k = 0; k < r->nfailures; k++) {
				const struct result_failure *y = &r->failures[k];
				char line[2000];
				snprintf(line, sizeof line, "seed %llu: %s: %s\nreproduce: %s\n",
				         (unsigned long long)y->seed, y->guarantee, y->why, y->reproduce);
				markup_text(f, line);
			}
			fputs("</failure>\n", f);
		}
		/* The artifacts, where CI systems show a test's output. */
		bool any = false;
		for (size_t k = 0; k < r->nfailures; k++) {
			const struct result_failure *y = &r->failures[k];
			if (!*y->trace && !*y->pcap)
				continue;
			if (!any)
				fputs("      <system-out>", f);
			any = true;
			char line[2200];
			snprintf(line, sizeof line, "seed %llu trace: %s\nseed %llu pcap: %s\n",
			         (unsigned long long)y->seed, y->trace, (unsigned long long)y->seed, y->pcap);
			markup_text(f, line);
		}
		if (any)
			fputs("</system-out>\n", f);
		if (r->verdict == RESULT_PASS && *r->note) {
			fputs("      <system-err>", f);
			markup_text(f, r->note);
			fputs("</system-err>\n", f);
		}
		fputs("    </testcase>\n", f);
	}
	fputs("  </testsuite>\n</testsuites>\n", f);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		if (!errno)
			errno = EIO;
		return -1;
	}
	return 0;
}
