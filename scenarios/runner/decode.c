/*
 * decode.c - mqttsim decode FILE: one line per MQTT packet of a capture
 * (capture/reader.h does the reading and the TCP streams; the codec
 * decodes leniently, so MQTT 3.1 and what 3.1.1 forbids still show).
 *
 * A stream is MQTT when one of its ports is 1883, 8883 or one the user
 * names, or when its first bytes from the side that opened it are a
 * CONNECT. Columns as tshark's fields would give them, so that both can
 * be compared: frame (the record that completes the packet), pdu_in_frame,
 * tcp_stream, ports, type, flags, remaining length, identifier, topic,
 * payload length.
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "reader.h"
#include "scenario.h"

enum format { FMT_TEXT, FMT_TSV, FMT_JSON };

#define FRAMER_MAX (4u << 20) /* the largest packet decoded: 4 MiB */

struct half_state {
	struct mqtt_framer f;
	uint8_t *buf;
	bool lost;           /* after a gap or undecodable bytes: nothing more */
	bool seen;           /* any byte yet (CONNECT sniffing looks at the first) */
	uint64_t last_frame; /* the last record that brought bytes */
};

struct stream_state {
	bool known, mqtt;
	uint16_t port[2];
	bool v31;            /* the CONNECT said MQIsdp / level 3 */
	struct half_state h[2];
};

struct decoder {
	enum format fmt;
	uint16_t ports[16];
	int nports;
	struct stream_state *s;
	size_t ns;
	uint64_t last_frame;  /* pdu_in_frame counts within a record */
	unsigned pdu;
	unsigned problems;
	uint64_t packets;
	FILE *out;
};

static struct stream_state *state(struct decoder *d, unsigned id)
{
	if (id >= d->ns) {
		size_t n = id + 16;
		struct stream_state *ns = realloc(d->s, n * sizeof *ns);
		if (!ns)
			return NULL;
		memset(ns + d->ns, 0, (n - d->ns) * sizeof *ns);
		d->s = ns;
		d->ns = n;
	}
	return &d->s[id];
}

static bool mqtt_port(const struct decoder *d, uint16_t p)
{
	if (p == 1883 || p == 8883)
		return true;
	for (int i = 0; i < d->nports; i++)
		if (d->ports[i] == p)
			return true;
	return false;
}

static void on_open(void *arg, unsigned id, uint16_t p0, uint16_t p1)
{
	struct decoder *d = arg;
	struct stream_state *s = state(d, id);
	if (!s)
		return;
	s->known = true;
	s->port[0] = p0;
	s->port[1] = p1;
	s->mqtt = mqtt_port(d, p0) || mqtt_port(d, p1);
}

/* Whether the first bytes from the opening side are a CONNECT. */
static bool looks_like_connect(const uint8_t *b, size_t n)
{
	if (n < 2 || b[0] != 0x10)
		return false;
	size_t at = 1;
	while (at < n && at < 5 && (b[at] & 0x80))
		at++;
	at++;
	if (at + 2 > n)
		return false;
	size_t len = (size_t)b[at] << 8 | b[at + 1];
	return (len == 4 && at + 6 <= n && !memcmp(b + at + 2, "MQTT", 4)) ||
	       (len == 6 && at + 8 <= n && !memcmp(b + at + 2, "MQIsdp", 6));
}

static void json_string(FILE *o, const uint8_t *s, size_t n)
{
	fputc('"', o);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (c == '"' || c == '\\')
			fprintf(o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(o, "\\u%04x", c); /* bytes as code points: lossless */
		else
			fputc(c, o);
	}
	fputc('"', o);
}

