/*
 * broker_connect.c - CONNECT: validation, users, sessions (clean,
 * persistent, taken over) and wills.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"

struct bsession *broker_session_find(struct mqtt_broker *b, const uint8_t *id, size_t len)
{
	for (size_t i = 0; i < b->nsessions; i++) {
		struct bsession *s = b->sessions[i];
		if (s->id_len == len && memcmp(s->client_id, id, len) == 0)
			return s;
	}
	return NULL;
}

void broker_session_free(struct mqtt_broker *b, struct bsession *s)
{
	(void)b;
	session_clear_queue(s);
	for (size_t i = 0; i < s->nsubs; i++)
		free(s->subs[i].filter);
	free(s->subs);
	free(s->q);
	free(s->qos2_in);
	free(s->client_id);
	free(s);
}

static void session_remove(struct mqtt_broker *b, struct bsession *s)
{
	for (size_t i = 0; i < b->nsessions; i++) {
		if (b->sessions[i] == s) {
			b->sessions[i] = b->sessions[--b->nsessions];
			break;
		}
	}
	broker_session_free(b, s);
}

static struct bsession *session_new(struct mqtt_broker *b, const uint8_t *id, size_t len,
                                    bool clean)
{
	if (b->nsessions == b->sessions_cap) {
		size_t cap = b->sessions_cap ? b->sessions_cap * 2 : 16;
		struct bsession **p = realloc(b->sessions, cap * sizeof *p);
		if (!p)
			return NULL;
		b->sessions = p;
		b->sessions_cap = cap;
	}
	struct bsession *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->client_id = malloc(len + 1);
	if (!s->client_id) {
		free(s);
		return NULL;
	}
	memcpy(s->client_id, id, len);
	s->client_id[len] = 0;
	s->id_len = len;
	s->clean = clean;
	s->next_id = 1;
	b->sessions[b->nsessions++] = s;
	return s;
}

void broker_connection_ended(struct bconn *c)
{
	struct mqtt_broker *b = c->b;
	struct bsession *s = c->session;
	if (s && s->conn == c) {
		s->conn = NULL;
		/* MQTT-3.1.2-6: a clean session lasts as long as its connection. */
		if (s->clean) {
			MQTT_CONFORMS("MQTT-3.1.2-6");
			MQTT_CONFORMS("MQTT-4.1.0-2");
			session_remove(b, s);
			c->session = NULL;
		}
	}
	if (c->will) {
		struct bmsg *will = c->will;
		c->will = NULL;
		/* MQTT-3.1.2-8: the will is published unless DISCONNECT came. */
		if (!c->disconnected) {
			MQTT_CONFORMS("MQTT-3.1.2-8");
			if (c->will_retain)
				MQTT_CONFORMS("MQTT-3.1.2-17");
			else
				MQTT_CONFORMS("MQTT-3.1.2-16");
			broker_logf(b, c, "publishing will on %.*s", (int)will->topic_len,
			            (const char *)will->topic);
			broker_publish(b, will, c->will_retain);
		}
		bmsg_unref(will);
	}
}

static void connack(struct bconn *c, uint8_t code, bool session_present)
{
	struct mqtt_packet p = {.type = MQTT_CONNACK};
	p.connack.return_code = code;
	p.connack.flags = session_present ? MQTT_CONNACK_SESSION_PRESENT : 0;
	broker_emit(c, &p);
}

static void refuse(struct bconn *c, uint8_t code, const char *reason)
{
	/* MQTT-3.2.2-4: session present is 0 on a refusal;
	 * MQTT-3.2.2-5: the server closes the connection after it, and reads
	 * nothing more [MQTT-3.1.4-5]. */
	MQTT_CONFORMS("MQTT-3.2.2-4");
	MQTT_CONFORMS("MQTT-3.2.2-5");
	MQTT_CONFORMS("MQTT-3.1.4-5");
	connack(c, code, false);
	broker_logf(c->b, c, "connect refused with code %u: %s", code, reason);
	broker_close(c, reason);
}

