/*
 * wire.c - one end of a connection, judged packet by packet (wire.h).
 *
 * The sender's rules: a PUBLISH sent again must carry DUP
 * [MQTT-3.3.1-1]; a first send must not - a client's DUP is its own
 * doing, a broker's is set independently of the DUP it received
 * [MQTT-3.3.1-3] - except after a client's session was adopted (as the
 * seed documents, it cannot know what reached the wire before the
 * crash); an identifier is not reused while its exchange is unfinished
 * [MQTT-2.3.1-2], and no PUBLISH is sent again once its PUBREL was
 * [MQTT-4.3.3-1]. The flows themselves (§4.3.2, §4.3.3) give the
 * stages each identifier goes through, on both ends, so what is left
 * unfinished can be named.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/store.h"
#include "wire.h"

static void reset_framing(struct wire_framing *fr)
{
	for (int d = 0; d < 2; d++) {
		mqtt_framer_init(&fr->f[d], fr->fbuf[d], sizeof fr->fbuf[d]);
		fr->lost[d] = false;
		fr->pos[d] = 0;
		fr->corrupt_at[d] = UINT64_MAX;
	}
	fr->disconnect[0] = fr->disconnect[1] = false;
}

void wire_init(struct wire *w, enum wire_role role)
{
	/* w comes from calloc: the large tables are clear already, and are
	 * cleared again only when something is in them (wire_lost). */
	w->role = role;
	w->adopted = false;
	reset_framing(&w->conn[0]);
	reset_framing(&w->conn[1]);
}

#define WIRE_POOL 16
static _Thread_local struct wire *pool[WIRE_POOL];
static _Thread_local int npool;

struct wire *wire_take(enum wire_role role)
{
	struct wire *w = npool ? pool[--npool] : calloc(1, sizeof *w);
	if (!w)
		return NULL;
	/* What a run leaves: its exchanges and flags; content[] is read only
	 * where a stage or carried says it was written. */
	wire_lost(w);
	w->session_conns = 0;
	w->watch = NULL;
	w->client_end = NULL;
	w->clean_conn = false;
	w->clean_connects = 0;
	wire_init(w, role);
	return w;
}

void wire_watch(struct wire *w, wire_packet_fn *fn, void *arg)
{
	w->watch = fn;
	w->watch_arg = arg;
}

void wire_pair(struct wire *broker_end, struct wire *client_end)
{
	broker_end->client_end = client_end;
}

void wire_release(struct wire *w)
{
	if (!w)
		return;
	if (npool < WIRE_POOL)
		pool[npool++] = w;
	else
		free(w);
}

/*
 * A connection's framing is let go of: a QoS 1 or 2 PUBLISH this end had
 * written only in part was an attempt all the same (the peer may have
 * it, or not), so its next send rightly carries DUP [MQTT-3.3.1-1],
 * whether or not the part held its identifier.
 */
static void partial_attempt(struct wire *w, const struct wire_framing *fr)
{
	const struct mqtt_framer *f = &fr->f[0];
	if (!fr->lost[0] && f->have && !f->stream_total && (f->buf[0] >> 4) == MQTT_PUBLISH &&
	    (f->buf[0] >> 1 & 3))
		w->partial_sent = true;
}

void wire_connection(struct wire *w, bool after_adopt)
{
	partial_attempt(w, &w->conn[0]);
	reset_framing(&w->conn[0]);
	w->session_conns++;
	if (after_adopt)
		w->adopted = true;
}

void wire_retire(struct wire *w)
{
	/* A packet half through stays half through: the framer moves with
	 * its buffer (rare: once a connection). */
	struct wire_framing *cur = &w->conn[0], *old = &w->conn[1];
	partial_attempt(w, old);
	for (int d = 0; d < 2; d++) {
		memcpy(old->fbuf[d], cur->fbuf[d], cur->f[d].have);
		old->f[d] = cur->f[d];
		old->f[d].buf = old->fbuf[d];
		old->lost[d] = cur->lost[d];
		old->pos[d] = cur->pos[d];
		old->corrupt_at[d] = cur->corrupt_at[d];
	}
	old->disconnect[0] = cur->disconnect[0];
	old->disconnect[1] = cur->disconnect[1];
	reset_framing(cur);
}

void wire_peer_lost(struct wire *w)
{
	if (w->peer_count)
		memset(w->peer, 0, sizeof w->peer);
	w->peer_count = 0;
}

uint32_t wire_own_awaiting_pubrec(const struct wire *w)
{
	uint32_t n = 0;
	for (uint32_t id = 1; id < 65536 && n < w->own_count; id++)
		n += w->own[id] == WIRE_PUBLISHED2;
	return n;
}