static void emit(struct decoder *d, unsigned id, int dir, uint64_t frame, const uint8_t *b, size_t n)
{
	struct stream_state *s = &d->s[id];
	struct mqtt_packet p;
	size_t at = 0;
	enum mqtt_err e = mqtt_decode(&p, b, n, MQTT_LENIENT, &at);
	unsigned type = b[0] >> 4;
	if (e != MQTT_OK && e != MQTT_ERR_PROTOCOL_NAME && e != MQTT_ERR_PROTOCOL_LEVEL) {
		fprintf(stderr, "mqttsim: frame %llu, stream %u: undecodable %s: %s (byte %zu)\n",
		        (unsigned long long)frame, id, mqtt_type_name(type), mqtt_strerror(e), at);
		d->problems++;
		return;
	}
	if (type == MQTT_CONNECT)
		s->v31 = p.connect.protocol_level == 3;
	if (frame != d->last_frame) {
		d->last_frame = frame;
		d->pdu = 0;
	}
	d->pdu++;
	d->packets++;
	size_t hdr = 1;
	while (hdr < n && hdr < 5 && (b[hdr] & 0x80))
		hdr++;
	hdr++;
	uint32_t remaining = (uint32_t)(n - hdr);
	bool pub = type == MQTT_PUBLISH;
	bool flags_shown = pub || (s->v31 && (type == MQTT_PUBREL || type == MQTT_SUBSCRIBE ||
	                                       type == MQTT_UNSUBSCRIBE));
	int dup = (b[0] >> 3) & 1, qos = (b[0] >> 1) & 3, retain = b[0] & 1;
	long id_field = -1;
	switch (type) {
	case MQTT_PUBLISH:
		if (p.publish.qos)
			id_field = p.publish.packet_id;
		break;
	case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP: case MQTT_UNSUBACK:
		id_field = p.ack.packet_id;
		break;
	case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE:
		id_field = p.subscribe.packet_id;
		break;
	case MQTT_SUBACK:
		id_field = p.suback.packet_id;
		break;
	default:
		break;
	}
	uint16_t sport = s->port[dir], dport = s->port[!dir];
	FILE *o = d->out;
	if (d->fmt == FMT_TSV) {
		fprintf(o, "%llu\t%u\t%u\t%u\t%u\t%u\t%s\t", (unsigned long long)frame, d->pdu, id, sport,
		        dport, type, mqtt_type_name(type));
		if (flags_shown)
			fprintf(o, "%d\t%d\t", dup, qos);
		else
			fputs("\t\t", o);
		if (pub)
			fprintf(o, "%d", retain);
		fprintf(o, "\t%u\t", remaining);
		if (id_field >= 0)
			fprintf(o, "%ld", id_field);
		fputc('\t', o);
		if (pub)
			fwrite(p.publish.topic.data, 1, p.publish.topic.len, o);
		fputc('\t', o);
		if (pub)
			fprintf(o, "%zu", p.publish.payload.len);
		fputc('\n', o);
		return;
	}
	if (d->fmt == FMT_JSON) {
		fprintf(o, "{\"frame\":%llu,\"pdu_in_frame\":%u,\"tcp_stream\":%u,\"srcport\":%u,"
		        "\"dstport\":%u,\"msgtype\":%u,\"msgtype_name\":\"%s\",\"remaining_len\":%u",
		        (unsigned long long)frame, d->pdu, id, sport, dport, type, mqtt_type_name(type),
		        remaining);
		if (flags_shown)
			fprintf(o, ",\"dup\":%d,\"qos\":%d", dup, qos);
		if (id_field >= 0)
			fprintf(o, ",\"msgid\":%ld", id_field);
		if (pub) {
			fprintf(o, ",\"retain\":%d,\"topic\":", retain);
			json_string(o, p.publish.topic.data, p.publish.topic.len);
			fprintf(o, ",\"payload_len\":%zu,\"payload\":", p.publish.payload.len);
			json_string(o, p.publish.payload.data, p.publish.payload.len);
		} else if (type == MQTT_CONNECT) {
			fprintf(o, ",\"protocol_level\":%u,\"clean_session\":%s,\"keep_alive\":%u,\"client_id\":",
			        p.connect.protocol_level, p.connect.clean_session ? "true" : "false",
			        p.connect.keep_alive);
			json_string(o, p.connect.client_id.data, p.connect.client_id.len);
			if (p.connect.has_username) {
				fputs(",\"username\":", o);
				json_string(o, p.connect.username.data, p.connect.username.len);
			}
			/* Never the password: captures travel. */
		} else if (type == MQTT_CONNACK) {
			fprintf(o, ",\"session_present\":%s,\"return_code\":%u",
			        p.connack.flags & 1 ? "true" : "false", p.connack.return_code);
		}
		if (p.violations)
			fprintf(o, ",\"violations\":\"%#llx\"", (unsigned long long)p.violations);
		fputs("}\n", o);
		return;
	}
	fprintf(o, "frame %llu stream %u %u->%u %s", (unsigned long long)frame, id, sport, dport,
	        mqtt_type_name(type));
	if (flags_shown)
		fprintf(o, " qos=%d%s", qos, dup ? " dup" : "");
	if (pub && retain)
		fputs(" retain", o);
	if (id_field >= 0)
		fprintf(o, " id=%ld", id_field);
	if (pub)
		fprintf(o, " topic=%.*s (%zu bytes)", (int)p.publish.topic.len,
		        (const char *)p.publish.topic.data, p.publish.payload.len);
	if (type == MQTT_CONNECT)
		fprintf(o, " client=%.*s%s", (int)p.connect.client_id.len,
		        (const char *)p.connect.client_id.data, s->v31 ? " (MQTT 3.1)" : "");
	if (type == MQTT_CONNACK)
		fprintf(o, " code=%u%s", p.connack.return_code, p.connack.flags & 1 ? " session-present" : "");
	if (p.violations)
		fputs(" (not allowed by 3.1.1)", o);
	fputc('\n', o);
}

