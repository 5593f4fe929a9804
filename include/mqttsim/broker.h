/*
 * mqttsim/broker.h - the fake broker's sans-I/O core: a conforming
 * MQTT 3.1.1 server that tests can script and inspect.
 *
 * NAME
 *	mqtt_broker_new, mqtt_broker_free, mqtt_broker_add_user,
 *	mqtt_broker_open, mqtt_broker_receive, mqtt_broker_output,
 *	mqtt_broker_wrote, mqtt_broker_closed, mqtt_broker_tick,
 *	mqtt_broker_next_ready, mqtt_broker_rule, mqtt_broker_rule_add,
 *	mqtt_broker_rule_remove, mqtt_broker_kick, mqtt_broker_send_raw,
 *	mqtt_broker_stop_reading, mqtt_broker_records,
 *	mqtt_broker_stats - MQTT broker as a state machine
 *
 * DESCRIPTION
 *	The core holds sessions, subscriptions, retained messages, wills
 *	and the connections' protocol state. It does no I/O and reads no
 *	clock: a driver opens a connection handle per transport, hands it
 *	the bytes received and the time (milliseconds on any monotonic
 *	clock), and sends what it gives back. The in-process server and the
 *	standalone fakebroker program (mqttsim/fakebroker.h) are drivers;
 *	the simulator will be another.
 *
 *	A driver's loop:
 *	  - per accepted transport, mqtt_broker_open();
 *	  - hand bytes received to mqtt_broker_receive(), while
 *	    mqtt_bconn_wants_read() says so;
 *	  - pop connections with news from mqtt_broker_next_ready(): send
 *	    their mqtt_broker_output(), report it with mqtt_broker_wrote(),
 *	    and close the transport when mqtt_bconn_wants_close() says so
 *	    and the output is drained;
 *	  - when a transport ends, for whatever reason, mqtt_broker_closed();
 *	  - call mqtt_broker_tick() at the deadline it returns.
 *
 * BEHAVIOUR
 *	CONNECT must come first and once [MQTT-3.1.0-1, MQTT-3.1.0-2];
 *	protocol level 4 (else CONNACK 1) [MQTT-3.1.2-2]; an empty client
 *	identifier gets a generated one with a clean session and CONNACK 2
 *	without [MQTT-3.1.3-6, MQTT-3.1.3-8]; a second connection with the
 *	same identifier closes the first [MQTT-3.1.4-2]. Users (when any are
 *	added) are checked: an unknown user or wrong password gets CONNACK
 *	4, no user name CONNACK 5 unless anonymous access is allowed.
 *	Persistent sessions keep their subscriptions and queue QoS 1 and 2
 *	messages while away (up to queue_max; more are dropped and counted)
 *	[MQTT-3.1.2-5]; in-flight messages are resent with DUP on resume
 *	[MQTT-4.4.0-1]. Topic matching follows §4.7 with the '$' rule;
 *	overlapping subscriptions deliver a message once, at the highest
 *	granted QoS. Retained messages are set, replaced and cleared by an
 *	empty payload [MQTT-3.3.1-5, MQTT-3.3.1-10] and delivered on
 *	subscribe with the retain flag [MQTT-3.3.1-6, MQTT-3.3.1-8]. Wills
 *	are published when a connection ends without DISCONNECT and
 *	discarded with it [MQTT-3.1.2-8, MQTT-3.14.4-3]. Inbound QoS 2 is
 *	delivered once per packet identifier until PUBREL [MQTT-4.3.3-2].
 *	A connection silent for 1.5 times its keep-alive is closed
 *	[MQTT-3.1.2-24]; so is one that sends no CONNECT within
 *	connect_timeout_ms. Any malformed packet closes its connection
 *	[MQTT-4.8.0-1]; the others are not affected.
 *
 * SCRIPTING
 *	Rules change what the broker does, one line of text each:
 *
 *	  refuse CODE [client=ID] [count=N]
 *	      answer the next N (default 1) CONNECTs with CONNACK CODE (1-5)
 *	  withhold TRIGGER      do not send the selected packets
 *	  delay TRIGGER ms=N    send them N milliseconds later
 *	  duplicate TRIGGER     send them twice
 *	  reorder TRIGGER       send each after the packet that follows it
 *	  close TRIGGER [when=before|after]
 *	      close the connection instead of (before, the default) or
 *	      right after handling or sending the selected packet
 *	  stop-reading TRIGGER  read nothing more after the selected packet
 *	  deliver-twice TRIGGER deliver the selected PUBLISH again as a new
 *	                        message (a broker that duplicates)
 *	  drop TRIGGER          never deliver the selected PUBLISH, while
 *	                        acknowledging the publisher (a broker that
 *	                        loses)
 *	  refuse-subscribe FILTER [client=ID] [count=N]
 *	      answer subscriptions to exactly FILTER with SUBACK 0x80 (N
 *	      times; without count, always)
 *
 *	TRIGGER is the syntax of mqttsim/trigger.h; directions default to
 *	b2c for the rules that act on sent packets (withhold, delay,
 *	duplicate, reorder, deliver-twice, drop) and c2b for stop-reading;
 *	close takes either, and both when none is given. Every rule takes
 *	client=ID (only that client's packets count) and count=N (act on N
 *	selected packets). A rule acts until its trigger is spent, then is
 *	removed.
 *
 * RECORDING
 *	With config.record, every packet in and out is kept (the newest
 *	record_max of them) with its time, direction, connection, client
 *	identifier and bytes, as received or as handed to the driver.
 *
 * THREADS
 *	None inside. A broker is used by one thread at a time.
 */
