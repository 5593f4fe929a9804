/*
 * session.c - the session core: lifecycle, connection state, output,
 * events, timers and the requests of the application. Inbound packets
 * are handled in session_receive.c, persistence in session_store.c.
 *
 * Everything here is driven by calls with the time as an argument; the
 * core decides when to dial (backoff), ping (keep-alive) and give up on
 * a connection (timeouts), and says so through its return values.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_internal.h"

#define DEFAULT_WAIT_MIN_MS 1000u
#define DEFAULT_WAIT_MAX_MS 60000u
#define DEFAULT_READ_BUFFER (256u * 1024u)

/* --- order list of outbound exchanges --- */

/* The page pointer holding node's slot, and the slot's index in it. */
static struct out_entry **page_of(struct mqtt_session *s, int32_t node, uint32_t *at)
{
	struct space *sp = node < (int32_t)MQTT_WINDOW_MAX ? &s->qos1 : &s->qos2;
	uint32_t slot = (uint32_t)node & (MQTT_WINDOW_MAX - 1);
	*at = slot % SPACE_PAGE_SLOTS;
	return &sp->page[slot / SPACE_PAGE_SLOTS];
}

struct out_entry *session_entry_find(struct mqtt_session *s, int32_t node)
{
	uint32_t at;
	struct out_entry *page = *page_of(s, node, &at);
	return page ? &page[at] : NULL;
}

struct out_entry *session_entry(struct mqtt_session *s, int32_t node)
{
	uint32_t at;
	return &(*page_of(s, node, &at))[at];
}

struct out_entry *session_entry_make(struct mqtt_session *s, int32_t node)
{
	uint32_t at;
	struct out_entry **page = page_of(s, node, &at);
	if (!*page && !(*page = calloc(SPACE_PAGE_SLOTS, sizeof **page)))
		return NULL;
	return &(*page)[at];
}

int32_t session_node(struct mqtt_session *s, struct space *sp, uint16_t id)
{
	int32_t low = id & (MQTT_WINDOW_MAX - 1);
	return sp == &s->qos1 ? low : (int32_t)MQTT_WINDOW_MAX + low;
}

struct space *session_space_of(struct mqtt_session *s, uint16_t id)
{
	if ((id & 0xc000) == MQTT_SPACE_AT_LEAST_ONCE)
		return s->qos1.enabled ? &s->qos1 : NULL;
	if ((id & 0xc000) == MQTT_SPACE_EXACTLY_ONCE)
		return s->qos2.enabled ? &s->qos2 : NULL;
	return NULL;
}

void session_list_append(struct mqtt_session *s, int32_t node)
{
	struct out_entry *e = session_entry(s, node);
	e->prev1 = s->tail + 1;
	e->next1 = 0;
	if (s->tail >= 0)
		session_entry(s, s->tail)->next1 = node + 1;
	else
		s->head = node;
	s->tail = node;
}

void session_list_remove(struct mqtt_session *s, int32_t node)
{
	struct out_entry *e = session_entry(s, node);
	if (e->prev1)
		session_entry(s, e->prev1 - 1)->next1 = e->next1;
	else
		s->head = e->next1 - 1;
	if (e->next1)
		session_entry(s, e->next1 - 1)->prev1 = e->prev1;
	else
		s->tail = e->prev1 - 1;
	e->prev1 = e->next1 = 0;
}

/* --- events and warnings --- */

void session_event(struct mqtt_session *s, const struct mqtt_event *ev)
{
	if (s->ev_len == s->ev_cap) {
		size_t cap = s->ev_cap ? s->ev_cap * 2 : 32;
		struct mqtt_event *e = malloc(cap * sizeof *e);
		if (!e) {
			/* Events are lost only when memory is: nothing else is. */
			free((void *)(uintptr_t)ev->codes_all);
			return;
		}
		for (size_t i = 0; i < s->ev_len; i++)
			e[i] = s->events[(s->ev_head + i) % s->ev_cap];
		free(s->events);
		s->events = e;
		s->ev_cap = cap;
		s->ev_head = 0;
	}
	s->events[(s->ev_head + s->ev_len++) % s->ev_cap] = *ev;
}

bool mqtt_session_next_event(struct mqtt_session *s, struct mqtt_event *ev)
{
	if (!s->ev_len)
		return false;
	*ev = s->events[s->ev_head];
	s->ev_head = (s->ev_head + 1) % s->ev_cap;
	s->ev_len--;
	free(s->codes_taken); /* the last event's codes live until this call */
	s->codes_taken = (uint8_t *)(uintptr_t)ev->codes_all;
	return true;
}