static uint8_t authenticate(struct mqtt_broker *b, const struct mqtt_connect *cp)
{
	if (!b->nusers)
		return MQTT_CONNACK_ACCEPTED;
	if (!cp->has_username)
		return b->cfg.anonymous ? MQTT_CONNACK_ACCEPTED : MQTT_CONNACK_NOT_AUTHORIZED;
	for (size_t i = 0; i < b->nusers; i++) {
		const struct buser *u = &b->users[i];
		if (strlen(u->name) != cp->username.len ||
		    memcmp(u->name, cp->username.data, cp->username.len) != 0)
			continue;
		if (!cp->has_password)
			return MQTT_CONNACK_BAD_CREDENTIALS;
		return broker_check_secret(u->secret, cp->password.data, cp->password.len) == 0
		               ? MQTT_CONNACK_ACCEPTED
		               : MQTT_CONNACK_BAD_CREDENTIALS;
	}
	return MQTT_CONNACK_BAD_CREDENTIALS;
}

void broker_on_connect(struct bconn *c, const struct mqtt_packet *p, enum mqtt_err err)
{
	struct mqtt_broker *b = c->b;
	bool mqisdp = err == MQTT_ERR_PROTOCOL_NAME && p->connect.protocol_name.len == 6 &&
	              memcmp(p->connect.protocol_name.data, "MQIsdp", 6) == 0;
	if (err == MQTT_ERR_PROTOCOL_LEVEL || mqisdp) {
		/* An MQTT 3.1 client ("MQIsdp") is answered as MQTT-3.1.2-1
		 * allows, by that protocol's rules: version refused. */
		/* MQTT-3.1.2-2: unsupported level gets return code 1, then close. */
		MQTT_CONFORMS("MQTT-3.1.2-2");
		refuse(c, MQTT_CONNACK_PROTOCOL_LEVEL, "unsupported protocol level [MQTT-3.1.2-2]");
		return;
	}
	if (err != MQTT_OK) {
		/* MQTT-3.1.2-1 (protocol name), MQTT-3.1.2-3 (reserved flag) and
		 * the rest of §3.1: close without CONNACK. */
		MQTT_CONFORMS("MQTT-3.1.4-1");
		MQTT_CONFORMS("MQTT-3.2.2-6");
		broker_logf(b, c, "malformed CONNECT: %s", mqtt_strerror(err));
		b->stats.protocol_errors++;
		broker_close(c, "malformed CONNECT");
		return;
	}
	const struct mqtt_connect *cp = &p->connect;
	/* Validated (the decoder); the client id names the session
	 * [MQTT-3.1.3-2], any of 1-23 of 0-9a-zA-Z allowed [MQTT-3.1.3-5]. */
	MQTT_CONFORMS("MQTT-3.1.4-1");
	MQTT_CONFORMS("MQTT-3.1.3-2");
	if (cp->client_id.len)
		MQTT_CONFORMS("MQTT-3.1.3-5");
	uint8_t code = script_refusal(b, cp->client_id.data, cp->client_id.len);
	if (code) {
		if (code == MQTT_CONNACK_CLIENT_ID)
			MQTT_CONFORMS("MQTT-3.1.3-9");
		refuse(c, code, "refused by script");
		return;
	}
	if (cp->client_id.len == 0 && !cp->clean_session) {
		/* MQTT-3.1.3-8: an empty identifier needs a clean session. */
		MQTT_CONFORMS("MQTT-3.1.3-8");
		refuse(c, MQTT_CONNACK_CLIENT_ID, "empty client identifier without clean session [MQTT-3.1.3-8]");
		return;
	}
	code = authenticate(b, cp);
	if (code) {
		refuse(c, code, code == MQTT_CONNACK_NOT_AUTHORIZED ? "no user name" : "bad user name or password");
		return;
	}
	char generated[40];
	const uint8_t *id = cp->client_id.data;
	size_t id_len = cp->client_id.len;
	if (!id_len) {
		/* MQTT-3.1.3-6: the server assigns a unique identifier. */
		MQTT_CONFORMS("MQTT-3.1.3-6");
		id_len = (size_t)snprintf(generated, sizeof generated, "fakebroker-%llu",
		                          (unsigned long long)++b->generated_ids);
		id = (const uint8_t *)generated;
	}
	struct bsession *s = broker_session_find(b, id, id_len);
	if (s && s->conn) {
		/* MQTT-3.1.4-2: a second connection takes the session over. */
		MQTT_CONFORMS("MQTT-3.1.4-2");
		broker_close(s->conn, "taken over by a new connection with the same client identifier [MQTT-3.1.4-2]");
		s = broker_session_find(b, id, id_len); /* a clean one is gone now */
	}
	bool present = false;
	if (s && cp->clean_session) {
		/* MQTT-3.1.2-6: a clean session discards the previous one. */
		MQTT_CONFORMS("MQTT-3.1.2-6");
		MQTT_CONFORMS("MQTT-3.1.4-3");
		session_remove(b, s);
		s = NULL;
	}
	if (s) {
		present = true; /* MQTT-3.2.2-2 */
		MQTT_CONFORMS("MQTT-3.2.2-2");
		MQTT_CONFORMS("MQTT-3.1.2-4"); /* resumed */
		MQTT_CONFORMS("MQTT-3.1.4-3");
	} else {
		if (cp->clean_session)
			MQTT_CONFORMS("MQTT-3.2.2-1");
		else
			MQTT_CONFORMS("MQTT-3.2.2-3");
		s = session_new(b, id, id_len, cp->clean_session);
		if (!s) {
			refuse(c, MQTT_CONNACK_SERVER_UNAVAILABLE, "out of memory");
			return;
		}
	}
	if (!cp->will)
		MQTT_CONFORMS("MQTT-3.1.2-12"); /* nothing to publish when it ends */
	if (cp->will) {
		c->will = bmsg_new(&cp->will_topic, &cp->will_message, cp->will_qos);
		if (!c->will) {
			refuse(c, MQTT_CONNACK_SERVER_UNAVAILABLE, "out of memory");
			return;
		}
		c->will_retain = cp->will_retain;
	}
	s->conn = c;
	c->session = s;
	c->state = CONN_ONLINE;
	c->keep_alive = cp->keep_alive;
	if (c->keep_alive)
		broker_deadline(b, c->last_rx + (uint64_t)c->keep_alive * 1500u);
	/* MQTT-3.2.2-1..3: session present only when a stored session resumes. */
	MQTT_CONFORMS("MQTT-3.1.4-4");
	MQTT_CONFORMS("MQTT-3.2.0-1");
	connack(c, MQTT_CONNACK_ACCEPTED, present);
	if (c->state == CONN_ONLINE)
		broker_logf(b, c, "client %s connected (%s session%s)", s->client_id,
		            cp->clean_session ? "clean" : "persistent", present ? ", resumed" : "");
	/* A rule may have closed the connection at its CONNACK: then the
	 * session waits for the next one (found by mqttsim explore). */
	if (c->state == CONN_ONLINE) /* else s may be gone with the connection (clean) */
		session_resume(s);
}

int mqtt_broker_add_user(struct mqtt_broker *b, const char *name, const char *secret)
{
	if (mqtt_check_utf8((const uint8_t *)name, strlen(name), NULL) != MQTT_OK ||
	    broker_secret_valid(secret) != 0)
		return EINVAL;
	char *s = strdup(secret);
	if (!s)
		return ENOMEM;
	for (size_t i = 0; i < b->nusers; i++) {
		if (strcmp(b->users[i].name, name) == 0) {
			free(b->users[i].secret);
			b->users[i].secret = s;
			return 0;
		}
	}
	char *n = strdup(name);
	struct buser *u = realloc(b->users, (b->nusers + 1) * sizeof *u);
	if (!n || !u) {
		free(n);
		free(s);
		if (u)
			b->users = u;
		return ENOMEM;
	}
	b->users = u;
	b->users[b->nusers++] = (struct buser){.name = n, .secret = s};
	return 0;
}
