/*
 * mqttsim_client.c - the driver of mqttsim's own threaded client
 * (docs/drivers.md): JSON lines on standard input and output.
 *
 * What the scenario runner's --real does in its client processes, over
 * the driver protocol: the client keeps its session in a file-system
 * store in $MQTTSIM_STORE_DIR (adopted when the process starts again),
 * retries a publish while the window is full, as an application does,
 * and acknowledges a message when the next read comes (the client's
 * contract). Commands are taken on the main thread; reads, completions
 * and connection news come from threads of their own.
 *
 *     mqttsim run --client-cmd build/bin/mqttsim-client-driver FILE.scn
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jsonl.h"
#include "mqttsim/client.h"

struct pending {
	struct mqtt_exchange *ex;
	long id;
};

static struct {
	pthread_mutex_t lock;         /* pend, reads */
	pthread_cond_t wake;
	struct mqtt_client *client;
	struct pending *pend;
	size_t npend, cap;
	long reads[64];               /* read commands waiting, in order */
	int nreads;
	bool stop;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void error_event(long id, const char *cls, struct mqtt_error e)
{
	char why[200];
	jsonl_error(id, cls, mqtt_error_text(e, why, sizeof why));
}

static void warn(void *arg, const char *text)
{
	(void)arg;
	jsonl_log(text);
}

/* The connection, watched for its CONNACK (session present) and its end. */
struct watched {
	struct mqtt_conn inner;
	uint8_t connack[4];
	size_t got;
};

static ssize_t w_read(void *self, void *buf, size_t len)
{
	struct watched *w = self;
	ssize_t n = w->inner.ops->read(w->inner.self, buf, len);
	if (n > 0 && w->got < sizeof w->connack) {
		size_t k = sizeof w->connack - w->got < (size_t)n ? sizeof w->connack - w->got : (size_t)n;
		memcpy(w->connack + w->got, buf, k);
		w->got += k;
		if (w->got == sizeof w->connack && w->connack[0] == 0x20 && w->connack[3] == 0)
			jsonl_emit(json_pack("{s:s, s:b}", "event", "connected", "session_present",
			               w->connack[2] & 1));
	}
	return n;
}

static int w_pending(void *self)
{
	struct watched *w = self;
	return w->inner.ops->pending ? w->inner.ops->pending(w->inner.self) : 0;
}

static ssize_t w_writev(void *self, const struct iovec *iov, int iovcnt)
{
	struct watched *w = self;
	return w->inner.ops->writev(w->inner.self, iov, iovcnt);
}

static void w_close(void *self)
{
	struct watched *w = self;
	bool was_online = w->got == sizeof w->connack;
	w->inner.ops->close(w->inner.self);
	free(w);
	if (was_online)
		jsonl_emit(json_pack("{s:s}", "event", "connection_lost"));
}

static const struct mqtt_conn_ops watched_ops = {w_read, w_writev, w_pending, w_close, NULL, NULL};

static int w_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	struct mqtt_dialer *inner = arg;
	struct watched *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	int rc = inner->dial(inner->arg, &w->inner, timeout_ms);
	if (rc) {
		free(w);
		return rc;
	}
	*out = (struct mqtt_conn){&watched_ops, w, w->inner.fd};
	return 0;
}

static void w_free(void *arg)
{
	struct mqtt_dialer *inner = arg;
	if (inner->free)
		inner->free(inner->arg);
	free(inner);
}

static void *reader(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&g.lock);
		while (!g.nreads && !g.stop)
			pthread_cond_wait(&g.wake, &g.lock);
		bool stop = g.stop;
		pthread_mutex_unlock(&g.lock);
		if (stop)
			return NULL;
		/* A read returns a message; the next read acknowledges it. */
		struct mqtt_message msg = {0};
		uint8_t *payload = NULL;
		struct mqtt_error e = mqtt_client_read(g.client, &msg);
		if (e.cls == MQTT_BIG_MESSAGE && msg.topic.data)
			e = mqtt_client_read_all(g.client, &msg, &payload);
		if (e.cls == MQTT_CLOSED)
			return NULL;
		if (e.cls == MQTT_DOWN) {
			mqtt_client_backoff(g.client, NULL);
			continue;
		}
		if (e.cls != MQTT_SUCCESS) {
			char why[200];
			jsonl_log(mqtt_error_text(e, why, sizeof why));
			free(payload);
			continue;
		}
		pthread_mutex_lock(&g.lock);
		long id = g.reads[0];
		memmove(g.reads, g.reads + 1, (size_t)--g.nreads * sizeof *g.reads);
		pthread_mutex_unlock(&g.lock);
		jsonl_message(id, msg.topic.data, msg.topic.len, msg.payload.data, msg.payload.len, msg.qos,
		              msg.dup, msg.retain);
		free(payload);
	}
}

