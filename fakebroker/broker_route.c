/*
 * broker_route.c - messages: retained store, subscription matching and
 * each session's queue of QoS 1 and 2 deliveries.
 */
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"

struct bmsg *bmsg_new(const struct mqtt_slice *topic, const struct mqtt_slice *payload,
                      uint8_t qos)
{
	struct bmsg *m = malloc(sizeof *m + topic->len + payload->len);
	if (!m)
		return NULL;
	m->refs = 1;
	m->qos = qos;
	m->topic_len = (uint16_t)topic->len;
	m->payload_len = payload->len;
	if (topic->len)
		memcpy(m->topic, topic->data, topic->len);
	if (payload->len)
		memcpy(m->topic + topic->len, payload->data, payload->len);
	m->payload = m->topic + topic->len;
	return m;
}

void bmsg_unref(struct bmsg *m)
{
	if (--m->refs == 0)
		free(m);
}

static void send_publish(struct bconn *c, const struct bmsg *m, uint8_t qos, bool retain,
                         bool dup, uint16_t id)
{
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	/* Its own DUP, not the publisher's [MQTT-3.3.1-3]; the topic as
	 * published, which its subscription matched [MQTT-3.3.2-3]. */
	MQTT_CONFORMS("MQTT-3.3.1-3");
	MQTT_CONFORMS("MQTT-3.3.2-3");
	if (qos == 0)
		MQTT_CONFORMS("MQTT-4.3.1-1");
	p.publish.qos = qos;
	p.publish.retain = retain;
	p.publish.dup = dup;
	p.publish.packet_id = id;
	p.publish.topic = (struct mqtt_slice){m->topic, m->topic_len};
	p.publish.payload = (struct mqtt_slice){m->payload, m->payload_len};
	broker_emit(c, &p);
}

static struct bout *q_at(struct bsession *s, size_t i)
{
	return &s->q[(s->q_head + i) % s->q_cap];
}

static bool q_push(struct bsession *s, struct bout e)
{
	if (s->q_len == s->q_cap) {
		size_t cap = s->q_cap ? s->q_cap * 2 : 16;
		struct bout *q = malloc(cap * sizeof *q);
		if (!q)
			return false;
		for (size_t i = 0; i < s->q_len; i++)
			q[i] = *q_at(s, i);
		free(s->q);
		s->q = q;
		s->q_cap = cap;
		s->q_head = 0;
	}
	*q_at(s, s->q_len++) = e;
	return true;
}

void session_clear_queue(struct bsession *s)
{
	for (size_t i = 0; i < s->q_len; i++) {
		struct bout *e = q_at(s, i);
		if (e->msg)
			bmsg_unref(e->msg);
	}
	s->q_len = s->q_sent = s->inflight = 0;
	s->q_head = 0;
}

static bool id_in_use(struct bsession *s, uint16_t id)
{
	for (size_t i = 0; i < s->q_sent; i++) {
		struct bout *e = q_at(s, i);
		if (e->state != OUT_DONE && e->id == id)
			return true;
	}
	return false;
}

static uint16_t next_packet_id(struct bsession *s)
{
	for (;;) {
		uint16_t id = s->next_id++;
		if (s->next_id == 0)
			s->next_id = 1; /* MQTT-2.3.1-1: never 0 */
		if (!id_in_use(s, id)) {
			MQTT_CONFORMS("MQTT-2.3.1-4"); /* one not in use */
			return id;
		}
	}
}

void session_pump(struct bsession *s)
{
	struct bconn *c = s->conn;
	if (!c || c->state != CONN_ONLINE)
		return;
	struct mqtt_broker *b = c->b;
	uint16_t window = b->cfg.inflight_max;
	broker_hold_ends(b);
	while (s->inflight < window && s->q_sent < s->q_len && c->state == CONN_ONLINE) {
		struct bout *e = q_at(s, s->q_sent);
		e->id = next_packet_id(s);
		/* Sent in the order received, the topic ordered [MQTT-4.6.0-5, -6];
		 * unacknowledged until its PUBACK or PUBREC [MQTT-4.3.2-1, MQTT-4.3.3-1]. */
		MQTT_CONFORMS("MQTT-4.6.0-5");
		MQTT_CONFORMS("MQTT-4.6.0-6");
		if (e->qos == 1)
			MQTT_CONFORMS("MQTT-4.3.2-1");
		else
			MQTT_CONFORMS("MQTT-4.3.3-1");
		e->state = e->qos == 1 ? OUT_AWAIT_PUBACK : OUT_AWAIT_PUBREC;
		s->q_sent++;
		s->inflight++;
		b->stats.messages_out++;
		send_publish(c, e->msg, e->qos, e->retain, false, e->id);
	}
	broker_release_ends(b);
}

