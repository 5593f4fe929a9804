/*
 * chart_record.c - a run's chart events, written as they happen: one JSON
 * object a line (the format is in docs/reports.md).
 */
#include <stdio.h>
#include <string.h>

#include "chart.h"
#include "mqttsim/codec.h"

/* s[0..n) as a JSON string; bytes that are not printable ASCII as \u00XX
 * (a payload is bytes, not text). */
static void json_bytes(FILE *f, const uint8_t *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_str(FILE *f, const char *s)
{
	json_bytes(f, (const uint8_t *)s, strlen(s));
}

void chart_note_run(FILE *f, const struct scenario *s, uint64_t seed)
{
	if (!f)
		return;
	fputs("{\"ev\":\"run\",\"scenario\":", f);
	json_str(f, s->path);
	fprintf(f, ",\"seed\":%llu,\"clients\":[", (unsigned long long)seed);
	for (int i = 0; i < s->nclients; i++) {
		if (i)
			fputc(',', f);
		json_str(f, s->clients[i].name);
	}
	fputs("]}\n", f);
}

void chart_note_title(FILE *f, const char *title, const char *const *names, int n)
{
	if (!f)
		return;
	fputs("{\"ev\":\"run\",\"scenario\":", f);
	json_str(f, title);
	fputs(",\"seed\":0,\"clients\":[", f);
	for (int i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		json_str(f, names[i]);
	}
	fputs("]}\n", f);
}

void chart_note_process(FILE *f, uint64_t t, int client, const char *name, int incarnation)
{
	if (!f)
		return;
	fprintf(f, "{\"t\":%llu,\"ev\":\"process\",\"client\":%d,\"inc\":%d,\"name\":",
	        (unsigned long long)t, client, incarnation);
	json_str(f, name);
	fputs("}\n", f);
}

void chart_note_connection(FILE *f, uint64_t t, int client, uint32_t conn)
{
	if (f)
		fprintf(f, "{\"t\":%llu,\"ev\":\"conn\",\"client\":%d,\"conn\":%u}\n",
		        (unsigned long long)t, client, conn);
}

/* A slice's bytes for "%.*s", at most 64 of them (its data may be NULL when empty). */
#define SHOWN(x) (int)((x).len > 64 ? 64 : (x).len), (const char *)((x).data ? (x).data : (const uint8_t *)"")

/* What a packet says beyond its type, identifier and PUBLISH fields. */
static void packet_detail(FILE *f, const struct mqtt_packet *p)
{
	char d[400] = "";
	size_t used = 0;
	switch (p->type) {
	case MQTT_CONNECT: {
		const struct mqtt_connect *c = &p->connect;
		used += (size_t)snprintf(d, sizeof d, "client id %.*s, clean session %d, keep-alive %us",
		                         SHOWN(c->client_id), c->clean_session, c->keep_alive);
		if (c->will && used < sizeof d)
			snprintf(d + used, sizeof d - used, ", will on %.*s at QoS %u%s", SHOWN(c->will_topic),
			         c->will_qos, c->will_retain ? ", retained" : "");
		break;
	}
	case MQTT_CONNACK:
		snprintf(d, sizeof d, "session present %d, return code %u",
		         p->connack.flags & MQTT_CONNACK_SESSION_PRESENT, p->connack.return_code);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE: {
		size_t cursor = 0;
		struct mqtt_topic t;
		while (mqtt_topic_next(p, &cursor, &t) && used < sizeof d - 80)
			used += (size_t)(p->type == MQTT_SUBSCRIBE
			                     ? snprintf(d + used, sizeof d - used, "%s%.*s at QoS %u",
			                                used ? ", " : "", SHOWN(t.filter), t.qos)
			                     : snprintf(d + used, sizeof d - used, "%s%.*s", used ? ", " : "",
			                                SHOWN(t.filter)));
		break;
	}
	case MQTT_SUBACK:
		for (size_t i = 0; i < p->suback.return_codes.len && used < sizeof d - 16; i++)
			used += (size_t)snprintf(d + used, sizeof d - used, "%scode %#x", i ? ", " : "",
			                         p->suback.return_codes.data[i]);
		break;
	default:
		break;
	}
	if (*d) {
		fputs(",\"detail\":", f);
		json_str(f, d);
	}
}

void chart_note_packet(FILE *f, uint64_t t, int client, uint32_t conn, bool to_broker, bool received,
                       uint64_t offset, const uint8_t *packet, size_t len, bool corrupted)
{
	if (!f || !len)
		return;
	fprintf(f, "{\"t\":%llu,\"ev\":\"%s\",\"client\":%d,\"conn\":%u,\"dir\":\"%s\",\"off\":%llu,"
	        "\"len\":%zu", (unsigned long long)t, received ? "recv" : "send", client, conn,
	        to_broker ? "c2b" : "b2c", (unsigned long long)offset, len);
	if (corrupted)
		fputs(",\"corrupted\":true", f);
	struct mqtt_packet p;
	size_t at = 0;
	if (mqtt_decode(&p, packet, len, MQTT_LENIENT, &at) != MQTT_OK) {
		fprintf(f, ",\"type\":\"%s\",\"undecodable\":true}\n", mqtt_type_name(packet[0] >> 4));
		return;
	}
	fprintf(f, ",\"type\":\"%s\"", mqtt_type_name(p.type));
	switch (p.type) {
	case MQTT_PUBLISH: {
		const struct mqtt_publish *pub = &p.publish;
		fprintf(f, ",\"qos\":%u,\"dup\":%s,\"retain\":%s", pub->qos, pub->dup ? "true" : "false",
		        pub->retain ? "true" : "false");
		if (pub->qos)
			fprintf(f, ",\"id\":%u", pub->packet_id);
		fputs(",\"topic\":", f);
		json_bytes(f, pub->topic.data, pub->topic.len > 96 ? 96 : pub->topic.len);
		fputs(",\"payload\":", f);
		json_bytes(f, pub->payload.data, pub->payload.len > 32 ? 32 : pub->payload.len);
		fprintf(f, ",\"payload_len\":%zu", pub->payload.len);
		break;
	}
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		fprintf(f, ",\"id\":%u", p.ack.packet_id);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		fprintf(f, ",\"id\":%u", p.subscribe.packet_id);
		break;
	case MQTT_SUBACK:
		fprintf(f, ",\"id\":%u", p.suback.packet_id);
		break;
	default:
		break;
	}
	packet_detail(f, &p);
	fputs("}\n", f);
}

void chart_note_mark(FILE *f, uint64_t t, const char *lane, int client, const char *kind,
                     const char *text)
{
	if (!f)
		return;
	fprintf(f, "{\"t\":%llu,\"ev\":\"mark\",\"lane\":\"%s\",\"client\":%d,\"kind\":\"%s\",\"text\":",
	        (unsigned long long)t, lane, client, kind);
	json_str(f, text);
	fputs("}\n", f);
}

void chart_note_verdict(FILE *f, const struct scenario *s, const struct scn_result *r)
{
	if (!f)
		return;
	/* The violation that decided the verdict: the failed expectation's,
	 * or, in a run that passed, the one it expected and caught. */
	int decisive = -1;
	if (!r->passed && r->failed_expect >= 0 && !s->expects[r->failed_expect].violation &&
	    r->violated[s->expects[r->failed_expect].what])
		decisive = (int)s->expects[r->failed_expect].what;
	for (int e = 0; r->passed && decisive < 0 && e < s->nexpects; e++)
		if (s->expects[e].violation && r->violated[s->expects[e].what])
			decisive = (int)s->expects[e].what;
	for (int i = 1; i < SCN_INVARIANT_COUNT; i++) {
		if (!r->violated[i])
			continue;
		const struct scn_where *w = &r->where[i];
		fprintf(f, "{\"t\":%llu,\"ev\":\"violation\",\"guarantee\":\"%s\",\"decisive\":%s,"
		        "\"at_end\":%s,\"client\":%d,\"step\":%d,\"seq\":%lld,\"text\":",
		        (unsigned long long)w->at_ms, scn_invariant_name((enum scn_invariant)i),
		        i == decisive ? "true" : "false", w->at_end ? "true" : "false", w->client, w->step,
		        (long long)w->seq);
		json_str(f, r->first[i]);
		fputs("}\n", f);
	}
	fprintf(f, "{\"ev\":\"verdict\",\"passed\":%s,\"virtual_ms\":%llu,\"why\":",
	        r->passed ? "true" : "false", (unsigned long long)r->virtual_ms);
	json_str(f, r->passed ? "" : r->why);
	fputs("}\n", f);
}
