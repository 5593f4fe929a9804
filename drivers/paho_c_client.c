/*
 * paho_c_client.c - the driver of the Eclipse Paho C client, its
 * asynchronous API (MQTTAsync), with its file persistence in
 * $MQTTSIM_STORE_DIR (docs/drivers.md): JSON lines on standard input and
 * output.
 *
 * Paho keeps its in-flight QoS 1 and 2 messages in files there, and a
 * process that starts again on the same folder with a persistent session
 * sends them on: the driver declares persistence. It buffers publishes
 * while disconnected and reconnects by itself after a first successful
 * connection; a first connection that fails is tried again every second.
 * Paho tells whether a session was present only for connections it made
 * on request, not for its automatic reconnects: those are reported
 * without session_present, and the oracle does not judge them on it.
 *
 *     mqttsim run --client-cmd build/drivers/paho_c_client FILE.scn
 */
#define _GNU_SOURCE
#include <MQTTAsync.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jsonl.h"

/* A command in flight, the context of its callbacks. */
struct call {
	long id;
	int qos;
	bool ok_sent, done_early, failed;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	MQTTAsync client;
	MQTTAsync_connectOptions conn;
	MQTTAsync_willOptions will;
	bool online, reported;          /* reported: this connection's "connected" is out */
	long reads[64];                 /* read commands waiting */
	int nreads;
	pthread_cond_t read_came;
	bool ending;
	char will_topic[256], will_payload[64], client_id[256];
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER,
       .read_came = PTHREAD_COND_INITIALIZER};

static void sleep_ms(unsigned ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&t, NULL);
}

static void connected_event(int session_present)
{
	pthread_mutex_lock(&g.lock);
	bool first = !g.reported;
	g.reported = g.online = true;
	pthread_cond_broadcast(&g.changed);
	pthread_mutex_unlock(&g.lock);
	if (!first)
		return;
	if (session_present < 0)
		jsonl_emit(json_pack("{s:s}", "event", "connected"));
	else
		jsonl_emit(json_pack("{s:s, s:b}", "event", "connected", "session_present", session_present));
}

static void on_connect_success(void *ctx, MQTTAsync_successData *data)
{
	(void)ctx;
	connected_event(data ? data->alt.connect.sessionPresent : -1);
}

static void *connect_again(void *arg)
{
	(void)arg;
	sleep_ms(1000);
	MQTTAsync_connect(g.client, &g.conn);
	return NULL;
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData *data)
{
	(void)ctx;
	char text[200];
	snprintf(text, sizeof text, "connect failed: %s", data && data->message ? data->message : "?");
	jsonl_log(text);
	pthread_t t; /* not from within the callback: a second from now */
	if (pthread_create(&t, NULL, connect_again, NULL) == 0)
		pthread_detach(t);
}

/* Automatic reconnects: Paho says nothing of the session here. */
static void on_connected(void *ctx, char *cause)
{
	(void)ctx;
	(void)cause;
	connected_event(-1);
}

static void on_lost(void *ctx, char *cause)
{
	(void)ctx;
	pthread_mutex_lock(&g.lock);
	bool was = g.reported;
	g.online = g.reported = false;
	pthread_mutex_unlock(&g.lock);
	if (was)
		jsonl_emit(json_pack("{s:s, s:s}", "event", "connection_lost", "reason",
		                     cause ? cause : "connection lost"));
}

static void message_event(long id, const char *topic, MQTTAsync_message *m)
{
	jsonl_message(id, (const uint8_t *)topic, strlen(topic), m->payload, (size_t)m->payloadlen,
	              m->qos, m->dup, m->retained);
}

/*
 * The application reads in the callback: it returns (and Paho
 * acknowledges) only once the runner's read has taken the message.
 */
static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
	(void)ctx;
	(void)topic_len;
	pthread_mutex_lock(&g.lock);
	while (!g.nreads && !g.ending)
		pthread_cond_wait(&g.read_came, &g.lock);
	if (g.nreads) {
		long id = g.reads[0];
		memmove(g.reads, g.reads + 1, (size_t)--g.nreads * sizeof *g.reads);
		message_event(id, topic, m);
	}
	pthread_mutex_unlock(&g.lock);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
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