void session_resume(struct bsession *s)
{
	struct bconn *c = s->conn;
	if (!c)
		return;
	struct mqtt_broker *b = c->b;
	broker_hold_ends(b);
	for (size_t i = 0; i < s->q_sent && c->state == CONN_ONLINE; i++) {
		struct bout *e = q_at(s, i);
		if (e->state == OUT_AWAIT_PUBACK || e->state == OUT_AWAIT_PUBREC) {
			/* MQTT-4.4.0-1, MQTT-3.3.1-1: resent with DUP, and what was
			 * queued while the client was away goes now [MQTT-3.1.2-5]. */
			MQTT_CONFORMS("MQTT-4.4.0-1");
			MQTT_CONFORMS("MQTT-3.3.1-1");
			send_publish(c, e->msg, e->qos, e->retain, true, e->id);
		} else if (e->state == OUT_AWAIT_PUBCOMP) {
			struct mqtt_packet p = {.type = MQTT_PUBREL};
			p.ack.packet_id = e->id;
			broker_emit(c, &p);
		}
	}
	session_pump(s);
	broker_release_ends(b);
}

bool session_ack(struct bsession *s, uint8_t type, uint16_t id)
{
	uint8_t want = type == MQTT_PUBACK ? OUT_AWAIT_PUBACK
	             : type == MQTT_PUBREC ? OUT_AWAIT_PUBREC
	                                   : OUT_AWAIT_PUBCOMP;
	struct bout *e = NULL;
	for (size_t i = 0; i < s->q_sent; i++) {
		struct bout *x = q_at(s, i);
		if (x->id == id && x->state == want) {
			e = x;
			break;
		}
		if (type == MQTT_PUBREC && x->id == id && x->state == OUT_AWAIT_PUBCOMP) {
			/* A PUBREC again (the client did not see our PUBREL):
			 * release again. */
			struct mqtt_packet p = {.type = MQTT_PUBREL};
			p.ack.packet_id = id;
			broker_emit(s->conn, &p);
			return true;
		}
	}
	if (!e)
		return false;
	if (type == MQTT_PUBREC) {
		MQTT_CONFORMS("MQTT-4.3.3-1"); /* PUBREL now; the PUBLISH never again */
		e->state = OUT_AWAIT_PUBCOMP;
		/* The message is delivered; what is left is the release. */
		bmsg_unref(e->msg);
		e->msg = NULL;
		struct mqtt_packet p = {.type = MQTT_PUBREL};
		p.ack.packet_id = id;
		broker_emit(s->conn, &p);
		return true;
	}
	e->state = OUT_DONE;
	if (e->msg) {
		bmsg_unref(e->msg);
		e->msg = NULL;
	}
	s->inflight--;
	while (s->q_sent && q_at(s, 0)->state == OUT_DONE) {
		s->q_head = (s->q_head + 1) % s->q_cap;
		s->q_len--;
		s->q_sent--;
	}
	session_pump(s);
	return true;
}

static void deliver(struct mqtt_broker *b, struct bsession *s, struct bmsg *m, uint8_t qos,
                    bool retain)
{
	int act = b->rules ? script_delivery(b, s) : 0;
	if (act == MQTT_ACT_DROP) {
		b->stats.messages_dropped++;
		broker_logf(b, s->conn, "dropping a message for %s by rule", s->client_id);
		return;
	}
	for (int copies = act == MQTT_ACT_DELIVER_TWICE ? 2 : 1; copies > 0; copies--) {
		if (qos == 0) {
			/* MQTT-3.1.2-5 lets a server keep QoS 0 messages for an absent
			 * client; this one does not. */
			if (s->conn && s->conn->state == CONN_ONLINE) {
				b->stats.messages_out++;
				send_publish(s->conn, m, 0, retain, false, 0);
			}
			continue;
		}
		/* Into its session, there or away [MQTT-4.5.0-1, MQTT-3.1.2-5]. */
		MQTT_CONFORMS("MQTT-4.5.0-1");
		if (!s->conn || s->conn->state != CONN_ONLINE)
			MQTT_CONFORMS("MQTT-3.1.2-5");
		if (s->q_len - s->q_sent >= b->cfg.queue_max ||
		    !q_push(s, (struct bout){.msg = m, .qos = qos, .retain = retain})) {
			b->stats.messages_dropped++;
			broker_logf(b, s->conn, "queue of %s full: message dropped", s->client_id);
			continue;
		}
		m->refs++;
		session_pump(s);
	}
}

