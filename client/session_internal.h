/*
 * session_internal.h - the state of a session core, shared by its files
 * (session.c: lifecycle, output, timers, requests; session_receive.c:
 * inbound packets; session_store.c: init and adopt). Not installed.
 */
#ifndef MQTTSIM_SESSION_INTERNAL_H
#define MQTTSIM_SESSION_INTERNAL_H

#include "mqttsim/session.h"
#include "codec/conformance.h"

enum out_state { OUT_FREE, OUT_PUBLISH, OUT_PUBREL };

/* One outbound QoS 1 or 2 exchange, in the order list by node index
 * (QoS 1 slots 0..16383, QoS 2 slots 16384..32767). */
struct out_entry {
	uint8_t state;
	bool sent;           /* a byte of it reached a transport: DUP on resend [MQTT-3.3.1-1] */
	bool sent_before;    /* written on an earlier connection (or adopted) */
	bool on_conn;        /* sent on this connection (a flag: 0 is a time like any other) */
	uint64_t queued_at;  /* where its bytes start in this connection's output stream */
	uint64_t sent_at;    /* last sent on this connection, when on_conn */
	uint8_t *packet;     /* the PUBLISH, DUP clear, while OUT_PUBLISH */
	size_t len;
	int32_t prev1, next1; /* order list: node index + 1; 0: none, so that
	                        * calloc'd tables need no initialising pass */
};

/* A space's MQTT_WINDOW_MAX slots come in pages, each allocated when an
 * identifier in it is first taken: a session with a window of 16 touches
 * one or two pages, not a 900 KB table per session start (which made
 * simulated runs spend a third of their time mapping and clearing it). */
#define SPACE_PAGE_SLOTS 256u
#define SPACE_PAGES (MQTT_WINDOW_MAX / SPACE_PAGE_SLOTS)

struct space {
	struct out_entry *page[SPACE_PAGES]; /* NULL: no slot of it ever taken */
	bool enabled;        /* false: this QoS level is disabled */
	uint16_t base;       /* identifier space */
	unsigned max, count, cursor;
};

#define REQUEST_SLOTS 8192u

enum pending_ack { ACK_NONE, ACK_PUBACK, ACK_PUBREC };

struct mqtt_session {
	struct mqtt_session_config cfg; /* slices point into owned */
	uint8_t *owned;
	enum mqtt_session_state state;
	bool transport_up, close_wanted, closing, refused, closed_event;
	bool clean_done; /* a CONNACK was accepted: reconnects do not clean */
	bool clean_conn; /* this connection's CONNECT asked for a clean session */
	uint64_t dial_at;
	uint32_t backoff_ms;
	void (*warn)(void *arg, const char *text);
	void *warn_arg;

	bool stored;
	struct mqtt_checked checked;

	struct space qos1, qos2;
	int32_t head, tail;

	/* Filters of each SUBSCRIBE and UNSUBSCRIBE awaiting its answer, by
	 * identifier slot (0: free); made at the first request: 32 KB that
	 * every session start cleared, most never to use them. */
	struct requests {
		uint16_t sub_count[REQUEST_SLOTS], unsub_count[REQUEST_SLOTS];
	} *requests;
	unsigned requests_open;     /* slots above in use: a loss scans them only then */
	uint8_t *codes_taken;       /* the codes_all of the event taken last */
	unsigned sub_cursor, unsub_cursor;
	bool ping_pending, ping_user;
	uint64_t ping_sent_at;

	uint8_t inbound[65536 / 8]; /* QoS 2 identifiers awaiting PUBREL */
	unsigned inbound_held;      /* bits set above: forgetting them scans only then */
	enum pending_ack ack;
	uint16_t ack_id;
	struct mqtt_framer framer;
	uint8_t *readbuf;
	struct big_message {
		bool active;       /* an oversize PUBLISH is streaming in */
		bool deliver;      /* reported to the application (not a QoS 2 duplicate) */
		uint8_t qos;
		bool retain, dup;
		uint16_t id;
		struct mqtt_slice topic; /* in readbuf, which the stream leaves alone */
		size_t payload_at, payload_len;
		uint8_t *claim;    /* the application's buffer, or NULL to skip */
	} big;

