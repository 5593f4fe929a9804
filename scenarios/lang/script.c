/*
 * script.c - the packet-level form: parsing a step, and running a
 * client's steps against what it sends (script.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "script.h"

/* ---- parsing ---- */

static bool word_is(const struct scn_word *w, const char *s)
{
	return strlen(s) == w->len && !memcmp(w->s, s, w->len);
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool small_number(const char *s, size_t len, long max, long *out)
{
	long v = 0;
	if (!len || len > 6)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

__attribute__((format(printf, 5, 6)))
static int bad_word(int *bad, int index, char *why, size_t cap, const char *fmt, ...);
static int bad_word(int *bad, int index, char *why, size_t cap, const char *fmt, ...)
{
	*bad = index;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -1;
}

int pscript_parse_packet(struct scn_pkt *p, const struct scn_word *w, int n, int *bad, char *why,
                        size_t whycap)
{
	p->qos = p->dup = p->retain = p->clean = p->session = p->code = p->keepalive = -1;
	if (n < 1)
		return bad_word(bad, -1, why, whycap, "expected a packet type (CONNECT, PUBLISH, ...), "
		                "any, or hex BYTES");
	if (word_is(&w[0], "hex")) {
		for (int i = 1; i < n; i++) {
			if (w[i].len % 2)
				return bad_word(bad, i, why, whycap, "hex bytes come in pairs of digits");
			for (size_t k = 0; k < w[i].len; k += 2) {
				int hi = hex_digit(w[i].s[k]), lo = hex_digit(w[i].s[k + 1]);
				if (hi < 0 || lo < 0)
					return bad_word(bad, i, why, whycap, "not a hex digit");
				if (p->raw_len == sizeof p->raw)
					return bad_word(bad, i, why, whycap, "at most %zu bytes", sizeof p->raw);
				p->raw[p->raw_len++] = (uint8_t)(hi << 4 | lo);
			}
		}
		if (!p->raw_len)
			return bad_word(bad, 0, why, whycap, "hex needs the packet's bytes");
		return 0;
	}
	if (word_is(&w[0], "any")) {
		p->type = PKT_ANY;
	} else {
		for (unsigned t = 1; t <= 14; t++)
			if (word_is(&w[0], mqtt_type_name(t)))
				p->type = (uint8_t)t;
		if (!p->type)
			return bad_word(bad, 0, why, whycap, "unknown packet type %.*s; expected CONNECT, "
			                "CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, "
			                "UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, any or hex",
			                (int)w[0].len, w[0].s);
	}
	for (int i = 1; i < n; i++) {
		const char *eq = memchr(w[i].s, '=', w[i].len);
		if (!eq)
			return bad_word(bad, i, why, whycap, "expected key=value");
		size_t klen = (size_t)(eq - w[i].s);
		const char *v = eq + 1;
		size_t vlen = w[i].len - klen - 1;
		struct scn_word k = {w[i].s, klen, w[i].col};
		long x;
		int *flag = word_is(&k, "qos") ? &p->qos : word_is(&k, "dup") ? &p->dup
		            : word_is(&k, "retain") ? &p->retain : word_is(&k, "clean") ? &p->clean
		            : word_is(&k, "session") ? &p->session : NULL;
		if (flag) {
			if (!small_number(v, vlen, flag == &p->qos ? 2 : 1, &x))
				return bad_word(bad, i, why, whycap, "%.*s= is %s", (int)klen, k.s,
				                flag == &p->qos ? "0, 1 or 2" : "0 or 1");
			*flag = (int)x;
		} else if (word_is(&k, "code") || word_is(&k, "keepalive")) {
			if (!small_number(v, vlen, word_is(&k, "code") ? 255 : 65535, &x))
				return bad_word(bad, i, why, whycap, "%.*s= needs a number", (int)klen, k.s);
			*(word_is(&k, "code") ? &p->code : &p->keepalive) = (int)x;
		} else if (word_is(&k, "id")) {
			struct scn_word vw = {v, vlen, 0};
			if (word_is(&vw, "last"))
				p->id_mode = PKT_ID_LAST;
			else if (word_is(&vw, "same"))
				p->id_mode = PKT_ID_SAME;
			else if (small_number(v, vlen, 65535, &x) && x)
				p->id_mode = PKT_ID_VALUE, p->id = (uint16_t)x;
			else if (vlen > 1 && v[0] == '@' && small_number(v + 1, vlen - 1, 65535, &x))
				p->id_mode = PKT_ID_TAG, p->id = (uint16_t)x;
			else
				return bad_word(bad, i, why, whycap, "id= is 1 to 65535, last (the last "
				                "packet's), same (the last PUBLISH's) or @N (a name)");
		} else if (word_is(&k, "size")) {
			if (!small_number(v, vlen, SCN_SEND_SIZE_MAX, &x))
				return bad_word(bad, i, why, whycap, "size= is 0 to %d bytes", SCN_SEND_SIZE_MAX);
			p->size = (uint32_t)x;
		} else if (word_is(&k, "topic") || word_is(&k, "payload") || word_is(&k, "client")) {
			char *dst = k.s[0] == 't' ? p->topic : k.s[0] == 'p' ? p->payload : p->client_id;
			size_t cap = k.s[0] == 'c' ? sizeof p->client_id : sizeof p->topic;
			if (vlen >= cap)
				return bad_word(bad, i, why, whycap, "%.*s= is at most %zu bytes", (int)klen, k.s,
				                cap - 1);
			memcpy(dst, v, vlen);
			dst[vlen] = 0;
			*(k.s[0] == 't' ? &p->has_topic : k.s[0] == 'p' ? &p->has_payload : &p->has_client_id) = true;
		} else if (word_is(&k, "codes")) {
			p->ncodes = 0;
			for (size_t at = 0; at < vlen;) {
				size_t len = 0;
				while (at + len < vlen && v[at + len] != ',')
					len++;
				if (p->ncodes == 8 || !small_number(v + at, len, 255, &x) ||
				    (x > 2 && x != 0x80))
					return bad_word(bad, i, why, whycap, "codes= is up to 8 of 0, 1, 2 or 128, "
					                "comma-separated");
				p->codes[p->ncodes++] = (uint8_t)x;
				at += len + 1;
			}
		} else {
			return bad_word(bad, i, why, whycap, "unknown field %.*s (qos=, dup=, retain=, id=, "
			                "topic=, payload=, size=, client=, clean=, session=, code=, keepalive=, codes=)",
			                (int)klen, k.s);
		}
	}
	return 0;
}

/* ---- running ---- */

#define CONNS 4

struct conn_state {
	uint32_t conn; /* 0: unused */
	bool open;
	struct mqtt_framer f;
	uint8_t *fbuf;   /* SCN_FRAME_MAX, made on first use */
};

struct script_run {
	const struct scn_pkt *steps;
	int *order; /* indices of this client's steps */
	int n, at;
	struct conn_state cs[CONNS];
	uint32_t current;
	uint8_t *out;
	size_t out_len, out_sent, out_cap;
	uint32_t *tags;  /* id=@N: N -> identifier + 1; made on first use */
	bool close_wanted;
	uint32_t close_conn;
	bool waiting;
	uint64_t wait_until;
	uint16_t last_id, publish_id;
	char failure[400];
};

struct script_run *pscript_new(const struct scn_pkt *steps, int n, int client)
{
	struct script_run *r = calloc(1, sizeof *r);
	if (!r || !(r->order = malloc((size_t)(n ? n : 1) * sizeof *r->order))) {
		free(r);
		return NULL;
	}
	r->steps = steps;
	for (int i = 0; i < n; i++)
		if (steps[i].client == client)
			r->order[r->n++] = i;
	return r;
}

void pscript_free(struct script_run *r)
{
	if (!r)
		return;
	for (int i = 0; i < CONNS; i++)
		free(r->cs[i].fbuf);
	free(r->order);
	free(r->out);
	free(r->tags);
	free(r);
}

/* Room for n more bytes of output; false (and the run failed) without. */
static bool out_room(struct script_run *r, size_t n, unsigned line);

/* The identifier bound to name tag: -1 when none. */
static long tag_get(const struct script_run *r, uint16_t tag)
{
	return r->tags && r->tags[tag] ? (long)r->tags[tag] - 1 : -1;
}

static void tag_set(struct script_run *r, uint16_t tag, uint16_t id)
{
	if (!r->tags && !(r->tags = calloc(65536, sizeof *r->tags)))
		return;
	r->tags[tag] = (uint32_t)id + 1;
}

static const struct scn_pkt *step_at(const struct script_run *r)
{
	return r->at < r->n ? &r->steps[r->order[r->at]] : NULL;
}

__attribute__((format(printf, 2, 3)))
static void fail(struct script_run *r, const char *fmt, ...)
{
	if (*r->failure)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->failure, sizeof r->failure, fmt, ap);
	va_end(ap);
}

static struct conn_state *conn_of(struct script_run *r, uint32_t conn)
{
	for (int i = 0; i < CONNS; i++)
		if (r->cs[i].conn == conn)
			return &r->cs[i];
	return NULL;
}

/* A step's packet in the words of the script, for messages. */
static void describe(const struct scn_pkt *p, char *buf, size_t cap)
{
	if (p->raw_len) {
		size_t at = (size_t)snprintf(buf, cap, "hex");
		for (size_t i = 0; i < p->raw_len && at + 4 < cap; i++)
			at += (size_t)snprintf(buf + at, cap - at, " %02x", p->raw[i]);
		return;
	}
	size_t at = (size_t)snprintf(buf, cap, "%s", p->type == PKT_ANY ? "any packet" : mqtt_type_name(p->type));
	const char *names[] = {"qos", "dup", "retain", "clean", "session", "code", "keepalive"};
	const int values[] = {p->qos, p->dup, p->retain, p->clean, p->session, p->code, p->keepalive};
	for (int i = 0; i < 7 && at < cap; i++)
		if (values[i] >= 0)
			at += (size_t)snprintf(buf + at, cap - at, " %s=%d", names[i], values[i]);
	if (at < cap && p->id_mode == PKT_ID_VALUE)
		at += (size_t)snprintf(buf + at, cap - at, " id=%u", p->id);
	else if (at < cap && p->id_mode == PKT_ID_TAG)
		at += (size_t)snprintf(buf + at, cap - at, " id=@%u", p->id);
	else if (at < cap && p->id_mode != PKT_ID_NONE)
		at += (size_t)snprintf(buf + at, cap - at, " id=%s", p->id_mode == PKT_ID_LAST ? "last" : "same");
	if (at < cap && p->has_topic)
		at += (size_t)snprintf(buf + at, cap - at, " topic=%s", p->topic);
}

static bool out_room(struct script_run *r, size_t n, unsigned line)
{
	if (r->out_len + n <= r->out_cap)
		return true;
	size_t cap = r->out_cap ? r->out_cap : 4096;
	while (cap < r->out_len + n)
		cap *= 2;
	uint8_t *o = realloc(r->out, cap);
	if (!o) {
		fail(r, "line %u: out of memory for what the script sends", line);
		return false;
	}
	r->out = o;
	r->out_cap = cap;
	return true;
}

static void send_packet(struct script_run *r, const struct scn_pkt *p)
{
	if (p->raw_len) {
		if (out_room(r, p->raw_len, p->line)) {
			memcpy(r->out + r->out_len, p->raw, p->raw_len);
			r->out_len += p->raw_len;
		}
		return;
	}
	struct mqtt_packet k = {.type = (enum mqtt_type)p->type};
	/* Encoded leniently (a script may lie), so the flags 3.1.1 requires
	 * are set here: 0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE [MQTT-2.2.2-1]. */
	if (k.type == MQTT_PUBREL || k.type == MQTT_SUBSCRIBE || k.type == MQTT_UNSUBSCRIBE)
		k.flags = 0x02;
	uint16_t id = p->id_mode == PKT_ID_VALUE ? p->id : p->id_mode == PKT_ID_SAME ? r->publish_id
	              : r->last_id;
	if (p->id_mode == PKT_ID_TAG) {
		long bound = tag_get(r, p->id);
		if (bound < 0) {
			fail(r, "line %u: id=@%u names no identifier yet (no expect has bound it)", p->line,
			     p->id);
			return;
		}
		id = (uint16_t)bound;
	}
	uint8_t *padded = NULL;
	switch (k.type) {
	case MQTT_CONNACK:
		k.connack.flags = p->session == 1 ? MQTT_CONNACK_SESSION_PRESENT : 0;
		k.connack.return_code = p->code > 0 ? (uint8_t)p->code : 0;
		break;
	case MQTT_PUBLISH:
		k.publish.qos = p->qos > 0 ? (uint8_t)p->qos : 0;
		k.publish.dup = p->dup == 1;
		k.publish.retain = p->retain == 1;
		k.publish.topic = mqtt_slice_str(p->topic);
		k.publish.payload = mqtt_slice_str(p->payload);
		if (p->size > k.publish.payload.len) {
			/* size=: the payload given, then dots up to the size (a big message, spelled short). */
			if (!(padded = malloc(p->size))) {
				fail(r, "line %u: out of memory", p->line);
				return;
			}
			memcpy(padded, p->payload, k.publish.payload.len);
			memset(padded + k.publish.payload.len, '.', p->size - k.publish.payload.len);
			k.publish.payload = (struct mqtt_slice){padded, p->size};
		}
		k.publish.packet_id = k.publish.qos ? (p->id_mode == PKT_ID_VALUE || p->id_mode == PKT_ID_TAG
		                                       ? id : 1) : 0;
		break;
	case MQTT_SUBACK:
		k.suback.packet_id = id;
		k.suback.return_codes = (struct mqtt_slice){p->codes, (size_t)(p->ncodes ? p->ncodes : 1)};
		break;
	default:
		k.ack.packet_id = id;
		break;
	}
	/* What the script says goes out, checked or not: a script may lie. */
	size_t need = mqtt_encoded_size(&k), len = 0;
	if (need && out_room(r, need, p->line)) {
		if (mqtt_encode(r->out + r->out_len, need, &k, MQTT_LENIENT, &len) == MQTT_OK)
			r->out_len += len;
		else
			need = 0;
	}
	if (!need)
		fail(r, "line %u: cannot encode that %s", p->line, mqtt_type_name(p->type));
	free(padded);
}

/* Runs the steps that need no input: sends, closes, waits that are over. */
static void advance(struct script_run *r, uint64_t now)
{
	const struct scn_pkt *p;
	while (!*r->failure && (p = step_at(r))) {
		if (p->op == PKT_SEND) {
			send_packet(r, p);
		} else if (p->op == PKT_CLOSE) {
			r->close_wanted = true;
			r->close_conn = r->current;
		} else if (p->op == PKT_WAIT) {
			if (!r->waiting) {
				r->waiting = true;
				r->wait_until = now + p->ms;
			}
			if (now < r->wait_until)
				return;
			r->waiting = false;
		} else {
			return; /* an expectation: input first */
		}
		r->at++;
	}
}

static bool text_is(struct mqtt_slice s, const char *want)
{
	size_t n = strlen(want);
	if (n && want[n - 1] == '*') /* a prefix */
		return s.len >= n - 1 && !memcmp(s.data, want, n - 1);
	return s.len == n && !memcmp(s.data, want, n);
}

/* Whether packet (its bytes b, decoded k) is what p expects; why when not. */
static bool matches(struct script_run *r, const struct scn_pkt *p, const uint8_t *b, size_t len,
                    const struct mqtt_packet *k, bool decoded, char *why, size_t cap)
{
	if (p->raw_len) {
		if (len == p->raw_len && !memcmp(b, p->raw, len))
			return true;
		size_t at = (size_t)snprintf(why, cap, "got");
		for (size_t i = 0; i < len && at + 8 < cap; i++)
			at += (size_t)snprintf(why + at, cap - at, " %02x", b[i]);
		return false;
	}
	if (!decoded) {
		snprintf(why, cap, "got an undecodable %s", mqtt_type_name(b[0] >> 4));
		return false;
	}
	if (p->type != PKT_ANY && k->type != p->type) {
		snprintf(why, cap, "got %s", mqtt_type_name(k->type));
		return false;
	}
	uint16_t id = k->type == MQTT_PUBLISH ? k->publish.packet_id
	              : k->type == MQTT_SUBSCRIBE || k->type == MQTT_UNSUBSCRIBE ? k->subscribe.packet_id
	              : k->type == MQTT_SUBACK ? k->suback.packet_id : k->ack.packet_id;
	const char *name = mqtt_type_name(k->type);
	if (k->type == MQTT_PUBLISH) {
		const struct mqtt_publish *q = &k->publish;
		if ((p->qos >= 0 && q->qos != p->qos) || (p->dup >= 0 && q->dup != p->dup) ||
		    (p->retain >= 0 && q->retain != p->retain)) {
			snprintf(why, cap, "got PUBLISH qos=%u dup=%d retain=%d", q->qos, q->dup, q->retain);
			return false;
		}
		if (p->has_topic && !text_is(q->topic, p->topic)) {
			snprintf(why, cap, "got PUBLISH topic=%.*s", (int)q->topic.len, (const char *)q->topic.data);
			return false;
		}
		if (p->has_payload && !text_is(q->payload, p->payload)) {
			snprintf(why, cap, "got PUBLISH payload=%.*s", (int)(q->payload.len < 40 ? q->payload.len : 40),
			         (const char *)q->payload.data);
			return false;
		}
	} else if (k->type == MQTT_CONNECT) {
		const struct mqtt_connect *c = &k->connect;
		if ((p->clean >= 0 && c->clean_session != p->clean) ||
		    (p->keepalive >= 0 && c->keep_alive != p->keepalive) ||
		    (p->has_client_id && !text_is(c->client_id, p->client_id))) {
			snprintf(why, cap, "got CONNECT clean=%d keepalive=%u client=%.*s", c->clean_session,
			         c->keep_alive, (int)c->client_id.len, (const char *)c->client_id.data);
			return false;
		}
	} else if ((k->type == MQTT_SUBSCRIBE || k->type == MQTT_UNSUBSCRIBE) && (p->has_topic || p->qos >= 0)) {
		size_t cursor = 0;
		struct mqtt_topic t;
		if (!mqtt_topic_next(k, &cursor, &t) || (p->has_topic && !text_is(t.filter, p->topic)) ||
		    (p->qos >= 0 && t.qos != p->qos)) {
			snprintf(why, cap, "got %s of another filter or QoS", name);
			return false;
		}
	}
	bool starts = k->type == MQTT_PUBLISH || k->type == MQTT_SUBSCRIBE || k->type == MQTT_UNSUBSCRIBE;
	long bound = p->id_mode == PKT_ID_TAG && !starts ? tag_get(r, p->id) : -1;
	if ((p->id_mode == PKT_ID_VALUE && id != p->id) || (p->id_mode == PKT_ID_LAST && id != r->last_id) ||
	    (p->id_mode == PKT_ID_SAME && id != r->publish_id) || (bound >= 0 && id != bound)) {
		snprintf(why, cap, "got %s id=%u", name, id);
		return false;
	}
	return true;
}

static void packet(struct script_run *r, uint32_t conn, uint64_t now, const uint8_t *b, size_t len)
{
	struct mqtt_packet k;
	bool decoded = mqtt_decode(&k, b, len, MQTT_LENIENT, NULL) == MQTT_OK;
	const struct scn_pkt *p = step_at(r);
	if (decoded && k.type == MQTT_PINGREQ && !(p && p->op == PKT_EXPECT && p->type == MQTT_PINGREQ)) {
		/* Keep-alive is not the script's business: answered, unless expected. */
		if (conn == r->current && out_room(r, 2, p ? p->line : 0)) {
			r->out[r->out_len++] = 0xd0;
			r->out[r->out_len++] = 0x00;
		}
		return;
	}
	if (!p || *r->failure)
		return; /* after the script's end, what comes is not judged */
	char want[200], why[200];
	describe(p, want, sizeof want);
	if (p->op == PKT_EXPECT_CLOSE) {
		fail(r, "line %u: expected the client to close the connection, %s", p->line,
		     decoded ? mqtt_type_name(k.type) : "got bytes");
		return;
	}
	if (!matches(r, p, b, len, &k, decoded, why, sizeof why)) {
		fail(r, "line %u: expected %s, %s", p->line, want, why);
		return;
	}
	if (decoded) {
		uint16_t id = k.type == MQTT_PUBLISH ? k.publish.packet_id
		              : k.type == MQTT_SUBSCRIBE || k.type == MQTT_UNSUBSCRIBE ? k.subscribe.packet_id
		              : k.type == MQTT_CONNECT || k.type == MQTT_PINGREQ || k.type == MQTT_DISCONNECT ? 0
		              : k.ack.packet_id;
		if (id)
			r->last_id = id;
		if (k.type == MQTT_PUBLISH && id)
			r->publish_id = id;
		if (id && p->id_mode == PKT_ID_TAG)
			tag_set(r, p->id, id);
	}
	r->at++;
	advance(r, now);
}

void pscript_connected(struct script_run *r, uint32_t conn, uint64_t now)
{
	struct conn_state *cs = conn_of(r, 0);
	if (!cs) { /* the oldest goes */
		cs = &r->cs[0];
		for (int i = 1; i < CONNS; i++)
			if (r->cs[i].conn < cs->conn)
				cs = &r->cs[i];
	}
	cs->conn = conn;
	cs->open = true;
	if (!cs->fbuf && !(cs->fbuf = malloc(SCN_FRAME_MAX))) {
		fail(r, "out of memory for a connection");
		cs->open = false;
		return;
	}
	mqtt_framer_init(&cs->f, cs->fbuf, SCN_FRAME_MAX);
	r->current = conn;
	r->out_len = r->out_sent = 0; /* what was not sent on the last one is gone with it */
	r->close_wanted = false;
	advance(r, now);
}

void pscript_closed(struct script_run *r, uint32_t conn, uint64_t now)
{
	struct conn_state *cs = conn_of(r, conn);
	if (!cs || !cs->open)
		return;
	cs->open = false;
	const struct scn_pkt *p = step_at(r);
	if (conn != r->current || !p || *r->failure)
		return;
	if (p->op == PKT_EXPECT_CLOSE) {
		r->at++;
		advance(r, now);
	} else if (r->close_wanted && r->close_conn == conn) {
		/* closed as the script said */
	} else if (p->op == PKT_EXPECT && p->type != MQTT_CONNECT) {
		char want[200];
		describe(p, want, sizeof want);
		fail(r, "line %u: expected %s, and the connection ended", p->line, want);
	}
}

void pscript_receive(struct script_run *r, uint32_t conn, uint64_t now, const uint8_t *d, size_t n)
{
	struct conn_state *cs = conn_of(r, conn);
	while (cs && n) {
		size_t used;
		struct mqtt_frame fr;
		if (mqtt_framer_feed(&cs->f, d, n, &used, &fr) != MQTT_OK) {
			const struct scn_pkt *p = step_at(r);
			fail(r, "line %u: the client's bytes do not frame as MQTT packets",
			     p ? p->line : 0);
			return;
		}
		d += used;
		n -= used;
		if (fr.len)
			packet(r, conn, now, fr.data, fr.len);
	}
}

size_t pscript_output(struct script_run *r, uint32_t conn, const uint8_t **d)
{
	*d = r->out ? r->out + r->out_sent : r->out;
	return conn == r->current ? r->out_len - r->out_sent : 0;
}

void pscript_wrote(struct script_run *r, size_t n)
{
	r->out_sent += n;
	if (r->out_sent >= r->out_len)
		r->out_sent = r->out_len = 0;
}

bool pscript_wants_close(const struct script_run *r, uint32_t conn)
{
	return r->close_wanted && r->close_conn == conn && r->out_len == r->out_sent;
}

uint64_t pscript_tick(struct script_run *r, uint64_t now)
{
	advance(r, now);
	return r->waiting ? r->wait_until : UINT64_MAX;
}

bool pscript_done(const struct script_run *r)
{
	return r->at >= r->n && !*r->failure;
}

const char *pscript_failure(const struct script_run *r)
{
	return *r->failure ? r->failure : NULL;
}

void pscript_position(const struct script_run *r, char *buf, size_t cap)
{
	const struct scn_pkt *p = step_at(r);
	char want[200] = "";
	if (p)
		describe(p, want, sizeof want);
	if (!p)
		snprintf(buf, cap, "the script is done");
	else if (p->op == PKT_EXPECT_CLOSE)
		snprintf(buf, cap, "line %u: still waiting for the client to close", p->line);
	else
		snprintf(buf, cap, "line %u: still waiting for %s", p->line, want);
}

bool pscript_violated(const struct script_run *r, char *why, size_t cap)
{
	if (*r->failure) {
		snprintf(why, cap, "%s", r->failure);
		return true;
	}
	if (pscript_done(r))
		return false;
	pscript_position(r, why, cap);
	return true;
}