static bool retain_store(struct mqtt_broker *b, struct bmsg *m)
{
	size_t i = 0;
	while (i < b->nretained && !(b->retained[i]->topic_len == m->topic_len &&
	                             memcmp(b->retained[i]->topic, m->topic, m->topic_len) == 0))
		i++;
	if (m->payload_len == 0) {
		/* MQTT-3.3.1-10, MQTT-3.3.1-11: an empty payload clears it and is
		 * not stored. */
		MQTT_CONFORMS("MQTT-3.3.1-10");
		MQTT_CONFORMS("MQTT-3.3.1-11");
		if (i < b->nretained) {
			bmsg_unref(b->retained[i]);
			b->retained[i] = b->retained[--b->nretained];
		}
		return true;
	}
	if (i < b->nretained) {
		/* MQTT-3.3.1-5, MQTT-3.3.1-7: the new message replaces the old. */
		MQTT_CONFORMS("MQTT-3.3.1-7");
		bmsg_unref(b->retained[i]);
		b->retained[i] = m;
		m->refs++;
		return true;
	}
	if (b->nretained == b->retained_cap) {
		size_t cap = b->retained_cap ? b->retained_cap * 2 : 16;
		struct bmsg **p = realloc(b->retained, cap * sizeof *p);
		if (!p)
			return false;
		b->retained = p;
		b->retained_cap = cap;
	}
	b->retained[b->nretained++] = m;
	m->refs++;
	return true;
}

void broker_publish(struct mqtt_broker *b, struct bmsg *m, bool retain)
{
	/* Stored (outside any session [MQTT-3.1.2-7]) only when RETAIN is set
	 * [MQTT-3.3.1-5, MQTT-3.3.1-12]. */
	if (retain) {
		MQTT_CONFORMS("MQTT-3.3.1-5");
		MQTT_CONFORMS("MQTT-3.1.2-7");
	} else {
		MQTT_CONFORMS("MQTT-3.3.1-12");
	}
	if (retain && !retain_store(b, m))
		broker_logf(b, NULL, "out of memory: retained message not stored");
	/* A rule may close a subscriber's connection as the message goes out:
	 * its clean session must stay in the list until every subscriber had
	 * it (found by mqttsim explore, seed 14406: the session was freed and
	 * the last one moved into its place, and skipped). */
	broker_hold_ends(b);
	for (size_t i = 0; i < b->nsessions; i++) {
		struct bsession *s = b->sessions[i];
		int granted = -1;
		for (size_t j = 0; j < s->nsubs; j++) {
			const struct bsub *sub = &s->subs[j];
			if (sub->qos > granted &&
			    mqtt_topic_match(sub->filter, sub->len, m->topic, m->topic_len))
				granted = sub->qos;
		}
		/* One delivery for overlapping subscriptions, at the highest
		 * QoS granted (MQTT-3.3.5-1 allows either); no higher than the
		 * publisher's. MQTT-3.3.1-9: retain is 0 to established
		 * subscribers. */
		if (granted >= 0) {
			MQTT_CONFORMS("MQTT-3.3.5-1");
			MQTT_CONFORMS("MQTT-3.3.1-9");
			deliver(b, s, m, m->qos < granted ? m->qos : (uint8_t)granted, false);
		}
	}
	broker_release_ends(b);
}

/* b is passed, not taken from the session's connection, which the
 * caller has checked is still up (found by mqttsim explore). */
void broker_subscribe_retained(struct mqtt_broker *b, struct bsession *s, const uint8_t *filter,
                               size_t len, uint8_t qos)
{
	broker_hold_ends(b);
	for (size_t i = 0; i < b->nretained; i++) {
		struct bmsg *m = b->retained[i];
		/* MQTT-3.3.1-6, MQTT-3.3.1-8: retained messages on subscribe,
		 * with the retain flag set. */
		if (mqtt_topic_match(filter, len, m->topic, m->topic_len)) {
			MQTT_CONFORMS("MQTT-3.3.1-6");
			MQTT_CONFORMS("MQTT-3.3.1-8");
			deliver(b, s, m, m->qos < qos ? m->qos : qos, true);
		}
	}
	broker_release_ends(b);
}
