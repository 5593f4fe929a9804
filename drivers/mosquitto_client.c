/*
 * mosquitto_client.c - the driver of libmosquitto, the Eclipse Mosquitto
 * client library (docs/drivers.md): JSON lines on standard input and
 * output.
 *
 * The client runs in libmosquitto's own thread (mosquitto_loop_start),
 * which reconnects by itself; commands come in on the main thread.
 * libmosquitto keeps its session state in memory only: the driver
 * declares no persistence. Its messages carry no DUP flag to read back
 * (struct mosquitto_message has none): reported as false.
 *
 *     mqttsim run --client-cmd build/drivers/mosquitto_client FILE.scn
 */
#define _GNU_SOURCE
#include <mosquitto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonl.h"

#define MAP_MAX 65536

/*
 * Command ids by message id (mid), for the callbacks. A callback can come
 * before mosquitto_publish() or _subscribe() has returned the mid: it is
 * then kept as early news for the caller to find. Never held while
 * calling libmosquitto, whose thread calls back with its own locks held.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t online_changed;
	bool online;
	long pub[MAP_MAX], sub[MAP_MAX];        /* 0: none */
	int early_sub[MAP_MAX];                 /* granted + 1 (0x81: refused), 0: none */
	bool early_pub[MAP_MAX], early_unsub[MAP_MAX];
	long reads[64];                         /* read commands waiting */
	int nreads;
	pthread_cond_t read_came;
	bool ending;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .online_changed = PTHREAD_COND_INITIALIZER,
       .read_came = PTHREAD_COND_INITIALIZER};

static void message_event(long id, const struct mosquitto_message *m)
{
	jsonl_message(id, (const uint8_t *)m->topic, strlen(m->topic), m->payload,
	              (size_t)m->payloadlen, m->qos, false, m->retain);
}

static void on_connect(struct mosquitto *mosq, void *arg, int rc, int flags)
{
	(void)mosq;
	(void)arg;
	if (rc != 0) {
		char text[100];
		snprintf(text, sizeof text, "CONNACK refused: %s", mosquitto_connack_string(rc));
		jsonl_log(text);
		return;
	}
	jsonl_emit(json_pack("{s:s, s:b}", "event", "connected", "session_present", flags & 1));
	pthread_mutex_lock(&g.lock);
	g.online = true;
	pthread_cond_broadcast(&g.online_changed);
	pthread_mutex_unlock(&g.lock);
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
	(void)mosq;
	(void)arg;
	pthread_mutex_lock(&g.lock);
	bool was = g.online;
	g.online = false;
	pthread_mutex_unlock(&g.lock);
	if (was)
		jsonl_emit(json_pack("{s:s, s:s}", "event", "connection_lost", "reason",
		                     mosquitto_strerror(rc)));
}

/*
 * The application reads in the callback: it returns (and libmosquitto
 * acknowledges) only once the runner's read has taken the message, as an
 * application that handles a message before it returns.
 */
static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *m)
{
	(void)mosq;
	(void)arg;
	pthread_mutex_lock(&g.lock);
	while (!g.nreads && !g.ending)
		pthread_cond_wait(&g.read_came, &g.lock);
	if (g.nreads) {
		long id = g.reads[0];
		memmove(g.reads, g.reads + 1, (size_t)--g.nreads * sizeof *g.reads);
		message_event(id, m);
	}
	pthread_mutex_unlock(&g.lock);
}

static void suback_event(long id, int coded)
{
	if (coded - 1 == 0x80)
		jsonl_error(id, "refused", "SUBACK 0x80");
	else
		jsonl_emit(json_pack("{s:I, s:s, s:i}", "id", (json_int_t)id, "event", "ok", "granted",
		                     coded - 1));
}

static void on_subscribe(struct mosquitto *mosq, void *arg, int mid, int n, const int *granted)
{
	(void)mosq;
	(void)arg;
	int coded = n > 0 ? granted[0] + 1 : 1;
	pthread_mutex_lock(&g.lock);
	long id = g.sub[mid & 0xffff];
	g.sub[mid & 0xffff] = 0;
	if (id)
		suback_event(id, coded);
	else
		g.early_sub[mid & 0xffff] = coded;
	pthread_mutex_unlock(&g.lock);
}

