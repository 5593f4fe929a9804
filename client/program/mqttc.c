/*
 * mqttc - MQTT broker access from the command line, the Go seed's mqttc
 * in C (usage_text; docs/man/mqttc.1 says the same).
 *
 * One connection attempt, no reconnect: the read routine's first error
 * ends the run. Subscriptions first (so a message of one's own shows),
 * then the publish of standard input, then either DISCONNECT (nothing to
 * listen to) or messages printed until a signal: SIGINT closes without
 * DISCONNECT (exit 130), SIGTERM disconnects first (exit 143).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mqttc_args.h"
#include "mqttsim/client.h"

enum { EXIT_OK = 0, EXIT_OPERATIONAL = 1, EXIT_USAGE = 2, EXIT_REFUSED_BASE = 4,
       EXIT_SIGINT = 130, EXIT_SIGTERM = 143 };

static const char mqttc_usage_text[] =
"Usage: mqttc [options] address\n"
"Connects to the MQTT broker at address, with an option to publish a message\n"
"and/or subscribe with topic filters. When the address does not specify a\n"
"port, then the defaults are applied, which is 1883 for plain connections and\n"
"8883 for TLS. An address is host:port, [IPv6]:port, :port (this machine), a\n"
"host alone, or a path with -net unix.\n"
"\n"
"Options:\n"
"  -ca file           Amend the trusted certificate authorities with a PEM file.\n"
"  -cert file         Use a client certificate from a PEM file (with a\n"
"                     corresponding -key option).\n"
"  -client identifier Use a specific client identifier. (default \"generated\")\n"
"  -key file          Use a private key (matching the client certificate) from a\n"
"                     PEM file.\n"
"  -net name          Select the network by name. Valid alternatives include\n"
"                     tcp4, tcp6 and unix. (default \"tcp\")\n"
"  -pass file         The file content is used as a password.\n"
"  -prefix string     Print a string before each inbound message.\n"
"  -publish topic     Send a message to a topic. The payload is read from\n"
"                     standard input.\n"
"  -qos level         Publish at QoS 0, 1 or 2 and wait for the acknowledgement;\n"
"                     an extension, the seed publishes at most once. (default 0)\n"
"  -quiet             Suppress all output to standard error. Error reporting is\n"
"                     deduced to the exit code only.\n"
"  -quote             Print inbound topics and messages as quoted strings.\n"
"  -server name       Use a specific server name with TLS.\n"
"  -subscribe filter  Listen with a topic filter. Inbound messages are printed to\n"
"                     standard output until interrupted by a signal(3). Multiple\n"
"                     -subscribe options may be applied together.\n"
"  -suffix string     Print a string after each inbound message. (default \"\\n\")\n"
"  -timeout duration  Network operation expiry. (default 4s)\n"
"  -tls               Secure the connection with TLS.\n"
"  -topic             Print the respective topic of each inbound message.\n"
"  -user name         The user name may be used by the broker for\n"
"                     authentication and/or authorization purposes.\n"
"  -verbose           Produces more output to standard error for debug purposes.\n"
"  -h                 Print this text and exit.\n"
"\n"
"An inbound message prints as the prefix, the topic and a tab (with -topic),\n"
"the message, and the suffix. Subscriptions accept up to QoS 2. There is one\n"
"connection attempt, without reconnects.\n"
"\n"
"Exit status:\n"
"  0    no error\n"
"  1    MQTT operational error\n"
"  2    illegal command invocation\n"
"  5    connection refused: unacceptable protocol version\n"
"  6    connection refused: identifier rejected\n"
"  7    connection refused: server unavailable\n"
"  8    connection refused: bad username or password\n"
"  9    connection refused: not authorized\n"
"  130  close on SIGINT\n"
"  143  disconnect on SIGTERM\n"
"\n"
"Examples:\n"
"  echo \"hello\" | mqttc -publish chat/misc localhost\n"
"  mqttc -subscribe \"news/#\" -prefix \"> \" :1883\n"
"  mqttc -tls q1.example.com:8883 || echo \"exit $?\"\n";

static struct mqttc_args args;
static char tls_error[300]; /* the TLS dialer's reason for a failed handshake */
static char dialed_host[NI_MAXHOST]; /* the host of the address, for messages */

