/*
 * coverage.c - the statements of MQTT 3.1.1 against the places the
 * library tags and the runs that reached them.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "codec/conformance.h"
#include "coverage.h"
#include "markup.h"

/* Made by scripts/statements.sh at build time. */
extern const char mqtt_statements_tsv[];
extern const char mqtt_statements_tagged[];

static struct statement table[COVERAGE_MAX];
static int ntable = -1;

/* Field k (from 0) of a tab-separated line into out. */
static void field(const char *line, size_t len, int k, char *out, size_t cap)
{
	const char *p = line, *end = line + len;
	for (int i = 0; i < k && p < end; i++) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		p = tab ? tab + 1 : end;
	}
	const char *tab = memchr(p, '\t', (size_t)(end - p));
	size_t n = (size_t)((tab ? tab : end) - p);
	snprintf(out, cap, "%.*s", (int)n, p);
}

static void load(void)
{
	ntable = 0;
	for (const char *line = mqtt_statements_tsv; *line && ntable < COVERAGE_MAX;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		struct statement *s = &table[ntable];
		memset(s, 0, sizeof *s);
		field(line, len, 0, s->id, sizeof s->id);
		field(line, len, 1, s->who, sizeof s->who);
		field(line, len, 2, s->summary, sizeof s->summary);
		field(line, len, 3, s->why_not, sizeof s->why_not);
		if (!strncmp(s->id, "MQTT-", 5))
			ntable++;
		line += len + (nl != NULL);
	}
	for (const char *line = mqtt_statements_tagged; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char id[24], where[160];
		const char *sp = memchr(line, ' ', len);
		if (sp) {
			snprintf(id, sizeof id, "%.*s", (int)(sp - line), line);
			snprintf(where, sizeof where, "%.*s", (int)(len - (size_t)(sp + 1 - line)), sp + 1);
			int k = coverage_find(id);
			if (k >= 0) {
				struct statement *s = &table[k];
				size_t used = strlen(s->tagged);
				if (used + strlen(where) + 3 < sizeof s->tagged)
					snprintf(s->tagged + used, sizeof s->tagged - used, "%s%s", used ? ", " : "",
					         where);
			}
		}
		line += len + (nl != NULL);
	}
}

const struct statement *coverage_statements(int *n)
{
	if (ntable < 0)
		load();
	*n = ntable;
	return ntable ? table : NULL;
}

int coverage_find(const char *id)
{
	if (ntable < 0)
		load();
	for (int i = 0; i < ntable; i++)
		if (!strcmp(table[i].id, id))
			return i;
	return -1;
}

void coverage_snapshot(uint64_t *counts)
{
	memset(counts, 0, COVERAGE_MAX * sizeof *counts);
	for (struct mqtt_conformance_site *s = mqtt_conformance_sites(); s; s = s->next) {
		if (s->statement == -1) {
			int k = coverage_find(s->id);
			s->statement = k >= 0 ? k : -2; /* -2: an unknown id, counted nowhere */
		}
		if (s->statement >= 0)
			counts[s->statement] += __atomic_load_n(&s->hits, __ATOMIC_RELAXED);
	}
}

void coverage_diff(const uint64_t *before, const uint64_t *after, uint8_t *reached)
{
	for (int i = 0; i < COVERAGE_MAX; i++)
		if (after[i] > before[i])
			reached[i / 8] |= (uint8_t)(1u << (i % 8));
}

size_t coverage_unknown_tags(char *out, size_t cap)
{
	size_t n = 0, used = 0;
	if (cap)
		*out = 0;
	for (const char *line = mqtt_statements_tagged; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *sp = memchr(line, ' ', len);
		char id[24];
		snprintf(id, sizeof id, "%.*s", (int)(sp ? sp - line : 0), line);
		if (coverage_find(id) < 0) {
			n++;
			if (used < cap)
				used += (size_t)snprintf(out + used, cap - used, "%.*s\n", (int)len, line);
		}
		line += len + (nl != NULL);
	}
	return n;
}

static bool reached_by(const struct coverage_run *r, int i)
{
	return r->reached && (r->reached[i / 8] >> (i % 8) & 1);
}

static bool not_applicable(const struct statement *s)
{
	return !strncmp(s->why_not, "n/a", 3);
}

struct coverage_counts coverage_count(const struct coverage_run *runs, int n)
{
	struct coverage_counts c = {0};
	int nst;
	const struct statement *st = coverage_statements(&nst);
	for (int i = 0; i < nst; i++) {
		c.statements++;
		if (not_applicable(&st[i]))
			continue;
		c.applicable++;
		c.tagged += *st[i].tagged != 0;
		for (int k = 0; k < n; k++)
			if (reached_by(&runs[k], i)) {
				c.exercised++;
				break;
			}
	}
	return c;
}