static void on_call_success(void *ctx, MQTTAsync_successData *data)
{
	struct call *c = ctx;
	if (c->qos < 0) { /* a subscribe or an unsubscribe */
		if (c->qos == -1 && data && data->alt.qos == 0x80)
			jsonl_error(c->id, "refused", "SUBACK 0x80");
		else if (c->qos == -1)
			jsonl_emit(json_pack("{s:I, s:s, s:i}", "id", (json_int_t)c->id, "event", "ok", "granted",
			                     data ? data->alt.qos : 0));
		else
			jsonl_reply(c->id, "ok");
		free(c);
		return;
	}
	pthread_mutex_lock(&g.lock);
	bool ok_sent = c->ok_sent;
	c->done_early = !ok_sent;
	pthread_mutex_unlock(&g.lock);
	if (ok_sent) {
		if (c->qos > 0)
			jsonl_reply(c->id, "completed");
		free(c);
	}
}

static void on_call_failure(void *ctx, MQTTAsync_failureData *data)
{
	struct call *c = ctx;
	char text[200];
	snprintf(text, sizeof text, "%s", data && data->message ? data->message : "failed");
	if (c->qos < 0) {
		jsonl_error(c->id, "refused", text);
		free(c);
		return;
	}
	/* A publish the library gave up on after taking it: it may have gone or
	 * not, and it never completes. Freed by whichever of this and the
	 * caller comes second. */
	jsonl_log(text);
	pthread_mutex_lock(&g.lock);
	bool ok_sent = c->ok_sent;
	c->done_early = !ok_sent;
	c->failed = true;
	pthread_mutex_unlock(&g.lock);
	if (ok_sent)
		free(c);
}

static bool do_connect(json_t *cmd, long id)
{
	const char *address = jsonl_str(cmd, "address");
	char *dir = getenv("MQTTSIM_STORE_DIR");
	snprintf(g.client_id, sizeof g.client_id, "%s", jsonl_str(cmd, "client_id"));
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	co.sendWhileDisconnected = 1;
	co.maxBufferedMessages = 100000;
	co.MQTTVersion = MQTTVERSION_3_1_1;
	int rc = MQTTAsync_createWithOptions(&g.client, address, g.client_id,
	                                     dir ? MQTTCLIENT_PERSISTENCE_DEFAULT : MQTTCLIENT_PERSISTENCE_NONE,
	                                     dir, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		jsonl_error(id, "refused", MQTTAsync_strerror(rc));
		return false;
	}
	MQTTAsync_setCallbacks(g.client, NULL, on_lost, on_message, NULL);
	MQTTAsync_setConnected(g.client, NULL, on_connected);
	MQTTAsync_connectOptions conn = MQTTAsync_connectOptions_initializer;
	conn.keepAliveInterval = (int)jsonl_int(cmd, "keep_alive");
	conn.cleansession = json_is_true(json_object_get(cmd, "clean_session"));
	conn.automaticReconnect = 1;
	conn.minRetryInterval = 1;
	conn.maxRetryInterval = 5;
	conn.MQTTVersion = MQTTVERSION_3_1_1;
	if (jsonl_int(cmd, "inflight_max") > 0)
		conn.maxInflight = (int)jsonl_int(cmd, "inflight_max");
	json_t *will = json_object_get(cmd, "will");
	if (json_is_object(will)) {
		MQTTAsync_willOptions w = MQTTAsync_willOptions_initializer;
		snprintf(g.will_topic, sizeof g.will_topic, "%s", jsonl_str(will, "topic"));
		snprintf(g.will_payload, sizeof g.will_payload, "%s", jsonl_str(will, "payload"));
		w.topicName = g.will_topic;
		w.message = g.will_payload;
		w.qos = (int)jsonl_int(will, "qos");
		w.retained = json_is_true(json_object_get(will, "retain"));
		g.will = w;
		conn.will = &g.will;
	}
	conn.onSuccess = on_connect_success;
	conn.onFailure = on_connect_failure;
	g.conn = conn;
	if ((rc = MQTTAsync_connect(g.client, &g.conn)) != MQTTASYNC_SUCCESS) {
		jsonl_error(id, "refused", MQTTAsync_strerror(rc));
		return false;
	}
	jsonl_reply(id, "ok");
	return true;
}

