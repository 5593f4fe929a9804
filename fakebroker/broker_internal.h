/*
 * broker_internal.h - the fake broker core's data, shared by its files:
 * broker.c (connections, output, time), broker_connect.c (CONNECT,
 * users, sessions, wills), broker_packet.c (what clients send),
 * broker_route.c (messages, subscriptions, retained, delivery),
 * broker_script.c (rules), broker_record.c (recording).
 */
#ifndef FAKEBROKER_BROKER_INTERNAL_H
#define FAKEBROKER_BROKER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttsim/broker.h"
#include "mqttsim/codec.h"
#include "codec/conformance.h"

/* A message as published, shared by every queue that holds it. */
struct bmsg {
	uint32_t refs;
	uint8_t qos;
	uint16_t topic_len;
	size_t payload_len;
	const uint8_t *payload; /* after the topic, in the same allocation */
	uint8_t topic[];
};

enum out_state {
	OUT_QUEUED,        /* not sent yet */
	OUT_AWAIT_PUBACK,  /* QoS 1 sent */
	OUT_AWAIT_PUBREC,  /* QoS 2 PUBLISH sent */
	OUT_AWAIT_PUBCOMP, /* QoS 2 PUBREL sent */
	OUT_DONE,          /* acknowledged; removed when it reaches the head */
};

/* A QoS 1 or 2 delivery to one session. */
struct bout {
	struct bmsg *msg;
	uint16_t id;
	uint8_t qos;
	uint8_t state;
	bool retain; /* a retained message sent on subscribe */
};

struct bsub {
	uint8_t *filter;
	uint16_t len;
	uint8_t qos;
};

struct bsession {
	char *client_id; /* NUL-terminated */
	size_t id_len;
	bool clean;
	struct bconn *conn;      /* NULL while the client is away */
	struct bsub *subs;
	size_t nsubs, subs_cap;
	struct bout *q;          /* ring of deliveries: sent ones first */
	size_t q_head, q_len, q_cap;
	size_t q_sent;           /* entries from the head that went out */
	size_t inflight;         /* sent and not done */
	uint16_t next_id;
	uint8_t *qos2_in;        /* bitmap of inbound QoS 2 ids awaiting PUBREL; lazy */
};

/* A packet held back by a delay rule. */
struct bdelayed {
	struct bdelayed *next;
	uint64_t due;
	size_t len;
	uint8_t bytes[];
};

enum conn_state { CONN_AWAIT_CONNECT, CONN_ONLINE, CONN_CLOSING };

struct bbuf {
	uint8_t *data;
	size_t off, len, cap; /* pending bytes are data[off..len) */
};

struct bconn {
	struct mqtt_broker *b;
	uint32_t id;
	void *user;
	enum conn_state state;
	bool reading;
	bool disconnected;    /* DISCONNECT received: no will */
	bool in_ready;
	bool end_held;        /* closed while ends were held: broker_connection_ended() waits */
	struct bconn *ready_next;
	struct bconn *prev, *next;
	struct bsession *session;
	uint64_t opened_at, last_rx;
	uint16_t keep_alive;
	struct mqtt_framer framer;
	uint8_t *frame_buf;
	struct bbuf out;
	struct bdelayed *delayed;
	uint8_t *held;        /* a packet held by a reorder rule */
	size_t held_len;
	struct bmsg *will;
	bool will_retain;
	const char *close_reason;
};

struct brule {
	int id;
	struct mqtt_broker_rule r; /* client_id and filter point to owned copies */
	char *client_id, *filter;
	struct brule *next;
};

struct brecord {
	uint64_t seq, time;
	uint32_t conn;
	uint8_t dir, type;
	size_t len;
	char *client_id; /* in the same allocation as bytes */
	uint8_t bytes[];
};

struct buser {
	char *name;
	char *secret;
};

