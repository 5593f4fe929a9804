/*
 * mqttsim run and mqttsim check: scenarios parsed, run with their seeds
 * in simulation (or --real), judged, failures written and shrunk.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "scenarios/lang/scenario.h"
#include "scenarios/real/real.h"
#include "scenarios/real/target.h"
#include "codec/conformance.h"
#include "scenarios/report/coverage.h"
#include "scenarios/report/html.h"
#include "scenarios/report/results.h"
#include "scenarios/shrink/shrink.h"
#include "scenarios/sim/sim.h"

const char mqttsim_usage[] =
"Usage: mqttsim run [OPTION]... FILE.scn...\n"
"       mqttsim check FILE.scn...\n"
"       mqttsim explore [--seeds A..B | --budget DURATION] [--jobs N] [OPTION]...\n"
"       mqttsim coverage [--seeds A..B] [--report DIR] [FILE.scn...]\n"
"       mqttsim decode [--format text|tsv|json|html] [--port N]... FILE.pcap\n"
"       mqttsim replay --as-client --against ADDRESS | --as-broker --listen ADDRESS\n"
"                      [OPTION]... FILE.pcap\n"
"       mqttsim convert [--port N]... FILE.pcap > NAME.scn\n"
"Runs MQTT scenarios in deterministic simulation - the client's session core,\n"
"the fake broker's core and fault links in virtual time - and judges each run\n"
"with the guarantee oracle: QoS 0 at most once, QoS 1 at least once, QoS 2\n"
"exactly once, order, no phantom messages, liveness - and both ends of each\n"
"connection: the client's and the broker's DUP flags and packet identifiers,\n"
"the QoS of deliveries, retained messages, sessions, wills, and that every\n"
"exchange either side started finishes (docs/scenarios.md). A scenario passes when\n"
"every seed meets its expectations. 'check' only parses the files; 'explore'\n"
"generates scenarios from seeds, runs them, and shrinks what fails;\n"
"'coverage' tables which statements of MQTT 3.1.1 the scenarios exercise. For\n"
"captures: 'decode' prints their MQTT packets, 'replay' plays one side of them\n"
"against a live peer and reports the differences, 'convert' turns one into a\n"
"packet-level scenario (each has its own --help).\n"
"With --real the same scenario runs over real sockets in real time: the fake\n"
"broker in this process on a free loopback port, each client a process of\n"
"its own (the threaded client, the fault-injecting transport, a file-system\n"
"store in a temporary folder), a crash a SIGKILL of that process.\n"
"\n"
"Options:\n"
"  --seeds A..B      the seeds to run, inclusive (default 1..200, with --real\n"
"                    1..3); A alone: one\n"
"  --real            real sockets, threads and processes instead of simulation;\n"
"                    a seed fixes the fault decisions, not the interleaving\n"
"  --broker ADDRESS  real time against the broker at ADDRESS (tcp://HOST:PORT,\n"
"                    tls://HOST:PORT, unix:PATH) instead of the fake broker;\n"
"                    each client through a fault link (TLS on the broker's\n"
"                    leg); scenarios that need the fake broker or a simulated\n"
"                    disk are skipped, with the reason\n"
"  --broker-ca FILE  tls://: the CAs (PEM) the broker's certificate and host\n"
"                    name are verified against (default: the system's)\n"
"  --broker-cmd CMD  start the broker per run with sh -c CMD, {port} and {dir}\n"
"                    filled in; stop it by its PID at the end; crash broker and\n"
"                    restart broker steps kill or stop it and run CMD again\n"
"  --broker-wait DUR how long CMD may take to listen (default 10s)\n"
"  --prefix P        before client ids (P-ID) and topics (P/TOPIC; $X/P/REST for\n"
"                    a '$' topic, which stays one) on a broker under test\n"
"                    (default random); cleared at the end\n"
"  --no-link         clients dial the broker under test directly (faults in\n"
"                    their own transport; the broker's end is not judged)\n"
"  --client-cmd CMD  each scenario client is a driver of a client library\n"
"                    (JSON lines on stdin/stdout, docs/drivers.md)\n"
"  --max-time DUR    a real run ends by then at the latest, whatever the\n"
"                    scenario's limit (what is owed by then is judged)\n"
"  --driver-timeout DUR  how long a driver may take to start or to say goodbye\n"
"                    (default 30s)\n"
"  --trace           print every run's trace (connections, faults, crashes)\n"
"  --artifacts DIR   where a failing run's trace and pcap go\n"
"                    (default ./mqttsim-failures)\n"
"  --shrink          also reduce a failing run to a smallest scenario that still\n"
"                    fails with its seed: only the failed expectation, every\n"
"                    fault, step and client it can do without left out, counts\n"
"                    and sizes halved; written as NAME-seedS.min.scn beside\n"
"                    the trace\n"
"  -q, --quiet       only the summary and failures\n"
"  --jobs N          run scenarios in N processes at once (output stays in order)\n"
"  --table           end with a table: each scenario, its verdict and the\n"
"                    guarantees it proved (make demo)\n""  --keep-going      go on after a scenario's first failing seed: every failing\n"
"                    seed is reported, with its trace and pcap\n"
"  --json FILE       write the results as JSON: every scenario, its seeds,\n"
"                    verdict, guarantees, failures and duration (schema in\n"
"                    docs/reports.md)\n"
"  --junit FILE      write the results as JUnit XML, one testcase per scenario:\n"
"                    a failure's message is the broken guarantee, the seed and\n"
"                    the command that reproduces it; traces in system-out\n"
"  --report DIR      write DIR/index.html, a page that needs nothing else: each\n"
"                    scenario's verdict, and a message sequence chart of each\n"
"                    failing run (up to 5 a scenario) and of each run that\n"
"                    caught the violation its scenario expects; the charted\n"
"                    runs' traces, pcaps and events in DIR/runs/ (simulation\n"
"                    only: a real run's chart is not drawn)\n"
"  --report-all      with --report: chart every scenario's first seed too\n"
"  -h, --help        this text\n"
"\n"
"A failing run prints its seed and the command that reproduces it. The last\n"
"line is \"N passed, M failed\", counting scenarios, with \", K skipped\" when\n"
"some were skipped or a target is under test.\n"
"\n"
"Example:\n"
"  mqttsim run --seeds 1..50 scenarios/qos1-drop-puback-sent.scn\n"
"\n"
"Exit status: 0 when every expectation held, 1 when one did not, 2 for bad\n"
"usage, a bad scenario file (file:line:column: message), a target that\n"
"cannot be used (a broker not reached, a broker command that exits or never\n"
"listens, a driver that breaks its protocol), or a --json, --junit or\n"
"--report that cannot be written (checked before anything runs).\n";

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


/* A failing run again, with its trace and capture kept (their paths
 * into f). */