void wire_lost(struct wire *w)
{
	wire_peer_lost(w);
	if (w->own_count)
		memset(w->own, 0, sizeof w->own);
	w->own_count = 0;
	if (w->carried_any)
		memset(w->carried, 0, sizeof w->carried);
	w->carried_any = false;
	w->adopted = false;
	w->partial_sent = false;
}

static void set_stage(uint8_t *space, uint32_t *count, uint16_t id, enum wire_stage to)
{
	if (space[id] == WIRE_FREE && to != WIRE_FREE)
		++*count;
	else if (space[id] != WIRE_FREE && to == WIRE_FREE)
		--*count;
	space[id] = (uint8_t)to;
}

void wire_forget(struct wire *w, bool own, uint16_t id)
{
	if (own)
		set_stage(w->own, &w->own_count, id, WIRE_FREE);
	else
		set_stage(w->peer, &w->peer_count, id, WIRE_FREE);
}

static const char *sender_name(const struct wire *w, bool own)
{
	return (w->role == WIRE_CLIENT) == own ? "client" : "broker";
}

/*
 * Whether a PUBLISH seen for the first time is known to be its first
 * attempt. A client is judged by what it wrote, unless its session was
 * adopted. A broker's earlier attempt may have died in its socket's
 * buffer when a connection broke, unseen; only on the first connection
 * of its session is a first sighting surely a first attempt.
 */
static bool first_send_known(const struct wire *w)
{
	return w->role == WIRE_CLIENT ? !w->adopted : w->session_conns <= 1;
}

/*
 * Whether a PUBLISH on a free identifier is the one it carried last,
 * sent again: the acknowledgement this end received may have died with
 * its connection before its sender took it in (a real client reads
 * bytes it never gets to handle), so it goes again, rightly with DUP.
 */
static bool resend_of_finished(const struct wire *w, uint16_t id, uint32_t content)
{
	return (w->carried[id >> 3] >> (id & 7) & 1) && w->content[id] == content;
}

/* A PUBLISH this end sends: the DUP and identifier rules. */
static void publish_sent(struct wire *w, uint16_t id, unsigned qos, bool dup, uint32_t content,
                         const char *who, struct wire_report *r)
{
	enum wire_stage was = w->own[id];
	const char *by = w->role == WIRE_CLIENT ? who : "the broker";
	const char *to = w->role == WIRE_CLIENT ? "" : " to ";
	const char *whom = w->role == WIRE_CLIENT ? "" : who;
	if (was != WIRE_FREE && content != w->content[id]) {
		if (!r->id_violation) {
			r->id_violation = true;
			snprintf(r->id_why, sizeof r->id_why,
			         "%s%s%s reused identifier %u for another message while its exchange was "
			         "unfinished [MQTT-2.3.1-2]", by, to, whom, id);
		}
	} else if (was == WIRE_RELEASED) {
		if (!r->id_violation) {
			r->id_violation = true;
			snprintf(r->id_why, sizeof r->id_why,
			         "%s%s%s sent PUBLISH id %u again after its PUBREL [MQTT-4.3.3-1]", by, to,
			         whom, id);
		}
	} else if (was != WIRE_FREE && !dup) {
		if (!r->dup_violation) {
			r->dup_violation = true;
			snprintf(r->dup_why, sizeof r->dup_why,
			         "%s%s%s sent PUBLISH id %u again without DUP [MQTT-3.3.1-1]", by, to, whom,
			         id);
		}
	} else if (was == WIRE_FREE && dup && w->partial_sent) {
		w->partial_sent = false; /* the one written in part, sent again */
	} else if (was == WIRE_FREE && dup && first_send_known(w) && !resend_of_finished(w, id, content)) {
		if (!r->dup_violation) {
			r->dup_violation = true;
			snprintf(r->dup_why, sizeof r->dup_why,
			         "%s%s%s sent PUBLISH id %u for the first time with DUP [%s]", by, to, whom,
			         id, w->role == WIRE_CLIENT ? "MQTT-3.3.1-1" : "MQTT-3.3.1-3");
		}
	}
	if (was == WIRE_FREE || was == WIRE_PUBLISHED1 || was == WIRE_PUBLISHED2)
		set_stage(w->own, &w->own_count, id, qos == 1 ? WIRE_PUBLISHED1 : WIRE_PUBLISHED2);
	w->content[id] = content;
	w->carried[id >> 3] |= (uint8_t)(1u << (id & 7));
	w->carried_any = true;
}

