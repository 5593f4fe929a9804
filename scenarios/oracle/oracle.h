/*
 * oracle.h - the guarantee oracle: what was published, what each client
 * read, and the verdict on the scenario's invariants.
 */
#ifndef SCENARIOS_ORACLE_H
#define SCENARIOS_ORACLE_H

#include "scenarios/lang/scenario.h"

/*
 * Where the oracle found a violation: the virtual time, whose delivery
 * (client; -1 none) and which workload message (its publish step and
 * sequence number; step -1 none). at_end: found when the run was judged
 * as a whole (a message never read), not at a moment of the run.
 */
struct scn_where {
	uint64_t at_ms;
	bool at_end;
	int client;
	int step;
	int64_t seq;
};

/* One run's verdict. */
struct scn_result {
	bool violated[SCN_INVARIANT_COUNT];
	char first[SCN_INVARIANT_COUNT][256]; /* the first violation of each, explained */
	bool passed;                 /* every expectation met */
	char why[512];               /* when not passed: which expectation, and the evidence */
	/* When not passed: the index in the scenario's expects of the one
	 * that failed; -1 when the run itself failed (a livelock, a setup). */
	int failed_expect;
	struct scn_where where[SCN_INVARIANT_COUNT]; /* of each first violation */
	uint64_t virtual_ms;
	uint32_t published, delivered, reconnects[SCN_MAX_CLIENTS];
	uint64_t events;             /* simulation steps, for the benchmark */
	/* expect state, by expectation: where the client ended, when not as expected. */
	bool state_wrong[SCN_MAX_EXPECTS];
	enum scn_final state_was[SCN_MAX_EXPECTS];
	long state_inflight[SCN_MAX_EXPECTS];
	bool target_broken;          /* a target under test broke its protocol: an error, not a verdict */
};

struct oracle;

struct oracle *oracle_new(const struct scenario *s);
/* The run's clock, read when a violation is found (NULL: none; times 0). */
void oracle_clock(struct oracle *o, const uint64_t *now_ms);
void oracle_free(struct oracle *o);

/* A subscription stands from now (its SUBACK); sent: when it was asked for;
 * late: made during the workload (retained messages come with it). */
void oracle_subscribed(struct oracle *o, int client, const char *filter, uint8_t qos, bool late,
                       uint64_t sent, uint64_t now);
/* The SUBACK's code for filter (0x80: refused): the QoS it stands at. */
void oracle_granted(struct oracle *o, int client, const char *filter, uint8_t code, uint64_t now);
/* A late SUBSCRIBE sent: what it brings is allowed, and owed once oracle_subscribed(). */
void oracle_subscribe_sent(struct oracle *o, int client, const char *filter, uint8_t qos,
                           uint64_t now);
/* A connection of client is dialled (first: its session's first, clean
 * when configured so): a CONNECT not clean may leave a session at the
 * broker even when its CONNACK is never seen, for a later connection to
 * find (its own CONNACK finds none the client did not know of). */
void oracle_connect_attempt(struct oracle *o, int client, bool first);
/* The broker took a clean CONNECT of client: the session it had is
 * discarded [MQTT-3.1.2-6], its subscriptions with it. On a connection the
 * client had let go of (its process died, or it dialled again), late, the
 * client finds no session when it next connects, rightly; and a SUBACK the
 * broker had sent for a request still awaiting it makes no subscription
 * when it arrives (oracle_subscribed() then changes nothing). */
void oracle_session_discarded(struct oracle *o, int client, uint64_t now);
/* A SUBSCRIBE packet for filter sent (after oracle_subscribed() or
 * oracle_subscribe_sent() made it known): each may bring a retained copy. */
void oracle_subscribe_request(struct oracle *o, int client, const char *filter);
/* An UNSUBSCRIBE sent: what is published from now on is not owed. */
void oracle_unsubscribe_sent(struct oracle *o, int client, const char *filter, uint64_t now);
/* It ended (UNSUBACK): what is published from now on is not owed, nor allowed. */
void oracle_unsubscribed(struct oracle *o, int client, const char *filter, uint64_t now);
/* A connection of client ended without DISCONNECT: its will is owed, to
 * whoever was subscribed at will_at, when the broker ended its side (at
 * or before now, when the client saw the end). */
void oracle_connection_lost(struct oracle *o, int client, uint64_t now, uint64_t will_at);
/* A client died while its connection may or may not have been taken by
 * the broker (a driver's CONNACK not reported yet): its will is allowed
 * once more, not owed. */