void session_warn(struct mqtt_session *s, const char *fmt, ...)
{
	if (!s->warn)
		return;
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	s->warn(s->warn_arg, text);
}

/* --- connection state --- */

void session_want_close(struct mqtt_session *s, struct mqtt_error why)
{
	if (!s->close_wanted) {
		s->close_wanted = true;
		if (why.cls == MQTT_REFUSED)
			s->refused = true;
	}
}

enum mqtt_session_state mqtt_session_state(const struct mqtt_session *s)
{
	return s->state;
}

bool mqtt_session_should_dial(const struct mqtt_session *s, uint64_t now)
{
	return s->state == MQTT_STATE_OFFLINE && !s->transport_up && now >= s->dial_at;
}

uint64_t mqtt_session_dial_at(const struct mqtt_session *s)
{
	return s->dial_at;
}

bool mqtt_session_should_close(const struct mqtt_session *s)
{
	return s->transport_up && (s->close_wanted || s->state == MQTT_STATE_CLOSED);
}

void session_reset_backoff(struct mqtt_session *s)
{
	s->backoff_ms = s->cfg.reconnect_wait_min_ms;
}

/* The wait before the next dial: the backoff with jitter (half to all
 * of it), doubling up to the maximum; a refusal waits the maximum. */
static void start_backoff(struct mqtt_session *s, uint64_t now)
{
	uint64_t wait = s->refused ? s->cfg.reconnect_wait_max_ms : s->backoff_ms;
	if (s->cfg.random && wait > 1)
		wait = wait / 2 + s->cfg.random(s->cfg.random_arg) % (wait - wait / 2 + 1);
	s->dial_at = now + wait;
	if (!s->refused) {
		uint64_t next = (uint64_t)s->backoff_ms * 2;
		s->backoff_ms = next > s->cfg.reconnect_wait_max_ms ? s->cfg.reconnect_wait_max_ms
		                                                   : (uint32_t)next;
	}
	s->refused = false;
}

void mqtt_session_connected(struct mqtt_session *s, uint64_t now)
{
	if (s->state == MQTT_STATE_CLOSED)
		return;
	s->transport_up = true;
	s->close_wanted = false;
	s->state = MQTT_STATE_CONNECTING;
	session_output_drop(s);
	s->queued_total = s->written_total = 0;
	mqtt_framer_init(&s->framer, s->readbuf, s->cfg.read_buffer_size);
	s->big.active = false;
	s->ack = ACK_NONE;
	s->last_write = s->last_read = now;

	struct mqtt_packet p = {.type = MQTT_CONNECT};
	struct mqtt_connect *c = &p.connect;
	c->protocol_name = mqtt_slice_str("MQTT");
	c->protocol_level = 4;
	/* Reconnects resume the session (the seed's rule), except without a
	 * client id: the broker assigns one anew each time, for a clean
	 * session only [MQTT-3.1.3-7] (found by mqttsim coverage: a reconnect
	 * with an empty id and clean session 0 was refused, 0x02, for ever). */
	c->clean_session = (s->cfg.clean_session && !s->clean_done) || !s->cfg.client_id.len;
	s->clean_conn = c->clean_session;
	c->keep_alive = s->cfg.keep_alive;
	c->client_id = s->cfg.client_id;
	c->has_username = s->cfg.has_username;
	c->username = s->cfg.username;
	c->has_password = s->cfg.has_password;
	c->password = s->cfg.password;
	c->will = s->cfg.will;
	c->will_topic = s->cfg.will_topic;
	c->will_message = s->cfg.will_message;
	c->will_qos = s->cfg.will ? s->cfg.will_qos : 0;
	c->will_retain = s->cfg.will && s->cfg.will_retain;
	/* The first packet of every connection [MQTT-3.1.0-1]; a session not
	 * clean resumes its state [MQTT-3.1.2-4], a clean one starts anew
	 * [MQTT-3.1.2-6]. */
	MQTT_CONFORMS("MQTT-3.1.0-1");
	if (c->clean_session)
		MQTT_CONFORMS("MQTT-3.1.2-6");
	else
		MQTT_CONFORMS("MQTT-3.1.2-4");
	struct mqtt_error e = session_queue(s, &p); /* validated at creation */
	if (e.cls)
		session_want_close(s, e);
}

