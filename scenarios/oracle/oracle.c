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

struct msg {
	bool published, ok, completed, excused;
	uint64_t published_at, completed_at;
	bool unknown;  /* the call's result was never learnt (its process died in it) */
	uint8_t qos;
	int client, step;
	uint32_t seq;
	uint8_t reads[SCN_MAX_CLIENTS];
};

struct sub {
	char filter[128];
	uint8_t qos;
	uint64_t since, until;  /* SUBACK (UINT64_MAX: awaited), UNSUBACK (UINT64_MAX: never) */
	uint64_t until_sent;    /* UNSUBSCRIBE sent: what is published later is not owed */
	uint64_t sent;          /* when the SUBSCRIBE went: retained messages up to then are owed */
	bool late;              /* made during the workload: retained messages come with it */
};

struct oracle {
	struct msg *msgs;
	uint32_t nmsgs;
	uint32_t base[SCN_MAX_STEPS];   /* first message index of each publish step */
	const struct scenario *sc;
	struct sub subs[SCN_MAX_CLIENTS][24];
	int nsubs[SCN_MAX_CLIENTS];
	bool lossy[SCN_MAX_CLIENTS];
	int64_t last_first[SCN_MAX_CLIENTS][SCN_MAX_STEPS]; /* order: the last first copy read */
	bool violated[SCN_INVARIANT_COUNT];
	char first[SCN_INVARIANT_COUNT][256];
	uint32_t delivered;
	/* Wills: each connection a client lost without DISCONNECT, and each
	 * will a subscriber read. */
	uint32_t unclean[SCN_MAX_CLIENTS];
	uint64_t unclean_at[SCN_MAX_CLIENTS][64];
	uint32_t will_reads[SCN_MAX_CLIENTS][SCN_MAX_CLIENTS]; /* [reader][client] */
	bool connected_before[SCN_MAX_CLIENTS];
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
	for (int c = 0; c < SCN_MAX_CLIENTS; c++)
		for (int i = 0; i < SCN_MAX_STEPS; i++)
			o->last_first[c][i] = -1;
	return o;
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
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->first[what], sizeof o->first[what], fmt, ap);
	va_end(ap);
}

void oracle_wire_violation(struct oracle *o, enum scn_invariant what, const char *why)
{
	violation(o, what, "%s", why);
}

void oracle_subscribed(struct oracle *o, int client, const char *filter, uint8_t qos, bool late,
                       uint64_t sent, uint64_t now)
{
	for (int i = 0; i < o->nsubs[client]; i++) {
		struct sub *s = &o->subs[client][i];
		if (s->since == UINT64_MAX && !strcmp(s->filter, filter)) {
			s->since = now; /* the one asked for: it stands now */
			return;
		}
	}
	if (o->nsubs[client] == 24)
		return;
	struct sub *s = &o->subs[client][o->nsubs[client]++];
	snprintf(s->filter, sizeof s->filter, "%s", filter);
	s->qos = qos;
	s->since = now;
	s->sent = sent;
	s->until = s->until_sent = UINT64_MAX;
	s->late = late;
}

void oracle_subscribe_sent(struct oracle *o, int client, const char *filter, uint8_t qos,
                           uint64_t now)
{
	/* Messages may come before the SUBACK is seen: allowed, not yet owed. */
	oracle_subscribed(o, client, filter, qos, true, now, UINT64_MAX);
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
			if (s->until_sent > now)
				s->until_sent = now;
		}
	}
}

void oracle_connection_lost(struct oracle *o, int client, uint64_t now)
{
	if (o->unclean[client] < 64)
		o->unclean_at[client][o->unclean[client]] = now;
	o->unclean[client]++;
}

void oracle_connected(struct oracle *o, int client, bool first, bool session_present)
{
	const struct scn_client *c = &o->sc->clients[client];
	/* A clean first connect starts without a session [MQTT-3.2.2-1]; after
	 * that the session lasts (reconnects are never clean) [MQTT-3.2.2-2]. */
	if (first && c->clean && session_present)
		violation(o, SCN_SESSION, "%s connected with clean session and the broker said a "
		          "session was present [MQTT-3.2.2-1]", c->name);
	else if (!first && !session_present)
		violation(o, SCN_SESSION, "%s reconnected to its session and the broker had lost it "
		          "[MQTT-3.2.2-2]", c->name);
	o->connected_before[client] = true;
}

/*
 * The QoS at which client may get a message on topic at qos published at
 * time at (-1: none): from the subscriptions that match it and had not
 * ended when it was published; owed_only: only those made before it.
 */
