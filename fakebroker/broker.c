/*
 * broker.c - the fake broker core's connections: bytes in, bytes out,
 * time, closing (see mqttsim/broker.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define DEFAULT_PACKET_MAX (1u << 20)
#define DEFAULT_QUEUE_MAX 100000u
#define DEFAULT_INFLIGHT_MAX 64u
#define DEFAULT_RECORD_MAX 1000000u

int mqtt_broker_new(struct mqtt_broker **out, const struct mqtt_broker_config *cfg)
{
	*out = NULL;
	struct mqtt_broker_config c = cfg ? *cfg : (struct mqtt_broker_config){0};
	if (!c.connect_timeout_ms)
		c.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	if (!c.packet_max)
		c.packet_max = DEFAULT_PACKET_MAX;
	if (c.packet_max < MQTT_FIXED_HEADER_MAX + 2)
		return EINVAL;
	if (!c.queue_max)
		c.queue_max = DEFAULT_QUEUE_MAX;
	if (!c.inflight_max)
		c.inflight_max = DEFAULT_INFLIGHT_MAX;
	if (!c.record_max)
		c.record_max = DEFAULT_RECORD_MAX;
	struct mqtt_broker *b = calloc(1, sizeof *b);
	if (!b)
		return ENOMEM;
	b->cfg = c;
	b->next_conn_id = 1;
	b->next_rule_id = 1;
	b->next_deadline = UINT64_MAX;
	*out = b;
	return 0;
}

static void conn_free(struct bconn *c)
{
	while (c->delayed) {
		struct bdelayed *d = c->delayed;
		c->delayed = d->next;
		free(d);
	}
	if (c->will)
		bmsg_unref(c->will);
	free(c->held);
	free(c->out.data);
	free(c->frame_buf);
	free(c);
}

void mqtt_broker_free(struct mqtt_broker *b)
{
	if (!b)
		return;
	while (b->conns) {
		struct bconn *c = b->conns;
		b->conns = c->next;
		conn_free(c);
	}
	for (size_t i = 0; i < b->nsessions; i++)
		broker_session_free(b, b->sessions[i]);
	free(b->sessions);
	for (size_t i = 0; i < b->nretained; i++)
		bmsg_unref(b->retained[i]);
	free(b->retained);
	for (size_t i = 0; i < b->nusers; i++) {
		free(b->users[i].name);
		free(b->users[i].secret);
	}
	free(b->users);
	script_free(b);
	record_free(b);
	free(b);
}

void mqtt_broker_set_log(struct mqtt_broker *b,
                         void (*fn)(void *arg, uint32_t conn, const char *line), void *arg)
{
	b->log = fn;
	b->log_arg = arg;
}

void broker_logf(struct mqtt_broker *b, const struct bconn *c, const char *fmt, ...)
{
	if (!b->log)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	b->log(b->log_arg, c ? c->id : 0, line);
}

void broker_deadline(struct mqtt_broker *b, uint64_t at)
{
	if (at < b->next_deadline)
		b->next_deadline = at;
}

void broker_ready(struct bconn *c)
{
	if (c->in_ready)
		return;
	struct mqtt_broker *b = c->b;
	c->in_ready = true;
	c->ready_next = NULL;
	if (b->ready_tail)
		b->ready_tail->ready_next = c;
	else
		b->ready_head = c;
	b->ready_tail = c;
}

struct mqtt_bconn *mqtt_broker_next_ready(struct mqtt_broker *b)
{
	struct bconn *c = b->ready_head;
	if (!c)
		return NULL;
	b->ready_head = c->ready_next;
	if (!b->ready_head)
		b->ready_tail = NULL;
	c->in_ready = false;
	c->ready_next = NULL;
	return (struct mqtt_bconn *)c;
}

struct mqtt_bconn *mqtt_broker_open(struct mqtt_broker *b, uint64_t now)
{
	struct bconn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	/* Untouched pages of a large buffer cost no memory: 1,000 idle
	 * connections stay small although each may take a large packet. */
	c->frame_buf = malloc(b->cfg.packet_max);
	if (!c->frame_buf) {
		free(c);
		return NULL;
	}
	mqtt_framer_init(&c->framer, c->frame_buf, b->cfg.packet_max);
	c->b = b;
	c->id = b->next_conn_id++;
	c->state = CONN_AWAIT_CONNECT;
	c->reading = true;
	c->opened_at = c->last_rx = now;
	c->next = b->conns;
	if (b->conns)
		b->conns->prev = c;
	b->conns = c;
	b->stats.connections++;
	b->stats.connections_total++;
	if (b->cfg.connect_timeout_ms != UINT32_MAX)
		broker_deadline(b, now + b->cfg.connect_timeout_ms);
	return (struct mqtt_bconn *)c;
}

