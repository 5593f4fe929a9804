/*
 * mqttbench - MQTT 3.1.1 publish throughput with the mqttsim client.
 *
 * usage: mqttbench HOST PORT QOS SIZE N [pub|e2e]
 *
 * The same command line, method and result line as the reference peer
 * programs for libmosquitto and Paho, so that all run side by side:
 *
 * pub (default): one client publishes N messages of SIZE bytes at QOS to
 *   a private topic (bench/mqttsim/PID), keeping at most 1,024
 *   outstanding (the in-flight windows are 1,024 too). A message is done
 *   when QoS 0: written to the socket; QoS 1: PUBACK received; QoS 2:
 *   PUBCOMP received. QoS 0 then ends with a SUBSCRIBE/SUBACK round trip:
 *   the broker reads a connection in order, so the SUBACK shows it has
 *   read every PUBLISH.
 * e2e: as pub, plus a second client subscribed to the topic at QOS before
 *   the clock starts. Done when it has received all N messages, each
 *   checked for length, QoS and sequence (the first four payload bytes);
 *   a missing, duplicated or reordered message fails the run.
 *
 * The clock runs from the first publish to done. One line on stdout:
 *   lib=mqttsim qos=Q size=S n=N seconds=T msgs_per_s=R mode=M cpu_s=C
 * where C is the user+system CPU of the whole process in that time.
 * Errors go to stderr, exit status 1; bad arguments exit 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/client.h"

#define WINDOW 1024
#define STALL_S 20.0

struct args {
	const char *host, *port;
	int qos, size;
	long n;
	int e2e;
};

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "mqttbench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static void die_err(const char *what, struct mqtt_error e)
{
	char text[256];
	die(what, mqtt_error_text(e, text, sizeof text));
}

static long number(const char *s, long lo, long hi, const char *name)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < lo || v > hi) {
		fprintf(stderr, "mqttbench: bad %s: %s\n", name, s);
		exit(2);
	}
	return v;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec * 1e-6;
}

/* A client with its read routine in a thread of its own. */
struct runner {
	struct mqtt_client *c;
	pthread_t thread;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int qos, size;
	long n, received, bad;
	bool failed;
	struct mqtt_error why;
};

static void *read_routine(void *arg)
{
	struct runner *r = arg;
	for (;;) {
		struct mqtt_message msg;
		struct mqtt_error e = mqtt_client_read(r->c, &msg);
		if (e.cls == MQTT_CLOSED)
			return NULL;
		pthread_mutex_lock(&r->m);
		if (e.cls == MQTT_SUCCESS) {
			const uint8_t *p = msg.payload.data;
			unsigned long seq = r->size >= 4 ? (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
			                                           (unsigned long)p[2] << 8 | p[3]
			                                 : (unsigned long)r->received;
			if ((int)msg.payload.len != r->size || msg.qos != r->qos || seq != (unsigned long)r->received)
				r->bad++;
			r->received++;
			if (r->received >= r->n)
				pthread_cond_broadcast(&r->cv);
		} else if (e.cls != MQTT_DOWN) {
			/* A benchmark run is over at the first connection failure,
			 * the first dial included: no reconnects. */
			r->failed = true;
			r->why = e;
			pthread_cond_broadcast(&r->cv);
			pthread_mutex_unlock(&r->m);
			mqtt_client_close(r->c);
			continue;
		}
		pthread_mutex_unlock(&r->m);
		if (e.cls != MQTT_SUCCESS)
			mqtt_client_backoff(r->c, NULL);
	}
}

static void start(struct runner *r, const struct args *a, const char *id)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->m, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->qos = a->qos;
	r->size = a->size;
	r->n = a->n;
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.session.client_id = mqtt_slice_str(id);
	cfg.session.clean_session = true;
	cfg.session.at_least_once_max = WINDOW;
	cfg.session.exactly_once_max = WINDOW;
	cfg.session.keep_alive = 60;
	cfg.session.pause_timeout_ms = 20000;
	cfg.session.read_buffer_size = (size_t)a->size + 1024;
	if (mqtt_dialer_tcp(&cfg.dialer, a->host, a->port) != 0)
		die("dialer", strerror(ENOMEM));
	struct mqtt_error e = mqtt_client_new(&r->c, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL);
	if (e.cls)
		die_err("client", e);
	if (pthread_create(&r->thread, NULL, read_routine, r) != 0)
		die("thread", strerror(errno));
	if (!mqtt_client_wait_online(r->c, NULL)) {
		pthread_join(r->thread, NULL);
		die_err("connect", r->why);
	}
}

static void stop(struct runner *r)
{
	mqtt_client_disconnect(r->c, NULL);
	pthread_join(r->thread, NULL);
	mqtt_client_free(r->c);
}

