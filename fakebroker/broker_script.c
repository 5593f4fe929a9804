/*
 * broker_script.c - rules that make the broker misbehave on purpose
 * (see SCRIPTING in mqttsim/broker.h), in C and in their text syntax.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"

static const struct {
	enum mqtt_broker_action action;
	const char *name;
} actions[] = {
	{MQTT_ACT_REFUSE, "refuse"},
	{MQTT_ACT_WITHHOLD, "withhold"},
	{MQTT_ACT_DELAY, "delay"},
	{MQTT_ACT_DUPLICATE, "duplicate"},
	{MQTT_ACT_REORDER, "reorder"},
	{MQTT_ACT_CLOSE_BEFORE, "close"},
	{MQTT_ACT_CLOSE_AFTER, "close"},
	{MQTT_ACT_STOP_READING, "stop-reading"},
	{MQTT_ACT_DELIVER_TWICE, "deliver-twice"},
	{MQTT_ACT_DROP, "drop"},
	{MQTT_ACT_REFUSE_SUBSCRIBE, "refuse-subscribe"},
};

static const char *action_name(enum mqtt_broker_action a)
{
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (actions[i].action == a)
			return actions[i].name;
	return "?";
}

/* Writes "column N: message" (or the message alone when col is 0) to err; returns -1. */
__attribute__((format(printf, 4, 5)))
static int errorf(char *err, size_t cap, size_t col, const char *fmt, ...)
{
	if (err && cap) {
		char msg[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		if (col)
			snprintf(err, cap, "column %zu: %s", col, msg);
		else
			snprintf(err, cap, "%s", msg);
	}
	return -1;
}

int mqtt_broker_rule_add(struct mqtt_broker *b, const struct mqtt_broker_rule *in, char *err,
                         size_t errcap)
{
	struct mqtt_broker_rule r = *in;
	r.trigger.seen = 0;
	switch (r.action) {
	case MQTT_ACT_REFUSE:
		if (r.code < 1 || r.code > 5)
			return errorf(err, errcap, 0, "a CONNACK refusal code is 1 to 5");
		break;
	case MQTT_ACT_REFUSE_SUBSCRIBE:
		if (!r.filter || mqtt_check_topic_filter((const uint8_t *)r.filter, strlen(r.filter),
		                                         NULL) != MQTT_OK)
			return errorf(err, errcap, 0, "refuse-subscribe needs a valid topic filter");
		break;
	case MQTT_ACT_WITHHOLD:
	case MQTT_ACT_DELAY:
	case MQTT_ACT_DUPLICATE:
	case MQTT_ACT_REORDER:
	case MQTT_ACT_DELIVER_TWICE:
	case MQTT_ACT_DROP:
		if (r.trigger.dirs & MQTT_C2B)
			return errorf(err, errcap, 0, "%s acts on packets the broker sends (b2c)",
			              action_name(r.action));
		r.trigger.dirs = MQTT_B2C;
		if (r.action == MQTT_ACT_DELIVER_TWICE || r.action == MQTT_ACT_DROP) {
			if (r.trigger.type && r.trigger.type != MQTT_PUBLISH)
				return errorf(err, errcap, 0, "%s acts on PUBLISH only", action_name(r.action));
			r.trigger.type = MQTT_PUBLISH;
		}
		if (r.action == MQTT_ACT_DELAY && !r.delay_ms)
			return errorf(err, errcap, 0, "delay needs ms=N with N above 0");
		break;
	case MQTT_ACT_STOP_READING:
		if (r.trigger.dirs & MQTT_B2C)
			return errorf(err, errcap, 0, "stop-reading acts on packets clients send (c2b)");
		r.trigger.dirs = MQTT_C2B;
		break;
	case MQTT_ACT_CLOSE_BEFORE:
	case MQTT_ACT_CLOSE_AFTER:
		if (!r.trigger.dirs)
			r.trigger.dirs = MQTT_C2B | MQTT_B2C;
		break;
	default:
		return errorf(err, errcap, 0, "unknown action");
	}
	if (r.action != MQTT_ACT_REFUSE && r.action != MQTT_ACT_REFUSE_SUBSCRIBE && r.trigger.type) {
		/* A trigger that can never fire is refused before it runs. */
		if (!mqtt_trigger_possible(r.trigger.dirs, r.trigger.type))
			return errorf(err, errcap, 0, "%s never send%s %s",
			              r.trigger.dirs == MQTT_B2C ? "the broker" : "clients",
			              r.trigger.dirs == MQTT_B2C ? "s" : "", mqtt_type_name(r.trigger.type));
	}
	struct brule *rule = calloc(1, sizeof *rule);
	if (!rule)
		return errorf(err, errcap, 0, "out of memory");
	if (r.client_id && *r.client_id && !(rule->client_id = strdup(r.client_id)))
		goto oom;
	if (r.filter && !(rule->filter = strdup(r.filter)))
		goto oom;
	r.client_id = rule->client_id;
	r.filter = rule->filter;
	if (r.action == MQTT_ACT_REFUSE && !r.count)
		r.count = 1;
	rule->r = r;
	rule->id = b->next_rule_id++;
	struct brule **pp = &b->rules; /* in order: the first rule added acts first */
	while (*pp)
		pp = &(*pp)->next;
	*pp = rule;
	return rule->id;
oom:
	free(rule->client_id);
	free(rule);
	return errorf(err, errcap, 0, "out of memory");
}

static void rule_free(struct brule *r)
{
	free(r->client_id);
	free(r->filter);
	free(r);
}

int mqtt_broker_rule_remove(struct mqtt_broker *b, int id)
{
	int found = -1;
	for (struct brule **pp = &b->rules; *pp;) {
		struct brule *r = *pp;
		if (id == 0 || r->id == id) {
			*pp = r->next;
			rule_free(r);
			found = 0;
		} else {
			pp = &r->next;
		}
	}
	return id == 0 ? 0 : found;
}

void script_free(struct mqtt_broker *b)
{
	mqtt_broker_rule_remove(b, 0);
}

/* Splits the next space-separated word off *p. */
static bool next_word(const char **p, const char **word, size_t *len)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (!**p || **p == '\n' || **p == '\r')
		return false;
	*word = *p;
	while (**p && **p != ' ' && **p != '\t' && **p != '\n' && **p != '\r')
		(*p)++;
	*len = (size_t)(*p - *word);
	return true;
}

