/*
 * probe - a scriptable client for the pytest interop suites (mqttc, the
 * user-facing command, comes with its own issue).
 *
 * usage: probe [options] HOST PORT
 *   --client ID          client identifier (default "probe")
 *   --clean 0|1          clean session (default 1)
 *   --user NAME --pass P credentials
 *   --will TOPIC:MSG:QOS:RETAIN
 *   --tls --ca FILE --cert FILE --key FILE --server-name NAME
 *   --sub FILTER:QOS     subscribe (repeatable; before publishing)
 *   --pub TOPIC:MSG:QOS[:r]  publish, and for QoS 1/2 wait for the ack
 *   --read N             then read N messages (printed as
 *                        "msg TOPIC PAYLOAD qos=Q retain=R")
 *   --timeout MS         for the whole run (default 10000)
 *   --abort              end without DISCONNECT (the will goes out)
 *   --seq TOPIC:QOS:N    publish N messages with payloads "0".."N-1" (all
 *                        queued, the window permitting), wait for every
 *                        acknowledgement across reconnects, then print
 *                        "sequence N lost=L reconnects=R"
 *   --early TOPIC:QOS:N  publish N messages (up to the window of 64) before
 *                        the first connection: they go out together once
 *                        it is up; then print
 *                        "early N lost=L reconnects=R"
 *   --fault SPEC         through the fault-injecting transport, one plan
 *                        line each (repeatable); --seed N for its PRNG
 * Prints "online", "subscribed" and "published" as it goes. On failure
 * prints "error CLASS CODE: text" and exits 10 + the error class.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/client.h"
#include "mqttsim/faults.h"

static struct mqtt_client *client;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long received;
static struct mqtt_error first_error;
static bool ever_online;
static long connection_losses;

static void fail(struct mqtt_error e)
{
	char text[512];
	printf("error %d %d: %s\n", e.cls, e.code, mqtt_error_text(e, text, sizeof text));
	fflush(stdout);
	_exit(10 + e.cls);
}

static void *reader(void *arg)
{
	(void)arg;
	for (;;) {
		struct mqtt_message m;
		struct mqtt_error e = mqtt_client_read(client, &m);
		if (e.cls == MQTT_CLOSED)
			return NULL;
		pthread_mutex_lock(&lock);
		if (e.cls == MQTT_SUCCESS) {
			printf("msg %.*s %.*s qos=%d retain=%d\n", (int)m.topic.len, (const char *)m.topic.data,
			       (int)m.payload.len, (const char *)m.payload.data, m.qos, m.retain);
			fflush(stdout);
			received++;
		} else if (e.cls != MQTT_DOWN && ever_online) {
			connection_losses++;
		} else if (e.cls != MQTT_DOWN && !first_error.cls) {
			first_error = e;
		}
		pthread_cond_broadcast(&cond);
		bool stop = !ever_online && first_error.cls;
		pthread_mutex_unlock(&lock);
		if (stop)
			return NULL; /* the first connection failed: report it */
		if (e.cls)
			mqtt_client_backoff(client, NULL);
	}
}

static char *field(char **s)
{
	char *f = *s, *colon = strchr(f, ':');
	if (colon) {
		*colon = 0;
		*s = colon + 1;
	} else {
		*s = f + strlen(f);
	}
	return f;
}