int main(int argc, char **argv)
{
	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: mqttbench HOST PORT QOS SIZE N [pub|e2e]\n");
		return 2;
	}
	struct args a;
	a.host = argv[1];
	number(argv[2], 1, 65535, "PORT");
	a.port = argv[2];
	a.qos = (int)number(argv[3], 0, 2, "QOS");
	a.size = (int)number(argv[4], 0, 268435000L, "SIZE");
	a.n = number(argv[5], 1, 1000000000L, "N");
	a.e2e = 0;
	if (argc == 7) {
		if (!strcmp(argv[6], "e2e"))
			a.e2e = 1;
		else if (strcmp(argv[6], "pub")) {
			fprintf(stderr, "mqttbench: bad mode (pub|e2e): %s\n", argv[6]);
			return 2;
		}
	}

	char topic[64], id[64];
	snprintf(topic, sizeof topic, "bench/mqttsim/%d", (int)getpid());
	uint8_t *payload = malloc(a.size ? (size_t)a.size : 1);
	if (!payload)
		die("malloc", NULL);
	memset(payload, 'x', a.size ? (size_t)a.size : 1);

	struct runner sub, pub;
	if (a.e2e) {
		snprintf(id, sizeof id, "bench-mqttsim-sub-%d", (int)getpid());
		start(&sub, &a, id);
		struct mqtt_topic f = {mqtt_slice_str(topic), (uint8_t)a.qos};
		struct mqtt_error e = mqtt_client_subscribe(sub.c, NULL, &f, 1);
		if (e.cls)
			die_err("subscribe", e);
	}
	snprintf(id, sizeof id, "bench-mqttsim-pub-%d", (int)getpid());
	start(&pub, &a, id);

	struct mqtt_exchange **ring = calloc(WINDOW, sizeof *ring);
	if (!ring)
		die("malloc", NULL);
	double t0 = now_s(), c0 = cpu_s();
	long done = 0;
	struct mqtt_slice t = mqtt_slice_str(topic);
	for (long seq = 0; seq < a.n; seq++) {
		if (a.size >= 4) {
			payload[0] = (uint8_t)(seq >> 24);
			payload[1] = (uint8_t)(seq >> 16);
			payload[2] = (uint8_t)(seq >> 8);
			payload[3] = (uint8_t)seq;
		}
		struct mqtt_slice p = {payload, (size_t)a.size};
		if (a.qos == 0) {
			struct mqtt_error e = mqtt_client_publish(pub.c, NULL, 0, false, t, p, NULL);
			if (e.cls)
				die_err("publish", e);
			done++;
			continue;
		}
		/* Keep at most WINDOW outstanding: wait for the oldest, which
		 * the broker acknowledges first [MQTT-4.6.0-2, -3]. */
		struct mqtt_exchange **slot = &ring[seq % WINDOW];
		if (*slot) {
			double start_wait = now_s();
			while (mqtt_exchange_wait(*slot, MQTT_EXCHANGE_DONE, NULL) != MQTT_EXCHANGE_DONE)
				if (now_s() - start_wait > STALL_S)
					die("stalled", "no acknowledgements");
			mqtt_exchange_release(*slot);
			*slot = NULL;
			done++;
		}
		struct mqtt_error e = mqtt_client_publish(pub.c, NULL, (uint8_t)a.qos, false, t, p, slot);
		if (e.cls)
			die_err("publish", e);
	}
	for (long k = 0; k < WINDOW; k++) {
		if (!ring[k])
			continue;
		if (mqtt_exchange_wait(ring[k], MQTT_EXCHANGE_DONE, NULL) != MQTT_EXCHANGE_DONE)
			die("publish", "exchange closed");
		mqtt_exchange_release(ring[k]);
		done++;
	}
	if (done != a.n)
		die("count mismatch", NULL);
	if (a.e2e) {
		double progress = now_s();
		long last = -1;
		pthread_mutex_lock(&sub.m);
		while (sub.received < a.n && !sub.failed) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&sub.cv, &sub.m, &ts);
			if (sub.received != last) {
				last = sub.received;
				progress = now_s();
			} else if (now_s() - progress > STALL_S) {
				fprintf(stderr, "mqttbench: subscriber received %ld of %ld\n", sub.received, a.n);
				die("timeout waiting for", "messages");
			}
		}
		pthread_mutex_unlock(&sub.m);
	} else if (a.qos == 0) {
		char sync[80];
		snprintf(sync, sizeof sync, "%s/sync", topic);
		struct mqtt_topic f = {mqtt_slice_str(sync), 0};
		struct mqtt_error e = mqtt_client_subscribe(pub.c, NULL, &f, 1);
		if (e.cls)
			die_err("sync subscribe", e);
	}
	double t1 = now_s(), c1 = cpu_s();
	if (pub.failed)
		die_err("publisher connection", pub.why);
	if (a.e2e) {
		pthread_mutex_lock(&sub.m);
		long got = sub.received, bad = sub.bad;
		bool failed = sub.failed;
		pthread_mutex_unlock(&sub.m);
		if (failed)
			die_err("subscriber connection", sub.why);
		if (got != a.n || bad) {
			fprintf(stderr, "mqttbench: received %ld of %ld, %ld bad\n", got, a.n, bad);
			die("subscriber check failed", NULL);
		}
	}
	printf("lib=mqttsim qos=%d size=%d n=%ld seconds=%.4f msgs_per_s=%.0f mode=%s cpu_s=%.3f\n", a.qos,
	       a.size, a.n, t1 - t0, t1 > t0 ? a.n / (t1 - t0) : 0.0, a.e2e ? "e2e" : "pub", c1 - c0);
	fflush(stdout);
	stop(&pub);
	if (a.e2e)
		stop(&sub);
	free(ring);
	free(payload);
	return 0;
}
