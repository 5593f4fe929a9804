/*
 * faultproxy - a TCP proxy that puts a fault plan between any MQTT
 * client and broker (see usage_text): the proxy core (faults/proxy.c)
 * with one route, run in this thread until a signal.
 */
#define _GNU_SOURCE /* accept4, signalfd */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "faults/proxy.h"
#include "mqttsim/faults.h"
#include "mqttsim/pcap.h"

#define MAX_FAULTS 64

static const char usage_text[] =
"Usage: faultproxy --upstream tcp://HOST:PORT [OPTION]...\n"
"A TCP proxy for MQTT that applies a fault plan between any client and any\n"
"broker: drops, resets, half-closes, stalls, latency, bandwidth caps, partial\n"
"writes and reads, corrupted, truncated and discarded packets. It frames MQTT\n"
"as bytes pass, so faults can be aimed at packets (\"the 2nd PUBREC\").\n"
"\n"
"It prints \"listening tcp 127.0.0.1:PORT\" to standard output, flushed, first;\n"
"then one line per fault applied to standard error:\n"
"    t=MSms conn=N c2b|b2c byte=OFFSET [packet=TYPE#K] action=NAME line=L\n"
"(t is milliseconds since the proxy started; L is the line of the plan file,\n"
"and --fault options count on after its last line). SIGINT and SIGTERM stop it.\n"
"\n"
"Options:\n"
"  --listen tcp://HOST:PORT   where clients connect (default tcp://127.0.0.1:0;\n"
"                             port 0 picks a free one; IPv6 as [::1])\n"
"  --upstream ADDRESS         the broker, tcp://HOST:PORT or unix:PATH (required)\n"
"  --plan FILE                a fault plan, one fault a line (docs/faults.md)\n"
"  --fault 'SPEC'             one fault, in the same syntax; repeatable\n"
"  --seed N                   the seed of every random choice (default 1): the\n"
"                             same plan, seed and traffic give the same faults\n"
"  --record FILE.pcap         write the client's leg: what each client sent, and\n"
"                             what reached it past the faults\n"
"  --record-broker FILE.pcap  write the broker's leg: what reached the broker past\n"
"                             the faults, and what it sent\n"
"  -v, --verbose              log connections to standard error\n"
"  -h, --help                 this text\n"
"\n"
"Fault syntax: DIR [TRIGGER] ACTION [key=value]..., for example\n"
"  b2c after=PUBACK#2 drop         cut the connection after the 2nd PUBACK\n"
"  c2b partial-write size=1        deliver the client's bytes one at a time\n"
"  both latency ms=50 jitter=10    add 40-60 ms each way\n"
"  c2b byte=1 corrupt conn=2       damage a length byte on the 2nd connection\n"
"\n"
"Exit status: 0 after a clean stop, 1 when it failed, 2 for bad usage or plan.\n";

static struct {
	bool verbose;
} g;

__attribute__((format(printf, 1, 2), noreturn))
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "faultproxy: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'faultproxy --help'.\n");
	exit(2);
}

static void log_line(void *arg, const char *line)
{
	(void)arg;
	if (g.verbose)
		fprintf(stderr, "faultproxy: %s\n", line);
}

/* One line per fault applied, on standard error. */
static void report(void *arg, int route, const struct mqtt_fault_report *r)
{
	(void)arg;
	(void)route;
	char line[200];
	mqtt_fault_report_format(r, line, sizeof line);
	fprintf(stderr, "%s\n", line);
}

int main(int argc, char **argv)
{
	const char *listen_url = "tcp://127.0.0.1:0", *upstream_url = NULL, *plan_file = NULL;
	const char *record = NULL, *record_broker = NULL;
	const char *faults[MAX_FAULTS];
	int nfaults = 0;
	uint64_t seed = 1;
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'}, {"upstream", required_argument, NULL, 'u'},
		{"plan", required_argument, NULL, 'p'},   {"fault", required_argument, NULL, 'f'},
		{"seed", required_argument, NULL, 's'},   {"record", required_argument, NULL, 'r'},
		{"record-broker", required_argument, NULL, 'R'},
		{"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_url = optarg; break;
		case 'u': upstream_url = optarg; break;
		case 'p': plan_file = optarg; break;
		case 'f':
			if (nfaults == MAX_FAULTS)
				usage_error("at most %d --fault options", MAX_FAULTS);
			faults[nfaults++] = optarg;
			break;
		case 's': {
			char *end;
			errno = 0;
			seed = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-')
				usage_error("--seed needs a whole number, not %s", optarg);
			break;
		}
		case 'r': record = optarg; break;
		case 'R': record_broker = optarg; break;
		case 'v': g.verbose = true; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fprintf(stderr, "Try 'faultproxy --help'.\n"); return 2;
		}
	}
	if (optind < argc)
		usage_error("unexpected argument %s", argv[optind]);
	if (!upstream_url)
		usage_error("--upstream tcp://HOST:PORT is required");
	struct mqtt_fault_plan plan = {0};
	char err[512];
	unsigned plan_lines = 0; /* --fault options are numbered after the file's lines */
	if (plan_file) {
		FILE *f = fopen(plan_file, "r");
		if (!f)
			usage_error("--plan %s: %s", plan_file, strerror(errno));
		char *text = NULL;
		size_t cap = 0;
		ssize_t n = getdelim(&text, &cap, '\0', f);
		fclose(f);
		if (n < 0)
			text = strdup("");
		for (const char *t = text; t && *t; t++)
			plan_lines += *t == '\n' || !t[1];
		if (mqtt_fault_plan_parse(&plan, text ? text : "", err, sizeof err) != 0)
			usage_error("%s: %s", plan_file, err);
		free(text);
	}
	for (int i = 0; i < nfaults; i++) {
		struct mqtt_fault f;
		if (mqtt_fault_parse(&f, faults[i], strlen(faults[i]), err, sizeof err) != 0 ||
		    mqtt_fault_plan_add(&plan, &f, err, sizeof err) != 0)
			usage_error("--fault '%s': %s", faults[i], err);
		plan.faults[plan.n - 1].line = plan_lines + (unsigned)i + 1;
	}
	struct mqtt_pcap *pcap = NULL, *broker_pcap = NULL;
	if (record && mqtt_pcap_open(&pcap, record, err, sizeof err) != 0) {
		fprintf(stderr, "faultproxy: --record %s: %s\n", record, err);
		return 1;
	}
	if (record_broker && mqtt_pcap_open(&broker_pcap, record_broker, err, sizeof err) != 0) {
		fprintf(stderr, "faultproxy: --record-broker %s: %s\n", record_broker, err);
		return 1;
	}
	struct fault_proxy_hooks hooks = {.report = report, .log = log_line, .client_leg = pcap,
	                                  .broker_leg = broker_pcap, .source = "faultproxy"};
	struct fault_proxy *proxy;
	if (fault_proxy_new(&proxy, upstream_url, &hooks, err, sizeof err) != 0)
		usage_error("--upstream %s", err);
	char where[128];
	if (fault_proxy_route(proxy, listen_url, &plan, seed, where, sizeof where, err, sizeof err) < 0) {
		fprintf(stderr, "faultproxy: --listen %s\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	printf("listening tcp %s\n", where);
	fflush(stdout);
	int rc = fault_proxy_run(proxy, sfd) == 0 ? 0 : 1;
	fault_proxy_free(proxy);
	if (pcap)
		mqtt_pcap_close(pcap);
	if (broker_pcap)
		mqtt_pcap_close(broker_pcap);
	mqtt_fault_plan_free(&plan);
	close(sfd);
	return rc;
}
