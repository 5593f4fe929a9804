/*
 * oracle.c - judges a run from what was published and what was read
 * (see oracle.h and docs/scenarios.md). A message counts as delivered
 * when the application's read returns it; only publishes whose call
 * succeeded are owed; a memory-only publisher that crashes loses what
 * was unfinished by design, and a subscriber whose broker session was
 * lost is not owed what went by meanwhile.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "oracle.h"
#include "topics.h"

struct msg {
	bool published, ok, completed, excused;
	bool damaged, may_repeat; /* a storage fault hit its record: may be lost, or come again */
	bool any_order;  /* resent into a new session (its clean one ended): §4.6 order is per session */
	uint64_t published_at, completed_at;
	uint32_t published_ev;  /* the oracle's event count then: order within a millisecond */
	bool unknown;  /* the call's result was never learnt (its process died in it) */
	uint8_t qos;
	int client, step;
	uint32_t seq;
	uint8_t reads[SCN_MAX_CLIENTS];
	uint8_t reads_at[SCN_MAX_CLIENTS][3]; /* the copies read, by the QoS they came at */
	bool read_retained[SCN_MAX_CLIENTS];   /* a copy came with RETAIN set */
	uint64_t retained_read_at[SCN_MAX_CLIENTS]; /* the last such copy's time */
	uint8_t retained_at[SCN_MAX_CLIENTS][3]; /* of reads_at, those with RETAIN set */
	/* Of the QoS 2 copies, those a lost inbound record let through again
	 * (oracle_allow_repeat), without RETAIN [0] and with [1]: no longer
	 * held against the copies allowed. */
	uint8_t repeats_excused[SCN_MAX_CLIENTS][2];
};

struct sub {
	char filter[128];
	uint8_t qos;            /* asked for, then what the SUBACK granted */
	uint64_t since, until;  /* SUBACK (UINT64_MAX: awaited), UNSUBACK (UINT64_MAX: never) */
	uint32_t until_ev;      /* the oracle's event count at until: order within a millisecond */
	uint64_t until_sent;    /* UNSUBSCRIBE sent: what is published later is not owed */
	uint64_t sent;          /* when the SUBSCRIBE went: retained messages up to then are owed */
	bool late;              /* made during the workload: retained messages come with it */
	uint32_t requests;      /* SUBSCRIBE packets sent for it: each may bring retained copies */
	bool session_ended;     /* it ended with its session, not by UNSUBSCRIBE */
	uint32_t since_ev;      /* the oracle's event count at since: order within a millisecond */
	size_t filter_len;
	uint64_t step_match;    /* bit k: the filter matches step k's topic (worked out once) */
	bool replaced;          /* ended by a SUBSCRIBE of its filter (until: that SUBACK) */
	bool answer_void;       /* its session was discarded while its SUBACK was awaited */
};

struct oracle {
	struct msg *msgs;
	uint32_t nmsgs;
	uint32_t base[SCN_MAX_STEPS];   /* first message index of each publish step */
	const struct scenario *sc;
	struct sub subs[SCN_MAX_CLIENTS][24];
	int nsubs[SCN_MAX_CLIENTS];
	bool lossy[SCN_MAX_CLIENTS];
	uint32_t events;                /* times stamped so far (since_ev, published_ev) */
	int64_t last_first[SCN_MAX_CLIENTS][SCN_MAX_STEPS][3]; /* order: the last first copy read, by QoS */
	bool violated[SCN_INVARIANT_COUNT];
	char first[SCN_INVARIANT_COUNT][256];
	struct scn_where where[SCN_INVARIANT_COUNT];
	struct scn_where subject;       /* what is being judged: a violation found now is about it */
	const uint64_t *clock;
	bool judging;                   /* oracle_judge: the run as a whole */
	uint32_t delivered;
	/* Wills: each connection a client lost without DISCONNECT, and each
	 * will a subscriber read. */
	uint32_t unclean[SCN_MAX_CLIENTS];
	uint64_t unclean_at[SCN_MAX_CLIENTS][64];
	uint32_t maybe_unclean[SCN_MAX_CLIENTS]; /* ends the broker may have taken for unclean */
	uint32_t will_reads[SCN_MAX_CLIENTS][SCN_MAX_CLIENTS]; /* [reader][client] */
	uint32_t will_retained_reads[SCN_MAX_CLIENTS][SCN_MAX_CLIENTS]; /* of those, RETAIN set */
	/* The copies read at QoS 2, which come once each (at QoS 1 a copy
	 * may come again: found by mqttsim explore, seed 109987, a retained
	 * will resent after a lost PUBACK). */
	uint32_t will_reads2[SCN_MAX_CLIENTS][SCN_MAX_CLIENTS];
	uint32_t will_retained_reads2[SCN_MAX_CLIENTS][SCN_MAX_CLIENTS];
	bool connected_before[SCN_MAX_CLIENTS];
	/* A connection of the client ended uncleanly, and it has not been
	 * back since; will_surely_at: when the broker had surely published
	 * such a will: the broker's end of that connection, where the runner
	 * sees it (oracle_will_sent), else the first CONNACK after such an
	 * end (the end, or the takeover of the new connection, published it). */
	bool will_pending[SCN_MAX_CLIENTS];
	uint64_t will_surely_at[SCN_MAX_CLIENTS];
	/* The broker may hold the client's session: a CONNECT not clean went
	 * before the one now on its way, its CONNACK unseen; or a late discard
	 * came since the last dial. */
	bool maybe_held[SCN_MAX_CLIENTS];
	bool unclean_unacked[SCN_MAX_CLIENTS]; /* a CONNECT not clean went, its CONNACK unseen */
	bool discarded_late[SCN_MAX_CLIENTS]; /* a session discarded since the client last dialled */
	/* The broker must hold the client's session: its last connection was
	 * not clean. A clean one's session ends with it [MQTT-3.1.2-6]. */
	bool held[SCN_MAX_CLIENTS];
	bool clean_now[SCN_MAX_CLIENTS]; /* its connection is a clean session's */
	/* When each client was away: from a connection lost to the next
	 * CONNACK (UINT64_MAX: still away). */
	uint64_t away_from[SCN_MAX_CLIENTS][64], away_until[SCN_MAX_CLIENTS][64];
	int naway[SCN_MAX_CLIENTS];
	uint32_t repeats_allowed[SCN_MAX_CLIENTS]; /* inbound identifiers a storage fault lost */
	/* Kills in the middle of a read (oracle_read_interrupted), oldest
	 * first; each excuses one QoS 2 message published before it. */
	uint64_t read_killed_at[SCN_MAX_CLIENTS][16];
	int nread_kills[SCN_MAX_CLIENTS];
	struct redial {                 /* the reconnect policy (expect backoff) */
		uint32_t min_ms, max_ms;
		bool owed, accepted;        /* a dial owed; after an accepted connection */
		uint64_t ended_at;          /* when the connection that owes it ended */
	} redial[SCN_MAX_CLIENTS];
};

struct oracle *oracle_new(const struct scenario *s)
{
	struct oracle *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->sc = s;
	for (int i = 0; i < s->nsteps; i++) {
		o->base[i] = o->nmsgs;
		if (s->steps[i].kind == SCN_PUBLISH)
			o->nmsgs += s->steps[i].count;
	}
	o->msgs = calloc(o->nmsgs ? o->nmsgs : 1, sizeof *o->msgs);
	if (!o->msgs) {
		free(o);
		return NULL;
	}
	for (int c = 0; c < SCN_MAX_CLIENTS; c++) {
		for (int i = 0; i < SCN_MAX_STEPS; i++)
			for (int q = 0; q < 3; q++)
				o->last_first[c][i][q] = -1;
		o->will_surely_at[c] = UINT64_MAX;
	}
	o->subject = (struct scn_where){0, false, -1, -1, -1};
	return o;
}

