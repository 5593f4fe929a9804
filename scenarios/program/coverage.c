/*
 * mqttsim coverage: which normative statements of MQTT 3.1.1 the
 * scenario library (or the files given) exercises in simulation. It is
 * mqttsim run with the table at the end (run.c does the running).
 */
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

static const char usage[] =
"Usage: mqttsim coverage [--seeds A..B] [--jobs N] [--json FILE] [--report DIR]\n"
"                        [FILE.scn...]\n"
"Runs the scenario library (scenarios/*.scn, from the source tree's top) or\n"
"the files given in simulation, and prints a table of every normative\n"
"statement of MQTT 3.1.1: exercised by which scenarios, not exercised (a\n"
"place in the code acts on it, but no run reached it), not tagged (no place\n"
"does), or not applicable, with the reason. A statement is exercised when a\n"
"run reaches a place of the codec, the client's session core or the fake\n"
"broker's core tagged with it (MQTT_CONFORMS): the check that enforces it,\n"
"or the code that does what it asks. The statements and their summaries are\n"
"scenarios/conformance/mqtt-3.1.1.tsv (docs/reports.md).\n"
"\n"
"Options:\n"
"  --seeds A..B      the seeds each scenario runs (default 1..10)\n"
"  --jobs N          scenarios in N processes at once (default 2)\n"
"  --json FILE       the run's results as mqttsim run --json writes them, each\n"
"                    scenario with the statements it reached\n"
"  --report DIR      the HTML report (mqttsim run --report), its coverage table\n"
"                    at the end\n"
"  -h, --help        this text\n"
"\n"
"The last line is \"N passed, M failed\"; the one before it, \"coverage: E of A\n"
"applicable statements exercised ...\".\n"
"Exit status: 0 when every scenario passed, 1 when one failed, 2 for bad\n"
"usage or no scenario to run.\n";

int mqttsim_coverage(int argc, char **argv)
{
	/* "mqttsim run --quiet --coverage [--seeds 1..10] [--jobs 2] ARGS...". */
	char **args = calloc((size_t)argc + 16, sizeof *args);
	if (!args)
		return 1;
	int n = 0, files = 0;
	bool seeds = false, jobs = false;
	args[n++] = argv[0];
	args[n++] = "run";
	args[n++] = "--quiet";
	args[n++] = "--coverage";
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			free(args);
			return 0;
		}
		bool valued = !strcmp(argv[i], "--seeds") || !strcmp(argv[i], "--jobs") ||
		              !strcmp(argv[i], "--json") || !strcmp(argv[i], "--report");
		if (argv[i][0] == '-' && !valued) {
			fprintf(stderr, "mqttsim coverage: unknown option %s\n%s", argv[i], usage);
			free(args);
			return 2;
		}
		seeds = seeds || !strcmp(argv[i], "--seeds");
		jobs = jobs || !strcmp(argv[i], "--jobs");
		if (valued && i + 1 == argc) {
			fprintf(stderr, "mqttsim coverage: %s needs a value\n", argv[i]);
			free(args);
			return 2;
		}
		if (valued)
			i++;
		else
			files++;
	}
	if (!seeds) {
		args[n++] = "--seeds";
		args[n++] = "1..10";
	}
	if (!jobs) {
		args[n++] = "--jobs";
		args[n++] = "2";
	}
	for (int i = 2; i < argc; i++) /* options first, then the files, as run takes them */
		if (argv[i][0] == '-') {
			args[n++] = argv[i];
			args[n++] = argv[++i];
		}
	for (int i = 2; i < argc; i++) {
		if (argv[i][0] == '-') {
			i++;
			continue;
		}
		args[n++] = argv[i];
	}
	glob_t g = {0};
	if (!files) {
		if (glob("scenarios/*.scn", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
			fprintf(stderr, "mqttsim coverage: no scenarios/*.scn here: run it from the source "
			        "tree's top, or name the files\n");
			globfree(&g);
			free(args);
			return 2;
		}
		char **grown = realloc(args, ((size_t)n + g.gl_pathc + 1) * sizeof *args);
		if (!grown) {
			globfree(&g);
			free(args);
			return 1;
		}
		args = grown;
		for (size_t k = 0; k < g.gl_pathc; k++)
			args[n++] = g.gl_pathv[k];
	}
	args[n] = NULL;
	int rc = mqttsim_run(n, args);
	globfree(&g);
	free(args);
	return rc;
}
