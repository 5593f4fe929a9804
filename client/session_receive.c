/*
 * session_receive.c - what the broker sends: framing, decoding, checks
 * against the session's state, acknowledgements and inbound QoS 2
 * deduplication.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "session_internal.h"

/* Closes the connection for a violation: the core never guesses. */
static struct mqtt_error violation(struct mqtt_session *s, int code)
{
	MQTT_CONFORMS("MQTT-4.8.0-1"); /* a protocol violation closes the connection */
	struct mqtt_error e = err_of(MQTT_PROTOCOL, code);
	session_want_close(s, e);
	return e;
}

static struct mqtt_error queue_ack(struct mqtt_session *s, uint8_t first, uint16_t id)
{
	uint8_t b[4] = {first, 0x02, (uint8_t)(id >> 8), (uint8_t)id};
	return session_queue_bytes(s, b, sizeof b);
}

/* The acknowledgement of the message the application has now taken. */
static struct mqtt_error flush_ack(struct mqtt_session *s)
{
	enum pending_ack a = s->ack;
	s->ack = ACK_NONE;
	/* Each PUBLISH acknowledged as its QoS says [MQTT-3.3.4-1, MQTT-4.5.0-2],
	 * in the order they came [MQTT-4.6.0-2, -3], with their identifier
	 * [MQTT-2.3.1-6]. */
	if (a == ACK_PUBACK) {
		MQTT_CONFORMS("MQTT-4.3.2-2");
		MQTT_CONFORMS("MQTT-4.6.0-2");
	} else if (a == ACK_PUBREC) {
		MQTT_CONFORMS("MQTT-4.3.3-2");
		MQTT_CONFORMS("MQTT-4.6.0-3");
	}
	if (a != ACK_NONE) {
		MQTT_CONFORMS("MQTT-3.3.4-1");
		MQTT_CONFORMS("MQTT-4.5.0-2");
		MQTT_CONFORMS("MQTT-2.3.1-6");
	}
	if (a == ACK_PUBACK)
		return queue_ack(s, 0x40, s->ack_id); /* MQTT-4.3.2-2 */
	if (a == ACK_PUBREC)
		return queue_ack(s, 0x50, s->ack_id); /* MQTT-4.3.3-2 */
	return ok();
}

/*
 * The broker has no session (Session Present 0): it will never release
 * the QoS 2 messages the client holds for it, and may send new ones under
 * those identifiers, which must not be taken for duplicates (found by
 * mqttsim explore, seed 126119: a message lost so). The client's own
 * exchanges go on: it sends them again.
 */
void session_forget_inbound(struct mqtt_session *s)
{
	for (size_t byte = 0; s->inbound_held && byte < sizeof s->inbound; byte++) {
		if (!s->inbound[byte])
			continue;
		for (unsigned bit = 0; bit < 8; bit++) {
			uint16_t id = (uint16_t)(byte * 8 + bit);
			if (!inbound_has(s, id))
				continue;
			if (s->stored) {
				int rc = mqtt_checked_remove(&s->checked, MQTT_KEY_INBOUND | id);
				if (rc)
					session_warn(s, "persistence: cannot remove record %#x of a session the "
					             "broker no longer has: %s", MQTT_KEY_INBOUND | id, strerror(-rc));
			}
			inbound_set(s, id, false);
		}
	}
}

static struct mqtt_error on_connack(struct mqtt_session *s, uint64_t now, const struct mqtt_connack *c)
{
	if (s->state == MQTT_STATE_ONLINE)
		return violation(s, MQTT_V_SECOND_CONNACK);
	if (c->return_code != MQTT_CONNACK_ACCEPTED) {
		struct mqtt_error e = err_of(MQTT_REFUSED, c->return_code);
		struct mqtt_event ev = {.type = MQTT_EVENT_REFUSED, .err = e};
		session_event(s, &ev);
		session_want_close(s, e);
		return e;
	}
	s->state = MQTT_STATE_ONLINE;
	s->clean_done = true; /* reconnects never clean the session (the seed) */
	if (!(c->flags & MQTT_CONNACK_SESSION_PRESENT))
		session_forget_inbound(s);
	session_reset_backoff(s);
	struct mqtt_event ev = {.type = MQTT_EVENT_ONLINE,
	                        .session_present = c->flags & MQTT_CONNACK_SESSION_PRESENT};
	session_event(s, &ev);
	session_resend(s, now);
	return ok();
}