#ifndef MQTTSIM_BROKER_H
#define MQTTSIM_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttsim/api.h"
#include "mqttsim/trigger.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mqtt_broker;
struct mqtt_bconn;

/* Zero means the default for every field. */
struct mqtt_broker_config {
	uint32_t connect_timeout_ms; /* CONNECT must arrive within; default 10,000; UINT32_MAX never */
	size_t packet_max;           /* largest packet accepted; default 1 MiB */
	size_t queue_max;            /* QoS 1/2 messages waiting per session; default 100,000 */
	uint16_t inflight_max;       /* QoS 1/2 messages in flight per session; default 64 */
	bool anonymous;              /* with users: allow connects without a user name */
	bool record;                 /* keep packets for mqtt_broker_records() */
	size_t record_max;           /* the newest records kept; default 1,000,000 */
};

/*
 * Creates a broker. cfg may be NULL for the defaults. Returns 0, or
 * ENOMEM, or EINVAL (a packet_max too small to hold any packet).
 */
MQTTSIM_API int mqtt_broker_new(struct mqtt_broker **out, const struct mqtt_broker_config *cfg);

/* Frees b with every connection handle and message it holds. */
MQTTSIM_API void mqtt_broker_free(struct mqtt_broker *b);

/*
 * Adds (or replaces) a user. secret is the password in plain text or a
 * mosquitto_passwd(1) hash ("$6$salt$hash" SHA-512, or
 * "$7$iterations$salt$hash" PBKDF2-SHA512), copied. From the first
 * user on, connects need valid credentials. Returns 0, ENOMEM, or
 * EINVAL (a name that is not valid UTF-8, a malformed hash).
 */
MQTTSIM_API int mqtt_broker_add_user(struct mqtt_broker *b, const char *name, const char *secret);

/*
 * A connection handle for a new transport, with its connect timeout
 * starting at now; NULL when out of memory. The handle lives until
 * mqtt_broker_closed().
 */
MQTTSIM_API struct mqtt_bconn *mqtt_broker_open(struct mqtt_broker *b, uint64_t now);

/* The connection's number (from 1, never reused) and the driver's pointer. */
MQTTSIM_API uint32_t mqtt_bconn_id(const struct mqtt_bconn *c);
MQTTSIM_API void mqtt_bconn_set_user(struct mqtt_bconn *c, void *user);
MQTTSIM_API void *mqtt_bconn_user(const struct mqtt_bconn *c);
/* The client identifier once CONNECT was accepted, else "". */
MQTTSIM_API const char *mqtt_bconn_client_id(const struct mqtt_bconn *c);

/* Whether the driver should read from the transport. */
MQTTSIM_API bool mqtt_bconn_wants_read(const struct mqtt_bconn *c);
/*
 * Whether the driver should close the transport once the output is
 * sent (and at once, sent or not, when the output is empty); then
 * mqtt_bconn_close_reason() says why, for logs.
 */
MQTTSIM_API bool mqtt_bconn_wants_close(const struct mqtt_bconn *c);
MQTTSIM_API const char *mqtt_bconn_close_reason(const struct mqtt_bconn *c);

/*
 * Handles in[0..len) received on c at now. Returns the number of bytes
 * consumed: all of them, unless the connection stopped reading or is
 * to be closed. Connections affected (c, subscribers, a client taken
 * over) are queued for mqtt_broker_next_ready().
 */
MQTTSIM_API size_t mqtt_broker_receive(struct mqtt_broker *b, struct mqtt_bconn *c, uint64_t now,
                                       const uint8_t *in, size_t len);

/*
 * The bytes c has to send: *data points to them (valid until the next
 * call on b) and the count is returned, 0 when none.
 * mqtt_broker_wrote() reports n of them sent.
 */
MQTTSIM_API size_t mqtt_broker_output(struct mqtt_broker *b, struct mqtt_bconn *c,
                                      const uint8_t **data);
MQTTSIM_API void mqtt_broker_wrote(struct mqtt_broker *b, struct mqtt_bconn *c, size_t n);

/*
 * The next connection with output to send or a wish to close, each
 * once per change; NULL when none.
 */
MQTTSIM_API struct mqtt_bconn *mqtt_broker_next_ready(struct mqtt_broker *b);

/*
 * The transport of c ended (closed by either side, or failed). A will
 * is published unless DISCONNECT came first; a clean session ends.
 * Frees c.
 */
MQTTSIM_API void mqtt_broker_closed(struct mqtt_broker *b, struct mqtt_bconn *c, uint64_t now);

