/*
 * wire.c - the DUP and packet-identifier rules over a client's traffic:
 * a PUBLISH sent again must carry DUP [MQTT-3.3.1-1], a first send must
 * not (a session adopted after a restart may, as the seed documents: it
 * cannot know what reached the wire before the crash), and an identifier
 * is not reused while its exchange is in flight [MQTT-2.3.1-2].
 */
#include <stdio.h>
#include <string.h>

#include "mqttsim/store.h"
#include "wire.h"

void wire_init(struct wire *w)
{
	memset(w, 0, sizeof *w);
	for (int d = 0; d < 2; d++)
		mqtt_framer_init(&w->f[d], w->fbuf[d], sizeof w->fbuf[d]);
}

void wire_connection(struct wire *w, bool after_adopt)
{
	for (int d = 0; d < 2; d++) {
		mqtt_framer_init(&w->f[d], w->fbuf[d], sizeof w->fbuf[d]);
		w->framing_lost[d] = false;
	}
	if (after_adopt)
		w->adopted = true;
}

static bool in_flight(const struct wire *w, uint16_t id)
{
	return w->inflight[id >> 3] >> (id & 7) & 1;
}

static void set_flight(struct wire *w, uint16_t id, bool on)
{
	if (on)
		w->inflight[id >> 3] |= (uint8_t)(1u << (id & 7));
	else
		w->inflight[id >> 3] &= (uint8_t)~(1u << (id & 7));
}

static void packet(struct wire *w, int dir, const uint8_t *b, size_t len, const char *client,
                   struct wire_report *r)
{
	struct mqtt_packet p;
	if (mqtt_decode(&p, b, len, MQTT_STRICT, NULL) != MQTT_OK)
		return; /* damaged on purpose by a fault: the receiver deals with it */
	if (dir == 0 && p.type == MQTT_PUBLISH && p.publish.qos) {
		uint16_t id = p.publish.packet_id;
		uint32_t h = mqtt_crc32c(mqtt_crc32c(0, p.publish.topic.data, p.publish.topic.len),
		                         p.publish.payload.data, p.publish.payload.len);
		bool again = in_flight(w, id);
		if (again && h != w->content[id]) {
			if (!r->id_violation) {
				r->id_violation = true;
				snprintf(r->id_why, sizeof r->id_why,
				         "%s reused identifier %u for another message while it was in flight "
				         "[MQTT-2.3.1-2]", client, id);
			}
		} else if (again && !p.publish.dup && !r->dup_violation) {
			r->dup_violation = true;
			snprintf(r->dup_why, sizeof r->dup_why,
			         "%s sent PUBLISH id %u again without DUP [MQTT-3.3.1-1]", client, id);
		}
		if (!again && p.publish.dup && !w->adopted && !r->dup_violation) {
			r->dup_violation = true;
			snprintf(r->dup_why, sizeof r->dup_why,
			         "%s sent PUBLISH id %u for the first time with DUP [MQTT-3.3.1-1]", client,
			         id);
		}
		set_flight(w, id, true);
		w->content[id] = h;
	} else if (dir == 1 && (p.type == MQTT_PUBACK || p.type == MQTT_PUBCOMP)) {
		set_flight(w, p.ack.packet_id, false); /* the identifier is free again */
	} else if (dir == 0 && (p.type == MQTT_SUBSCRIBE || p.type == MQTT_UNSUBSCRIBE)) {
		/* A request must not take an identifier a PUBLISH holds. */
		if (in_flight(w, p.subscribe.packet_id) && !r->id_violation) {
			r->id_violation = true;
			snprintf(r->id_why, sizeof r->id_why,
			         "%s used identifier %u for %s while a PUBLISH held it [MQTT-2.3.1-2]",
			         client, p.subscribe.packet_id, mqtt_type_name(p.type));
		}
	}
}

void wire_bytes(struct wire *w, int dir, const uint8_t *data, size_t len, const char *client,
                struct wire_report *r)
{
	while (len && !w->framing_lost[dir]) {
		size_t used;
		struct mqtt_frame fr;
		if (mqtt_framer_feed(&w->f[dir], data, len, &used, &fr) != MQTT_OK) {
			w->framing_lost[dir] = true; /* corrupted on purpose; until the next connection */
			return;
		}
		data += used;
		len -= used;
		if (fr.len)
			packet(w, dir, fr.data, fr.len, client, r);
	}
}