static int effective_qos(const struct oracle *o, int client, const char *topic, uint8_t qos,
                         uint64_t at, bool owed_only)
{
	int best = -1;
	for (int i = 0; i < o->nsubs[client]; i++) {
		const struct sub *s = &o->subs[client][i];
		if ((owed_only ? s->until_sent : s->until) <= at || (owed_only && s->since > at))
			continue;
		if (mqtt_topic_match((const uint8_t *)s->filter, strlen(s->filter),
		                     (const uint8_t *)topic, strlen(topic))) {
			int q = s->qos < qos ? s->qos : qos;
			if (q > best)
				best = q;
		}
	}
	return best;
}

uint32_t oracle_published(struct oracle *o, int client, int step, uint32_t seq, const char *topic,
                          uint8_t qos, bool ok, uint64_t now)
{
	(void)topic;
	uint32_t index = o->base[step] + seq;
	struct msg *m = &o->msgs[index];
	if (!m->published)
		m->published_at = now;
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
		if (s->since >= at && mqtt_topic_match((const uint8_t *)s->filter, strlen(s->filter),
		                                      (const uint8_t *)topic, strlen(topic)))
			return true;
	}
	return false;
}

/* A will ("w:CLIENT:" on the client's will topic); false when it is none. */
static bool will_read(struct oracle *o, int reader, const uint8_t *topic, size_t topic_len,
                      const char *id)
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
	return true;
}

void oracle_delivered(struct oracle *o, int client, const uint8_t *topic, size_t topic_len,
                      const uint8_t *payload, size_t len, uint8_t qos, bool dup, bool retain,
                      uint64_t now)
{
	(void)dup;
	(void)now;
	o->delivered++;
	char id[32] = "";
	memcpy(id, payload, len < sizeof id - 1 ? len : sizeof id - 1);
	int pub, step;
	unsigned seq;
	const struct scenario *sc = o->sc;
	if (will_read(o, client, topic, topic_len, id))
		return;
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
	if (!m->ok && !m->unknown) {
		/* A refused call must have sent nothing: its caller was told so. */
		violation(o, SCN_NO_PHANTOM, "%s read %s #%u, whose publish call was refused",
		          sc->clients[client].name, topic_s, seq);
		return;
	}
	int eff = effective_qos(o, client, topic_s, m->qos, m->published_at, false);
	if (eff < 0 || qos > eff) {
		violation(o, SCN_NO_PHANTOM, "%s read %s #%u at QoS %u, %s", sc->clients[client].name,
		          topic_s, seq, qos, eff < 0 ? "published while it had no subscription for it"
		                                    : "above what it subscribed to");
		return;
	}
	if (retain) {
		/* RETAIN marks a retained message sent for a new subscription,
		 * never one forwarded to a standing one [MQTT-3.3.1-8, -9]. */
		if (!sc->steps[step].retain)
			violation(o, SCN_RETAINED, "%s read %s #%u with RETAIN set; it was published without",
			          sc->clients[client].name, topic_s, seq);
		else if (effective_qos(o, client, topic_s, m->qos, m->published_at, true) >= 0 &&
		         !newer_subscription(o, client, topic_s, m->published_at))
			violation(o, SCN_RETAINED, "%s read %s #%u with RETAIN set on a subscription that "
			          "stood when it was published [MQTT-3.3.1-9]", sc->clients[client].name,
			          topic_s, seq);
	}
	if (m->reads[client] < 255)
		m->reads[client]++;
	if (m->reads[client] == 1) {
		/* §4.6: first copies arrive in publish order, per publisher, topic and QoS. */
		if ((int64_t)seq < o->last_first[client][step])
			violation(o, SCN_ORDER, "%s read %s #%u after #%lld (first copies out of order)",
			          sc->clients[client].name, topic_s, seq,
			          (long long)o->last_first[client][step]);
		else
			o->last_first[client][step] = seq;
	} else if ((eff == 0 || eff == 2) && !o->lossy[client]) {
		violation(o, eff == 2 ? SCN_EXACTLY_ONCE : SCN_AT_MOST_ONCE,
		          "%s read %s #%u (QoS %d) %u times", sc->clients[client].name, topic_s, seq, eff,
		          m->reads[client]);
		if (eff == 2)
			violation(o, SCN_AT_MOST_ONCE, "%s read %s #%u (QoS 2) %u times",
			          sc->clients[client].name, topic_s, seq, m->reads[client]);
	}
}