void oracle_clock(struct oracle *o, const uint64_t *now_ms)
{
	o->clock = now_ms;
}

/* What the next violations are about (client -1, step -1: nothing in particular). */
static void subject(struct oracle *o, int client, int step, int64_t seq)
{
	o->subject.client = client;
	o->subject.step = step;
	o->subject.seq = seq;
}

void oracle_free(struct oracle *o)
{
	if (!o)
		return;
	free(o->msgs);
	free(o);
}

__attribute__((format(printf, 3, 4)))
static void violation(struct oracle *o, enum scn_invariant what, const char *fmt, ...)
{
	if (o->violated[what])
		return;
	o->violated[what] = true;
	o->where[what] = o->subject;
	o->where[what].at_ms = o->clock ? *o->clock : 0;
	o->where[what].at_end = o->judging;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->first[what], sizeof o->first[what], fmt, ap);
	va_end(ap);
}

void oracle_wire_violation(struct oracle *o, enum scn_invariant what, const char *why)
{
	violation(o, what, "%s", why);
}

/* Whether s's filter matches topic, which is step's (step >= 0) or any (step -1). */
static bool sub_matches(const struct sub *s, int step, const char *topic)
{
	if (step >= 0)
		return s->step_match >> step & 1;
	return oracle_topic_match(s->filter, s->filter_len, topic, strlen(topic));
}

/*
 * A subscription to the filter of one that stands replaces it at its
 * SUBACK [MQTT-3.8.4-3]: the old one's QoS allows only what was published
 * before, and what it owed is owed no more once the new one gives less
 * (the broker may send what it holds at the new QoS). Without this, a
 * broker that kept both (and sent at the higher QoS) went uncaught.
 */
/* The subscriptions s replaced that gave more than s does: owe no more. */
static void owe_no_more_than(struct oracle *o, int client, const struct sub *s)
{
	for (int i = 0; i < o->nsubs[client]; i++) {
		struct sub *old = &o->subs[client][i];
		if (old != s && old->replaced && old->until == s->since && old->qos > s->qos &&
		    !strcmp(old->filter, s->filter) && old->until_sent > s->sent)
			old->until_sent = s->sent;
	}
}

static void replace_older(struct oracle *o, int client, const struct sub *s)
{
	for (int i = 0; i < o->nsubs[client]; i++) {
		struct sub *old = &o->subs[client][i];
		if (old == s || strcmp(old->filter, s->filter) != 0 || old->since == UINT64_MAX ||
		    old->until != UINT64_MAX)
			continue;
		old->until = s->since;
		old->until_ev = s->since_ev;
		old->replaced = true;
	}
	owe_no_more_than(o, client, s);
}

/* Whether s is a request still awaiting its SUBACK (not ended before it). */
static bool awaits_suback(const struct sub *s)
{
	return s->since == UINT64_MAX && s->until == UINT64_MAX;
}

void oracle_subscribed(struct oracle *o, int client, const char *filter, uint8_t qos, bool late,
                       uint64_t sent, uint64_t now)
{
	for (int i = 0; i < o->nsubs[client]; i++) {
		struct sub *s = &o->subs[client][i];
		if (strcmp(s->filter, filter) != 0)
			continue;
		/* Only one still open: a request that ended before its SUBACK
		 * (its clean session did) is not the one answered now (found by
		 * mqttsim explore, seed 9103: the answer reopened the ended one
		 * as [SUBACK, end) and the new one never stood). */
		if (awaits_suback(s)) {
			s->since = now; /* the one asked for: it stands now (or is asked again) */
			s->since_ev = ++o->events;
			if (now != UINT64_MAX)
				replace_older(o, client, s);
			return;
		}
		if (!late && s->until == UINT64_MAX)
			return; /* it stands already: asked again, or its SUBACK again */
	}
	/* No request awaits it: the SUBACK answers one whose session the
	 * broker discarded after taking it (a late clean CONNECT of an older
	 * connection, which also closed this one). Nothing stands [MQTT-3.1.2-6]
	 * (found by mqttsim explore, seed 2440946: the answer made a
	 * subscription the broker no longer had, and its messages owed). */
	for (int i = 0; now != UINT64_MAX && i < o->nsubs[client]; i++) {
		struct sub *s = &o->subs[client][i];
		if (s->answer_void && !strcmp(s->filter, filter)) {
			s->answer_void = false;
			return;
		}
	}
	if (o->nsubs[client] == 24)
		return;
	struct sub *s = &o->subs[client][o->nsubs[client]++];
	snprintf(s->filter, sizeof s->filter, "%s", filter);
	s->filter_len = strlen(s->filter);
	/* Every copy read is judged against every subscription: matching the
	 * topic each time was a tenth of a simulated run. */
	s->step_match = 0;
	for (int k = 0; k < o->sc->nsteps; k++)
		if (sub_matches(s, -1, o->sc->steps[k].topic))
			s->step_match |= UINT64_C(1) << k;
	s->qos = qos;
	s->since = now;
	s->since_ev = ++o->events;
	s->sent = sent;
	s->until = s->until_sent = UINT64_MAX;
	s->until_ev = 0;
	s->late = late;
	s->session_ended = false;
	s->replaced = false;
	s->answer_void = false;
}

void oracle_granted(struct oracle *o, int client, const char *filter, uint8_t code, uint64_t now)
{
	for (int i = o->nsubs[client] - 1; i >= 0; i--) {
		struct sub *s = &o->subs[client][i];
		if (strcmp(s->filter, filter) != 0)
			continue;
		if (code & 0x80) {
			s->until = s->until_sent = now; /* refused: it never stood */
			s->until_ev = ++o->events;
			if (s->since > now) {
				s->since = now;
				s->since_ev = ++o->events;
			}
		} else if (code < s->qos) {
			s->qos = code; /* granted less than asked [MQTT-3.8.4-6] */
			owe_no_more_than(o, client, s); /* less than the one it replaced */
		}
		return;
	}
}

void oracle_subscribe_sent(struct oracle *o, int client, const char *filter, uint8_t qos,
                           uint64_t now)
{
	/* Messages may come before the SUBACK is seen: allowed, not yet owed. */
	oracle_subscribed(o, client, filter, qos, true, now, UINT64_MAX);
}

void oracle_subscribe_request(struct oracle *o, int client, const char *filter)
{
	for (int i = o->nsubs[client] - 1; i >= 0; i--)
		if (!strcmp(o->subs[client][i].filter, filter)) {
			o->subs[client][i].requests++;
			return;
		}
}

/* How many retained copies client's SUBSCRIBE packets may have brought
 * of a message on topic: one per request of a matching filter, for a
 * SUBSCRIBE that replaces a subscription sends the retained messages
 * again [MQTT-3.8.4-3]. */
static uint32_t retained_allowance(const struct oracle *o, int client, const char *topic)
{
	uint32_t n = 0;
	for (int i = 0; i < o->nsubs[client]; i++) {
		const struct sub *s = &o->subs[client][i];
		/* A driver that does not count its requests made one at least. */
		if (oracle_topic_match(s->filter, strlen(s->filter), topic, strlen(topic)))
			n += s->requests ? s->requests : 1;
	}
	return n;
}

void oracle_unsubscribe_sent(struct oracle *o, int client, const char *filter, uint64_t now)
{
	for (int i = 0; i < o->nsubs[client]; i++)
		if (!strcmp(o->subs[client][i].filter, filter) && o->subs[client][i].until_sent == UINT64_MAX)
			o->subs[client][i].until_sent = now;
}

void oracle_unsubscribed(struct oracle *o, int client, const char *filter, uint64_t now)
{
	for (int i = 0; i < o->nsubs[client]; i++) {
		struct sub *s = &o->subs[client][i];
		if (!strcmp(s->filter, filter) && s->until == UINT64_MAX) {
			s->until = now;
			s->until_ev = ++o->events;
			if (s->until_sent > now)
				s->until_sent = now;
		}
	}
}

