/*
 * session_store.c - a session on a store: INIT writes the client
 * identifier into an empty store; ADOPT reads a store back after a
 * restart, in save order, and rebuilds what was in flight. A record
 * that is damaged or makes no sense becomes a warning, never a crash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "session_internal.h"

static int any_key(void *arg, uint32_t key)
{
	(void)key;
	*(bool *)arg = true;
	return 1;
}

struct mqtt_error session_store_init(struct mqtt_session *s)
{
	bool used = false;
	int rc = s->checked.store.ops->list(s->checked.store.self, any_key, &used);
	if (rc < 0)
		return err_of(MQTT_PERSISTENCE, -rc);
	if (used)
		return err_of(MQTT_PERSISTENCE, EEXIST); /* ADOPT continues a session */
	struct iovec v = {(void *)(uintptr_t)s->cfg.client_id.data, s->cfg.client_id.len};
	rc = mqtt_checked_save(&s->checked, MQTT_KEY_CLIENT_ID, &v, 1, NULL);
	return rc ? err_of(MQTT_PERSISTENCE, -rc) : ok();
}

struct adoption {
	struct mqtt_session *s;
	uint8_t *client_id;
	size_t client_id_len;
	bool have_client_id;
};

/* Takes an outbound exchange into the session as adopted; packet (a
 * copy is made) for OUT_PUBLISH. Returns false when out of memory. */
static bool adopt_entry(struct mqtt_session *s, struct space *sp, uint16_t id,
                        enum out_state state, const uint8_t *packet, size_t len)
{
	int32_t node = session_node(s, sp, id);
	struct out_entry *ent = session_entry_make(s, node);
	if (!ent)
		return false;
	if (ent->state != OUT_FREE)
		return true; /* cannot happen: one record per key */
	if (state == OUT_PUBLISH) {
		ent->packet = malloc(len);
		if (!ent->packet)
			return false;
		memcpy(ent->packet, packet, len);
		ent->packet[0] &= (uint8_t)~0x08; /* DUP is set per resend */
		ent->len = len;
	}
	ent->state = state;
	/* The seed's assumption: what was saved was also sent. */
	ent->sent = true;
	ent->sent_before = true;
	sp->count++;
	if ((unsigned)(id & (MQTT_WINDOW_MAX - 1)) >= sp->cursor)
		sp->cursor = (id & (MQTT_WINDOW_MAX - 1)) + 1;
	session_list_append(s, node);
	return true;
}

/*
 * A record that failed its check (torn, a bit flipped, or a value that
 * makes no sense under its key). Its key still says what it was about,
 * and the policy (docs/client.md) follows from that: the message of a
 * damaged outbound record is never sent (its bytes cannot be trusted);
 * a QoS 2 identifier is released with PUBREL before it carries another
 * message, since the broker may hold it [MQTT-4.3.3-2]; a QoS 1 one is
 * free (a QoS 1 receiver holds no identifier); a damaged inbound record
 * keeps its identifier held, so the broker's resend is not delivered a
 * second time. Each is reported as a warning.
 */
static void adopt_damaged(struct mqtt_session *s, uint32_t key, const char *why)
{
	uint16_t id = (uint16_t)key;
	struct space *sp = key <= 0xffff && key >= MQTT_SPACE_AT_LEAST_ONCE ? session_space_of(s, id)
	                                                                     : NULL;
	if ((key & MQTT_KEY_INBOUND) && key <= (MQTT_KEY_INBOUND | 0xffff) && id) {
		inbound_set(s, id, true);
		session_warn(s, "persistence: record %#x damaged (%s): inbound identifier %u stays held, "
		             "so the broker's resend is not delivered again", (unsigned)key, why, id);
	} else if (sp && (id & 0xc000) == MQTT_SPACE_EXACTLY_ONCE) {
		if (!adopt_entry(s, sp, id, OUT_PUBREL, NULL, 0))
			session_warn(s, "persistence: record %#x damaged (%s), and out of memory",
			             (unsigned)key, why);
		else
			session_warn(s, "persistence: record %#x damaged (%s): its message is not sent again; "
			             "identifier %u is released (PUBREL) before it carries another",
			             (unsigned)key, why, id);
	} else if (sp) {
		session_warn(s, "persistence: record %#x damaged (%s): its message is not sent again",
		             (unsigned)key, why);
	} else {
		session_warn(s, "persistence: record %#x skipped: %s", (unsigned)key, why);
	}
}

static void on_damaged(void *arg, uint32_t key, const char *why)
{
	struct adoption *a = arg;
	adopt_damaged(a->s, key, why);
}

/* An outbound record: the PUBLISH as first saved, or the PUBREL that
 * replaced it. Anything else under an outbound key is damaged. */
