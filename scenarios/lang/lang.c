/*
 * lang.c - the scenario language: one directive a line, '#' comments,
 * errors with file, line and column (docs/scenarios.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "scenario.h"

static const char *const invariant_names[SCN_INVARIANT_COUNT] = {
	[SCN_AT_MOST_ONCE] = "at-most-once", [SCN_AT_LEAST_ONCE] = "at-least-once",
	[SCN_EXACTLY_ONCE] = "exactly-once", [SCN_ORDER] = "order",
	[SCN_NO_PHANTOM] = "no-phantom",     [SCN_LIVE] = "live",
	[SCN_RECONNECTS] = "reconnects",   [SCN_DUP_FLAG] = "dup-flag",
	[SCN_PACKET_IDS] = "packet-ids",     [SCN_WILL] = "will",
	[SCN_RETAINED] = "retained",         [SCN_SESSION] = "session",
	[SCN_SCRIPT] = "script",             [SCN_STATE] = "state",
	[SCN_BROKER_DUP_FLAG] = "broker-dup-flag", [SCN_BROKER_PACKET_IDS] = "broker-packet-ids",
	[SCN_DELIVERY_QOS] = "delivery-qos", [SCN_QUIESCENT] = "quiescent",
	[SCN_STORAGE] = "storage",           [SCN_BACKOFF] = "backoff",
};

const char *scn_invariant_name(enum scn_invariant i)
{
	return i > 0 && i < SCN_INVARIANT_COUNT ? invariant_names[i] : "?";
}

/* "at-most-once, ..., delivery-qos or quiescent": every name expect takes. */
static const char *invariant_list(void)
{
	static char list[512];
	size_t used = 0;
	for (int k = 1; k < SCN_INVARIANT_COUNT; k++)
		used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
		                         k == 1 ? "" : k == SCN_INVARIANT_COUNT - 1 ? " or " : ", ",
		                         invariant_names[k]);
	return list;
}

struct word {
	const char *s;
	size_t len, col;
};

struct parser {
	const char *path;
	unsigned line;
	char *err;
	size_t errcap;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct parser *p, size_t col, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->err && p->errcap)
		snprintf(p->err, p->errcap, "%s:%u:%zu: %s", p->path, p->line, col, msg);
	return -1;
}

static bool is(const struct word *w, const char *s)
{
	return strlen(s) == w->len && memcmp(w->s, s, w->len) == 0;
}

/* key=value: splits w; false when w has no '='. */
static bool key_value(const struct word *w, struct word *k, struct word *v)
{
	const char *eq = memchr(w->s, '=', w->len);
	if (!eq)
		return false;
	*k = (struct word){w->s, (size_t)(eq - w->s), w->col};
	*v = (struct word){eq + 1, w->len - k->len - 1, w->col + k->len + 1};
	return true;
}

static bool to_u64(const struct word *v, uint64_t *out)
{
	uint64_t x = 0;
	if (!v->len)
		return false;
	for (size_t i = 0; i < v->len; i++) {
		if (v->s[i] < '0' || v->s[i] > '9' || x > UINT64_MAX / 10 - 9)
			return false;
		x = x * 10 + (uint64_t)(v->s[i] - '0');
	}
	*out = x;
	return true;
}

/* N (ms), Nms, Ns, Nm. */
static bool to_ms(const struct word *v, uint64_t *out)
{
	size_t i = 0;
	while (i < v->len && v->s[i] >= '0' && v->s[i] <= '9')
		i++;
	struct word num = {v->s, i, v->col};
	uint64_t n;
	if (!to_u64(&num, &n) || n > (uint64_t)1 << 40)
		return false;
	size_t rest = v->len - i;
	const char *u = v->s + i;
	if (rest == 0 || (rest == 2 && !memcmp(u, "ms", 2)))
		*out = n;
	else if (rest == 1 && *u == 's')
		*out = n * 1000;
	else if (rest == 1 && *u == 'm')
		*out = n * 60000;
	else
		return false;
	return true;
}