static bool parse_uint(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

int mqtt_broker_rule(struct mqtt_broker *b, const char *text, char *err, size_t errcap)
{
	struct mqtt_broker_rule r = {0};
	char client[256] = "", filter[1024] = "";
	const char *p = text, *w;
	size_t len;
	if (!next_word(&p, &w, &len))
		return errorf(err, errcap, 0, "empty rule; expected an action (refuse, withhold, delay, "
		              "duplicate, reorder, close, stop-reading, deliver-twice, drop, "
		              "refuse-subscribe)");
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strlen(actions[i].name) == len && memcmp(actions[i].name, w, len) == 0) {
			r.action = actions[i].action;
			break;
		}
	if (!r.action)
		return errorf(err, errcap, 1, "unknown action; expected refuse, withhold, delay, "
		              "duplicate, reorder, close, stop-reading, deliver-twice, drop or "
		              "refuse-subscribe");
	bool when_after = false;
	/* The positional argument: a code, a filter, or a trigger. */
	if (!next_word(&p, &w, &len))
		return errorf(err, errcap, (size_t)(p - text) + 1, "%s needs an argument after it",
		              action_name(r.action));
	size_t col = (size_t)(w - text) + 1;
	if (r.action == MQTT_ACT_REFUSE) {
		uint32_t code;
		if (!parse_uint(w, len, &code) || code < 1 || code > 5)
			return errorf(err, errcap, col, "expected a CONNACK refusal code 1 to 5");
		r.code = (uint8_t)code;
	} else if (r.action == MQTT_ACT_REFUSE_SUBSCRIBE) {
		if (len >= sizeof filter)
			return errorf(err, errcap, col, "topic filter too long");
		memcpy(filter, w, len);
		filter[len] = 0;
		r.filter = filter;
	} else {
		size_t at;
		const char *why;
		if (mqtt_trigger_parse(&r.trigger, w, len, &at, &why) != 0)
			return errorf(err, errcap, col + at, "%s", why);
	}
	while (next_word(&p, &w, &len)) {
		col = (size_t)(w - text) + 1;
		const char *eq = memchr(w, '=', len);
		if (!eq)
			return errorf(err, errcap, col, "expected key=value (client=, count=, ms=, when=)");
		size_t klen = (size_t)(eq - w), vlen = len - klen - 1;
		const char *v = eq + 1;
		uint32_t n;
		if (klen == 6 && memcmp(w, "client", 6) == 0) {
			if (!vlen || vlen >= sizeof client)
				return errorf(err, errcap, col, "client= needs an identifier of 1 to 255 bytes");
			memcpy(client, v, vlen);
			client[vlen] = 0;
			r.client_id = client;
		} else if (klen == 5 && memcmp(w, "count", 5) == 0) {
			if (!parse_uint(v, vlen, &n) || !n)
				return errorf(err, errcap, col, "count= needs a number above 0");
			r.count = n;
			r.trigger.count = n;
		} else if (klen == 2 && memcmp(w, "ms", 2) == 0) {
			if (r.action != MQTT_ACT_DELAY)
				return errorf(err, errcap, col, "ms= belongs to delay only");
			if (!parse_uint(v, vlen, &n) || !n)
				return errorf(err, errcap, col, "ms= needs a number of milliseconds above 0");
			r.delay_ms = n;
		} else if (klen == 4 && memcmp(w, "when", 4) == 0) {
			if (r.action != MQTT_ACT_CLOSE_BEFORE)
				return errorf(err, errcap, col, "when= belongs to close only");
			if (vlen == 6 && memcmp(v, "before", 6) == 0)
				when_after = false;
			else if (vlen == 5 && memcmp(v, "after", 5) == 0)
				when_after = true;
			else
				return errorf(err, errcap, col + 5, "when= is before or after");
		} else {
			return errorf(err, errcap, col, "unknown key; expected client=, count=, ms= or when=");
		}
	}
	if (r.action == MQTT_ACT_CLOSE_BEFORE && when_after)
		r.action = MQTT_ACT_CLOSE_AFTER;
	return mqtt_broker_rule_add(b, &r, err, errcap);
}

