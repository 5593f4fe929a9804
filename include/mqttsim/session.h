/*
 * mqttsim/session.h - the client's sans-I/O session core.
 *
 * NAME
 *	mqtt_session_new, mqtt_session_free, mqtt_session_connected,
 *	mqtt_session_lost, mqtt_session_receive, mqtt_session_output,
 *	mqtt_session_wrote, mqtt_session_tick, mqtt_session_next_event,
 *	mqtt_session_publish, mqtt_session_subscribe,
 *	mqtt_session_unsubscribe, mqtt_session_ping,
 *	mqtt_session_disconnect, mqtt_session_close - MQTT 3.1.1 client
 *	session as a state machine
 *
 * DESCRIPTION
 *	The core holds everything a client session knows and decides:
 *	packet identifiers, in-flight windows, resends, deduplication,
 *	acknowledgements, keep-alive, timeouts and reconnect backoff. It
 *	does no I/O and reads no clock, thread or random source: bytes
 *	received, the time (milliseconds on any monotonic clock) and API
 *	calls go in; bytes to send, events and the time of the next
 *	deadline come out. The threaded client and the simulator are its
 *	drivers; the same code runs under both.
 *
 *	A driver's loop:
 *	  - when mqtt_session_should_dial() says so, open a transport and
 *	    call mqtt_session_connected() (or mqtt_session_lost() when the
 *	    dial failed);
 *	  - send what mqtt_session_output() gives and report it with
 *	    mqtt_session_wrote();
 *	  - hand received bytes to mqtt_session_receive() until consumed;
 *	    a returned message borrows them until the next call, which
 *	    acknowledges it (the broker's message is acknowledged only when
 *	    the application asks for the next one, as the seed does);
 *	  - call mqtt_session_tick() at the deadline it returns;
 *	  - when mqtt_session_should_close() says so, close the transport
 *	    and call mqtt_session_lost();
 *	  - drain mqtt_session_next_event().
 *
 * SESSIONS
 *	Volatile sessions keep state in memory only. A session initialised
 *	on a store saves every QoS 1 and 2 message before it is sent, its
 *	progress (PUBREL), and the identifiers of inbound QoS 2 messages
 *	until their release, through the integrity layer (mqttsim/store.h);
 *	a session adopted from that store after a restart resends what was
 *	in flight, in the original order, and keeps deduplicating.
 *
 *	Store keys: 0 the client identifier; 0x4000-0xffff outbound packet
 *	identifiers (QoS 1 in 0x8000-0xbfff, QoS 2 in 0xc000-0xffff);
 *	0x10000 | id the inbound QoS 2 identifiers awaiting PUBREL.
 *
 * THREADS
 *	None inside. A session is used by one thread at a time.
 */
#ifndef MQTTSIM_SESSION_H
#define MQTTSIM_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mqttsim/codec.h"
#include "mqttsim/error.h"
#include "mqttsim/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Identifier spaces of the seed: an ack in the wrong space is a violation. */
#define MQTT_SPACE_UNSUBSCRIBE 0x4000u /* 8,192 identifiers */
#define MQTT_SPACE_SUBSCRIBE 0x6000u   /* 8,192 identifiers */
#define MQTT_SPACE_AT_LEAST_ONCE 0x8000u  /* 16,384 identifiers */
#define MQTT_SPACE_EXACTLY_ONCE 0xc000u   /* 16,384 identifiers */
#define MQTT_WINDOW_MAX 16384u

#define MQTT_KEY_CLIENT_ID 0u
#define MQTT_KEY_INBOUND 0x10000u