/* Whether message m is owed to client, and at which QoS (-1: not owed). */
static int owed(const struct oracle *o, const struct msg *m, int client)
{
	if (!m->published || !m->ok || m->excused || o->lossy[client])
		return -1;
	int eff = effective_qos(o, client, o->sc->steps[m->step].topic, m->qos, m->published_at, true);
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
		int q = effective_qos(o, reader, c->will_topic, c->will_qos, o->unclean_at[client][k], true);
		if (q > best)
			best = q;
	}
	return best >= 1 ? best : -1;
}

bool oracle_all_delivered(const struct oracle *o)
{
	for (uint32_t i = 0; i < o->nmsgs; i++)
		for (int c = 0; c < o->sc->nclients; c++)
			if (owed(o, &o->msgs[i], c) >= 1 && !o->msgs[i].reads[c])
				return false;
	for (int r = 0; r < o->sc->nclients; r++)
		for (int c = 0; c < o->sc->nclients; c++)
			if (will_owed(o, r, c) >= 1 && !o->will_reads[r][c])
				return false;
	return true;
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
			if (reads && !o->unclean[c])
				violation(o, SCN_WILL, "%s read the will of %s, whose every connection ended "
				          "with DISCONNECT [MQTT-3.1.2-10]", sc->clients[r].name, w->name);
			else if (will_owed(o, r, c) >= 1 && !reads)
				violation(o, SCN_WILL, "%s never read the will of %s, which lost a connection "
				          "uncleanly %u time%s [MQTT-3.1.2-8]", sc->clients[r].name, w->name,
				          o->unclean[c], o->unclean[c] == 1 ? "" : "s");
			else if (will_owed(o, r, c) == 2 && reads > o->unclean[c])
				violation(o, SCN_WILL, "%s read the will of %s %u times for %u unclean ends",
				          sc->clients[r].name, w->name, reads, o->unclean[c]);
		}
	/* A late subscription gets the retained message of each topic it
	 * matches: at least the newest one acknowledged before it was made
	 * [MQTT-3.3.1-6]. */
	for (int r = 0; r < sc->nclients; r++) {
		if (o->lossy[r])
			continue;
		for (int k = 0; k < o->nsubs[r]; k++) {
			const struct sub *s = &o->subs[r][k];
			if (!s->late)
				continue;
			for (int st = 0; st < sc->nsteps; st++) {
				const struct scn_step *p = &sc->steps[st];
				if (p->kind != SCN_PUBLISH || !p->retain || !p->qos ||
				    !mqtt_topic_match((const uint8_t *)s->filter, strlen(s->filter),
				                      (const uint8_t *)p->topic, strlen(p->topic)))
					continue;
				int64_t newest = -1;
				bool got = false;
				for (uint32_t q = 0; q < p->count; q++) {
					const struct msg *m = &o->msgs[o->base[st] + q];
					if (m->published && m->ok && m->completed && m->completed_at < s->sent)
						newest = q;
				}
				for (uint32_t q = newest >= 0 ? (uint32_t)newest : 0; newest >= 0 && q < p->count; q++)
					got = got || o->msgs[o->base[st] + q].reads[r];
				if (newest >= 0 && !got)
					violation(o, SCN_RETAINED, "%s subscribed to %s and never read the retained "
					          "%s #%lld [MQTT-3.3.1-6]", sc->clients[r].name, s->filter, p->topic,
					          (long long)newest);
			}
		}
	}
}

void oracle_judge(struct oracle *o, const struct scenario *sc, bool finished, struct scn_result *r)
{
	for (uint32_t i = 0; i < o->nmsgs; i++) {
		const struct msg *m = &o->msgs[i];
		if (m->published)
			r->published++;
		for (int c = 0; c < sc->nclients; c++) {
			int eff = owed(o, m, c);
			if (eff >= 1 && !m->reads[c]) {
				violation(o, SCN_AT_LEAST_ONCE, "%s never read %s #%u (QoS %d), published by %s",
				          sc->clients[c].name, sc->steps[m->step].topic, m->seq, eff,
				          sc->clients[m->client].name);
				if (eff == 2)
					violation(o, SCN_EXACTLY_ONCE, "%s never read %s #%u (QoS 2)",
					          sc->clients[c].name, sc->steps[m->step].topic, m->seq);
			}
		}
	}
	judge_wills_and_retained(o);
	if (!finished)
		violation(o, SCN_LIVE, "the workload had not completed after %llu ms of virtual time",
		          (unsigned long long)sc->limit_ms);
	r->delivered = o->delivered;
	memcpy(r->violated, o->violated, sizeof r->violated);
	memcpy(r->first, o->first, sizeof r->first);
	r->passed = true;
	for (int i = 0; i < sc->nexpects && r->passed; i++) {
		const struct scn_expect *e = &sc->expects[i];
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
}
