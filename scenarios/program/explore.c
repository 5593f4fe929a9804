/*
 * mqttsim explore: seeds become whole scenarios (scenarios/explore/),
 * run in simulation by worker processes, judged by the oracle; failures
 * shrunk, deduplicated by signature and written as minimal scenarios.
 *
 * Workers take seeds one at a time from a counter in shared memory (so
 * a slow seed holds up nobody) and send each failure to the parent over
 * a pipe of their own; the parent keeps the distinct failures, draws the
 * progress line and writes the files at the end, each through a
 * temporary name, so an interrupted run leaves no half-written file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/api.h"
#include "mqttsim/broker.h"
#include "run.h"
#include "scenarios/explore/explore.h"
#include "scenarios/explore/gen.h"
#include "scenarios/lang/scenario.h"
#include "scenarios/report/html.h"
#include "scenarios/report/results.h"

#define GENERATOR_STR2(n) #n
#define GENERATOR_STR(n) GENERATOR_STR2(n)

const char mqttsim_version[] = "mqttsim " MQTTSIM_VERSION " (generator " GENERATOR_STR(EXPLORE_GENERATOR) ")";

static const char usage[] =
"Usage: mqttsim explore [--seeds A..B | --budget DURATION] [--jobs N]\n"
"                       [--artifacts DIR] [--first] [--rule RULE]... [--json] [-q]\n"
"                       [--report DIR]\n"
"       mqttsim explore --print SEED [--rule RULE]...\n"
"Explores: each seed generates a whole scenario - 1 to 4 clients, their\n"
"sessions and stores, subscriptions with wildcards and overlaps, retained\n"
"messages, wills, a workload of QoS 0, 1 and 2 messages of all sizes, timers\n"
"and windows - and a fault plan drawn swarm-style (each seed enables a random\n"
"subset of fault kinds: drops, resets, stalls, partial reads and writes, slow\n"
"links, corrupted headers, lost packets, crashes that lose unsynced writes,\n"
"damaged and full disks, broker rules) at random packet positions and times.\n"
"Each runs in simulation and is judged by the oracle against every guarantee\n"
"the generated configuration promises (docs/explore.md).\n"
"\n"
"A failing seed is shrunk to a smallest scenario that still fails with it and\n"
"named by a signature: the broken guarantee and the shrunk scenario's shape.\n"
"Seeds that fail the same way are one failure; each is written once, as\n"
"DIR/explore-HASH-seedS.min.scn (S: its smallest failing seed), a scenario\n"
"that fails under plain 'mqttsim run --seeds S'. The summary lists each\n"
"distinct failure once with its count of seeds.\n"
"\n"
"Options:\n"
"  --seeds A..B      the seeds to explore, inclusive (default 1..1000); A alone:\n"
"                    one; with --budget, where to start (A..: no end)\n"
"  --budget DUR      explore for this long (90s, 10m, 2h), from seed A (default 1)\n"
"  --jobs N          worker processes (default: every core, here %ld)\n"
"  --artifacts DIR   where minimal scenarios go (default ./mqttsim-explore)\n"
"  --first           stop at the smallest failing seed (how soon a defect is found)\n"
"  --rule RULE       add this fake-broker rule (docs/control.md) to every\n"
"                    generated scenario: how a misbehaving broker is caught\n"
"                    across workloads (repeatable)\n"
"  --no-shrink       name failures by the generated scenario, not the shrunk one\n"
"  --shrink-max N    shrink the first N failures of each expectation (default\n"
"                    25); later ones are counted together, by the expectation\n"
"  --json            the results as one JSON document on standard output\n"
"                    (mqttsim.campaign reads it) instead of the summary\n"
"  --report DIR      write DIR/index.html: each distinct failure with a message\n"
"                    sequence chart of its minimal scenario's run (as mqttsim\n"
"                    run --report draws them)\n"
"  --print SEED      print the scenario SEED generates and exit; the same seed\n"
"                    gives the same bytes on every machine and build\n"
"  -q, --quiet       no progress line\n"
"  -h, --help        this text\n"
"\n"
"On a terminal a progress line shows runs done, runs per second, distinct\n"
"failures, and the time left (ETA for --seeds, the budget's rest for --budget).\n"
"\n"
"Examples:\n"
"  mqttsim explore --budget 60s\n"
"  mqttsim explore --seeds 1..100000 --jobs 2 --artifacts /tmp/found\n"
"  mqttsim explore --print 42 > seed42.scn && mqttsim run --seeds 42 seed42.scn\n"
"\n"
"Exit status: 0 when every seed passed, 1 when one failed (or the generator\n"
"wrote a scenario the language refuses: a failure too), 2 for bad usage (an\n"
"empty, reversed or overflowing seed range, a bad budget, an artifacts or\n"
"report folder that cannot be written), 130 when interrupted before anything\n"
"failed.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "mqttsim explore: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'mqttsim explore --help'.\n");
	return 2;
}

/* A seed: digits only, within 64 bits. */
static bool parse_u64(const char *s, const char *end, uint64_t *out)
{
	if (s == end || end - s > 20)
		return false;
	uint64_t v = 0;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* "A..B", "A" or (open) "A..": 0, or a message. */
static const char *parse_seeds(const char *arg, uint64_t *a, uint64_t *b, bool *open)
{
	const char *dots = strstr(arg, "..");
	const char *end_a = dots ? dots : arg + strlen(arg);
	*open = false;
	if (!*arg)
		return "--seeds takes A..B or A, not an empty range";
	if (!parse_u64(arg, end_a, a))
		return "--seeds: the first seed is not a number from 0 to 18446744073709551615";
	if (!dots) {
		*b = *a;
		return NULL;
	}
	if (!dots[2]) {
		*open = true;
		*b = UINT64_MAX;
		return NULL;
	}
	if (!parse_u64(dots + 2, dots + 2 + strlen(dots + 2), b))
		return "--seeds: the last seed is not a number from 0 to 18446744073709551615";
	if (*b < *a)
		return "--seeds: the range is reversed (the last seed is below the first)";
	return NULL;
}

/* "90s", "10m", "2h", "500ms": milliseconds; 0 when bad. At most 30 days. */
static uint64_t parse_budget(const char *s)
{
	char *end;
	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !v)
		return 0;
	uint64_t unit = !strcmp(end, "ms") ? 1 : !strcmp(end, "s") ? 1000 : !strcmp(end, "m") ? 60000
	              : !strcmp(end, "h") ? 3600000 : 0;
	if (!unit || v > 30ull * 24 * 3600000 / unit)
		return 0;
	return v * unit;
}

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* What the workers share: the next seed, and when to stop. */
struct shared {
	uint64_t next;      /* offset of the next seed to take from first */
	uint64_t runs;      /* runs done, all workers */
	uint64_t failed;    /* failing seeds */
	uint64_t stop_at;   /* --first: no seed above this one is taken */
	int stop;           /* interrupted, or the budget is spent */
	uint64_t current[256]; /* the seed each worker runs: a worker that dies names it */
	uint64_t shrunk[64];   /* failures shrunk so far, by the expectation that failed */
};

