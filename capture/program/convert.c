/*
 * convert.c - mqttsim convert FILE: a captured session as a scenario of
 * the packet-level form (docs/scenarios.md), so that a field capture
 * becomes a regression test of the client library.
 *
 * The captured client becomes a scenario client whose workload (its
 * subscribe, publish and disconnect lines) makes the library send what
 * the captured client sent, and the captured broker becomes the script:
 * `send` for the broker's packets, `expect` for the client's. What the
 * library chooses itself is not pinned: the client's packet identifiers
 * are names (`id=@N`, bound by the expect that sees them), its payloads
 * are the oracle's. Connections of one client identifier stay one
 * scenario client while the broker ended them (the library reconnects by
 * itself); after a DISCONNECT or a connection the client dropped, the
 * next connection is a new scenario client with the same identifier.
 */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/replay/captured.h"
#include "mqttsim/codec.h"
#include "commands.h"
#include "scenarios/lang/scenario.h"

#define STEP_MS 20        /* between the workload lines of a connection */
#define PACKET_MS 5       /* more for each packet between them: time for the exchange */
#define RECONNECT_MS 4000 /* a connection after the broker closed the last: backoff and jitter */

struct sclient {
	char name[SCN_NAME_MAX];
	char id[64];
	unsigned conns;       /* captured connections it stands for */
	bool open;            /* the broker ended its last connection: the library comes back */
	uint64_t next_at;     /* the next workload line's at=, ms */
	char *script;         /* its script lines */
	size_t len, cap;
};

struct converter {
	const struct cap_session *s;
	struct sclient c[SCN_MAX_CLIENTS];
	int nc;
	char *workload;
	size_t wlen, wcap;
	int nsteps;
	char *head;           /* client lines */
	size_t hlen, hcap;
	unsigned left_out;    /* what could not be converted, said in comments */
	uint64_t last_at;
	bool oom;
};

__attribute__((format(printf, 5, 6)))
static void add(struct converter *v, char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || v->oom)
		return;
	if (*len + (size_t)n + 1 > *cap) {
		size_t c = *cap ? *cap : 1024;
		while (c < *len + (size_t)n + 1)
			c *= 2;
		char *b = realloc(*buf, c);
		if (!b) {
			v->oom = true;
			return;
		}
		*buf = b;
		*cap = c;
	}
	va_start(ap, fmt);
	vsnprintf(*buf + *len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	*len += (size_t)n;
}

#define SCRIPT(k, ...) add(v, &(k)->script, &(k)->len, &(k)->cap, __VA_ARGS__)
#define WORK(...) add(v, &v->workload, &v->wlen, &v->wcap, __VA_ARGS__)

/* Whether s can stand as one word of a scenario line (and within max bytes). */
static bool word_safe(struct mqtt_slice s, size_t max)
{
	if (!s.len || s.len >= max)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.data[i] <= ' ' || s.data[i] >= 0x7f || s.data[i] == '=')
			return false;
	return true; /* '#' starts a comment only at the start of a line */
}

static int word_len(struct mqtt_slice s)
{
	return (int)s.len;
}

static const char *word(struct mqtt_slice s)
{
	return (const char *)s.data;
}