/*
 * A clean session ends with its connection [MQTT-3.1.2-6]: the broker
 * forgets which of the client's QoS 2 messages it has, so the ones the
 * client resends on its next connection (a new session) may be taken
 * for new ones and delivered again; and what it resends there comes
 * after what the old session had delivered, out of publish order (the
 * order of §4.6 is a session's).
 */
static void clean_session_ended(struct oracle *o, int client, uint64_t now)
{
	if (!o->clean_now[client])
		return;
	o->clean_now[client] = false;
	/* Its subscriptions end with it [MQTT-3.1.2-6]: what is published
	 * from now on is owed only to subscriptions made again (the client
	 * does so when a CONNACK tells it no session is present; one that
	 * never saw that CONNACK may find a session without any). */
	for (int k = 0; k < o->nsubs[client]; k++) {
		struct sub *s = &o->subs[client][k];
		if (s->until > now) {
			s->until = now;
			s->until_ev = ++o->events;
			s->session_ended = true;
		}
		if (s->until_sent > now)
			s->until_sent = now;
		if (s->since > now) {
			s->since = now;
			s->since_ev = ++o->events;
		}
	}
	for (uint32_t i = 0; i < o->nmsgs; i++) {
		struct msg *m = &o->msgs[i];
		if (m->client == client && m->published && m->ok && !m->completed && m->qos) {
			m->any_order = true;
			m->may_repeat = m->may_repeat || m->qos == 2;
		}
	}
}

void oracle_connection_lost(struct oracle *o, int client, uint64_t now, uint64_t will_at)
{
	clean_session_ended(o, client, now);
	int n = o->naway[client];
	if (n < 64 && (!n || o->away_until[client][n - 1] != UINT64_MAX)) {
		o->away_from[client][n] = now;
		o->away_until[client][n] = UINT64_MAX;
		o->naway[client]++;
	}
	if (o->unclean[client] < 64)
		o->unclean_at[client][o->unclean[client]] = will_at < now ? will_at : now;
	o->unclean[client]++;
	o->will_pending[client] = true;
}

void oracle_will_sent(struct oracle *o, int client, uint64_t now)
{
	if (now < o->will_surely_at[client])
		o->will_surely_at[client] = now;
}

void oracle_connection_maybe_lost(struct oracle *o, int client, uint64_t now)
{
	(void)now;
	o->maybe_unclean[client]++;
}

void oracle_connection_cut(struct oracle *o, int client, uint64_t now)
{
	clean_session_ended(o, client, now);
	int n = o->naway[client];
	if (n < 64 && (!n || o->away_until[client][n - 1] != UINT64_MAX)) {
		o->away_from[client][n] = now;
		o->away_until[client][n] = UINT64_MAX;
		o->naway[client]++;
	}
}

/* Whether client was away (no connection) at some time in [from, to]. */
static bool away_between(const struct oracle *o, int client, uint64_t from, uint64_t to)
{
	for (int k = 0; k < o->naway[client]; k++)
		if (o->away_from[client][k] <= to && from < o->away_until[client][k])
			return true;
	return false;
}

/* Whether client was away (no connection) at time at. */
static bool away_at(const struct oracle *o, int client, uint64_t at)
{
	for (int k = 0; k < o->naway[client]; k++)
		if (o->away_from[client][k] <= at && at < o->away_until[client][k])
			return true;
	return false;
}

void oracle_connected(struct oracle *o, int client, bool first, bool session_present, uint64_t now)
{
	int n = o->naway[client];
	if (n && o->away_until[client][n - 1] == UINT64_MAX)
		o->away_until[client][n - 1] = now;
	const struct scn_client *c = &o->sc->clients[client];
	subject(o, client, -1, -1);
	/* A clean connect (the session's first, when configured clean) starts
	 * without a session [MQTT-3.2.2-1]. Reconnects are never clean: they
	 * find the session a connection that was not clean left
	 * [MQTT-3.2.2-2], and none after a clean connection, whose session
	 * ended with it [MQTT-3.1.2-6]. */
	bool clean = first && c->clean;
	if (clean && session_present)
		violation(o, SCN_SESSION, "%s connected with clean session and the broker said a "
		          "session was present [MQTT-3.2.2-1]", c->name);
	else if (!clean && o->held[client] && !session_present)
		violation(o, SCN_SESSION, "%s reconnected to its session and the broker had lost it "
		          "[MQTT-3.2.2-2]", c->name);
	/* A session discarded while this CONNACK was on its way may have been
	 * the one it found (found by mqttsim explore, seed 7414251: the
	 * broker said a session was present, then a stalled clean CONNECT of
	 * an older connection came and discarded it, then the CONNACK came). */
	else if (!clean && o->connected_before[client] && !o->held[client] && !o->maybe_held[client] &&
	         !o->discarded_late[client] && session_present)
		violation(o, SCN_SESSION, "%s reconnected after a clean session and the broker said a "
		          "session was present: a clean session's state must not be reused "
		          "[MQTT-3.1.2-6]", c->name);
	/* A session discarded since this connection was dialled (a late clean
	 * CONNECT of an older one) may have gone after this CONNACK left: held
	 * or not, the next CONNACK may say either (found by mqttsim explore,
	 * seed 318645). */
	o->held[client] = !clean && !o->discarded_late[client];
	o->clean_now[client] = clean;
	/* A SUBACK answers a request on the request's connection or never:
	 * one on this connection is no answer to a request a discard voided
	 * (found by the --real runner: a restarted process's SUBACK was taken
	 * for an old request's, and its subscription never stood). */
	for (int i = 0; i < o->nsubs[client]; i++)
		o->subs[client][i].answer_void = false;
	o->connected_before[client] = true;
	if (o->will_pending[client] && now < o->will_surely_at[client])
		o->will_surely_at[client] = now;
	o->will_pending[client] = false;
	o->maybe_held[client] = !clean && o->discarded_late[client];
	/* Answered; a clean one, though, may still be followed by a CONNECT
	 * not clean that an older process sent and the link held. */
	if (!clean)
		o->unclean_unacked[client] = false;
	subject(o, -1, -1, -1);
}

void oracle_connect_attempt(struct oracle *o, int client, bool first)
{
	/* A CONNECT that is not clean makes the broker keep a session
	 * [MQTT-3.1.2-4], whether or not its CONNACK ever arrives: the next
	 * connection may find it, though the client never knew it was made
	 * (found by mqttsim explore: a CONNACK lost after a clean session).
	 * Its own CONNACK may not: before it, there was none to find. */
	if (o->unclean_unacked[client])
		o->maybe_held[client] = true;
	if (!(first && o->sc->clients[client].clean))
		o->unclean_unacked[client] = true;
	o->discarded_late[client] = false;
}

void oracle_backoff_policy(struct oracle *o, int client, uint32_t min_ms, uint32_t max_ms)
{
	o->redial[client] = (struct redial){.min_ms = min_ms, .max_ms = max_ms};
}

void oracle_redial_owed(struct oracle *o, int client, bool accepted, uint64_t now)
{
	struct redial *d = &o->redial[client];
	d->owed = true;
	d->accepted = accepted;
	d->ended_at = now;
}