/* A failure as a worker sends it: this header, then the strings. */
struct record {
	uint64_t seed;
	int32_t kind; /* 1: failed; -1: the scenario could not be made or run */
	uint32_t shrink_runs, lines_before, lines_after;
	uint32_t len_sig, len_why, len_min;
};

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void write_all(int fd, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

struct config {
	uint64_t first, last, budget_ms, start_ms;
	bool first_only, shrink;
	char *extra; /* --rule lines added to every scenario */
	uint64_t shrink_max; /* failures shrunk per failed expectation; the rest counted */
};

/* A seed whose simulation does not end is a failure too (a hang of the
 * simulator or of a core): the watchdog reports it and ends the worker,
 * and the parent starts another in its place. */
#define HANG_SECONDS 60
#define HANG_EXIT 3
static int watchdog_fd;
static uint64_t watchdog_seed;
static char hang_record[sizeof(struct record) + 128];
static size_t hang_len;

static void on_hang(int sig)
{
	(void)sig;
	ssize_t w = write(watchdog_fd, hang_record, hang_len); /* async-signal-safe, prepared before */
	(void)w;
	_exit(HANG_EXIT);
}

/* The hang record of seed, made ready before its run. */
static void arm_watchdog(uint64_t seed)
{
	static const char why[] = "the simulation did not end within " "60" " s of real time (a hang)";
	struct record r = {seed, -2, 0, 0, 0, sizeof why - 1, sizeof why - 1, 0};
	memcpy(hang_record, &r, sizeof r);
	memcpy(hang_record + sizeof r, why, sizeof why - 1);
	memcpy(hang_record + sizeof r + sizeof why - 1, why, sizeof why - 1);
	hang_len = sizeof r + 2 * (sizeof why - 1);
	watchdog_seed = seed;
	alarm(HANG_SECONDS);
}

static void worker(const struct config *cf, struct shared *sh, int fd, long slot)
{
	signal(SIGINT, SIG_IGN); /* the parent says when to stop: the run in hand finishes */
	signal(SIGTERM, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* and a parent that is gone takes the workers with it */
	watchdog_fd = fd;
	signal(SIGALRM, on_hang);
	uint64_t span = cf->last - cf->first;
	for (;;) {
		if (__atomic_load_n(&sh->stop, __ATOMIC_RELAXED))
			break;
		if (cf->budget_ms && now_ms() - cf->start_ms >= cf->budget_ms)
			break;
		uint64_t k = __atomic_fetch_add(&sh->next, 1, __ATOMIC_RELAXED);
		if (k > span)
			break;
		uint64_t seed = cf->first + k;
		if (seed > __atomic_load_n(&sh->stop_at, __ATOMIC_RELAXED))
			break;
		struct explore_failure f;
		__atomic_store_n(&sh->current[slot], seed, __ATOMIC_RELAXED);
		arm_watchdog(seed);
		int rc = explore_seed(seed, false, cf->extra, &f);
		if (rc == 1 && cf->shrink) {
			/* Shrinking takes hundreds of runs: the first failures of each
			 * expectation are shrunk (and so told apart); the rest of a
			 * flood are counted by the expectation alone. */
			int inv = explore_failed_invariant(f.why);
			bool spent = (cf->budget_ms && now_ms() - cf->start_ms >= cf->budget_ms) ||
			             __atomic_load_n(&sh->stop, __ATOMIC_RELAXED);
			if (!spent && __atomic_fetch_add(&sh->shrunk[inv], 1, __ATOMIC_RELAXED) < cf->shrink_max)
				rc = explore_seed(seed, true, cf->extra, &f);
			else
				snprintf(f.signature, sizeof f.signature, "%s; not shrunk (past --shrink-max, "
				         "or the time was up)", inv ? scn_invariant_name((enum scn_invariant)inv)
				                                    : "other");
		}
		alarm(0);
		__atomic_fetch_add(&sh->runs, 1, __ATOMIC_RELAXED);
		if (rc == 0)
			continue;
		__atomic_fetch_add(&sh->failed, 1, __ATOMIC_RELAXED);
		if (cf->first_only) {
			uint64_t was = __atomic_load_n(&sh->stop_at, __ATOMIC_RELAXED);
			while (seed < was &&
			       !__atomic_compare_exchange_n(&sh->stop_at, &was, seed, false, __ATOMIC_RELAXED,
			                                    __ATOMIC_RELAXED))
				;
		}
		if (rc < 0)
			snprintf(f.signature, sizeof f.signature, "%s", f.why);
		struct record r = {seed, rc, f.shrink_runs, (uint32_t)f.lines_before,
		                   (uint32_t)f.lines_after, (uint32_t)strlen(f.signature),
		                   (uint32_t)strlen(f.why), f.minimal ? (uint32_t)strlen(f.minimal) : 0};
		write_all(fd, &r, sizeof r);
		write_all(fd, f.signature, r.len_sig);
		write_all(fd, f.why, r.len_why);
		if (f.minimal)
			write_all(fd, f.minimal, r.len_min);
		free(f.minimal);
	}
}

/* A distinct failure: the seeds of one signature, shown by its smallest. */
struct distinct {
	char *signature, *why, *minimal;
	uint64_t seed, count;
	uint32_t lines_before, lines_after;
	bool error;
};

struct results {
	struct distinct *d;
	size_t n, cap;
};

static int add_failure(struct results *res, const struct record *r, const char *sig,
                       const char *why, const char *minimal)
{
	for (size_t i = 0; i < res->n; i++) {
		struct distinct *d = &res->d[i];
		if (strcmp(d->signature, sig) != 0)
			continue;
		d->count++;
		if (r->seed < d->seed) {
			/* The smallest seed stands for them all, whatever order the workers finished in. */
			char *w = strdup(why), *m = minimal ? strdup(minimal) : NULL;
			if (!w || (minimal && !m)) {
				free(w);
				free(m);
				return -1;
			}
			free(d->why);
			free(d->minimal);
			d->why = w;
			d->minimal = m;
			d->seed = r->seed;
			d->lines_before = r->lines_before;
			d->lines_after = r->lines_after;
		}
		return 0;
	}
	if (res->n == res->cap) {
		size_t cap = res->cap ? res->cap * 2 : 16;
		struct distinct *d = realloc(res->d, cap * sizeof *d);
		if (!d)
			return -1;
		res->d = d;
		res->cap = cap;
	}
	struct distinct *d = &res->d[res->n];
	*d = (struct distinct){strdup(sig), strdup(why), minimal ? strdup(minimal) : NULL, r->seed, 1,
	                       r->lines_before, r->lines_after, r->kind < 0};
	if (!d->signature || !d->why || (minimal && !d->minimal))
		return -1;
	res->n++;
	return 0;
}

/* What one worker's pipe has brought so far. */
struct inbox {
	int fd;
	char *buf;
	size_t len, cap;
};

/* Starts worker w, its pipe's reading end in in[w].fd. 0, or -1. */
static int spawn(const struct config *cf, struct shared *sh, struct inbox *in, long jobs, long w,
                 pid_t *pid)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	fflush(NULL);
	*pid = fork();
	if (*pid == 0) {
		close(p[0]);
		for (long k = 0; k < jobs; k++)
			if (in[k].fd >= 0)
				close(in[k].fd);
		worker(cf, sh, p[1], w);
		_exit(0);
	}
	close(p[1]);
	if (*pid < 0) {
		close(p[0]);
		return -1;
	}
	in[w].fd = p[0];
	return 0;
}

/* Takes the complete records out of in. -1: out of memory. */
static int take_records(struct inbox *in, struct results *res)
{
	size_t at = 0;
	while (in->len - at >= sizeof(struct record)) {
		struct record r;
		memcpy(&r, in->buf + at, sizeof r);
		size_t body = (size_t)r.len_sig + r.len_why + r.len_min;
		if (in->len - at - sizeof r < body)
			break;
		const char *p = in->buf + at + sizeof r;
		char *sig = strndup(p, r.len_sig), *why = strndup(p + r.len_sig, r.len_why);
		char *min = r.len_min ? strndup(p + r.len_sig + r.len_why, r.len_min) : NULL;
		int rc = sig && why && (min || !r.len_min) ? add_failure(res, &r, sig, why, min) : -1;
		free(sig);
		free(why);
		free(min);
		if (rc)
			return -1;
		at += sizeof r + body;
	}
	memmove(in->buf, in->buf + at, in->len - at);
	in->len -= at;
	return 0;
}

/* Writes text to path through a temporary name: whole, or not at all. */
static int write_file(const char *path, const char *text)
{
	char tmp[1200];
	snprintf(tmp, sizeof tmp, "%.1100s.tmp%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* mkdir -p, then a probe file: whether DIR can take our files. */
static int prepare_dir(const char *dir, char *why, size_t cap)
{
	char buf[1024];
	if (strlen(dir) >= sizeof buf - 32) {
		snprintf(why, cap, "the path is too long");
		return -1;
	}
	snprintf(buf, sizeof buf, "%s", dir);
	for (char *c = buf + 1; *c; c++)
		if (*c == '/') {
			*c = 0;
			mkdir(buf, 0777);
			*c = '/';
		}
	if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
		snprintf(why, cap, "%s", strerror(errno));
		return -1;
	}
	snprintf(buf, sizeof buf, "%s/.probe-XXXXXX", dir);
	int fd = mkstemp(buf);
	if (fd < 0) {
		snprintf(why, cap, "%s", strerror(errno));
		return -1;
	}
	close(fd);
	unlink(buf);
	return 0;
}

static int by_seed(const void *a, const void *b)
{
	const struct distinct *x = a, *y = b;
	return x->seed < y->seed ? -1 : x->seed > y->seed;
}

/* The progress line, on a terminal. */
static void progress(const struct config *cf, const struct shared *sh, const struct results *res,
                     uint64_t t0, bool open)
{
	uint64_t runs = __atomic_load_n(&sh->runs, __ATOMIC_RELAXED);
	uint64_t el = now_ms() - t0;
	double rate = el ? (double)runs * 1000.0 / (double)el : 0.0;
	char left[64] = "";
	if (cf->budget_ms) {
		uint64_t rest = cf->budget_ms > el ? cf->budget_ms - el : 0;
		snprintf(left, sizeof left, ", %llus left", (unsigned long long)(rest + 999) / 1000);
	} else if (!open && rate > 0) {
		double todo = (double)(cf->last - cf->first) + 1.0 - (double)runs;
		snprintf(left, sizeof left, ", ETA %.0fs", todo > 0 ? todo / rate : 0.0);
	}
	fprintf(stderr, "\rexplore: %llu runs, %.0f runs/s, %zu distinct failure%s%s\033[K",
	        (unsigned long long)runs, rate, res->n, res->n == 1 ? "" : "s", left);
}

static json_t *results_json(const struct config *cf, const struct shared *sh,
                            const struct results *res, uint64_t last_run, double seconds)
{
	json_t *fails = json_array();
	for (size_t i = 0; i < res->n; i++) {
		const struct distinct *d = &res->d[i];
		char hash[16];
		snprintf(hash, sizeof hash, "%08x", explore_signature_hash(d->signature));
		json_array_append_new(fails, json_pack("{s:s, s:s, s:I, s:I, s:s, s:s?, s:b}",
		                                       "signature", d->signature, "hash", hash,
		                                       "seed", (json_int_t)d->seed, "count",
		                                       (json_int_t)d->count, "why", d->why, "minimal",
		                                       d->minimal, "generator_error", d->error));
	}
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:o}", "mqttsim", mqttsim_version,
	                 "first", (json_int_t)cf->first, "last", (json_int_t)last_run, "runs",
	                 (json_int_t)sh->runs, "failed_seeds", (json_int_t)sh->failed, "seconds",
	                 seconds, "failures", fails);
}

