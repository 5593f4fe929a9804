/*
 * fakebroker - a scriptable MQTT 3.1.1 broker for tests (see usage()).
 *
 * The broker serves from its own thread; this one reads control
 * commands and signals.
 */
#define _GNU_SOURCE /* signalfd, accept4 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "mqttsim/fakebroker.h"

#define MAX_LISTENERS 16
#define MAX_RULES 64
#define MAX_CONTROL_CLIENTS 32
#define LINE_MAX_BYTES (1 << 20)

static const char usage_text[] =
"Usage: fakebroker [OPTION]...\n"
"A real MQTT 3.1.1 broker for tests: sessions, QoS 0/1/2, retained messages,\n"
"wills, keep-alive, authentication and TLS, that a test can script (refuse,\n"
"withhold, delay, duplicate, reorder, close, drop) and inspect (every packet\n"
"recorded) through a JSON-lines control interface.\n"
"\n"
"On start it prints one line per listener to standard output, flushed, before\n"
"anything else:\n"
"    listening tcp 127.0.0.1:PORT | listening tls [::1]:PORT | listening unix PATH\n"
"SIGINT and SIGTERM stop it cleanly (exit status 0).\n"
"\n"
"Listeners (default: --listen tcp://127.0.0.1:0):\n"
"  --listen URL           tcp://HOST:PORT, tls://HOST:PORT or unix:PATH; repeatable.\n"
"                         Port 0 picks a free port; IPv6 as tcp://[::1]:0. Bind\n"
"                         loopback unless you mean otherwise.\n"
"  --tls-cert FILE        PEM certificate chain for tls:// listeners\n"
"  --tls-key FILE         its PEM private key\n"
"  --tls-ca FILE          require client certificates signed by these PEM CAs\n"
"\n"
"Clients:\n"
"  --users FILE           'user:password' lines, or a mosquitto_passwd(1) file\n"
"                         ($6$ and $7$ hashes); then connects need credentials:\n"
"                         CONNACK 5 without a user name, 4 for a bad one\n"
"  --anonymous            with --users: allow connects without a user name\n"
"  --connect-timeout DUR  close connections that send no CONNECT within DUR\n"
"                         (default 10s; DUR is N, Ns, Nms or Nm)\n"
"  --queue-max N          QoS 1/2 messages waiting per session (default 100000)\n"
"  --inflight-max N       QoS 1/2 messages in flight per session (default 64)\n"
"  --packet-max BYTES     largest packet accepted (default 1048576)\n"
"\n"
"Scripting and recording:\n"
"  --rule 'RULE'          a rule from the start, as the control command 'rule'\n"
"                         takes it (e.g. 'withhold b2c:PUBACK#2'); repeatable\n"
"  --control unix:PATH    JSON-lines control on a unix socket\n"
"  --control stdio        JSON-lines control on standard input and output; end\n"
"                         of input stops the broker\n"
"  --record FILE.pcap     write every read and write to a pcap file (tshark\n"
"                         decodes it as MQTT on port 1883)\n"
"  --no-record            keep no packets in memory (the 'packets' command then\n"
"                         returns none); for benchmarks\n"
"  --record-max N         packets kept in memory (default 100000, the newest)\n"
"  -v, --verbose          log connections, refusals, closes and rule actions to\n"
"                         standard error (never passwords)\n"
"  -h, --help             this text\n"
"\n"
"The control commands, rules and their syntax: docs/control.md.\n"
"\n"
"Example:\n"
"  fakebroker --listen tcp://127.0.0.1:0 --rule 'refuse 5 client=intruder' -v\n"
"\n"
"Exit status: 0 after a clean stop, 1 when serving failed, 2 for bad usage.\n";

static int verbose;

static void log_line(void *arg, const char *line)
{
	(void)arg;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld fakebroker: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
	        ts.tv_nsec / 1000000, line);
}

__attribute__((format(printf, 1, 2), noreturn))
static void die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fakebroker: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'fakebroker --help'.\n");
	exit(2);
}

static uint64_t parse_count(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v == 0)
		die_usage("%s needs a whole number above 0", opt);
	return v;
}

static uint32_t parse_duration_ms(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		die_usage("%s needs a duration such as 10s or 500ms", opt);
	unsigned long long ms;
	if (!*end || strcmp(end, "s") == 0)
		ms = v * 1000;
	else if (strcmp(end, "ms") == 0)
		ms = v;
	else if (strcmp(end, "m") == 0)
		ms = v * 60000;
	else
		die_usage("%s: unknown unit; use ms, s or m", opt);
	if (ms == 0 || ms >= UINT32_MAX)
		die_usage("%s: duration out of range", opt);
	return (uint32_t)ms;
}