static void on_data(void *arg, unsigned id, int dir, uint64_t frame, const uint8_t *b, size_t n)
{
	struct decoder *d = arg;
	struct stream_state *s = state(d, id);
	if (!s)
		return;
	struct half_state *h = &s->h[dir];
	if (!h->seen) {
		h->seen = true;
		if (!s->mqtt && dir == 0 && looks_like_connect(b, n))
			s->mqtt = true;
	}
	if (!s->mqtt || h->lost)
		return;
	h->last_frame = frame;
	if (!h->buf) {
		if (!(h->buf = malloc(FRAMER_MAX))) {
			h->lost = true;
			return;
		}
		mqtt_framer_init(&h->f, h->buf, FRAMER_MAX);
	}
	while (n) {
		size_t used;
		struct mqtt_frame fr;
		enum mqtt_err e = mqtt_framer_feed(&h->f, b, n, &used, &fr);
		if (e != MQTT_OK) {
			fprintf(stderr, "mqttsim: frame %llu, stream %u: bytes that do not frame as MQTT "
			        "(%s); the rest of this direction is skipped\n", (unsigned long long)frame, id,
			        mqtt_strerror(e));
			d->problems++;
			h->lost = true;
			return;
		}
		b += used;
		n -= used;
		if (fr.len)
			emit(d, id, dir, frame, fr.data, fr.len);
	}
}

static void on_gap(void *arg, unsigned id, int dir, uint64_t frame, uint32_t missing)
{
	struct decoder *d = arg;
	struct stream_state *s = state(d, id);
	if (!s || !s->mqtt || s->h[dir].lost)
		return;
	fprintf(stderr, "mqttsim: frame %llu, stream %u: %u bytes missing from the capture before it; "
	        "the rest of this direction is skipped\n", (unsigned long long)frame, id, missing);
	d->problems++;
	s->h[dir].lost = true;
}

