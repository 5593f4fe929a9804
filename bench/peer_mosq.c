/*
 * peer_mosq - the libmosquitto peer of mqttbench: the same command line,
 * method and result line, so both run side by side in `make bench`.
 *
 * usage: peer_mosq HOST PORT QOS SIZE N [pub|e2e]
 *
 * The publisher runs libmosquitto in its fastest mode, from this thread
 * with mosquitto_loop() and an in-flight limit of 1,024; the application
 * keeps at most 1,024 messages outstanding. A message is done when
 * on_publish reports it (QoS 0 written, QoS 1 PUBACK, QoS 2 PUBCOMP).
 * QoS 0 pub ends with a SUBSCRIBE/SUBACK round trip. e2e adds a
 * subscriber (its own network thread, mosquitto_loop_start()) that checks
 * each message's length, QoS and sequence number.
 */
#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 1024
#define STALL_S 20.0

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "peer_mosq: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static void must(int rc, const char *what)
{
	if (rc != MOSQ_ERR_SUCCESS)
		die(what, mosquitto_strerror(rc));
}

static long number(const char *s, long lo, long hi, const char *name)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < lo || v > hi) {
		fprintf(stderr, "peer_mosq: bad %s: %s\n", name, s);
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

/* The publisher, driven from the main thread. */
struct publisher {
	int connack; /* 0 waiting, 1 accepted, -1 refused */
	long done;
	int suback;
};

static void pub_connect(struct mosquitto *m, void *obj, int rc)
{
	(void)m;
	((struct publisher *)obj)->connack = rc ? -1 : 1;
}

static void pub_published(struct mosquitto *m, void *obj, int mid)
{
	(void)m;
	(void)mid;
	((struct publisher *)obj)->done++;
}

static void pub_subscribed(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
	(void)m;
	(void)mid;
	((struct publisher *)obj)->suback = n == 1 && granted[0] <= 2 ? 1 : -1;
}

static void loop_until(struct mosquitto *m, const int *flag, const char *what)
{
	double start = now_s();
	while (!*flag) {
		must(mosquitto_loop(m, 1000, 1), what);
		if (now_s() - start > STALL_S)
			die("timeout waiting for", what);
	}
	if (*flag < 0)
		die("refused", what);
}

/* The subscriber, on libmosquitto's own thread. */
struct subscriber {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int connack, suback;
	int qos, size;
	long n, received, bad;
};

static void sub_connect(struct mosquitto *m, void *obj, int rc)
{
	(void)m;
	struct subscriber *s = obj;
	pthread_mutex_lock(&s->m);
	s->connack = rc ? -1 : 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

static void sub_subscribed(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
	(void)m;
	(void)mid;
	struct subscriber *s = obj;
	pthread_mutex_lock(&s->m);
	s->suback = n == 1 && granted[0] == s->qos ? 1 : -1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

static void sub_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)m;
	struct subscriber *s = obj;
	const unsigned char *p = msg->payload;
	pthread_mutex_lock(&s->m);
	unsigned long seq = s->size >= 4 ? (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
	                                           (unsigned long)p[2] << 8 | p[3]
	                                 : (unsigned long)s->received;
	if (msg->payloadlen != s->size || msg->qos != s->qos || seq != (unsigned long)s->received)
		s->bad++;
	if (++s->received >= s->n)
		pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

/* Waits until *flag is set, or (flag NULL) all messages arrived. */
static void sub_wait(struct subscriber *s, const int *flag, const char *what)
{
	double progress = now_s();
	long last = -1;
	pthread_mutex_lock(&s->m);
	while (flag ? !*flag : s->received < s->n) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec++;
		pthread_cond_timedwait(&s->cv, &s->m, &ts);
		if (s->received != last) {
			last = s->received;
			progress = now_s();
		} else if (now_s() - progress > STALL_S) {
			die("timeout waiting for", what);
		}
	}
	int v = flag ? *flag : 1;
	pthread_mutex_unlock(&s->m);
	if (v < 0)
		die("subscriber refused", what);
}

int main(int argc, char **argv)
{
	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: peer_mosq HOST PORT QOS SIZE N [pub|e2e]\n");
		return 2;
	}
	const char *host = argv[1];
	int port = (int)number(argv[2], 1, 65535, "PORT");
	int qos = (int)number(argv[3], 0, 2, "QOS");
	int size = (int)number(argv[4], 0, 268435000L, "SIZE");
	long n = number(argv[5], 1, 1000000000L, "N");
	int e2e = argc == 7 && !strcmp(argv[6], "e2e");
	if (argc == 7 && !e2e && strcmp(argv[6], "pub")) {
		fprintf(stderr, "peer_mosq: bad mode (pub|e2e): %s\n", argv[6]);
		return 2;
	}
	must(mosquitto_lib_init(), "mosquitto_lib_init");
	char topic[64], id[64];
	snprintf(topic, sizeof topic, "bench/peer-mosq/%d", (int)getpid());
	unsigned char *payload = malloc(size ? (size_t)size : 1);
	if (!payload)
		die("malloc", NULL);
	memset(payload, 'x', size ? (size_t)size : 1);

	struct subscriber sub = {.qos = qos, .size = size, .n = n};
	pthread_mutex_init(&sub.m, NULL);
	pthread_cond_init(&sub.cv, NULL);
	struct mosquitto *sm = NULL;
	if (e2e) {
		snprintf(id, sizeof id, "peer-mosq-sub-%d", (int)getpid());
		if (!(sm = mosquitto_new(id, true, &sub)))
			die("mosquitto_new", strerror(errno));
		mosquitto_connect_callback_set(sm, sub_connect);
		mosquitto_subscribe_callback_set(sm, sub_subscribed);
		mosquitto_message_callback_set(sm, sub_message);
		must(mosquitto_connect(sm, host, port, 60), "subscriber connect");
		must(mosquitto_loop_start(sm), "loop_start");
		sub_wait(&sub, &sub.connack, "subscriber CONNACK");
		must(mosquitto_subscribe(sm, NULL, topic, qos), "subscribe");
		sub_wait(&sub, &sub.suback, "subscriber SUBACK");
	}

	struct publisher pub = {0};
	snprintf(id, sizeof id, "peer-mosq-pub-%d", (int)getpid());
	struct mosquitto *pm = mosquitto_new(id, true, &pub);
	if (!pm)
		die("mosquitto_new", strerror(errno));
	must(mosquitto_max_inflight_messages_set(pm, WINDOW), "max_inflight");
	mosquitto_connect_callback_set(pm, pub_connect);
	mosquitto_publish_callback_set(pm, pub_published);
	mosquitto_subscribe_callback_set(pm, pub_subscribed);
	must(mosquitto_connect(pm, host, port, 60), "connect");
	loop_until(pm, &pub.connack, "CONNACK");

	double t0 = now_s(), c0 = cpu_s(), progress = t0;
	long sent = 0, last = 0;
	while (pub.done < n) {
		for (; sent < n && sent - pub.done < WINDOW; sent++) {
			if (size >= 4) {
				payload[0] = (unsigned char)(sent >> 24);
				payload[1] = (unsigned char)(sent >> 16);
				payload[2] = (unsigned char)(sent >> 8);
				payload[3] = (unsigned char)sent;
			}
			must(mosquitto_publish(pm, NULL, topic, size, payload, qos, false), "publish");
		}
		if (pub.done >= n)
			break;
		must(mosquitto_loop(pm, 1000, 1), "loop");
		if (pub.done != last) {
			last = pub.done;
			progress = now_s();
		} else if (now_s() - progress > STALL_S) {
			die("stalled", "no acknowledgements");
		}
	}
	if (e2e) {
		sub_wait(&sub, NULL, "messages");
	} else if (qos == 0) {
		char sync[80];
		snprintf(sync, sizeof sync, "%s/sync", topic);
		must(mosquitto_subscribe(pm, NULL, sync, 0), "sync subscribe");
		loop_until(pm, &pub.suback, "sync SUBACK");
	}
	double t1 = now_s(), c1 = cpu_s();
	if (e2e) {
		pthread_mutex_lock(&sub.m);
		long got = sub.received, bad = sub.bad;
		pthread_mutex_unlock(&sub.m);
		if (got != n || bad) {
			fprintf(stderr, "peer_mosq: received %ld of %ld, %ld bad\n", got, n, bad);
			die("subscriber check failed", NULL);
		}
	}
	printf("lib=mosquitto qos=%d size=%d n=%ld seconds=%.4f msgs_per_s=%.0f mode=%s cpu_s=%.3f\n", qos,
	       size, n, t1 - t0, t1 > t0 ? n / (t1 - t0) : 0.0, e2e ? "e2e" : "pub", c1 - c0);
	fflush(stdout);
	mosquitto_disconnect(pm);
	mosquitto_destroy(pm);
	if (sm) {
		mosquitto_disconnect(sm);
		mosquitto_loop_stop(sm, false);
		mosquitto_destroy(sm);
	}
	mosquitto_lib_cleanup();
	free(payload);
	return 0;
}