	struct session_output {   /* session_output.c */
		struct out_piece *pieces; /* a ring: head, count, cap */
		size_t head, count, cap;
		size_t bytes;             /* in all pieces */
		struct out_chunk *first, *tail, *spare;
		size_t nspare;
		uint8_t *flat;            /* mqtt_session_output()'s one buffer */
		size_t flat_cap;
	} out;
	/* This connection's output stream: bytes queued and bytes written, so
	 * that a PUBLISH counts as sent only once a byte of it was written. */
	uint64_t queued_total, written_total;
	uint64_t last_write, last_read;

	struct mqtt_event *events;
	size_t ev_head, ev_len, ev_cap;
};

static inline struct mqtt_error err_of(enum mqtt_class cls, int code)
{
	struct mqtt_error e = {cls, code};
	return e;
}

static inline struct mqtt_error ok(void)
{
	return err_of(MQTT_SUCCESS, 0);
}

/* The slot of node: session_entry when it is known to be there (a node on
 * the order list), session_entry_find when it may not be (NULL: free, never
 * used), session_entry_make to use it (NULL: out of memory). */
struct out_entry *session_entry(struct mqtt_session *s, int32_t node);
struct out_entry *session_entry_find(struct mqtt_session *s, int32_t node);
struct out_entry *session_entry_make(struct mqtt_session *s, int32_t node);
struct space *session_space_of(struct mqtt_session *s, uint16_t id);
void session_list_append(struct mqtt_session *s, int32_t node);
void session_list_remove(struct mqtt_session *s, int32_t node);
int32_t session_node(struct mqtt_session *s, struct space *sp, uint16_t id);

/* The output (session_output.c). Queued bytes are copied (or encoded)
 * into it; a queued packet is referred to, and must stay until written:
 * an exchange gives its PUBLISH up with session_release_packet(). */
struct mqtt_error session_queue(struct mqtt_session *s, const struct mqtt_packet *p);
struct mqtt_error session_queue_bytes(struct mqtt_session *s, const uint8_t *b, size_t n);
struct mqtt_error session_queue_packet(struct mqtt_session *s, const uint8_t *packet, size_t n);
void session_release_packet(struct mqtt_session *s, struct out_entry *e);
bool session_output_pending(const struct mqtt_session *s);
/* Forgets the output (a new or lost transport: no writer holds it). */
void session_output_drop(struct mqtt_session *s);
void session_output_free(struct mqtt_session *s);
void session_event(struct mqtt_session *s, const struct mqtt_event *ev);
void session_want_close(struct mqtt_session *s, struct mqtt_error why);
void session_warn(struct mqtt_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void session_resend(struct mqtt_session *s, uint64_t now);
void session_reset_backoff(struct mqtt_session *s);

struct mqtt_error session_store_init(struct mqtt_session *s);
/* Lets go of the inbound QoS 2 identifiers held, and their records: the
 * broker's session they belong to is gone (session_receive.c). */
void session_forget_inbound(struct mqtt_session *s);
struct mqtt_error session_store_adopt(struct mqtt_session *s);

static inline bool inbound_has(const struct mqtt_session *s, uint16_t id)
{
	return s->inbound[id >> 3] & (1u << (id & 7));
}

static inline void inbound_set(struct mqtt_session *s, uint16_t id, bool on)
{
	if (inbound_has(s, id) == on)
		return;
	if (on) {
		s->inbound[id >> 3] |= (uint8_t)(1u << (id & 7));
		s->inbound_held++;
	} else {
		s->inbound[id >> 3] &= (uint8_t)~(1u << (id & 7));
		s->inbound_held--;
	}
}

#endif