/* "mqttc: ..." on standard error, unless -quiet (or, for debug lines, without -verbose). */
__attribute__((format(printf, 2, 0)))
static void say(bool debug, const char *fmt, va_list ap)
{
	if (args.quiet || (debug && !args.verbose))
		return;
	fputs("mqttc: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2)))
static void complain(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(false, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 1, 2)))
static void verbose(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(true, fmt, ap);
	va_end(ap);
}

/* What the read routine saw: the end of the run when it fails. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mqtt_error read_error;
static atomic_bool read_failed;

static void print_slice(struct mqtt_slice s)
{
	if (!args.quote) {
		fwrite(s.data, 1, s.len, stdout);
		return;
	}
	size_t cap = s.len * 6 + 3;
	char *q = malloc(cap);
	if (!q)
		return;
	mqttc_quote(s.data, s.len, q, cap);
	fputs(q, stdout);
	free(q);
}

/* prefix, [topic TAB], message, suffix; each quoted with -quote. */
static void print_message(const struct mqtt_message *m)
{
	fputs(args.prefix, stdout);
	if (args.topic) {
		print_slice(m->topic);
		fputc('\t', stdout);
	}
	print_slice(m->payload);
	fputs(args.suffix, stdout);
	fflush(stdout);
}

static void *read_routine(void *arg)
{
	struct mqtt_client *c = arg;
	for (;;) {
		struct mqtt_message msg;
		struct mqtt_error e = mqtt_client_read(c, &msg);
		if (e.cls == MQTT_SUCCESS) {
			print_message(&msg);
			continue;
		}
		if (e.cls == MQTT_BIG_MESSAGE && msg.topic.data) {
			uint8_t *payload = NULL;
			e = mqtt_client_read_all(c, &msg, &payload);
			if (e.cls == MQTT_SUCCESS)
				print_message(&msg);
			free(payload);
			if (e.cls == MQTT_SUCCESS)
				continue;
		}
		/* One connection attempt: the first loss ends it (the seed's mqttc). */
		pthread_mutex_lock(&state_lock);
		if (!atomic_load(&read_failed))
			read_error = e;
		atomic_store(&read_failed, true);
		pthread_mutex_unlock(&state_lock);
		mqtt_client_close(c);
		return NULL;
	}
}

static int exit_for(struct mqtt_error e)
{
	char text[300];
	if (MQTT_ERROR_UNRESOLVED(e)) { /* one line naming the host */
		complain("%s: %s", dialed_host, gai_strerror(MQTT_IO_RESOLVE - e.code));
		return EXIT_OPERATIONAL;
	}
	if (e.cls == MQTT_REFUSED && e.code >= 1 && e.code <= 5) {
		complain("%s", mqtt_error_text(e, text, sizeof text));
		return EXIT_REFUSED_BASE + e.code;
	}
	if (e.cls == MQTT_CLOSED)
		return EXIT_OPERATIONAL;
	if (*tls_error)
		complain("%s (%s)", mqtt_error_text(e, text, sizeof text), tls_error);
	else
		complain("%s", mqtt_error_text(e, text, sizeof text));
	return EXIT_OPERATIONAL;
}

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* A signal taken (SIGINT, SIGTERM), or 0 after ms milliseconds. */
static int wait_signal(const sigset_t *set, unsigned ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
	int sig = sigtimedwait(set, NULL, &t);
	return sig > 0 ? sig : 0;
}

static int finish_on_signal(struct mqtt_client *c, int sig)
{
	if (sig == SIGTERM) {
		verbose("SIGTERM: disconnecting");
		mqtt_client_disconnect(c, NULL);
		return EXIT_SIGTERM;
	}
	verbose("SIGINT: closing");
	mqtt_client_close(c);
	return EXIT_SIGINT;
}

static int make_dialer(struct mqtt_dialer *d)
{
	char host[NI_MAXHOST], port[32];
	if (!strcmp(args.net, "unix")) {
		int rc = mqtt_dialer_unix(d, args.address);
		if (rc)
			complain("%s: %s", args.address, strerror(-rc));
		return rc;
	}
	int hp = mqttc_host_port(args.address, args.tls ? "8883" : "1883", host, sizeof host, port,
	                         sizeof port);
	if (hp == -2) {
		complain("bad port in address %s: want a number from 1 to 65535", args.address);
		return -EINVAL;
	}
	if (hp != 0) {
		complain("malformed address %s: want host:port, [IPv6]:port, :port or host", args.address);
		return -EINVAL;
	}
	snprintf(dialed_host, sizeof dialed_host, "%s", host);
	if (strcmp(args.net, "tcp")) {
		/* tcp4 or tcp6: resolve in that family, dial the address found. */
		struct addrinfo hints = {.ai_family = args.net[3] == '4' ? AF_INET : AF_INET6,
		                         .ai_socktype = SOCK_STREAM}, *res = NULL;
		int g = getaddrinfo(host, port, &hints, &res);
		if (g) {
			complain("%s: %s", host, gai_strerror(g));
			return -EHOSTUNREACH;
		}
		char num[NI_MAXHOST];
		g = getnameinfo(res->ai_addr, res->ai_addrlen, num, sizeof num, NULL, 0, NI_NUMERICHOST);
		freeaddrinfo(res);
		if (g) {
			complain("%s: %s", host, gai_strerror(g));
			return -EHOSTUNREACH;
		}
		if (!args.server && args.tls)
			args.server = strdup(host); /* the name the certificate must carry */
		snprintf(host, sizeof host, "%s", num);
	}
	if (!args.tls)
		return mqtt_dialer_tcp(d, host, port);
	struct mqtt_tls_options tls = {.ca_file = args.ca, .cert_file = args.cert,
	                               .key_file = args.key, .server_name = args.server};
	/* -ca amends the trust store: the system's stays in. */
	if (args.ca)
		tls.ca_dir = X509_get_default_cert_dir();
	/* The dialer keeps the buffer: a failed handshake says why in it later. */
	int rc = mqtt_dialer_tls(d, host, port, &tls, tls_error, sizeof tls_error);
	if (rc)
		complain("TLS: %s", *tls_error ? tls_error : strerror(-rc));
	return rc;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&buf, &cap, '\0', f);
	int e = ferror(f);
	fclose(f);
	if (n < 0 && !e) {
		n = 0;
		if (!buf)
			buf = calloc(1, 1);
	}
	if (n < 0 || e || !buf) {
		free(buf);
		return NULL;
	}
	*len = (size_t)n;
	return buf;
}