static void *completions(void *arg)
{
	(void)arg;
	int efd = mqtt_client_event_fd(g.client);
	for (;;) {
		struct pollfd p = {efd, POLLIN, 0};
		if (efd >= 0 && poll(&p, 1, 50) > 0) {
			uint64_t count;
			if (read(efd, &count, sizeof count) < 0 && errno != EAGAIN)
				return NULL;
		} else if (efd < 0) {
			struct timespec t = {0, 50 * 1000000};
			nanosleep(&t, NULL);
		}
		pthread_mutex_lock(&g.lock);
		if (g.stop) {
			pthread_mutex_unlock(&g.lock);
			return NULL;
		}
		for (size_t i = 0; i < g.npend;) {
			if (mqtt_exchange_state(g.pend[i].ex) == MQTT_EXCHANGE_DONE) {
				jsonl_reply(g.pend[i].id, "completed");
				mqtt_exchange_release(g.pend[i].ex);
				g.pend[i] = g.pend[--g.npend];
			} else {
				i++;
			}
		}
		pthread_mutex_unlock(&g.lock);
	}
}

static struct mqtt_store store;
static bool has_store;
static char will_topic[256], will_payload[64], client_id[256];

/* "tcp://HOST:PORT" or "unix:PATH" into a dialer. */
static int dialer_of(struct mqtt_dialer *out, const char *address)
{
	if (!strncmp(address, "unix:", 5))
		return mqtt_dialer_unix(out, address + 5);
	const char *hp = address + 6, *colon = strrchr(address, ':');
	char host[256];
	if (strncmp(address, "tcp://", 6) != 0 || !colon || colon < hp ||
	    (size_t)(colon - hp) >= sizeof host)
		return -1;
	bool bracketed = *hp == '[' && colon[-1] == ']';
	snprintf(host, sizeof host, "%.*s", (int)(colon - hp) - (bracketed ? 2 : 0), hp + bracketed);
	return mqtt_dialer_tcp(out, host, colon + 1);
}

static void do_connect(json_t *cmd, long id)
{
	const char *address = json_string_value(json_object_get(cmd, "address"));
	struct mqtt_dialer *inner = calloc(1, sizeof *inner);
	if (!address || !inner || dialer_of(inner, address) != 0) {
		jsonl_error(id, "refused", "expected address tcp://HOST:PORT or unix:PATH");
		free(inner);
		return;
	}
	struct mqtt_client_config cfg = {.dialer = {w_dial, w_free, inner}};
	struct mqtt_session_config *s = &cfg.session;
	snprintf(client_id, sizeof client_id, "%s",
	         jsonl_str(cmd, "client_id"));
	s->client_id = mqtt_slice_str(client_id);
	s->clean_session = json_is_true(json_object_get(cmd, "clean_session"));
	s->keep_alive = (uint16_t)jsonl_int(cmd, "keep_alive");
	s->ack_timeout_ms = (uint32_t)json_integer_value(json_object_get(cmd, "ack_timeout_ms"));
	s->pause_timeout_ms = (uint32_t)json_integer_value(json_object_get(cmd, "pause_timeout_ms"));
	unsigned window = (unsigned)json_integer_value(json_object_get(cmd, "inflight_max"));
	s->at_least_once_max = s->exactly_once_max = window;
	s->reconnect_wait_min_ms = 200;
	s->reconnect_wait_max_ms = 5000;
	json_t *will = json_object_get(cmd, "will");
	if (json_is_object(will)) {
		snprintf(will_topic, sizeof will_topic, "%s",
		         jsonl_str(will, "topic"));
		snprintf(will_payload, sizeof will_payload, "%s",
		         jsonl_str(will, "payload"));
		s->will = true;
		s->will_topic = mqtt_slice_str(will_topic);
		s->will_message = mqtt_slice_str(will_payload);
		s->will_qos = (uint8_t)json_integer_value(json_object_get(will, "qos"));
		s->will_retain = json_is_true(json_object_get(will, "retain"));
	}
	/* The session lives in the store: a process that finds one there goes on with it. */
	const char *dir = getenv("MQTTSIM_STORE_DIR");
	enum mqtt_session_mode mode = MQTT_SESSION_VOLATILE;
	if (dir && *dir) {
		char sdir[1024], mark[1100];
		snprintf(sdir, sizeof sdir, "%s/store", dir);
		snprintf(mark, sizeof mark, "%s/started", dir);
		mkdir(sdir, 0700);
		mode = access(mark, F_OK) == 0 ? MQTT_SESSION_ADOPT : MQTT_SESSION_INIT;
		if (mqtt_store_fs(&store, sdir) != 0) {
			jsonl_error(id, "refused", "cannot open the store");
			return;
		}
		has_store = true;
		FILE *f = fopen(mark, "w");
		if (f)
			fclose(f);
	}
	struct mqtt_error e = mqtt_client_new(&g.client, &cfg, mode, has_store ? &store : NULL, warn, NULL);
	if (e.cls) {
		error_event(id, "refused", e);
		return;
	}
	pthread_t rt, ct;
	pthread_create(&rt, NULL, reader, NULL);
	pthread_detach(rt);
	pthread_create(&ct, NULL, completions, NULL);
	pthread_detach(ct);
	jsonl_reply(id, "ok");
}

