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
	bool unknown;  /* the call's result was never learnt (its process died in it) */
	uint8_t qos;
	int client, step;
	uint32_t seq;
	uint8_t reads[SCN_MAX_CLIENTS];
};

struct sub {
	char filter[128];
	uint8_t qos;
};

struct oracle {
	struct msg *msgs;
	uint32_t nmsgs;
	uint32_t base[SCN_MAX_STEPS];   /* first message index of each publish step */
	const struct scenario *sc;
	struct sub subs[SCN_MAX_CLIENTS][16];
	int nsubs[SCN_MAX_CLIENTS];
	bool lossy[SCN_MAX_CLIENTS];
	int64_t last_first[SCN_MAX_CLIENTS][SCN_MAX_STEPS]; /* order: the last first copy read */
	bool violated[SCN_INVARIANT_COUNT];
	char first[SCN_INVARIANT_COUNT][256];
	uint32_t delivered;
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

void oracle_subscribed(struct oracle *o, int client, const char *filter, uint8_t qos)
{
	if (o->nsubs[client] == 16)
		return;
	struct sub *s = &o->subs[client][o->nsubs[client]++];
	snprintf(s->filter, sizeof s->filter, "%s", filter);
	s->qos = qos;
}

/* The QoS at which client is owed a message on topic at qos; -1 when it is not subscribed. */
static int effective_qos(const struct oracle *o, int client, const char *topic, uint8_t qos)
{
	int best = -1;
	for (int i = 0; i < o->nsubs[client]; i++) {
		const struct sub *s = &o->subs[client][i];
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
	(void)now;
	uint32_t index = o->base[step] + seq;
	struct msg *m = &o->msgs[index];
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

void oracle_publish_unknown(struct oracle *o, int client, int step, uint32_t seq, uint8_t qos)
{
	uint32_t index = oracle_published(o, client, step, seq, NULL, qos, false, 0);
	o->msgs[index].unknown = true;
}

void oracle_completed(struct oracle *o, uint32_t index)
{
	if (index < o->nmsgs)
		o->msgs[index].completed = true;
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

void oracle_delivered(struct oracle *o, int client, const uint8_t *topic, size_t topic_len,
                      const uint8_t *payload, size_t len, uint8_t qos, bool dup, uint64_t now)
{
	(void)dup;
	(void)now;
	o->delivered++;
	char id[32] = "";
	memcpy(id, payload, len < sizeof id - 1 ? len : sizeof id - 1);
	int pub, step;
	unsigned seq;
	const struct scenario *sc = o->sc;
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
	int eff = effective_qos(o, client, topic_s, m->qos);
	if (eff < 0 || qos > eff) {
		violation(o, SCN_NO_PHANTOM, "%s read %s #%u at QoS %u, above what it subscribed to",
		          sc->clients[client].name, topic_s, seq, qos);
		return;
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
	int eff = effective_qos(o, client, o->sc->steps[m->step].topic, m->qos);
	return eff >= 1 ? eff : -1;
}

bool oracle_all_delivered(const struct oracle *o)
{
	for (uint32_t i = 0; i < o->nmsgs; i++)
		for (int c = 0; c < o->sc->nclients; c++)
			if (owed(o, &o->msgs[i], c) >= 1 && !o->msgs[i].reads[c])
				return false;
	return true;
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
	if (!finished)
		violation(o, SCN_LIVE, "the workload had not completed after %llu ms of virtual time",
		          (unsigned long long)sc->limit_ms);
	r->delivered = o->delivered;
	memcpy(r->violated, o->violated, sizeof r->violated);
	memcpy(r->first, o->first, sizeof r->first);
	r->passed = true;
	for (int i = 0; i < sc->nexpects && r->passed; i++) {
		const struct scn_expect *e = &sc->expects[i];
		if (e->what == SCN_RECONNECTS) {
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
