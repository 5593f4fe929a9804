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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqttsim/codec.h"
#include "capture/replay/captured.h"
#include "capture/mqtt_streams.h"
#include "notes.h"
#include "commands.h"
#include "scenarios/report/chart.h"
#include "scenarios/report/html.h"

enum format { FMT_TEXT, FMT_TSV, FMT_JSON, FMT_HTML };

/* --format html: the chart's lanes, one per client connection, by client id. */
struct chart_streams {
	FILE *events;            /* the chart's events, the run line left for the end */
	char names[CHART_MAX_CLIENTS][64];
	int nnames;
	int conns[CHART_MAX_CLIENTS]; /* connections seen of each name: its lanes */
	struct {
		int client;      /* -1: not yet known; -2: past CHART_MAX_CLIENTS */
		uint64_t off[2];
	} *stream;
	size_t nstreams;
	uint64_t t0_us;
	bool started;
	unsigned dropped;        /* connections of clients past the most a chart holds */
};

struct decoder {
	enum format fmt;
	struct notes notes;   /* the sidecar's annotations, shown in the text form */
	uint64_t last_frame;  /* pdu_in_frame counts within a record */
	unsigned pdu;
	unsigned problems;
	FILE *out;
	struct chart_streams chart;
};

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

/* The annotations of the records before frame (UINT64_MAX: all left), as
 * "note after frame N: [source] text" lines. */
static void show_notes(struct decoder *d, uint64_t frame)
{
	while (d->notes.next < d->notes.n && d->notes.v[d->notes.next].frame < frame) {
		const struct note *nt = &d->notes.v[d->notes.next++];
		fprintf(d->out, "note after frame %llu: [%s] %s\n", (unsigned long long)nt->frame,
		        nt->source, nt->text);
	}
}

/* A stream's lane owner: its CONNECT's client id (else its client port);
 * a new connection of a known client is its next lane. -1: out of room. */
static int chart_client(struct decoder *d, const struct mqtt_stream_packet *sp,
                        const struct mqtt_packet *p, bool decoded, uint64_t t)
{
	struct chart_streams *cs = &d->chart;
	if (sp->stream >= cs->nstreams) {
		size_t n = sp->stream + 16;
		void *grown = realloc(cs->stream, n * sizeof *cs->stream);
		if (!grown)
			return -1;
		cs->stream = grown;
		for (size_t k = cs->nstreams; k < n; k++) {
			cs->stream[k].client = -1;
			cs->stream[k].off[0] = cs->stream[k].off[1] = 0;
		}
		cs->nstreams = n;
	}
	int *who = &cs->stream[sp->stream].client;
	if (*who != -1)
		return *who;
	char name[64];
	if (decoded && p->type == MQTT_CONNECT && p->connect.client_id.len)
		snprintf(name, sizeof name, "%.*s", (int)(p->connect.client_id.len > 60 ? 60 : p->connect.client_id.len),
		         (const char *)p->connect.client_id.data);
	else
		snprintf(name, sizeof name, "port %u", sp->dir == 0 ? sp->sport : sp->dport);
	int k = 0;
	while (k < cs->nnames && strcmp(cs->names[k], name))
		k++;
	if (k == cs->nnames) {
		if (k == CHART_MAX_CLIENTS) {
			cs->dropped++;
			return *who = -2;
		}
		snprintf(cs->names[k], sizeof cs->names[k], "%s", name);
		cs->nnames++;
	}
	*who = k;
	chart_note_process(cs->events, t, k, name, ++cs->conns[k]);
	chart_note_connection(cs->events, t, k, sp->stream + 1);
	return k;
}

/* A packet into the chart: seen once, where the capture was taken, so
 * sent and received at that moment. */
static void chart_packet(struct decoder *d, const struct mqtt_stream_packet *sp,
                         const struct mqtt_packet *p, bool decoded)
{
	struct chart_streams *cs = &d->chart;
	if (!cs->started) {
		cs->started = true;
		cs->t0_us = sp->ts_us;
	}
	uint64_t t = sp->ts_us > cs->t0_us ? (sp->ts_us - cs->t0_us) / 1000 : 0;
	while (d->notes.next < d->notes.n && d->notes.v[d->notes.next].frame < sp->frame) {
		const struct note *nt = &d->notes.v[d->notes.next++];
		char text[460];
		snprintf(text, sizeof text, "[%s] %s", nt->source, nt->text);
		chart_note_mark(cs->events, t, "all", -1, "note", text);
	}
	int who = chart_client(d, sp, p, decoded, t);
	if (who < 0)
		return;
	uint64_t *off = &cs->stream[sp->stream].off[sp->dir];
	chart_note_packet(cs->events, t, who, sp->stream + 1, sp->dir == 0, false, *off, sp->data,
	                  sp->len, false);
	chart_note_packet(cs->events, t, who, sp->stream + 1, sp->dir == 0, true, *off, sp->data,
	                  sp->len, false);
	*off += sp->len;
}

