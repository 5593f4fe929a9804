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
#include <mosquitto.h>
#include <pthread.h>
#include <unistd.h>

#include "bench_util.h"

static void must(int rc, const char *what)
{
	if (rc != MOSQ_ERR_SUCCESS)
		bench_die(what, mosquitto_strerror(rc));
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
	double start = bench_now();
	while (!*flag) {
		must(mosquitto_loop(m, 1000, 1), what);
		if (bench_now() - start > BENCH_STALL_S)
			bench_die("timeout waiting for", what);
	}
	if (*flag < 0)
		bench_die("refused", what);
}

/* The subscriber, on libmosquitto's own thread. */
struct subscriber {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int connack, suback;
	const struct bench_args *a;
	long received, bad;
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
	s->suback = n == 1 && granted[0] == s->a->qos ? 1 : -1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

static void sub_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)m;
	struct subscriber *s = obj;
	pthread_mutex_lock(&s->m);
	if (!bench_check(msg->payload, msg->payloadlen, msg->qos, s->a, s->received))
		s->bad++;
	if (++s->received >= s->a->n)
		pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

/* Waits until *flag is set, or (flag NULL) all messages arrived. */
static void sub_wait(struct subscriber *s, const int *flag, const char *what)
{
	double progress = bench_now();
	long last = -1;
	pthread_mutex_lock(&s->m);
	while (flag ? !*flag : s->received < s->a->n) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec++;
		pthread_cond_timedwait(&s->cv, &s->m, &ts);
		if (s->received != last) {
			last = s->received;
			progress = bench_now();
		} else if (bench_now() - progress > BENCH_STALL_S) {
			bench_die("timeout waiting for", what);
		}
	}
	int v = flag ? *flag : 1;
	pthread_mutex_unlock(&s->m);
	if (v < 0)
		bench_die("subscriber refused", what);
}

int main(int argc, char **argv)
{
	struct bench_args a;
	bench_args(argc, argv, "peer_mosq", &a);
	const char *host = a.host;
	int port = atoi(a.port), qos = a.qos, size = a.size;
	long n = a.n;
	int e2e = a.e2e;
	must(mosquitto_lib_init(), "mosquitto_lib_init");
	char topic[64], id[64];
	snprintf(topic, sizeof topic, "bench/peer-mosq/%d", (int)getpid());
	unsigned char *payload = malloc(size ? (size_t)size : 1);
	if (!payload)
		bench_die("malloc", NULL);
	memset(payload, 'x', size ? (size_t)size : 1);

	struct subscriber sub = {.a = &a};
	pthread_mutex_init(&sub.m, NULL);
	pthread_cond_init(&sub.cv, NULL);
	struct mosquitto *sm = NULL;
	if (e2e) {
		snprintf(id, sizeof id, "peer-mosq-sub-%d", (int)getpid());
		if (!(sm = mosquitto_new(id, true, &sub)))
			bench_die("mosquitto_new", strerror(errno));
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
		bench_die("mosquitto_new", strerror(errno));
	must(mosquitto_max_inflight_messages_set(pm, BENCH_WINDOW), "max_inflight");
	mosquitto_connect_callback_set(pm, pub_connect);
	mosquitto_publish_callback_set(pm, pub_published);
	mosquitto_subscribe_callback_set(pm, pub_subscribed);
	must(mosquitto_connect(pm, host, port, 60), "connect");
	loop_until(pm, &pub.connack, "CONNACK");

	double t0 = bench_now(), c0 = bench_cpu(), progress = t0;
	long sent = 0, last = 0;
	while (pub.done < n) {
		for (; sent < n && sent - pub.done < BENCH_WINDOW; sent++) {
			bench_put_seq(payload, size, sent);
			must(mosquitto_publish(pm, NULL, topic, size, payload, qos, false), "publish");
		}
		if (pub.done >= n)
			break;
		must(mosquitto_loop(pm, 1000, 1), "loop");
		if (pub.done != last) {
			last = pub.done;
			progress = bench_now();
		} else if (bench_now() - progress > BENCH_STALL_S) {
			bench_die("stalled", "no acknowledgements");
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
	double t1 = bench_now(), c1 = bench_cpu();
	if (e2e) {
		pthread_mutex_lock(&sub.m);
		long got = sub.received, bad = sub.bad;
		pthread_mutex_unlock(&sub.m);
		if (got != n || bad) {
			fprintf(stderr, "peer_mosq: received %ld of %ld, %ld bad\n", got, n, bad);
			bench_die("subscriber check failed", NULL);
		}
	}
	bench_report("mosquitto", &a, t1 - t0, c1 - c0);
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