static void write_artifact(const char *dir, const struct scenario *s, uint64_t seed, FILE *out,
                           struct result_failure *fl)
{
	report_make_dirs(dir);
	const char *base = strrchr(s->path, '/');
	base = base ? base + 1 : s->path;
	char path[1024], pcap[1024];
	snprintf(path, sizeof path, "%s/%s-seed%llu.trace", dir, base, (unsigned long long)seed);
	snprintf(pcap, sizeof pcap, "%s/%s-seed%llu.pcap", dir, base, (unsigned long long)seed);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "mqttsim: %s: %s\n", path, strerror(errno));
		return;
	}
	struct scn_result r;
	scenario_simulate(s, seed, &r, f, pcap);
	fprintf(f, "verdict: %s%s%s\n", r.passed ? "pass" : "fail", r.passed ? "" : ": ", r.why);
	fclose(f);
	fprintf(out, "  trace: %s\n  pcap: %s\n", path, pcap);
	snprintf(fl->trace, sizeof fl->trace, "%s", path);
	snprintf(fl->pcap, sizeof fl->pcap, "%s", pcap);
}

struct options {
	uint64_t first, last;
	bool trace, quiet, shrink, real, keep_going;
	const char *artifacts;
	const char *report;  /* --report DIR, or NULL */
	bool report_all;
	char exe[1024]; /* this program, for --real's client processes */
	struct real_target target;
	bool external;  /* a broker under test */
	int nfiles, ordinal; /* scenarios given; this one's position (from 1) */
	bool counting;       /* conformance places count: each result gets what it reached */
};

/*
 * One run over real sockets: its trace kept in a temporary file and its
 * capture written into the artifacts folder, both kept only if it fails
 * (it cannot be run again the same way). Returns scenario_real's.
 */
static int run_real(const struct scenario *s, const struct options *o, uint64_t seed,
                    struct scn_result *r, FILE *out)
{
	const char *base = strrchr(s->path, '/');
	base = base ? base + 1 : s->path;
	char trace_path[1024], pcap[1024];
	snprintf(trace_path, sizeof trace_path, "%s/%s-seed%llu.real.trace", o->artifacts, base,
	         (unsigned long long)seed);
	snprintf(pcap, sizeof pcap, "%s/%s-seed%llu.real.pcap", o->artifacts, base,
	         (unsigned long long)seed);
	report_make_dirs(o->artifacts);
	FILE *trace = o->trace ? out : tmpfile();
	/* Scenarios that run at once (--jobs) against one broker must not
	 * share client identifiers: each gets its own prefix. */
	struct real_target t = o->target;
	char prefix[64];
	if (t.prefix && o->nfiles > 1) {
		snprintf(prefix, sizeof prefix, "%s.%d", t.prefix, o->ordinal);
		t.prefix = prefix;
	}
	int rc = scenario_real(s, o->exe, seed, &t, r, trace, pcap);
	if (rc == 0 && r->passed) {
		char more[1100];
		unlink(pcap);
		snprintf(more, sizeof more, "%s.jsonl", pcap); /* its sidecar */
		unlink(more);
		snprintf(more, sizeof more, "%s/%s-seed%llu.real.broker.pcap", o->artifacts, base,
		         (unsigned long long)seed); /* the broker's leg, in front of a broker under test */
		unlink(more);
		strncat(more, ".jsonl", sizeof more - strlen(more) - 1); /* and its sidecar */
		unlink(more);
	} else if (trace && trace != out) {
		FILE *f = fopen(trace_path, "w");
		if (f) {
			rewind(trace);
			char buf[4096];
			size_t n;
			while ((n = fread(buf, 1, sizeof buf, trace)) > 0)
				fwrite(buf, 1, n, f);
			fprintf(f, "verdict: fail: %s\n", r->why);
			fclose(f);
		}
	}
	if (trace && trace != out)
		fclose(trace);
	rmdir(o->artifacts); /* when nothing was kept */
	return rc;
}