/* A dial owed since d->ended_at, made (or still not made) at now. */
static void judge_redial(struct oracle *o, int client, uint64_t now, const char *what)
{
	struct redial *d = &o->redial[client];
	/* The jitter only shortens a wait: the bound is the backoff itself,
	 * which a success sets back to the shortest wait and which never
	 * grows past the longest. */
	uint32_t bound = d->accepted ? d->min_ms : d->max_ms;
	if (!d->owed || now - d->ended_at <= bound)
		return;
	subject(o, client, -1, -1); /* the chart marks it on the client's lane */
	violation(o, SCN_BACKOFF, "%s %s %llu ms after its connection ended at t=%llums: a wait "
	          "of %u ms at most after %s", o->sc->clients[client].name, what,
	          (unsigned long long)(now - d->ended_at), (unsigned long long)d->ended_at, bound,
	          d->accepted ? "an accepted connection (the backoff starts again)"
	                      : "a failed one (the backoff's cap)");
	subject(o, -1, -1, -1);
}

void oracle_dialled(struct oracle *o, int client, uint64_t now)
{
	judge_redial(o, client, now, "dialled again");
	o->redial[client].owed = false;
}

void oracle_undialled(struct oracle *o, int client, uint64_t now)
{
	judge_redial(o, client, now, "had not dialled again");
}

void oracle_session_discarded(struct oracle *o, int client, uint64_t now)
{
	/* A SUBACK still to come for a request it had taken answers nothing
	 * that stands (oracle_subscribed). */
	for (int i = 0; i < o->nsubs[client]; i++)
		if (awaits_suback(&o->subs[client][i]))
			o->subs[client][i].answer_void = true;
	o->held[client] = false;
	o->maybe_held[client] = false;
	o->discarded_late[client] = true;
	/* The session it begins ends with that connection, which nobody
	 * reads: what it took of the old one ends now. */
	o->clean_now[client] = true;
	clean_session_ended(o, client, now);
}

bool oracle_session_held(const struct oracle *o, int client, bool first)
{
	return !(first && o->sc->clients[client].clean) && o->held[client];
}

/* Whether s had ended when a message was published at time at, as the
 * oracle's event at_ev: in the millisecond it ended, only what came after
 * (found by mqttsim explore, seed 2451774: a message published just before
 * an UNSUBSCRIBE went, in the millisecond of its UNSUBACK, came through
 * the subscription, rightly). */
static bool ended_by(const struct sub *s, uint64_t at, uint32_t at_ev)
{
	return s->until < at || (s->until == at && s->until_ev < at_ev);
}

/*
 * The QoS at which client may get a message on topic at qos published at
 * time at (-1: none): from the subscriptions that match it and had not
 * ended when it was published; owed_only: only those made before it.
 */
static int effective_qos(const struct oracle *o, int client, int step, const char *topic,
                         uint8_t qos, uint64_t at, uint32_t at_ev, bool owed_only)
{
	int best = -1;
	for (int i = 0; i < o->nsubs[client]; i++) {
		const struct sub *s = &o->subs[client][i];
		/* Once an UNSUBSCRIBE is sent, the broker may drop what it had
		 * buffered for the subscription and not yet begun to send
		 * [MQTT-3.10.4-3]: nothing of it is owed any more. */
		/* Owed from its SUBACK on: in the same millisecond, only what came
		 * after it (found by mqttsim explore, seed 162917: a message
		 * published just before the SUBSCRIBE went, in the millisecond of
		 * its SUBACK). */
		if (owed_only ? s->until_sent != UINT64_MAX || at == UINT64_MAX || s->since > at ||
		                        (s->since == at && s->since_ev > at_ev)
		              : ended_by(s, at, at_ev))
			continue;
		if (sub_matches(s, step, topic)) {
			int q = s->qos < qos ? s->qos : qos;
			if (q > best)
				best = q;
		}
	}
	return best;
}

/*
 * How many of client's subscriptions standing when a message on topic
 * at qos was published give each QoS (the lower of the two): each may
 * bring a copy at its own QoS; the highest is owed [MQTT-3.3.5-1].
 */
static void qos_counts(const struct oracle *o, int client, int step, const char *topic,
                       uint8_t qos, uint64_t at, uint32_t at_ev, unsigned counts[3])
{
	counts[0] = counts[1] = counts[2] = 0;
	for (int i = 0; i < o->nsubs[client]; i++) {
		const struct sub *s = &o->subs[client][i];
		if (ended_by(s, at, at_ev))
			continue;
		if (sub_matches(s, step, topic))
			counts[s->qos < qos ? s->qos : qos]++;
	}
}

uint32_t oracle_published(struct oracle *o, int client, int step, uint32_t seq, const char *topic,
                          uint8_t qos, bool ok, uint64_t now)
{
	(void)topic;
	uint32_t index = o->base[step] + seq;
	struct msg *m = &o->msgs[index];
	if (!m->published) {
		m->published_at = now;
		m->published_ev = ++o->events;
	}
	m->published = true;
	m->ok = ok;
	m->qos = qos;
	m->client = client;
	m->step = step;
	m->seq = seq;
	m->unknown = false;
	m->completed = m->completed || qos == 0; /* real runs may learn of the ack first */
	return index;
}

uint32_t oracle_published_index(const struct oracle *o, int step, uint32_t seq)
{
	return o->base[step] + seq;
}

void oracle_publish_unknown(struct oracle *o, int client, int step, uint32_t seq, uint8_t qos,
                            uint64_t now)
{
	uint32_t index = oracle_published(o, client, step, seq, NULL, qos, false, now);
	o->msgs[index].unknown = true;
}

void oracle_completed(struct oracle *o, uint32_t index, uint64_t now)
{
	if (index < o->nmsgs && !o->msgs[index].completed) {
		o->msgs[index].completed = true;
		o->msgs[index].completed_at = now;
	}
}

bool oracle_is_completed(const struct oracle *o, uint32_t index)
{
	return index < o->nmsgs && o->msgs[index].completed;
}

void oracle_damaged(struct oracle *o, uint32_t index, bool may_repeat)
{
	if (index >= o->nmsgs)
		return;
	o->msgs[index].damaged = true;
	o->msgs[index].may_repeat = o->msgs[index].may_repeat || may_repeat;
	/* Brought back, it is sent again as a new message after later ones:
	 * a reader that lost its first copy (QoS 0) reads it late (found by
	 * mqttsim explore, seed 144629 of generator 10). */
	o->msgs[index].any_order = o->msgs[index].any_order || may_repeat;
}

void oracle_allow_repeat(struct oracle *o, int client)
{
	o->repeats_allowed[client]++;
}

void oracle_read_interrupted(struct oracle *o, int client, uint64_t now)
{
	if (o->nread_kills[client] < 16)
		o->read_killed_at[client][o->nread_kills[client]++] = now;
}

/* Whether a kill in a read excuses message m, never read by client c at
 * QoS 2: the first one not used (used[]) after its publication, used up. */
static bool read_kill_excuses(const struct oracle *o, const struct msg *m, int c, bool *used)
{
	for (int k = 0; k < o->nread_kills[c]; k++)
		if (!used[k] && m->published_at <= o->read_killed_at[c][k]) {
			used[k] = true;
			return true;
		}
	return false;
}

void oracle_excuse_unfinished(struct oracle *o, int client)
{
	for (uint32_t i = 0; i < o->nmsgs; i++)
		if (o->msgs[i].published && o->msgs[i].client == client && !o->msgs[i].completed)
			o->msgs[i].excused = true;
}

void oracle_session_lost(struct oracle *o, int client)
{
	o->lossy[client] = true;
}

void oracle_closed(struct oracle *o, int client, uint64_t now)
{
	clean_session_ended(o, client, now);
}

/* "client:step:seq:" (decimal), as the simulator writes it; false when damaged. */
static bool parse_identity(const char *s, int *client, int *step, unsigned *seq)
{
	unsigned v[3];
	for (int k = 0; k < 3; k++) {
		if (*s < '0' || *s > '9')
			return false;
		uint64_t x = 0;
		while (*s >= '0' && *s <= '9') {
			x = x * 10 + (uint64_t)(*s++ - '0');
			if (x > UINT32_MAX)
				return false;
		}
		if (*s++ != ':')
			return false;
		v[k] = (unsigned)x;
	}
	*client = (int)v[0];
	*step = (int)v[1];
	*seq = v[2];
	return v[0] < SCN_MAX_CLIENTS && v[1] < SCN_MAX_STEPS;
}