/* The exchange an ack names, in the state it must be in; NULL if none. */
static struct out_entry *exchange(struct mqtt_session *s, uint16_t id, uint16_t space,
                                  enum out_state want, int32_t *node)
{
	if ((id & 0xc000) != space)
		return NULL; /* an ack in the wrong space [the seed's check] */
	struct space *sp = session_space_of(s, id);
	if (!sp)
		return NULL;
	*node = session_node(s, sp, id);
	struct out_entry *e = session_entry_find(s, *node);
	return e && e->state == want ? e : NULL;
}

static void finish(struct mqtt_session *s, uint16_t id, int32_t node)
{
	struct out_entry *e = session_entry(s, node);
	if (s->stored) {
		int rc = mqtt_checked_remove(&s->checked, id);
		if (rc)
			session_warn(s, "persistence: cannot remove record %#x of a completed exchange: %s",
			             id, strerror(-rc));
	}
	session_list_remove(s, node);
	session_release_packet(s, e);
	e->state = OUT_FREE;
	e->sent = false;
	e->on_conn = false;
	session_space_of(s, id)->count--;
	struct mqtt_event ev = {.type = MQTT_EVENT_PUBLISHED, .id = id};
	session_event(s, &ev);
}

static struct mqtt_error on_pubrec(struct mqtt_session *s, uint64_t now, uint16_t id)
{
	int32_t node;
	struct out_entry *e = exchange(s, id, MQTT_SPACE_EXACTLY_ONCE, OUT_PUBLISH, &node);
	if (!e) {
		/* A repeated PUBREC after our PUBREL: repeat the PUBREL. */
		if (exchange(s, id, MQTT_SPACE_EXACTLY_ONCE, OUT_PUBREL, &node))
			return queue_ack(s, 0x62, id);
		return violation(s, MQTT_V_UNKNOWN_PACKET_ID);
	}
	/* The release is saved before it is sent, replacing the message:
	 * after a restart the exchange goes on from PUBREL [MQTT-4.3.3-1]. */
	if (s->stored) {
		uint8_t pubrel[4] = {0x62, 0x02, (uint8_t)(id >> 8), (uint8_t)id};
		struct iovec v = {pubrel, sizeof pubrel};
		int rc = mqtt_checked_save(&s->checked, id, &v, 1, NULL);
		if (rc) {
			struct mqtt_error err = err_of(MQTT_PERSISTENCE, -rc);
			session_want_close(s, err);
			return err;
		}
	}
	session_release_packet(s, e);
	e->len = 0;
	e->state = OUT_PUBREL;
	/* PUBRELs go out in PUBREC order [MQTT-4.6.0-4]: to the list's tail.
	 * The PUBLISH is never sent again [MQTT-4.3.3-1]. */
	MQTT_CONFORMS("MQTT-4.6.0-4");
	MQTT_CONFORMS("MQTT-4.3.3-1");
	session_list_remove(s, node);
	session_list_append(s, node);
	e->sent_at = now;
	e->on_conn = true;
	struct mqtt_event ev = {.type = MQTT_EVENT_RELEASED, .id = id};
	session_event(s, &ev);
	return queue_ack(s, 0x62, id);
}

static struct mqtt_error on_suback(struct mqtt_session *s, const struct mqtt_packet *p)
{
	uint16_t id = p->suback.packet_id;
	unsigned slot = id & (REQUEST_SLOTS - 1);
	if ((id & 0xe000) != MQTT_SPACE_SUBSCRIBE || !s->requests || !s->requests->sub_count[slot])
		return violation(s, MQTT_V_UNKNOWN_PACKET_ID);
	if (p->suback.return_codes.len != s->requests->sub_count[slot])
		return violation(s, MQTT_V_SUBACK_COUNT);
	s->requests->sub_count[slot] = 0;
	s->requests_open--;
	struct mqtt_event ev = {.type = MQTT_EVENT_SUBSCRIBED, .id = id};
	size_t n = p->suback.return_codes.len;
	ev.ncodes = n < 16 ? (unsigned)n : 16;
	memcpy(ev.codes, p->suback.return_codes.data, ev.ncodes);
	/* Every code, for a driver that reports each failed filter (as the
	 * seed's SubscribeError lists them); the event queue owns the copy. */
	uint8_t *all = malloc(n ? n : 1);
	if (all) {
		memcpy(all, p->suback.return_codes.data, n);
		ev.codes_all = all;
		ev.ncodes_all = n;
	}
	for (size_t i = 0; i < n && !ev.err.cls; i++) /* the code names the first failed filter */
		if (p->suback.return_codes.data[i] == MQTT_SUBACK_FAILURE)
			ev.err = err_of(MQTT_SUBSCRIBE_FAILED, (int)i);
	session_event(s, &ev);
	return ok();
}

