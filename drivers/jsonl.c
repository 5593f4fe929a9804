/*
 * jsonl.c - the protocol's lines for the C drivers (see jsonl.h).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"

static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;

void jsonl_emit(json_t *ev)
{
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!text)
		return;
	pthread_mutex_lock(&out);
	fputs(text, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_unlock(&out);
	free(text);
}

void jsonl_reply(long id, const char *event)
{
	jsonl_emit(json_pack("{s:I, s:s}", "id", (json_int_t)id, "event", event));
}

void jsonl_error(long id, const char *cls, const char *text)
{
	jsonl_emit(json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "event", "error", "class", cls,
	                     "text", text));
}

void jsonl_log(const char *text)
{
	jsonl_emit(json_pack("{s:s, s:s}", "event", "log", "text", text));
}

static char *ascii(const uint8_t *s, size_t len)
{
	char *o = malloc(len + 1);
	if (!o)
		return NULL;
	for (size_t i = 0; i < len; i++)
		o[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	o[len] = 0;
	return o;
}

void jsonl_message(long id, const uint8_t *topic, size_t topic_len, const uint8_t *payload,
                   size_t payload_len, int qos, int dup, int retain)
{
	char *t = ascii(topic, topic_len), *p = ascii(payload, payload_len);
	if (t && p)
		jsonl_emit(json_pack("{s:I, s:s, s:s, s:s, s:i, s:b, s:b}", "id", (json_int_t)id, "event",
		                     "message", "topic", t, "payload", p, "qos", qos, "dup", dup, "retain",
		                     retain));
	free(t);
	free(p);
}

const char *jsonl_str(json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v ? v : "";
}

long long jsonl_int(json_t *obj, const char *key)
{
	return (long long)json_integer_value(json_object_get(obj, key));
}

int jsonl_tcp_address(const char *address, char *host, size_t hostcap, int *port)
{
	const char *hp = address + 6, *colon = strrchr(address, ':');
	if (strncmp(address, "tcp://", 6) != 0 || !colon || colon < hp ||
	    (size_t)(colon - hp) >= hostcap)
		return -1;
	int bracketed = *hp == '[' && colon[-1] == ']';
	snprintf(host, hostcap, "%.*s", (int)(colon - hp) - (bracketed ? 2 : 0), hp + bracketed);
	*port = atoi(colon + 1);
	return *port > 0 ? 0 : -1;
}

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	json_t *items[1024];
	int head, n;
	bool end;
	void (*on_read)(long id);
} q = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};

static void *input(void *arg)
{
	(void)arg;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, stdin) > 0) {
		json_error_t jerr;
		json_t *cmd = json_loads(line, 0, &jerr);
		const char *what = jsonl_str(cmd, "cmd");
		if (!strcmp(what, "read")) {
			q.on_read((long)jsonl_int(cmd, "id"));
			json_decref(cmd);
			continue;
		}
		pthread_mutex_lock(&q.lock);
		if (*what && q.n < 1024) {
			q.items[(q.head + q.n++) % 1024] = cmd;
			pthread_cond_signal(&q.more);
		} else {
			json_decref(cmd);
		}
		pthread_mutex_unlock(&q.lock);
	}
	free(line);
	pthread_mutex_lock(&q.lock);
	q.end = true;
	pthread_cond_broadcast(&q.more);
	pthread_mutex_unlock(&q.lock);
	q.on_read(-1); /* no more reads: whoever waits for one stops waiting */
	return NULL;
}

void jsonl_start(void (*on_read)(long id))
{
	q.on_read = on_read;
	pthread_t t;
	if (pthread_create(&t, NULL, input, NULL) == 0)
		pthread_detach(t);
}

json_t *jsonl_next(void)
{
	pthread_mutex_lock(&q.lock);
	while (!q.n && !q.end)
		pthread_cond_wait(&q.more, &q.lock);
	json_t *cmd = NULL;
	if (q.n) {
		cmd = q.items[q.head];
		q.head = (q.head + 1) % 1024;
		q.n--;
	}
	pthread_mutex_unlock(&q.lock);
	return cmd;
}