uint32_t mqtt_bconn_id(const struct mqtt_bconn *c)
{
	return ((const struct bconn *)c)->id;
}

void mqtt_bconn_set_user(struct mqtt_bconn *c, void *user)
{
	((struct bconn *)c)->user = user;
}

void *mqtt_bconn_user(const struct mqtt_bconn *c)
{
	return ((const struct bconn *)c)->user;
}

const char *mqtt_bconn_client_id(const struct mqtt_bconn *c)
{
	const struct bconn *bc = (const struct bconn *)c;
	return bc->session ? bc->session->client_id : "";
}

bool mqtt_bconn_wants_read(const struct mqtt_bconn *c)
{
	const struct bconn *bc = (const struct bconn *)c;
	return bc->reading && bc->state != CONN_CLOSING;
}

bool mqtt_bconn_wants_close(const struct mqtt_bconn *c)
{
	return ((const struct bconn *)c)->state == CONN_CLOSING;
}

const char *mqtt_bconn_close_reason(const struct mqtt_bconn *c)
{
	const char *r = ((const struct bconn *)c)->close_reason;
	return r ? r : "";
}

struct bconn *broker_conn_of(struct mqtt_broker *b, const char *client_id)
{
	struct bsession *s = broker_session_find(b, (const uint8_t *)client_id, strlen(client_id));
	return s ? s->conn : NULL;
}

void broker_close(struct bconn *c, const char *reason)
{
	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	c->close_reason = reason;
	broker_logf(c->b, c, "closing: %s", reason);
	if (c->b->holding) {
		c->end_held = true;
		c->b->ends_held = true;
	} else {
		broker_connection_ended(c);
	}
	broker_ready(c);
}

void broker_hold_ends(struct mqtt_broker *b)
{
	b->holding++;
}

void broker_release_ends(struct mqtt_broker *b)
{
	if (--b->holding || !b->ends_held)
		return;
	/* A will published here may hold and release again: it ends what it
	 * closes itself, and this loop goes on over the rest. */
	b->ends_held = false;
	for (struct bconn *c = b->conns; c; c = c->next)
		if (c->end_held) {
			c->end_held = false;
			broker_connection_ended(c);
		}
}

uint8_t *bbuf_reserve(struct bbuf *buf, size_t n)
{
	if (buf->off == buf->len)
		buf->off = buf->len = 0;
	if (buf->cap - buf->len >= n)
		return buf->data + buf->len;
	if (buf->off) { /* reclaim the sent part first */
		memmove(buf->data, buf->data + buf->off, buf->len - buf->off);
		buf->len -= buf->off;
		buf->off = 0;
		if (buf->cap - buf->len >= n)
			return buf->data + buf->len;
	}
	size_t cap = buf->cap ? buf->cap : 256;
	while (cap - buf->len < n)
		cap *= 2;
	uint8_t *data = realloc(buf->data, cap);
	if (!data)
		return NULL;
	buf->data = data;
	buf->cap = cap;
	return data + buf->len;
}

/* The bytes of one packet now at c->out.data[start..start+len): rules, records, counts. */
static void emitted(struct bconn *c, uint8_t type, size_t start, size_t len)
{
	struct mqtt_broker *b = c->b;
	if (b->rules || c->held) {
		script_outgoing(c, type, start, len);
	} else {
		b->stats.packets_out++;
		if (b->cfg.record)
			record_packet(c, MQTT_B2C, type, c->out.data + start, len);
	}
	broker_ready(c);
}