static bool to_bool(const struct word *v, bool *out)
{
	if (is(v, "yes") || is(v, "true") || is(v, "1"))
		*out = true;
	else if (is(v, "no") || is(v, "false") || is(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

static void copy(char *dst, size_t cap, const struct word *w)
{
	size_t n = w->len < cap - 1 ? w->len : cap - 1;
	memcpy(dst, w->s, n);
	dst[n] = 0;
}

static int find_client(const struct scenario *s, const struct word *w)
{
	for (int i = 0; i < s->nclients; i++)
		if (strlen(s->clients[i].name) == w->len && !memcmp(s->clients[i].name, w->s, w->len))
			return i;
	return -1;
}

static int need_client(struct parser *p, const struct scenario *s, const struct word *w)
{
	int c = find_client(s, w);
	if (c < 0)
		fail(p, w->col, "no client named %.*s (declare it with 'client' first)", (int)w->len, w->s);
	return c;
}

static int parse_client(struct parser *p, struct scenario *s, struct word *w, int n)
{
	if (n < 2)
		return fail(p, w[0].col + w[0].len + 1, "client needs a name");
	if (s->nclients == SCN_MAX_CLIENTS)
		return fail(p, w[0].col, "at most %d clients", SCN_MAX_CLIENTS);
	if (find_client(s, &w[1]) >= 0)
		return fail(p, w[1].col, "a second client named %.*s", (int)w[1].len, w[1].s);
	if (w[1].len >= SCN_NAME_MAX || memchr(w[1].s, '=', w[1].len))
		return fail(p, w[1].col, "a client name is a word of at most %d characters",
		            SCN_NAME_MAX - 1);
	struct scn_client *c = &s->clients[s->nclients];
	memset(c, 0, sizeof *c);
	copy(c->name, sizeof c->name, &w[1]);
	copy(c->id, sizeof c->id, &w[1]);
	c->clean = true;
	c->window = 16;
	c->keep_alive = 30;
	c->line = p->line;
	for (int i = 2; i < n; i++) {
		struct word k, v;
		uint64_t x;
		if (!key_value(&w[i], &k, &v))
			return fail(p, w[i].col, "expected key=value (id=, clean=, store=, window=, "
			            "keepalive=, pause=, ack-timeout=, read-delay=, read-buffer=, will=, "
			            "will-qos=, will-retain=, user=, password=)");
		if (is(&k, "id")) {
			/* Empty: the broker assigns one [MQTT-3.1.3-6]; checked below. */
			if (v.len >= sizeof c->id ||
			    mqtt_check_utf8((const uint8_t *)v.s, v.len, NULL) != MQTT_OK)
				return fail(p, v.col, "id= needs a client identifier of 0 to 63 bytes");
			copy(c->id, sizeof c->id, &v);
		} else if (is(&k, "clean")) {
			if (!to_bool(&v, &c->clean))
				return fail(p, v.col, "clean= is yes or no");
		} else if (is(&k, "store")) {
			if (is(&v, "memory"))
				c->store = SCN_STORE_MEMORY;
			else if (is(&v, "fs"))
				c->store = SCN_STORE_FS;
			else
				return fail(p, v.col, "store= is memory (lost in a crash) or fs (kept)");
		} else if (is(&k, "window")) {
			if (!to_u64(&v, &x) || !x || x > 16384)
				return fail(p, v.col, "window= is 1 to 16384");
			c->window = (unsigned)x;
		} else if (is(&k, "keepalive")) {
			if (!to_u64(&v, &x) || x > 65535)
				return fail(p, v.col, "keepalive= is 0 to 65535 seconds");
			c->keep_alive = (uint16_t)x;
		} else if (is(&k, "will")) {
			if (v.len >= sizeof c->will_topic ||
			    mqtt_check_topic_name((const uint8_t *)v.s, v.len, NULL) != MQTT_OK)
				return fail(p, v.col, "will= needs a topic name (no wildcards) of at most %zu bytes",
				            sizeof c->will_topic - 1);
			copy(c->will_topic, sizeof c->will_topic, &v);
		} else if (is(&k, "user") || is(&k, "password")) {
			/* A password goes with a user name [MQTT-3.1.2-22]: checked below. */
			bool user = k.s[0] == 'u';
			if (v.len >= sizeof c->user ||
			    (user && mqtt_check_utf8((const uint8_t *)v.s, v.len, NULL) != MQTT_OK))
				return fail(p, v.col, "%s= takes at most %zu bytes%s", user ? "user" : "password",
				            sizeof c->user - 1, user ? " of UTF-8" : "");
			copy(user ? c->user : c->password, sizeof c->user, &v);
			*(user ? &c->has_user : &c->has_password) = true;
		} else if (is(&k, "will-qos")) {
			if (!to_u64(&v, &x) || x > 2)
				return fail(p, v.col, "will-qos= is 0, 1 or 2");
			c->will_qos = (uint8_t)x;
		} else if (is(&k, "will-retain")) {
			if (!to_bool(&v, &c->will_retain))
				return fail(p, v.col, "will-retain= is yes or no");
		} else if (is(&k, "read-delay")) {
			if (!to_ms(&v, &x) || x > 600000)
				return fail(p, v.col, "read-delay= needs a duration up to 10m");
			c->read_delay_ms = (uint32_t)x;
		} else if (is(&k, "read-buffer")) {
			/* The largest packet a read takes whole; a message above it is a
			 * big message, claimed into a buffer of its own. */
			if (!to_u64(&v, &x) || x < 64 || x > 268435460)
				return fail(p, v.col, "read-buffer= is 64 to 268435460 bytes");
			c->read_buffer = (uint32_t)x;
		} else if (is(&k, "pause") || is(&k, "ack-timeout")) {
			if (!to_ms(&v, &x) || !x || x > UINT32_MAX)
				return fail(p, v.col, "%.*s= needs a duration above 0 (N, Nms, Ns, Nm)",
				            (int)k.len, k.s);
			if (k.s[0] == 'p')
				c->pause_ms = (uint32_t)x;
			else
				c->ack_timeout_ms = (uint32_t)x;
		} else {
			return fail(p, k.col, "unknown key %.*s for client", (int)k.len, k.s);
		}
	}
	if (!*c->id && !c->clean)
		return fail(p, w[1].col, "an empty id= needs clean=yes: the broker assigns an identifier "
		            "to a clean session only [MQTT-3.1.3-7]");
	if (c->has_password && !c->has_user)
		return fail(p, w[1].col, "password= needs user= too: MQTT has no password without a user "
		            "name [MQTT-3.1.2-22]");
	s->nclients++;
	return 0;
}

static int parse_step(struct parser *p, struct scenario *s, struct word *w, int n,
                      enum scn_step_kind kind)
{
	if (s->nsteps == SCN_MAX_STEPS)
		return fail(p, w[0].col, "at most %d workload lines", SCN_MAX_STEPS);
	if (n < 2)
		return fail(p, w[0].col + w[0].len + 1, "%.*s needs a client", (int)w[0].len, w[0].s);
	struct scn_step *st = &s->steps[s->nsteps];
	memset(st, 0, sizeof *st);
	st->kind = kind;
	st->line = p->line;
	st->qos = 1;
	st->count = 1;
	if ((st->client = need_client(p, s, &w[1])) < 0)
		return -1;
	int i = 2;
	bool filter = kind == SCN_SUBSCRIBE || kind == SCN_UNSUBSCRIBE;
	if (filter || kind == SCN_PUBLISH) {
		if (n < 3 || memchr(w[2].s, '=', w[2].len))
			return fail(p, n < 3 ? w[1].col + w[1].len + 1 : w[2].col, "expected a topic %s",
			            filter ? "filter" : "name");
		if (w[2].len >= sizeof st->topic)
			return fail(p, w[2].col, "topic too long");
		enum mqtt_err e = filter
		        ? mqtt_check_topic_filter((const uint8_t *)w[2].s, w[2].len, NULL)
		        : mqtt_check_topic_name((const uint8_t *)w[2].s, w[2].len, NULL);
		if (e != MQTT_OK)
			return fail(p, w[2].col, "%s", mqtt_strerror(e));
		copy(st->topic, sizeof st->topic, &w[2]);
		i = 3;
	}
	if (kind == SCN_DISK) {
		if (n < 3 || !is(&w[2], "full"))
			return fail(p, n < 3 ? w[1].col + w[1].len + 1 : w[2].col,
			            "expected 'full' (disk CLIENT full at=DUR [for=DUR])");
		if (s->clients[st->client].store != SCN_STORE_FS)
			return fail(p, w[1].col, "%.*s has no disk: give it store=fs", (int)w[1].len, w[1].s);
		i = 3;
	}
	bool have_when = false;
	for (; i < n; i++) {
		struct word k, v;
		uint64_t x;
		if (!key_value(&w[i], &k, &v))
			return fail(p, w[i].col, "expected key=value");
		if (is(&k, "qos") && kind <= SCN_PUBLISH) {
			if (!to_u64(&v, &x) || x > 2)
				return fail(p, v.col, "qos= is 0, 1 or 2");
			st->qos = (uint8_t)x;
		} else if (is(&k, "count") && kind == SCN_PUBLISH) {
			if (!to_u64(&v, &x) || !x || x > 1000000)
				return fail(p, v.col, "count= is 1 to 1000000");
			st->count = (uint32_t)x;
		} else if (is(&k, "size") && kind == SCN_PUBLISH) {
			if (!to_u64(&v, &x) || x > 1 << 20)
				return fail(p, v.col, "size= is at most 1 MiB");
			st->size = (uint32_t)x;
		} else if (is(&k, "retain") && kind == SCN_PUBLISH) {
			if (!to_bool(&v, &st->retain))
				return fail(p, v.col, "retain= is yes or no");
		} else if (is(&k, "every") && kind == SCN_PUBLISH) {
			if (!to_ms(&v, &st->every_ms) || !st->every_ms)
				return fail(p, v.col, "every= needs a duration above 0");
		} else if (is(&k, "at")) {
			if (!to_ms(&v, &st->at_ms))
				return fail(p, v.col, "at= needs a duration (N, Nms, Ns, Nm)");
			have_when = true;
		} else if (is(&k, "after") && kind == SCN_CRASH) {
			size_t at;
			const char *why;
			if (mqtt_trigger_parse(&st->after, v.s, v.len, &at, &why) != 0)
				return fail(p, v.col + at, "%s", why);
			if (!st->after.type || st->after.count != 1)
				return fail(p, v.col, "after= needs one packet: TYPE#K");
			have_when = true;
		} else if (is(&k, "for") && kind == SCN_DISK) {
			if (!to_ms(&v, &st->for_ms) || !st->for_ms)
				return fail(p, v.col, "for= needs a duration above 0");
		} else if (is(&k, "damage") && kind == SCN_CRASH) {
			static const char *const kinds[] = {NULL, "torn", "flip", "vanish", "rename"};
			for (int d = 1; d <= 4; d++)
				if (is(&v, kinds[d]))
					st->damage = (enum scn_damage)d;
			if (!st->damage)
				return fail(p, v.col, "damage= is torn, flip, vanish or rename");
			if (s->clients[st->client].store != SCN_STORE_FS)
				return fail(p, k.col, "%.*s has no disk to damage: give it store=fs",
				            (int)w[1].len, w[1].s);
		} else if (is(&k, "restart") && kind == SCN_CRASH) {
			if (!to_ms(&v, &st->restart_ms) || !st->restart_ms)
				return fail(p, v.col, "restart= needs a duration above 0");
		} else {
			return fail(p, k.col, "unknown key %.*s for %.*s", (int)k.len, k.s, (int)w[0].len,
			            w[0].s);
		}
	}
	if ((kind == SCN_CRASH || kind == SCN_DISCONNECT || kind == SCN_DISK ||
	     kind == SCN_UNSUBSCRIBE) && !have_when)
		return fail(p, w[0].col, "%.*s needs at=%s", (int)w[0].len, w[0].s,
		            kind == SCN_CRASH ? " or after=" : "");
	/* A subscribe with at= is made during the workload (a late one). */
	st->late = (kind == SCN_SUBSCRIBE && have_when) || kind == SCN_UNSUBSCRIBE;
	s->nsteps++;
	return 0;
}

/*
 * crash broker at=DUR [restart=DUR] (SIGKILL, started again after DUR,
 * default at once) or restart broker at=DUR (SIGTERM, started again once
 * it stopped): a broker under test that a command runs (--broker-cmd).
 */
static int parse_broker_down(struct parser *p, struct scenario *s, struct word *w, int n)
{
	if (s->nsteps == SCN_MAX_STEPS)
		return fail(p, w[0].col, "at most %d workload lines", SCN_MAX_STEPS);
	struct scn_step *st = &s->steps[s->nsteps];
	memset(st, 0, sizeof *st);
	st->kind = SCN_BROKER_DOWN;
	st->graceful = is(&w[0], "restart");
	st->line = p->line;
	bool have_at = false;
	for (int i = 2; i < n; i++) {
		struct word k, v;
		if (!key_value(&w[i], &k, &v))
			return fail(p, w[i].col, "expected key=value");
		if (is(&k, "at")) {
			if (!to_ms(&v, &st->at_ms))
				return fail(p, v.col, "at= needs a duration (N, Nms, Ns, Nm)");
			have_at = true;
		} else if (is(&k, "restart") && !st->graceful) {
			if (!to_ms(&v, &st->restart_ms))
				return fail(p, v.col, "restart= needs a duration");
		} else {
			return fail(p, k.col, "unknown key %.*s for %s broker (at=%s)", (int)k.len, k.s,
			            st->graceful ? "restart" : "crash", st->graceful ? "" : ", restart=");
		}
	}
	if (!have_at)
		return fail(p, w[0].col, "%s broker needs at=", st->graceful ? "restart" : "crash");
	s->nsteps++;
	return 0;
}

bool scn_downs_broker(const struct scenario *s)
{
	for (int i = 0; i < s->nsteps; i++)
		if (s->steps[i].kind == SCN_BROKER_DOWN)
			return true;
	return false;
}

/* A packet-level line: expect TYPE.../send TYPE.../close/wait DUR, for the script's client. */
static int parse_packet_line(struct parser *p, struct scenario *s, struct word *w, int n,
                             enum scn_pkt_op op)
{
	if (!s->nclients)
		return fail(p, w[0].col, "declare the client first ('client NAME'), then its script");
	if (s->npkts == s->pkts_cap) {
		int cap = s->pkts_cap ? s->pkts_cap * 2 : 32;
		if (cap > 4096)
			return fail(p, w[0].col, "at most 4096 packet lines");
		struct scn_pkt *np = realloc(s->pkts, (size_t)cap * sizeof *np);
		if (!np)
			return fail(p, w[0].col, "out of memory");
		s->pkts = np;
		s->pkts_cap = cap;
	}
	struct scn_pkt *k = &s->pkts[s->npkts];
	memset(k, 0, sizeof *k);
	k->op = op;
	k->line = p->line;
	k->client = s->script_client;
	if (op == PKT_WAIT) {
		if (n != 2 || !to_ms(&w[1], &k->ms))
			return fail(p, n > 1 ? w[1].col : w[0].col, "wait needs a duration (N, Nms, Ns, Nm)");
	} else if (op == PKT_EXPECT || op == PKT_SEND) {
		struct scn_word sw[32];
		for (int i = 1; i < n; i++)
			sw[i - 1] = (struct scn_word){w[i].s, w[i].len, w[i].col};
		int bad = -1;
		char why[300];
		if (pscript_parse_packet(k, sw, n - 1, &bad, why, sizeof why) != 0)
			return fail(p, bad >= 0 ? w[bad + 1].col : w[0].col + w[0].len + 1, "%s", why);
		if (op == PKT_SEND && k->type == PKT_ANY)
			return fail(p, w[1].col, "send needs a packet type or hex, not any");
	} else if (n != 1) {
		return fail(p, w[1].col, "%.*s takes nothing more", (int)w[0].len, w[0].s);
	}
	s->scripted[k->client] = true;
	s->npkts++;
	return 0;
}

/* "expect CONNECT", "expect hex ..", "expect any", "expect close": packet-level. */
static bool packet_expectation(const struct word *w)
{
	return (w->len && w->s[0] >= 'A' && w->s[0] <= 'Z') || is(w, "hex") || is(w, "any") ||
	       is(w, "close");
}

static int parse_expect(struct parser *p, struct scenario *s, struct word *w, int n)
{
	if (n > 1 && packet_expectation(&w[1])) {
		if (is(&w[1], "close")) {
			if (n != 2)
				return fail(p, w[2].col, "expect close takes nothing more");
			return parse_packet_line(p, s, w + 1, 1, PKT_EXPECT_CLOSE);
		}
		return parse_packet_line(p, s, w, n, PKT_EXPECT);
	}
	if (s->nexpects == (int)(sizeof s->expects / sizeof s->expects[0]))
		return fail(p, w[0].col, "too many expectations");
	struct scn_expect *e = &s->expects[s->nexpects];
	memset(e, 0, sizeof *e);
	e->line = p->line;
	int i = 1;
	if (n > 1 && is(&w[1], "violation")) {
		e->violation = true;
		i = 2;
	}
	if (i >= n)
		return fail(p, w[i - 1].col + w[i - 1].len + 1, "expected an invariant: %s",
		            invariant_list());
	for (int k = 1; k < SCN_INVARIANT_COUNT; k++)
		if (is(&w[i], invariant_names[k]))
			e->what = (enum scn_invariant)k;
	if (!e->what)
		return fail(p, w[i].col, "unknown invariant %.*s; expected %s", (int)w[i].len, w[i].s,
		            invariant_list());
	i++;
	if (e->what == SCN_STATE) {
		static const char *const finals[] = {NULL, "online", "offline", "closed", "down"};
		if (e->violation)
			return fail(p, w[i - 1].col, "state is where a client ends, not a violation");
		if (i >= n || (e->client = need_client(p, s, &w[i])) < 0)
			return i >= n ? fail(p, w[i - 1].col, "state needs a client") : -1;
		if (++i >= n)
			return fail(p, w[i - 1].col + w[i - 1].len + 1,
			            "expected online, offline, closed or down (its process crashed)");
		for (int k = 1; k <= 4; k++)
			if (is(&w[i], finals[k]))
				e->state = (enum scn_final)k;
		if (!e->state)
			return fail(p, w[i].col, "expected online, offline, closed or down");
		e->inflight = -1;
		for (i++; i < n; i++) {
			struct word k, v;
			uint64_t x;
			if (!key_value(&w[i], &k, &v) || !is(&k, "inflight") || !to_u64(&v, &x) || x > 65535)
				return fail(p, w[i].col, "expected inflight=N");
			e->inflight = (long)x;
		}
		s->nexpects++;
		return 0;
	}
	if (e->what == SCN_RECONNECTS) {
		if (e->violation)
			return fail(p, w[i - 1].col, "reconnects is a count, not a violation");
		if (i >= n || (e->client = need_client(p, s, &w[i])) < 0)
			return i >= n ? fail(p, w[i - 1].col, "reconnects needs a client") : -1;
		e->max = UINT32_MAX;
		i++;
	}
	for (; i < n; i++) {
		struct word k, v;
		uint64_t x;
		if (!key_value(&w[i], &k, &v))
			return fail(p, w[i].col, "expected key=value");
		if (e->what == SCN_RECONNECTS && (is(&k, "min") || is(&k, "max"))) {
			if (!to_u64(&v, &x) || x > UINT32_MAX)
				return fail(p, v.col, "%.*s= needs a count", (int)k.len, k.s);
			*(k.s[1] == 'i' ? &e->min : &e->max) = (uint32_t)x;
		} else if (e->what == SCN_LIVE && is(&k, "within")) {
			if (!to_ms(&v, &s->live_within_ms) || !s->live_within_ms)
				return fail(p, v.col, "within= needs a duration above 0");
		} else if (e->what == SCN_QUIESCENT && is(&k, "within")) {
			if (!to_ms(&v, &s->quiet_within_ms) || !s->quiet_within_ms)
				return fail(p, v.col, "within= needs a duration above 0");
		} else {
			return fail(p, k.col, "unknown key %.*s for expect", (int)k.len, k.s);
		}
	}
	s->nexpects++;
	return 0;
}

static int parse_line(struct parser *p, struct scenario *s, const char *line, size_t len)
{
	struct word w[32];
	int n = 0;
	size_t i = strspn(line, " \t");
	if (i < len && line[i] == '#')
		return 0; /* a comment line; '#' elsewhere is a topic filter's */
	while (i < len) {
		while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
			i++;
		if (i == len)
			break;
		if (n == 32)
			return fail(p, i + 1, "too many words");
		size_t start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			i++;
		w[n++] = (struct word){line + start, i - start, start + 1};
	}
	if (!n)
		return 0;
	uint64_t x;
	if (is(&w[0], "client"))
		return parse_client(p, s, w, n);
	if (is(&w[0], "subscribe"))
		return parse_step(p, s, w, n, SCN_SUBSCRIBE);
	if (is(&w[0], "publish"))
		return parse_step(p, s, w, n, SCN_PUBLISH);
	if (is(&w[0], "clear")) {
		/* A zero-length retained PUBLISH: the broker forgets the topic's
		 * retained message [MQTT-3.3.1-10]. */
		for (int j = 2; j < n; j++) {
			struct word k, v;
			if (key_value(&w[j], &k, &v) && !is(&k, "qos") && !is(&k, "at"))
				return fail(p, k.col, "clear takes qos= and at= only");
		}
		if (parse_step(p, s, w, n, SCN_PUBLISH) != 0)
			return -1;
		s->steps[s->nsteps - 1].clear = true;
		s->steps[s->nsteps - 1].retain = true;
		return 0;
	}
	if ((is(&w[0], "crash") || is(&w[0], "restart")) && n > 1 && is(&w[1], "broker"))
		return parse_broker_down(p, s, w, n);
	if (is(&w[0], "crash"))
		return parse_step(p, s, w, n, SCN_CRASH);
	if (is(&w[0], "disconnect"))
		return parse_step(p, s, w, n, SCN_DISCONNECT);
	if (is(&w[0], "unsubscribe"))
		return parse_step(p, s, w, n, SCN_UNSUBSCRIBE);
	if (is(&w[0], "disk"))
		return parse_step(p, s, w, n, SCN_DISK);
	if (is(&w[0], "expect"))
		return parse_expect(p, s, w, n);
	if (is(&w[0], "send"))
		return parse_packet_line(p, s, w, n, PKT_SEND);
	if (is(&w[0], "close"))
		return parse_packet_line(p, s, w, n, PKT_CLOSE);
	if (is(&w[0], "wait"))
		return parse_packet_line(p, s, w, n, PKT_WAIT);
	if (is(&w[0], "script")) {
		int c;
		if (n != 2)
			return fail(p, w[0].col, "script needs a client: the packet lines that follow are "
			            "the broker's side of its connections");
		if ((c = need_client(p, s, &w[1])) < 0)
			return -1;
		s->script_client = c;
		return 0;
	}
	if (is(&w[0], "fault")) {
		int c;
		if (n < 3)
			return fail(p, w[0].col, "fault needs a client and a fault (docs/faults.md)");
		if ((c = need_client(p, s, &w[1])) < 0)
			return -1;
		struct mqtt_fault f;
		char why[300];
		size_t off = (size_t)(w[2].s - line);
		if (mqtt_fault_parse(&f, w[2].s, len - off, why, sizeof why) != 0) {
			/* The fault's own "column N:" is relative to its text. */
			size_t col = 0;
			const char *msg = why;
			if (sscanf(why, "column %zu:", &col) == 1)
				msg = strchr(why, ':') + 2;
			return fail(p, col ? off + col : w[2].col, "%s", msg);
		}
		f.line = p->line;
		if (mqtt_fault_plan_add(&s->clients[c].plan, &f, why, sizeof why) != 0)
			return fail(p, w[2].col, "%s", why);
		return 0;
	}
	if (is(&w[0], "rule")) {
		if (n < 2)
			return fail(p, w[0].col, "rule needs a fake-broker rule (docs/control.md)");
		if (s->nrules == 8)
			return fail(p, w[0].col, "at most 8 broker rules");
		size_t off = (size_t)(w[1].s - line);
		size_t rlen = len - off;
		while (rlen && (line[off + rlen - 1] == ' ' || line[off + rlen - 1] == '\r'))
			rlen--;
		if (rlen >= sizeof s->broker_rules[0])
			return fail(p, w[1].col, "rule too long");
		memcpy(s->broker_rules[s->nrules], line + off, rlen);
		s->broker_rules[s->nrules++][rlen] = 0;
		return 0;
	}
	if (is(&w[0], "broker")) {
		for (int j = 1; j < n; j++) {
			struct word k, v;
			if (!key_value(&w[j], &k, &v))
				return fail(p, w[j].col, "expected key=value (queue-max=, inflight-max=)");
			if (is(&k, "queue-max") && to_u64(&v, &x) && x)
				s->queue_max = (size_t)x;
			else if (is(&k, "inflight-max") && to_u64(&v, &x) && x && x <= 65535)
				s->inflight_max = (uint16_t)x;
			else
				return fail(p, w[j].col, "expected queue-max=N or inflight-max=N (1 to 65535)");
		}
		return 0;
	}
	if (is(&w[0], "network")) {
		for (int j = 1; j < n; j++) {
			struct word k, v;
			if (!key_value(&w[j], &k, &v) || !(is(&k, "latency") || is(&k, "jitter")) ||
			    !to_ms(&v, &x) || x > 60000)
				return fail(p, w[j].col, "expected latency=DUR or jitter=DUR (at most 60s)");
			*(k.s[0] == 'l' ? &s->latency_ms : &s->jitter_ms) = (uint32_t)x;
		}
		return 0;
	}
	if (is(&w[0], "limit")) {
		if (n != 2 || !to_ms(&w[1], &s->limit_ms) || !s->limit_ms)
			return fail(p, n > 1 ? w[1].col : w[0].col, "limit needs a duration above 0");
		return 0;
	}
	return fail(p, w[0].col, "unknown directive %.*s; expected client, broker, rule, network, "
	            "limit, subscribe, unsubscribe, publish, fault, crash, restart broker, disconnect, "
	            "disk, expect, script, send, close or wait",
	            (int)w[0].len, w[0].s);
}

int scenario_parse(struct scenario *s, const char *path, const char *text, char *err,
                   size_t errcap)
{
	memset(s, 0, sizeof *s);
	snprintf(s->path, sizeof s->path, "%s", path);
	s->jitter_ms = 2;
	s->limit_ms = 600000;
	s->live_within_ms = 120000;
	s->quiet_within_ms = 120000;
	struct parser p = {path, 0, err, errcap};
	const char *line = text;
	bool first_comment = true;
	while (*line) {
		p.line++;
		size_t len = strcspn(line, "\n");
		size_t lead = strspn(line, " \t");
		if (first_comment && lead < len && line[lead] == '#') {
			size_t skip = lead + 1 + strspn(line + lead + 1, " ");
			snprintf(s->description, sizeof s->description, "%.*s", (int)(len - skip), line + skip);
			first_comment = false;
		}
		if (parse_line(&p, s, line, len) != 0) {
			scenario_free(s);
			return -1;
		}
		line += len;
		if (*line == '\n')
			line++;
	}
	p.line = 1; /* what the whole file lacks is reported at its start */
	if (!s->nclients)
		return fail(&p, 1, "a scenario needs at least one client"), scenario_free(s), -1;
	if (s->npkts && s->nexpects < (int)(sizeof s->expects / sizeof s->expects[0])) {
		/* A script is its own expectation: every step, in order. */
		bool have = false;
		for (int i = 0; i < s->nexpects; i++)
			have |= s->expects[i].what == SCN_SCRIPT;
		if (!have)
			s->expects[s->nexpects++] = (struct scn_expect){.what = SCN_SCRIPT, .line = s->pkts[0].line};
	}
	if (!s->nexpects)
		return fail(&p, 1, "a scenario needs at least one 'expect'"), scenario_free(s), -1;
	return 0;
}

int scenario_load(struct scenario *s, const char *path, char *err, size_t errcap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	int rc = scenario_parse(s, path, n < 0 ? "" : text, err, errcap);
	free(text);
	return rc;
}

void scenario_free(struct scenario *s)
{
	free(s->pkts);
	s->pkts = NULL;
	s->npkts = s->pkts_cap = 0;
	for (int i = 0; i < SCN_MAX_CLIENTS; i++)
		mqtt_fault_plan_free(&s->clients[i].plan);
}
