/*
 * mqttsim - runs scenarios and judges MQTT delivery guarantees (usage()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scenario.h"

static const char usage_text[] =
"Usage: mqttsim run [OPTION]... FILE.scn...\n"
"       mqttsim check FILE.scn...\n"
"Runs MQTT scenarios in deterministic simulation - the client's session core,\n"
"the fake broker's core and fault links in virtual time - and judges each run\n"
"with the guarantee oracle: QoS 0 at most once, QoS 1 at least once, QoS 2\n"
"exactly once, order, no phantom messages, liveness. A scenario passes when\n"
"every seed meets its expectations. 'check' only parses the files.\n"
"\n"
"Options:\n"
"  --seeds A..B      the seeds to run, inclusive (default 1..200); A alone: one\n"
"  --trace           print every run's trace (connections, faults, crashes)\n"
"  --artifacts DIR   where a failing run's trace goes (default ./mqttsim-failures)\n"
"  -q, --quiet       only the summary and failures\n"
"  --table           end with a table: each scenario, its verdict and the\n"
"                    guarantees it proved (make demo)\n"
"  -h, --help        this text\n"
"\n"
"A failing run prints its seed and the command that reproduces it. The last\n"
"line is \"N passed, M failed\", counting scenarios.\n"
"\n"
"Example:\n"
"  mqttsim run --seeds 1..50 scenarios/qos1-drop-after-puback.scn\n"
"\n"
"Exit status: 0 when every expectation held, 1 when one did not, 2 for bad\n"
"usage or a bad scenario file (file:line:column: message).\n";

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "mqttsim: %s%s\nTry 'mqttsim --help'.\n", msg, arg);
	return 2;
}

static bool parse_seeds(const char *s, uint64_t *a, uint64_t *b)
{
	char *end;
	errno = 0;
	*a = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return false;
	if (!*end) {
		*b = *a;
		return true;
	}
	if (strncmp(end, "..", 2) != 0)
		return false;
	const char *t = end + 2;
	*b = strtoull(t, &end, 10);
	return !errno && end != t && !*end && *t != '-' && *b >= *a;
}

static void write_artifact(const char *dir, const struct scenario *s, uint64_t seed)
{
	mkdir(dir, 0777);
	const char *base = strrchr(s->path, '/');
	base = base ? base + 1 : s->path;
	char path[1024];
	snprintf(path, sizeof path, "%s/%s-seed%llu.trace", dir, base, (unsigned long long)seed);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "mqttsim: %s: %s\n", path, strerror(errno));
		return;
	}
	struct scn_result r;
	scenario_simulate(s, seed, &r, f);
	fprintf(f, "verdict: %s%s%s\n", r.passed ? "pass" : "fail", r.passed ? "" : ": ", r.why);
	fclose(f);
	printf("  trace: %s\n", path);
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	/* Each run makes sessions whose large tables are mostly untouched. With
	 * glibc's sliding mmap threshold they would come from the heap after
	 * the first free and be cleared byte by byte; pinned, they stay fresh
	 * zero pages (this halves the time of a run). */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	bool check_only = !strcmp(argv[1], "check");
	if (!check_only && strcmp(argv[1], "run") != 0)
		return usage_error("unknown command ", argv[1]);
	uint64_t first = 1, last = 200;
	bool trace = false, quiet = false, table = false;
	const char *artifacts = "mqttsim-failures";
	int i = 2;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			if (!parse_seeds(argv[++i], &first, &last))
				return usage_error("--seeds takes A..B (A <= B) or A, not ", argv[i]);
		} else if (!strcmp(argv[i], "--trace")) {
			trace = true;
		} else if (!strcmp(argv[i], "--artifacts") && i + 1 < argc) {
			artifacts = argv[++i];
		} else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
			quiet = true;
		} else if (!strcmp(argv[i], "--table")) {
			table = true;
		} else {
			return usage_error("unknown option ", argv[i]);
		}
	}
	if (i == argc)
		return usage_error("no scenario file given", "");
	/* Parse everything first: a bad file stops the run before it starts. */
	int n = argc - i;
	struct scenario *scs = calloc((size_t)n, sizeof *scs);
	if (!scs)
		return 1;
	for (int k = 0; k < n; k++) {
		char err[600];
		if (scenario_load(&scs[k], argv[i + k], err, sizeof err) != 0) {
			fprintf(stderr, "mqttsim: %s\n", err);
			for (int j = 0; j < k; j++)
				scenario_free(&scs[j]);
			free(scs);
			return 2;
		}
	}
	if (check_only) {
		printf("%d scenario%s parsed\n", n, n == 1 ? "" : "s");
		for (int k = 0; k < n; k++)
			scenario_free(&scs[k]);
		free(scs);
		return 0;
	}
	bool tty = isatty(STDOUT_FILENO) && !trace;
	int passed = 0, failed = 0;
	bool *verdicts = calloc((size_t)n, sizeof *verdicts);
	if (!verdicts)
		return 1;
	uint64_t runs = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < n; k++) {
		const struct scenario *s = &scs[k];
		bool ok = true;
		uint64_t seed;
		struct scn_result r;
		for (seed = first; seed <= last; seed++) {
			if (trace)
				printf("== %s seed %llu\n", s->path, (unsigned long long)seed);
			if (scenario_simulate(s, seed, &r, trace ? stdout : NULL) != 0) {
				fprintf(stderr, "mqttsim: %s: the simulation could not be set up\n", s->path);
				ok = false;
				break;
			}
			runs++;
			if (tty && runs % 50 == 0) {
				struct timespec t1;
				clock_gettime(CLOCK_MONOTONIC, &t1);
				double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
				printf("\r%s: %llu runs, %.0f runs/s, %d failed so far ", s->path,
				       (unsigned long long)runs, el > 0 ? (double)runs / el : 0.0, failed);
				fflush(stdout);
			}
			if (!r.passed) {
				ok = false;
				break;
			}
			if (seed == UINT64_MAX)
				break;
		}
		if (tty)
			printf("\r\033[K");
		verdicts[k] = ok;
		if (ok) {
			passed++;
			if (!quiet)
				printf("PASS %s (%llu seeds; %u published, %u read in the last)%s%s\n", s->path,
				       (unsigned long long)(last - first + 1), r.published, r.delivered,
				       *s->description ? " - " : "", s->description);
		} else {
			failed++;
			printf("FAIL %s seed %llu: %s\n", s->path, (unsigned long long)seed, r.why);
			printf("  reproduce: mqttsim run --seeds %llu --trace %s\n", (unsigned long long)seed,
			       s->path);
			write_artifact(artifacts, s, seed);
		}
		fflush(stdout);
	}
	if (table) {
		printf("\n| scenario | verdict | guarantees proved over seeds %llu..%llu |\n|---|---|---|\n",
		       (unsigned long long)first, (unsigned long long)last);
		for (int k = 0; k < n; k++) {
			const struct scenario *s = &scs[k];
			const char *base = strrchr(s->path, '/');
			char proved[256] = "";
			size_t used = 0;
			for (int e = 0; e < s->nexpects; e++) {
				const struct scn_expect *x = &s->expects[e];
				char one[80];
				const char *who = x->what == SCN_RECONNECTS ? s->clients[x->client].name : "";
				if (x->what == SCN_RECONNECTS && x->max == 0)
					snprintf(one, sizeof one, "%s never reconnects", who);
				else if (x->what == SCN_RECONNECTS && x->min == x->max)
					snprintf(one, sizeof one, "%s reconnects %u time%s", who, x->min,
					         x->min == 1 ? "" : "s");
				else if (x->what == SCN_RECONNECTS && x->max == UINT32_MAX)
					snprintf(one, sizeof one, "%s reconnects (at least %u)", who, x->min);
				else if (x->what == SCN_RECONNECTS)
					snprintf(one, sizeof one, "%s reconnects %u to %u times", who, x->min, x->max);
				else
					snprintf(one, sizeof one, "%s%s", x->violation ? "catches " : "",
					         scn_invariant_name(x->what));
				used += (size_t)snprintf(proved + used, used < sizeof proved ? sizeof proved - used : 0,
				                         "%s%s", e ? ", " : "", one);
			}
			printf("| %s | %s | %s |\n", base ? base + 1 : s->path, verdicts[k] ? "pass" : "FAIL",
			       proved);
		}
		printf("\n");
	}
	free(verdicts);
	printf("%d passed, %d failed\n", passed, failed);
	for (int k = 0; k < n; k++)
		scenario_free(&scs[k]);
	free(scs);
	return failed ? 1 : 0;
}