/* Whether client made a subscription matching topic after time at. */
static bool newer_subscription(const struct oracle *o, int client, const char *topic, uint64_t at)
{
	for (int i = 0; i < o->nsubs[client]; i++) {
		const struct sub *s = &o->subs[client][i];
		if (s->since >= at && oracle_topic_match(s->filter, strlen(s->filter), topic, strlen(topic)))
			return true;
	}
	return false;
}

/* Whether the workload clears the retained message of this topic. */
static bool clear_on(const struct oracle *o, const uint8_t *topic, size_t topic_len)
{
	for (int i = 0; i < o->sc->nsteps; i++) {
		const struct scn_step *st = &o->sc->steps[i];
		if (st->kind == SCN_PUBLISH && st->clear && strlen(st->topic) == topic_len &&
		    !memcmp(st->topic, topic, topic_len))
			return true;
	}
	return false;
}

/* A will ("w:CLIENT:" on the client's will topic); false when it is none. */
static bool will_read(struct oracle *o, int reader, const uint8_t *topic, size_t topic_len,
                      const char *id, uint8_t qos, bool retain)
{
	if (strncmp(id, "w:", 2) != 0)
		return false;
	const struct scenario *sc = o->sc;
	char *end;
	long who = strtol(id + 2, &end, 10);
	if (end == id + 2 || *end != ':' || who < 0 || who >= sc->nclients ||
	    !*sc->clients[who].will_topic || strlen(sc->clients[who].will_topic) != topic_len ||
	    memcmp(sc->clients[who].will_topic, topic, topic_len) != 0)
		return false;
	o->will_reads[reader][who]++;
	if (retain)
		o->will_retained_reads[reader][who]++;
	if (qos == 2) {
		o->will_reads2[reader][who]++;
		if (retain)
			o->will_retained_reads2[reader][who]++;
	}
	return true;
}

static void delivered(struct oracle *o, int client, const uint8_t *topic, size_t topic_len,
                      const uint8_t *payload, size_t len, uint8_t qos, bool dup, bool retain,
                      uint64_t now)
{
	(void)dup;
	o->delivered++;
	subject(o, client, -1, -1);
	char id[32] = "";
	memcpy(id, payload, len < sizeof id - 1 ? len : sizeof id - 1);
	int pub, step;
	unsigned seq;
	const struct scenario *sc = o->sc;
	if (will_read(o, client, topic, topic_len, id, qos, retain))
		return;
	if (len == 0 && clear_on(o, topic, topic_len)) {
		/* A clear goes to the standing subscriptions like any message;
		 * it is never stored, so never sent as retained [MQTT-3.3.1-11]. */
		if (retain)
			violation(o, SCN_RETAINED, "%s read a zero-length message on %.*s with RETAIN set: "
			          "a clear is never stored as retained [MQTT-3.3.1-11]",
			          sc->clients[client].name, (int)topic_len, (const char *)topic);
		return;
	}
	if (!parse_identity(id, &pub, &step, &seq) || step < 0 || step >= sc->nsteps ||
	    sc->steps[step].kind != SCN_PUBLISH || seq >= sc->steps[step].count ||
	    !o->msgs[o->base[step] + seq].published || sc->steps[step].client != pub ||
	    strlen(sc->steps[step].topic) != topic_len ||
	    memcmp(sc->steps[step].topic, topic, topic_len) != 0) {
		violation(o, SCN_NO_PHANTOM, "%s read a message that was never published: topic %.*s, "
		          "payload %.24s", sc->clients[client].name, (int)topic_len, (const char *)topic, id);
		return;
	}
	struct msg *m = &o->msgs[o->base[step] + seq];
	const char *topic_s = sc->steps[step].topic;
	subject(o, client, step, seq);
	if (!m->ok && !m->unknown) {
		/* A refused call must have sent nothing: its caller was told so. */
		violation(o, SCN_NO_PHANTOM, "%s read %s #%u, whose publish call was refused",
		          sc->clients[client].name, topic_s, seq);
		return;
	}
	int eff = effective_qos(o, client, step, topic_s, m->qos, m->published_at, m->published_ev,
	                        false);
	if (eff < 0 || qos > eff) {
		violation(o, SCN_NO_PHANTOM, "%s read %s #%u at QoS %u, %s", sc->clients[client].name,
		          topic_s, seq, qos, eff < 0 ? "published while it had no subscription for it"
		                                    : "above what it subscribed to");
		if (eff >= 0)
			violation(o, SCN_DELIVERY_QOS, "%s read %s #%u (published at QoS %u) at QoS %u, above "
			          "what its subscriptions were granted (QoS %d) [MQTT-3.8.4-6]",
			          sc->clients[client].name, topic_s, seq, m->qos, qos, eff);
		return;
	}
	unsigned counts[3];
	qos_counts(o, client, step, topic_s, m->qos, m->published_at, m->published_ev, counts);
	if (qos > 2 || !counts[qos]) {
		violation(o, SCN_DELIVERY_QOS, "%s read %s #%u (published at QoS %u) at QoS %u, which "
		          "none of its matching subscriptions gives: the lower of the published QoS and "
		          "the granted one, %d at most [MQTT-3.3.5-1]", sc->clients[client].name, topic_s,
		          seq, m->qos, qos, eff);
		return;
	}
	if (retain) {
		m->read_retained[client] = true;
		m->retained_read_at[client] = now;
	}
	if (retain) {
		/* RETAIN marks a retained message sent for a new subscription,
		 * never one forwarded to a standing one [MQTT-3.3.1-8, -9]. */
		if (!sc->steps[step].retain)
			violation(o, SCN_RETAINED, "%s read %s #%u with RETAIN set; it was published "
			          "without, so only a standing subscription can get it, with RETAIN 0 "
			          "[MQTT-3.3.1-9]", sc->clients[client].name, topic_s, seq);
		else if (effective_qos(o, client, step, topic_s, m->qos, m->published_at,
		                       m->published_ev, true) >= 0 &&
		         !newer_subscription(o, client, topic_s, m->published_at))
			violation(o, SCN_RETAINED, "%s read %s #%u with RETAIN set on a subscription that "
			          "stood when it was published [MQTT-3.3.1-9]", sc->clients[client].name,
			          topic_s, seq);
	}
	if (m->reads[client] < 255)
		m->reads[client]++;
	if (m->reads_at[client][qos] < 255)
		m->reads_at[client][qos]++;
	if (retain && m->retained_at[client][qos] < 255)
		m->retained_at[client][qos]++;
	if (m->reads[client] == 1) {
		/* §4.6: first copies arrive in publish order, per publisher, topic and QoS
		 * [MQTT-4.6.0-5]: the QoS they come at (a QoS 0 copy for one
		 * subscription may pass a QoS 1 copy still queued for another;
		 * found by mqttsim explore, seed 9539);
		 * a retained copy, sent for a new subscription, is outside that
		 * stream: a resent older message may follow it (found by mqttsim
		 * explore, as the next). */
		/* Nor is a message published before its subscription stood, that
		 * comes only because its publisher sent it again (QoS 1). */
		/* Nor one read at QoS 0 by a reader that was away since it was
		 * published: its first copy may have died with the connection,
		 * and the one read is its publisher's resend (QoS 1), which the
		 * broker forwards as it comes (found by mqttsim explore, seed
		 * 58446). */
		/* (At the QoS it came at: a copy at QoS 1 of a message published
		 * when only a QoS 0 subscription stood came through a newer one,
		 * for its publisher's resend; found by mqttsim explore, seed
		 * 105700.) */
		if (retain ||
		    effective_qos(o, client, step, topic_s, m->qos, m->published_at, m->published_ev,
		                  true) < (int)qos ||
		    (qos == 0 && m->qos == 1 && away_between(o, client, m->published_at, now)))
			;
		else if ((int64_t)seq >= o->last_first[client][step][qos])
			o->last_first[client][step][qos] = seq;
		else if (!m->any_order)
			violation(o, SCN_ORDER, "%s read %s #%u after #%lld at QoS %u (first copies out of "
			          "order)", sc->clients[client].name, topic_s, seq,
			          (long long)o->last_first[client][step][qos], qos);
	}
	/* Copies at QoS 0 and 2: one for each subscription giving that QoS,
	 * no more (QoS 1 may come again; and so may a QoS 1 message read at
	 * QoS 0: its publisher may have sent it twice, and the broker forwards
	 * each PUBLISH it receives). */
	/* A copy with RETAIN set came for a subscription request: one per
	 * request (a resent one too); the copies without are held to the
	 * subscriptions that stood when it was published. */
	/* A copy a lost inbound record let through is one allowed more, not
	 * one that uses up a request's or a subscription's (found by mqttsim
	 * explore, seed 494935 of generator 10: a retained copy let through
	 * again, then the retained copy of a new request, judged one too many). */
	int copies = retain ? m->retained_at[client][qos]
	                    : m->reads_at[client][qos] - m->retained_at[client][qos];
	if (qos == 2)
		copies -= m->repeats_excused[client][retain];
	bool over = copies > (retain ? (int)retained_allowance(o, client, topic_s) : (int)counts[qos]);
	bool repeat = over && qos == 2 && !o->lossy[client] && !m->may_repeat &&
	              o->repeats_allowed[client] && m->repeats_excused[client][retain] < 255;
	if (repeat) {
		o->repeats_allowed[client]--;
		m->repeats_excused[client][retain]++;
	}
	if ((qos == 2 || (qos == 0 && m->qos != 1)) && over && !o->lossy[client] && !m->may_repeat &&
	    !repeat) {
		violation(o, qos == 2 ? SCN_EXACTLY_ONCE : SCN_AT_MOST_ONCE,
		          "%s read %s #%u (QoS %u) %u times", sc->clients[client].name, topic_s, seq, qos,
		          m->reads_at[client][qos]);
		if (qos == 2)
			violation(o, SCN_AT_MOST_ONCE, "%s read %s #%u (QoS 2) %u times",
			          sc->clients[client].name, topic_s, seq, m->reads_at[client][qos]);
	}
}

