/*
 * replay.c - the replay core (replay.h): our captured side out, the
 * peer's packets matched against the capture, differences collected.
 */
#include "replay.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/codec.h"

#define LIVE_MAX (4u << 20) /* the largest packet taken from the peer */
#define LOOKAHEAD 64        /* how far past the oldest unmatched packet a match is sought */

/* C_HALF: we sent our FIN (the captured side closed), the peer may still send. */
enum conn_state { C_NEW, C_OPEN, C_HALF, C_CLOSED, C_GONE, C_FAILED };

struct conn {
	enum conn_state state;
	unsigned stream;
	size_t *expect;         /* the peer's captured events (indices), in order */
	size_t nexpect, cap;
	size_t oldest;          /* expect[] below it are all matched */
	uint64_t last_frame;    /* the captured frame last matched (or sent): where extras are */
	uint32_t *idmap;        /* captured identifier -> live + 1 (peer-chosen ones) */
	struct mqtt_framer f;
	uint8_t *buf;
	unsigned pings;         /* as a broker: PINGRESPs owed */
	bool we_closed;
};

struct diff {
	uint64_t frame;
	size_t order;
	char *text;
};

struct replay {
	const struct cap_session *s;
	struct replay_config c;
	struct conn *conns;
	uint64_t *armed;        /* per event: when it was due (0: not yet) */
	bool *matched;
	size_t cursor, resolved;
	bool started, created, ending;
	uint64_t t0, created_at, grace_until;
	uint64_t ts0;
	unsigned accepted, made, extra_conns;
	size_t sent, unsent, expected, received;
	size_t missing, extra, differ;
	struct diff *d;
	size_t nd, dcap;
	uint8_t *out;
	size_t outcap;
	bool oom;
};

static int peer_dir(const struct replay *r)
{
	return r->c.role == REPLAY_AS_CLIENT ? 1 : 0;
}

static bool is_peers(const struct replay *r, const struct cap_event *e)
{
	return e->dir == peer_dir(r);
}