/* --shrink: the failing file, reduced, into the artifacts folder (its path into fl). */
static void write_shrunk(const char *dir, const struct scenario *s, uint64_t seed, FILE *out,
                         struct result_failure *fl)
{
	FILE *f = fopen(s->path, "r");
	char *text = NULL;
	size_t cap = 0;
	if (!f || getdelim(&text, &cap, '\0', f) < 0) {
		fprintf(out, "  shrink: cannot read %s: %s\n", s->path, strerror(errno));
		if (f)
			fclose(f);
		free(text);
		return;
	}
	fclose(f);
	unsigned runs = 0;
	size_t before = 0, after = 0;
	char *small = scenario_shrink(s->path, text, seed, &runs, &before, &after);
	free(text);
	if (!small) {
		fprintf(out, "  shrink: the file does not fail again with seed %llu (%u runs)\n",
		        (unsigned long long)seed, runs);
		return;
	}
	report_make_dirs(dir);
	const char *base = strrchr(s->path, '/');
	base = base ? base + 1 : s->path;
	size_t blen = strlen(base);
	if (blen > 4 && !strcmp(base + blen - 4, ".scn"))
		blen -= 4;
	char path[1024];
	snprintf(path, sizeof path, "%s/%.*s-seed%llu.min.scn", dir, (int)blen, base,
	         (unsigned long long)seed);
	FILE *w = fopen(path, "w");
	if (!w) {
		fprintf(out, "  shrink: %s: %s\n", path, strerror(errno));
		free(small);
		return;
	}
	fprintf(w, "%s# shrunk by mqttsim run --shrink from %s with seed %llu: %zu of %zu "
	        "directives left\n", small, s->path, (unsigned long long)seed, after, before);
	free(small);
	if (fclose(w) != 0) {
		fprintf(out, "  shrink: %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(out, "  shrunk: %zu of %zu directives still fail (%u runs): %s\n"
	        "  reproduce shrunk: mqttsim run --seeds %llu --trace %s\n",
	        after, before, runs, path, (unsigned long long)seed, path);
	snprintf(fl->shrunk, sizeof fl->shrunk, "%s", path);
}

struct progress {
	bool tty;
	uint64_t runs;
	struct timespec t0;
	int failed;
};

enum verdict { V_FAIL, V_PASS, V_SKIP, V_BROKEN };

/* The options that name the target, as a command line takes them again. */
static void target_options(const struct real_target *t, char *out, size_t cap)
{
	size_t used = 0;
	*out = 0;
	if (t->client_cmd)
		used += (size_t)snprintf(out + used, cap - used, "--client-cmd '%s' ", t->client_cmd);
	if (t->broker && used < cap)
		used += (size_t)snprintf(out + used, cap - used, "--broker %s ", t->broker);
	else if (t->broker_cmd && used < cap)
		used += (size_t)snprintf(out + used, cap - used, "--broker-cmd '%s' ", t->broker_cmd);
	else if (!t->client_cmd && used < cap)
		used += (size_t)snprintf(out + used, cap - used, "--real ");
	if (t->direct && used < cap)
		used += (size_t)snprintf(out + used, cap - used, "--no-link ");
	if (used && used <= cap)
		out[used - 1] = 0;
}

/* A failing seed: its line, how to run it again, its artifacts; into res. */
static void report_failure(const struct scenario *s, const struct options *o, uint64_t seed,
                           const struct scn_result *r, FILE *out, struct result *res)
{
	struct result_failure fl;
	memset(&fl, 0, sizeof fl);
	fl.seed = seed;
	result_guarantee(s, r, fl.guarantee, sizeof fl.guarantee);
	snprintf(fl.why, sizeof fl.why, "%s", r->why);
	fprintf(out, "FAIL %s seed %llu%s: %s\n", s->path, (unsigned long long)seed,
	        o->real ? " (real)" : "", r->why);
	if (o->real) {
		/* Its trace and capture were kept by run_real. */
		const char *base = strrchr(s->path, '/');
		base = base ? base + 1 : s->path;
		char how[1200];
		target_options(&o->target, how, sizeof how);
		/* A reproduce line longer than the field is cut (the terminal's is whole). */
		snprintf(fl.reproduce, sizeof fl.reproduce, "mqttsim run %.600s --seeds %llu --trace %.500s",
		         how, (unsigned long long)seed, s->path);
		snprintf(fl.trace, sizeof fl.trace, "%s/%s-seed%llu.real.trace", o->artifacts, base,
		         (unsigned long long)seed);
		snprintf(fl.pcap, sizeof fl.pcap, "%s/%s-seed%llu.real.pcap", o->artifacts, base,
		         (unsigned long long)seed);
		fprintf(out, "  again: %s (real time: the seed fixes the faults, not the interleaving)\n"
		        "  trace: %s\n  pcap: %s\n", fl.reproduce, fl.trace, fl.pcap);
		if ((o->target.broker || o->target.broker_cmd) && !o->target.direct)
			fprintf(out, "  broker's leg: %s/%s-seed%llu.real.broker.pcap\n", o->artifacts, base,
			        (unsigned long long)seed);
	} else {
		snprintf(fl.reproduce, sizeof fl.reproduce, "mqttsim run --seeds %llu --trace %s",
		         (unsigned long long)seed, s->path);
		fprintf(out, "  reproduce: %s\n", fl.reproduce);
		write_artifact(o->artifacts, s, seed, out, &fl);
		if (o->shrink)
			write_shrunk(o->artifacts, s, seed, out, &fl);
	}
	/* Charts of the first few failing seeds: a page of hundreds helps nobody. */
	if (o->report && !o->real && res && res->nfailures < 5) {
		char why[600];
		if (report_chart_run(o->report, s, seed, fl.chart, sizeof fl.chart, NULL, why, sizeof why) != 0)
			fprintf(out, "  report: no chart: %s\n", why);
	}
	if (res && result_add_failure(res, &fl) != 0)
		fprintf(stderr, "mqttsim: out of memory: seed %llu of %s is missing from the reports\n",
		        (unsigned long long)seed, s->path);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Runs one scenario over every seed (up to its first failing one, or
 * every one with --keep-going); reports to out and into res; returns its
 * verdict: V_SKIP when it cannot run against the target, V_BROKEN when
 * the target cannot be used at all. */
static enum verdict run_one(const struct scenario *s, const struct options *o, FILE *out,
                            struct progress *pr, struct result *res)
{
	bool ok = true;
	uint64_t seed;
	struct scn_result r;
	memset(&r, 0, sizeof r);
	char why[300];
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	result_init(res, s, o->first, o->last);
	if ((o->real && scenario_real_skip(s, &o->target, why, sizeof why)) ||
	    (!o->real && scn_downs_broker(s) &&
	     snprintf(why, sizeof why, "it crashes or restarts the broker: only a broker that "
	              "--broker-cmd runs can be (the fake broker keeps nothing across a crash)") > 0)) {
		fprintf(out, "SKIP %s: %s\n", s->path, why);
		fflush(out);
		res->verdict = RESULT_SKIP;
		snprintf(res->note, sizeof res->note, "%s", why);
		return V_SKIP;
	}
	char notes[600];
	scenario_driver_notes(s, &o->target, notes, sizeof notes);
	/* The statements its simulated runs reach: what the library's tagged
	 * places counted before and after (coverage.h). */
	uint64_t before[COVERAGE_MAX];
	if (o->counting)
		coverage_snapshot(before);
	for (seed = o->first; seed <= o->last; seed++) {
		bool stop = false;
		res->runs++;
		if (o->trace)
			fprintf(out, "== %s seed %llu\n", s->path, (unsigned long long)seed);
		if (o->real) {
			int rc = run_real(s, o, seed, &r, out);
			if (rc == 0 && r.target_broken) {
				fprintf(out, "ERROR %s seed %llu: %s\n", s->path, (unsigned long long)seed, r.why);
				fflush(out);
				res->verdict = RESULT_ERROR;
				snprintf(res->note, sizeof res->note, "seed %llu: %s", (unsigned long long)seed,
				         r.why);
				res->seconds = seconds_since(&t0);
				return V_BROKEN;
			}
			if (rc != 0) {
				fprintf(stderr, "mqttsim: %s: %s\n", s->path, r.why);
				if (o->external) {
					fflush(out);
					res->verdict = RESULT_ERROR;
					snprintf(res->note, sizeof res->note, "%s", r.why);
					res->seconds = seconds_since(&t0);
					return V_BROKEN;
				}
				r.passed = false;
				r.failed_expect = -1;
				stop = true; /* it could not run: the next seed cannot either */
			}
		} else if (scenario_simulate(s, seed, &r, o->trace ? out : NULL, NULL) != 0) {
			if (!*r.why) {
				fprintf(stderr, "mqttsim: %s: the simulation could not be set up\n", s->path);
				snprintf(r.why, sizeof r.why, "the simulation could not be set up");
				stop = true;
			}
			/* else a livelock: a failure, with its seed, trace and shrinking */
			r.passed = false;
			r.failed_expect = -1;
		}
		if (pr && pr->tty && ++pr->runs % 50 == 0) {
			double el = seconds_since(&pr->t0);
			fprintf(out, "\r%s: %llu runs, %.0f runs/s, %d failed so far ", s->path,
			        (unsigned long long)pr->runs, el > 0 ? (double)pr->runs / el : 0.0,
			        pr->failed + !ok);
			fflush(out);
		}
		if (!r.passed) {
			if (pr && pr->tty)
				fprintf(out, "\r\033[K");
			ok = false;
			report_failure(s, o, seed, &r, out, res);
			if (stop || !o->keep_going)
				break;
		}
		if (seed == UINT64_MAX)
			break;
	}
	if (pr && pr->tty)
		fprintf(out, "\r\033[K");
	if (o->counting) {
		uint64_t after[COVERAGE_MAX];
		coverage_snapshot(after);
		coverage_diff(before, after, res->reached);
		res->has_coverage = true;
	}
	res->published = r.published;
	res->delivered = r.delivered;
	res->verdict = ok ? RESULT_PASS : RESULT_FAIL;
	if (ok && o->report && !o->real && (o->report_all || res->expects_violation)) {
		/* A passing run worth a look: the violation it catches, or all (--report-all). */
		char no[600];
		res->caught_seed = o->first;
		if (report_chart_run(o->report, s, o->first, res->caught_chart, sizeof res->caught_chart,
		                     NULL, no, sizeof no) != 0)
			fprintf(out, "  report: no chart: %s\n", no);
	}
	if (ok && !o->quiet)
		fprintf(out, "PASS %s (%llu seeds; %u published, %u read in the last)%s%s\n",
		        s->path, (unsigned long long)(o->last - o->first + 1), r.published,
		        r.delivered, *s->description ? " - " : "", s->description);
	if (!ok && o->keep_going && res->nfailures > 1)
		fprintf(out, "  %s: %zu of %llu seeds failed\n", s->path, res->nfailures,
		        (unsigned long long)res->runs);
	if (*notes) {
		fprintf(out, "  not held to: %s\n", notes);
		snprintf(res->note, sizeof res->note, "not held to: %.*s", (int)sizeof res->note - 14,
		         notes);
	}
	fflush(out);
	res->seconds = seconds_since(&t0);
	return ok ? V_PASS : V_FAIL;
}

/* Whether path can be written: its folder exists and takes files, and it
 * is not a folder itself; when not, says so on standard error. Nothing
 * is created: a run that never starts leaves nothing behind. */
static bool writable_file(const char *option, const char *path)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = 0;
	else
		*slash = 0;
	struct stat st;
	const char *why = NULL;
	if (!*path || path[strlen(path) - 1] == '/' || (stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
		why = "names a folder, not a file";
	else if (stat(dir, &st) != 0)
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "its folder is not a folder";
	else if (access(dir, W_OK) != 0 || (access(path, F_OK) == 0 && access(path, W_OK) != 0))
		why = strerror(EACCES);
	if (why)
		fprintf(stderr, "mqttsim: %s %s: %s\n", option, path, why);
	return !why;
}

/* Whether folder path exists or can be made, and takes files; when not,
 * says so. What it makes stays (the report goes there). */
static bool writable_dir(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		report_make_dirs(path);
		if (stat(path, &st) != 0) {
			fprintf(stderr, "mqttsim: --report %s: %s\n", path, strerror(errno));
			return false;
		}
	}
	if (!S_ISDIR(st.st_mode) || access(path, W_OK) != 0) {
		fprintf(stderr, "mqttsim: --report %s: %s\n", path,
		        S_ISDIR(st.st_mode) ? strerror(EACCES) : "not a folder");
		return false;
	}
	return true;
}

/* The command line, as the reports show it. */
static void command_line(int argc, char **argv, char *out, size_t cap)
{
	size_t used = (size_t)snprintf(out, cap, "mqttsim");
	for (int k = 1; k < argc && used < cap; k++) {
		bool plain = *argv[k] && !strpbrk(argv[k], " \t'\"\\$`*?;&|<>(){}[]!#~");
		used += (size_t)snprintf(out + used, cap - used, plain ? " %s" : " '%s'", argv[k]);
	}
}

int mqttsim_run(int argc, char **argv)
{
	bool check_only = !strcmp(argv[1], "check");
	if (!check_only && strcmp(argv[1], "run") != 0)
		return usage_error("unknown command ", argv[1]);
	uint64_t first = 1, last = 200;
	bool trace = false, quiet = false, table = false, shrink = false, real = false, seeds_given = false;
	bool keep_going = false, coverage = false;
	const char *json_path = NULL, *junit_path = NULL, *report = NULL;
	bool report_all = false;
	int jobs = 1;
	const char *artifacts = "mqttsim-failures";
	struct real_target target = {.wait_ms = 10000, .driver_timeout_ms = 30000};
	bool prefix_given = false;
	int i = 2;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(mqttsim_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			if (!parse_seeds(argv[++i], &first, &last))
				return usage_error("--seeds takes A..B (A <= B) or A, not ", argv[i]);
			seeds_given = true;
		} else if (!strcmp(argv[i], "--real")) {
			real = true;
		} else if (!strcmp(argv[i], "--broker") && i + 1 < argc) {
			target.broker = argv[++i];
		} else if (!strcmp(argv[i], "--broker-ca") && i + 1 < argc) {
			target.broker_ca = argv[++i];
		} else if (!strcmp(argv[i], "--broker-cmd") && i + 1 < argc) {
			target.broker_cmd = argv[++i];
		} else if (!strcmp(argv[i], "--broker-wait") && i + 1 < argc) {
			char *end;
			unsigned long ms = strtoul(argv[++i], &end, 10);
			if (end == argv[i] || *argv[i] == '-' || (strcmp(end, "ms") && strcmp(end, "s") && *end) ||
			    ms == 0 || ms > 600000)
				return usage_error("--broker-wait takes a duration (N ms, Nms or Ns; at most 600s), "
				                   "not ", argv[i]);
			target.wait_ms = (unsigned)(strcmp(end, "s") ? ms : ms * 1000);
			if (target.wait_ms > 600000)
				return usage_error("--broker-wait: at most 600s, not ", argv[i]);
		} else if (!strcmp(argv[i], "--prefix") && i + 1 < argc) {
			target.prefix = argv[++i];
			if (strlen(target.prefix) > 32 || strpbrk(target.prefix, "/+#"))
				return usage_error("--prefix takes at most 32 characters and no '/', '+' or '#', "
				                   "not ", target.prefix);
			prefix_given = true;
		} else if (!strcmp(argv[i], "--no-link")) {
			target.direct = true;
		} else if (!strcmp(argv[i], "--max-time") && i + 1 < argc) {
			char *end;
			unsigned long long v = strtoull(argv[++i], &end, 10);
			if (end == argv[i] || *argv[i] == '-' || !v ||
			    (strcmp(end, "ms") && strcmp(end, "s") && strcmp(end, "m") && *end))
				return usage_error("--max-time takes a duration (N ms, Nms, Ns or Nm), not ",
				                   argv[i]);
			target.max_ms = !strcmp(end, "s") ? v * 1000 : !strcmp(end, "m") ? v * 60000 : v;
		} else if (!strcmp(argv[i], "--client-cmd") && i + 1 < argc) {
			target.client_cmd = argv[++i];
		} else if (!strcmp(argv[i], "--driver-timeout") && i + 1 < argc) {
			char *end;
			unsigned long ms = strtoul(argv[++i], &end, 10);
			if (end == argv[i] || *argv[i] == '-' || (strcmp(end, "ms") && strcmp(end, "s") && *end) ||
			    ms == 0 || (strcmp(end, "s") ? ms : ms * 1000) > 600000)
				return usage_error("--driver-timeout takes a duration (N ms, Nms or Ns; at most "
				                   "600s), not ", argv[i]);
			target.driver_timeout_ms = (unsigned)(strcmp(end, "s") ? ms : ms * 1000);
		} else if (!strcmp(argv[i], "--trace")) {
			trace = true;
		} else if (!strcmp(argv[i], "--artifacts") && i + 1 < argc) {
			artifacts = argv[++i];
		} else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
			quiet = true;
		} else if (!strcmp(argv[i], "--shrink")) {
			shrink = true;
		} else if (!strcmp(argv[i], "--keep-going")) {
			keep_going = true;
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json_path = argv[++i];
		} else if (!strcmp(argv[i], "--junit") && i + 1 < argc) {
			junit_path = argv[++i];
		} else if (!strcmp(argv[i], "--report") && i + 1 < argc) {
			report = argv[++i];
		} else if (!strcmp(argv[i], "--report-all")) {
			report_all = true;
		} else if (!strcmp(argv[i], "--coverage")) {
			coverage = true;
		} else if (!strcmp(argv[i], "--table")) {
			table = true;
		} else if (!strcmp(argv[i], "--jobs") && i + 1 < argc) {
			char *end;
			long j = strtol(argv[++i], &end, 10);
			if (*end || j < 1 || j > 256)
				return usage_error("--jobs takes 1 to 256, not ", argv[i]);
			jobs = (int)j;
		} else {
			return usage_error("unknown option ", argv[i]);
		}
	}
	if (i == argc)
		return usage_error("no scenario file given", "");
	/* A report that cannot be written is known before anything runs. */
	if ((json_path && !writable_file("--json", json_path)) ||
	    (junit_path && !writable_file("--junit", junit_path)))
		return 2;
	if (report_all && !report)
		return usage_error("--report-all goes with --report DIR", "");
	if (report && !writable_dir(report))
		return 2;
	char command[2048];
	command_line(argc, argv, command, sizeof command);
	if (target.broker && target.broker_cmd)
		return usage_error("--broker and --broker-cmd exclude each other", "");
	bool external = target.broker || target.broker_cmd;
	if (!external && (target.direct || prefix_given))
		return usage_error(target.direct ? "--no-link" : "--prefix",
		                   " goes with --broker or --broker-cmd");
	if (target.direct && target.broker && !strncmp(target.broker, "tls://", 6))
		return usage_error("--no-link takes a tcp:// or unix: broker, not ", target.broker);
	if (target.broker_ca && !(target.broker && !strncmp(target.broker, "tls://", 6)))
		return usage_error("--broker-ca goes with --broker tls://HOST:PORT", "");
	if (target.client_cmd && target.direct)
		return usage_error("--no-link: a driver's client always goes through the fault link", "");
	char prefix[40];
	if (external && !prefix_given) {
		/* Runs sharing a broker do not see each other's sessions or retained messages. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(prefix, sizeof prefix, "mqttsim-%06lx",
		         (unsigned long)(((uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 12 ^
		                          (uint64_t)ts.tv_sec) & 0xffffff));
		target.prefix = prefix;
	}
	if (external || target.client_cmd)
		real = true;
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
	for (int k = 0; real && !external && !target.client_cmd && k < n; k++) {
		for (int j = 0; j < scs[k].nsteps; j++)
			if (scs[k].steps[j].kind == SCN_DISK || scs[k].steps[j].damage) {
				fprintf(stderr, "mqttsim: %s:%u: a %s is simulated only; run this "
				        "scenario without --real\n", scs[k].path, scs[k].steps[j].line,
				        scs[k].steps[j].kind == SCN_DISK ? "full disk" : "damaged disk");
				for (int i2 = 0; i2 < n; i2++)
					scenario_free(&scs[i2]);
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
	if (real && !seeds_given)
		last = 3; /* each real run takes real time */
	if (target.broker) {
		/* A broker that cannot be reached is the user's to fix: say so once, first. */
		char why[400];
		struct target_conn conn;
		if (target_connect(&conn, target.broker, target.broker_ca, 3000, why, sizeof why) != 0) {
			fprintf(stderr, "mqttsim: --broker %s\n", why);
			for (int k = 0; k < n; k++)
				scenario_free(&scs[k]);
			free(scs);
			return 2;
		}
		target_close(&conn);
	}
	char caps[512] = ",", driver_who[300] = "";
	if (target.client_cmd && !check_only) {
		/* A driver that cannot even say hello is the user's to fix: say so once, first. */
		char why[300];
		if (driver_probe(target.client_cmd, caps, sizeof caps, driver_who, sizeof driver_who, why, sizeof why) != 0) {
			fprintf(stderr, "mqttsim: --client-cmd '%s': the driver %s\n", target.client_cmd, why);
			for (int k = 0; k < n; k++)
				scenario_free(&scs[k]);
			free(scs);
			return 2;
		}
		target.driver_caps = caps;
		char shown[1024];
		size_t k = 0;
		for (const char *c = caps + 1; *c && k + 3 < sizeof shown; c++) {
			if (*c != ',') {
				shown[k++] = *c;
			} else if (c[1]) {
				shown[k++] = ',';
				shown[k++] = ' ';
			}
		}
		shown[k] = 0;
		printf("driver: %s, declares %s\n", driver_who, k ? shown : "nothing");
	}
	struct options opt = {first, last, trace, quiet, shrink, real, keep_going, artifacts, report,
	                      report_all, "", target, external || target.client_cmd, n, 0, false};
	ssize_t len = readlink("/proc/self/exe", opt.exe, sizeof opt.exe - 1);
	if (len <= 0)
		snprintf(opt.exe, sizeof opt.exe, "%s", argv[0]);
	struct result *results = calloc((size_t)n, sizeof *results);
	if (!results)
		return 1;
	for (int k = 0; k < n; k++) {
		/* What a scenario the run never reached reports. */
		result_init(&results[k], &scs[k], first, last);
		results[k].verdict = RESULT_SKIP;
		snprintf(results[k].note, sizeof results[k].note,
		         "not run: the run stopped (the target cannot be used)");
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int passed = 0, failed = 0, skipped = 0;
	bool broken = false;
	/* The library's conformance places count from here (coverage.h),
	 * when a report will say what they reached: counting costs the
	 * simulator a little, which a plain run (and its benchmark) keeps. */
	opt.counting = !real && (coverage || report || json_path);
	if (opt.counting)
		mqtt_conformance_count(true);
	if (jobs > 1 && n > 1 && !trace) {
		/* Scenarios shared out to worker processes; each writes its report
		 * to its own unlinked file, printed here in the order given, and
		 * its results to another. */
		FILE **reports = calloc((size_t)n * 2, sizeof *reports);
		if (!reports)
			return 1;
		FILE **saved = reports + n;
		for (int k = 0; k < n; k++)
			if (!(reports[k] = tmpfile()) || !(saved[k] = tmpfile()))
				return 1;
		fflush(stdout);
		pid_t *pids = calloc((size_t)jobs, sizeof *pids);
		for (int w = 0; w < jobs && pids; w++) {
			pids[w] = fork();
			if (pids[w] == 0) {
				for (int k = w; k < n; k += jobs) {
					opt.ordinal = k + 1;
					enum verdict v = run_one(&scs[k], &opt, reports[k], NULL, &results[k]);
					fputc("FPSB"[v], reports[k]); /* the verdict, last */
					fflush(reports[k]);
					result_save(saved[k], &results[k]);
					if (v == V_BROKEN)
						break;
				}
				_exit(0);
			}
		}
		for (int w = 0; w < jobs && pids; w++)
			if (pids[w] > 0)
				waitpid(pids[w], NULL, 0);
		free(pids);
		for (int k = 0; k < n; k++) {
			long size = ftell(reports[k]);
			rewind(reports[k]);
			int ch;
			for (long at = 0; at < size - 1 && (ch = fgetc(reports[k])) != EOF; at++)
				putchar(ch);
			int v = size > 0 ? fgetc(reports[k]) : 'F';
			if (v == 'P')
				passed++;
			else if (v == 'S')
				skipped++;
			else if (v == 'B')
				broken = true;
			else if (size > 0)
				failed++;
			fclose(reports[k]);
			struct result got;
			rewind(saved[k]);
			if (size > 0 && result_load(saved[k], &got) == 0) {
				result_free(&results[k]);
				results[k] = got;
			} else if (size > 0) {
				/* Its worker died before it could say more than its verdict. */
				results[k].verdict = v == 'P' ? RESULT_PASS : v == 'S' ? RESULT_SKIP
				                     : v == 'B' ? RESULT_ERROR : RESULT_FAIL;
				snprintf(results[k].note, sizeof results[k].note, "its results were lost");
			}
			fclose(saved[k]);
		}
		free(reports);
	} else {
		struct progress pr = {isatty(STDOUT_FILENO) && !trace, 0, {0, 0}, 0};
		clock_gettime(CLOCK_MONOTONIC, &pr.t0);
		for (int k = 0; k < n && !broken; k++) {
			opt.ordinal = k + 1;
			enum verdict v = run_one(&scs[k], &opt, stdout, &pr, &results[k]);
			if (v == V_PASS)
				passed++;
			else if (v == V_SKIP)
				skipped++;
			else if (v == V_BROKEN)
				broken = true;
			else
				pr.failed = ++failed;
		}
	}
	struct results_run run = {
		.mode = target.client_cmd ? "driver" : external ? "broker" : real ? "real" : "simulation",
		.first = first, .last = last, .seconds = seconds_since(&t0), .command = command};
	int write_failed = 0;
	if (json_path && results_write_json(json_path, &run, results, n) != 0)
		write_failed = fprintf(stderr, "mqttsim: --json %s: %s\n", json_path, strerror(errno));
	if (junit_path && results_write_junit(junit_path, &run, results, n) != 0)
		write_failed = fprintf(stderr, "mqttsim: --junit %s: %s\n", junit_path, strerror(errno));
	char why[700];
	if (report && report_write(report, &run, results, n, why, sizeof why) != 0)
		write_failed = fprintf(stderr, "mqttsim: --report: %s\n", why);
	else if (report)
		printf("report: %s/index.html\n", report);
	if (table) {
		printf("\n| scenario | verdict | guarantees proved over seeds %llu..%llu |\n|---|---|---|\n",
		       (unsigned long long)first, (unsigned long long)last);
		for (int k = 0; k < n; k++) {
			const struct result *r = &results[k];
			const char *base = strrchr(r->path, '/');
			char proved[256] = "";
			size_t used = 0;
			for (int e = 0; e < r->nguarantees; e++)
				used += (size_t)snprintf(proved + used, used < sizeof proved ? sizeof proved - used : 0,
				                         "%s%s", e ? ", " : "", r->guarantees[e]);
			printf("| %s | %s | %s |\n", base ? base + 1 : r->path,
			       r->verdict == RESULT_PASS ? "pass" : "FAIL", proved);
		}
		printf("\n");
	}
	if (coverage && !real) {
		struct coverage_run *cov = calloc(n > 0 ? (size_t)n : 1, sizeof *cov);
		for (int k = 0; cov && k < n; k++) {
			const char *base = strrchr(results[k].path, '/');
			cov[k] = (struct coverage_run){base ? base + 1 : results[k].path,
			                               results[k].has_coverage ? results[k].reached : NULL};
		}
		if (cov)
			coverage_print(stdout, cov, n);
		free(cov);
	} else if (coverage) {
		fprintf(stderr, "mqttsim: --coverage counts simulated runs only\n");
	}
	for (int k = 0; k < n; k++)
		result_free(&results[k]);
	free(results);
	if (skipped || external || target.client_cmd)
		printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	else
		printf("%d passed, %d failed\n", passed, failed);
	for (int k = 0; k < n; k++)
		scenario_free(&scs[k]);
	free(scs);
	if (broken) {
		fprintf(stderr, "mqttsim: the target cannot be used (above); the run stopped\n");
		return 2;
	}
	if (write_failed)
		return 2;
	return failed ? 1 : 0;
}
