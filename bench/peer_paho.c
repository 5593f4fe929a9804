/*
 * peer_paho - the Paho C (MQTTAsync) peer of mqttbench: the same command
 * line, method and result line.
 *
 * usage: peer_paho HOST PORT QOS SIZE N [pub|e2e]
 *
 * Messages are sent with MQTTAsync_send() from this thread; each one's
 * onSuccess marks it done (QoS 0 written, QoS 1 PUBACK, QoS 2 PUBCOMP).
 * At most 1,024 are outstanding (maxInflight 1,024): when the window is
 * full the sender waits until half of it has completed, then refills.
 * QoS 0 pub ends with a SUBSCRIBE/SUBACK round trip. e2e adds a second
 * client subscribed at QOS that checks length, QoS and sequence.
 */
#include <MQTTAsync.h>
#include <pthread.h>
#include <unistd.h>

#include "bench_util.h"

struct state {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int connected, subscribed; /* 0 waiting, 1 ok, -1 failed */
	long done, failed;
	long received, bad;
	const struct bench_args *a;
};

static void set(struct state *s, int *field, int value)
{
	pthread_mutex_lock(&s->m);
	*field = value;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

static void on_connect(void *ctx, MQTTAsync_successData *r)
{
	(void)r;
	struct state *s = ctx;
	set(s, &s->connected, 1);
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData *r)
{
	(void)r;
	struct state *s = ctx;
	set(s, &s->connected, -1);
}

static void on_subscribe(void *ctx, MQTTAsync_successData *r)
{
	struct state *s = ctx;
	set(s, &s->subscribed, r->alt.qos == 0x80 ? -1 : 1);
}

static void on_subscribe_failure(void *ctx, MQTTAsync_failureData *r)
{
	(void)r;
	struct state *s = ctx;
	set(s, &s->subscribed, -1);
}

static void on_sent(void *ctx, MQTTAsync_successData *r)
{
	(void)r;
	struct state *s = ctx;
	pthread_mutex_lock(&s->m);
	s->done++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

static void on_send_failure(void *ctx, MQTTAsync_failureData *r)
{
	(void)r;
	struct state *s = ctx;
	pthread_mutex_lock(&s->m);
	s->failed++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
	(void)topic_len;
	struct state *s = ctx;
	pthread_mutex_lock(&s->m);
	if (!bench_check(msg->payload, msg->payloadlen, msg->qos, s->a, s->received))
		s->bad++;
	if (++s->received >= s->a->n)
		pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

static void on_lost(void *ctx, char *cause)
{
	(void)ctx;
	bench_die("connection lost", cause);
}

/* Waits while cond(s) holds, failing after BENCH_STALL_S without progress. */
static void wait_while(struct state *s, int (*cond)(struct state *), const char *what)
{
	double progress = bench_now();
	long last = -1;
	pthread_mutex_lock(&s->m);
	while (cond(s)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->cv, &s->m, &ts);
		long p = s->done + s->received;
		if (p != last) {
			last = p;
			progress = bench_now();
		} else if (bench_now() - progress > BENCH_STALL_S) {
			bench_die("timeout waiting for", what);
		}
	}
	pthread_mutex_unlock(&s->m);
}

static int not_connected(struct state *s) { return s->connected == 0; }
static int not_subscribed(struct state *s) { return s->subscribed == 0; }
static int not_received(struct state *s) { return s->received < s->a->n; }
static long sent_now;
static int window_full(struct state *s) { return sent_now - s->done > BENCH_WINDOW / 2 && !s->failed; }
static int not_done(struct state *s) { return s->done < s->a->n && !s->failed; }

static MQTTAsync make_client(const char *uri, const char *id, struct state *s, int subscriber)
{
	MQTTAsync c;
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	co.maxBufferedMessages = BENCH_WINDOW * 2;
	co.MQTTVersion = MQTTVERSION_3_1_1;
	if (MQTTAsync_createWithOptions(&c, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co) != MQTTASYNC_SUCCESS)
		bench_die("MQTTAsync_create", uri);
	MQTTAsync_setCallbacks(c, s, on_lost, subscriber ? on_message : NULL, NULL);
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	o.keepAliveInterval = 60;
	o.cleansession = 1;
	o.MQTTVersion = MQTTVERSION_3_1_1;
	o.maxInflight = BENCH_WINDOW;
	o.onSuccess = on_connect;
	o.onFailure = on_connect_failure;
	o.context = s;
	if (MQTTAsync_connect(c, &o) != MQTTASYNC_SUCCESS)
		bench_die("connect", uri);
	wait_while(s, not_connected, "CONNACK");
	if (s->connected < 0)
		bench_die("connect refused", uri);
	return c;
}

static void subscribe(MQTTAsync c, struct state *s, const char *topic, int qos)
{
	MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
	r.onSuccess = on_subscribe;
	r.onFailure = on_subscribe_failure;
	r.context = s;
	if (MQTTAsync_subscribe(c, topic, qos, &r) != MQTTASYNC_SUCCESS)
		bench_die("subscribe", topic);
	wait_while(s, not_subscribed, "SUBACK");
	if (s->subscribed < 0)
		bench_die("subscribe refused", topic);
}

static void init_state(struct state *s, const struct bench_args *a)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->m, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->a = a;
}

int main(int argc, char **argv)
{
	struct bench_args a;
	bench_args(argc, argv, "peer_paho", &a);
	int qos = a.qos, size = a.size, e2e = a.e2e;
	long n = a.n;
	char uri[300], topic[64], id[64];
	snprintf(uri, sizeof uri, "tcp://%s:%s", a.host, a.port);
	snprintf(topic, sizeof topic, "bench/peer-paho/%d", (int)getpid());
	unsigned char *payload = malloc(size ? (size_t)size : 1);
	if (!payload)
		bench_die("malloc", NULL);
	memset(payload, 'x', size ? (size_t)size : 1);

	struct state sub, pub;
	init_state(&sub, &a);
	init_state(&pub, &a);
	MQTTAsync sc = NULL;
	if (e2e) {
		snprintf(id, sizeof id, "peer-paho-sub-%d", (int)getpid());
		sc = make_client(uri, id, &sub, 1);
		subscribe(sc, &sub, topic, qos);
	}
	snprintf(id, sizeof id, "peer-paho-pub-%d", (int)getpid());
	MQTTAsync pc = make_client(uri, id, &pub, 0);

	double t0 = bench_now(), c0 = bench_cpu();
	MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
	r.onSuccess = on_sent;
	r.onFailure = on_send_failure;
	r.context = &pub;
	for (long seq = 0; seq < n; seq++) {
		pthread_mutex_lock(&pub.m);
		sent_now = seq;
		int full = seq - pub.done >= BENCH_WINDOW;
		pthread_mutex_unlock(&pub.m);
		if (full)
			wait_while(&pub, window_full, "acknowledgements");
		bench_put_seq(payload, size, seq);
		int rc;
		while ((rc = MQTTAsync_send(pc, topic, size, payload, qos, 0, &r)) == MQTTASYNC_MAX_BUFFERED_MESSAGES) {
			struct timespec t = {0, 100000};
			nanosleep(&t, NULL);
		}
		if (rc != MQTTASYNC_SUCCESS)
			bench_die("MQTTAsync_send", MQTTAsync_strerror(rc));
	}
	wait_while(&pub, not_done, "acknowledgements");
	if (pub.failed)
		bench_die("send", "failed");
	if (e2e) {
		wait_while(&sub, not_received, "messages");
	} else if (qos == 0) {
		char sync[80];
		snprintf(sync, sizeof sync, "%s/sync", topic);
		subscribe(pc, &pub, sync, 0);
	}
	double t1 = bench_now(), c1 = bench_cpu();
	if (e2e && (sub.received != n || sub.bad)) {
		fprintf(stderr, "peer_paho: received %ld of %ld, %ld bad\n", sub.received, n, sub.bad);
		bench_die("subscriber check failed", NULL);
	}
	bench_report("paho", &a, t1 - t0, c1 - c0);
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
	MQTTAsync_disconnect(pc, &d);
	MQTTAsync_destroy(&pc);
	if (sc) {
		MQTTAsync_disconnect(sc, &d);
		MQTTAsync_destroy(&sc);
	}
	free(payload);
	return 0;
}
