/*
 * shrink.c - reduces a failing scenario to a smaller one that still
 * fails with the same seed (scenario_shrink in scenario.h).
 *
 * It works on the text, so what comes out is a scenario file a user can
 * read, run and keep: first only the expectation that failed is kept,
 * then every other line is left out in turn where the run still fails
 * without it (faults, crashes, rules, publishers, clients...), then each
 * key=value option of the lines left (its default applies), and the
 * numbers that size the workload (count=, size=, window=) are halved,
 * then lowered by one, while it still fails. Greedy and deterministic: a run is a function of
 * (scenario, seed), so each try is exact, and the same input always
 * shrinks to the same output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/sim/sim.h"
#include "shrink.h"

struct lines {
	char **text;  /* each without its newline; owned */
	bool *keep;
	size_t n;
};

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->text[i]);
	free(l->text);
	free(l->keep);
}

static int lines_split(struct lines *l, const char *text)
{
	size_t n = 1;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	l->text = calloc(n, sizeof *l->text);
	l->keep = calloc(n, sizeof *l->keep);
	l->n = 0;
	if (!l->text || !l->keep)
		return -1;
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");
		if (!(l->text[l->n] = strndup(p, len)))
			return -1;
		l->keep[l->n++] = true;
		p += len;
		if (*p)
			p++;
	}
	return 0;
}

/* The kept lines as one text; NULL when out of memory. */
static char *lines_join(const struct lines *l)
{
	size_t size = 1;
	for (size_t i = 0; i < l->n; i++)
		if (l->keep[i])
			size += strlen(l->text[i]) + 1;
	char *out = malloc(size), *at = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		if (l->keep[i]) {
			size_t len = strlen(l->text[i]);
			memcpy(at, l->text[i], len);
			at += len;
			*at++ = '\n';
		}
	*at = 0;
	return out;
}

/* The first word of a line, and whether it is a comment or blank. */
static bool is_comment(const char *line)
{
	line += strspn(line, " \t\r");
	return !*line || *line == '#';
}

static bool starts_with_word(const char *line, const char *word)
{
	line += strspn(line, " \t");
	size_t n = strlen(word);
	return !strncmp(line, word, n) && (line[n] == ' ' || line[n] == '\t' || !line[n]);
}

struct shrinker {
	const char *path;
	uint64_t seed;
	unsigned runs;
	struct lines l;
	int want; /* what counts as failing: 0 a verdict, -1 a livelock (said in why) */
	unsigned max_runs; /* 0: no bound */
};

/* Whether the kept lines make a scenario that still fails with the seed. */
static bool still_fails(struct shrinker *k, struct scn_result *r)
{
	if (k->max_runs && k->runs >= k->max_runs)
		return false; /* the bound: nothing smaller is tried */
	char *text = lines_join(&k->l);
	if (!text)
		return false;
	struct scenario s;
	char err[600];
	bool fails = false;
	if (scenario_parse(&s, k->path, text, err, sizeof err) == 0) {
		k->runs++;
		int rc = scenario_simulate(&s, k->seed, r, NULL, NULL);
		fails = rc == k->want && !r->passed && (rc == 0 || strstr(r->why, "livelock"));
		scenario_free(&s);
	}
	free(text);
	return fails;
}

/* Leaves out each line in turn where the run still fails without it. */
static bool drop_lines(struct shrinker *k, size_t pinned)
{
	bool changed = false;
	struct scn_result r;
	for (size_t i = 0; i < k->l.n; i++) {
		if (!k->l.keep[i] || i == pinned || is_comment(k->l.text[i]))
			continue;
		k->l.keep[i] = false;
		if (still_fails(k, &r))
			changed = true;
		else
			k->l.keep[i] = true;
	}
	return changed;
}

/* Halves the value of key=N in line i while the run still fails, then
 * takes one off while it does. */
static bool halve_number(struct shrinker *k, size_t i, const char *key)
{
	bool changed = false, halving = true;
	struct scn_result r;
	for (;;) {
		char *line = k->l.text[i];
		char pattern[32];
		snprintf(pattern, sizeof pattern, " %s=", key);
		char *at = strstr(line, pattern);
		if (!at)
			return changed;
		char *num = at + strlen(pattern), *end;
		unsigned long v = strtoul(num, &end, 10);
		if (end == num || v <= 1 || (*end && *end != ' ' && *end != '\t' && *end != '\r'))
			return changed;
		size_t head = (size_t)(num - line);
		char *shorter = malloc(head + 24 + strlen(end));
		if (!shorter)
			return changed;
		sprintf(shorter, "%.*s%lu%s", (int)head, line, halving ? v / 2 : v - 1, end);
		k->l.text[i] = shorter;
		if (!still_fails(k, &r)) {
			k->l.text[i] = line;
			free(shorter);
			if (!halving || v / 2 == v - 1)
				return changed;
			halving = false;
			continue;
		}
		free(line);
		changed = true;
	}
}

/*
 * Whether the key=value word at w is one that bounds the trouble a line
 * makes: a fault's trigger, connection and count (without them it acts
 * on every connection), a rule's count (for ever), a crash's restart
 * (never), a full disk's for= (for good). Left out, the scenario would
 * fail for another reason than the one found: the shrinker keeps them.
 */