int mqtt_broker_rules_format(const struct mqtt_broker *b, char *buf, size_t cap)
{
	size_t used = 0;
	for (const struct brule *rule = b->rules; rule; rule = rule->next) {
		const struct mqtt_broker_rule *r = &rule->r;
		char line[1400], arg[1100] = "", extra[300] = "";
		if (r->action == MQTT_ACT_REFUSE)
			snprintf(arg, sizeof arg, "%u", r->code);
		else if (r->action == MQTT_ACT_REFUSE_SUBSCRIBE)
			snprintf(arg, sizeof arg, "%s", r->filter);
		else
			mqtt_trigger_format(&r->trigger, arg, sizeof arg);
		int n = 0;
		if (r->client_id)
			n += snprintf(extra + n, sizeof extra - (size_t)n, " client=%s", r->client_id);
		if ((r->action == MQTT_ACT_REFUSE || r->action == MQTT_ACT_REFUSE_SUBSCRIBE) &&
		    r->count > 1)
			n += snprintf(extra + n, sizeof extra - (size_t)n, " count=%u", (unsigned)r->count);
		if (r->action == MQTT_ACT_DELAY)
			n += snprintf(extra + n, sizeof extra - (size_t)n, " ms=%u", (unsigned)r->delay_ms);
		if (r->action == MQTT_ACT_CLOSE_AFTER)
			snprintf(extra + n, sizeof extra - (size_t)n, " when=after");
		int len = snprintf(line, sizeof line, "%d: %s %s%s\n", rule->id, action_name(r->action),
		                   arg, extra);
		if (len > 0) {
			if (used + (size_t)len < cap)
				memcpy(buf + used, line, (size_t)len + 1);
			used += (size_t)len;
		}
	}
	if (cap && used < cap)
		buf[used] = 0;
	else if (cap)
		buf[cap - 1] = 0;
	return (int)used;
}

static bool client_matches(const struct brule *r, const char *client_id)
{
	return !r->client_id || strcmp(r->client_id, client_id) == 0;
}

static void remove_rule(struct mqtt_broker *b, struct brule *rule)
{
	for (struct brule **pp = &b->rules; *pp; pp = &(*pp)->next) {
		if (*pp == rule) {
			*pp = rule->next;
			rule_free(rule);
			return;
		}
	}
}

/*
 * Counts a packet against every rule whose action is in mask and
 * returns the first rule that fires (spent rules are removed later by
 * the caller through done()).
 */
static struct brule *fire(struct mqtt_broker *b, unsigned mask, unsigned dir, unsigned type,
                          const char *client_id)
{
	struct brule *hit = NULL;
	for (struct brule *r = b->rules; r; r = r->next) {
		if (!(mask & (1u << r->r.action)) || !client_matches(r, client_id))
			continue;
		if (mqtt_trigger_hit(&r->r.trigger, dir, type) && !hit)
			hit = r;
	}
	return hit;
}

static void done(struct mqtt_broker *b, struct brule *r)
{
	if (mqtt_trigger_spent(&r->r.trigger))
		remove_rule(b, r);
}

#define BIT(a) (1u << (a))

/* Appends a copy of a packet and counts and records it. */
static void place(struct bconn *c, const uint8_t *bytes, size_t len)
{
	uint8_t *dst = bbuf_reserve(&c->out, len);
	if (!dst)
		return;
	memcpy(dst, bytes, len);
	c->out.len += len;
	c->b->stats.packets_out++;
	if (c->b->cfg.record)
		record_packet(c, MQTT_B2C, bytes[0] >> 4, bytes, len);
}