static void fail_requests(struct mqtt_session *s, struct mqtt_error why)
{
	for (unsigned i = 0; s->requests_open && i < REQUEST_SLOTS; i++) {
		if (s->requests->sub_count[i]) {
			struct mqtt_event ev = {.type = MQTT_EVENT_FAILED, .id = MQTT_SPACE_SUBSCRIBE | i, .err = why};
			session_event(s, &ev);
			s->requests->sub_count[i] = 0;
			s->requests_open--;
		}
		if (s->requests->unsub_count[i]) {
			struct mqtt_event ev = {.type = MQTT_EVENT_FAILED, .id = MQTT_SPACE_UNSUBSCRIBE | i, .err = why};
			session_event(s, &ev);
			s->requests->unsub_count[i] = 0;
			s->requests_open--;
		}
	}
	if (s->ping_pending && s->ping_user) {
		struct mqtt_event ev = {.type = MQTT_EVENT_FAILED, .id = 0, .err = why};
		session_event(s, &ev);
	}
	s->ping_pending = false;
}

static void enter_closed(struct mqtt_session *s)
{
	s->state = MQTT_STATE_CLOSED;
	fail_requests(s, err_of(MQTT_CLOSED, 0));
	if (!s->closed_event) {
		s->closed_event = true;
		struct mqtt_event ev = {.type = MQTT_EVENT_CLOSED, .err = err_of(MQTT_CLOSED, 0)};
		session_event(s, &ev);
	}
}

void mqtt_session_lost(struct mqtt_session *s, uint64_t now, struct mqtt_error why)
{
	bool was_up = s->transport_up;
	s->transport_up = false;
	s->close_wanted = false;
	session_output_drop(s);
	/* A clean session lasts as long as its connection, and its state is
	 * not reused [MQTT-3.1.2-6]: the QoS 2 identifiers held for it go,
	 * even when a later CONNACK (of a session the broker began on a
	 * connection whose CONNACK was lost) says a session is present (found
	 * by mqttsim explore, seed 245676: the next message under such an
	 * identifier was taken for a duplicate and lost). */
	if (s->clean_conn) {
		session_forget_inbound(s);
		s->clean_conn = false;
	}
	s->ack = ACK_NONE; /* the broker resends what we did not acknowledge */
	s->big.active = false; /* and a big message cut short comes again */
	/* Bounded by the count in flight, as session_resend(): a damaged
	 * order list must not hang the driver (found with the mutant
	 * reuse-packet-id, whose list came to a cycle). */
	size_t left = mqtt_session_inflight(s);
	for (int32_t n = s->head; n >= 0 && left; n = session_entry(s, n)->next1 - 1, left--) {
		struct out_entry *e = session_entry(s, n);
		/* Queued on this connection but not a byte written: it was never
		 * on the wire, so its next send is a first one, DUP clear. */
		if (e->on_conn && e->state == OUT_PUBLISH && s->written_total <= e->queued_at &&
		    !e->sent_before)
			e->sent = false;
		if (e->sent)
			e->sent_before = true;
		e->on_conn = false;
	}
	if (s->state == MQTT_STATE_CLOSED || s->closing) {
		enter_closed(s);
		return;
	}
	if (why.cls == MQTT_REFUSED)
		s->refused = true;
	if (was_up) {
		/* A request cut off by a timeout (PauseTimeout, keep-alive,
		 * acknowledgement timeout) ends with it, as the seed's end with a
		 * net.Error whose Timeout is true; any other loss is MQTT_BREAK. */
		fail_requests(s, why.cls == MQTT_TIMEOUT ? why : err_of(MQTT_BREAK, 0));
		struct mqtt_event ev = {.type = MQTT_EVENT_OFFLINE, .err = why};
		session_event(s, &ev);
	}
	s->state = MQTT_STATE_OFFLINE;
	start_backoff(s, now);
}

/* Queues every exchange in flight, in order [MQTT-4.6.0-1]: PUBLISH with
 * DUP when sent before [MQTT-3.3.1-1], and PUBREL [MQTT-4.4.0-1]. */