/* Standard input, all of it (the payload may hold any byte). */
static uint8_t *read_stdin(size_t *len)
{
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);
	while (buf) {
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, stdin);
		n += got;
		if (got == 0)
			break;
	}
	if (buf && ferror(stdin)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	char why[300];
	if (mqttc_parse_args(&args, argc, argv, why, sizeof why) != 0) {
		fprintf(stderr, "mqttc: %s\nUsage: mqttc [options] address\nTry 'mqttc -h' for more.\n", why);
		return EXIT_USAGE;
	}
	if (args.help) {
		fputs(mqttc_usage_text, stdout);
		return EXIT_OK;
	}
	struct mqtt_session_config sc = {0};
	char generated[300];
	if (!strcmp(args.client, "generated")) {
		char host[256] = "localhost";
		gethostname(host, sizeof host - 1);
		snprintf(generated, sizeof generated, "mqttc-%s-%ld", host, (long)getpid());
		args.client = generated;
	}
	sc.client_id = mqtt_slice_str(args.client);
	sc.clean_session = true;
	sc.keep_alive = 60;
	sc.at_least_once_max = sc.exactly_once_max = 16;
	sc.pause_timeout_ms = args.timeout_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)args.timeout_ms;
	char *password = NULL;
	size_t password_len = 0;
	if (args.user) {
		sc.has_username = true;
		sc.username = mqtt_slice_str(args.user);
	}
	if (args.pass) {
		if (!(password = read_file(args.pass, &password_len))) {
			complain("-pass %s: %s", args.pass, strerror(errno));
			return EXIT_USAGE;
		}
		sc.has_password = true;
		sc.password = (struct mqtt_slice){(const uint8_t *)password, password_len};
	}
	/* Signals are taken by the main thread alone, at its own pace. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	struct mqtt_client_config cfg = {.session = sc};
	int drc = make_dialer(&cfg.dialer);
	if (drc)
		/* A malformed address or TLS files that do not load are the
		 * invocation's fault; a name that does not resolve is not. */
		return drc == -EHOSTUNREACH ? EXIT_OPERATIONAL : EXIT_USAGE;
	struct mqtt_client *c = NULL;
	struct mqtt_error e = mqtt_client_new(&c, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL);
	free(password);
	if (e.cls) {
		complain("%s", mqtt_error_text(e, why, sizeof why));
		return EXIT_USAGE; /* the session's settings: an identifier or name refused */
	}
	verbose("connecting to %s as %s", args.address, args.client);
	pthread_t reader;
	if (pthread_create(&reader, NULL, read_routine, c) != 0) {
		complain("cannot start the read routine");
		return EXIT_OPERATIONAL;
	}
	int status = EXIT_OK;
	uint64_t deadline = now_ms() + args.timeout_ms;
	/* The one connection attempt. */
	while (!mqtt_client_online(c)) {
		int sig = wait_signal(&sigs, 5);
		if (sig) {
			status = finish_on_signal(c, sig);
			goto out;
		}
		if (atomic_load(&read_failed)) {
			status = exit_for(read_error);
			goto out;
		}
		if (now_ms() > deadline) {
			complain("no connection within %llu ms", (unsigned long long)args.timeout_ms);
			status = EXIT_OPERATIONAL;
			goto out;
		}
	}
	verbose("connected");
	if (args.nsubscribe) {
		struct mqtt_topic filters[MQTTC_SUBSCRIBE_MAX];
		for (int i = 0; i < args.nsubscribe; i++)
			filters[i] = (struct mqtt_topic){mqtt_slice_str(args.subscribe[i]), 2};
		uint8_t codes[MQTTC_SUBSCRIBE_MAX];
		e = mqtt_client_subscribe_codes(c, NULL, filters, (size_t)args.nsubscribe, codes);
		if (e.cls == MQTT_SUBSCRIBE_FAILED) {
			/* Each filter the broker failed, as the seed's SubscribeError. */
			for (int i = 0; i < args.nsubscribe; i++)
				if (codes[i] == MQTT_SUBACK_FAILURE)
					complain("subscribe %s: refused by the broker", args.subscribe[i]);
			status = EXIT_OPERATIONAL;
			goto out;
		}
		if (e.cls) {
			status = e.cls == MQTT_DENY ? (complain("-subscribe: %s", mqtt_error_text(e, why, sizeof why)), EXIT_USAGE)
			                            : exit_for(e);
			goto out;
		}
		verbose("subscribed to %d filter%s", args.nsubscribe, args.nsubscribe == 1 ? "" : "s");
	}
	if (args.publish) {
		size_t len;
		uint8_t *payload = read_stdin(&len);
		if (!payload) {
			complain("standard input: %s", strerror(errno));
			status = EXIT_OPERATIONAL;
			goto out;
		}
		struct mqtt_exchange *x = NULL;
		e = mqtt_client_publish(c, NULL, (uint8_t)args.qos, false, mqtt_slice_str(args.publish),
		                        (struct mqtt_slice){payload, len}, args.qos ? &x : NULL);
		free(payload);
		if (e.cls) {
			status = e.cls == MQTT_DENY ? (complain("-publish: %s", mqtt_error_text(e, why, sizeof why)), EXIT_USAGE)
			                            : exit_for(e);
			goto out;
		}
		if (x) {
			/* QoS 1 and 2 (-qos): the acknowledgement, within the timeout. */
			uint64_t until = now_ms() + args.timeout_ms;
			while (mqtt_exchange_state(x) != MQTT_EXCHANGE_DONE) {
				int sig = wait_signal(&sigs, 5);
				if (sig || atomic_load(&read_failed) || now_ms() > until) {
					mqtt_exchange_release(x);
					if (sig)
						status = finish_on_signal(c, sig);
					else if (atomic_load(&read_failed))
						status = exit_for(read_error);
					else
						complain("no acknowledgement within %llu ms",
						         (unsigned long long)args.timeout_ms), status = EXIT_OPERATIONAL;
					goto out;
				}
			}
			mqtt_exchange_release(x);
		}
		verbose("published %zu bytes on %s", len, args.publish);
	}
	if (!args.nsubscribe) {
		e = mqtt_client_disconnect(c, NULL);
		status = e.cls ? exit_for(e) : EXIT_OK;
		goto out;
	}
	for (;;) {
		int sig = wait_signal(&sigs, 50);
		if (sig) {
			status = finish_on_signal(c, sig);
			break;
		}
		if (atomic_load(&read_failed)) {
			status = exit_for(read_error);
			break;
		}
	}
out:
	mqtt_client_close(c);
	pthread_join(reader, NULL);
	mqtt_client_free(c);
	fflush(stdout);
	return status;
}