void script_outgoing(struct bconn *c, uint8_t type, size_t start, size_t len)
{
	struct mqtt_broker *b = c->b;
	const unsigned mask = BIT(MQTT_ACT_WITHHOLD) | BIT(MQTT_ACT_DELAY) |
	                      BIT(MQTT_ACT_DUPLICATE) | BIT(MQTT_ACT_REORDER) |
	                      BIT(MQTT_ACT_CLOSE_BEFORE) | BIT(MQTT_ACT_CLOSE_AFTER);
	struct brule *r = fire(b, mask, MQTT_B2C, type, mqtt_bconn_client_id((struct mqtt_bconn *)c));
	enum mqtt_broker_action act = r ? r->r.action : 0;
	uint32_t delay_ms = r ? r->r.delay_ms : 0;
	if (r) {
		broker_logf(b, c, "rule %d: %s %s", r->id, action_name(act), mqtt_type_name(type));
		done(b, r);
	}
	uint8_t *bytes = c->out.data + start;
	switch (act) {
	case MQTT_ACT_WITHHOLD:
		c->out.len = start;
		return;
	case MQTT_ACT_DELAY: {
		struct bdelayed *d = malloc(sizeof *d + len), **pp = &c->delayed;
		c->out.len = start;
		if (!d)
			return;
		d->next = NULL;
		d->due = b->now + delay_ms;
		d->len = len;
		memcpy(d->bytes, bytes, len);
		while (*pp) /* in order of release */
			pp = &(*pp)->next;
		*pp = d;
		broker_deadline(b, d->due);
		return;
	}
	case MQTT_ACT_REORDER:
		if (!c->held) {
			c->held = malloc(len);
			if (c->held) {
				memcpy(c->held, bytes, len);
				c->held_len = len;
				c->out.len = start;
				return;
			}
		}
		break; /* one packet held at a time: this one goes out in order */
	case MQTT_ACT_CLOSE_BEFORE:
		c->out.len = start;
		broker_close(c, "closed by rule before sending the packet");
		return;
	default:
		break;
	}
	b->stats.packets_out++;
	if (b->cfg.record)
		record_packet(c, MQTT_B2C, type, bytes, len);
	if (act == MQTT_ACT_DUPLICATE) {
		uint8_t *copy = malloc(len);
		if (copy) {
			memcpy(copy, c->out.data + start, len);
			place(c, copy, len);
			free(copy);
		}
	}
	if (c->held && act != MQTT_ACT_REORDER) {
		uint8_t *held = c->held;
		c->held = NULL;
		place(c, held, c->held_len);
		free(held);
	}
	if (act == MQTT_ACT_CLOSE_AFTER)
		broker_close(c, "closed by rule after sending the packet");
}

int script_incoming(struct bconn *c, uint8_t type)
{
	struct mqtt_broker *b = c->b;
	const unsigned mask = BIT(MQTT_ACT_CLOSE_BEFORE) | BIT(MQTT_ACT_CLOSE_AFTER) |
	                      BIT(MQTT_ACT_STOP_READING);
	struct brule *r = fire(b, mask, MQTT_C2B, type, mqtt_bconn_client_id((struct mqtt_bconn *)c));
	if (!r)
		return 0;
	int act = (int)r->r.action;
	broker_logf(b, c, "rule %d: %s on %s", r->id, action_name(r->r.action), mqtt_type_name(type));
	done(b, r);
	return act;
}

uint8_t script_refusal(struct mqtt_broker *b, const uint8_t *client_id, size_t len)
{
	for (struct brule *r = b->rules; r; r = r->next) {
		if (r->r.action != MQTT_ACT_REFUSE)
			continue;
		if (r->client_id && (strlen(r->client_id) != len || memcmp(r->client_id, client_id, len)))
			continue;
		uint8_t code = r->r.code;
		if (--r->r.count == 0)
			remove_rule(b, r);
		return code;
	}
	return 0;
}

bool script_refuse_subscribe(struct mqtt_broker *b, const struct bsession *s,
                             const uint8_t *filter, size_t len)
{
	for (struct brule *r = b->rules; r; r = r->next) {
		if (r->r.action != MQTT_ACT_REFUSE_SUBSCRIBE || !client_matches(r, s->client_id))
			continue;
		if (strlen(r->filter) != len || memcmp(r->filter, filter, len) != 0)
			continue;
		if (r->r.count && --r->r.count == 0)
			remove_rule(b, r);
		return true;
	}
	return false;
}

int script_delivery(struct mqtt_broker *b, const struct bsession *s)
{
	struct brule *r = fire(b, BIT(MQTT_ACT_DELIVER_TWICE) | BIT(MQTT_ACT_DROP), MQTT_B2C,
	                       MQTT_PUBLISH, s->client_id);
	if (!r)
		return 0;
	int act = (int)r->r.action;
	done(b, r);
	return act;
}