/* Waits on cond for at most 20 ms; lock held. */
static void wait_a_little(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 20000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&cond, &lock, &ts);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	struct mqtt_session_config *sc = &cfg.session;
	sc->client_id = mqtt_slice_str("probe");
	sc->clean_session = true;
	sc->keep_alive = 30;
	sc->at_least_once_max = sc->exactly_once_max = 64;
	sc->pause_timeout_ms = 5000;
	sc->reconnect_wait_min_ms = 100;
	struct mqtt_tls_options tls;
	memset(&tls, 0, sizeof tls);
	bool use_tls = false, abort_end = false;
	char *subs[16], *pubs[16], *seq = NULL, *early_seq = NULL;
	int nsubs = 0, npubs = 0;
	struct mqtt_fault_plan plan = {0};
	uint64_t seed = 1;
	long want = 0;
	double timeout = 10000;
	int i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(o, "--tls")) {
			use_tls = true;
			continue;
		}
		if (!strcmp(o, "--abort")) {
			abort_end = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "probe: %s needs a value\n", o);
			return 2;
		}
		i++;
		if (!strcmp(o, "--client"))
			sc->client_id = mqtt_slice_str(v);
		else if (!strcmp(o, "--clean"))
			sc->clean_session = atoi(v) != 0;
		else if (!strcmp(o, "--user"))
			sc->has_username = true, sc->username = mqtt_slice_str(v);
		else if (!strcmp(o, "--pass"))
			sc->has_password = true, sc->password = mqtt_slice_str(v);
		else if (!strcmp(o, "--will")) {
			char *s = argv[i]; /* parsed in place: argv is writable */
			sc->will = true;
			sc->will_topic = mqtt_slice_str(field(&s));
			sc->will_message = mqtt_slice_str(field(&s));
			sc->will_qos = (uint8_t)atoi(field(&s));
			sc->will_retain = atoi(field(&s)) != 0;
		} else if (!strcmp(o, "--ca"))
			tls.ca_file = v;
		else if (!strcmp(o, "--cert"))
			tls.cert_file = v;
		else if (!strcmp(o, "--key"))
			tls.key_file = v;
		else if (!strcmp(o, "--server-name"))
			tls.server_name = v;
		else if (!strcmp(o, "--sub") && nsubs < 16)
			subs[nsubs++] = argv[i];
		else if (!strcmp(o, "--pub") && npubs < 16)
			pubs[npubs++] = argv[i];
		else if (!strcmp(o, "--seq"))
			seq = argv[i];
		else if (!strcmp(o, "--early"))
			early_seq = argv[i];
		else if (!strcmp(o, "--seed"))
			seed = strtoull(v, NULL, 10);
		else if (!strcmp(o, "--fault")) {
			struct mqtt_fault f;
			char err[256];
			if (mqtt_fault_parse(&f, v, strlen(v), err, sizeof err) != 0 ||
			    mqtt_fault_plan_add(&plan, &f, err, sizeof err) != 0) {
				fprintf(stderr, "probe: --fault '%s': %s\n", v, err);
				return 2;
			}
		} else if (!strcmp(o, "--read"))
			want = atol(v);
		else if (!strcmp(o, "--timeout"))
			timeout = atof(v);
		else {
			fprintf(stderr, "probe: unknown option %s\n", o);
			return 2;
		}
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: probe [options] HOST PORT\n");
		return 2;
	}
	static char tls_error[512];
	int rc = use_tls ? mqtt_dialer_tls(&cfg.dialer, argv[i], argv[i + 1], &tls, tls_error, sizeof tls_error)
	                 : mqtt_dialer_tcp(&cfg.dialer, argv[i], argv[i + 1]);
	if (rc) {
		printf("error dialer %d: %s\n", rc, tls_error);
		return 2;
	}
	if (plan.n) {
		struct mqtt_dialer inner = cfg.dialer;
		if (mqtt_dialer_faulty(&cfg.dialer, inner, &plan, seed, NULL, NULL) != 0)
			return 2;
		mqtt_fault_plan_free(&plan);
		sc->reconnect_wait_min_ms = 10;
		sc->reconnect_wait_max_ms = 100;
	}
	struct mqtt_error e = mqtt_client_new(&client, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL);
	if (e.cls)
		fail(e);
	/* Queued in the session while offline, sent as one flush of many
	 * pieces after the CONNACK. */
	struct mqtt_exchange *early_x[64] = {NULL};
	long early_n = 0;
	if (early_seq) {
		char *s = early_seq;
		struct mqtt_slice topic = mqtt_slice_str(field(&s));
		uint8_t qos = (uint8_t)atoi(field(&s));
		early_n = atol(field(&s));
		if (qos < 1 || early_n < 1 || early_n > 64) {
			fprintf(stderr, "probe: --early wants QoS 1 or 2 and 1..64 messages\n");
			return 2;
		}
		for (long k = 0; k < early_n; k++) {
			char payload[24];
			snprintf(payload, sizeof payload, "%ld", k);
			e = mqtt_client_publish(client, NULL, qos, false, topic, mqtt_slice_str(payload), &early_x[k]);
			if (e.cls)
				fail(e);
		}
	}
	pthread_t t;
	pthread_create(&t, NULL, reader, NULL);
	double deadline = now_ms() + timeout;

	pthread_mutex_lock(&lock);
	while (!mqtt_client_online(client) && !first_error.cls && now_ms() < deadline) {
		wait_a_little();
	}
	struct mqtt_error early = first_error;
	ever_online = mqtt_client_online(client);
	pthread_mutex_unlock(&lock);
	if (early.cls) {
		if (*tls_error)
			fprintf(stderr, "probe: %s\n", tls_error);
		fail(early);
	}
	if (!ever_online)
		fail((struct mqtt_error){MQTT_TIMEOUT, 0});
	printf("online\n");
	fflush(stdout);

	for (int k = 0; k < nsubs; k++) {
		char *s = subs[k];
		struct mqtt_topic f = {mqtt_slice_str(field(&s)), 0};
		f.qos = (uint8_t)atoi(field(&s));
		e = mqtt_client_subscribe(client, NULL, &f, 1);
		if (e.cls)
			fail(e);
	}
	if (nsubs) {
		printf("subscribed\n");
		fflush(stdout);
	}
	for (int k = 0; k < npubs; k++) {
		char *s = pubs[k];
		struct mqtt_slice topic = mqtt_slice_str(field(&s));
		struct mqtt_slice msg = mqtt_slice_str(field(&s));
		uint8_t qos = (uint8_t)atoi(field(&s));
		bool retain = *s == 'r';
		struct mqtt_exchange *x = NULL;
		e = mqtt_client_publish(client, NULL, qos, retain, topic, msg, qos ? &x : NULL);
		if (e.cls)
			fail(e);
		if (x) {
			if (mqtt_exchange_wait(x, MQTT_EXCHANGE_DONE, NULL) != MQTT_EXCHANGE_DONE)
				fail((struct mqtt_error){MQTT_CLOSED, 0});
			mqtt_exchange_release(x);
		}
	}
	if (npubs) {
		printf("published\n");
		fflush(stdout);
	}
	if (early_seq) {
		long lost = 0;
		for (long k = 0; k < early_n; k++) {
			while (mqtt_exchange_state(early_x[k]) != MQTT_EXCHANGE_DONE && now_ms() < deadline)
				nanosleep(&(struct timespec){0, 1000000}, NULL);
			lost += mqtt_exchange_state(early_x[k]) != MQTT_EXCHANGE_DONE;
			mqtt_exchange_release(early_x[k]);
		}
		pthread_mutex_lock(&lock);
		long losses = connection_losses;
		pthread_mutex_unlock(&lock);
		printf("early %ld lost=%ld reconnects=%ld\n", early_n, lost, losses);
		fflush(stdout);
	}
	if (seq) {
		char *s = seq;
		struct mqtt_slice topic = mqtt_slice_str(field(&s));
		uint8_t qos = (uint8_t)atoi(field(&s));
		long n = atol(field(&s));
		struct mqtt_exchange **xs = calloc((size_t)n + 1, sizeof *xs);
		for (long k = 0; k < n; k++) {
			char payload[24];
			snprintf(payload, sizeof payload, "%ld", k);
			for (;;) {
				e = mqtt_client_publish(client, NULL, qos, false, topic, mqtt_slice_str(payload),
				                        qos ? &xs[k] : NULL);
				if (e.cls != MQTT_MAX && !(qos == 0 && e.cls == MQTT_DOWN))
					break;
				if (now_ms() > deadline)
					fail((struct mqtt_error){MQTT_TIMEOUT, (int)k});
				nanosleep(&(struct timespec){0, 2000000}, NULL);
			}
			if (e.cls && qos)
				fail(e);
		}
		long lost = 0;
		for (long k = 0; k < n; k++) {
			if (!xs[k])
				continue;
			while (mqtt_exchange_state(xs[k]) != MQTT_EXCHANGE_DONE && now_ms() < deadline)
				nanosleep(&(struct timespec){0, 1000000}, NULL);
			lost += mqtt_exchange_state(xs[k]) != MQTT_EXCHANGE_DONE;
			mqtt_exchange_release(xs[k]);
		}
		free(xs);
		pthread_mutex_lock(&lock);
		long losses = connection_losses;
		pthread_mutex_unlock(&lock);
		printf("sequence %ld lost=%ld reconnects=%ld\n", n, lost, losses);
		fflush(stdout);
	}
	pthread_mutex_lock(&lock);
	while (received < want && now_ms() < deadline) {
		wait_a_little();
	}
	long got = received;
	pthread_mutex_unlock(&lock);
	if (got < want)
		fail((struct mqtt_error){MQTT_TIMEOUT, (int)got});
	if (abort_end)
		_exit(0); /* the kernel closes the socket: no DISCONNECT */
	mqtt_client_disconnect(client, NULL);
	pthread_join(t, NULL);
	mqtt_client_free(client);
	return 0;
}
