/*
 * control.c - the fakebroker program's control commands: one JSON
 * object a line in, one JSON object a line out (see docs/control.md).
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "mqttsim/codec.h"

#define PACKETS_MAX_DEFAULT 1000u
#define PACKETS_MAX_LIMIT 100000u

__attribute__((format(printf, 1, 2)))
static json_t *error_reply(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static json_t *ok_reply(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static const char *client_arg(json_t *req)
{
	return json_string_value(json_object_get(req, "client"));
}

static char *hex_of(const uint8_t *b, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(len * 2 + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[b[i] >> 4];
		s[2 * i + 1] = digits[b[i] & 15];
	}
	s[len * 2] = 0;
	return s;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Adds the decoded fields a test most often asserts on. */
static void add_decoded(json_t *o, const struct mqtt_broker_record *r)
{
	struct mqtt_packet p;
	if (mqtt_decode(&p, r->bytes, r->len, MQTT_STRICT, NULL) != MQTT_OK) {
		json_object_set_new(o, "malformed", json_true());
		return;
	}
	switch (p.type) {
	case MQTT_PUBLISH: {
		json_object_set_new(o, "topic", json_stringn((const char *)p.publish.topic.data,
		                                             p.publish.topic.len));
		json_object_set_new(o, "qos", json_integer(p.publish.qos));
		json_object_set_new(o, "dup", json_boolean(p.publish.dup));
		json_object_set_new(o, "retain", json_boolean(p.publish.retain));
		if (p.publish.qos)
			json_object_set_new(o, "packet_id", json_integer(p.publish.packet_id));
		/* The payload as text when it is UTF-8, always as hex. */
		if (mqtt_check_utf8(p.publish.payload.data, p.publish.payload.len, NULL) == MQTT_OK)
			json_object_set_new(o, "payload", json_stringn((const char *)p.publish.payload.data,
			                                               p.publish.payload.len));
		char *h = hex_of(p.publish.payload.data, p.publish.payload.len);
		if (h)
			json_object_set_new(o, "payload_hex", json_string(h));
		free(h);
		break;
	}
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		json_object_set_new(o, "packet_id", json_integer(p.ack.packet_id));
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE: {
		json_object_set_new(o, "packet_id", json_integer(p.subscribe.packet_id));
		json_t *filters = json_array();
		size_t cursor = 0;
		struct mqtt_topic t;
		while (mqtt_topic_next(&p, &cursor, &t))
			json_array_append_new(filters, json_stringn((const char *)t.filter.data, t.filter.len));
		json_object_set_new(o, "filters", filters);
		break;
	}
	case MQTT_SUBACK: {
		json_object_set_new(o, "packet_id", json_integer(p.suback.packet_id));
		json_t *codes = json_array();
		for (size_t i = 0; i < p.suback.return_codes.len; i++)
			json_array_append_new(codes, json_integer(p.suback.return_codes.data[i]));
		json_object_set_new(o, "return_codes", codes);
		break;
	}
	case MQTT_CONNACK:
		json_object_set_new(o, "return_code", json_integer(p.connack.return_code));
		json_object_set_new(o, "session_present", json_boolean(p.connack.flags & 1));
		break;
	case MQTT_CONNECT:
		json_object_set_new(o, "client_id", json_stringn((const char *)p.connect.client_id.data,
		                                                 p.connect.client_id.len));
		json_object_set_new(o, "clean_session", json_boolean(p.connect.clean_session));
		json_object_set_new(o, "keep_alive", json_integer(p.connect.keep_alive));
		break;
	default:
		break;
	}
}

static json_t *packets(struct mqtt_broker *b, json_t *req)
{
	json_int_t since = json_integer_value(json_object_get(req, "since"));
	json_int_t max = json_integer_value(json_object_get(req, "max"));
	if (since < 0 || max < 0)
		return error_reply("since and max are 0 or more");
	size_t limit = max ? (size_t)max : PACKETS_MAX_DEFAULT;
	if (limit > PACKETS_MAX_LIMIT)
		limit = PACKETS_MAX_LIMIT;
	struct mqtt_broker_record *recs = malloc(limit * sizeof *recs);
	if (!recs)
		return error_reply("out of memory");
	size_t n = mqtt_broker_records(b, (uint64_t)since, recs, limit);
	json_t *list = json_array();
	uint64_t last = (uint64_t)since;
	for (size_t i = 0; i < n; i++) {
		const struct mqtt_broker_record *r = &recs[i];
		char *h = hex_of(r->bytes, r->len);
		json_t *o = json_pack("{s:I, s:I, s:i, s:s, s:s, s:s, s:I, s:s}",
		                      "seq", (json_int_t)r->seq, "time_ms", (json_int_t)r->time,
		                      "conn", (int)r->conn, "dir", r->dir == MQTT_C2B ? "c2b" : "b2c",
		                      "type", r->type ? mqtt_type_name(r->type) : "RAW",
		                      "client", r->client_id, "len", (json_int_t)r->len,
		                      "hex", h ? h : "");
		free(h);
		if (r->type)
			add_decoded(o, r);
		json_array_append_new(list, o);
		last = r->seq;
	}
	free(recs);
	return json_pack("{s:b, s:o, s:I}", "ok", 1, "packets", list, "last", (json_int_t)last);
}