static void on_unsubscribe(struct mosquitto *mosq, void *arg, int mid)
{
	(void)mosq;
	(void)arg;
	pthread_mutex_lock(&g.lock);
	long id = g.sub[mid & 0xffff];
	g.sub[mid & 0xffff] = 0;
	if (id)
		jsonl_reply(id, "ok");
	else
		g.early_unsub[mid & 0xffff] = true;
	pthread_mutex_unlock(&g.lock);
}

static void on_publish(struct mosquitto *mosq, void *arg, int mid)
{
	(void)mosq;
	(void)arg;
	pthread_mutex_lock(&g.lock);
	long id = g.pub[mid & 0xffff];
	g.pub[mid & 0xffff] = 0;
	if (id)
		jsonl_reply(id, "completed");
	else
		g.early_pub[mid & 0xffff] = true;
	pthread_mutex_unlock(&g.lock);
}

static void wait_online(void)
{
	pthread_mutex_lock(&g.lock);
	while (!g.online)
		pthread_cond_wait(&g.online_changed, &g.lock);
	pthread_mutex_unlock(&g.lock);
}

static struct mosquitto *do_connect(json_t *cmd, long id)
{
	char host[256];
	int port;
	if (jsonl_tcp_address(jsonl_str(cmd, "address"), host, sizeof host, &port) != 0) {
		jsonl_error(id, "refused", "mosquitto_client dials tcp://HOST:PORT only");
		return NULL;
	}
	struct mosquitto *mosq = mosquitto_new(jsonl_str(cmd, "client_id"),
	                                       json_is_true(json_object_get(cmd, "clean_session")), NULL);
	if (!mosq) {
		jsonl_error(id, "refused", "mosquitto_new failed");
		return NULL;
	}
	mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	json_t *will = json_object_get(cmd, "will");
	if (json_is_object(will)) {
		const char *payload = jsonl_str(will, "payload");
		mosquitto_will_set(mosq, jsonl_str(will, "topic"), (int)strlen(payload), payload,
		                   (int)jsonl_int(will, "qos"), json_is_true(json_object_get(will, "retain")));
	}
	if (*jsonl_str(cmd, "username"))
		mosquitto_username_pw_set(mosq, jsonl_str(cmd, "username"),
		                          *jsonl_str(cmd, "password") ? jsonl_str(cmd, "password") : NULL);
	if (jsonl_int(cmd, "inflight_max") > 0)
		mosquitto_max_inflight_messages_set(mosq, (unsigned)jsonl_int(cmd, "inflight_max"));
	mosquitto_reconnect_delay_set(mosq, 1, 5, false);
	mosquitto_connect_with_flags_callback_set(mosq, on_connect);
	mosquitto_disconnect_callback_set(mosq, on_disconnect);
	mosquitto_message_callback_set(mosq, on_message);
	mosquitto_subscribe_callback_set(mosq, on_subscribe);
	mosquitto_unsubscribe_callback_set(mosq, on_unsubscribe);
	mosquitto_publish_callback_set(mosq, on_publish);
	int keep_alive = (int)jsonl_int(cmd, "keep_alive");
	int rc = mosquitto_connect_async(mosq, host, port, keep_alive);
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO) {
		/* MOSQ_ERR_ERRNO: the first dial failed; the loop dials again. */
		jsonl_error(id, "refused", mosquitto_strerror(rc));
		mosquitto_destroy(mosq);
		return NULL;
	}
	if (mosquitto_loop_start(mosq) != MOSQ_ERR_SUCCESS) {
		jsonl_error(id, "refused", "mosquitto_loop_start failed");
		mosquitto_destroy(mosq);
		return NULL;
	}
	jsonl_reply(id, "ok");
	return mosq;
}

static void do_subscribe(struct mosquitto *mosq, json_t *cmd, long id, bool unsubscribe)
{
	for (;;) {
		wait_online();
		int mid = 0;
		int rc = unsubscribe ? mosquitto_unsubscribe(mosq, &mid, jsonl_str(cmd, "topic"))
		                     : mosquitto_subscribe(mosq, &mid, jsonl_str(cmd, "topic"),
		                                           (int)jsonl_int(cmd, "qos"));
		if (rc == MOSQ_ERR_NO_CONN) {
			struct timespec t = {0, 10 * 1000000}; /* it went meanwhile: again once online */
			nanosleep(&t, NULL);
			continue;
		}
		if (rc != MOSQ_ERR_SUCCESS) {
			jsonl_error(id, "not-sent", mosquitto_strerror(rc));
			return;
		}
		pthread_mutex_lock(&g.lock);
		int k = mid & 0xffff;
		if (unsubscribe && g.early_unsub[k]) {
			g.early_unsub[k] = false;
			jsonl_reply(id, "ok");
		} else if (!unsubscribe && g.early_sub[k]) {
			suback_event(id, g.early_sub[k]);
			g.early_sub[k] = 0;
		} else {
			g.sub[k] = id;
		}
		pthread_mutex_unlock(&g.lock);
		return;
	}
}