static const char decode_usage[] =
"Usage: mqttsim decode [--format text|tsv|json] [--port N]... FILE\n"
"Prints one line per MQTT packet of a capture (pcap or pcapng: Ethernet, Linux\n"
"cooked, BSD loopback, raw IP; IPv4 and IPv6), TCP streams reassembled.\n"
"MQTT is found on ports 1883 and 8883, on each --port, and on any stream that\n"
"opens with a CONNECT; MQTT 3.1 too. --format tsv starts with a header line:\n"
"frame pdu_in_frame tcp_stream srcport dstport msgtype msgtype_name dup qos\n"
"retain remaining_len msgid topic payload_len (as tshark's fields would give\n"
"them); json gives every decoded field (never a password).\n"
"Exit status: 0; 1 when a stream had a gap or undecodable bytes (each named on\n"
"standard error by frame and stream; the rest is still decoded); 2 when the\n"
"file cannot be read or for bad usage.\n";

int mqttsim_decode(int argc, char **argv)
{
	struct decoder d = {.fmt = FMT_TEXT, .out = stdout};
	const char *path = NULL;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(decode_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
			const char *f = argv[++i];
			if (!strcmp(f, "text"))
				d.fmt = FMT_TEXT;
			else if (!strcmp(f, "tsv"))
				d.fmt = FMT_TSV;
			else if (!strcmp(f, "json"))
				d.fmt = FMT_JSON;
			else
				return fprintf(stderr, "mqttsim: --format is text, tsv or json, not %s\n", f), 2;
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			char *end;
			long p = strtol(argv[++i], &end, 10);
			if (*end || p < 1 || p > 65535 || d.nports == 16)
				return fprintf(stderr, "mqttsim: --port takes 1 to 65535 (16 at most), not %s\n",
				               argv[i]), 2;
			d.ports[d.nports++] = (uint16_t)p;
		} else if (argv[i][0] == '-' || path) {
			return fprintf(stderr, "mqttsim: decode: unexpected %s\n%s", argv[i], decode_usage), 2;
		} else {
			path = argv[i];
		}
	}
	if (!path)
		return fprintf(stderr, "mqttsim: decode needs a capture file\n%s", decode_usage), 2;
	struct capture *c;
	char err[512];
	if (capture_open(&c, path, err, sizeof err) != 0)
		return fprintf(stderr, "mqttsim: %s\n", err), 2;
	static const struct tcp_streams_ops ops = {on_data, on_gap, on_open};
	struct tcp_streams *t = tcp_streams_new(&ops, &d);
	if (!t) {
		capture_close(c);
		return 2;
	}
	if (d.fmt == FMT_TSV)
		fputs("frame\tpdu_in_frame\ttcp_stream\tsrcport\tdstport\tmsgtype\tmsgtype_name\tdup\tqos\t"
		      "retain\tremaining_len\tmsgid\ttopic\tpayload_len\n", stdout);
	struct tcp_segment seg;
	int rc;
	uint64_t last = 0;
	int status = 0;
	while ((rc = capture_next(c, &seg, err, sizeof err)) == 1) {
		last = seg.frame;
		if (tcp_streams_add(t, &seg) != 0) {
			fprintf(stderr, "mqttsim: out of memory at frame %llu\n", (unsigned long long)last);
			status = 2;
			break;
		}
	}
	if (rc < 0) {
		fprintf(stderr, "mqttsim: %s: %s (what came before is decoded)\n", path, err);
		d.problems++;
	}
	tcp_streams_finish(t, last);
	tcp_streams_free(t);
	capture_close(c);
	for (size_t i = 0; i < d.ns; i++)
		for (int k = 0; k < 2; k++) {
			struct half_state *h = &d.s[i].h[k];
			if (h->buf && !h->lost && h->f.have) {
				/* A packet begun and never finished: bytes that did not decode. */
				fprintf(stderr, "mqttsim: frame %llu, stream %zu: %zu bytes of a packet that the "
				        "capture ends before it is complete\n", (unsigned long long)h->last_frame,
				        i, h->f.have);
				d.problems++;
			}
			free(h->buf);
		}
	free(d.s);
	fflush(stdout);
	return status ? status : d.problems ? 1 : 0;
}
