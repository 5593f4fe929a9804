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
	/* w comes from calloc: only what says "nothing in flight" is cleared,
	 * not the large buffers (this runs for every client of every run). */
	memset(w->inflight, 0, sizeof w->inflight);
	w->adopted = false;
	for (int d = 0; d < 2; d++) {
		mqtt_framer_init(&w->f[d], w->fbuf[d], sizeof w->fbuf[d]);
		w->framing_lost[d] = false;
	}
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

/*
 * The fields the rules need, read straight from a whole packet (the
 * framer's): its type and flags, a PUBLISH's identifier and content, an
 * acknowledgement's or request's identifier. Damaged packets are skipped:
 * the receiver deals with those, and they are no conduct of the client.
 */
static void packet(struct wire *w, int dir, const uint8_t *b, size_t len, const char *client,
                   struct wire_report *r)
{
	size_t at = 1;
	while (at < len && at < 5 && (b[at] & 0x80))
		at++;
	at++; /* past the last remaining-length byte */
	if (at > len)
		return;
	unsigned type = b[0] >> 4, qos = b[0] >> 1 & 3;
	bool dup = b[0] & 8;
	if (dir == 0 && type == MQTT_PUBLISH && (qos == 1 || qos == 2)) {
		if (len - at < 2)
			return;
		size_t tlen = (size_t)b[at] << 8 | b[at + 1];
		if (len - at - 2 < tlen + 2)
			return;
		const uint8_t *topic = b + at + 2, *idp = topic + tlen, *payload = idp + 2;
		uint16_t id = (uint16_t)(idp[0] << 8 | idp[1]);
		uint32_t h = mqtt_crc32c(mqtt_crc32c(0, topic, tlen), payload, (size_t)(b + len - payload));
		bool again = in_flight(w, id);
		if (again && h != w->content[id]) {
			if (!r->id_violation) {
				r->id_violation = true;
				snprintf(r->id_why, sizeof r->id_why,
				         "%s reused identifier %u for another message while it was in flight "
				         "[MQTT-2.3.1-2]", client, id);
			}
		} else if (again && !dup && !r->dup_violation) {
			r->dup_violation = true;
			snprintf(r->dup_why, sizeof r->dup_why,
			         "%s sent PUBLISH id %u again without DUP [MQTT-3.3.1-1]", client, id);
		} else if (!again && dup && !w->adopted && !r->dup_violation) {
			r->dup_violation = true;
			snprintf(r->dup_why, sizeof r->dup_why,
			         "%s sent PUBLISH id %u for the first time with DUP [MQTT-3.3.1-1]", client,
			         id);
		}
		set_flight(w, id, true);
		w->content[id] = h;
		return;
	}
	if (len - at < 2)
		return;
	uint16_t id = (uint16_t)(b[at] << 8 | b[at + 1]);
	if (dir == 1 && (type == MQTT_PUBACK || type == MQTT_PUBCOMP)) {
		set_flight(w, id, false); /* the identifier is free again */
	} else if (dir == 0 && (type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE) &&
	           in_flight(w, id) && !r->id_violation) {
		/* A request must not take an identifier a PUBLISH holds. */
		r->id_violation = true;
		snprintf(r->id_why, sizeof r->id_why,
		         "%s used identifier %u for %s while a PUBLISH held it [MQTT-2.3.1-2]", client, id,
		         mqtt_type_name(type));
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