static void adopt_outbound(struct mqtt_session *s, const struct mqtt_checked_record *r)
{
	uint16_t id = (uint16_t)r->key;
	struct space *sp = session_space_of(s, id);
	struct mqtt_packet p;
	enum mqtt_err e = mqtt_decode(&p, r->value, r->len, MQTT_STRICT, NULL);
	bool qos2 = (id & 0xc000) == MQTT_SPACE_EXACTLY_ONCE;
	const char *bad = NULL;
	if (!sp)
		bad = "no QoS window for its identifier space";
	else if (e)
		bad = mqtt_strerror(e);
	else if (p.type == MQTT_PUBLISH && (p.publish.packet_id != id || p.publish.qos != (qos2 ? 2 : 1)))
		bad = "PUBLISH with another identifier or QoS";
	else if (p.type == MQTT_PUBREL && (!qos2 || p.ack.packet_id != id))
		bad = "PUBREL with another identifier";
	else if (p.type != MQTT_PUBLISH && p.type != MQTT_PUBREL)
		bad = "not a PUBLISH or PUBREL";
	if (bad) {
		adopt_damaged(s, r->key, bad);
		return;
	}
	if (!adopt_entry(s, sp, id, p.type == MQTT_PUBLISH ? OUT_PUBLISH : OUT_PUBREL, r->value, r->len))
		session_warn(s, "persistence: record %#x skipped: out of memory", (unsigned)r->key);
}

static int adopt_record(void *arg, const struct mqtt_checked_record *r)
{
	struct adoption *a = arg;
	struct mqtt_session *s = a->s;
	if (r->key == MQTT_KEY_CLIENT_ID) {
		a->client_id = malloc(r->len ? r->len : 1);
		if (!a->client_id)
			return -ENOMEM;
		memcpy(a->client_id, r->value, r->len);
		a->client_id_len = r->len;
		a->have_client_id = true;
	} else if (r->key & MQTT_KEY_INBOUND) {
		uint16_t id = (uint16_t)r->key;
		if (id == 0)
			session_warn(s, "persistence: record %#x skipped: packet identifier 0", (unsigned)r->key);
		else
			inbound_set(s, id, true);
	} else if (r->key >= MQTT_SPACE_AT_LEAST_ONCE) {
		adopt_outbound(s, r);
	} else {
		session_warn(s, "persistence: record %#x skipped: unknown key", (unsigned)r->key);
	}
	return 0;
}

struct mqtt_error session_store_adopt(struct mqtt_session *s)
{
	/* The session's state outlives the process [MQTT-4.1.0-1]. */
	MQTT_CONFORMS("MQTT-4.1.0-1");
	struct adoption a = {.s = s};
	int rc = mqtt_checked_scan(&s->checked, adopt_record, on_damaged, &a);
	if (rc) {
		free(a.client_id);
		return err_of(MQTT_PERSISTENCE, rc < 0 ? -rc : EIO);
	}
	if (a.have_client_id) {
		struct mqtt_slice *id = &s->cfg.client_id;
		if (id->len && (id->len != a.client_id_len || memcmp(id->data, a.client_id, a.client_id_len)))
			session_warn(s, "persistence: stored client identifier used, not the configured one");
		/* Rebuild the owned block of copied configuration with the
		 * stored identifier in it. */
		size_t other = s->cfg.username.len + s->cfg.password.len + s->cfg.will_topic.len +
		               s->cfg.will_message.len;
		uint8_t *block = malloc(a.client_id_len + other + 1);
		if (!block) {
			free(a.client_id);
			return err_of(MQTT_PERSISTENCE, ENOMEM);
		}
		uint8_t *w = block;
		struct mqtt_slice *fields[] = {&s->cfg.username, &s->cfg.password, &s->cfg.will_topic,
		                               &s->cfg.will_message};
		memcpy(w, a.client_id, a.client_id_len);
		id->data = w;
		id->len = a.client_id_len;
		w += a.client_id_len;
		for (size_t i = 0; i < 4; i++) {
			if (fields[i]->len)
				memcpy(w, fields[i]->data, fields[i]->len);
			fields[i]->data = w;
			w += fields[i]->len;
		}
		free(a.client_id);
		free(s->owned);
		s->owned = block;
		return ok();
	}
	if (!s->cfg.client_id.len)
		return err_of(MQTT_PERSISTENCE, ENOENT);
	session_warn(s, "persistence: no client identifier stored; the configured one is used");
	struct iovec v = {(void *)(uintptr_t)s->cfg.client_id.data, s->cfg.client_id.len};
	rc = mqtt_checked_save(&s->checked, MQTT_KEY_CLIENT_ID, &v, 1, NULL);
	return rc ? err_of(MQTT_PERSISTENCE, -rc) : ok();
}