static void do_publish(struct mosquitto *mosq, json_t *cmd, long id)
{
	const char *payload = jsonl_str(cmd, "payload");
	int qos = (int)jsonl_int(cmd, "qos"), mid = 0, rc;
	for (;;) {
		rc = mosquitto_publish(mosq, &mid, jsonl_str(cmd, "topic"), (int)strlen(payload), payload,
		                       qos, json_is_true(json_object_get(cmd, "retain")));
		/* Offline, QoS 0 is not sent: the application waits and tries again. */
		if (rc != MOSQ_ERR_NO_CONN || qos > 0)
			break;
		wait_online();
	}
	/*
	 * Offline at QoS 1 and 2, libmosquitto 2.0 returns MOSQ_ERR_NO_CONN
	 * although it queued the message, and sends it once connected again
	 * (its publish callback then comes as for any other): taken as queued.
	 * An application that believed the error would lose track of it.
	 */
	if (rc == MOSQ_ERR_NO_CONN && qos > 0)
		jsonl_log("mosquitto_publish: not connected; the message is queued all the same");
	else if (rc != MOSQ_ERR_SUCCESS) {
		jsonl_error(id, "not-sent", mosquitto_strerror(rc));
		return;
	}
	pthread_mutex_lock(&g.lock);
	jsonl_reply(id, "ok");
	int k = mid & 0xffff;
	bool done = g.early_pub[k];
	g.early_pub[k] = false; /* QoS 0's too: its callback comes once it is written */
	if (qos && done)
		jsonl_reply(id, "completed");
	else if (qos)
		g.pub[k] = id;
	pthread_mutex_unlock(&g.lock);
}

/* A read command (-1: input ended): the callback waiting for one goes on. */
static void on_read(long id)
{
	pthread_mutex_lock(&g.lock);
	if (id < 0)
		g.ending = true;
	else if (g.nreads < 64)
		g.reads[g.nreads++] = id;
	pthread_cond_broadcast(&g.read_came);
	pthread_mutex_unlock(&g.lock);
}

int main(void)
{
	mosquitto_lib_init();
	int major, minor, revision;
	mosquitto_lib_version(&major, &minor, &revision);
	char library[64];
	snprintf(library, sizeof library, "libmosquitto %d.%d.%d", major, minor, revision);
	/* libmosquitto refuses a keep-alive of 1 to 4 s. */
	jsonl_emit(json_pack("{s:s, s:s, s:s, s:[s]}", "event", "hello", "driver", "mosquitto_client.c",
	                     "library", library, "capabilities", "keep-alive-min:5"));
	jsonl_start(on_read);
	struct mosquitto *mosq = NULL;
	json_t *cmd;
	while ((cmd = jsonl_next())) {
		const char *what = jsonl_str(cmd, "cmd");
		long id = (long)jsonl_int(cmd, "id");
		if (!strcmp(what, "connect") && !mosq)
			mosq = do_connect(cmd, id);
		else if (!mosq)
			jsonl_error(id, "closed", "not connected");
		else if (!strcmp(what, "subscribe") || !strcmp(what, "unsubscribe"))
			do_subscribe(mosq, cmd, id, what[0] == 'u');
		else if (!strcmp(what, "publish"))
			do_publish(mosq, cmd, id);
		else if (!strcmp(what, "disconnect")) {
			/* No connection: nothing is sent, and "ok" would claim it was. */
			int rc = mosquitto_disconnect(mosq);
			if (rc == MOSQ_ERR_SUCCESS)
				jsonl_reply(id, "ok");
			else
				jsonl_error(id, rc == MOSQ_ERR_NO_CONN ? "not-sent" : "unknown", mosquitto_strerror(rc));
		}
		json_decref(cmd);
	}
	if (mosq) {
		mosquitto_disconnect(mosq);
		mosquitto_loop_stop(mosq, true);
		mosquitto_destroy(mosq);
	}
	mosquitto_lib_cleanup();
	return 0;
}
