/*
 * setup.c - what the simulator and the real runner set up alike for a
 * scenario's client: its session configuration, its fault plan (its
 * faults, the network's delay, the marks of crashes at a packet), the
 * seeds of its randomness, and the identity its messages carry.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mqttsim/session.h"
#include "setup.h"

static uint64_t splitmix(void *arg)
{
	uint64_t *state = arg;
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

uint64_t scn_next_random(uint64_t *prng)
{
	return splitmix(prng);
}

uint64_t scn_client_prng(uint64_t seed, int client)
{
	return seed * 31 + (uint64_t)client;
}

uint64_t scn_fault_seed(uint64_t seed, int client)
{
	return seed ^ (UINT64_C(0x51ED27) * (uint64_t)(client + 1));
}

void scn_session_config(const struct scn_client *c, int index, uint64_t *prng, char will[16],
                        struct mqtt_session_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	if (*c->will_topic) {
		/* The will carries whose it is, as messages carry their identity. */
		snprintf(will, 16, "w:%d:", index);
		cfg->will = true;
		cfg->will_topic = mqtt_slice_str(c->will_topic);
		cfg->will_message = mqtt_slice_str(will);
		cfg->will_qos = c->will_qos;
		cfg->will_retain = c->will_retain;
	}
	cfg->client_id = mqtt_slice_str(c->id);
	cfg->has_username = c->has_user;
	cfg->username = mqtt_slice_str(c->user);
	cfg->has_password = c->has_password;
	cfg->password = mqtt_slice_str(c->password);
	cfg->clean_session = c->clean;
	cfg->keep_alive = c->keep_alive;
	cfg->at_least_once_max = cfg->exactly_once_max = c->window;
	cfg->reconnect_wait_min_ms = 200;
	cfg->reconnect_wait_max_ms = 5000;
	cfg->pause_timeout_ms = c->pause_ms;
	cfg->ack_timeout_ms = c->ack_timeout_ms;
	cfg->read_buffer_size = c->read_buffer;
	cfg->random = splitmix;
	cfg->random_arg = prng;
}

int scn_client_plan(const struct scenario *sc, int i, struct mqtt_fault_plan *plan)
{
	const struct scn_client *c = &sc->clients[i];
	char err[256];
	for (size_t k = 0; k < c->plan.n; k++)
		if (mqtt_fault_plan_add(plan, &c->plan.faults[k], err, sizeof err) != 0)
			return -1;
	if (sc->latency_ms || sc->jitter_ms) {
		struct mqtt_fault f = {.dirs = MQTT_C2B | MQTT_B2C, .action = MQTT_FAULT_LATENCY,
		                       .ms = sc->latency_ms + sc->jitter_ms, .jitter_ms = sc->jitter_ms};
		if (mqtt_fault_plan_add(plan, &f, err, sizeof err) != 0)
			return -1;
	}
	for (int k = 0; k < sc->nsteps; k++) {
		const struct scn_step *st = &sc->steps[k];
		if (st->kind != SCN_CRASH || st->client != i || !st->after.type)
			continue;
		/* A mark: a fault that does nothing here but report where the crash is. */
		struct mqtt_fault f = {.dirs = st->after.dirs ? st->after.dirs : MQTT_C2B | MQTT_B2C,
		                       .when = MQTT_WHEN_AFTER, .packet = st->after,
		                       .action = MQTT_FAULT_EAGAIN, .count = 1,
		                       .line = CRASH_LINE_BASE + (unsigned)k};
		f.packet.dirs = f.dirs;
		if (mqtt_fault_plan_add(plan, &f, err, sizeof err) != 0)
			return -1;
	}
	return 0;
}

int scn_identity(char *out, int client, int step, uint32_t seq)
{
	/* "client:step:seq:", no printf: it is on the simulator's hot path. */
	char tmp[12];
	int n = 0;
	uint32_t parts[3] = {(uint32_t)client, (uint32_t)step, seq};
	for (int k = 0; k < 3; k++) {
		int t = 0;
		uint32_t v = parts[k];
		do {
			tmp[t++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		while (t)
			out[n++] = tmp[--t];
		out[n++] = ':';
	}
	out[n] = 0;
	return n;
}

void scn_vtrace(FILE *trace, uint64_t now, const char *fmt, va_list ap)
{
	if (!trace)
		return;
	fprintf(trace, "t=%llums ", (unsigned long long)now);
	vfprintf(trace, fmt, ap);
	fputc('\n', trace);
}

/* Writes prefix and sep before s (of cap bytes); false when it does not fit. */
static bool put_before(char *s, size_t cap, const char *prefix, char sep)
{
	size_t plen = strlen(prefix), len = strlen(s);
	if (plen + 1 + len >= cap)
		return false;
	memmove(s + plen + 1, s, len + 1);
	memcpy(s, prefix, plen);
	s[plen] = sep;
	return true;
}

/*
 * Prefixes topic (a name or a filter) with prefix as a level of its own,
 * keeping what it matches: before its first level, or, when that level
 * begins with '$', after it. "pfx/$sys/load" would be no '$' topic, and
 * "pfx/#" would take it [MQTT-4.7.2-1]; "$sys/pfx/load" is still one,
 * which "pfx/#" and "pfx/+/+" do not take, and "$sys/pfx/#" does.
 */
static bool prefix_topic(char *topic, size_t cap, const char *prefix)
{
	if (topic[0] != '$')
		return put_before(topic, cap, prefix, '/');
	char *slash = strchr(topic, '/');
	size_t first = slash ? (size_t)(slash - topic) : strlen(topic);
	char *rest = topic + first; /* "" or "/..." */
	size_t plen = strlen(prefix), rlen = strlen(rest);
	if (first + 1 + plen + rlen >= cap)
		return false;
	memmove(rest + 1 + plen, rest, rlen + 1);
	rest[0] = '/';
	memcpy(rest + 1, prefix, plen);
	return true;
}

int scn_prefix(struct scenario *s, const char *prefix, char *err, size_t errcap)
{
	if (!prefix || !*prefix)
		return 0;
	for (int i = 0; i < s->nclients; i++) {
		struct scn_client *c = &s->clients[i];
		if (!put_before(c->id, sizeof c->id, prefix, '-') ||
		    (*c->will_topic && !prefix_topic(c->will_topic, sizeof c->will_topic, prefix))) {
			snprintf(err, errcap, "client %s: its identifier or will topic is too long for the "
			         "prefix %s", c->name, prefix);
			return -1;
		}
	}
	for (int i = 0; i < s->nsteps; i++) {
		struct scn_step *st = &s->steps[i];
		if (*st->topic && !prefix_topic(st->topic, sizeof st->topic, prefix)) {
			snprintf(err, errcap, "line %u: the topic is too long for the prefix %s", st->line,
			         prefix);
			return -1;
		}
	}
	return 0;
}

void scn_plan_keep(struct mqtt_fault_plan *plan, bool own)
{
	size_t kept = 0;
	for (size_t i = 0; i < plan->n; i++) {
		enum mqtt_fault_action a = plan->faults[i].action;
		/* Crash marks are EAGAIN. A stall toward the broker must make the
		 * client's writes block once 256 KiB wait (docs/faults.md): only its
		 * own transport can; before a proxy, the kernel's buffers take
		 * megabytes first. */
		bool is_own = a == MQTT_FAULT_EINTR || a == MQTT_FAULT_EAGAIN ||
		              (a == MQTT_FAULT_STALL && (plan->faults[i].dirs & MQTT_C2B));
		if (is_own == own)
			plan->faults[kept++] = plan->faults[i];
	}
	plan->n = kept;
}
