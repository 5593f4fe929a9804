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
 * At QoS 1 and 2 the publisher drives its connection from its own thread
 * with mqtt_client_read_wait(), as the libmosquitto peer does with
 * mosquitto_loop(); at QoS 0 (whose pub mode ends with a SUBSCRIBE round
 * trip) and for the subscriber, the read routine has a thread of its own.
 *
 * The clock runs from the first publish to done. One line on stdout:
 *   lib=mqttsim qos=Q size=S n=N seconds=T msgs_per_s=R mode=M cpu_s=C
 * where C is the user+system CPU of the whole process in that time.
 * Errors go to stderr, exit status 1; bad arguments exit 2.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>

#include "mqttsim/client.h"

#include "bench_util.h"

static void die_err(const char *what, struct mqtt_error e)
{
	char text[256];
	bench_die(what, mqtt_error_text(e, text, sizeof text));
}

/* A client with its read routine in a thread of its own. */
struct runner {
	struct mqtt_client *c;
	pthread_t thread;
	pthread_mutex_t m;
	pthread_cond_t cv;
	const struct bench_args *a;
	long received, bad;
	bool failed;
	struct mqtt_error why;
	bool own_thread;
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
			if (!bench_check(msg.payload.data, (long)msg.payload.len, msg.qos, r->a, r->received))
				r->bad++;
			r->received++;
			if (r->received >= r->a->n)
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

/* own_thread false: no read thread; the caller drives the read routine
 * (mqtt_client_read_wait()) from its own, as the libmosquitto peer does. */
static void start(struct runner *r, const struct bench_args *a, const char *id, bool own_thread)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->m, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->a = a;
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.session.client_id = mqtt_slice_str(id);
	cfg.session.clean_session = true;
	cfg.session.at_least_once_max = BENCH_WINDOW;
	cfg.session.exactly_once_max = BENCH_WINDOW;
	cfg.session.keep_alive = 60;
	cfg.session.pause_timeout_ms = 20000;
	cfg.session.read_buffer_size = (size_t)a->size + 1024;
	if (mqtt_dialer_tcp(&cfg.dialer, a->host, a->port) != 0)
		bench_die("dialer", strerror(ENOMEM));
	struct mqtt_error e = mqtt_client_new(&r->c, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL);
	if (e.cls)
		die_err("client", e);
	r->own_thread = own_thread;
	if (!own_thread) {
		struct mqtt_message msg;
		while (!mqtt_client_online(r->c)) {
			e = mqtt_client_read_wait(r->c, &msg, 100);
			if (e.cls != MQTT_CANCELED && e.cls != MQTT_SUCCESS)
				die_err("connect", e);
		}
		return;
	}
	if (pthread_create(&r->thread, NULL, read_routine, r) != 0)
		bench_die("thread", strerror(errno));
	if (!mqtt_client_wait_online(r->c, NULL)) {
		pthread_join(r->thread, NULL);
		die_err("connect", r->why);
	}
}

/* The publisher's own read routine while it waits for exchange x. */
static void drive_until_done(struct runner *r, struct mqtt_exchange *x)
{
	while (mqtt_exchange_state(x) < MQTT_EXCHANGE_DONE) {
		struct mqtt_message msg;
		struct mqtt_error e = mqtt_client_read_wait(r->c, &msg, 1000);
		if (e.cls != MQTT_CANCELED && e.cls != MQTT_SUCCESS)
			die_err("publish", e);
	}
	if (mqtt_exchange_state(x) != MQTT_EXCHANGE_DONE)
		bench_die("publish", "exchange closed");
}

static void stop(struct runner *r)
{
	mqtt_client_disconnect(r->c, NULL);
	if (r->own_thread)
		pthread_join(r->thread, NULL);
	mqtt_client_free(r->c);
}

int main(int argc, char **argv)
{
	struct bench_args a;
	bench_args(argc, argv, "mqttbench", &a);

	char topic[64], id[64];
	snprintf(topic, sizeof topic, "bench/mqttsim/%d", (int)getpid());
	uint8_t *payload = malloc(a.size ? (size_t)a.size : 1);
	if (!payload)
		bench_die("malloc", NULL);
	memset(payload, 'x', a.size ? (size_t)a.size : 1);

	struct runner sub, pub;
	if (a.e2e) {
		snprintf(id, sizeof id, "bench-mqttsim-sub-%d", (int)getpid());
		start(&sub, &a, id, true);
		struct mqtt_topic f = {mqtt_slice_str(topic), (uint8_t)a.qos};
		struct mqtt_error e = mqtt_client_subscribe(sub.c, NULL, &f, 1);
		if (e.cls)
			die_err("subscribe", e);
	}
	snprintf(id, sizeof id, "bench-mqttsim-pub-%d", (int)getpid());
	/* QoS 1 and 2: the publisher drives its own connection from this
	 * thread (the peer's fastest mode); QoS 0 ends with a SUBSCRIBE round
	 * trip, which wants the read routine in a thread. */
	start(&pub, &a, id, a.qos == 0);

	struct mqtt_exchange **ring = calloc(BENCH_WINDOW, sizeof *ring);
	if (!ring)
		bench_die("malloc", NULL);
	double t0 = bench_now(), c0 = bench_cpu();
	long done = 0;
	struct mqtt_slice t = mqtt_slice_str(topic);
	for (long seq = 0; seq < a.n; seq++) {
		bench_put_seq(payload, a.size, seq);
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
		struct mqtt_exchange **slot = &ring[seq % BENCH_WINDOW];
		if (*slot) {
			drive_until_done(&pub, *slot);
			mqtt_exchange_release(*slot);
			*slot = NULL;
			done++;
		}
		struct mqtt_error e = mqtt_client_publish(pub.c, NULL, (uint8_t)a.qos, false, t, p, slot);
		if (e.cls)
			die_err("publish", e);
	}
	for (long k = 0; k < BENCH_WINDOW; k++) {
		if (!ring[k])
			continue;
		drive_until_done(&pub, ring[k]);
		mqtt_exchange_release(ring[k]);
		done++;
	}
	if (done != a.n)
		bench_die("count mismatch", NULL);
	if (a.e2e) {
		double progress = bench_now();
		long last = -1;
		pthread_mutex_lock(&sub.m);
		while (sub.received < a.n && !sub.failed) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&sub.cv, &sub.m, &ts);
			if (sub.received != last) {
				last = sub.received;
				progress = bench_now();
			} else if (bench_now() - progress > BENCH_STALL_S) {
				fprintf(stderr, "mqttbench: subscriber received %ld of %ld\n", sub.received, a.n);
				bench_die("timeout waiting for", "messages");
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
	double t1 = bench_now(), c1 = bench_cpu();
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
			bench_die("subscriber check failed", NULL);
		}
	}
	bench_report("mqttsim", &a, t1 - t0, c1 - c0);
	stop(&pub);
	if (a.e2e)
		stop(&sub);
	free(ring);
	free(payload);
	return 0;
}
