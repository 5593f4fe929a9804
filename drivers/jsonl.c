/*
 * jsonl.c - the protocol's lines for the C drivers (see jsonl.h).
 */
#include <pthread.h>
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