/* Loads a users file into the broker; exits with a message naming the line on error. */
static void load_users(struct mqtt_fakebroker *fb, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "fakebroker: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	ssize_t n;
	struct mqtt_broker *b = mqtt_fakebroker_lock(fb);
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (n == 0 || line[0] == '#')
			continue;
		char *colon = strchr(line, ':');
		if (!colon || colon == line) {
			fprintf(stderr, "fakebroker: %s:%u: expected user:password\n", path, lineno);
			exit(2);
		}
		*colon = 0;
		int rc = mqtt_broker_add_user(b, line, colon + 1);
		if (rc) {
			fprintf(stderr, "fakebroker: %s:%u: %s\n", path, lineno,
			        rc == EINVAL ? "user name not UTF-8, or a malformed $6$/$7$ hash"
			                     : strerror(rc));
			exit(2);
		}
	}
	mqtt_fakebroker_unlock(fb);
	free(line);
	fclose(f);
}

struct control_client {
	int in, out;
	char *buf;
	size_t len, cap;
};

/* Handles the whole lines in c's buffer; returns false when c should be closed. */
static bool control_lines(struct mqtt_fakebroker *fb, struct control_client *c, bool *shutdown)
{
	size_t start = 0;
	for (size_t i = 0; i < c->len; i++) {
		if (c->buf[i] != '\n')
			continue;
		c->buf[i] = 0;
		char *line = c->buf + start;
		start = i + 1;
		if (!*line || strspn(line, " \t\r") == strlen(line))
			continue;
		char *reply = control_exec(fb, line, shutdown);
		if (!reply)
			return false;
		size_t rlen = strlen(reply);
		if (write(c->out, reply, rlen) != (ssize_t)rlen || write(c->out, "\n", 1) != 1) {
			free(reply);
			return false;
		}
		free(reply);
		if (*shutdown)
			return true;
	}
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	return true;
}

/* Reads from c; false at end of input or on error. */
static bool control_read(struct mqtt_fakebroker *fb, struct control_client *c, bool *shutdown)
{
	if (c->cap - c->len < 4096) {
		size_t cap = c->cap ? c->cap * 2 : 8192;
		if (cap > LINE_MAX_BYTES) {
			const char msg[] = "{\"ok\":false,\"error\":\"line longer than 1 MiB\"}\n";
			if (write(c->out, msg, sizeof msg - 1) < 0)
				return false;
			return false;
		}
		char *p = realloc(c->buf, cap);
		if (!p)
			return false;
		c->buf = p;
		c->cap = cap;
	}
	ssize_t n = read(c->in, c->buf + c->len, c->cap - c->len);
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	c->len += (size_t)n;
	return control_lines(fb, c, shutdown);
}