static void wait_online(void)
{
	pthread_mutex_lock(&g.lock);
	while (!g.online)
		pthread_cond_wait(&g.changed, &g.lock);
	pthread_mutex_unlock(&g.lock);
}

static void do_subscribe(json_t *cmd, long id, bool unsubscribe)
{
	for (;;) {
		wait_online();
		struct call *c = calloc(1, sizeof *c);
		if (!c)
			return;
		*c = (struct call){.id = id, .qos = unsubscribe ? -2 : -1};
		MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
		ro.onSuccess = on_call_success;
		ro.onFailure = on_call_failure;
		ro.context = c;
		int rc = unsubscribe ? MQTTAsync_unsubscribe(g.client, jsonl_str(cmd, "topic"), &ro)
		                     : MQTTAsync_subscribe(g.client, jsonl_str(cmd, "topic"),
		                                           (int)jsonl_int(cmd, "qos"), &ro);
		if (rc == MQTTASYNC_SUCCESS)
			return;
		free(c);
		if (rc != MQTTASYNC_DISCONNECTED) {
			jsonl_error(id, "not-sent", MQTTAsync_strerror(rc));
			return;
		}
		sleep_ms(10); /* it went meanwhile: again once online */
	}
}

static void do_publish(json_t *cmd, long id)
{
	const char *payload = jsonl_str(cmd, "payload");
	struct call *c = calloc(1, sizeof *c);
	if (!c)
		return;
	*c = (struct call){.id = id, .qos = (int)jsonl_int(cmd, "qos")};
	MQTTAsync_message m = MQTTAsync_message_initializer;
	m.payload = (void *)(uintptr_t)payload;
	m.payloadlen = (int)strlen(payload);
	m.qos = c->qos;
	m.retained = json_is_true(json_object_get(cmd, "retain"));
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	ro.onSuccess = on_call_success;
	ro.onFailure = on_call_failure;
	ro.context = c;
	int rc = MQTTAsync_sendMessage(g.client, jsonl_str(cmd, "topic"), &m, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		jsonl_error(id, "not-sent", MQTTAsync_strerror(rc));
		free(c);
		return;
	}
	pthread_mutex_lock(&g.lock);
	jsonl_reply(id, "ok");
	c->ok_sent = true;
	bool early = c->done_early;
	pthread_mutex_unlock(&g.lock);
	if (early) {
		if (c->qos > 0 && !c->failed)
			jsonl_reply(id, "completed");
		free(c);
	}
}

int main(void)
{
	char library[128] = "Paho C";
	for (MQTTAsync_nameValue *v = MQTTAsync_getVersionInfo(); v && v->name; v++)
		if (!strcmp(v->name, "Version"))
			snprintf(library, sizeof library, "Paho C (MQTTAsync) %s", v->value);
	jsonl_emit(json_pack("{s:s, s:s, s:s, s:[s]}", "event", "hello", "driver", "paho_c_client.c",
	                     "library", library, "capabilities", "persistence"));
	bool started = false;
	jsonl_start(on_read);
	json_t *cmd;
	while ((cmd = jsonl_next())) {
		const char *what = jsonl_str(cmd, "cmd");
		long id = (long)jsonl_int(cmd, "id");
		if (!strcmp(what, "connect") && !started) {
			started = do_connect(cmd, id);
		} else if (!started) {
			jsonl_error(id, "closed", "not connected");
		} else if (!strcmp(what, "subscribe") || !strcmp(what, "unsubscribe")) {
			do_subscribe(cmd, id, what[0] == 'u');
		} else if (!strcmp(what, "publish")) {
			do_publish(cmd, id);
		} else if (!strcmp(what, "disconnect")) {
			MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
			/* Not connected: nothing is sent, and "ok" would claim it was. */
			int rc = MQTTAsync_disconnect(g.client, &d);
			if (rc == MQTTASYNC_SUCCESS)
				jsonl_reply(id, "ok");
			else
				jsonl_error(id, rc == MQTTASYNC_DISCONNECTED ? "not-sent" : "unknown",
				            MQTTAsync_strerror(rc));
		}
		json_decref(cmd);
	}
	if (started) {
		MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
		MQTTAsync_disconnect(g.client, &d);
		sleep_ms(100);
		MQTTAsync_destroy(&g.client);
	}
	return 0;
}