static struct mqtt_error on_unsuback(struct mqtt_session *s, uint16_t id)
{
	unsigned slot = id & (REQUEST_SLOTS - 1);
	if ((id & 0xe000) != MQTT_SPACE_UNSUBSCRIBE || !s->requests || !s->requests->unsub_count[slot])
		return violation(s, MQTT_V_UNKNOWN_PACKET_ID);
	s->requests->unsub_count[slot] = 0;
	s->requests_open--;
	struct mqtt_event ev = {.type = MQTT_EVENT_UNSUBSCRIBED, .id = id};
	session_event(s, &ev);
	return ok();
}

/*
 * An inbound PUBLISH. Returns true when it is for the application.
 * QoS 2 follows method B of §4.3.3: the identifier is saved before the
 * message is handed over, and a PUBLISH with an identifier already held
 * is acknowledged again but not delivered again [MQTT-4.3.3-2].
 */
static struct mqtt_error on_publish(struct mqtt_session *s, const struct mqtt_publish *m,
                                    bool *deliver)
{
	*deliver = false;
	if (m->qos == 2) {
		if (inbound_has(s, m->packet_id)) {
			MQTT_CONFORMS("MQTT-4.3.3-2"); /* held: acknowledged, not delivered again */
			return queue_ack(s, 0x50, m->packet_id);
		}
		if (s->stored) {
			int rc = mqtt_checked_save(&s->checked, MQTT_KEY_INBOUND | m->packet_id, NULL, 0, NULL);
			if (rc) {
				MQTT_CONFORMS("MQTT-4.8.0-2"); /* a transient error: the connection closes */
				struct mqtt_error e = err_of(MQTT_PERSISTENCE, -rc);
				session_want_close(s, e);
				return e;
			}
		}
		inbound_set(s, m->packet_id, true);
		s->ack = ACK_PUBREC;
		s->ack_id = m->packet_id;
	} else if (m->qos == 1) {
		s->ack = ACK_PUBACK;
		s->ack_id = m->packet_id;
	}
	*deliver = true;
	return ok();
}

static struct mqtt_error on_pubrel(struct mqtt_session *s, uint16_t id)
{
	if (inbound_has(s, id)) {
		if (s->stored) {
			int rc = mqtt_checked_remove(&s->checked, MQTT_KEY_INBOUND | id);
			if (rc) {
				struct mqtt_error e = err_of(MQTT_PERSISTENCE, -rc);
				session_want_close(s, e);
				return e;
			}
		}
		inbound_set(s, id, false);
	}
	/* PUBCOMP even for an identifier we do not hold: the release may
	 * be a resend of one completed before a loss [MQTT-4.3.3-2]. */
	MQTT_CONFORMS("MQTT-4.3.3-2");
	return queue_ack(s, 0x70, id);
}

static struct mqtt_error handle(struct mqtt_session *s, uint64_t now, const struct mqtt_packet *p,
                                bool *deliver)
{
	*deliver = false;
	if (s->state == MQTT_STATE_CONNECTING)
		MQTT_CONFORMS("MQTT-3.2.0-1"); /* held to: CONNACK first */
	if (s->state == MQTT_STATE_CONNECTING && p->type != MQTT_CONNACK)
		return violation(s, MQTT_V_NOT_CONNACK_FIRST); /* MQTT-3.2.0-1 */
	int32_t node;
	switch (p->type) {
	case MQTT_CONNACK:
		return on_connack(s, now, &p->connack);
	case MQTT_PUBLISH:
		return on_publish(s, &p->publish, deliver);
	case MQTT_PUBACK:
		if (!exchange(s, p->ack.packet_id, MQTT_SPACE_AT_LEAST_ONCE, OUT_PUBLISH, &node))
			return violation(s, MQTT_V_UNKNOWN_PACKET_ID);
		finish(s, p->ack.packet_id, node);
		return ok();
	case MQTT_PUBREC:
		return on_pubrec(s, now, p->ack.packet_id);
	case MQTT_PUBREL:
		return on_pubrel(s, p->ack.packet_id);
	case MQTT_PUBCOMP:
		if (!exchange(s, p->ack.packet_id, MQTT_SPACE_EXACTLY_ONCE, OUT_PUBREL, &node))
			return violation(s, MQTT_V_UNKNOWN_PACKET_ID);
		finish(s, p->ack.packet_id, node);
		return ok();
	case MQTT_SUBACK:
		return on_suback(s, p);
	case MQTT_UNSUBACK:
		return on_unsuback(s, p->ack.packet_id);
	case MQTT_PINGRESP:
		if (!s->ping_pending)
			return violation(s, MQTT_V_UNEXPECTED_PINGRESP);
		s->ping_pending = false;
		if (s->ping_user) {
			struct mqtt_event ev = {.type = MQTT_EVENT_PONG};
			session_event(s, &ev);
		}
		s->ping_user = false;
		return ok();
	default: /* CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT */
		return violation(s, MQTT_V_SERVER_ONLY_PACKET);
	}
}