static void do_subscribe(json_t *cmd, long id, bool unsubscribe)
{
	struct mqtt_topic f = {mqtt_slice_str(jsonl_str(cmd, "topic")),
	                       (uint8_t)json_integer_value(json_object_get(cmd, "qos"))};
	for (;;) {
		mqtt_client_wait_online(g.client, NULL);
		uint8_t granted = f.qos;
		struct mqtt_error e = unsubscribe ? mqtt_client_unsubscribe(g.client, NULL, &f, 1)
		                                  : mqtt_client_subscribe_codes(g.client, NULL, &f, 1, &granted);
		if (e.cls == MQTT_SUCCESS) {
			if (unsubscribe)
				jsonl_reply(id, "ok");
			else
				jsonl_emit(json_pack("{s:I, s:s, s:i}", "id", (json_int_t)id, "event", "ok",
				                     "granted", granted));
			return;
		}
		if (e.cls != MQTT_DOWN && e.cls != MQTT_BREAK && e.cls != MQTT_ABANDONED && e.cls != MQTT_MAX) {
			error_event(id, "refused", e);
			return;
		}
		struct timespec t = {0, 10 * 1000000}; /* the connection went meanwhile: again once online */
		nanosleep(&t, NULL);
	}
}

static void do_publish(json_t *cmd, long id)
{
	const char *topic = jsonl_str(cmd, "topic"), *payload = jsonl_str(cmd, "payload");
	uint8_t qos = (uint8_t)json_integer_value(json_object_get(cmd, "qos"));
	bool retain = json_is_true(json_object_get(cmd, "retain"));
	struct mqtt_exchange *ex = NULL;
	struct mqtt_error e;
	for (;;) {
		e = mqtt_client_publish(g.client, NULL, qos, retain, mqtt_slice_str(topic),
		                        mqtt_slice_str(payload), qos ? &ex : NULL);
		/* The window is full, or offline at QoS 0: the application tries again. */
		if (e.cls == MQTT_MAX) {
			struct timespec t = {0, 1000000};
			nanosleep(&t, NULL);
		} else if (e.cls == MQTT_DOWN) {
			mqtt_client_wait_online(g.client, NULL);
		} else {
			break;
		}
	}
	if (e.cls != MQTT_SUCCESS) {
		error_event(id, "not-sent", e);
		return;
	}
	pthread_mutex_lock(&g.lock);
	jsonl_reply(id, "ok");
	if (ex) {
		if (g.npend == g.cap) {
			size_t cap = g.cap ? g.cap * 2 : 64;
			struct pending *np = realloc(g.pend, cap * sizeof *np);
			if (np) {
				g.pend = np;
				g.cap = cap;
			}
		}
		if (g.npend < g.cap)
			g.pend[g.npend++] = (struct pending){ex, id};
		else
			mqtt_exchange_release(ex);
	}
	pthread_mutex_unlock(&g.lock);
}

/* A read command (-1: input ended), for the reader thread. */
static void on_read(long id)
{
	pthread_mutex_lock(&g.lock);
	if (id >= 0 && g.nreads < 64)
		g.reads[g.nreads++] = id;
	pthread_cond_broadcast(&g.wake);
	pthread_mutex_unlock(&g.lock);
}

int main(void)
{
	jsonl_emit(json_pack("{s:s, s:s, s:s, s:[sss]}", "event", "hello", "driver", "mqttsim_client.c",
	                     "library", "libmqttsim", "capabilities", "persistence", "ack-timeout",
	                     "pause-timeout"));
	jsonl_start(on_read);
	json_t *cmd;
	while ((cmd = jsonl_next())) {
		const char *what = jsonl_str(cmd, "cmd");
		long id = (long)jsonl_int(cmd, "id");
		if (!strcmp(what, "connect") && !g.client)
			do_connect(cmd, id);
		else if (!g.client)
			jsonl_error(id, "closed", "not connected");
		else if (!strcmp(what, "subscribe") || !strcmp(what, "unsubscribe"))
			do_subscribe(cmd, id, what[0] == 'u');
		else if (!strcmp(what, "publish"))
			do_publish(cmd, id);
		else if (!strcmp(what, "disconnect")) {
			/* "ok" only for a DISCONNECT written: the runner checks the
			 * claim against the client's bytes (docs/drivers.md). */
			struct mqtt_error e = mqtt_client_disconnect(g.client, NULL);
			if (e.cls == MQTT_SUCCESS)
				jsonl_reply(id, "ok");
			else
				error_event(id, e.cls == MQTT_IO || e.cls == MQTT_CANCELED ? "unknown"
				                : e.cls == MQTT_CLOSED ? "closed" : "not-sent", e);
		}
		json_decref(cmd);
	}
	if (g.client) {
		mqtt_client_close(g.client);
		pthread_mutex_lock(&g.lock);
		g.stop = true;
		pthread_cond_broadcast(&g.wake);
		pthread_mutex_unlock(&g.lock);
	}
	return 0; /* the threads end with the process */
}