static json_t *stats(struct mqtt_broker *b)
{
	struct mqtt_broker_stats s;
	mqtt_broker_stats(b, &s);
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ok", 1,
	                 "connections", (json_int_t)s.connections,
	                 "connections_total", (json_int_t)s.connections_total,
	                 "sessions", (json_int_t)s.sessions, "packets_in", (json_int_t)s.packets_in,
	                 "packets_out", (json_int_t)s.packets_out,
	                 "messages_in", (json_int_t)s.messages_in,
	                 "messages_out", (json_int_t)s.messages_out,
	                 "messages_dropped", (json_int_t)s.messages_dropped,
	                 "retained", (json_int_t)s.retained,
	                 "protocol_errors", (json_int_t)s.protocol_errors);
}

static json_t *rules(struct mqtt_broker *b)
{
	int need = mqtt_broker_rules_format(b, NULL, 0);
	char *text = malloc((size_t)need + 1);
	if (!text)
		return error_reply("out of memory");
	mqtt_broker_rules_format(b, text, (size_t)need + 1);
	json_t *list = json_array();
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		json_array_append_new(list, json_string(line));
	free(text);
	return json_pack("{s:b, s:o}", "ok", 1, "rules", list);
}

static json_t *send_hex(struct mqtt_broker *b, json_t *req)
{
	const char *client = client_arg(req);
	const char *hex = json_string_value(json_object_get(req, "hex"));
	if (!client || !hex)
		return error_reply("send needs \"client\" and \"hex\"");
	size_t len = strlen(hex);
	if (len == 0 || len % 2)
		return error_reply("hex needs an even number of digits, at least 2");
	uint8_t *bytes = malloc(len / 2);
	if (!bytes)
		return error_reply("out of memory");
	for (size_t i = 0; i < len / 2; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(bytes);
			return error_reply("hex has a character that is not a hex digit");
		}
		bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	int rc = mqtt_broker_send_raw(b, client, bytes, len / 2);
	free(bytes);
	return rc == 0 ? ok_reply() : error_reply("client %s is not connected", client);
}

static json_t *execute(struct mqtt_fakebroker *fb, json_t *req, bool *shutdown)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (!cmd)
		return error_reply("expected an object with \"cmd\"");
	if (strcmp(cmd, "shutdown") == 0) {
		*shutdown = true;
		return ok_reply();
	}
	if (strcmp(cmd, "ping") == 0)
		return ok_reply();
	json_t *reply = NULL;
	struct mqtt_broker *b = mqtt_fakebroker_lock(fb);
	if (strcmp(cmd, "rule") == 0) {
		const char *text = json_string_value(json_object_get(req, "rule"));
		char err[256];
		int id = text ? mqtt_broker_rule(b, text, err, sizeof err) : -1;
		if (!text)
			reply = error_reply("rule needs \"rule\": the rule's text");
		else if (id < 0)
			reply = error_reply("%s", err);
		else
			reply = json_pack("{s:b, s:i}", "ok", 1, "id", id);
	} else if (strcmp(cmd, "unrule") == 0) {
		json_int_t id = json_integer_value(json_object_get(req, "id"));
		reply = mqtt_broker_rule_remove(b, (int)id) == 0 ? ok_reply()
		                                                 : error_reply("no rule with id %lld", (long long)id);
	} else if (strcmp(cmd, "rules") == 0) {
		reply = rules(b);
	} else if (strcmp(cmd, "kick") == 0 || strcmp(cmd, "stop-reading") == 0) {
		const char *client = client_arg(req);
		if (!client)
			reply = error_reply("%s needs \"client\"", cmd);
		else if ((cmd[0] == 'k' ? mqtt_broker_kick(b, client) : mqtt_broker_stop_reading(b, client)) != 0)
			reply = error_reply("client %s is not connected", client);
		else
			reply = ok_reply();
	} else if (strcmp(cmd, "send") == 0) {
		reply = send_hex(b, req);
	} else if (strcmp(cmd, "packets") == 0) {
		reply = packets(b, req);
	} else if (strcmp(cmd, "stats") == 0) {
		reply = stats(b);
	} else {
		reply = error_reply("unknown command %s; expected rule, unrule, rules, kick, send, "
		                    "stop-reading, packets, stats, ping or shutdown", cmd);
	}
	mqtt_fakebroker_unlock(fb);
	return reply;
}

char *control_exec(struct mqtt_fakebroker *fb, const char *line, bool *shutdown)
{
	json_error_t jerr;
	json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	json_t *reply;
	if (!req) {
		char msg[300];
		snprintf(msg, sizeof msg, "column %d: %s", jerr.column, jerr.text);
		reply = error_reply("not JSON: %s", msg);
	} else if (!json_is_object(req)) {
		reply = error_reply("expected a JSON object");
	} else {
		reply = execute(fb, req, shutdown);
	}
	json_t *echo = req && json_is_object(req) ? json_object_get(req, "tag") : NULL;
	if (echo && reply)
		json_object_set(reply, "tag", echo); /* lets a caller match replies */
	char *out = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	json_decref(reply);
	json_decref(req);
	return out;
}