static int new_client(struct converter *v, struct mqtt_slice id)
{
	if (v->nc == SCN_MAX_CLIENTS)
		return -1;
	struct sclient *k = &v->c[v->nc];
	memset(k, 0, sizeof *k);
	char base[SCN_NAME_MAX - 4];
	size_t n = 0;
	for (size_t i = 0; i < id.len && n + 1 < sizeof base; i++) {
		uint8_t ch = id.data[i];
		base[n++] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		            (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ? (char)ch : '_';
	}
	base[n] = 0;
	if (!n)
		snprintf(base, sizeof base, "client");
	snprintf(k->name, sizeof k->name, "%s", base);
	for (int tries = 2; ; tries++) {
		bool taken = false;
		for (int i = 0; i < v->nc; i++)
			taken |= !strcmp(v->c[i].name, k->name);
		if (!taken)
			break;
		/* base leaves room for "-" and three digits; tries stays below
		 * SCN_MAX_CLIENTS + 2, and the modulo says so to the compiler
		 * (gcc -O0 and -O1 warned of truncation). */
		snprintf(k->name, sizeof k->name, "%s-%u", base, (unsigned)tries % 1000u);
	}
	if (word_safe(id, sizeof k->id))
		snprintf(k->id, sizeof k->id, "%.*s", word_len(id), word(id));
	return v->nc++;
}

/* The workload line's time: STEP_MS apart within a connection. */
static uint64_t next_at(struct sclient *k)
{
	k->next_at += STEP_MS;
	return k->next_at;
}

static bool step_room(struct converter *v, struct sclient *k, uint64_t frame)
{
	if (v->nsteps < SCN_MAX_STEPS)
		return true;
	SCRIPT(k, "# frame %llu: more than %d workload lines; the rest is left out\n",
	       (unsigned long long)frame, SCN_MAX_STEPS);
	v->left_out++;
	return false;
}

/* The broker's PUBLISH to the client, as a send line. */
static void send_publish(struct converter *v, struct sclient *k, const struct cap_event *e,
                         const struct mqtt_publish *p)
{
	if (!word_safe(p->topic, 128)) {
		if (e->len <= 256) {
			SCRIPT(k, "send hex");
			for (size_t i = 0; i < e->len; i++)
				SCRIPT(k, " %02x", e->data[i]);
			SCRIPT(k, "\n");
		} else {
			SCRIPT(k, "# frame %llu: a PUBLISH whose topic is no scenario word; left out\n",
			       (unsigned long long)e->frame);
			v->left_out++;
		}
		return;
	}
	SCRIPT(k, "send PUBLISH topic=%.*s qos=%u", word_len(p->topic), word(p->topic), p->qos);
	if (p->retain)
		SCRIPT(k, " retain=1");
	if (p->dup)
		SCRIPT(k, " dup=1");
	if (p->qos)
		SCRIPT(k, " id=%u", p->packet_id);
	/* The payload as a word where it can be one; else its longest such
	 * prefix, padded to its size with dots. */
	size_t safe = 0;
	while (safe < p->payload.len && safe < 100 && p->payload.data[safe] > ' ' &&
	       p->payload.data[safe] < 0x7f && p->payload.data[safe] != '=')
		safe++;
	if (safe)
		SCRIPT(k, " payload=%.*s", (int)safe, (const char *)p->payload.data);
	if (safe < p->payload.len)
		SCRIPT(k, " size=%zu", p->payload.len);
	SCRIPT(k, "\n");
	if (safe < p->payload.len)
		SCRIPT(k, "# (frame %llu: its %zu-byte payload spelled as its first %zu bytes and dots)\n",
		       (unsigned long long)e->frame, p->payload.len, safe);
}

/* Finds the broker's answer (SUBACK/UNSUBACK, type) with identifier id after event i. */
static size_t find_answer(const struct converter *v, size_t i, unsigned type, uint16_t id)
{
	const struct cap_session *s = v->s;
	for (size_t j = i + 1; j < s->n; j++) {
		const struct cap_event *e = &s->ev[j];
		if (e->conn != s->ev[i].conn || e->kind != CAP_PACKET || e->dir != 1 ||
		    (unsigned)(e->data[0] >> 4) != type || e->len < 4)
			continue;
		size_t hdr = 1; /* the identifier follows the fixed header */
		while (hdr < e->len && hdr < 5 && (e->data[hdr] & 0x80))
			hdr++;
		hdr++;
		if (hdr + 2 <= e->len && (uint16_t)(e->data[hdr] << 8 | e->data[hdr + 1]) == id)
			return j;
	}
	return SIZE_MAX;
}

/* The library answers the broker's PUBLISH (QoS 1, 2) and PUBREL as its
 * application reads (at once, in a scenario), before its next workload
 * line: the captured client's answer is expected right after. */
static void expect_answer(struct converter *v, struct sclient *k, size_t i, unsigned type,
                          uint16_t id, bool *answered)
{
	const struct cap_session *s = v->s;
	for (size_t j = i + 1; j < s->n; j++) {
		const struct cap_event *e = &s->ev[j];
		if (e->conn != s->ev[i].conn || e->kind != CAP_PACKET || e->dir != 0 || answered[j] ||
		    (unsigned)(e->data[0] >> 4) != type || e->len < 4)
			continue;
		if ((uint16_t)(e->data[2] << 8 | e->data[3]) != id)
			continue;
		answered[j] = true;
		SCRIPT(k, "expect %s id=%u\n", mqtt_type_name(type), id);
		return;
	}
}

static void subscribe(struct converter *v, struct sclient *k, size_t i, const struct mqtt_packet *p,
                      bool *answered)
{
	const struct cap_event *e = &v->s->ev[i];
	bool sub = p->type == MQTT_SUBSCRIBE;
	size_t ans = find_answer(v, i, sub ? MQTT_SUBACK : MQTT_UNSUBACK, p->subscribe.packet_id);
	struct mqtt_packet a;
	bool have = ans != SIZE_MAX &&
	            mqtt_decode(&a, v->s->ev[ans].data, v->s->ev[ans].len, MQTT_LENIENT, NULL) == MQTT_OK;
	if (have)
		answered[ans] = true;
	size_t cursor = 0, n = 0;
	struct mqtt_topic t;
	while (mqtt_topic_next(p, &cursor, &t)) {
		if (!word_safe(t.filter, 128) || !step_room(v, k, e->frame)) {
			SCRIPT(k, "# frame %llu: a filter that is no scenario word; left out\n",
			       (unsigned long long)e->frame);
			v->left_out++;
			n++;
			continue;
		}
		/* The library sends one filter a packet: one exchange each, one code each. */
		uint64_t at = next_at(k);
		if (sub) {
			WORK("subscribe %s %.*s qos=%u at=%llums\n", k->name, word_len(t.filter), word(t.filter),
			     t.qos, (unsigned long long)at);
			SCRIPT(k, "expect SUBSCRIBE topic=%.*s qos=%u id=@%u\n", word_len(t.filter),
			       word(t.filter), t.qos, p->subscribe.packet_id);
			if (have)
				SCRIPT(k, "send SUBACK id=@%u codes=%u\n", p->subscribe.packet_id,
				       n < a.suback.return_codes.len ? a.suback.return_codes.data[n] : 0x80);
		} else {
			WORK("unsubscribe %s %.*s at=%llums\n", k->name, word_len(t.filter), word(t.filter),
			     (unsigned long long)at);
			SCRIPT(k, "expect UNSUBSCRIBE topic=%.*s id=@%u\n", word_len(t.filter), word(t.filter),
			       p->subscribe.packet_id);
			if (have)
				SCRIPT(k, "send UNSUBACK id=@%u\n", p->subscribe.packet_id);
		}
		v->nsteps++;
		v->last_at = at > v->last_at ? at : v->last_at;
		n++;
	}
	if (n > 1)
		SCRIPT(k, "# (frame %llu: %zu filters in one %s; the library sends one a packet)\n",
		       (unsigned long long)e->frame, n, mqtt_type_name(p->type));
}

/* One captured connection into scenario client k's lines. */
static void connection(struct converter *v, struct sclient *k, unsigned conn, bool *answered)
{
	const struct cap_session *s = v->s;
	bool disconnected = false, broker_closed = false, client_closed = false, first = k->conns == 0;
	/* The previous publish line, to count a run of the same one. */
	char last_pub[300] = "";
	size_t last_pub_at = SIZE_MAX, last_pub_end = SIZE_MAX;
	uint64_t run_at = 0;
	unsigned run = 0;
	k->conns++;
	k->next_at = first ? 0 : k->next_at + RECONNECT_MS;
	for (size_t i = 0; i < s->n; i++) {
		const struct cap_event *e = &s->ev[i];
		if (e->conn != conn || answered[i])
			continue;
		if (e->kind == CAP_CLOSE) {
			if (disconnected || broker_closed || client_closed)
				continue;
			if (e->dir == 1) {
				broker_closed = true;
				SCRIPT(k, "close\n");
			} else {
				client_closed = true;
				SCRIPT(k, "# frame %llu: the client closed the connection without DISCONNECT; a "
				       "scenario client does not do that by itself, so its script ends here\n",
				       (unsigned long long)e->frame);
			}
			continue;
		}
		if (disconnected || broker_closed || client_closed)
			continue;
		struct mqtt_packet p;
		enum mqtt_err err = mqtt_decode(&p, e->data, e->len, MQTT_LENIENT, NULL);
		if (err != MQTT_OK && err != MQTT_ERR_PROTOCOL_NAME && err != MQTT_ERR_PROTOCOL_LEVEL) {
			SCRIPT(k, "# frame %llu: an undecodable %s (%s); left out\n", (unsigned long long)e->frame,
			       mqtt_type_name(e->data[0] >> 4), mqtt_strerror(err));
			v->left_out++;
			continue;
		}
		bool from_client = e->dir == 0;
		k->next_at += PACKET_MS;
		switch (p.type) {
		case MQTT_PINGREQ: case MQTT_PINGRESP:
			break; /* keep-alive is not the script's business */
		case MQTT_CONNECT:
			if (!from_client)
				break;
			SCRIPT(k, "expect CONNECT");
			if (first)
				SCRIPT(k, " clean=%d", p.connect.clean_session);
			SCRIPT(k, " keepalive=%u", p.connect.keep_alive);
			if (*k->id)
				SCRIPT(k, " client=%s", k->id);
			SCRIPT(k, "\n");
			/* The library waits for the CONNACK before anything else (a
			 * captured client may have sent on before it came). */
			for (size_t j = i + 1; j < s->n; j++) {
				const struct cap_event *a = &s->ev[j];
				if (a->conn != conn || a->kind != CAP_PACKET || a->dir != 1)
					continue;
				struct mqtt_packet ack;
				if ((a->data[0] >> 4) == MQTT_CONNACK &&
				    mqtt_decode(&ack, a->data, a->len, MQTT_LENIENT, NULL) == MQTT_OK) {
					answered[j] = true;
					SCRIPT(k, "send CONNACK session=%d code=%u\n", ack.connack.flags & 1,
					       ack.connack.return_code);
				}
				break;
			}
			if (first) {
				add(v, &v->head, &v->hlen, &v->hcap, "client %s", k->name);
				if (*k->id && strcmp(k->id, k->name))
					add(v, &v->head, &v->hlen, &v->hcap, " id=%s", k->id);
				add(v, &v->head, &v->hlen, &v->hcap, " clean=%s keepalive=%u",
				    p.connect.clean_session ? "yes" : "no", p.connect.keep_alive);
				if (p.connect.will && word_safe(p.connect.will_topic, 128))
					add(v, &v->head, &v->hlen, &v->hcap, " will=%.*s will-qos=%u%s",
					    word_len(p.connect.will_topic), word(p.connect.will_topic),
					    p.connect.will_qos, p.connect.will_retain ? " will-retain=yes" : "");
				add(v, &v->head, &v->hlen, &v->hcap, "\n");
				if (!*k->id)
					SCRIPT(k, "# (its captured client identifier is no scenario word: not checked)\n");
			}
			break;
		case MQTT_CONNACK:
			SCRIPT(k, "send CONNACK session=%d code=%u\n", p.connack.flags & 1, p.connack.return_code);
			break;
		case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE:
			if (from_client)
				subscribe(v, k, i, &p, answered);
			break;
		case MQTT_PUBLISH:
			if (!from_client) {
				send_publish(v, k, e, &p.publish);
				if (p.publish.qos)
					expect_answer(v, k, i, p.publish.qos == 1 ? MQTT_PUBACK : MQTT_PUBREC,
					              p.publish.packet_id, answered);
				break;
			}
			if (!word_safe(p.publish.topic, 128)) {
				SCRIPT(k, "# frame %llu: a PUBLISH whose topic is no scenario word; left out\n",
				       (unsigned long long)e->frame);
				v->left_out++;
				break;
			}
			if (!p.publish.dup) {
				/* The library publishes it: a workload line, or one more of a run. */
				char line[300];
				snprintf(line, sizeof line, "publish %s %.*s qos=%u%s size=%zu", k->name,
				         word_len(p.publish.topic), word(p.publish.topic), p.publish.qos,
				         p.publish.retain ? " retain=yes" : "", p.publish.payload.len);
				if (last_pub_end == v->wlen && !strcmp(line, last_pub)) {
					/* No other workload line since: the same line, one more. */
					run++;
					v->wlen = last_pub_at;
					WORK("%s count=%u at=%llums every=%ums\n", line, run,
					     (unsigned long long)run_at, STEP_MS);
					last_pub_end = v->wlen;
					k->next_at += STEP_MS;
				} else if (step_room(v, k, e->frame)) {
					run_at = next_at(k);
					snprintf(last_pub, sizeof last_pub, "%s", line);
					last_pub_at = v->wlen;
					run = 1;
					WORK("%s count=1 at=%llums\n", line, (unsigned long long)run_at);
					last_pub_end = v->wlen;
					v->nsteps++;
				}
				v->last_at = k->next_at > v->last_at ? k->next_at : v->last_at;
			}
			SCRIPT(k, "expect PUBLISH qos=%u dup=%d retain=%d topic=%.*s", p.publish.qos,
			       p.publish.dup, p.publish.retain, word_len(p.publish.topic), word(p.publish.topic));
			if (p.publish.qos)
				SCRIPT(k, " id=@%u", p.publish.packet_id);
			SCRIPT(k, "\n");
			break;
		case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBCOMP:
			/* From the broker: the client's identifier, a name; from the client: the broker's, a value. */
			if (from_client)
				SCRIPT(k, "expect %s id=%u\n", mqtt_type_name(p.type), p.ack.packet_id);
			else
				SCRIPT(k, "send %s id=@%u\n", mqtt_type_name(p.type), p.ack.packet_id);
			break;
		case MQTT_PUBREL:
			if (from_client)
				SCRIPT(k, "expect PUBREL id=@%u\n", p.ack.packet_id);
			else {
				SCRIPT(k, "send PUBREL id=%u\n", p.ack.packet_id);
				expect_answer(v, k, i, MQTT_PUBCOMP, p.ack.packet_id, answered);
			}
			break;
		case MQTT_SUBACK: case MQTT_UNSUBACK:
			SCRIPT(k, "# frame %llu: a %s that answers no SUBSCRIBE; left out\n",
			       (unsigned long long)e->frame, mqtt_type_name(p.type));
			v->left_out++;
			break;
		case MQTT_DISCONNECT:
			if (!from_client)
				break;
			if (step_room(v, k, e->frame)) {
				uint64_t at = next_at(k);
				WORK("disconnect %s at=%llums\n", k->name, (unsigned long long)at);
				v->nsteps++;
				v->last_at = at > v->last_at ? at : v->last_at;
			}
			SCRIPT(k, "expect DISCONNECT\n");
			disconnected = true;
			break;
		default:
			break;
		}
	}
	k->open = broker_closed;
}

static const char convert_usage[] =
"Usage: mqttsim convert [--port N]... FILE > NAME.scn\n"
"Turns the MQTT sessions captured in FILE (pcap or pcapng, as decode reads\n"
"them) into a scenario of the packet-level form: each captured client a\n"
"scenario client whose workload makes the library send what it sent, the\n"
"captured broker its script (send for the broker's packets, expect for the\n"
"client's). The client's own packet identifiers are names (id=@N), its\n"
"payloads the oracle's; what cannot be converted is said in comments.\n"
"Run the result with 'mqttsim run' (simulation, or --real).\n"
"Exit status: 0; 1 when the capture had gaps or something was left out (the\n"
"scenario is still written); 2 for a bad file, bad usage, or no MQTT session.\n";

int mqttsim_convert(int argc, char **argv)
{
	const char *path = NULL;
	uint16_t ports[16];
	int nports = 0;
	for (int i = 2; i < argc; i++) {
		int port = cap_port_option(argc, argv, &i, ports, &nports);
		if (port < 0)
			return 2;
		if (port)
			continue;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(convert_usage, stdout);
			return 0;
		}
		if (argv[i][0] == '-' || path)
			return fprintf(stderr, "mqttsim: convert: unexpected %s\n%s", argv[i], convert_usage), 2;
		path = argv[i];
	}
	if (!path)
		return fprintf(stderr, "mqttsim: convert needs a capture file\n%s", convert_usage), 2;
	struct cap_session s;
	char err[512];
	int loaded = cap_session_load(&s, path, ports, nports, stderr, err, sizeof err);
	if (loaded == 2)
		return fprintf(stderr, "mqttsim: %s\n", err), 2;
	struct converter conv = {.s = &s}, *v = &conv;
	bool *answered = calloc(s.n ? s.n : 1, sizeof *answered);
	if (!answered) {
		cap_session_free(&s);
		return fprintf(stderr, "mqttsim: out of memory\n"), 2;
	}
	unsigned made = 0;
	for (unsigned conn = 0; conn < s.nconns; conn++) {
		/* Its CONNECT: the first packet from the client. */
		const struct cap_event *first = NULL;
		for (size_t i = 0; i < s.n && !first; i++)
			if (s.ev[i].conn == conn && s.ev[i].kind == CAP_PACKET && s.ev[i].dir == 0)
				first = &s.ev[i];
		struct mqtt_packet p;
		enum mqtt_err e = first ? mqtt_decode(&p, first->data, first->len, MQTT_LENIENT, NULL)
		                        : MQTT_ERR_TRUNCATED;
		if (!first || (first->data[0] >> 4) != MQTT_CONNECT ||
		    (e != MQTT_OK && e != MQTT_ERR_PROTOCOL_NAME && e != MQTT_ERR_PROTOCOL_LEVEL)) {
			fprintf(stderr, "mqttsim: stream %u: no CONNECT first (the capture began "
			        "mid-connection?); left out\n", first ? first->stream : 0);
			v->left_out++;
			continue;
		}
		/* The library's own reconnect continues a client the broker cut off. */
		int ci = -1;
		for (int j = 0; j < v->nc; j++)
			if (v->c[j].open && *v->c[j].id && p.connect.client_id.len == strlen(v->c[j].id) &&
			    !memcmp(v->c[j].id, p.connect.client_id.data, p.connect.client_id.len))
				ci = j;
		if (ci < 0 && (ci = new_client(v, p.connect.client_id)) < 0) {
			fprintf(stderr, "mqttsim: stream %u: more than %d clients; left out\n", first->stream,
			        SCN_MAX_CLIENTS);
			v->left_out++;
			continue;
		}
		SCRIPT(&v->c[ci], "# stream %u, from frame %llu\n", first->stream,
		       (unsigned long long)first->frame);
		connection(v, &v->c[ci], conn, answered);
		made++;
	}
	int status = 0;
	if (!made) {
		fprintf(stderr, "mqttsim: %s: no MQTT session with a CONNECT in it\n", path);
		status = 2;
	} else if (v->oom) {
		fprintf(stderr, "mqttsim: out of memory\n");
		status = 2;
	} else {
		printf("# Replays %s: its broker side scripted, its clients' workload (mqttsim convert)\n",
		       path);
		fwrite(v->head, 1, v->hlen, stdout);
		printf("limit %llus\n", (unsigned long long)(v->last_at / 1000 + 30));
		if (v->workload)
			fwrite(v->workload, 1, v->wlen, stdout);
		for (int j = 0; j < v->nc; j++) {
			printf("script %s\n", v->c[j].name);
			fwrite(v->c[j].script, 1, v->c[j].len, stdout);
		}
		if (v->left_out)
			fprintf(stderr, "mqttsim: %u things could not be converted (see the comments)\n",
			        v->left_out);
		status = loaded == 1 || v->left_out ? 1 : 0;
	}
	for (int j = 0; j < v->nc; j++)
		free(v->c[j].script);
	free(v->workload), free(v->head), free(answered);
	cap_session_free(&s);
	return status;
}