void oracle_delivered(struct oracle *o, int client, const uint8_t *topic, size_t topic_len,
                      const uint8_t *payload, size_t len, uint8_t qos, bool dup, bool retain,
                      uint64_t now)
{
	delivered(o, client, topic, topic_len, payload, len, qos, dup, retain, now);
	subject(o, -1, -1, -1);
}

/* Whether message m is owed to client, and at which QoS (-1: not owed). */
static int owed(const struct oracle *o, const struct msg *m, int client)
{
	if (!m->published || !m->ok || m->excused || m->damaged || o->lossy[client] ||
	    o->sc->steps[m->step].clear)
		return -1;
	int eff = effective_qos(o, client, m->step, o->sc->steps[m->step].topic, m->qos,
	                        m->published_at, m->published_ev, true);
	return eff >= 1 ? eff : -1;
}

/* The QoS at which reader is owed client's will (-1: not owed): it was
 * subscribed when a connection of the client was lost uncleanly. */
static int will_owed(const struct oracle *o, int reader, int client)
{
	const struct scn_client *c = &o->sc->clients[client];
	if (!*c->will_topic || o->lossy[reader])
		return -1;
	int best = -1;
	uint32_t n = o->unclean[client] < 64 ? o->unclean[client] : 64;
	for (uint32_t k = 0; k < n; k++) {
		/* Subscriptions that stood before the broker ended the connection:
		 * one whose SUBACK came in that very millisecond may have been
		 * handled after the will went (found by mqttsim explore, seed
		 * 53981); a message, published after its SUBACK came, cannot. */
		uint64_t at = o->unclean_at[client][k];
		if (!at)
			continue;
		int q = effective_qos(o, reader, -1, c->will_topic, c->will_qos, at - 1, UINT32_MAX, true);
		if (q > best)
			best = q;
	}
	return best >= 1 ? best : -1;
}

static bool retained_owed(struct oracle *o, bool judging);

/*
 * Whether reader r has yet to read client c's will as a retained message
 * (RETAIN set), owed for a subscription to its topic asked for after the
 * broker had surely published it retained [MQTT-3.1.2-17, MQTT-3.3.1-6].
 * Not when anything else is published on its topic (it may have replaced
 * or cleared it), a broker that goes down may forget it, or the copy may
 * die (at QoS 0 with a connection broken after the SUBSCRIBE; with the
 * reader's session).
 */
static bool retained_will_unread(const struct oracle *o, int r, int c)
{
	const struct scenario *sc = o->sc;
	const struct scn_client *w = &sc->clients[c];
	if (!*w->will_topic || !w->will_retain || o->lossy[r] || o->will_retained_reads[r][c] ||
	    o->will_surely_at[c] == UINT64_MAX)
		return false;
	for (int k = 0; k < sc->nsteps; k++)
		if (sc->steps[k].kind == SCN_BROKER_DOWN ||
		    (sc->steps[k].kind == SCN_PUBLISH && !strcmp(sc->steps[k].topic, w->will_topic)))
			return false;
	for (int i = 0; i < o->nsubs[r]; i++) {
		const struct sub *s = &o->subs[r][i];
		if (!s->late || s->since == UINT64_MAX || s->until <= s->since || s->session_ended ||
		    s->sent <= o->will_surely_at[c] ||
		    !oracle_topic_match(s->filter, strlen(s->filter), w->will_topic, strlen(w->will_topic)))
			continue;
		if ((s->qos < w->will_qos ? s->qos : w->will_qos) == 0 &&
		    away_between(o, r, s->sent, UINT64_MAX - 1))
			continue;
		return true;
	}
	return false;
}

bool oracle_all_delivered(struct oracle *o)
{
	bool used[SCN_MAX_CLIENTS][16] = {{false}};
	for (uint32_t i = 0; i < o->nmsgs; i++)
		for (int c = 0; c < o->sc->nclients; c++) {
			int eff = o->msgs[i].reads[c] ? 0 : owed(o, &o->msgs[i], c);
			if (eff >= 1 && !(eff == 2 && read_kill_excuses(o, &o->msgs[i], c, used[c])))
				return false;
		}
	for (int r = 0; r < o->sc->nclients; r++)
		for (int c = 0; c < o->sc->nclients; c++)
			if ((will_owed(o, r, c) >= 1 && !o->will_reads[r][c]) || retained_will_unread(o, r, c))
				return false;
	return !retained_owed(o, false);
}

/*
 * Whether retained message m (of step st) was surely replaced or cleared
 * at the broker before time at: a later retained PUBLISH or clear on its
 * topic, sent after m's exchange was done (so handled after it) and done
 * before at. Only acknowledged exchanges tell when the broker had them.
 */
static bool superseded_before(const struct oracle *o, int st, const struct msg *m, uint64_t at)
{
	const struct scenario *sc = o->sc;
	if (!m->completed || (!m->qos && !m->completed_at))
		return false;
	/* Brought back by a storage fault (an undone rename), it is sent
	 * again after a restart, and retained again over what came between
	 * (found by mqttsim explore, seed 10212346: a publisher's completed
	 * retained message came back, resent after a clear). */
	if (m->damaged && m->may_repeat)
		return false;
	for (int k = 0; k < sc->nsteps; k++) {
		const struct scn_step *p = &sc->steps[k];
		if (p->kind != SCN_PUBLISH || !p->retain || !p->qos || strcmp(p->topic, sc->steps[st].topic))
			continue;
		for (uint32_t q = 0; q < p->count; q++) {
			const struct msg *x = &o->msgs[o->base[k] + q];
			if (x != m && x->published && x->ok && x->completed && x->completed_at < at &&
			    x->published_at > m->completed_at)
				return true;
		}
	}
	return false;
}

