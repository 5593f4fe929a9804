/*
 * wire.h - one end of a connection, judged by what it sends and
 * receives, packet by packet: the DUP flag and packet identifiers of the
 * PUBLISHes it sends (§3.3.1.1, §2.3.1), and which of the exchanges
 * either side started are still unfinished (quiescence, §4.3).
 *
 * A client's end sees what the client wrote and what it read; the
 * broker's end what the broker wrote and what it read. Each judges its
 * own sender: a loss on the way between them is neither one's conduct.
 */
#ifndef SCENARIOS_WIRE_H
#define SCENARIOS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttsim/codec.h"

enum wire_role { WIRE_CLIENT, WIRE_BROKER };

struct wire_report {
	bool dup_violation, id_violation;
	char dup_why[200], id_why[200];
};

/*
 * Where an exchange stands, by identifier, in each space: own (this end
 * sent the PUBLISH) and peer's (the other end did, this end answers).
 */
enum wire_stage {
	WIRE_FREE,
	WIRE_PUBLISHED1,   /* QoS 1 PUBLISH under way: PUBACK owed */
	WIRE_PUBLISHED2,   /* QoS 2 PUBLISH under way: PUBREC owed */
	WIRE_RECEIVED,     /* PUBREC under way: PUBREL owed */
	WIRE_RELEASED,     /* PUBREL under way: PUBCOMP owed */
};

/* One connection's packet boundaries, in each direction. */
struct wire_framing {
	struct mqtt_framer f[2];         /* [0] what this end sends, [1] what it receives */
	uint8_t fbuf[2][1 << 16];
	bool lost[2];                    /* corrupted on purpose: until the next connection */
	uint64_t pos[2];                 /* stream bytes read so far */
	uint64_t corrupt_at[2];          /* a corrupted byte there: its packet is not read; UINT64_MAX none */
	bool disconnect[2];              /* a whole DISCONNECT went [0] out, [1] in */
};

/*
 * Told of each packet as it completes at an end (wire_watch): sent or
 * received, on the current connection or the one before (old), at stream
 * offset [offset, offset + len). corrupted: the link damaged a byte of it
 * (packet holds what arrived).
 */
typedef void wire_packet_fn(void *arg, bool old, bool sent, uint64_t offset,
                            const uint8_t *packet, size_t len, bool corrupted);

struct wire {
	enum wire_role role;
	wire_packet_fn *watch;           /* NULL: nobody is told */
	void *watch_arg;
	struct wire_framing conn[2];     /* [0] the connection, [1] the one before it, still draining */
	uint8_t own[65536], peer[65536]; /* enum wire_stage, by identifier */
	uint32_t own_count, peer_count;  /* identifiers not WIRE_FREE */
	uint32_t content[65536];         /* a hash of what each own identifier carries (or last did) */
	uint8_t carried[65536 / 8];      /* which own identifiers carried a PUBLISH before */
	bool adopted;                    /* a client's session was adopted: a first send may carry DUP */
	uint32_t session_conns;          /* connections of the session so far (a broker's end) */
	bool carried_any;                /* some bit of carried is set */
	bool partial_sent;               /* a PUBLISH went out in part: its next send may carry DUP */
	struct wire *client_end;         /* a broker's end: its client's (wire_pair), or NULL */
	bool clean_conn;                 /* a broker's end: the last CONNECT it took asked for a clean session */
	uint32_t clean_connects;         /* a broker's end: clean CONNECTs it took */
};

/* Pairs a broker's end with its client's: when the broker begins a new
 * session (CONNACK, Session Present 0), what it had started at the
 * client's end is forgotten there too, seen by the client or not (a
 * CONNACK cut off on its way leaves the client thinking its session
 * goes on; no broker will ever ask it to finish those). Both are
 * released separately; wire_take() unpairs. */
void wire_pair(struct wire *broker_end, struct wire *client_end);

/* The link corrupted the byte at stream offset `at` of what reaches this
 * end (sent: of what it sends) on the current connection: a flipped first
 * byte can make another valid packet (a CONNACK a PUBREC for identifier
 * 0, a PUBACK a PUBREC), which its receiver rejects or ignores; the wire
 * does not read that packet (and, when the framing breaks, nothing more
 * of that direction until the next connection). */
void wire_corrupted(struct wire *w, bool sent, uint64_t at);
/* How many exchanges the peer started are in flight at this end. */
uint32_t wire_peer_in_flight(const struct wire *w);
/* How many QoS 2 PUBLISHes this end sent still await their PUBREC. */
uint32_t wire_own_awaiting_pubrec(const struct wire *w);
/* Whether this end sent (sent) or received a whole, well-formed DISCONNECT
 * on the connection (old: the one retired): at a client's end, whether
 * it ended the connection gracefully; at a broker's, whether that
 * connection ended cleanly, the will discarded [MQTT-3.1.2-10]. */
bool wire_disconnect(const struct wire *w, bool old, bool sent);
/* Nothing in flight, for a zeroed wire (calloc) of the given role. */
void wire_init(struct wire *w, enum wire_role role);
/*
 * A wire for a new run: from a small per-thread pool of released ones
 * (cleared where they were used) or calloc; NULL when out of memory.
 * The simulator makes two a client a run, and each is large: taking
 * fresh zeroed memory from the kernel each time cost it a quarter of
 * its speed. wire_release() gives one back (NULL is fine).
 */
struct wire *wire_take(enum wire_role role);
void wire_release(struct wire *w);
/* fn (NULL: none) is told of each packet from now on, with arg. A wire
 * given back (wire_release) forgets it. */
void wire_watch(struct wire *w, wire_packet_fn *fn, void *arg);
/* A new connection: framing starts over; exchanges stay (a session lasts). */
void wire_connection(struct wire *w, bool after_adopt);
/* The connection is let go of, yet its last bytes still pass (old in
 * wire_bytes()) while a new one may begin. */
void wire_retire(struct wire *w);
/* The other end lost its session state (a memory-only client crashed):
 * what it started cannot be finished and is no longer owed. */
void wire_peer_lost(struct wire *w);
/* One exchange that will not be finished, by design (a storage fault
 * took its record): own, the one this end started, or the peer's. */
void wire_forget(struct wire *w, bool own, uint16_t id);
/* This end lost its session state: everything is forgotten. */
void wire_lost(struct wire *w);
/* Bytes this end sent (sent) or received on the connection (old: the
 * one retired), judged as packets complete; who names the client in the
 * violations found. */
void wire_bytes(struct wire *w, bool old, bool sent, const uint8_t *data, size_t len,
                const char *who, struct wire_report *r);
/*
 * How many exchanges are unfinished at this end, in either space; why
 * gets the first, explained ("the broker's QoS 2 PUBLISH id 7 to sub
 * awaits PUBREL from the broker"), when there is one.
 */
uint32_t wire_unfinished(const struct wire *w, const char *who, char *why, size_t cap);

#endif
