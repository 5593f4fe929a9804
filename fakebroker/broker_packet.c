/*
 * broker_packet.c - what an accepted client sends: PUBLISH and its
 * acknowledgements, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT.
 */
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"

static void send_ack(struct bconn *c, enum mqtt_type type, uint16_t id)
{
	struct mqtt_packet p = {.type = type};
	p.ack.packet_id = id;
	broker_emit(c, &p);
}

static bool qos2_seen(struct bsession *s, uint16_t id)
{
	return s->qos2_in && (s->qos2_in[id >> 3] >> (id & 7) & 1);
}

/* Returns false when out of memory. */
static bool qos2_mark(struct bsession *s, uint16_t id, bool on)
{
	if (!s->qos2_in) {
		if (!on)
			return true;
		s->qos2_in = calloc(65536 / 8, 1);
		if (!s->qos2_in)
			return false;
	}
	if (on)
		s->qos2_in[id >> 3] |= (uint8_t)(1u << (id & 7));
	else
		s->qos2_in[id >> 3] &= (uint8_t)~(1u << (id & 7));
	return true;
}

static void on_publish(struct bconn *c, const struct mqtt_publish *pub)
{
	struct mqtt_broker *b = c->b;
	struct bsession *s = c->session;
	if (pub->qos == 2 && qos2_seen(s, pub->packet_id)) {
		/* MQTT-4.3.3-2: until PUBREL, the same identifier is the same
		 * message: acknowledge again, deliver no second time. */
		MQTT_CONFORMS("MQTT-4.3.3-2");
		send_ack(c, MQTT_PUBREC, pub->packet_id);
		return;
	}
	struct bmsg *m = bmsg_new(&pub->topic, &pub->payload, pub->qos);
	if (!m || (pub->qos == 2 && !qos2_mark(s, pub->packet_id, true))) {
		if (m)
			bmsg_unref(m);
		/* Not acknowledged, so the client keeps the message. */
		broker_close(c, "out of memory for a message");
		return;
	}
	b->stats.messages_in++;
	broker_publish(b, m, pub->retain);
	bmsg_unref(m);
	/* Answered as its QoS says [MQTT-3.3.4-1], with its identifier
	 * [MQTT-2.3.1-6], in the order received [MQTT-4.6.0-2, -3]. */
	MQTT_CONFORMS("MQTT-3.3.4-1");
	if (pub->qos) {
		MQTT_CONFORMS("MQTT-2.3.1-6");
		MQTT_CONFORMS("MQTT-4.5.0-2");
	}
	if (pub->qos == 1) {
		MQTT_CONFORMS("MQTT-4.3.2-2");
		MQTT_CONFORMS("MQTT-4.6.0-2");
		send_ack(c, MQTT_PUBACK, pub->packet_id); /* MQTT-4.3.2-2 */
	} else if (pub->qos == 2) {
		MQTT_CONFORMS("MQTT-4.3.3-2");
		MQTT_CONFORMS("MQTT-4.6.0-3");
		send_ack(c, MQTT_PUBREC, pub->packet_id); /* MQTT-4.3.3-2 */
	}
}

static struct bsub *find_sub(struct bsession *s, const uint8_t *filter, size_t len)
{
	for (size_t i = 0; i < s->nsubs; i++)
		if (s->subs[i].len == len && memcmp(s->subs[i].filter, filter, len) == 0)
			return &s->subs[i];
	return NULL;
}

/* Adds or replaces a subscription; false when out of memory. */
static bool add_sub(struct bsession *s, const uint8_t *filter, size_t len, uint8_t qos)
{
	struct bsub *sub = find_sub(s, filter, len);
	if (sub) {
		/* MQTT-3.8.4-3: an identical filter replaces the subscription. */
		MQTT_CONFORMS("MQTT-3.8.4-3");
		sub->qos = qos;
		return true;
	}
	if (s->nsubs == s->subs_cap) {
		size_t cap = s->subs_cap ? s->subs_cap * 2 : 4;
		struct bsub *p = realloc(s->subs, cap * sizeof *p);
		if (!p)
			return false;
		s->subs = p;
		s->subs_cap = cap;
	}
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return false;
	memcpy(copy, filter, len);
	s->subs[s->nsubs++] = (struct bsub){.filter = copy, .len = (uint16_t)len, .qos = qos};
	return true;
}