void session_resend(struct mqtt_session *s, uint64_t now)
{
	/* Bounded by the count in flight: a damaged order list costs a
	 * violation somewhere, never an endless queue. */
	size_t left = mqtt_session_inflight(s);
	for (int32_t n = s->head; n >= 0 && left; n = session_entry(s, n)->next1 - 1, left--) {
		struct out_entry *e = session_entry(s, n);
		struct mqtt_error r;
		MQTT_CONFORMS("MQTT-4.4.0-1");
		MQTT_CONFORMS("MQTT-4.6.0-1");
		if (e->state == OUT_PUBLISH) {
			/* DUP stays set: it was on the wire [MQTT-3.3.1-1]. The packet
			 * is not written to while queued, so it is set here, between
			 * connections, and never cleared. The identifier stays
			 * [MQTT-2.3.1-3]. */
			MQTT_CONFORMS("MQTT-2.3.1-3");
			if (e->sent) {
				MQTT_CONFORMS("MQTT-3.3.1-1");
				e->packet[0] |= 0x08;
			}
			e->queued_at = s->queued_total;
			r = session_queue_packet(s, e->packet, e->len);
		} else {
			uint16_t id = (uint16_t)(MQTT_SPACE_EXACTLY_ONCE | (n - (int32_t)MQTT_WINDOW_MAX));
			uint8_t pubrel[4] = {0x62, 0x02, (uint8_t)(id >> 8), (uint8_t)id};
			r = session_queue_bytes(s, pubrel, sizeof pubrel);
		}
		if (r.cls) {
			session_want_close(s, r);
			return;
		}
		e->sent = true;
		e->sent_at = now;
		e->on_conn = true;
	}
}

/* --- timers --- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * The time from since to now. A driver's threads read the clock before
 * they take turns with the core, so a call may bring a time older than
 * one the core saw in the call before it: that is no time gone, not the
 * wrapped-around eternity an unsigned subtraction makes of it.
 */
static uint64_t elapsed(uint64_t now, uint64_t since)
{
	return now > since ? now - since : 0;
}

uint64_t mqtt_session_tick(struct mqtt_session *s, uint64_t now)
{
	if (s->state == MQTT_STATE_CLOSED)
		return UINT64_MAX;
	if (s->state == MQTT_STATE_OFFLINE)
		return s->transport_up ? UINT64_MAX : s->dial_at;
	if (s->close_wanted)
		return now;

	uint64_t next = UINT64_MAX;
	const struct mqtt_session_config *c = &s->cfg;
	uint64_t pause = c->pause_timeout_ms;
	uint64_t keep = (uint64_t)c->keep_alive * 1000;

	/* PauseTimeout: one byte per period while something is under way. */
	if (pause) {
		if (session_output_pending(s)) {
			if (elapsed(now, s->last_write) >= pause) {
				session_want_close(s, err_of(MQTT_TIMEOUT, 0));
				return now;
			}
			next = min_u64(next, s->last_write + pause);
		}
		if (s->state == MQTT_STATE_CONNECTING || s->framer.have) {
			if (elapsed(now, s->last_read) >= pause) {
				session_want_close(s, err_of(MQTT_TIMEOUT, 0));
				return now;
			}
			next = min_u64(next, s->last_read + pause);
		}
	}

	/* A CONNACK awaited one keep-alive period: no later, as nothing else
	 * (no PINGREQ before it [MQTT-3.1.0-1]) can tell a broker that took
	 * the connection and went silent; the spec asks the client to close
	 * when none comes "within a reasonable amount of time" (§3.2), and a
	 * broker ends a silent client after one and a half periods (found by
	 * mqttsim explore with generator 6: a stalled CONNACK hung the client
	 * for good). */
	if (s->state == MQTT_STATE_CONNECTING && keep && !pause) {
		if (elapsed(now, s->last_read) >= keep) {
			session_want_close(s, err_of(MQTT_TIMEOUT, 0));
			return now;
		}
		next = min_u64(next, s->last_read + keep);
	}

	if (s->state != MQTT_STATE_ONLINE)
		return next;

	/* A PINGREQ unanswered for the pause timeout (else the keep-alive). */
	uint64_t ping_wait = pause ? pause : keep;
	if (s->ping_pending && ping_wait) {
		if (elapsed(now, s->ping_sent_at) >= ping_wait) {
			session_want_close(s, err_of(MQTT_TIMEOUT, 0));
			return now;
		}
		next = min_u64(next, s->ping_sent_at + ping_wait);
	}

	/* Keep-alive: a control packet within each period [MQTT-3.1.2-23]. */
	if (keep && !c->no_auto_ping && !s->ping_pending) {
		if (elapsed(now, s->last_write) >= keep) {
			MQTT_CONFORMS("MQTT-3.1.2-23");
			struct mqtt_packet p = {.type = MQTT_PINGREQ};
			struct mqtt_error r = session_queue(s, &p);
			if (r.cls) {
				session_want_close(s, r);
				return now;
			}
			s->ping_pending = true;
			s->ping_user = false;
			s->ping_sent_at = now;
			next = min_u64(next, now + (ping_wait ? ping_wait : keep));
		} else {
			next = min_u64(next, s->last_write + keep);
		}
	}

	/* Acknowledgement timeout: the oldest send is at the head. */
	if (c->ack_timeout_ms && s->head >= 0) {
		struct out_entry *e = session_entry(s, s->head);
		if (e->on_conn) {
			if (elapsed(now, e->sent_at) >= c->ack_timeout_ms) {
				session_want_close(s, err_of(MQTT_TIMEOUT, 0));
				return now;
			}
			next = min_u64(next, e->sent_at + c->ack_timeout_ms);
		}
	}
	return next;
}