bool broker_emit(struct bconn *c, const struct mqtt_packet *p)
{
	if (c->state == CONN_CLOSING)
		return false;
	size_t n = mqtt_encoded_size(p);
	uint8_t *dst = n ? bbuf_reserve(&c->out, n) : NULL;
	if (!dst) {
		broker_close(c, "out of memory for output");
		return false;
	}
	size_t written;
	if (mqtt_encode(dst, n, p, MQTT_STRICT, &written) != MQTT_OK)
		return false; /* the core builds valid packets only */
	size_t start = c->out.len;
	c->out.len += written;
	emitted(c, (uint8_t)p->type, start, written);
	return true;
}

void broker_emit_bytes(struct bconn *c, uint8_t type, const uint8_t *bytes, size_t len)
{
	if (c->state == CONN_CLOSING || !len)
		return;
	uint8_t *dst = bbuf_reserve(&c->out, len);
	if (!dst) {
		broker_close(c, "out of memory for output");
		return;
	}
	memcpy(dst, bytes, len);
	size_t start = c->out.len;
	c->out.len += len;
	emitted(c, type, start, len);
}

static void protocol_error(struct bconn *c, const char *reason)
{
	c->b->stats.protocol_errors++;
	broker_close(c, reason);
}

static void handle_frame(struct bconn *c, const uint8_t *data, size_t len)
{
	struct mqtt_broker *b = c->b;
	uint8_t type = data[0] >> 4;
	b->stats.packets_in++;
	if (b->cfg.record)
		record_packet(c, MQTT_C2B, type, data, len);
	int act = b->rules ? script_incoming(c, type) : 0;
	if (act == MQTT_ACT_CLOSE_BEFORE) {
		broker_close(c, "closed by rule before handling the packet");
		return;
	}
	struct mqtt_packet p;
	size_t at = 0;
	enum mqtt_err err = mqtt_decode(&p, data, len, MQTT_STRICT, &at);
	if (c->state == CONN_AWAIT_CONNECT) {
		if (type != MQTT_CONNECT) {
			/* MQTT-3.1.0-1: the first packet must be CONNECT. */
			MQTT_CONFORMS("MQTT-4.8.0-1");
			protocol_error(c, "first packet is not CONNECT [MQTT-3.1.0-1]");
			return;
		}
		broker_on_connect(c, &p, err);
	} else if (err != MQTT_OK) {
		/* MQTT-4.8.0-1: a malformed packet ends the connection. */
		MQTT_CONFORMS("MQTT-4.8.0-1");
		broker_logf(b, c, "malformed %s at byte %zu: %s", mqtt_type_name(type), at,
		            mqtt_strerror(err));
		protocol_error(c, "malformed packet [MQTT-4.8.0-1]");
		return;
	} else {
		broker_on_packet(c, &p);
	}
	if (act == MQTT_ACT_CLOSE_AFTER)
		broker_close(c, "closed by rule after handling the packet");
	else if (act == MQTT_ACT_STOP_READING)
		c->reading = false;
}

size_t mqtt_broker_receive(struct mqtt_broker *b, struct mqtt_bconn *conn, uint64_t now,
                           const uint8_t *in, size_t len)
{
	struct bconn *c = (struct bconn *)conn;
	b->now = now;
	size_t used = 0;
	while (used < len && c->reading && c->state != CONN_CLOSING) {
		size_t n = 0;
		struct mqtt_frame f;
		enum mqtt_err err = mqtt_framer_feed(&c->framer, in + used, len - used, &n, &f);
		used += n;
		if (err != MQTT_OK) {
			MQTT_CONFORMS("MQTT-4.8.0-1");
			broker_logf(b, c, "unframeable input at stream byte %llu: %s",
			            (unsigned long long)c->framer.error_at, mqtt_strerror(err));
			protocol_error(c, err == MQTT_ERR_PACKET_SIZE ? "packet larger than the limit"
			                                              : "malformed remaining length [MQTT-4.8.0-1]");
			break;
		}
		if (!f.len)
			break;
		c->last_rx = now;
		handle_frame(c, f.data, f.len);
	}
	return used;
}

size_t mqtt_broker_output(struct mqtt_broker *b, struct mqtt_bconn *conn, const uint8_t **data)
{
	(void)b;
	struct bconn *c = (struct bconn *)conn;
	if (!c->out.data) { /* nothing was ever sent: NULL + 0 is undefined */
		*data = NULL;
		return 0;
	}
	*data = c->out.data + c->out.off;
	return c->out.len - c->out.off;
}