struct mqtt_session_config {
	struct mqtt_slice client_id;   /* copied; for ADOPT, the stored one wins */
	bool clean_session;            /* a new session's first connect only: reconnects, and
	                                  an adopted session's connects, are never clean; without
	                                  a client_id every connect is clean (the broker assigns
	                                  an identifier to clean sessions only, MQTT-3.1.3-7) */
	/* Seconds; 0 disables. Also bounds the wait for CONNACK when there
	 * is no pause timeout: none within a period ends the connection
	 * (MQTT_TIMEOUT), and the client connects again. */
	uint16_t keep_alive;
	bool no_auto_ping;             /* do not send PINGREQ when idle for keep_alive */
	bool has_username, has_password;
	struct mqtt_slice username, password; /* copied */
	bool will;
	struct mqtt_slice will_topic, will_message; /* copied */
	uint8_t will_qos;
	bool will_retain;
	/* In-flight windows, up to MQTT_WINDOW_MAX; 0 disables the QoS level. */
	unsigned at_least_once_max, exactly_once_max;
	uint32_t reconnect_wait_min_ms; /* 0: 1,000 */
	uint32_t reconnect_wait_max_ms; /* 0: 60,000 */
	uint32_t pause_timeout_ms;      /* 0 disables */
	uint32_t ack_timeout_ms;        /* 0 disables (the seed's behaviour) */
	size_t read_buffer_size;        /* largest inbound packet; 0: 256 KiB */
	/* Jitter of reconnect waits (half to all of the backoff); NULL for
	 * none in the core. The threaded client (mqtt_client_new()) gives a
	 * source of its own, seeded per client, when this is NULL. */
	uint64_t (*random)(void *arg);
	void *random_arg;
};

enum mqtt_session_mode {
	MQTT_SESSION_VOLATILE, /* memory only; store unused */
	MQTT_SESSION_INIT,     /* a new session on an empty store */
	MQTT_SESSION_ADOPT,    /* continue the session in store */
};

struct mqtt_session;

/*
 * Creates a session. For INIT and ADOPT, store must stay open while the
 * session lives (the session does not own it). For ADOPT, warn (may be
 * NULL) receives each damaged or unusable record, and the session goes
 * on without it.
 *
 * Errors: MQTT_DENY (invalid configuration: client id, will, windows;
 * code: enum mqtt_err, or MQTT_ERR_ARGUMENT), MQTT_PERSISTENCE (the
 * store failed, or INIT on a store that holds records: code EEXIST;
 * ADOPT without a usable client identifier: code ENOENT), and
 * MQTT_PERSISTENCE with code ENOMEM when memory ran out.
 */
MQTTSIM_API struct mqtt_error mqtt_session_new(struct mqtt_session **out,
                                               const struct mqtt_session_config *cfg,
                                               enum mqtt_session_mode mode,
                                               struct mqtt_store *store,
                                               void (*warn)(void *arg, const char *text),
                                               void *warn_arg);
MQTTSIM_API void mqtt_session_free(struct mqtt_session *s);

/* Connection state, for Online/Offline signals. */
enum mqtt_session_state {
	MQTT_STATE_OFFLINE,    /* no transport; waiting to dial */
	MQTT_STATE_CONNECTING, /* transport up, CONNACK awaited */
	MQTT_STATE_ONLINE,     /* CONNACK accepted */
	MQTT_STATE_CLOSED,     /* closed or disconnected; permanent */
};
MQTTSIM_API enum mqtt_session_state mqtt_session_state(const struct mqtt_session *s);

/* Whether the driver should open a transport now. */
MQTTSIM_API bool mqtt_session_should_dial(const struct mqtt_session *s, uint64_t now);
/* The earliest time to dial (the end of the backoff). */
MQTTSIM_API uint64_t mqtt_session_dial_at(const struct mqtt_session *s);
/* Whether the driver must close the transport (then call mqtt_session_lost()). */
MQTTSIM_API bool mqtt_session_should_close(const struct mqtt_session *s);

/* A transport is up: the core queues CONNECT. */
MQTTSIM_API void mqtt_session_connected(struct mqtt_session *s, uint64_t now);

/*
 * The transport is gone, or the dial failed, for the reason why (the
 * driver's I/O error, or the error the core asked to close for). The
 * core starts the backoff; pending subscribe, unsubscribe and ping
 * requests end with MQTT_BREAK events; published messages stay in
 * flight for resend.
 */
MQTTSIM_API void mqtt_session_lost(struct mqtt_session *s, uint64_t now, struct mqtt_error why);

/* An inbound application message. Slices borrow the receive input. */
struct mqtt_message {
	struct mqtt_slice topic, payload;
	uint8_t qos;
	bool retain, dup;
};