/* --- requests --- */

static struct mqtt_error closed_or_ok(const struct mqtt_session *s)
{
	return s->state == MQTT_STATE_CLOSED || s->closing ? err_of(MQTT_CLOSED, 0) : ok();
}

/* A free identifier of sp, or 0 when the window is full; its slot is
 * there (*nomem: it could not be allocated). */
static uint16_t take_id(struct mqtt_session *s, struct space *sp, bool *nomem)
{
	*nomem = false;
	if (!sp->enabled || sp->count >= sp->max)
		return 0;
	for (unsigned i = 0; i < MQTT_WINDOW_MAX; i++) {
		unsigned slot = (sp->cursor + i) & (MQTT_WINDOW_MAX - 1);
		const struct out_entry *page = sp->page[slot / SPACE_PAGE_SLOTS];
		if (!page || page[slot % SPACE_PAGE_SLOTS].state == OUT_FREE) {
			if (!session_entry_make(s, session_node(s, sp, (uint16_t)slot))) {
				*nomem = true;
				return 0;
			}
			sp->cursor = slot + 1;
			return (uint16_t)(sp->base | slot);
		}
	}
	return 0;
}

struct mqtt_error mqtt_session_publish(struct mqtt_session *s, uint64_t now, uint8_t qos,
                                       bool retain, struct mqtt_slice topic,
                                       struct mqtt_slice payload, uint16_t *id)
{
	struct mqtt_error r = closed_or_ok(s);
	if (r.cls)
		return r;
	if (qos > 2)
		return err_of(MQTT_DENY, MQTT_ERR_QOS);
	/* Not zeroed whole: the union is 128 bytes, and this is the hot path. */
	struct mqtt_packet p;
	p.type = MQTT_PUBLISH;
	p.flags = 0;
	p.remaining_length = 0;
	p.violations = 0;
	p.publish = (struct mqtt_publish){.qos = qos, .retain = retain, .topic = topic, .payload = payload};
	if (qos == 0) {
		MQTT_CONFORMS("MQTT-4.3.1-1"); /* QoS 0, DUP 0, no identifier */
		/* Encoding validates topic and size [MQTT-3.3.2-1, -2, MQTT-4.7.3-1]. */
		if (s->state != MQTT_STATE_ONLINE) {
			enum mqtt_err v = mqtt_check_topic_name(topic.data, topic.len, NULL);
			return v ? err_of(MQTT_DENY, v) : err_of(MQTT_DOWN, 0);
		}
		return session_queue(s, &p);
	}
	p.publish.packet_id = 1; /* a stand-in, to validate before taking an identifier */
	size_t size = mqtt_encoded_size(&p);
	if (size == 0)
		return err_of(MQTT_DENY, topic.len > MQTT_STRING_MAX ? MQTT_ERR_STRING_LENGTH : MQTT_ERR_PACKET_SIZE);
	enum mqtt_err v = mqtt_check_topic_name(topic.data, topic.len, NULL);
	if (v)
		return err_of(MQTT_DENY, v);