void mqtt_broker_wrote(struct mqtt_broker *b, struct mqtt_bconn *conn, size_t n)
{
	(void)b;
	struct bconn *c = (struct bconn *)conn;
	c->out.off += n;
	if (c->out.off >= c->out.len)
		c->out.off = c->out.len = 0;
}

void mqtt_broker_closed(struct mqtt_broker *b, struct mqtt_bconn *conn, uint64_t now)
{
	struct bconn *c = (struct bconn *)conn;
	b->now = now;
	broker_close(c, "connection lost");
	if (c->in_ready) {
		struct bconn **pp = &b->ready_head, *prev = NULL;
		while (*pp != c) {
			prev = *pp;
			pp = &(*pp)->ready_next;
		}
		*pp = c->ready_next;
		if (b->ready_tail == c)
			b->ready_tail = prev;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		b->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	b->stats.connections--;
	conn_free(c);
}

static void release_delayed(struct bconn *c, uint64_t now)
{
	struct bdelayed **pp = &c->delayed;
	while (*pp) {
		struct bdelayed *d = *pp;
		if (d->due > now) {
			broker_deadline(c->b, d->due);
			pp = &d->next;
			continue;
		}
		*pp = d->next;
		if (c->state != CONN_CLOSING) {
			uint8_t *dst = bbuf_reserve(&c->out, d->len);
			if (dst) {
				memcpy(dst, d->bytes, d->len);
				c->out.len += d->len;
				c->b->stats.packets_out++;
				if (c->b->cfg.record)
					record_packet(c, MQTT_B2C, d->bytes[0] >> 4, d->bytes, d->len);
				broker_ready(c);
			}
		}
		free(d);
	}
}

uint64_t mqtt_broker_tick(struct mqtt_broker *b, uint64_t now)
{
	b->now = now;
	if (now < b->next_deadline)
		return b->next_deadline;
	b->next_deadline = UINT64_MAX;
	for (struct bconn *c = b->conns; c; c = c->next) {
		if (c->delayed)
			release_delayed(c, now);
		if (c->state == CONN_AWAIT_CONNECT && b->cfg.connect_timeout_ms != UINT32_MAX) {
			uint64_t due = c->opened_at + b->cfg.connect_timeout_ms;
			if (now >= due)
				broker_close(c, "no CONNECT within the connect timeout");
			else
				broker_deadline(b, due);
		} else if (c->state == CONN_ONLINE && c->keep_alive) {
			/* MQTT-3.1.2-24: one and a half keep-alive periods of silence. */
			uint64_t due = c->last_rx + (uint64_t)c->keep_alive * 1500u;
			if (now >= due) {
				MQTT_CONFORMS("MQTT-3.1.2-24");
				broker_close(c, "keep-alive expired [MQTT-3.1.2-24]");
			}
			else
				broker_deadline(b, due);
		}
	}
	return b->next_deadline;
}

int mqtt_broker_kick(struct mqtt_broker *b, const char *client_id)
{
	struct bconn *c = broker_conn_of(b, client_id);
	if (!c)
		return -1;
	broker_close(c, "disconnected by script");
	return 0;
}

int mqtt_broker_send_raw(struct mqtt_broker *b, const char *client_id, const uint8_t *bytes,
                         size_t len)
{
	struct bconn *c = broker_conn_of(b, client_id);
	if (!c)
		return -1;
	/* Raw bytes bypass the rules: they are the script's own packets. */
	uint8_t *dst = bbuf_reserve(&c->out, len);
	if (!dst)
		return -1;
	memcpy(dst, bytes, len);
	c->out.len += len;
	b->stats.packets_out++;
	if (b->cfg.record)
		record_packet(c, MQTT_B2C, 0, bytes, len);
	broker_ready(c);
	return 0;
}

int mqtt_broker_stop_reading(struct mqtt_broker *b, const char *client_id)
{
	struct bconn *c = broker_conn_of(b, client_id);
	if (!c)
		return -1;
	c->reading = false;
	broker_ready(c);
	return 0;
}

void mqtt_broker_stats(const struct mqtt_broker *b, struct mqtt_broker_stats *out)
{
	*out = b->stats;
	out->sessions = b->nsessions;
	out->retained = b->nretained;
}