__attribute__((format(printf, 3, 4)))
static void difference(struct replay *r, uint64_t frame, const char *fmt, ...)
{
	char text[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (r->nd == r->dcap) {
		size_t n = r->dcap ? r->dcap * 2 : 32;
		struct diff *d = realloc(r->d, n * sizeof *d);
		if (!d) {
			r->oom = true;
			return;
		}
		r->d = d;
		r->dcap = n;
	}
	char *copy = strdup(text);
	if (!copy) {
		r->oom = true;
		return;
	}
	r->d[r->nd] = (struct diff){frame, r->nd, copy};
	r->nd++;
}

struct replay *replay_new(const struct cap_session *s, const struct replay_config *c)
{
	struct replay *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->s = s;
	r->c = *c;
	r->conns = calloc(s->nconns ? s->nconns : 1, sizeof *r->conns);
	r->armed = calloc(s->n ? s->n : 1, sizeof *r->armed);
	r->matched = calloc(s->n ? s->n : 1, sizeof *r->matched);
	if (!r->conns || !r->armed || !r->matched) {
		replay_free(r);
		return NULL;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct cap_event *e = &s->ev[i];
		struct conn *k = &r->conns[e->conn];
		k->stream = e->stream;
		if (!is_peers(r, e))
			continue;
		uint8_t type = e->kind == CAP_PACKET ? e->data[0] >> 4 : 0;
		if (type == MQTT_PINGREQ || type == MQTT_PINGRESP)
			continue; /* not judged */
		if (k->nexpect == k->cap) {
			size_t n = k->cap ? k->cap * 2 : 16;
			size_t *x = realloc(k->expect, n * sizeof *x);
			if (!x) {
				replay_free(r);
				return NULL;
			}
			k->expect = x;
			k->cap = n;
		}
		k->expect[k->nexpect++] = i;
		r->expected += e->kind == CAP_PACKET;
	}
	if (s->n)
		r->ts0 = s->ev[0].ts_us;
	return r;
}

void replay_free(struct replay *r)
{
	if (!r)
		return;
	if (r->conns)
		for (unsigned i = 0; i < r->s->nconns; i++) {
			free(r->conns[i].expect);
			free(r->conns[i].idmap);
			free(r->conns[i].buf);
		}
	for (size_t i = 0; i < r->nd; i++)
		free(r->d[i].text);
	free(r->d);
	free(r->conns);
	free(r->armed);
	free(r->matched);
	free(r->out);
	free(r);
}

/* When event i is due by the captured clock (0 when as fast as possible). */
static uint64_t due(const struct replay *r, size_t i)
{
	if (r->c.speed <= 0)
		return 0;
	uint64_t gap = r->s->ev[i].ts_us > r->ts0 ? r->s->ev[i].ts_us - r->ts0 : 0;
	return r->t0 + (uint64_t)((double)gap / r->c.speed);
}

static bool judged(const struct replay *r, size_t i)
{
	const struct cap_event *e = &r->s->ev[i];
	if (!is_peers(r, e))
		return false;
	if (e->kind == CAP_CLOSE)
		return true;
	uint8_t type = e->data[0] >> 4;
	return type != MQTT_PINGREQ && type != MQTT_PINGRESP;
}

static bool settled(const struct replay *r, size_t i, uint64_t now)
{
	const struct cap_event *e = &r->s->ev[i];
	/* Once we closed, the peer's own close is not ours to see. */
	if (e->kind == CAP_CLOSE && r->conns[e->conn].we_closed)
		return true;
	return !judged(r, i) || r->matched[i] || now >= r->armed[i] + r->c.timeout_us;
}

/* The fixed header's size of a whole packet. */
static size_t header_size(const uint8_t *b, size_t n)
{
	size_t at = 1;
	while (at < n && at < 5 && (b[at] & 0x80))
		at++;
	return at + 1;
}

/* Whether the identifier in a packet of this type is chosen by its sender. */
static bool sender_chooses(unsigned type)
{
	return type == MQTT_PUBLISH || type == MQTT_PUBREL || type == MQTT_SUBSCRIBE ||
	       type == MQTT_UNSUBSCRIBE;
}

static bool has_id(const struct mqtt_packet *p, uint16_t *id)
{
	switch (p->type) {
	case MQTT_PUBLISH:
		*id = p->publish.packet_id;
		return p->publish.qos > 0;
	case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP: case MQTT_UNSUBACK:
		*id = p->ack.packet_id;
		return true;
	case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE:
		*id = p->subscribe.packet_id;
		return true;
	case MQTT_SUBACK:
		*id = p->suback.packet_id;
		return true;
	default:
		return false;
	}
}

static bool slice_eq(struct mqtt_slice a, struct mqtt_slice b)
{
	return a.len == b.len && (!a.len || !memcmp(a.data, b.data, a.len));
}

static int idmap_get(const struct conn *k, uint16_t captured)
{
	return k->idmap && k->idmap[captured] ? (int)(k->idmap[captured] - 1) : -1;
}

static void idmap_set(struct replay *r, struct conn *k, uint16_t captured, uint16_t live)
{
	if (!k->idmap && !(k->idmap = calloc(65536, sizeof *k->idmap))) {
		r->oom = true;
		return;
	}
	k->idmap[captured] = (uint32_t)live + 1;
}

/* A short description of a packet for a difference line. */
static void describe(char *buf, size_t cap, const struct mqtt_packet *p)
{
	uint16_t id;
	int n = snprintf(buf, cap, "%s", mqtt_type_name(p->type));
	if (p->type == MQTT_PUBLISH)
		n += snprintf(buf + n, cap - (size_t)n, " topic \"%.*s\" qos %u", (int)p->publish.topic.len,
		              (const char *)p->publish.topic.data, p->publish.qos);
	if ((size_t)n < cap && has_id(p, &id))
		n += snprintf(buf + n, cap - (size_t)n, " id %u", id);
	if ((size_t)n < cap && p->type == MQTT_PUBLISH)
		n += snprintf(buf + n, cap - (size_t)n, " (%zu bytes)", p->publish.payload.len);
	if ((size_t)n < cap && p->type == MQTT_CONNECT)
		n += snprintf(buf + n, cap - (size_t)n, " client \"%.*s\"", (int)p->connect.client_id.len,
		              (const char *)p->connect.client_id.data);
	if ((size_t)n < cap && p->type == MQTT_CONNACK)
		snprintf(buf + n, cap - (size_t)n, " code %u", p->connack.return_code);
}

/* Lenient decoding still says when a CONNECT is not 3.1.1 (3.1 is read). */
static bool decoded(enum mqtt_err e)
{
	return e == MQTT_OK || e == MQTT_ERR_PROTOCOL_NAME || e == MQTT_ERR_PROTOCOL_LEVEL;
}

static void decode_event(const struct cap_event *e, struct mqtt_packet *p)
{
	size_t at;
	memset(p, 0, sizeof *p);
	if (!decoded(mqtt_decode(p, e->data, e->len, MQTT_LENIENT, &at)) ||
	    p->type != (enum mqtt_type)(e->data[0] >> 4)) {
		memset(p, 0, sizeof *p);
		p->type = (enum mqtt_type)(e->data[0] >> 4);
	}
}

/* Whether live packet l can be the captured packet c of the same connection. */
static bool same_key(const struct conn *k, const struct mqtt_packet *c, const struct mqtt_packet *l)
{
	if (c->type != l->type)
		return false;
	if (c->type == MQTT_PUBLISH)
		return slice_eq(c->publish.topic, l->publish.topic);
	uint16_t cid, lid;
	if (!has_id(c, &cid) || !has_id(l, &lid))
		return true;
	if (!sender_chooses(c->type))
		return cid == lid; /* ours: the peer answers with what we sent */
	if (c->type == MQTT_PUBREL) {
		int mapped = idmap_get(k, cid);
		return mapped < 0 || mapped == lid;
	}
	return true;
}

#define ADD(...) (n += snprintf(why + n, sizeof why - (size_t)n, __VA_ARGS__), n = n < (int)sizeof why ? n : (int)sizeof why - 1)

static void compare_topics(const struct mqtt_packet *c, const struct mqtt_packet *l, char *why,
                           size_t cap, int *np)
{
	int n = *np;
	size_t cc = 0, lc = 0;
	struct mqtt_topic ct, lt;
	unsigned i = 0;
	for (;;) {
		bool hc = mqtt_topic_next(c, &cc, &ct), hl = mqtt_topic_next(l, &lc, &lt);
		if (!hc && !hl)
			break;
		i++;
		if (hc != hl || !slice_eq(ct.filter, lt.filter) || ct.qos != lt.qos) {
			n += snprintf(why + n, cap - (size_t)n, "; filter %u: %s%.*s%s qos %u captured, %s%.*s%s qos %u live",
			              i, hc ? "\"" : "", hc ? (int)ct.filter.len : 4,
			              hc ? (const char *)ct.filter.data : "none", hc ? "\"" : "", hc ? ct.qos : 0,
			              hl ? "\"" : "", hl ? (int)lt.filter.len : 4,
			              hl ? (const char *)lt.filter.data : "none", hl ? "\"" : "", hl ? lt.qos : 0);
			if (n >= (int)cap)
				n = (int)cap - 1;
			break;
		}
	}
	*np = n;
}

/* The fields of a matched pair that differ, as "; a 1 captured, 0 live" parts. */
static void compare(const struct replay *r, const struct mqtt_packet *c, const struct mqtt_packet *l,
                    char *out, size_t cap)
{
	char why[600] = "";
	int n = 0;
	switch (c->type) {
	case MQTT_PUBLISH:
		if (c->publish.qos != l->publish.qos)
			ADD("; qos %u captured, %u live", c->publish.qos, l->publish.qos);
		if (c->publish.dup != l->publish.dup)
			ADD("; dup %d captured, %d live", c->publish.dup, l->publish.dup);
		if (c->publish.retain != l->publish.retain)
			ADD("; retain %d captured, %d live", c->publish.retain, l->publish.retain);
		if (c->publish.payload.len != l->publish.payload.len) {
			ADD("; payload %zu bytes captured, %zu live", c->publish.payload.len,
			    l->publish.payload.len);
		} else if (!slice_eq(c->publish.payload, l->publish.payload)) {
			size_t at = 0;
			while (c->publish.payload.data[at] == l->publish.payload.data[at])
				at++;
			ADD("; payload differs from byte %zu", at);
		}
		break;
	case MQTT_CONNECT: {
		const struct mqtt_connect *a = &c->connect, *b = &l->connect;
		if (a->protocol_level != b->protocol_level)
			ADD("; protocol level %u captured, %u live", a->protocol_level, b->protocol_level);
		if (a->clean_session != b->clean_session)
			ADD("; clean session %d captured, %d live", a->clean_session, b->clean_session);
		if (a->keep_alive != b->keep_alive)
			ADD("; keep-alive %u captured, %u live", a->keep_alive, b->keep_alive);
		if (a->will != b->will || (a->will && (a->will_qos != b->will_qos ||
		    a->will_retain != b->will_retain || !slice_eq(a->will_topic, b->will_topic) ||
		    !slice_eq(a->will_message, b->will_message))))
			ADD("; will differs (topic \"%.*s\" captured, \"%.*s\" live)", (int)a->will_topic.len,
			    (const char *)a->will_topic.data, (int)b->will_topic.len,
			    (const char *)b->will_topic.data);
		if (a->has_username != b->has_username ||
		    (a->has_username && !slice_eq(a->username, b->username)))
			ADD("; user name differs");
		if (a->has_password != b->has_password)
			ADD("; password %s captured, %s live", a->has_password ? "given" : "none",
			    b->has_password ? "given" : "none");
		/* The client identifier is the client's own: mapped, not judged. */
		break;
	}
	case MQTT_CONNACK:
		if ((c->connack.flags & 1) != (l->connack.flags & 1))
			ADD("; session present %d captured, %d live", c->connack.flags & 1,
			    l->connack.flags & 1);
		if (c->connack.return_code != l->connack.return_code)
			ADD("; return code %u captured, %u live", c->connack.return_code,
			    l->connack.return_code);
		break;
	case MQTT_SUBSCRIBE: case MQTT_UNSUBSCRIBE:
		compare_topics(c, l, why, sizeof why, &n);
		break;
	case MQTT_SUBACK:
		if (!slice_eq(c->suback.return_codes, l->suback.return_codes)) {
			ADD("; return codes");
			for (size_t i = 0; i < c->suback.return_codes.len; i++)
				ADD("%s%u", i ? "," : " ", c->suback.return_codes.data[i]);
			ADD(" captured,");
			for (size_t i = 0; i < l->suback.return_codes.len; i++)
				ADD("%s%u", i ? "," : " ", l->suback.return_codes.data[i]);
			ADD(" live");
		}
		break;
	default:
		break;
	}
	(void)r;
	snprintf(out, cap, "%s", why);
}

/* A packet from the peer: matched to the capture, or extra. */
static void take(struct replay *r, unsigned ci, const uint8_t *b, size_t len)
{
	struct conn *k = &r->conns[ci];
	struct mqtt_packet l;
	size_t at;
	enum mqtt_err e = mqtt_decode(&l, b, len, MQTT_LENIENT, &at);
	if (!decoded(e)) {
		difference(r, k->last_frame, "frame %llu, stream %u: extra: undecodable %s from the peer "
		           "(%s) after this frame", (unsigned long long)k->last_frame, k->stream,
		           mqtt_type_name(b[0] >> 4), mqtt_strerror(e));
		r->extra++;
		return;
	}
	if (l.type == MQTT_PINGREQ || l.type == MQTT_PINGRESP) {
		if (l.type == MQTT_PINGREQ && r->c.role == REPLAY_AS_BROKER)
			k->pings++;
		return;
	}
	r->received++;
	while (k->oldest < k->nexpect && r->matched[k->expect[k->oldest]])
		k->oldest++;
	/* The first captured packet it is exactly, else the first it can be
	 * (then its fields differ): a lost retained message is missing, not
	 * paired with the next message on its topic. */
	size_t pick = SIZE_MAX;
	for (int exact = 1; exact >= 0 && pick == SIZE_MAX; exact--)
		for (size_t j = k->oldest; j < k->nexpect && j < k->oldest + LOOKAHEAD; j++) {
			size_t i = k->expect[j];
			const struct cap_event *ce = &r->s->ev[i];
			if (r->matched[i] || ce->kind != CAP_PACKET)
				continue;
			struct mqtt_packet c;
			decode_event(ce, &c);
			if (!same_key(k, &c, &l))
				continue;
			char why[600];
			compare(r, &c, &l, why, sizeof why);
			if (exact && *why)
				continue;
			pick = i;
			break;
		}
	if (pick != SIZE_MAX) {
		size_t i = pick;
		const struct cap_event *ce = &r->s->ev[i];
		struct mqtt_packet c;
		decode_event(ce, &c);
		r->matched[i] = true;
		k->last_frame = ce->frame;
		uint16_t cid, lid;
		if (sender_chooses(c.type) && c.type != MQTT_PUBREL && has_id(&c, &cid) && has_id(&l, &lid))
			idmap_set(r, k, cid, lid);
		char why[600], what[200];
		compare(r, &c, &l, why, sizeof why);
		if (*why) {
			describe(what, sizeof what, &c);
			difference(r, ce->frame, "frame %llu, stream %u: %s differs%s",
			           (unsigned long long)ce->frame, k->stream, what, why);
			r->differ++;
		}
		return;
	}
	char what[200];
	describe(what, sizeof what, &l);
	difference(r, k->last_frame, "frame %llu, stream %u: extra %s after this frame",
	           (unsigned long long)k->last_frame, k->stream, what);
	r->extra++;
}

void replay_input(struct replay *r, unsigned ci, uint64_t now, const uint8_t *d, size_t n)
{
	(void)now;
	if (ci >= r->s->nconns)
		return;
	struct conn *k = &r->conns[ci];
	if (!k->buf) {
		if (!(k->buf = malloc(LIVE_MAX))) {
			r->oom = true;
			return;
		}
		mqtt_framer_init(&k->f, k->buf, LIVE_MAX);
	}
	while (n && k->f.err == MQTT_OK) {
		size_t used;
		struct mqtt_frame fr;
		enum mqtt_err e = mqtt_framer_feed(&k->f, d, n, &used, &fr);
		if (e != MQTT_OK) {
			difference(r, k->last_frame, "frame %llu, stream %u: extra: bytes from the peer that "
			           "do not frame as MQTT (%s) after this frame", (unsigned long long)k->last_frame,
			           k->stream, mqtt_strerror(e));
			r->extra++;
			return;
		}
		d += used;
		n -= used;
		if (fr.len)
			take(r, ci, fr.data, fr.len);
	}
}

void replay_peer_closed(struct replay *r, unsigned ci, uint64_t now, const char *why)
{
	(void)now;
	if (ci >= r->s->nconns)
		return;
	struct conn *k = &r->conns[ci];
	if (k->state != C_OPEN && k->state != C_HALF)
		return;
	bool after_ours = k->state == C_HALF;
	k->state = C_GONE;
	for (size_t j = k->oldest; j < k->nexpect; j++) {
		size_t i = k->expect[j];
		if (!r->matched[i] && r->s->ev[i].kind == CAP_CLOSE) {
			r->matched[i] = true;
			return;
		}
	}
	if (after_ours && !why)
		return; /* an answer to our FIN */
	difference(r, k->last_frame, "frame %llu, stream %u: extra: the %s %s after this frame; the "
	           "capture has it open", (unsigned long long)k->last_frame, k->stream,
	           r->c.role == REPLAY_AS_CLIENT ? "broker" : "client",
	           why && *why ? why : "closed the connection");
	r->extra++;
}

void replay_dialed(struct replay *r, unsigned ci, bool ok, const char *why)
{
	(void)why;
	if (ci >= r->s->nconns)
		return;
	r->conns[ci].state = ok ? C_OPEN : C_FAILED;
	if (ok)
		r->made++;
}

int replay_accepted(struct replay *r, uint64_t now)
{
	if (!r->started) {
		r->started = true;
		r->t0 = now;
	}
	/* The next captured connection not yet begun. */
	while (r->accepted < r->s->nconns && r->conns[r->accepted].state != C_NEW)
		r->accepted++;
	if (r->accepted >= r->s->nconns) {
		r->extra_conns++;
		r->extra++;
		difference(r, UINT64_MAX, "end, stream -: extra connection from the client (the capture "
		           "has %u)", r->s->nconns);
		return -1;
	}
	r->conns[r->accepted].state = C_OPEN;
	r->made++;
	return (int)r->accepted++;
}

/* Room for n bytes of output. */
static uint8_t *out_buf(struct replay *r, size_t n)
{
	if (n > r->outcap) {
		uint8_t *b = realloc(r->out, n);
		if (!b)
			return NULL;
		r->out = b;
		r->outcap = n;
	}
	return r->out;
}

/* Our captured packet as it goes to the live peer: identifiers the peer
 * chose mapped, a client identifier prefixed. NULL when out of memory. */
static const uint8_t *rewrite(struct replay *r, const struct cap_event *e, size_t *len)
{
	struct conn *k = &r->conns[e->conn];
	unsigned type = e->data[0] >> 4;
	size_t hdr = header_size(e->data, e->len);
	const char *prefix = r->c.client_id_prefix;
	if (type == MQTT_CONNECT && prefix && *prefix && r->c.role == REPLAY_AS_CLIENT) {
		/* The client identifier follows protocol name, level, flags and keep-alive. */
		size_t at = hdr;
		if (at + 2 > e->len)
			goto as_is;
		at += 2 + ((size_t)e->data[at] << 8 | e->data[at + 1]) + 4;
		if (at + 2 > e->len)
			goto as_is;
		size_t idlen = (size_t)e->data[at] << 8 | e->data[at + 1];
		size_t plen = strlen(prefix);
		if (idlen + plen > 65535)
			goto as_is;
		size_t remaining = e->len - hdr + plen;
		uint8_t *o = out_buf(r, e->len + plen + 4);
		if (!o)
			return NULL;
		size_t n = 0;
		o[n++] = e->data[0];
		do {
			uint8_t byte = remaining & 0x7f;
			remaining >>= 7;
			o[n++] = remaining ? byte | 0x80 : byte;
		} while (remaining);
		memcpy(o + n, e->data + hdr, at - hdr);
		n += at - hdr;
		o[n++] = (uint8_t)((idlen + plen) >> 8);
		o[n++] = (uint8_t)(idlen + plen);
		memcpy(o + n, prefix, plen);
		n += plen;
		memcpy(o + n, e->data + at + 2, e->len - at - 2);
		n += e->len - at - 2;
		*len = n;
		return o;
	}
	bool ack_of_peer = type == MQTT_PUBACK || type == MQTT_PUBREC || type == MQTT_PUBCOMP ||
	                   type == MQTT_SUBACK || type == MQTT_UNSUBACK;
	if (ack_of_peer && hdr + 2 <= e->len) {
		uint16_t cid = (uint16_t)(e->data[hdr] << 8 | e->data[hdr + 1]);
		int live = idmap_get(k, cid);
		if (live >= 0) {
			uint8_t *o = out_buf(r, e->len);
			if (!o)
				return NULL;
			memcpy(o, e->data, e->len);
			o[hdr] = (uint8_t)(live >> 8);
			o[hdr + 1] = (uint8_t)live;
			*len = e->len;
			return o;
		}
	}
as_is:
	*len = e->len;
	return e->data;
}

void replay_next(struct replay *r, uint64_t now, struct replay_action *a)
{
	memset(a, 0, sizeof *a);
	if (!r->created) {
		r->created = true;
		r->created_at = now;
		if (r->c.role == REPLAY_AS_CLIENT) {
			r->started = true;
			r->t0 = now;
		}
	}
	if (!r->started) {
		if (now < r->created_at + r->c.first_wait_us) {
			a->todo = REPLAY_WAIT;
			a->until = r->created_at + r->c.first_wait_us;
			return;
		}
		r->started = true; /* nobody came: everything of the peer's goes missing */
		r->t0 = now;
	}
	/* Owed answers to the peer's pings first. */
	for (unsigned i = 0; i < r->s->nconns; i++)
		if (r->conns[i].pings && r->conns[i].state == C_OPEN) {
			r->conns[i].pings--;
			static const uint8_t pingresp[2] = {0xd0, 0x00};
			a->todo = REPLAY_SEND;
			a->conn = i;
			a->data = pingresp;
			a->len = 2;
			return;
		}
	const struct cap_session *s = r->s;
	for (;;) {
		while (r->resolved < r->cursor && settled(r, r->resolved, now))
			r->resolved++;
		if (r->cursor == s->n) {
			if (r->resolved < r->cursor) {
				a->todo = REPLAY_WAIT;
				a->until = r->armed[r->resolved] + r->c.timeout_us;
				return;
			}
			if (!r->ending) {
				/* A moment for extras, then the end. */
				r->ending = true;
				uint64_t grace = r->c.timeout_us / 10;
				r->grace_until = now + (grace < 50000 ? 50000 : grace);
			}
			if (now < r->grace_until) {
				a->todo = REPLAY_WAIT;
				a->until = r->grace_until;
				return;
			}
			for (unsigned i = 0; i < s->nconns; i++)
				if (r->conns[i].state == C_OPEN || r->conns[i].state == C_HALF) {
					r->conns[i].state = C_CLOSED;
					a->todo = REPLAY_CLOSE;
					a->conn = i;
					return;
				}
			a->todo = REPLAY_DONE;
			return;
		}
		size_t i = r->cursor;
		const struct cap_event *e = &s->ev[i];
		struct conn *k = &r->conns[e->conn];
		if (is_peers(r, e)) {
			uint64_t d = due(r, i);
			r->armed[i] = d > now ? d : now;
			r->cursor++;
			continue;
		}
		if (r->resolved < r->cursor) {
			a->todo = REPLAY_WAIT;
			a->until = r->armed[r->resolved] + r->c.timeout_us;
			return;
		}
		uint64_t d = due(r, i);
		if (d > now) {
			a->todo = REPLAY_WAIT;
			a->until = d;
			return;
		}
		if (k->state == C_NEW && r->c.role == REPLAY_AS_CLIENT) {
			k->state = C_FAILED; /* until replay_dialed() says otherwise */
			a->todo = REPLAY_DIAL;
			a->conn = e->conn;
			return;
		}
		r->cursor++;
		if (k->state != C_OPEN) {
			if (e->kind == CAP_PACKET)
				r->unsent++;
			continue;
		}
		k->last_frame = e->frame;
		if (e->kind == CAP_CLOSE) {
			k->state = C_HALF;
			k->we_closed = true;
			a->todo = REPLAY_FIN;
			a->conn = e->conn;
			return;
		}
		unsigned type = e->data[0] >> 4;
		if (r->c.role == REPLAY_AS_BROKER && type == MQTT_PINGRESP)
			continue; /* we answer the live client's pings ourselves */
		size_t len;
		const uint8_t *out = rewrite(r, e, &len);
		if (!out) {
			r->oom = true;
			out = e->data;
			len = e->len;
		}
		r->sent++;
		a->todo = REPLAY_SEND;
		a->conn = e->conn;
		a->data = out;
		a->len = len;
		return;
	}
}

static int by_frame(const void *a, const void *b)
{
	const struct diff *x = a, *y = b;
	if (x->frame != y->frame)
		return x->frame < y->frame ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

size_t replay_report(struct replay *r, FILE *out)
{
	for (unsigned ci = 0; ci < r->s->nconns; ci++) {
		const struct conn *k = &r->conns[ci];
		for (size_t j = 0; j < k->nexpect; j++) {
			size_t i = k->expect[j];
			if (r->matched[i])
				continue;
			const struct cap_event *e = &r->s->ev[i];
			char what[200] = "close";
			if (e->kind == CAP_PACKET) {
				struct mqtt_packet p;
				decode_event(e, &p);
				describe(what, sizeof what, &p);
			} else if (k->we_closed) {
				continue; /* we closed first; the peer's own close is not ours to see */
			} else {
				snprintf(what, sizeof what, "close by the %s",
				         r->c.role == REPLAY_AS_CLIENT ? "broker" : "client");
			}
			difference(r, e->frame, "frame %llu, stream %u: missing %s%s",
			           (unsigned long long)e->frame, k->stream, what,
			           k->state == C_NEW || k->state == C_FAILED ? " (the connection was never made)"
			                                                     : "");
			r->missing++;
		}
	}
	if (r->nd)
		qsort(r->d, r->nd, sizeof *r->d, by_frame);
	for (size_t i = 0; i < r->nd; i++)
		fprintf(out, "%s\n", r->d[i].text);
	size_t total = r->missing + r->extra + r->differ;
	fprintf(out, "replay: %u of %u connections made, %zu packets sent", r->made, r->s->nconns,
	        r->sent);
	if (r->unsent)
		fprintf(out, " (%zu not: their connection was gone)", r->unsent);
	fprintf(out, ", %zu received of %zu expected; %zu difference%s (%zu missing, %zu extra, %zu "
	        "differ)%s\n", r->received, r->expected, total, total == 1 ? "" : "s", r->missing,
	        r->extra, r->differ, r->oom ? "; out of memory: incomplete" : "");
	return total + r->oom;
}

unsigned replay_connections_made(const struct replay *r)
{
	return r->made;
}

void replay_progress(const struct replay *r, size_t *played, size_t *differences)
{
	*played = r->cursor;
	*differences = r->nd;
}