/*
 * Feeds received bytes. Stops after an application message (returned in
 * *msg, msg->topic.data non-NULL) and otherwise consumes all of in.
 * *consumed is set in all cases. Calling again acknowledges the message
 * returned before (PUBACK, or PUBREC after the inbound QoS 2 identifier
 * is saved): that call only queues the acknowledgement and returns,
 * consuming nothing, so that the driver writes it out before the next
 * input is taken (a crash while it is written then finds the next
 * message's identifier unsaved, and that message comes again). Call
 * with len 0 to acknowledge without new input. It also stops before a
 * QoS 2 PUBLISH when it queued output for packets ahead of it (the
 * PUBCOMP of a PUBREL, say), consuming less than len: write the output
 * before calling again, so that no write comes between the saving of
 * that message's identifier and its return. A driver that writes what
 * is queued before each call keeps that promise for the whole stream.
 *
 * MQTT_BIG_MESSAGE with msg->topic set is no failure: an application
 * message whose packet is larger than read_buffer_size is coming in
 * (code: its payload size; msg has topic, qos, retain and dup). Call
 * mqtt_session_claim() with a buffer of that size before the next
 * receive to get it whole (returned then as a message), or just go on
 * to skip it; it is acknowledged either way, as the seed's BigMessage.
 *
 * Errors (the connection must be closed; mqtt_session_should_close()
 * is true): MQTT_PROTOCOL (a malformed packet, or one out of protocol),
 * MQTT_BIG_MESSAGE without a topic (a packet other than PUBLISH over
 * read_buffer_size, or a topic that does not fit it; code: its size),
 * MQTT_PERSISTENCE (saving an inbound QoS 2 identifier failed),
 * MQTT_CLOSED.
 */
MQTTSIM_API struct mqtt_error mqtt_session_receive(struct mqtt_session *s, uint64_t now,
                                                   const uint8_t *in, size_t len,
                                                   size_t *consumed, struct mqtt_message *msg);

/*
 * Receives the big message just reported by mqtt_session_receive() into
 * buf, which holds its payload size and stays valid until the message
 * comes back from a later receive (with msg->payload.data == buf).
 * Returns false when no big message is waiting to be claimed.
 */
MQTTSIM_API bool mqtt_session_claim(struct mqtt_session *s, uint8_t *buf);

/*
 * The bytes waiting to be sent, as one buffer: *data and the return
 * value (0: none). More than one piece waiting are laid end to end in a
 * buffer of the session's, valid until the next call.
 */
MQTTSIM_API size_t mqtt_session_output(struct mqtt_session *s, const uint8_t **data);
/*
 * The bytes waiting to be sent, as they lie (nothing copied): the first
 * max pieces in v, in order, for writev(2); returns how many, with the
 * bytes of all pieces (max or not) in *total (may be NULL). The pieces
 * stay valid and in place until mqtt_session_wrote() consumes them, even
 * when more output is queued or the session is closed meanwhile (a
 * closed session gives out nothing more, but frees nothing a writer may
 * hold): a driver may write them with its lock released. They go with
 * mqtt_session_lost(), mqtt_session_connected() and mqtt_session_free(),
 * which the driver calls with no write under way.
 */
MQTTSIM_API size_t mqtt_session_output_iov(struct mqtt_session *s, struct iovec *v, size_t max,
                                           size_t *total);
/* n bytes of the output were written. */
MQTTSIM_API void mqtt_session_wrote(struct mqtt_session *s, uint64_t now, size_t n);

/*
 * Runs what is due at now (keep-alive PINGREQ, timeouts) and returns the
 * next deadline (UINT64_MAX when none). A timeout asks for the
 * connection to be closed (MQTT_TIMEOUT).
 */
MQTTSIM_API uint64_t mqtt_session_tick(struct mqtt_session *s, uint64_t now);

enum mqtt_event_type {
	MQTT_EVENT_NONE,
	MQTT_EVENT_ONLINE,       /* CONNACK accepted; session_present */
	MQTT_EVENT_REFUSED,      /* CONNACK refused; err MQTT_REFUSED, code 1-5 */
	MQTT_EVENT_OFFLINE,      /* connection lost; err says why */
	MQTT_EVENT_PUBLISHED,    /* id: QoS 1 or 2 exchange complete (PUBACK, PUBCOMP) */
	MQTT_EVENT_RELEASED,     /* id: QoS 2 PUBREC received, PUBREL under way */
	MQTT_EVENT_SUBSCRIBED,   /* id; codes; err MQTT_SUBSCRIBE_FAILED when a code is 0x80 */
	MQTT_EVENT_UNSUBSCRIBED, /* id */
	MQTT_EVENT_PONG,         /* PINGRESP to mqtt_session_ping() */
	MQTT_EVENT_FAILED,       /* id: a subscribe, unsubscribe or ping ended with err (BREAK,
	                          * TIMEOUT when the connection was dropped by a timeout, CLOSED) */
	MQTT_EVENT_CLOSED,       /* the session is closed */
};

