/*
 * explore.c - one explored seed: generated, simulated, judged, shrunk,
 * named (explore.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explore.h"
#include "gen.h"
#include "scenarios/lang/scenario.h"
#include "scenarios/shrink/shrink.h"
#include "scenarios/sim/sim.h"

size_t explore_text(uint64_t seed, const char *extra, char *out, size_t cap)
{
	size_t n = explore_generate(seed, out, cap);
	size_t more = extra ? strlen(extra) : 0;
	if (!n || n + more >= cap)
		return 0;
	if (more)
		memcpy(out + n, extra, more + 1);
	return n + more;
}

/* Smaller scenarios tried per failure, at most: the first hundreds
 * remove most of a scenario; a long tail would hold the exploration up. */
#define EXPLORE_SHRINK_RUNS 250

int explore_seed(uint64_t seed, bool shrink, const char *extra, struct explore_failure *f)
{
	char text[EXPLORE_TEXT_MAX + 1024], path[64], err[600];
	memset(f, 0, sizeof *f);
	f->seed = seed;
	snprintf(path, sizeof path, "explore-seed%llu.scn", (unsigned long long)seed);
	if (!explore_text(seed, extra, text, sizeof text)) {
		snprintf(f->why, sizeof f->why, "generator error: the scenario is longer than %d bytes",
		         EXPLORE_TEXT_MAX);
		return -1;
	}
	struct scenario s;
	if (scenario_parse(&s, path, text, err, sizeof err) != 0) {
		/* The generator wrote something the language refuses: its bug. */
		snprintf(f->why, sizeof f->why, "generator error: %.480s", err);
		return -1;
	}
	struct scn_result r;
	int rc = scenario_simulate(&s, seed, &r, NULL, NULL);
	scenario_free(&s);
	if (rc != 0 && !*r.why) {
		snprintf(f->why, sizeof f->why, "the simulation could not be set up");
		return -1;
	}
	if (rc == 0 && r.passed)
		return 0;
	snprintf(f->why, sizeof f->why, "%s", r.why);
	if (shrink)
		f->minimal = scenario_shrink_bounded(path, text, seed, EXPLORE_SHRINK_RUNS,
		                                     &f->shrink_runs, &f->lines_before, &f->lines_after);
	explore_signature(f->minimal ? f->minimal : text, f->signature, sizeof f->signature);
	return 1;
}

/* Keys whose values say what happens (kept in a shape); the others size
 * or time it (left out). */
static bool telling_key(const char *key, size_t len)
{
	static const char *const keys[] = {"qos", "will-qos", "clean", "store", "retain",
	                                   "will-retain", "damage", "when"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (strlen(keys[i]) == len && !strncmp(keys[i], key, len))
			return true;
	return false;
}

/* Directives whose third word is a topic or filter. */
static bool takes_topic(const char *word, size_t len)
{
	static const char *const words[] = {"subscribe", "unsubscribe", "publish", "clear"};
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strlen(words[i]) == len && !strncmp(words[i], word, len))
			return true;
	return false;
}

/* Directives whose second word is a client's name. */
static bool names_client(const char *word, size_t len)
{
	static const char *const words[] = {"client", "subscribe", "unsubscribe", "publish", "clear",
	                                    "fault", "crash", "disconnect", "disk", "script"};
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strlen(words[i]) == len && !strncmp(words[i], word, len))
			return true;
	return false;
}

struct shape {
	char *s;
	size_t len, cap;
};

static void add(struct shape *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap)
		n = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = 0;
}

/* p..p+n with each run of digits written as N. */
static void add_digitless(struct shape *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool in_word = i && ((p[i - 1] >= 'a' && p[i - 1] <= 'z') || (p[i - 1] >= 'A' && p[i - 1] <= 'Z'));
		if (p[i] >= '0' && p[i] <= '9' && !in_word) { /* c2b stays c2b */
			while (i + 1 < n && ((p[i + 1] >= '0' && p[i + 1] <= '9') || p[i + 1] == '.'))
				i++;
			add(b, "N", 1);
		} else {
			add(b, p + i, 1);
		}
	}
}

static int compare_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void explore_signature(const char *minimal, char *out, size_t cap)
{
	char *lines[SCN_MAX_STEPS * 4];
	size_t nlines = 0;
	char line_buf[512];
	for (const char *p = minimal; *p && nlines < sizeof lines / sizeof *lines;) {
		size_t len = strcspn(p, "\n");
		const char *end = p + len, *q = p + strspn(p, " \t");
		struct shape b = {line_buf, 0, sizeof line_buf};
		line_buf[0] = 0;
		bool expect = !strncmp(q, "expect", 6);
		size_t first_len = strcspn(q, " \t\n");
		for (int word = 0; q < end && *q != '#'; word++) {
			size_t w = strcspn(q, " \t\n");
			if (w > (size_t)(end - q))
				w = (size_t)(end - q);
			if (b.len)
				add(&b, " ", 1);
			const char *eq = memchr(q, '=', w);
			if (expect || word == 0) {
				add(&b, q, w);
			} else if (word == 1 && names_client(line_buf, first_len)) {
				add(&b, "C", 1);
			} else if (word == 2 && takes_topic(line_buf, first_len)) {
				add(&b, "T", 1); /* which topic or filter: a detail of the shape */
			} else if (eq) {
				size_t klen = (size_t)(eq - q);
				add(&b, q, klen + 1);
				if (telling_key(q, klen))
					add(&b, eq + 1, w - klen - 1);
				else if ((klen == 5 && !strncmp(q, "after", 5)) || (klen == 6 && !strncmp(q, "before", 6)))
					add_digitless(&b, eq + 1, w - klen - 1);
				else
					add(&b, "N", 1);
			} else {
				add_digitless(&b, q, w);
			}
			q += w;
			q += strspn(q, " \t");
		}
		if (b.len && (lines[nlines] = strdup(line_buf)))
			nlines++;
		p = *end ? end + 1 : end;
	}
	qsort(lines, nlines, sizeof *lines, compare_lines);
	/* The failed expectation first, then the rest. */
	struct shape o = {out, 0, cap};
	if (cap)
		out[0] = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < nlines; i++) {
			if (i && !strcmp(lines[i], lines[i - 1]))
				continue; /* two clients alike are one shape */
			bool is_expect = !strncmp(lines[i], "expect ", 7);
			if (is_expect != (pass == 0))
				continue;
			if (o.len)
				add(&o, "; ", 2);
			add(&o, is_expect ? lines[i] + 7 : lines[i], strlen(is_expect ? lines[i] + 7 : lines[i]));
		}
	for (size_t i = 0; i < nlines; i++)
		free(lines[i]);
}

uint32_t explore_signature_hash(const char *signature)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)signature; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

int explore_failed_invariant(const char *why)
{
	const char *p = strstr(why, ": ");
	if (strncmp(why, "line ", 5) != 0 || !p)
		return 0;
	p += 2;
	for (int i = 1; i < SCN_INVARIANT_COUNT; i++) {
		const char *name = scn_invariant_name((enum scn_invariant)i);
		size_t n = strlen(name);
		if (!strncmp(p, name, n) && p[n] == ' ')
			return i;
	}
	return 0;
}