/*
 * The head of a streamed oversize packet: a PUBLISH is parsed as far as
 * its payload, checked like any other, deduplicated, and reported; any
 * other type cannot be read and ends the connection.
 */
static struct mqtt_error big_head(struct mqtt_session *s, const struct mqtt_frame *fr,
                                  struct mqtt_message *msg)
{
	const uint8_t *p = fr->data;
	struct big_message *b = &s->big;
	struct mqtt_error too_big = err_of(MQTT_BIG_MESSAGE, fr->total > INT32_MAX ? INT32_MAX : (int)fr->total);
	if (s->state == MQTT_STATE_CONNECTING)
		return violation(s, MQTT_V_NOT_CONNACK_FIRST); /* MQTT-3.2.0-1 */
	if ((p[0] >> 4) != MQTT_PUBLISH) {
		session_want_close(s, too_big);
		return too_big;
	}
	size_t at = 1;
	while (p[at] & 0x80)
		at++; /* the framer checked the length field */
	at++;
	uint8_t flags = p[0] & 0x0f;
	b->qos = (flags >> 1) & 3;
	b->dup = flags & 0x08;
	b->retain = flags & 0x01;
	if (b->qos == 3)
		return violation(s, MQTT_ERR_QOS); /* MQTT-3.3.1-4 */
	if (b->dup && b->qos == 0)
		return violation(s, MQTT_ERR_DUP_QOS0); /* MQTT-3.3.1-2 */
	size_t topic_len = (size_t)p[at] << 8 | p[at + 1];
	size_t id_len = b->qos ? 2 : 0;
	if (at + 2 + topic_len + id_len > fr->len) {
		session_want_close(s, too_big); /* the topic does not fit the read buffer */
		return too_big;
	}
	b->topic.data = p + at + 2;
	b->topic.len = topic_len;
	enum mqtt_err v = mqtt_check_topic_name(b->topic.data, topic_len, NULL);
	if (v)
		return violation(s, v); /* MQTT-3.3.2-1, -2, MQTT-4.7.3-1 */
	at += 2 + topic_len;
	b->id = b->qos ? (uint16_t)(p[at] << 8 | p[at + 1]) : 0;
	if (b->qos && !b->id)
		return violation(s, MQTT_ERR_PACKET_ID); /* MQTT-2.3.1-1 */
	b->payload_at = at + id_len;
	b->payload_len = fr->total - b->payload_at;
	b->claim = NULL;
	b->active = true;
	b->deliver = !(b->qos == 2 && inbound_has(s, b->id));
	if (!b->deliver)
		return ok(); /* a resend of one held: skipped, acknowledged at its end */
	/* A QoS 2 identifier is held once the message came whole (big_piece):
	 * one cut short by a lost connection was never handed over, and its
	 * resend must not be taken for a duplicate (found by mqttsim explore,
	 * seed 44823: held at its head, the message was lost). */
	msg->topic = b->topic;
	msg->qos = b->qos;
	msg->retain = b->retain;
	msg->dup = b->dup;
	return err_of(MQTT_BIG_MESSAGE, b->payload_len > INT32_MAX ? INT32_MAX : (int)b->payload_len);
}

bool mqtt_session_claim(struct mqtt_session *s, uint8_t *buf)
{
	struct big_message *b = &s->big;
	if (!b->active || !b->deliver || b->claim || !buf)
		return false;
	b->claim = buf;
	/* The payload bytes that came with the head are still in readbuf. */
	size_t head = s->framer.cap - b->payload_at;
	memcpy(buf, s->readbuf + b->payload_at, head < b->payload_len ? head : b->payload_len);
	return true;
}