/*
 * Whether a clear of m's topic may have left the broker without m when it
 * handled a SUBSCRIBE answered at time `answered` (UINT64_MAX: never): a
 * clear sent before then, and not surely before m, may have reached the
 * broker first. The SUBSCRIBE itself may have lain in the network since
 * it was written (found by mqttsim explore, seed 4825: a SUBSCRIBE
 * stalled while the clear went through), and a clear may have been in
 * flight with m or with the SUBSCRIBE (seed 10300: its PUBACK stalled).
 */
static bool maybe_cleared(const struct oracle *o, int st, const struct msg *m, uint64_t answered)
{
	const struct scenario *sc = o->sc;
	for (int k = 0; k < sc->nsteps; k++) {
		const struct scn_step *p = &sc->steps[k];
		if (p->kind != SCN_PUBLISH || !p->clear || strcmp(p->topic, sc->steps[st].topic))
			continue;
		for (uint32_t q = 0; q < p->count; q++) {
			const struct msg *x = &o->msgs[o->base[k] + q];
			if (x->published && x->ok && x->published_at < answered &&
			    !(x->completed && x->completed_at < m->published_at))
				return true;
		}
	}
	return false;
}

/*
 * Whether reader r's retained copy of m came for some subscription request
 * of its that went, before the copy was read, while m was still the one
 * retained: a copy read late (a stalled link) may be of an earlier
 * request than the last (found by mqttsim explore, seed 934131).
 */
static bool retained_copy_explained(const struct oracle *o, int r, int st, const struct msg *m)
{
	const char *topic = o->sc->steps[st].topic;
	for (int k = 0; k < o->nsubs[r]; k++) {
		const struct sub *s = &o->subs[r][k];
		if (s->sent <= m->retained_read_at[r] && !superseded_before(o, st, m, s->sent) &&
		    oracle_topic_match(s->filter, strlen(s->filter), topic, strlen(topic)))
			return true;
	}
	return false;
}

/*
 * Retained messages against late subscriptions. Each gets, per topic it
 * matches, the last retained message the broker had when the SUBSCRIBE
 * came, unless a clear came after it [MQTT-3.3.1-6, -10]; a copy with
 * RETAIN set of one replaced or cleared before the SUBSCRIBE was sent is
 * stale [MQTT-3.3.1-7, -10].
 */
/*
 * Subscription k of reader r and retained line st (a match): the newest
 * message of the line owed to r for it and never read, or -1 when none is
 * (read, replaced, cleared, or let go with the session). judging: a copy
 * read with RETAIN set that was replaced before the SUBSCRIBE is reported.
 */
static int64_t retained_unread(struct oracle *o, int r, int k, int st, bool judging)
{
	const struct scenario *sc = o->sc;
	const struct sub *s = &o->subs[r][k];
	const struct scn_step *p = &sc->steps[st];
	/* The newest acknowledged before the SUBSCRIBE, of this line:
	 * it or a later one is owed, unless it was cleared or
	 * replaced by another line before. */
	int64_t newest = -1;
	for (uint32_t q = 0; q < p->count; q++) {
		const struct msg *m = &o->msgs[o->base[st] + q];
		/* Not one a storage fault may have let the broker take
		 * for an older message under its identifier (found by
		 * mqttsim explore, seed 652646: a restarted memory-only
		 * publisher's retained message, swallowed so). */
		if (p->qos && m->published && m->ok && m->completed && !m->damaged &&
		    m->completed_at < s->sent)
			newest = q;
		/* A copy read before this SUBSCRIBE went came for
		 * another subscription (found by mqttsim explore). */
		if (judging && m->read_retained[r] && m->retained_read_at[r] >= s->sent &&
		    superseded_before(o, st, m, s->sent) &&
		    !retained_copy_explained(o, r, st, m))
			violation(o, SCN_RETAINED, "%s read %s #%u with RETAIN set, replaced or "
			          "cleared before it subscribed to %s [MQTT-3.3.1-7, -10]",
			          sc->clients[r].name, p->topic, q, s->filter);
	}
	if (newest < 0 || superseded_before(o, st, &o->msgs[o->base[st] + newest], s->sent) ||
	    maybe_cleared(o, st, &o->msgs[o->base[st] + newest], s->since))
		return -1;
	bool got = false;
	for (uint32_t q = (uint32_t)newest; q < p->count; q++)
		got = got || o->msgs[o->base[st] + q].reads[r];
	/* Or an older one still in flight when it was published:
	 * sent again after it (a QoS 1 resend), it replaced it
	 * (found by mqttsim explore). */
	const struct msg *n = &o->msgs[o->base[st] + newest];
	for (uint32_t q = 0; !got && q < (uint32_t)newest; q++) {
		const struct msg *x = &o->msgs[o->base[st] + q];
		got = x->read_retained[r] && !(x->completed && x->completed_at <= n->published_at);
	}
	/* Or another line's message on the topic, not surely replaced
	 * either: which of two in flight together the broker kept
	 * last, the oracle cannot tell (found by mqttsim explore). */
	for (int k2 = 0; !got && k2 < sc->nsteps; k2++) {
		const struct scn_step *p2 = &sc->steps[k2];
		if (k2 == st || p2->kind != SCN_PUBLISH || !p2->retain || p2->clear ||
		    strcmp(p2->topic, p->topic))
			continue;
		/* And if that one was at QoS 0 to this subscription, its copy
		 * died with a connection that broke after the SUBSCRIBE: at most
		 * once, nothing was owed (found by mqttsim explore, seed
		 * 1115273: a QoS 0 retained message replaced a QoS 1 one, and
		 * its copy went to a half-closed link). */
		bool lost_at_qos0 = (s->qos < p2->qos ? s->qos : p2->qos) == 0 &&
		                    away_between(o, r, s->sent, UINT64_MAX - 1);
		for (uint32_t q = 0; !got && q < p2->count; q++) {
			const struct msg *x = &o->msgs[o->base[k2] + q];
			got = (x->read_retained[r] && !superseded_before(o, k2, x, s->sent)) ||
			      (lost_at_qos0 && x->published && x->published_at <= s->since);
		}
	}
	/* Its session ended before the copy was read: the broker
	 * discarded what it had for it [MQTT-3.1.2-6] (found by
	 * mqttsim explore, seed 11110: a client that could not
	 * store the retained QoS 2 copy on a full disk gave up on
	 * its clean connection). */
	/* Nor a copy at QoS 0 (the lower of the two) when a
	 * connection broke after the SUBSCRIBE: at most once, it may
	 * have died with it, and it is sent only for a SUBSCRIBE
	 * (found by mqttsim explore, seeds 49025, 51714, 55229). */
	bool at_most_once = (s->qos < n->qos ? s->qos : n->qos) == 0 &&
	                    away_between(o, r, s->sent, UINT64_MAX - 1);
	return !got && !s->session_ended && !at_most_once ? newest : -1;
}

/*
 * The retained messages owed for each new subscription: judging, every
 * one never read is a violation; before (the run not yet over), whether
 * one is still to be read, which holds the run open (found by mqttsim
 * explore, seed 1008972: the copy the broker queued went to a link that
 * had half-closed, unseen on the wire, and the run ended with its client
 * between connections).
 */