/*
 * --report: each distinct failure's minimal scenario run once more with
 * its seed, charted, in one page. 0, or -1 (said on standard error).
 */
static int write_report(const char *dir, const struct config *cf, const struct shared *sh,
                        const struct results *res, uint64_t last_run, double seconds, int argc,
                        char **argv)
{
	struct result *rs = calloc(res->n ? res->n : 1, sizeof *rs);
	if (!rs)
		return -1;
	int n = 0;
	for (size_t i = 0; i < res->n; i++) {
		const struct distinct *d = &res->d[i];
		struct scenario s;
		char err[600];
		if (!d->minimal || scenario_load(&s, d->minimal, err, sizeof err) != 0)
			continue; /* not written, or the generator's own error: said above */
		struct result *r = &rs[n++];
		result_init(r, &s, d->seed, d->seed);
		snprintf(r->description, sizeof r->description, "%llu seed%s failed this way; shape: %s",
		         (unsigned long long)d->count, d->count == 1 ? "" : "s", d->signature);
		r->runs = 1;
		r->verdict = RESULT_FAIL;
		struct result_failure fl = {.seed = d->seed};
		struct scn_result run;
		char no[600];
		if (report_chart_run(dir, &s, d->seed, fl.chart, sizeof fl.chart, &run, no, sizeof no) != 0) {
			fprintf(stderr, "mqttsim explore: --report: no chart for %s: %s\n", d->minimal, no);
			snprintf(fl.why, sizeof fl.why, "%s", d->why);
			snprintf(fl.guarantee, sizeof fl.guarantee, "?");
		} else {
			result_guarantee(&s, &run, fl.guarantee, sizeof fl.guarantee);
			snprintf(fl.why, sizeof fl.why, "%s", run.passed ? d->why : run.why);
		}
		snprintf(fl.reproduce, sizeof fl.reproduce, "mqttsim run --seeds %llu --trace %s",
		         (unsigned long long)d->seed, d->minimal);
		snprintf(fl.shrunk, sizeof fl.shrunk, "%s", d->minimal);
		if (result_add_failure(r, &fl) != 0)
			n--;
		scenario_free(&s);
	}
	char command[2048], summary[300];
	size_t used = (size_t)snprintf(command, sizeof command, "mqttsim");
	for (int k = 1; k < argc && used < sizeof command; k++)
		used += (size_t)snprintf(command + used, sizeof command - used, " %s", argv[k]);
	snprintf(summary, sizeof summary, "explore: %llu runs, %llu failed seeds, %zu distinct "
	         "failure%s", (unsigned long long)sh->runs, (unsigned long long)sh->failed, res->n,
	         res->n == 1 ? "" : "s");
	struct results_run run = {.mode = "explore", .first = cf->first, .last = last_run,
	                          .seconds = seconds, .command = command, .summary = summary};
	char why[700];
	int rc = report_write(dir, &run, rs, n, why, sizeof why);
	if (rc != 0)
		fprintf(stderr, "mqttsim explore: --report: %s\n", why);
	else
		fprintf(stderr, "report: %s/index.html\n", dir);
	for (int i = 0; i < n; i++)
		result_free(&rs[i]);
	free(rs);
	return rc;
}