/* A piece after the head; at the end, the message (claimed) or its ack. */
static struct mqtt_error big_piece(struct mqtt_session *s, const struct mqtt_frame *fr,
                                   struct mqtt_message *msg)
{
	struct big_message *b = &s->big;
	if (b->claim)
		memcpy(b->claim + (fr->offset - b->payload_at), fr->data, fr->len);
	if (fr->offset + fr->len < fr->total)
		return ok();
	b->active = false;
	if (b->qos == 2 && !b->deliver)
		return queue_ack(s, 0x50, b->id); /* MQTT-4.3.3-2: PUBREC again, no delivery */
	if (b->qos == 2) {
		/* Whole: held before it is handed over (method B, as on_publish). */
		if (s->stored) {
			int rc = mqtt_checked_save(&s->checked, MQTT_KEY_INBOUND | b->id, NULL, 0, NULL);
			if (rc) {
				struct mqtt_error e = err_of(MQTT_PERSISTENCE, -rc);
				session_want_close(s, e);
				return e;
			}
		}
		inbound_set(s, b->id, true);
	}
	if (b->claim) {
		msg->topic = b->topic;
		msg->payload.data = b->claim;
		msg->payload.len = b->payload_len;
		msg->qos = b->qos;
		msg->retain = b->retain;
		msg->dup = b->dup;
	}
	/* Acknowledged now when skipped; after the next read when claimed. */
	enum pending_ack a = b->qos == 1 ? ACK_PUBACK : b->qos == 2 ? ACK_PUBREC : ACK_NONE;
	if (!b->claim && a != ACK_NONE)
		return queue_ack(s, a == ACK_PUBACK ? 0x40 : 0x50, b->id);
	s->ack = a;
	s->ack_id = b->id;
	return ok();
}

struct mqtt_error mqtt_session_receive(struct mqtt_session *s, uint64_t now, const uint8_t *in,
                                       size_t len, size_t *consumed, struct mqtt_message *msg)
{
	*consumed = 0;
	memset(msg, 0, sizeof *msg);
	if (s->state == MQTT_STATE_CLOSED)
		return err_of(MQTT_CLOSED, 0);
	if (!s->transport_up || s->close_wanted)
		return err_of(MQTT_DOWN, 0);
	bool acked = s->ack != ACK_NONE;
	struct mqtt_error r = flush_ack(s);
	if (r.cls) {
		session_want_close(s, r);
		return r;
	}
	/* The acknowledgement leaves before any input after its message is
	 * taken: a process that dies while writing it must not have saved
	 * the next QoS 2 identifier yet, or that message, never handed over,
	 * would be refused as a duplicate when the broker sends it again. */
	if (acked && len)
		return ok();
	if (len)
		s->last_read = now;
	uint64_t queued_before = s->queued_total;
	size_t off = 0;
	while (off < len) {
		/* A QoS 2 PUBLISH waits until what this call queued ahead of it
		 * (a PUBCOMP for a PUBREL, a PUBREL for a PUBREC) is written: its
		 * identifier is saved before it is handed over, and a process
		 * that died writing in between would lose it for good (the
		 * broker's resend is refused then as a duplicate, MQTT-4.3.3-2).
		 * Found once the simulator delivered writes of one instant in one
		 * read, as TCP does. */
		bool qos2_publish = in[off] >> 4 == MQTT_PUBLISH && (in[off] >> 1 & 3) == 2;
		if (qos2_publish && s->queued_total != queued_before && !s->framer.have &&
		    !s->framer.stream_total)
			return ok();
		size_t used;
		struct mqtt_frame fr;
		enum mqtt_err fe = mqtt_framer_feed(&s->framer, in + off, len - off, &used, &fr);
		off += used;
		*consumed = off;
		if (fe == MQTT_ERR_PACKET_SIZE) {
			/* Read it in pieces: the head tells what it is. */
			mqtt_framer_stream(&s->framer);
			continue;
		}
		if (fe)
			return violation(s, fe);
		if (!fr.len)
			continue;
		if (fr.total > fr.len) {
			r = fr.offset == 0 ? big_head(s, &fr, msg) : big_piece(s, &fr, msg);
			if (r.cls || msg->topic.data)
				return r;
			continue;
		}
		struct mqtt_packet p;
		enum mqtt_err de = mqtt_decode(&p, fr.data, fr.len, MQTT_STRICT, NULL);
		if (de)
			return violation(s, de);
		bool deliver;
		r = handle(s, now, &p, &deliver);
		if (r.cls)
			return r;
		if (deliver) {
			msg->topic = p.publish.topic;
			msg->payload = p.publish.payload;
			msg->qos = p.publish.qos;
			msg->retain = p.publish.retain;
			msg->dup = p.publish.dup;
			return ok();
		}
	}
	return ok();
}