	struct space *sp = qos == 1 ? &s->qos1 : &s->qos2;
	bool nomem;
	uint16_t pid = take_id(s, sp, &nomem);
	if (!pid)
		return nomem ? err_of(MQTT_PERSISTENCE, ENOMEM) : err_of(MQTT_MAX, 0);
	p.publish.packet_id = pid;
	/* A new identifier, not in use [MQTT-2.3.1-2], DUP 0; the message is
	 * unacknowledged until its PUBACK or PUBREC [MQTT-4.3.2-1, MQTT-4.3.3-1]. */
	MQTT_CONFORMS("MQTT-2.3.1-2");
	if (qos == 1)
		MQTT_CONFORMS("MQTT-4.3.2-1");
	else
		MQTT_CONFORMS("MQTT-4.3.3-1");
	uint8_t *packet = malloc(size);
	if (!packet)
		return err_of(MQTT_PERSISTENCE, ENOMEM);
	enum mqtt_err e = mqtt_encode(packet, size, &p, MQTT_STRICT, &size);
	if (e) {
		free(packet);
		return err_of(MQTT_DENY, e);
	}
	/* Saved before anything is sent: a message is never on the wire
	 * without a record to resend it from. */
	if (s->stored) {
		struct iovec v1 = {packet, size};
		int rc = mqtt_checked_save(&s->checked, pid, &v1, 1, NULL);
		if (rc) {
			free(packet);
			return err_of(MQTT_PERSISTENCE, -rc);
		}
	}
	int32_t node = session_node(s, sp, pid);
	struct out_entry *ent = session_entry(s, node);
	ent->state = OUT_PUBLISH;
	ent->packet = packet;
	ent->len = size;
	ent->sent = false;
	ent->sent_before = false;
	ent->on_conn = false;
	sp->count++;
	session_list_append(s, node);
	if (s->state == MQTT_STATE_ONLINE) {
		ent->queued_at = s->queued_total;
		r = session_queue_packet(s, packet, size); /* referred to, not copied */
		if (r.cls) {
			session_want_close(s, r); /* in flight all the same: resent later */
		} else {
			ent->sent = true;
			ent->sent_at = now;
			ent->on_conn = true;
		}
	}
	if (id)
		*id = pid;
	return ok();
}

static struct mqtt_error topic_request(struct mqtt_session *s, enum mqtt_type type,
                                       const struct mqtt_topic *filters, size_t n, uint16_t *id)
{
	struct mqtt_error r = closed_or_ok(s);
	if (r.cls)
		return r;
	if (!filters || n == 0 || n > REQUEST_SLOTS)
		return err_of(MQTT_DENY, n ? MQTT_ERR_ARGUMENT : MQTT_ERR_NO_TOPICS);
	for (size_t i = 0; i < n; i++) {
		enum mqtt_err v = mqtt_check_topic_filter(filters[i].filter.data, filters[i].filter.len, NULL);
		if (!v && type == MQTT_SUBSCRIBE && filters[i].qos > 2)
			v = MQTT_ERR_SUBSCRIBE_OPTIONS;
		if (v)
			return err_of(MQTT_DENY, v);
	}
	if (s->state != MQTT_STATE_ONLINE)
		return err_of(MQTT_DOWN, 0);
	if (!s->requests && !(s->requests = calloc(1, sizeof *s->requests)))
		return err_of(MQTT_PERSISTENCE, ENOMEM);
	bool sub = type == MQTT_SUBSCRIBE;
	uint16_t *counts = sub ? s->requests->sub_count : s->requests->unsub_count;
	unsigned *cursor = sub ? &s->sub_cursor : &s->unsub_cursor;
	unsigned slot = REQUEST_SLOTS;
	for (unsigned i = 0; i < REQUEST_SLOTS; i++) {
		unsigned k = (*cursor + i) % REQUEST_SLOTS;
		if (!counts[k]) {
			slot = k;
			break;
		}
	}
	if (slot == REQUEST_SLOTS)
		return err_of(MQTT_MAX, 0);
	struct mqtt_packet p = {.type = type};
	MQTT_CONFORMS("MQTT-2.3.1-2"); /* a request's identifier is not in use */
	p.subscribe.packet_id = (uint16_t)((sub ? MQTT_SPACE_SUBSCRIBE : MQTT_SPACE_UNSUBSCRIBE) | slot);
	p.subscribe.topics = filters;
	p.subscribe.count = n;
	r = session_queue(s, &p);
	if (r.cls)
		return r;
	counts[slot] = (uint16_t)n;
	s->requests_open++;
	*cursor = slot + 1;
	if (id)
		*id = p.subscribe.packet_id;
	return ok();
}

struct mqtt_error mqtt_session_subscribe(struct mqtt_session *s, uint64_t now,
                                         const struct mqtt_topic *filters, size_t n, uint16_t *id)
{
	(void)now;
	return topic_request(s, MQTT_SUBSCRIBE, filters, n, id);
}

struct mqtt_error mqtt_session_unsubscribe(struct mqtt_session *s, uint64_t now,
                                           const struct mqtt_topic *filters, size_t n, uint16_t *id)
{
	(void)now;
	return topic_request(s, MQTT_UNSUBSCRIBE, filters, n, id);
}

struct mqtt_error mqtt_session_ping(struct mqtt_session *s, uint64_t now)
{
	struct mqtt_error r = closed_or_ok(s);
	if (r.cls)
		return r;
	if (s->state != MQTT_STATE_ONLINE)
		return err_of(MQTT_DOWN, 0);
	if (s->ping_pending) {
		if (s->ping_user)
			return err_of(MQTT_MAX, 0);
		s->ping_user = true; /* the keep-alive ping answers this one too */
		return ok();
	}
	struct mqtt_packet p = {.type = MQTT_PINGREQ};
	r = session_queue(s, &p);
	if (r.cls)
		return r;
	s->ping_pending = s->ping_user = true;
	s->ping_sent_at = now;
	return ok();
}