static void on_subscribe(struct bconn *c, const struct mqtt_packet *p)
{
	struct bsession *s = c->session;
	uint8_t codes[1024];
	uint8_t *rc = p->subscribe.count <= sizeof codes ? codes : malloc(p->subscribe.count);
	if (!rc) {
		broker_close(c, "out of memory for a SUBACK");
		return;
	}
	size_t cursor = 0, i = 0;
	struct mqtt_topic t;
	/* Each filter as if alone, one SUBACK for all [MQTT-3.8.4-4]; wildcards
	 * are supported [MQTT-3.8.3-2]. */
	MQTT_CONFORMS("MQTT-3.8.4-4");
	MQTT_CONFORMS("MQTT-3.8.3-2");
	while (mqtt_topic_next(p, &cursor, &t)) {
		if (script_refuse_subscribe(c->b, s, t.filter.data, t.filter.len) ||
		    !add_sub(s, t.filter.data, t.filter.len, t.qos))
			rc[i++] = MQTT_SUBACK_FAILURE;
		else
			rc[i++] = t.qos; /* MQTT-3.8.4-5: one code per filter, in order */
	}
	/* MQTT-3.8.4-1, MQTT-3.8.4-2: SUBACK with the same identifier; one
	 * code per filter, in order [MQTT-3.8.4-5, MQTT-3.9.3-1]; the QoS asked
	 * is granted (MQTT-3.8.4-6 allows less). */
	MQTT_CONFORMS("MQTT-3.8.4-1");
	MQTT_CONFORMS("MQTT-3.8.4-2");
	MQTT_CONFORMS("MQTT-3.8.4-5");
	MQTT_CONFORMS("MQTT-3.8.4-6");
	MQTT_CONFORMS("MQTT-3.9.3-1");
	MQTT_CONFORMS("MQTT-2.3.1-7");
	struct mqtt_packet ack = {.type = MQTT_SUBACK};
	ack.suback.packet_id = p->subscribe.packet_id;
	ack.suback.return_codes = (struct mqtt_slice){rc, i};
	/* Known before the SUBACK goes: a rule that closes the connection
	 * there frees a clean session with it. */
	bool persistent = !s->clean;
	broker_emit(c, &ack);
	/* MQTT-3.8.4-3: retained messages of every (re)subscribed filter.
	 * When a rule closed the connection at the SUBACK, a clean session
	 * is gone with it; a persistent one keeps the subscription, so its
	 * QoS 1 and 2 copies wait in it for the next connection [MQTT-3.1.2-5]
	 * (found by mqttsim explore, seed 1559777: the client, its
	 * subscription acknowledged, never got the retained message). */
	cursor = 0;
	i = 0;
	while ((c->state == CONN_ONLINE || persistent) && mqtt_topic_next(p, &cursor, &t)) {
		if (rc[i++] != MQTT_SUBACK_FAILURE)
			broker_subscribe_retained(c->b, s, t.filter.data, t.filter.len, t.qos);
	}
	if (rc != codes)
		free(rc);
}

static void on_unsubscribe(struct bconn *c, const struct mqtt_packet *p)
{
	struct bsession *s = c->session;
	size_t cursor = 0;
	struct mqtt_topic t;
	/* Each filter as if alone, compared byte for byte [MQTT-3.10.4-1,
	 * MQTT-3.10.4-6]; one UNSUBACK, matched or not [MQTT-3.10.4-4, -5]. */
	MQTT_CONFORMS("MQTT-3.10.4-1");
	MQTT_CONFORMS("MQTT-3.10.4-4");
	MQTT_CONFORMS("MQTT-3.10.4-5");
	MQTT_CONFORMS("MQTT-3.10.4-6");
	MQTT_CONFORMS("MQTT-2.3.1-7");
	while (mqtt_topic_next(p, &cursor, &t)) {
		struct bsub *sub = find_sub(s, t.filter.data, t.filter.len);
		if (!sub)
			continue;
		/* MQTT-3.10.4-2: no new messages for a deleted subscription;
		 * what is under way to it goes on (its in-flight list stays)
		 * [MQTT-3.10.4-3]. */
		MQTT_CONFORMS("MQTT-3.10.4-2");
		MQTT_CONFORMS("MQTT-3.10.4-3");
		free(sub->filter);
		*sub = s->subs[--s->nsubs];
	}
	send_ack(c, MQTT_UNSUBACK, p->subscribe.packet_id); /* MQTT-3.10.4-4, MQTT-3.10.4-5 */
}

void broker_on_packet(struct bconn *c, const struct mqtt_packet *p)
{
	struct bsession *s = c->session;
	switch (p->type) {
	case MQTT_PUBLISH:
		on_publish(c, &p->publish);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		if (!session_ack(s, (uint8_t)p->type, p->ack.packet_id))
			broker_logf(c->b, c, "%s for packet identifier %u, which is not awaiting it",
			            mqtt_type_name(p->type), p->ack.packet_id);
		break;
	case MQTT_PUBREL:
		MQTT_CONFORMS("MQTT-4.3.3-2");
		qos2_mark(s, p->ack.packet_id, false);
		send_ack(c, MQTT_PUBCOMP, p->ack.packet_id); /* MQTT-4.3.3-2 */
		break;
	case MQTT_SUBSCRIBE:
		on_subscribe(c, p);
		break;
	case MQTT_UNSUBSCRIBE:
		on_unsubscribe(c, p);
		break;
	case MQTT_PINGREQ:
		MQTT_CONFORMS("MQTT-3.12.4-1");
		send_ack(c, MQTT_PINGRESP, 0); /* MQTT-3.12.4-1 */
		break;
	case MQTT_DISCONNECT:
		/* MQTT-3.14.4-3: the will is discarded. */
		MQTT_CONFORMS("MQTT-3.14.4-3");
		MQTT_CONFORMS("MQTT-3.1.2-10");
		c->disconnected = true;
		broker_close(c, "DISCONNECT");
		break;
	case MQTT_CONNECT:
		/* MQTT-3.1.0-2: a second CONNECT is a protocol violation. */
		MQTT_CONFORMS("MQTT-3.1.0-2");
		c->b->stats.protocol_errors++;
		broker_close(c, "second CONNECT [MQTT-3.1.0-2]");
		break;
	default:
		/* CONNACK, SUBACK, UNSUBACK and PINGRESP only go to clients. */
		c->b->stats.protocol_errors++;
		broker_logf(c->b, c, "client sent %s, a server's packet", mqtt_type_name(p->type));
		broker_close(c, "client sent a packet only a server sends");
		break;
	}
}