/*
 * Runs what is due at now (connect and keep-alive timeouts, delayed
 * packets) and returns the next deadline, UINT64_MAX when none.
 */
MQTTSIM_API uint64_t mqtt_broker_tick(struct mqtt_broker *b, uint64_t now);

/* Scripting (see SCRIPTING above). */
enum mqtt_broker_action {
	MQTT_ACT_REFUSE = 1,
	MQTT_ACT_WITHHOLD,
	MQTT_ACT_DELAY,
	MQTT_ACT_DUPLICATE,
	MQTT_ACT_REORDER,
	MQTT_ACT_CLOSE_BEFORE,
	MQTT_ACT_CLOSE_AFTER,
	MQTT_ACT_STOP_READING,
	MQTT_ACT_DELIVER_TWICE,
	MQTT_ACT_DROP,
	MQTT_ACT_REFUSE_SUBSCRIBE,
};

struct mqtt_broker_rule {
	enum mqtt_broker_action action;
	struct mqtt_trigger trigger; /* unused by REFUSE and REFUSE_SUBSCRIBE */
	const char *client_id;       /* NULL for any client; copied */
	uint32_t delay_ms;           /* DELAY */
	uint8_t code;                /* REFUSE: the CONNACK return code, 1-5 */
	uint32_t count;              /* REFUSE: times to act, 0 means 1; REFUSE_SUBSCRIBE: 0 always */
	const char *filter;          /* REFUSE_SUBSCRIBE; copied */
};

/*
 * Adds a rule. Returns its identifier (from 1), or -1 with a sentence
 * in err[0..errcap) (EINVAL-like: an action that cannot apply to the
 * trigger's direction or type, a CONNACK code out of range; or out of
 * memory).
 */
MQTTSIM_API int mqtt_broker_rule_add(struct mqtt_broker *b, const struct mqtt_broker_rule *r,
                                     char *err, size_t errcap);

/*
 * Parses one rule in the text syntax and adds it. Returns its
 * identifier, or -1 with err naming the column and what was expected.
 */
MQTTSIM_API int mqtt_broker_rule(struct mqtt_broker *b, const char *text, char *err,
                                 size_t errcap);

/* Removes rule id (0 removes every rule). Returns 0, or -1 when unknown. */
MQTTSIM_API int mqtt_broker_rule_remove(struct mqtt_broker *b, int id);

/* Rules still active, in the text syntax, one per line, into buf (as snprintf). */
MQTTSIM_API int mqtt_broker_rules_format(const struct mqtt_broker *b, char *buf, size_t cap);

/*
 * Immediate actions on the connection of client_id. Each returns 0,
 * or -1 when that client is not connected. kick closes the connection
 * (its will is published: it is an unclean end for the client);
 * send_raw queues len bytes as they are, malformed or not;
 * stop_reading makes the broker read nothing more from it.
 */
MQTTSIM_API int mqtt_broker_kick(struct mqtt_broker *b, const char *client_id);
MQTTSIM_API int mqtt_broker_send_raw(struct mqtt_broker *b, const char *client_id,
                                     const uint8_t *bytes, size_t len);
MQTTSIM_API int mqtt_broker_stop_reading(struct mqtt_broker *b, const char *client_id);

/* One recorded packet. Pointers are valid until the next call on b. */
struct mqtt_broker_record {
	uint64_t seq;          /* from 1, in the order packets passed */
	uint64_t time;         /* the now of the call that saw it */
	uint32_t conn;         /* mqtt_bconn_id() */
	unsigned dir;          /* MQTT_C2B or MQTT_B2C */
	uint8_t type;          /* enum mqtt_type (0 for raw bytes sent by script) */
	const char *client_id; /* "" before CONNECT was accepted */
	const uint8_t *bytes;
	size_t len;
};

/*
 * Copies up to max records with seq > since into out, oldest first,
 * and returns how many.
 */
MQTTSIM_API size_t mqtt_broker_records(struct mqtt_broker *b, uint64_t since,
                                       struct mqtt_broker_record *out, size_t max);

struct mqtt_broker_stats {
	uint64_t connections;      /* open now */
	uint64_t connections_total;
	uint64_t sessions;         /* held now, online or not */
	uint64_t packets_in, packets_out;
	uint64_t messages_in;      /* PUBLISH accepted from clients (duplicates not counted) */
	uint64_t messages_out;     /* PUBLISH deliveries sent (resends not counted) */
	uint64_t messages_dropped; /* queue overflow, or dropped by rule */
	uint64_t retained;         /* retained messages held now */
	uint64_t protocol_errors;  /* connections closed for a malformed or unexpected packet */
};

MQTTSIM_API void mqtt_broker_stats(const struct mqtt_broker *b, struct mqtt_broker_stats *out);

/*
 * An optional log of what happens to connections (accepted, refused,
 * closed and why), one line per call, no secrets. fn is called from
 * inside the core's functions.
 */
MQTTSIM_API void mqtt_broker_set_log(struct mqtt_broker *b,
                                     void (*fn)(void *arg, uint32_t conn, const char *line),
                                     void *arg);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_BROKER_H */