void oracle_connection_maybe_lost(struct oracle *o, int client, uint64_t now);
/* The broker ended its side of a connection of client that it had
 * accepted and that ended without DISCONNECT: it published the will by
 * now [MQTT-3.1.2-8], retained when so asked [MQTT-3.1.2-17]. Only a
 * runner that sees the broker's end (the simulator) tells it; otherwise
 * a will is taken as surely gone when its client is back. */
void oracle_will_sent(struct oracle *o, int client, uint64_t now);
/* Whether a connect of client now (first: its session's first) must find
 * its session at the broker: what a CONNACK not seen is taken to say. */
bool oracle_session_held(const struct oracle *o, int client, bool first);
/* A connection of client ended with the broker (crashed or stopped): the
 * client is away, and no will is owed (the broker that would send it is gone). */
void oracle_connection_cut(struct oracle *o, int client, uint64_t now);
/* A CONNACK accepted; first: the session's first connect (clean if configured). */
void oracle_connected(struct oracle *o, int client, bool first, bool session_present, uint64_t now);
/* A publish call; ok when it succeeded (QoS 1/2: owed delivery). Returns its message index. */
uint32_t oracle_published(struct oracle *o, int client, int step, uint32_t seq, const char *topic,
                          uint8_t qos, bool ok, uint64_t now);
/* The message index of a workload line's message seq. */
uint32_t oracle_published_index(const struct oracle *o, int step, uint32_t seq);
/* A publish call whose process died in it: not owed, but it may be read. */
void oracle_publish_unknown(struct oracle *o, int client, int step, uint32_t seq, uint8_t qos,
                            uint64_t now);
/* The publisher's exchange for message index completed (PUBACK, PUBCOMP). */
void oracle_completed(struct oracle *o, uint32_t index, uint64_t now);
/* Whether message index's exchange finished (oracle_completed). */
bool oracle_is_completed(const struct oracle *o, uint32_t index);
/* A storage fault hit message index's record: it may be lost; with
 * may_repeat (an older record came back), it may also come again, and late
 * (after messages published after it). */
void oracle_damaged(struct oracle *o, uint32_t index, bool may_repeat);
/* An inbound QoS 2 identifier of client's store was lost: one message may
 * be delivered to it once more. */
void oracle_allow_repeat(struct oracle *o, int client);
/* client's process was killed at now, from outside, while its
 * application waited in a read (a driver's client under --client-cmd):
 * the kill may have come between the library's saving of a QoS 2
 * identifier and the return of its message, a loss the library cannot
 * help. One QoS 2 message owed to it and published before now may go
 * unread, once per such kill. */
void oracle_read_interrupted(struct oracle *o, int client, uint64_t now);
/* A memory-only publisher crashed, or a publisher was closed for good
 * (DISCONNECT): its unfinished messages are no longer owed. */
void oracle_excuse_unfinished(struct oracle *o, int client);
/* A client's session at the broker was lost (clean), or the client was closed for
 * good (DISCONNECT): its deliveries are not judged for loss. */
void oracle_session_lost(struct oracle *o, int client);
/* A client was closed for good (DISCONNECT): a clean session ends with
 * its connection [MQTT-3.1.2-6], so what a later process of it resends
 * from its store, in a new session, may be taken for new and come again. */
void oracle_closed(struct oracle *o, int client, uint64_t now);
/* The application of client read a message. */
void oracle_delivered(struct oracle *o, int client, const uint8_t *topic, size_t topic_len,
                      const uint8_t *payload, size_t len, uint8_t qos, bool dup, bool retain,
                      uint64_t now);
/* client's reconnect policy (expect backoff), set as its process starts
 * (which dials at once): after a connection its CONNACK accepted ends,
 * it dials again within min_ms (a success starts the backoff again);
 * after any other end, within max_ms (the backoff's cap). */
void oracle_backoff_policy(struct oracle *o, int client, uint32_t min_ms, uint32_t max_ms);
/* A connection of client ended and its session goes on: it owes a dial;
 * accepted: the connection's CONNACK had accepted it. */
void oracle_redial_owed(struct oracle *o, int client, bool accepted, uint64_t now);
/* client dialled at now: a dial owed is judged against the policy. */
void oracle_dialled(struct oracle *o, int client, uint64_t now);
/* The run ends at now with client still to dial (its session goes on): a
 * dial owed longer than the policy allows is a violation. */
void oracle_undialled(struct oracle *o, int client, uint64_t now);
/* A rule broken on the wire (dup-flag, packet-ids), found by wire.c. */
void oracle_wire_violation(struct oracle *o, enum scn_invariant what, const char *why);
/* Whether every owed message reached every subscriber owed it. */
bool oracle_all_delivered(struct oracle *o);
/* The verdict: violations found, and whether the scenario's expectations hold. */
void oracle_judge(struct oracle *o, const struct scenario *s, bool finished, struct scn_result *r);

#endif