static int control_listen(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		die_usage("control socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			die_usage("--control: %s exists and is not a socket", path);
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
		fprintf(stderr, "fakebroker: --control unix:%s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct mqtt_fakebroker_config cfg = {0};
	const char *listens[MAX_LISTENERS], *rules[MAX_RULES];
	int nlisten = 0, nrules = 0;
	const char *users = NULL, *control = NULL;
	bool no_record = false;
	cfg.broker.record_max = 100000;
	enum { O_LISTEN = 256, O_CERT, O_KEY, O_CA, O_USERS, O_ANON, O_CTIMEOUT, O_QUEUE, O_INFLIGHT,
	       O_PACKET, O_RULE, O_CONTROL, O_RECORD, O_NORECORD, O_RECMAX };
	static const struct option opts[] = {
		{"listen", required_argument, NULL, O_LISTEN},
		{"tls-cert", required_argument, NULL, O_CERT},
		{"tls-key", required_argument, NULL, O_KEY},
		{"tls-ca", required_argument, NULL, O_CA},
		{"users", required_argument, NULL, O_USERS},
		{"anonymous", no_argument, NULL, O_ANON},
		{"connect-timeout", required_argument, NULL, O_CTIMEOUT},
		{"queue-max", required_argument, NULL, O_QUEUE},
		{"inflight-max", required_argument, NULL, O_INFLIGHT},
		{"packet-max", required_argument, NULL, O_PACKET},
		{"rule", required_argument, NULL, O_RULE},
		{"control", required_argument, NULL, O_CONTROL},
		{"record", required_argument, NULL, O_RECORD},
		{"no-record", no_argument, NULL, O_NORECORD},
		{"record-max", required_argument, NULL, O_RECMAX},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case O_LISTEN:
			if (nlisten == MAX_LISTENERS)
				die_usage("at most %d listeners", MAX_LISTENERS);
			listens[nlisten++] = optarg;
			break;
		case O_CERT: cfg.tls_cert = optarg; break;
		case O_KEY: cfg.tls_key = optarg; break;
		case O_CA: cfg.tls_ca = optarg; break;
		case O_USERS: users = optarg; break;
		case O_ANON: cfg.broker.anonymous = true; break;
		case O_CTIMEOUT: cfg.broker.connect_timeout_ms = parse_duration_ms("--connect-timeout", optarg); break;
		case O_QUEUE: cfg.broker.queue_max = (size_t)parse_count("--queue-max", optarg); break;
		case O_INFLIGHT: {
			uint64_t v = parse_count("--inflight-max", optarg);
			if (v > 65535)
				die_usage("--inflight-max is at most 65535");
			cfg.broker.inflight_max = (uint16_t)v;
			break;
		}
		case O_PACKET: cfg.broker.packet_max = (size_t)parse_count("--packet-max", optarg); break;
		case O_RULE:
			if (nrules == MAX_RULES)
				die_usage("at most %d rules on the command line", MAX_RULES);
			rules[nrules++] = optarg;
			break;
		case O_CONTROL:
			if (strcmp(optarg, "stdio") != 0 && strncmp(optarg, "unix:", 5) != 0)
				die_usage("--control takes unix:PATH or stdio, not %s", optarg);
			control = optarg;
			break;
		case O_RECORD: cfg.record_pcap = optarg; break;
		case O_NORECORD: no_record = true; break;
		case O_RECMAX: cfg.broker.record_max = (size_t)parse_count("--record-max", optarg); break;
		case 'v': verbose = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fprintf(stderr, "Try 'fakebroker --help'.\n"); return 2;
		}
	}
	if (optind < argc)
		die_usage("unexpected argument %s", argv[optind]);
	if (cfg.broker.anonymous && !users)
		die_usage("--anonymous needs --users");
	cfg.broker.record = !no_record;
	if (verbose) {
		cfg.log = log_line;
	}
	/* Many connections need many descriptors: take what the hard limit allows. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by the serving thread */
	int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	char err[512];
	struct mqtt_fakebroker *fb;
	int rc = mqtt_fakebroker_new(&fb, &cfg, err, sizeof err);
	if (rc) {
		fprintf(stderr, "fakebroker: %s\n", err);
		return rc == EINVAL ? 2 : 1;
	}
	if (users)
		load_users(fb, users);
	for (int i = 0; i < nrules; i++) {
		struct mqtt_broker *b = mqtt_fakebroker_lock(fb);
		int id = mqtt_broker_rule(b, rules[i], err, sizeof err);
		mqtt_fakebroker_unlock(fb);
		if (id < 0) {
			fprintf(stderr, "fakebroker: --rule '%s': %s\n", rules[i], err);
			mqtt_fakebroker_free(fb);
			return 2;
		}
	}
	if (nlisten == 0)
		listens[nlisten++] = "tcp://127.0.0.1:0";
	for (int i = 0; i < nlisten; i++) {
		char where[300];
		rc = mqtt_fakebroker_listen(fb, listens[i], where, sizeof where, err, sizeof err);
		if (rc) {
			fprintf(stderr, "fakebroker: --listen %s: %s\n", listens[i], err);
			mqtt_fakebroker_free(fb);
			return rc == EINVAL ? 2 : 1;
		}
		printf("listening %s\n", where);
	}
	fflush(stdout);
	int ctl_listen = -1;
	struct control_client clients[MAX_CONTROL_CLIENTS];
	int nclients = 0;
	if (control && strcmp(control, "stdio") == 0)
		clients[nclients++] = (struct control_client){.in = 0, .out = 1};
	else if (control)
		ctl_listen = control_listen(control + 5);
	if ((rc = mqtt_fakebroker_start(fb)) != 0) {
		fprintf(stderr, "fakebroker: cannot start: %s\n", strerror(rc));
		return 1;
	}
	bool shutdown = false;
	while (!shutdown) {
		struct pollfd pfd[2 + MAX_CONTROL_CLIENTS];
		int n = 0;
		pfd[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = ctl_listen, .events = POLLIN};
		for (int i = 0; i < nclients; i++)
			pfd[n++] = (struct pollfd){.fd = clients[i].in, .events = POLLIN};
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si && verbose)
				log_line(NULL, si.ssi_signo == SIGINT ? "SIGINT: stopping" : "SIGTERM: stopping");
			break;
		}
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(ctl_listen, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0 && nclients < MAX_CONTROL_CLIENTS)
				clients[nclients++] = (struct control_client){.in = fd, .out = fd};
			else if (fd >= 0)
				close(fd);
		}
		for (int i = nclients - 1; i >= 0 && !shutdown; i--) {
			if (!pfd[2 + i].revents)
				continue;
			if (control_read(fb, &clients[i], &shutdown))
				continue;
			bool was_stdio = clients[i].in == 0;
			if (!was_stdio)
				close(clients[i].in);
			free(clients[i].buf);
			clients[i] = clients[--nclients];
			if (was_stdio) {
				if (verbose)
					log_line(NULL, "control input ended: stopping");
				shutdown = true;
			}
		}
	}
	mqtt_fakebroker_free(fb);
	for (int i = 0; i < nclients; i++) {
		if (clients[i].in != 0)
			close(clients[i].in);
		free(clients[i].buf);
	}
	if (ctl_listen >= 0) {
		close(ctl_listen);
		unlink(control + 5);
	}
	return 0;
}