/* An acknowledgement or release, sent or received, moves its exchange on. */
static void flow(struct wire *w, bool sent, unsigned type, uint16_t id)
{
	switch (type) {
	case MQTT_PUBACK: /* the receiver of a QoS 1 PUBLISH is done with it [MQTT-4.3.2-2] */
		if (sent && w->peer[id] == WIRE_PUBLISHED1)
			set_stage(w->peer, &w->peer_count, id, WIRE_FREE);
		else if (!sent && w->own[id] == WIRE_PUBLISHED1)
			set_stage(w->own, &w->own_count, id, WIRE_FREE);
		break;
	case MQTT_PUBREC: /* the sender owes PUBREL [MQTT-4.3.3-1] */
		if (sent && w->peer[id] == WIRE_PUBLISHED2)
			set_stage(w->peer, &w->peer_count, id, WIRE_RECEIVED);
		else if (!sent && w->own[id] == WIRE_PUBLISHED2)
			set_stage(w->own, &w->own_count, id, WIRE_RECEIVED);
		break;
	case MQTT_PUBREL: /* the receiver owes PUBCOMP [MQTT-4.3.3-2], known identifier or not */
		/* Released before a PUBREC was seen too: a sender that lost track
		 * of where its exchange stood releases it to be sure. */
		if (sent && (w->own[id] == WIRE_RECEIVED || w->own[id] == WIRE_PUBLISHED2))
			set_stage(w->own, &w->own_count, id, WIRE_RELEASED);
		else if (!sent)
			set_stage(w->peer, &w->peer_count, id, WIRE_RELEASED);
		break;
	case MQTT_PUBCOMP:
		if (sent && w->peer[id] == WIRE_RELEASED)
			set_stage(w->peer, &w->peer_count, id, WIRE_FREE);
		else if (!sent && w->own[id] == WIRE_RELEASED)
			set_stage(w->own, &w->own_count, id, WIRE_FREE);
		break;
	}
}

/* A broker's end: its session for the client begins afresh with this
 * connection. What it had started is forgotten at the client's end too
 * (wire_pair). */
static void new_session(struct wire *w)
{
	wire_lost(w);
	w->session_conns = 1; /* this one is the session's first */
	if (w->client_end)
		wire_peer_lost(w->client_end);
}

/*
 * The fields the rules need, read straight from a whole packet (the
 * framer's): its type and flags, a PUBLISH's identifier and content, an
 * acknowledgement's or request's identifier. Damaged packets are skipped:
 * the receiver deals with those, and they are no conduct of the sender.
 */
static void packet(struct wire *w, bool old, bool sent, const uint8_t *b, size_t len,
                   const char *who, struct wire_report *r)
{
	size_t at = 1;
	while (at < len && at < 5 && (b[at] & 0x80))
		at++;
	at++; /* past the last remaining-length byte */
	if (at > len)
		return;
	unsigned type = b[0] >> 4, qos = b[0] >> 1 & 3;
	bool dup = b[0] & 8;
	if (type == MQTT_PUBLISH && (qos == 1 || qos == 2)) {
		if (len - at < 2)
			return;
		size_t tlen = (size_t)b[at] << 8 | b[at + 1];
		if (len - at - 2 < tlen + 2)
			return;
		const uint8_t *topic = b + at + 2, *idp = topic + tlen, *payload = idp + 2;
		uint16_t id = (uint16_t)(idp[0] << 8 | idp[1]);
		if (sent) {
			uint32_t h = mqtt_crc32c(mqtt_crc32c(0, topic, tlen), payload,
			                         (size_t)(b + len - payload));
			publish_sent(w, id, qos, dup, h, who, r);
		} else if (qos == 1) {
			set_stage(w->peer, &w->peer_count, id, WIRE_PUBLISHED1);
		} else {
			/* A QoS 2 PUBLISH again (DUP) is answered with PUBREC again. */
			set_stage(w->peer, &w->peer_count, id, WIRE_PUBLISHED2);
		}
		return;
	}
	if (type == MQTT_CONNECT && w->role == WIRE_BROKER && !sent) {
		/* A clean session ends with its connection, and a clean CONNECT
		 * discards what was [MQTT-3.1.2-6]: either way the broker begins
		 * a new session here, whether or not its CONNACK (Session Present
		 * 0) ever leaves (found by mqttsim explore, seed 962: a broker
		 * that closed before its CONNACK, then answered the next CONNECT
		 * with Session Present 1, of the session the first one began). */
		if (len - at < 2)
			return;
		size_t name = (size_t)b[at] << 8 | b[at + 1];
		if (len - at - 2 < name + 2)
			return;
		bool clean = b[at + 2 + name + 1] & 2;
		if (clean || w->clean_conn)
			new_session(w);
		else if (old)
			/* A connection let go of, taken late, resumes the session:
			 * one more of its connections, where an earlier send may have
			 * died unseen (found by mqttsim explore, seed 1583568: its
			 * takeover resent a PUBLISH the closed connection never
			 * wrote, rightly with DUP). The current one was counted
			 * when it was made (wire_connection). */
			w->session_conns++;
		w->clean_conn = clean;
		w->clean_connects += clean;
		return;
	}
	if (type == MQTT_CONNACK) {
		/* No session at the broker (Session Present 0): a broker starts
		 * afresh; a client's exchanges the broker started are gone with
		 * it, its own go on (it sends them again). */
		if (len - at >= 2 && !(b[at] & 1)) {
			if (w->role == WIRE_BROKER && sent)
				new_session(w);
			else if (w->role == WIRE_CLIENT && !sent)
				wire_peer_lost(w);
		}
		return;
	}
	if (len - at < 2)
		return;
	uint16_t id = (uint16_t)(b[at] << 8 | b[at + 1]);
	if (type == MQTT_PUBACK || type == MQTT_PUBREC || type == MQTT_PUBREL || type == MQTT_PUBCOMP) {
		flow(w, sent, type, id);
	} else if (sent && (type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE) &&
	           w->own[id] != WIRE_FREE && !r->id_violation) {
		/* A request must not take an identifier a PUBLISH holds. */
		r->id_violation = true;
		snprintf(r->id_why, sizeof r->id_why,
		         "%s used identifier %u for %s while a PUBLISH held it [MQTT-2.3.1-2]", who, id,
		         mqtt_type_name(type));
	}
}