struct mqtt_error mqtt_session_disconnect(struct mqtt_session *s, uint64_t now)
{
	struct mqtt_error r = closed_or_ok(s);
	if (r.cls)
		return r;
	if (s->state != MQTT_STATE_ONLINE || !s->transport_up) {
		mqtt_session_close(s, now);
		return ok();
	}
	struct mqtt_packet p = {.type = MQTT_DISCONNECT};
	r = session_queue(s, &p);
	/* Nothing follows it on this connection [MQTT-3.14.4-2]. */
	MQTT_CONFORMS("MQTT-3.14.4-2");
	s->closing = true;
	fail_requests(s, err_of(MQTT_CLOSED, 0));
	if (r.cls)
		s->close_wanted = true;
	return ok();
}

void mqtt_session_close(struct mqtt_session *s, uint64_t now)
{
	(void)now;
	if (s->state == MQTT_STATE_CLOSED)
		return;
	/* The output is no longer given out (a closed session sends
	 * nothing), but left in place: a writer may be in the middle of it.
	 * It goes with the transport (mqtt_session_lost()) or the session. */
	enter_closed(s);
}

size_t mqtt_session_inflight(const struct mqtt_session *s)
{
	return s->qos1.count + s->qos2.count;
}

/* --- creation --- */

static struct mqtt_error copy_config(struct mqtt_session *s, const struct mqtt_session_config *cfg)
{
	s->cfg = *cfg;
	struct mqtt_slice *fields[] = {&s->cfg.client_id, &s->cfg.username, &s->cfg.password,
	                               &s->cfg.will_topic, &s->cfg.will_message};
	size_t total = 0;
	for (size_t i = 0; i < 5; i++) {
		if (fields[i]->len && !fields[i]->data)
			return err_of(MQTT_DENY, MQTT_ERR_ARGUMENT);
		total += fields[i]->len;
	}
	s->owned = malloc(total ? total : 1);
	if (!s->owned)
		return err_of(MQTT_PERSISTENCE, ENOMEM);
	uint8_t *w = s->owned;
	for (size_t i = 0; i < 5; i++) {
		if (fields[i]->len)
			memcpy(w, fields[i]->data, fields[i]->len);
		fields[i]->data = w;
		w += fields[i]->len;
	}
	/* A password without a user name goes with an empty user name, as
	 * the seed sends it: 3.1.1 allows no password flag without the user
	 * name flag [MQTT-3.1.2-22], and an empty name is a valid one. */
	if (s->cfg.has_password && !s->cfg.has_username) {
		s->cfg.has_username = true;
		s->cfg.username.len = 0;
	}
	if (!s->cfg.reconnect_wait_min_ms)
		s->cfg.reconnect_wait_min_ms = DEFAULT_WAIT_MIN_MS;
	if (!s->cfg.reconnect_wait_max_ms)
		s->cfg.reconnect_wait_max_ms = DEFAULT_WAIT_MAX_MS;
	if (s->cfg.reconnect_wait_max_ms < s->cfg.reconnect_wait_min_ms)
		s->cfg.reconnect_wait_max_ms = s->cfg.reconnect_wait_min_ms;
	if (!s->cfg.read_buffer_size)
		s->cfg.read_buffer_size = DEFAULT_READ_BUFFER;
	if (s->cfg.at_least_once_max > MQTT_WINDOW_MAX)
		s->cfg.at_least_once_max = MQTT_WINDOW_MAX;
	if (s->cfg.exactly_once_max > MQTT_WINDOW_MAX)
		s->cfg.exactly_once_max = MQTT_WINDOW_MAX;
	return ok();
}

