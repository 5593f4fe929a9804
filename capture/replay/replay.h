/*
 * replay.h - playing one side of captured MQTT sessions against a live
 * peer, and telling where the peer differs. Sans-I/O: the driver
 * (replay_main.c) owns the sockets and the clock; this core says what to
 * dial, send and close and when, and judges what the peer sends.
 *
 * Our side is the captured client (REPLAY_AS_CLIENT: the peer is a
 * broker) or the captured broker (REPLAY_AS_BROKER: the peer is a client
 * under test). Captured connections map to live ones in order: dialled
 * when the capture's connection starts, or accepted in turn.
 *
 * Causality, not just timing: a packet of ours is sent only once every
 * packet the capture shows the peer sending before it (on any connection)
 * has arrived, or is given up as missing after the timeout; and, unless
 * the speed is 0, no earlier than its captured time divided by the speed.
 *
 * Identifiers: an identifier the peer chooses (the broker's PUBLISH and
 * PUBREL to a client; a client's PUBLISH, PUBREL, SUBSCRIBE, UNSUBSCRIBE)
 * is mapped from the captured one when the peer's packet matches, and
 * our acknowledgements carry the peer's. Client identifiers: as a client,
 * an optional prefix makes them the replay's own; as a broker, the
 * client's CONNECT may carry any client identifier.
 *
 * A difference is a packet the capture has and the peer did not send
 * (missing), one the peer sent that the capture does not have (extra), or
 * a matched packet whose fields differ; connection ends count as packets.
 * PINGREQ and PINGRESP from the peer are not judged (as a broker, a
 * PINGREQ is answered).
 */
#ifndef SCENARIOS_REPLAY_H
#define SCENARIOS_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "captured.h"

enum replay_role { REPLAY_AS_CLIENT, REPLAY_AS_BROKER };

struct replay_config {
	enum replay_role role;
	double speed;              /* captured gaps divided by this; 0: as fast as possible */
	uint64_t timeout_us;       /* how late a packet of the peer may be */
	uint64_t first_wait_us;    /* as a broker: how long to wait for the first connection */
	const char *client_id_prefix; /* as a client: prepended to each CONNECT's client id */
};

enum replay_todo {
	REPLAY_WAIT,   /* for input, an accept, or until .until (UINT64_MAX: no deadline) */
	REPLAY_DIAL,   /* open .conn, then call replay_dialed() */
	REPLAY_SEND,   /* write .data/.len on .conn (valid until the next call) */
	REPLAY_FIN,    /* end writing on .conn (shutdown SHUT_WR), and go on reading it */
	REPLAY_CLOSE,  /* close .conn */
	REPLAY_DONE,   /* the end: every connection closed; replay_report() */
};

struct replay_action {
	enum replay_todo todo;
	unsigned conn;
	const uint8_t *data;
	size_t len;
	uint64_t until;
};

struct replay;

/* NULL when out of memory. The session must outlive the replay. */
struct replay *replay_new(const struct cap_session *s, const struct replay_config *c);
void replay_free(struct replay *r);

/* What to do next at time now (microseconds, any origin, never going back). */
void replay_next(struct replay *r, uint64_t now, struct replay_action *a);
/* The outcome of a REPLAY_DIAL; why (may be NULL) when it failed. */
void replay_dialed(struct replay *r, unsigned conn, bool ok, const char *why);
/* As a broker: a client connected. Its connection number, or -1 when the
 * capture has no more connections (close it: it is counted extra). */
int replay_accepted(struct replay *r, uint64_t now);
/* Bytes from the peer on conn. */
void replay_input(struct replay *r, unsigned conn, uint64_t now, const uint8_t *d, size_t n);
/* The peer closed conn (or it broke: why says how, may be NULL). */
void replay_peer_closed(struct replay *r, unsigned conn, uint64_t now, const char *why);

/* Writes each difference as one line (ordered by captured frame) and a
 * summary line; returns the number of differences. */
size_t replay_report(struct replay *r, FILE *out);
/* How far it is: captured events played (of the session's n), differences so far. */
void replay_progress(const struct replay *r, size_t *played, size_t *differences);
/* Connections that were made (0: the peer was never reached). */
unsigned replay_connections_made(const struct replay *r);

#endif