uint32_t wire_peer_in_flight(const struct wire *w)
{
	return w->peer_count;
}

void wire_corrupted(struct wire *w, bool sent, uint64_t at)
{
	struct wire_framing *c = &w->conn[0];
	int dir = sent ? 0 : 1;
	if (at >= c->pos[dir] && at < c->corrupt_at[dir])
		c->corrupt_at[dir] = at; /* the first one ahead; a later one breaks framing or goes unseen */
}

void wire_bytes(struct wire *w, bool old, bool sent, const uint8_t *data, size_t len,
                const char *who, struct wire_report *r)
{
	int dir = sent ? 0 : 1;
	struct wire_framing *c = &w->conn[old ? 1 : 0];
	while (len && !c->lost[dir]) {
		size_t used;
		struct mqtt_frame fr;
		if (mqtt_framer_feed(&c->f[dir], data, len, &used, &fr) != MQTT_OK) {
			c->lost[dir] = true; /* corrupted on purpose; until the next connection */
			return;
		}
		data += used;
		len -= used;
		c->pos[dir] += used;
		if (!fr.len)
			continue;
		bool corrupted = c->corrupt_at[dir] < c->pos[dir];
		if (w->watch)
			w->watch(w->watch_arg, old, sent, c->pos[dir] - fr.len, fr.data, fr.len, corrupted);
		if (corrupted) {
			/* This packet holds the corrupted byte: not what was sent. */
			c->corrupt_at[dir] = UINT64_MAX;
			continue;
		}
		/* Well-formed only: reserved flags 0 [MQTT-3.14.1-1], no body. */
		if (fr.len == 2 && fr.data[0] == MQTT_DISCONNECT << 4 && fr.data[1] == 0)
			c->disconnect[dir] = true;
		packet(w, old, sent, fr.data, fr.len, who, r);
	}
}

bool wire_disconnect(const struct wire *w, bool old, bool sent)
{
	return w->conn[old ? 1 : 0].disconnect[sent ? 0 : 1];
}

uint32_t wire_unfinished(const struct wire *w, const char *who, char *why, size_t cap)
{
	static const char *const owed[] = {"", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP"};
	uint32_t n = w->own_count + w->peer_count;
	if (!n || !cap)
		return n;
	for (int own = 1; own >= 0; own--) {
		const uint8_t *space = own ? w->own : w->peer;
		if (!(own ? w->own_count : w->peer_count))
			continue;
		for (uint32_t id = 0; id < 65536; id++) {
			enum wire_stage st = space[id];
			if (st == WIRE_FREE)
				continue;
			/* Who owes the next packet: the receiver owes PUBACK, PUBREC and
			 * PUBCOMP, the sender PUBREL. */
			const char *sender = sender_name(w, own);
			const char *debtor = st == WIRE_RECEIVED ? sender
			                     : !strcmp(sender, "client") ? "broker" : "client";
			snprintf(why, cap, "%s end of %s: the %s's QoS %d PUBLISH id %u awaits %s from the %s "
			         "(%u exchange%s unfinished there)",
			         w->role == WIRE_CLIENT ? "the client's" : "the broker's", who, sender,
			         st == WIRE_PUBLISHED1 ? 1 : 2, id, owed[st], debtor, n, n == 1 ? "" : "s");
			return n;
		}
	}
	return n;
}