static bool kept_key(const char *line, const char *w)
{
	static const char *const fault_keys[] = {"after=", "before=", "time=", "p=", "pbyte=", "byte=",
	                                         "packet=", "conn=", "count=", "for="};
	if (starts_with_word(line, "fault")) {
		for (size_t i = 0; i < sizeof fault_keys / sizeof *fault_keys; i++)
			if (!strncmp(w, fault_keys[i], strlen(fault_keys[i])))
				return true;
		return false;
	}
	return (starts_with_word(line, "rule") && !strncmp(w, "count=", 6)) ||
	       (starts_with_word(line, "crash") && !strncmp(w, "restart=", 8)) ||
	       (starts_with_word(line, "disk") && !strncmp(w, "for=", 4));
}

/* Leaves out each key=value word of line i where the run still fails
 * without it (a default then applies: clean=, size=, jitter=...). */
static bool drop_options(struct shrinker *k, size_t i)
{
	bool changed = false;
	struct scn_result r;
	size_t word = 0;
	for (;;) {
		char *line = k->l.text[i];
		/* The start and end of the word-th key=value word. */
		const char *p = line, *start = NULL, *end = NULL;
		size_t seen = 0;
		while (*p) {
			p += strspn(p, " \t");
			const char *w = p;
			p += strcspn(p, " \t");
			if (p > w && memchr(w, '=', (size_t)(p - w)) && seen++ == word) {
				start = w;
				end = p;
				break;
			}
		}
		if (!start)
			return changed;
		if (kept_key(line, start)) {
			word++; /* without it, the line is another kind of trouble, not a smaller one */
			continue;
		}
		size_t head = (size_t)(start - line);
		while (head && (line[head - 1] == ' ' || line[head - 1] == '\t'))
			head--;
		char *shorter = malloc(strlen(line) + 1);
		if (!shorter)
			return changed;
		sprintf(shorter, "%.*s%s", (int)head, line, end);
		k->l.text[i] = shorter;
		if (still_fails(k, &r)) {
			free(line);
			changed = true;
		} else {
			k->l.text[i] = line;
			free(shorter);
			word++;
		}
	}
}

static bool shrink_numbers(struct shrinker *k)
{
	static const char *const keys[] = {"count", "size", "window"};
	bool changed = false;
	for (size_t i = 0; i < k->l.n; i++)
		if (k->l.keep[i] && !is_comment(k->l.text[i]))
			for (size_t j = 0; j < sizeof keys / sizeof keys[0]; j++)
				if (halve_number(k, i, keys[j]))
					changed = true;
	return changed;
}

char *scenario_shrink(const char *path, const char *text, uint64_t seed, unsigned *runs,
                      size_t *lines_before, size_t *lines_after)
{
	return scenario_shrink_bounded(path, text, seed, 0, runs, lines_before, lines_after);
}

char *scenario_shrink_bounded(const char *path, const char *text, uint64_t seed,
                              unsigned max_runs, unsigned *runs, size_t *lines_before,
                              size_t *lines_after)
{
	struct shrinker k = {path, seed, 0, {0}, 0, 0};
	char *out = NULL;
	struct scn_result r;
	if (lines_split(&k.l, text) != 0)
		goto done;
	if (!still_fails(&k, &r)) {
		k.want = -1; /* a livelock shrinks to a smallest livelock */
		if (!still_fails(&k, &r))
			goto done;
	}
	k.max_runs = max_runs ? k.runs + max_runs : 0;
	size_t before = 0;
	for (size_t i = 0; i < k.l.n; i++)
		before += !is_comment(k.l.text[i]);
	/* The expectation that failed ("line N: ..."), and no other. */
	size_t pinned = k.l.n;
	unsigned failed_line;
	if (sscanf(r.why, "line %u:", &failed_line) == 1 && failed_line >= 1 && failed_line <= k.l.n)
		pinned = failed_line - 1;
	if (pinned < k.l.n) {
		for (size_t i = 0; i < k.l.n; i++)
			if (i != pinned && starts_with_word(k.l.text[i], "expect"))
				k.l.keep[i] = false;
		if (!still_fails(&k, &r))
			for (size_t i = 0; i < k.l.n; i++)
				k.l.keep[i] = true; /* they fail together: keep them all */
	}
	/* Comments go, but for the first: it says what the scenario was. */
	bool first = true;
	for (size_t i = 0; i < k.l.n; i++)
		if (is_comment(k.l.text[i])) {
			k.l.keep[i] = first && strchr(k.l.text[i], '#');
			first = first && !k.l.keep[i];
		}
	for (int round = 0; round < 8; round++) {
		bool changed = drop_lines(&k, pinned);
		for (size_t i = 0; i < k.l.n; i++)
			if (k.l.keep[i] && i != pinned && !is_comment(k.l.text[i]) && drop_options(&k, i))
				changed = true;
		if (shrink_numbers(&k))
			changed = true;
		if (!changed)
			break;
	}
	size_t after = 0;
	for (size_t i = 0; i < k.l.n; i++)
		after += k.l.keep[i] && !is_comment(k.l.text[i]);
	if (lines_before)
		*lines_before = before;
	if (lines_after)
		*lines_after = after;
	out = lines_join(&k.l);
done:
	if (runs)
		*runs = k.runs;
	lines_free(&k.l);
	return out;
}