struct mqtt_event {
	enum mqtt_event_type type;
	uint32_t id;             /* packet identifier of the request; 0 for ping */
	struct mqtt_error err;
	bool session_present;
	uint8_t codes[16];       /* SUBACK return codes (the first 16) */
	unsigned ncodes;
	/* SUBSCRIBED: every return code, one per filter (ncodes_all), in the
	 * order of the request: the granted QoS or 0x80 (failed). Owned by the
	 * session, valid until the next mqtt_session_next_event() or
	 * mqtt_session_free(); NULL when memory ran out. */
	const uint8_t *codes_all;
	size_t ncodes_all;
};

/* Takes the next event; false when there is none. */
MQTTSIM_API bool mqtt_session_next_event(struct mqtt_session *s, struct mqtt_event *ev);

/*
 * Publishes payload to topic at qos (0, 1, 2). QoS 1 and 2 messages are
 * saved (stored sessions) and queued even while offline; they are sent
 * and resent until acknowledged, and *id (when not NULL) names the
 * exchange in later events. At QoS 1 and 2, now starts the exchange's
 * acknowledgement timeout; a QoS 0 publish starts nothing and ignores it
 * (so a caller on a hot path need not read its clock for one).
 *
 * Errors (all mean "not sent"): MQTT_CLOSED; MQTT_DENY (invalid topic,
 * QoS, or a packet over 256 MiB; code enum mqtt_err); MQTT_MAX (the
 * window of the QoS level is full, or the level is disabled); MQTT_DOWN
 * (QoS 0 while not online); MQTT_PERSISTENCE (the save failed: the
 * message was dropped).
 */
MQTTSIM_API struct mqtt_error mqtt_session_publish(struct mqtt_session *s, uint64_t now,
                                                   uint8_t qos, bool retain,
                                                   struct mqtt_slice topic,
                                                   struct mqtt_slice payload, uint16_t *id);

/*
 * Subscribes to n filters (1 to 8,192), each with its maximum QoS.
 * Errors ("not sent"): MQTT_CLOSED, MQTT_DENY, MQTT_DOWN, MQTT_MAX, and
 * MQTT_PERSISTENCE with code ENOMEM when memory ran out (the session's
 * table of requests is made at its first request).
 * The outcome comes as MQTT_EVENT_SUBSCRIBED or MQTT_EVENT_FAILED.
 */
MQTTSIM_API struct mqtt_error mqtt_session_subscribe(struct mqtt_session *s, uint64_t now,
                                                     const struct mqtt_topic *filters, size_t n,
                                                     uint16_t *id);
/* As subscribe; the filters' qos fields are ignored. MQTT_EVENT_UNSUBSCRIBED. */
MQTTSIM_API struct mqtt_error mqtt_session_unsubscribe(struct mqtt_session *s, uint64_t now,
                                                       const struct mqtt_topic *filters, size_t n,
                                                       uint16_t *id);
/* One ping at a time (MQTT_MAX otherwise); MQTT_EVENT_PONG. */
MQTTSIM_API struct mqtt_error mqtt_session_ping(struct mqtt_session *s, uint64_t now);

/*
 * Queues DISCONNECT (when online) and closes the session once it is
 * written: the broker discards the will. Pending requests end with
 * MQTT_CLOSED; QoS 1 and 2 messages stay in the store for a later
 * ADOPT. Errors: MQTT_CLOSED.
 */
MQTTSIM_API struct mqtt_error mqtt_session_disconnect(struct mqtt_session *s, uint64_t now);
/* Closes now, without DISCONNECT (the broker publishes the will). */
MQTTSIM_API void mqtt_session_close(struct mqtt_session *s, uint64_t now);

/* Outbound QoS 1 and 2 messages in flight. */
MQTTSIM_API size_t mqtt_session_inflight(const struct mqtt_session *s);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_SESSION_H */