int mqttsim_explore(int argc, char **argv)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		cores = 1;
	struct config cf = {1, 1000, 0, 0, false, true, NULL, 25};
	bool seeds_given = false, open = false, json = false, quiet = false;
	const char *print_seed = NULL;
	long jobs = cores;
	const char *artifacts = "mqttsim-explore", *report = NULL;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		bool has_value = i + 1 < argc;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf(usage, cores);
			return 0;
		} else if (!strcmp(a, "--rule") && has_value) {
			/* Checked as every generated scenario will take it. */
			char line[600], err[600];
			if (strlen(argv[++i]) > 250 || strchr(argv[i], '\n'))
				return usage_error("--rule takes one fake-broker rule of at most 250 characters");
			snprintf(line, sizeof line, "# --rule\nclient c1\nrule %s\nexpect live\n", argv[i]);
			struct scenario probe;
			if (scenario_parse(&probe, "--rule", line, err, sizeof err) != 0)
				return usage_error("--rule '%s': %s", argv[i], err);
			scenario_free(&probe);
			struct mqtt_broker *b = NULL;
			struct mqtt_broker_config bcfg = {0};
			if (mqtt_broker_new(&b, &bcfg) == 0) {
				int rc = mqtt_broker_rule(b, argv[i], err, sizeof err);
				mqtt_broker_free(b);
				if (rc < 0)
					return usage_error("--rule '%s': %s", argv[i], err);
			}
			size_t had = cf.extra ? strlen(cf.extra) : 0;
			char *grown = realloc(cf.extra, had + strlen(argv[i]) + 7);
			if (!grown)
				return 1;
			cf.extra = grown;
			sprintf(cf.extra + had, "rule %s\n", argv[i]);
		} else if (!strcmp(a, "--print")) {
			print_seed = argv[i + 1];
			if (!has_value)
				return usage_error("--print takes a seed (0 to 18446744073709551615)");
			i++;
		} else if (!strcmp(a, "--seeds") && has_value) {
			const char *why = parse_seeds(argv[++i], &cf.first, &cf.last, &open);
			if (why)
				return usage_error("%s", why);
			seeds_given = true;
		} else if (!strcmp(a, "--budget") && has_value) {
			if (!(cf.budget_ms = parse_budget(argv[++i])))
				return usage_error("--budget takes a duration with its unit, above 0 and at most "
				                   "30 days (500ms, 90s, 10m, 2h), not '%s'", argv[i]);
		} else if (!strcmp(a, "--jobs") && has_value) {
			char *end;
			errno = 0;
			jobs = strtol(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || jobs < 1 || jobs > 256)
				return usage_error("--jobs takes 1 to 256, not '%s'", argv[i]);
		} else if (!strcmp(a, "--artifacts") && has_value) {
			artifacts = argv[++i];
			if (!*artifacts)
				return usage_error("--artifacts takes a folder");
		} else if (!strcmp(a, "--first")) {
			cf.first_only = true;
		} else if (!strcmp(a, "--no-shrink")) {
			cf.shrink = false;
		} else if (!strcmp(a, "--shrink-max") && has_value) {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || argv[i][0] == '-')
				return usage_error("--shrink-max takes a count, not '%s'", argv[i]);
			cf.shrink_max = v;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--report") && has_value) {
			report = argv[++i];
			if (!*report)
				return usage_error("--report takes a folder");
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			quiet = true;
		} else if (a[0] == '-') {
			static const char *const valued[] = {"--seeds", "--budget", "--jobs", "--artifacts",
			                                     "--rule", "--print", "--shrink-max", "--report"};
			for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
				if (!strcmp(a, valued[k]))
					return usage_error("'%s' needs a value", a);
			return usage_error("unknown option '%s'", a);
		} else {
			return usage_error("explore takes no file (generated scenarios only), not '%s'", a);
		}
	}
	if (print_seed) {
		uint64_t seed;
		char text[EXPLORE_TEXT_MAX + 1024];
		if (!parse_u64(print_seed, print_seed + strlen(print_seed), &seed))
			return usage_error("--print takes a seed (0 to 18446744073709551615), not '%s'",
			                   print_seed);
		if (!explore_text(seed, cf.extra, text, sizeof text)) {
			fprintf(stderr, "mqttsim explore: generator error: seed %s makes a scenario longer "
			        "than %d bytes\n", print_seed, EXPLORE_TEXT_MAX);
			return 1;
		}
		free(cf.extra);
		fputs(text, stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (open && !cf.budget_ms)
		return usage_error("--seeds A.. (no end) needs --budget");
	if (!seeds_given && cf.budget_ms)
		cf.last = UINT64_MAX, open = true;
	char why[300];
	if (prepare_dir(artifacts, why, sizeof why) != 0) {
		fprintf(stderr, "mqttsim explore: --artifacts %s: cannot write there: %s\n", artifacts, why);
		return 2;
	}
	if (report && prepare_dir(report, why, sizeof why) != 0) {
		rmdir(artifacts);
		fprintf(stderr, "mqttsim explore: --report %s: cannot write there: %s\n", report, why);
		return 2;
	}
	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	                         -1, 0);
	if (sh == MAP_FAILED) {
		fprintf(stderr, "mqttsim explore: %s\n", strerror(errno));
		return 1;
	}
	memset(sh, 0, sizeof *sh);
	sh->stop_at = UINT64_MAX;
	if (!open && (uint64_t)jobs > cf.last - cf.first)
		jobs = (long)(cf.last - cf.first + 1);
	struct sigaction sa = {.sa_handler = on_interrupt};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	cf.start_ms = now_ms();
	struct inbox *in = calloc((size_t)jobs, sizeof *in);
	pid_t *pids = calloc((size_t)jobs, sizeof *pids);
	if (!in || !pids)
		return 1;
	fflush(NULL);
	for (long w = 0; w < jobs; w++)
		in[w].fd = -1;
	for (long w = 0; w < jobs; w++)
		if (spawn(&cf, sh, in, jobs, w, &pids[w]) != 0) {
			fprintf(stderr, "mqttsim explore: cannot start a worker: %s\n", strerror(errno));
			jobs = w;
			break;
		}
	bool tty = !quiet && isatty(STDERR_FILENO);
	struct results res = {0};
	int open_pipes = (int)jobs;
	bool broken = false;
	struct pollfd *pf = calloc((size_t)jobs + 1, sizeof *pf);
	while (open_pipes > 0 && pf) {
		if (interrupted)
			__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
		int n = 0;
		for (long w = 0; w < jobs; w++)
			if (in[w].fd >= 0)
				pf[n++] = (struct pollfd){.fd = in[w].fd, .events = POLLIN};
		int rc = poll(pf, (nfds_t)n, 250);
		if (rc < 0 && errno != EINTR)
			break;
		for (long w = 0; w < jobs && rc > 0; w++) {
			struct inbox *b = &in[w];
			if (b->fd < 0)
				continue;
			bool ready = false;
			for (int k = 0; k < n; k++)
				ready |= pf[k].fd == b->fd && pf[k].revents;
			if (!ready)
				continue;
			if (b->cap - b->len < 65536) {
				char *grown = realloc(b->buf, b->cap + 65536);
				if (!grown) {
					broken = true;
					break;
				}
				b->buf = grown;
				b->cap += 65536;
			}
			ssize_t got = read(b->fd, b->buf + b->len, b->cap - b->len);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				close(b->fd);
				b->fd = -1;
				int status = 0;
				waitpid(pids[w], &status, 0);
				pids[w] = 0;
				if (WIFSIGNALED(status) ||
				    (WIFEXITED(status) && WEXITSTATUS(status) && WEXITSTATUS(status) != HANG_EXIT)) {
					/* The run crashed the worker (a signal, or a sanitizer's
					 * exit): a failure of its seed. */
					char crashed[120];
					if (WIFSIGNALED(status))
						snprintf(crashed, sizeof crashed, "the run crashed: signal %d (%s)",
						         WTERMSIG(status), strsignal(WTERMSIG(status)));
					else
						snprintf(crashed, sizeof crashed, "the run ended its worker with exit "
						         "status %d (a sanitizer's report is on standard error)",
						         WEXITSTATUS(status));
					struct record r = {sh->current[w], -3, 0, 0, 0, 0, 0, 0};
					__atomic_fetch_add(&sh->failed, 1, __ATOMIC_RELAXED);
					__atomic_fetch_add(&sh->runs, 1, __ATOMIC_RELAXED);
					if (add_failure(&res, &r, crashed, crashed, NULL) != 0)
						broken = true;
					if (!sh->stop && spawn(&cf, sh, in, jobs, w, &pids[w]) == 0)
						continue;
				}
				/* A worker the watchdog ended (its seed reported) is replaced. */
				if (WIFEXITED(status) && WEXITSTATUS(status) == HANG_EXIT && !sh->stop &&
				    spawn(&cf, sh, in, jobs, w, &pids[w]) == 0)
					continue;
				open_pipes--;
				continue;
			}
			b->len += (size_t)got;
			if (take_records(b, &res) != 0)
				broken = true;
		}
		if (tty)
			progress(&cf, sh, &res, cf.start_ms, open);
	}
	for (long w = 0; w < jobs; w++)
		if (pids[w] > 0)
			waitpid(pids[w], NULL, 0);
	double seconds = (double)(now_ms() - cf.start_ms) / 1000.0;
	if (tty)
		fprintf(stderr, "\r\033[K");
	/* Under --first only the smallest failing seed counts: a worker may
	 * have failed on a larger one before it learnt of it. */
	if (res.n > 1)
		qsort(res.d, res.n, sizeof *res.d, by_seed);
	uint64_t last_run = cf.first + (sh->runs ? sh->runs - 1 : 0);
	size_t distinct_found = res.n; /* all of them are freed at the end */
	if (cf.first_only && res.n) {
		res.n = 1;
		res.d[0].count = 1;
		last_run = res.d[0].seed;
		sh->runs = res.d[0].seed - cf.first + 1;
		sh->failed = 1;
	}
	/* The files, then the report. */
	for (size_t i = 0; i < res.n; i++) {
		struct distinct *d = &res.d[i];
		char path[1100], *text = NULL;
		uint32_t hash = explore_signature_hash(d->signature);
		snprintf(path, sizeof path, "%s/explore-%08x-seed%llu.%s", artifacts, hash,
		         (unsigned long long)d->seed, d->minimal ? "min.scn" : "scn");
		char generated[EXPLORE_TEXT_MAX];
		const char *body = d->minimal;
		if (!body && explore_text(d->seed, cf.extra, generated, sizeof generated))
			body = generated;
		if (body && asprintf(&text, "%s# found by mqttsim explore with seed %llu (%llu seed%s "
		                     "failed this way): %s\n# %s: %u of %u directives; the generated "
		                     "scenario: mqttsim explore --print %llu\n", body,
		                     (unsigned long long)d->seed, (unsigned long long)d->count,
		                     d->count == 1 ? "" : "s", d->why, d->minimal ? "shrunk" : "as generated",
		                     d->lines_after, d->lines_before, (unsigned long long)d->seed) >= 0 &&
		    write_file(path, text) == 0) {
			free(d->minimal);
			d->minimal = strdup(path); /* from here on: where it is */
		} else {
			fprintf(stderr, "mqttsim explore: %s: %s\n", path, strerror(errno));
			free(d->minimal);
			d->minimal = NULL;
		}
		free(text);
	}
	rmdir(artifacts); /* only when nothing was written */
	int status = res.n ? 1 : interrupted ? 130 : 0;
	if (report && write_report(report, &cf, sh, &res, last_run, seconds, argc, argv) != 0)
		status = 2;
	if (json) {
		json_t *doc = results_json(&cf, sh, &res, last_run, seconds);
		for (size_t i = 0; doc && i < res.n; i++)
			json_object_set_new(json_array_get(json_object_get(doc, "failures"), i), "file",
			                    res.d[i].minimal ? json_string(res.d[i].minimal) : json_null());
		json_object_set_new(doc, "interrupted", json_boolean(interrupted));
		if (!doc || json_dumpf(doc, stdout, JSON_COMPACT) != 0)
			status = 1;
		putchar('\n');
		json_decref(doc);
	} else {
		for (size_t i = 0; i < res.n; i++) {
			const struct distinct *d = &res.d[i];
			printf("FAIL %08x: %llu seed%s, the smallest %llu: %s\n  shape: %s\n",
			       explore_signature_hash(d->signature), (unsigned long long)d->count,
			       d->count == 1 ? "" : "s", (unsigned long long)d->seed, d->why, d->signature);
			if (d->minimal)
				printf("  %s: %s (%u of %u directives)\n  reproduce: mqttsim run --seeds %llu --trace %s\n",
				       d->error ? "generated" : "minimal", d->minimal, d->lines_after,
				       d->lines_before, (unsigned long long)d->seed, d->minimal);
		}
		char range[64];
		if (open)
			snprintf(range, sizeof range, "%llu..%llu", (unsigned long long)cf.first,
			         (unsigned long long)last_run);
		else
			snprintf(range, sizeof range, "%llu..%llu", (unsigned long long)cf.first,
			         (unsigned long long)cf.last);
		printf("explore: seeds %s: %llu runs in %.1f s (%.0f runs/s), %llu failed, %zu distinct "
		       "failure%s%s\n", range, (unsigned long long)sh->runs, seconds,
		       seconds > 0 ? (double)sh->runs / seconds : 0.0, (unsigned long long)sh->failed,
		       res.n, res.n == 1 ? "" : "s", interrupted ? " (interrupted)" : "");
	}
	for (size_t i = 0; i < distinct_found; i++) {
		free(res.d[i].signature);
		free(res.d[i].why);
		free(res.d[i].minimal);
	}
	free(res.d);
	for (long w = 0; w < jobs; w++)
		free(in[w].buf);
	free(in);
	free(pids);
	free(pf);
	munmap(sh, sizeof *sh);
	free(cf.extra);
	if (broken) {
		fprintf(stderr, "mqttsim explore: out of memory: the results above are incomplete\n");
		return 1;
	}
	return status;
}