static bool retained_owed(struct oracle *o, bool judging)
{
	const struct scenario *sc = o->sc;
	for (int r = 0; r < sc->nclients; r++) {
		if (o->lossy[r])
			continue;
		for (int k = 0; k < o->nsubs[r]; k++) {
			const struct sub *s = &o->subs[r][k];
			if (!s->late || s->until <= s->since) /* refused (SUBACK 0x80): it never stood */
				continue;
			for (int st = 0; st < sc->nsteps; st++) {
				const struct scn_step *p = &sc->steps[st];
				if (p->kind != SCN_PUBLISH || !p->retain || p->clear ||
				    !oracle_topic_match(s->filter, strlen(s->filter), p->topic, strlen(p->topic)))
					continue;
				int64_t newest = retained_unread(o, r, k, st, judging);
				if (newest >= 0 && !judging)
					return true;
				if (newest >= 0)
					violation(o, SCN_RETAINED, "%s subscribed to %s and never read the retained "
					          "%s #%lld [MQTT-3.3.1-6]", sc->clients[r].name, s->filter, p->topic,
					          (long long)newest);
			}
		}
	}
	return false;
}

/* How far n goes beyond allowed (0: not). */
static uint32_t beyond(uint32_t n, uint32_t allowed)
{
	return n > allowed ? n - allowed : 0;
}

/* The wills and retained messages owed, against what was read. */
static void judge_wills_and_retained(struct oracle *o)
{
	const struct scenario *sc = o->sc;
	for (int r = 0; r < sc->nclients; r++)
		for (int c = 0; c < sc->nclients; c++) {
			const struct scn_client *w = &sc->clients[c];
			if (!*w->will_topic)
				continue;
			uint32_t reads = o->will_reads[r][c];
			if (reads && !o->unclean[c] && !o->maybe_unclean[c])
				violation(o, SCN_WILL, "%s read the will of %s, whose every connection ended "
				          "with DISCONNECT [MQTT-3.1.2-10]", sc->clients[r].name, w->name);
			else if (will_owed(o, r, c) >= 1 && !reads)
				violation(o, SCN_WILL, "%s never read the will of %s, which lost a connection "
				          "uncleanly %u time%s [MQTT-3.1.2-8]", sc->clients[r].name, w->name,
				          o->unclean[c], o->unclean[c] == 1 ? "" : "s");
			else if (retained_will_unread(o, r, c))
				violation(o, SCN_WILL, "%s subscribed to %s's will topic after its retained will "
				          "went, and never read it with RETAIN set [MQTT-3.1.2-17, MQTT-3.3.1-6]",
				          sc->clients[r].name, w->name);
			else if (will_owed(o, r, c) == 2 &&
			         beyond(o->will_reads2[r][c] - o->will_retained_reads2[r][c],
			              o->unclean[c] + o->maybe_unclean[c]) +
			                 beyond(o->will_retained_reads2[r][c],
			                      retained_allowance(o, r, w->will_topic)) >
			             o->repeats_allowed[r])
				/* At QoS 2, a retained will comes once more with each
				 * SUBSCRIBE request of a matching filter [MQTT-3.8.4-3];
				 * the others once per unclean end; and either once more
				 * for each inbound identifier the reader forgot (a
				 * memory-only process that died: found by mqttsim
				 * explore, seeds 346064 and, for a retained copy resent,
				 * 1900521), as a message's copy may. */
				violation(o, SCN_WILL, "%s read the will of %s %u times at QoS 2 for %u unclean "
				          "ends (%u with RETAIN set)", sc->clients[r].name, w->name,
				          o->will_reads2[r][c], o->unclean[c], o->will_retained_reads2[r][c]);
		}
	retained_owed(o, true);
}

void oracle_judge(struct oracle *o, const struct scenario *sc, bool finished, struct scn_result *r)
{
	bool kill_used[SCN_MAX_CLIENTS][16] = {{false}}; /* read_kill_excuses() */
	o->judging = true;
	for (uint32_t i = 0; i < o->nmsgs; i++) {
		const struct msg *m = &o->msgs[i];
		if (m->published)
			r->published++;
		for (int c = 0; c < sc->nclients; c++) {
			subject(o, c, m->step, m->seq);
			int eff = owed(o, m, c);
			/* A copy at a higher QoS meets it too: a subscription unsubscribed
			 * since (so owing nothing any more) may have brought it. */
			if (eff >= 1 && m->reads[c] && !m->reads_at[c][eff] && !(eff == 1 && m->reads_at[c][2]))
				violation(o, SCN_DELIVERY_QOS, "%s read %s #%u, never at QoS %d or higher, the highest "
				          "its subscriptions were granted and owed [MQTT-3.3.5-1]", sc->clients[c].name,
				          sc->steps[m->step].topic, m->seq, eff);
			if (eff == 2 && !m->reads[c] && read_kill_excuses(o, m, c, kill_used[c]))
				continue;
			if (eff >= 1 && !m->reads[c]) {
				violation(o, SCN_AT_LEAST_ONCE, "%s never read %s #%u (QoS %d), published by %s",
				          sc->clients[c].name, sc->steps[m->step].topic, m->seq, eff,
				          sc->clients[m->client].name);
				if (eff == 2)
					violation(o, SCN_EXACTLY_ONCE, "%s never read %s #%u (QoS 2)",
					          sc->clients[c].name, sc->steps[m->step].topic, m->seq);
				/* Its session kept its subscriptions and queued this for it
				 * while it was away [MQTT-3.1.2-4, -5]. */
				if (away_at(o, c, m->published_at))
					violation(o, SCN_SESSION, "%s never read %s #%u (QoS %d), published while it "
					          "was away from its session [MQTT-3.1.2-5]", sc->clients[c].name,
					          sc->steps[m->step].topic, m->seq, eff);
			}
		}
	}
	subject(o, -1, -1, -1);
	judge_wills_and_retained(o);
	if (!finished)
		violation(o, SCN_LIVE, "the workload had not completed after %llu ms of virtual time",
		          (unsigned long long)sc->limit_ms);
	r->delivered = o->delivered;
	memcpy(r->violated, o->violated, sizeof r->violated);
	memcpy(r->first, o->first, sizeof r->first);
	memcpy(r->where, o->where, sizeof r->where);
	r->passed = true;
	r->failed_expect = -1;
	for (int i = 0; i < sc->nexpects && r->passed; i++) {
		const struct scn_expect *e = &sc->expects[i];
		r->failed_expect = i;
		if (e->what == SCN_STATE) {
			static const char *const finals[] = {"?", "online", "offline", "closed", "down"};
			if (r->state_wrong[i]) {
				r->passed = false;
				char want[40] = "";
				if (e->inflight >= 0)
					snprintf(want, sizeof want, " with %ld in flight", e->inflight);
				snprintf(r->why, sizeof r->why, "line %u: %s ended %s with %ld in flight, expected %s%s",
				         e->line, sc->clients[e->client].name, finals[r->state_was[i]],
				         r->state_inflight[i], finals[e->state], want);
			}
		} else if (e->what == SCN_RECONNECTS) {
			uint32_t n = r->reconnects[e->client];
			if (n < e->min || n > e->max) {
				r->passed = false;
				snprintf(r->why, sizeof r->why, "line %u: %s reconnected %u times, expected %u to %u",
				         e->line, sc->clients[e->client].name, n, e->min, e->max);
			}
		} else if (e->violation && !o->violated[e->what]) {
			r->passed = false;
			snprintf(r->why, sizeof r->why,
			         "line %u: expected a %s violation, and the oracle found none", e->line,
			         scn_invariant_name(e->what));
		} else if (!e->violation && o->violated[e->what]) {
			r->passed = false;
			snprintf(r->why, sizeof r->why, "line %u: %s violated: %s", e->line,
			         scn_invariant_name(e->what), o->first[e->what]);
		}
	}
	if (r->passed)
		r->failed_expect = -1;
}