static void chart_closed(void *arg, unsigned stream, int dir, uint64_t frame, uint64_t ts_us)
{
	(void)frame;
	struct decoder *d = arg;
	struct chart_streams *cs = &d->chart;
	if (d->fmt != FMT_HTML || stream >= cs->nstreams || cs->stream[stream].client < 0)
		return;
	char text[80];
	snprintf(text, sizeof text, "connection %u closed by the %s", stream + 1,
	         dir == 0 ? "client" : "broker");
	chart_note_mark(cs->events, ts_us > cs->t0_us ? (ts_us - cs->t0_us) / 1000 : 0, "link",
	                cs->stream[stream].client, "end", text);
}

static void emit(void *arg, const struct mqtt_stream_packet *sp)
{
	struct decoder *d = arg;
	if (d->fmt == FMT_HTML) {
		struct mqtt_packet hp;
		size_t hat = 0;
		enum mqtt_err he = mqtt_decode(&hp, sp->data, sp->len, MQTT_LENIENT, &hat);
		chart_packet(d, sp, &hp, he == MQTT_OK);
		if (he != MQTT_OK && he != MQTT_ERR_PROTOCOL_NAME && he != MQTT_ERR_PROTOCOL_LEVEL) {
			fprintf(stderr, "mqttsim: frame %llu, stream %u: undecodable %s: %s (byte %zu)\n",
			        (unsigned long long)sp->frame, sp->stream, mqtt_type_name(sp->data[0] >> 4),
			        mqtt_strerror(he), hat);
			d->problems++;
		}
		return;
	}
	const uint8_t *b = sp->data;
	size_t n = sp->len;
	unsigned id = sp->stream;
	uint64_t frame = sp->frame;
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
	if (frame != d->last_frame) {
		d->last_frame = frame;
		d->pdu = 0;
	}
	d->pdu++;
	size_t hdr = 1;
	while (hdr < n && hdr < 5 && (b[hdr] & 0x80))
		hdr++;
	hdr++;
	uint32_t remaining = (uint32_t)(n - hdr);
	bool pub = type == MQTT_PUBLISH;
	bool flags_shown = pub || (sp->v31 && (type == MQTT_PUBREL || type == MQTT_SUBSCRIBE ||
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
	uint16_t sport = sp->sport, dport = sp->dport;
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
	show_notes(d, frame);
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
		        (const char *)p.connect.client_id.data, sp->v31 ? " (MQTT 3.1)" : "");
	if (type == MQTT_CONNACK)
		fprintf(o, " code=%u%s", p.connack.return_code, p.connack.flags & 1 ? " session-present" : "");
	if (p.violations)
		fputs(" (not allowed by 3.1.1)", o);
	fputc('\n', o);
}

static void problem(void *arg, const char *text)
{
	struct decoder *d = arg;
	d->problems++;
	fprintf(stderr, "mqttsim: %s\n", text);
}

static const char decode_usage[] =
"Usage: mqttsim decode [--format text|tsv|json|html] [--port N]... [--no-notes] FILE\n"
"Prints one line per MQTT packet of a capture (pcap or pcapng: Ethernet, Linux\n"
"cooked, BSD loopback, raw IP; IPv4 and IPv6), TCP streams reassembled.\n"
"MQTT is found on ports 1883 and 8883, on each --port, and on any stream that\n"
"opens with a CONNECT; MQTT 3.1 too. --format tsv starts with a header line:\n"
"frame pdu_in_frame tcp_stream srcport dstport msgtype msgtype_name dup qos\n"
"retain remaining_len msgid topic payload_len (as tshark's fields would give\n"
"them); json gives every decoded field (never a password). The text form also\n"
"shows the annotations of FILE.jsonl, the sidecar mqttsim's recorders write\n"
"(faults, the broker's log, a scenario's trace), as \"note after frame N:\n"
"[source] text\" lines where they happened (--no-notes: without them).\n"
"--format html writes a page that needs nothing else: the capture as a message\n"
"sequence chart, one lane per client connection (named by its client id), the\n"
"broker's, each packet an arrow (point at it for its fields), the sidecar's\n"
"annotations where they happened (mqttsim decode --format html FILE.pcap >\n"
"chart.html).\n"
"Exit status: 0; 1 when a stream had a gap or undecodable bytes (each named on\n"
"standard error by frame and stream; the rest is still decoded); 2 when the\n"
"file cannot be read or for bad usage.\n";

/* --format html: the run line (the clients are known now), the events
 * after it, drawn as a page on standard output. 0 or 2. */
static int write_chart(struct decoder *d, const char *path)
{
	struct chart_streams *cs = &d->chart;
	int rc = 0;
	char name[] = "/tmp/mqttsim-chart-XXXXXX";
	int fd = mkstemp(name);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		fprintf(stderr, "mqttsim: a temporary file: %s\n", strerror(errno));
		rc = 2;
	} else {
		const char *names[CHART_MAX_CLIENTS];
		for (int k = 0; k < cs->nnames; k++)
			names[k] = cs->names[k];
		char title[600];
		snprintf(title, sizeof title, "capture %s", path);
		chart_note_title(f, title, names, cs->nnames);
		rewind(cs->events);
		char buf[8192];
		size_t n;
		while ((n = fread(buf, 1, sizeof buf, cs->events)) > 0)
			fwrite(buf, 1, n, f);
		char why[600] = "";
		if (fclose(f) != 0)
			snprintf(why, sizeof why, "%s: %s", name, strerror(errno));
		if (*why || report_write_chart(stdout, title, name, why, sizeof why) != 0) {
			fprintf(stderr, "mqttsim: --format html: %s\n", why);
			rc = 2;
		}
		unlink(name);
	}
	if (cs->dropped)
		fprintf(stderr, "mqttsim: %u connections of clients past the first %d are not charted\n",
		        cs->dropped, CHART_MAX_CLIENTS);
	fclose(cs->events);
	free(cs->stream);
	return rc;
}