/* The CONNECT this configuration makes must be valid: check it once. */
static struct mqtt_error check_connect(const struct mqtt_session_config *c)
{
	if (c->will && c->will_qos > 2)
		return err_of(MQTT_DENY, MQTT_ERR_WILL_FLAGS);
	if (c->client_id.len == 0) {
		MQTT_CONFORMS("MQTT-3.1.3-7");
		if (!c->clean_session)
			return err_of(MQTT_DENY, MQTT_ERR_ARGUMENT); /* MQTT-3.1.3-7 */
	}
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	p.connect.protocol_name = mqtt_slice_str("MQTT");
	p.connect.protocol_level = 4;
	p.connect.client_id = c->client_id;
	p.connect.has_username = c->has_username;
	p.connect.username = c->username;
	p.connect.has_password = c->has_password;
	p.connect.password = c->password;
	p.connect.will = c->will;
	p.connect.will_topic = c->will_topic;
	p.connect.will_message = c->will_message;
	p.connect.will_qos = c->will ? c->will_qos : 0;
	size_t n = mqtt_encoded_size(&p);
	if (!n)
		return err_of(MQTT_DENY, MQTT_ERR_STRING_LENGTH);
	uint8_t *buf = malloc(n);
	if (!buf)
		return err_of(MQTT_PERSISTENCE, ENOMEM);
	enum mqtt_err e = mqtt_encode(buf, n, &p, MQTT_STRICT, NULL);
	free(buf);
	return e ? err_of(MQTT_DENY, e) : ok();
}

struct mqtt_error mqtt_session_new(struct mqtt_session **out, const struct mqtt_session_config *cfg,
                                   enum mqtt_session_mode mode, struct mqtt_store *store,
                                   void (*warn)(void *arg, const char *text), void *warn_arg)
{
	if (!out || !cfg || (mode != MQTT_SESSION_VOLATILE && (!store || !store->ops)))
		return err_of(MQTT_DENY, MQTT_ERR_ARGUMENT);
	*out = NULL;
	struct mqtt_session *s = calloc(1, sizeof *s);
	if (!s)
		return err_of(MQTT_PERSISTENCE, ENOMEM);
	s->head = s->tail = -1;
	s->warn = warn;
	s->warn_arg = warn_arg;
	struct mqtt_error r = copy_config(s, cfg);
	if (!r.cls && mode != MQTT_SESSION_ADOPT)
		r = check_connect(&s->cfg);
	if (!r.cls) {
		s->qos1.base = MQTT_SPACE_AT_LEAST_ONCE;
		s->qos1.max = s->cfg.at_least_once_max;
		s->qos2.base = MQTT_SPACE_EXACTLY_ONCE;
		s->qos2.max = s->cfg.exactly_once_max;
		/* Whole spaces, so that adopted identifiers always fit, in
		 * pages allocated as they are first used. */
		s->qos1.enabled = s->qos2.enabled = true;
		s->readbuf = malloc(s->cfg.read_buffer_size);
		if (!s->readbuf ||
		    mqtt_framer_init(&s->framer, s->readbuf, s->cfg.read_buffer_size) != MQTT_OK)
			r = err_of(s->readbuf ? MQTT_DENY : MQTT_PERSISTENCE,
			           s->readbuf ? MQTT_ERR_ARGUMENT : ENOMEM);
	}
	if (!r.cls) {
		session_reset_backoff(s);
		s->state = MQTT_STATE_OFFLINE;
		s->dial_at = 0; /* the first dial is immediate */
		/* An adopted session goes on (the seed's AdoptSession "continues"):
		 * a clean connect would make the broker forget its half of what
		 * the store still holds, so it is never clean. */
		s->clean_done = mode == MQTT_SESSION_ADOPT;
		if (mode != MQTT_SESSION_VOLATILE) {
			s->stored = true;
			mqtt_checked_init(&s->checked, *store);
			r = mode == MQTT_SESSION_INIT ? session_store_init(s) : session_store_adopt(s);
		}
	}
	if (!r.cls && mode == MQTT_SESSION_ADOPT)
		r = check_connect(&s->cfg);
	if (r.cls) {
		mqtt_session_free(s);
		return r;
	}
	*out = s;
	return ok();
}

void mqtt_session_free(struct mqtt_session *s)
{
	if (!s)
		return;
	/* Every exchange in flight is on the order list: walk it rather
	 * than the tables, whose untouched pages stay unmapped. */
	size_t left = mqtt_session_inflight(s);
	for (int32_t n = s->head; n >= 0 && left; n = session_entry(s, n)->next1 - 1, left--)
		free(session_entry(s, n)->packet);
	for (unsigned i = 0; i < SPACE_PAGES; i++) {
		free(s->qos1.page[i]);
		free(s->qos2.page[i]);
	}
	free(s->readbuf);
	session_output_free(s);
	for (size_t i = 0; i < s->ev_len; i++)
		free((void *)(uintptr_t)s->events[(s->ev_head + i) % s->ev_cap].codes_all);
	free(s->codes_taken);
	free(s->events);
	free(s->requests);
	free(s->owned);
	free(s);
}