struct mqtt_broker {
	struct mqtt_broker_config cfg;
	struct bconn *conns;          /* every open connection */
	struct bconn *ready_head, *ready_tail;
	uint32_t next_conn_id;
	uint64_t generated_ids;
	struct bsession **sessions;
	size_t nsessions, sessions_cap;
	struct bmsg **retained;
	size_t nretained, retained_cap;
	struct brule *rules;
	int next_rule_id;
	struct buser *users;
	size_t nusers;
	struct brecord **records;     /* ring of record_max */
	size_t rec_head, rec_len;
	uint64_t rec_seq;
	uint64_t now;                 /* of the current call */
	uint64_t next_deadline;       /* no deadline is earlier than this */
	/* Routing loops under way (broker_hold_ends): a connection closed in
	 * one (a rule) ends after them, so that its clean session is not
	 * freed, nor the session list reshuffled, under the loop's feet. */
	unsigned holding;
	bool ends_held;
	struct mqtt_broker_stats stats;
	void (*log)(void *arg, uint32_t conn, const char *line);
	void *log_arg;
};

/* broker.c */
void broker_ready(struct bconn *c);
void broker_logf(struct mqtt_broker *b, const struct bconn *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void broker_close(struct bconn *c, const char *reason);
/* Around a loop over sessions or a session's queue: connections closed
 * inside end (session freed, will published) at the outermost release. */
void broker_hold_ends(struct mqtt_broker *b);
void broker_release_ends(struct mqtt_broker *b);
void broker_deadline(struct mqtt_broker *b, uint64_t at);
uint8_t *bbuf_reserve(struct bbuf *buf, size_t n);
bool broker_emit(struct bconn *c, const struct mqtt_packet *p);
void broker_emit_bytes(struct bconn *c, uint8_t type, const uint8_t *bytes, size_t len);
struct bconn *broker_conn_of(struct mqtt_broker *b, const char *client_id);

/* broker_connect.c */
void broker_on_connect(struct bconn *c, const struct mqtt_packet *p, enum mqtt_err err);
void broker_connection_ended(struct bconn *c);
struct bsession *broker_session_find(struct mqtt_broker *b, const uint8_t *id, size_t len);
void broker_session_free(struct mqtt_broker *b, struct bsession *s);
int broker_check_secret(const char *secret, const uint8_t *password, size_t len);
int broker_secret_valid(const char *secret);

/* broker_packet.c */
void broker_on_packet(struct bconn *c, const struct mqtt_packet *p);

/* broker_route.c */
struct bmsg *bmsg_new(const struct mqtt_slice *topic, const struct mqtt_slice *payload,
                      uint8_t qos);
void bmsg_unref(struct bmsg *m);
void broker_publish(struct mqtt_broker *b, struct bmsg *m, bool retain);
void broker_subscribe_retained(struct mqtt_broker *b, struct bsession *s, const uint8_t *filter,
                               size_t len, uint8_t qos);
void session_resume(struct bsession *s);
void session_pump(struct bsession *s);
bool session_ack(struct bsession *s, uint8_t type, uint16_t id);
void session_clear_queue(struct bsession *s);

/* broker_script.c */
struct brule;
/* Outgoing packet bytes at c->out (from start, len): applies b2c rules. */
void script_outgoing(struct bconn *c, uint8_t type, size_t start, size_t len);
/* Incoming packet: returns MQTT_ACT_CLOSE_BEFORE, _CLOSE_AFTER, _STOP_READING or 0. */
int script_incoming(struct bconn *c, uint8_t type);
/* A CONNECT from client_id: the refusal code to use, or 0. */
uint8_t script_refusal(struct mqtt_broker *b, const uint8_t *client_id, size_t len);
bool script_refuse_subscribe(struct mqtt_broker *b, const struct bsession *s,
                             const uint8_t *filter, size_t len);
/* A delivery of a PUBLISH to s: 0 normal, MQTT_ACT_DROP or MQTT_ACT_DELIVER_TWICE. */
int script_delivery(struct mqtt_broker *b, const struct bsession *s);
void script_free(struct mqtt_broker *b);

/* broker_record.c */
void record_packet(struct bconn *c, unsigned dir, uint8_t type, const uint8_t *bytes,
                   size_t len);
void record_free(struct mqtt_broker *b);

#endif