int mqttsim_decode(int argc, char **argv)
{
	struct decoder d = {.fmt = FMT_TEXT, .out = stdout};
	uint16_t ports[16];
	int nports = 0;
	bool with_notes = true;
	const char *path = NULL;
	for (int i = 2; i < argc; i++) {
		int port = cap_port_option(argc, argv, &i, ports, &nports);
		if (port < 0)
			return 2;
		if (port)
			continue;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(decode_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--no-notes")) {
			with_notes = false;
		} else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
			const char *f = argv[++i];
			if (!strcmp(f, "text"))
				d.fmt = FMT_TEXT;
			else if (!strcmp(f, "tsv"))
				d.fmt = FMT_TSV;
			else if (!strcmp(f, "json"))
				d.fmt = FMT_JSON;
			else if (!strcmp(f, "html"))
				d.fmt = FMT_HTML;
			else
				return fprintf(stderr, "mqttsim: --format is text, tsv, json or html, not %s\n", f), 2;
		} else if (argv[i][0] == '-' || path) {
			return fprintf(stderr, "mqttsim: decode: unexpected %s\n%s", argv[i], decode_usage), 2;
		} else {
			path = argv[i];
		}
	}
	if (!path)
		return fprintf(stderr, "mqttsim: decode needs a capture file\n%s", decode_usage), 2;
	if (d.fmt == FMT_TSV)
		fputs("frame\tpdu_in_frame\ttcp_stream\tsrcport\tdstport\tmsgtype\tmsgtype_name\tdup\tqos\t"
		      "retain\tremaining_len\tmsgid\ttopic\tpayload_len\n", stdout);
	static const struct mqtt_streams_ops ops = {.packet = emit, .closed = chart_closed,
	                                            .problem = problem};
	char err[512];
	if ((d.fmt == FMT_TEXT || d.fmt == FMT_HTML) && with_notes && notes_load(&d.notes, path) < 0)
		return fprintf(stderr, "mqttsim: out of memory reading %s.jsonl\n", path), 2;
	if (d.fmt == FMT_HTML && !(d.chart.events = tmpfile()))
		return fprintf(stderr, "mqttsim: a temporary file: %s\n", strerror(errno)), 2;
	int rc = mqtt_streams_read(path, ports, nports, &ops, &d, err, sizeof err);
	if (d.fmt == FMT_HTML && rc != 2) {
		rc = write_chart(&d, path);
	} else if (d.fmt == FMT_HTML) {
		fclose(d.chart.events);
		free(d.chart.stream);
	}
	show_notes(&d, UINT64_MAX);
	if (d.notes.bad)
		fprintf(stderr, "mqttsim: %s.jsonl: %zu lines that are not annotations, skipped\n", path,
		        d.notes.bad);
	notes_free(&d.notes);
	fflush(stdout);
	if (rc == 2)
		return fprintf(stderr, "mqttsim: %s\n", err), 2;
	return d.problems ? 1 : 0;
}