/* What the table says of statement i: its status word and the text after it. */
static const char *status(const struct statement *s, const struct coverage_run *runs, int n, int i,
                          int *by)
{
	*by = 0;
	for (int k = 0; k < n; k++)
		*by += reached_by(&runs[k], i);
	if (*by)
		return "exercised";
	if (not_applicable(s))
		return "n/a";
	return *s->tagged ? "not exercised" : "not tagged";
}

/* The reason given, without its "n/a: " or "not exercised: " lead. */
static const char *reason(const struct statement *s)
{
	const char *colon = strchr(s->why_not, ':');
	return colon ? colon + 1 + (colon[1] == ' ') : s->why_not;
}

void coverage_print(FILE *f, const struct coverage_run *runs, int n)
{
	int nst;
	const struct statement *st = coverage_statements(&nst);
	for (int i = 0; i < nst; i++) {
		int by;
		const char *word = status(&st[i], runs, n, i, &by);
		fprintf(f, "%-14s %-6s %-13s ", st[i].id, st[i].who, word);
		if (by) {
			int shown = 0;
			fprintf(f, "by %d scenario%s: ", by, by == 1 ? "" : "s");
			for (int k = 0; k < n && shown < 3; k++)
				if (reached_by(&runs[k], i))
					fprintf(f, "%s%s", shown++ ? ", " : "", runs[k].name);
			if (by > shown)
				fprintf(f, ", ...");
		} else if (*st[i].why_not) {
			fputs(reason(&st[i]), f);
		} else if (*st[i].tagged) {
			fprintf(f, "tagged at %s", st[i].tagged);
		} else {
			fputs(st[i].summary, f);
		}
		fputc('\n', f);
	}
	struct coverage_counts c = coverage_count(runs, n);
	fprintf(f, "coverage: %d of %d applicable statements exercised (%d tagged in the code; %d "
	        "statements, %d not applicable)\n", c.exercised, c.applicable, c.tagged, c.statements,
	        c.statements - c.applicable);
}

void coverage_html(FILE *f, const struct coverage_run *runs, int n)
{
	int nst;
	const struct statement *st = coverage_statements(&nst);
	struct coverage_counts c = coverage_count(runs, n);
	fprintf(f, "<section class=\"coverage\" id=\"coverage\" data-exercised=\"%d\" "
	        "data-applicable=\"%d\">\n<h2>Conformance coverage</h2>\n<p>%d of %d applicable "
	        "normative statements of MQTT 3.1.1 exercised by these runs (%d tagged in the code; %d "
	        "not applicable).</p>\n<table class=\"coverage\">\n<tr><th>statement</th><th>who</th>"
	        "<th>says</th><th>status</th></tr>\n", c.exercised, c.applicable, c.exercised,
	        c.applicable, c.tagged, c.statements - c.applicable);
	for (int i = 0; i < nst; i++) {
		int by;
		const char *word = status(&st[i], runs, n, i, &by);
		char cls[16];
		snprintf(cls, sizeof cls, "%s", word);
		for (char *ch = cls; *ch; ch++)
			if (*ch == ' ' || *ch == '/')
				*ch = '-';
		fprintf(f, "<tr class=\"%s\" data-id=\"%s\"><td>%s</td><td>%s</td><td>", cls, st[i].id,
		        st[i].id, st[i].who);
		markup_text(f, st[i].summary);
		fprintf(f, "</td><td><b>%s</b>", word);
		if (by) {
			fputs(": ", f);
			int shown = 0;
			for (int k = 0; k < n; k++)
				if (reached_by(&runs[k], i)) {
					fputs(shown++ ? ", " : "", f);
					markup_text(f, runs[k].name);
				}
		} else if (*st[i].why_not) {
			fputs(": ", f);
			markup_text(f, reason(&st[i]));
		}
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n</section>\n", f);
}

static void json_text(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc((unsigned char)*s < 0x20 ? '?' : *s, f);
	}
	fputc('"', f);
}

void coverage_json(FILE *f, const struct coverage_run *runs, int n)
{
	int nst;
	const struct statement *st = coverage_statements(&nst);
	fputc('[', f);
	for (int i = 0; i < nst; i++) {
		int by;
		const char *word = status(&st[i], runs, n, i, &by);
		fprintf(f, "%s\n{\"id\":\"%s\",\"who\":\"%s\",\"status\":\"%s\",\"scenarios\":[", i ? "," : "",
		        st[i].id, st[i].who, word);
		int shown = 0;
		for (int k = 0; k < n; k++)
			if (reached_by(&runs[k], i)) {
				fputs(shown++ ? "," : "", f);
				json_text(f, runs[k].name);
			}
		fputs("],\"reason\":", f);
		json_text(f, *st[i].why_not ? reason(&st[i]) : "");
		fputs("}", f);
	}
	fputs("\n]", f);
}
