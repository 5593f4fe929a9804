/*
 * plan.c - fault plans in text: parsing with line and column, checks
 * that refuse impossible plans, and printing back (see mqttsim/faults.h).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "mqttsim/fault_engine.h"

static const struct {
	enum mqtt_fault_action action;
	const char *name;
	const char *keys; /* the action's own keys, space-separated */
} actions[] = {
	{MQTT_FAULT_DROP, "drop", ""},
	{MQTT_FAULT_RESET, "reset", ""},
	{MQTT_FAULT_HALF_CLOSE, "half-close", ""},
	{MQTT_FAULT_STALL, "stall", "ms"},
	{MQTT_FAULT_LATENCY, "latency", "ms jitter for"},
	{MQTT_FAULT_BANDWIDTH, "bandwidth", "rate for"},
	{MQTT_FAULT_PARTIAL_WRITE, "partial-write", "size for"},
	{MQTT_FAULT_PARTIAL_READ, "partial-read", "size for"},
	{MQTT_FAULT_CORRUPT, "corrupt", "size bits"},
	{MQTT_FAULT_TRUNCATE, "truncate", "size"},
	{MQTT_FAULT_DISCARD, "discard", ""},
	{MQTT_FAULT_EINTR, "eintr", ""},
	{MQTT_FAULT_EAGAIN, "eagain", ""},
};
#define NACTIONS (sizeof actions / sizeof actions[0])

const char *mqtt_fault_action_name(enum mqtt_fault_action a)
{
	for (size_t i = 0; i < NACTIONS; i++)
		if (actions[i].action == a)
			return actions[i].name;
	return "?";
}

static const char *action_keys(enum mqtt_fault_action a)
{
	for (size_t i = 0; i < NACTIONS; i++)
		if (actions[i].action == a)
			return actions[i].keys;
	return "";
}

__attribute__((format(printf, 4, 5)))
static int errorf(char *err, size_t cap, size_t col, const char *fmt, ...)
{
	if (err && cap) {
		char msg[300];
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

int mqtt_fault_check(const struct mqtt_fault *f, char *err, size_t errcap)
{
	if (!f->dirs || (f->dirs & ~(unsigned)(MQTT_C2B | MQTT_B2C)))
		return errorf(err, errcap, 0, "a fault needs a direction: c2b, b2c or both");
	if (f->action < MQTT_FAULT_DROP || f->action > MQTT_FAULT_EAGAIN)
		return errorf(err, errcap, 0, "unknown action");
	switch (f->when) {
	case MQTT_WHEN_BEFORE:
	case MQTT_WHEN_AFTER:
	case MQTT_WHEN_P_PACKET:
		if (f->packet.dirs && f->packet.dirs != f->dirs)
			return errorf(err, errcap, 0, "the trigger's direction differs from the fault's");
		if (!mqtt_trigger_possible(f->dirs, f->packet.type))
			return errorf(err, errcap, 0, "%s never travels %s: the trigger can never fire",
			              mqtt_type_name(f->packet.type), f->dirs == MQTT_C2B ? "c2b" : "b2c");
		break;
	default:
		break;
	}
	if ((f->when == MQTT_WHEN_P_PACKET || f->when == MQTT_WHEN_P_BYTE) &&
	    !(f->p > 0 && f->p <= 1))
		return errorf(err, errcap, 0, "a probability is above 0 and at most 1");
	if (f->when == MQTT_WHEN_TIME && f->time_ms == 0)
		return errorf(err, errcap, 0, "time= needs a duration above 0 (no trigger means from the start)");
	switch (f->action) {
	case MQTT_FAULT_STALL:
		if (!f->ms)
			return errorf(err, errcap, 0, "stall needs ms=N above 0");
		break;
	case MQTT_FAULT_LATENCY:
		if (!f->ms)
			return errorf(err, errcap, 0, "latency needs ms=N above 0");
		if (f->jitter_ms > f->ms)
			return errorf(err, errcap, 0, "jitter= is at most ms=");
		break;
	case MQTT_FAULT_BANDWIDTH:
		if (!f->rate)
			return errorf(err, errcap, 0, "bandwidth needs rate=B bytes per second above 0");
		break;
	default:
		break;
	}
	return 0;
}

/* N[ms|s|m]: a bare number is milliseconds. */
static bool parse_duration(const char *s, size_t len, uint64_t *ms)
{
	uint64_t v = 0;
	size_t i = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > (uint64_t)1 << 40)
			return false;
		i++;
	}
	if (i == 0)
		return false;
	size_t rest = len - i;
	if (rest == 0 || (rest == 2 && memcmp(s + i, "ms", 2) == 0))
		*ms = v;
	else if (rest == 1 && s[i] == 's')
		*ms = v * 1000;
	else if (rest == 1 && s[i] == 'm')
		*ms = v * 60000;
	else
		return false;
	return true;
}

/* Hex digits (at most 16), without the 0x. */
static bool parse_hex(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (!len || len > 16)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > UINT64_MAX / 10 - 9)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static bool parse_prob(const char *s, size_t len, double *out)
{
	char buf[32];
	if (!len || len >= sizeof buf)
		return false;
	memcpy(buf, s, len);
	buf[len] = 0;
	char *end;
	double v = strtod(buf, &end);
	if (*end || isnan(v))
		return false;
	*out = v;
	return true;
}

static bool key_is(const char *w, size_t klen, const char *name)
{
	return strlen(name) == klen && memcmp(w, name, klen) == 0;
}

static bool key_allowed(enum mqtt_fault_action a, const char *key, size_t klen)
{
	const char *keys = action_keys(a);
	while (*keys) {
		size_t n = strcspn(keys, " ");
		if (n == klen && memcmp(keys, key, n) == 0)
			return true;
		keys += n;
		while (*keys == ' ')
			keys++;
	}
	return false;
}

int mqtt_fault_parse(struct mqtt_fault *f, const char *line, size_t len, char *err, size_t errcap)
{
	memset(f, 0, sizeof *f);
	size_t i = 0, col;
	bool have_count = false, have_for = false;
	/* Key positions, to check against the action once it is known. */
	struct {
		const char *k;
		size_t klen, col;
	} action_keys_seen[8];
	size_t nseen = 0;
	int words = 0;
	while (i < len) {
		while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
			i++;
		if (i == len || line[i] == '#')
			break;
		size_t start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			i++;
		const char *w = line + start;
		size_t wlen = i - start;
		col = start + 1;
		words++;
		if (words == 1) {
			if (wlen == 3 && memcmp(w, "c2b", 3) == 0)
				f->dirs = MQTT_C2B;
			else if (wlen == 3 && memcmp(w, "b2c", 3) == 0)
				f->dirs = MQTT_B2C;
			else if (wlen == 4 && memcmp(w, "both", 4) == 0)
				f->dirs = MQTT_C2B | MQTT_B2C;
			else
				return errorf(err, errcap, col, "expected a direction: c2b, b2c or both");
			continue;
		}
		const char *eq = memchr(w, '=', wlen);
		if (!eq) {
			if (f->action)
				return errorf(err, errcap, col, "a second action; one fault a line");
			for (size_t a = 0; a < NACTIONS; a++)
				if (strlen(actions[a].name) == wlen && memcmp(actions[a].name, w, wlen) == 0)
					f->action = actions[a].action;
			if (!f->action)
				return errorf(err, errcap, col, "expected an action (drop, reset, half-close, "
				              "stall, latency, bandwidth, partial-write, partial-read, corrupt, "
				              "truncate, discard, eintr, eagain) or key=value");
			continue;
		}
		size_t klen = (size_t)(eq - w), vlen = wlen - klen - 1;
		const char *v = eq + 1;
		size_t vcol = col + klen + 1;
		uint64_t n;
		bool trigger_key = key_is(w, klen, "byte") || key_is(w, klen, "before") ||
		                   key_is(w, klen, "after") || key_is(w, klen, "time") ||
		                   key_is(w, klen, "p") || key_is(w, klen, "pbyte");
		if (trigger_key && f->when != MQTT_WHEN_START)
			return errorf(err, errcap, col, "a second trigger; one fault has at most one");
		if (key_is(w, klen, "byte")) {
			if (!parse_u64(v, vlen, &f->byte))
				return errorf(err, errcap, vcol, "byte= needs a stream offset (0 or more)");
			f->when = MQTT_WHEN_BYTE;
		} else if (key_is(w, klen, "before") || key_is(w, klen, "after")) {
			size_t at;
			const char *why;
			if (mqtt_trigger_parse(&f->packet, v, vlen, &at, &why) != 0)
				return errorf(err, errcap, vcol + at, "%s", why);
			f->when = w[0] == 'b' ? MQTT_WHEN_BEFORE : MQTT_WHEN_AFTER;
		} else if (key_is(w, klen, "time")) {
			if (!parse_duration(v, vlen, &f->time_ms) || !f->time_ms)
				return errorf(err, errcap, vcol, "time= needs a duration above 0 (N, Nms, Ns, Nm)");
			f->when = MQTT_WHEN_TIME;
		} else if (key_is(w, klen, "p") || key_is(w, klen, "pbyte")) {
			if (!parse_prob(v, vlen, &f->p) || !(f->p > 0 && f->p <= 1))
				return errorf(err, errcap, vcol, "%.*s= needs a probability above 0 and at most 1",
				              (int)klen, w);
			if (klen == 1) {
				f->when = MQTT_WHEN_P_PACKET;
			} else {
				f->when = MQTT_WHEN_P_BYTE;
			}
		} else if (key_is(w, klen, "packet")) {
			struct mqtt_trigger t;
			size_t at;
			const char *why;
			if (mqtt_trigger_parse(&t, v, vlen, &at, &why) != 0 || t.count != 0 || t.dirs)
				return errorf(err, errcap, vcol, "packet= needs a packet type (PUBLISH, ... ANY)");
			f->packet.type = t.type;
			f->packet.first = 1;
		} else if (key_is(w, klen, "conn")) {
			if (!parse_u64(v, vlen, &n) || n == 0 || n > UINT32_MAX)
				return errorf(err, errcap, vcol, "conn= needs a connection number from 1");
			f->conn = (uint32_t)n;
		} else if (key_is(w, klen, "count")) {
			if (!parse_u64(v, vlen, &n) || n == 0 || n > UINT32_MAX)
				return errorf(err, errcap, vcol, "count= needs a number above 0");
			f->count = (uint32_t)n;
			have_count = true;
		} else if (key_is(w, klen, "for") || key_is(w, klen, "ms") ||
		           key_is(w, klen, "jitter") || key_is(w, klen, "rate") ||
		           key_is(w, klen, "size") || key_is(w, klen, "bits")) {
			if (nseen == sizeof action_keys_seen / sizeof action_keys_seen[0])
				return errorf(err, errcap, col, "too many keys");
			action_keys_seen[nseen].k = w;
			action_keys_seen[nseen].klen = klen;
			action_keys_seen[nseen++].col = col;
			bool ok;
			if (key_is(w, klen, "for")) {
				ok = parse_duration(v, vlen, &f->for_ms) && f->for_ms > 0;
				have_for = true;
				if (!ok)
					return errorf(err, errcap, vcol, "for= needs a duration above 0 (N, Nms, Ns, Nm)");
			} else if (key_is(w, klen, "rate")) {
				if (!parse_u64(v, vlen, &f->rate) || !f->rate)
					return errorf(err, errcap, vcol, "rate= needs bytes per second above 0");
			} else if (key_is(w, klen, "bits")) {
				bool hex = vlen > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
				if (!(hex ? parse_hex(v + 2, vlen - 2, &n) : parse_u64(v, vlen, &n)) || !n || n > 255)
					return errorf(err, errcap, vcol, "bits= needs a mask of 1 to 255 (decimal or 0x hex)");
				f->bits = (uint8_t)n;
			} else {
				if (!parse_u64(v, vlen, &n) || n > UINT32_MAX || (n == 0 && !key_is(w, klen, "jitter")))
					return errorf(err, errcap, vcol, "%.*s= needs a number above 0", (int)klen, w);
				if (key_is(w, klen, "ms"))
					f->ms = (uint32_t)n;
				else if (key_is(w, klen, "jitter"))
					f->jitter_ms = (uint32_t)n;
				else
					f->size = (uint32_t)n;
			}
		} else {
			return errorf(err, errcap, col, "unknown key %.*s; expected byte=, before=, after=, "
			              "time=, p=, pbyte=, packet=, conn=, count=, for=, ms=, jitter=, rate=, "
			              "size= or bits=", (int)klen, w);
		}
	}
	if (words == 0)
		return errorf(err, errcap, 1, "empty fault; expected a direction");
	if (!f->action)
		return errorf(err, errcap, len + 1, "expected an action after the direction");
	for (size_t k = 0; k < nseen; k++)
		if (!key_allowed(f->action, action_keys_seen[k].k, action_keys_seen[k].klen))
			return errorf(err, errcap, action_keys_seen[k].col, "%.*s= does not belong to %s",
			              (int)action_keys_seen[k].klen, action_keys_seen[k].k,
			              mqtt_fault_action_name(f->action));
	if (f->packet.type && f->when != MQTT_WHEN_P_PACKET && f->when != MQTT_WHEN_BEFORE &&
	    f->when != MQTT_WHEN_AFTER)
		return errorf(err, errcap, 0, "packet= narrows p= only");
	(void)have_for;
	if (!have_count) {
		bool one_shot = f->when == MQTT_WHEN_BYTE || f->when == MQTT_WHEN_TIME ||
		                ((f->when == MQTT_WHEN_BEFORE || f->when == MQTT_WHEN_AFTER) &&
		                 f->packet.count == 1);
		f->count = one_shot ? 1 : 0;
	}
	if (f->when == MQTT_WHEN_BEFORE || f->when == MQTT_WHEN_AFTER || f->when == MQTT_WHEN_P_PACKET) {
		if (f->packet.dirs && f->packet.dirs != f->dirs)
			return errorf(err, errcap, 0, "the trigger's direction differs from the fault's");
	}
	return mqtt_fault_check(f, err, errcap);
}

int mqtt_fault_plan_add(struct mqtt_fault_plan *plan, const struct mqtt_fault *f, char *err,
                        size_t errcap)
{
	if (mqtt_fault_check(f, err, errcap) != 0)
		return -1;
	struct mqtt_fault *p = realloc(plan->faults, (plan->n + 1) * sizeof *p);
	if (!p)
		return errorf(err, errcap, 0, "out of memory");
	plan->faults = p;
	plan->faults[plan->n++] = *f;
	return 0;
}

int mqtt_fault_plan_parse(struct mqtt_fault_plan *plan, const char *text, char *err, size_t errcap)
{
	plan->faults = NULL;
	plan->n = 0;
	unsigned lineno = 0;
	const char *p = text;
	while (*p) {
		lineno++;
		size_t len = strcspn(p, "\n");
		size_t skip = strspn(p, " \t\r");
		if (skip < len && p[skip] != '#') {
			struct mqtt_fault f;
			char why[300];
			if (mqtt_fault_parse(&f, p, len, why, sizeof why) != 0 ||
			    (f.line = lineno, mqtt_fault_plan_add(plan, &f, why, sizeof why)) != 0) {
				if (err && errcap)
					snprintf(err, errcap, "line %u, %s", lineno, why);
				mqtt_fault_plan_free(plan);
				return -1;
			}
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	return 0;
}

void mqtt_fault_plan_free(struct mqtt_fault_plan *plan)
{
	free(plan->faults);
	plan->faults = NULL;
	plan->n = 0;
}

static int format_duration(char *buf, size_t cap, uint64_t ms)
{
	if (ms % 60000 == 0)
		return snprintf(buf, cap, "%llum", (unsigned long long)(ms / 60000));
	if (ms % 1000 == 0)
		return snprintf(buf, cap, "%llus", (unsigned long long)(ms / 1000));
	return snprintf(buf, cap, "%llums", (unsigned long long)ms);
}

int mqtt_fault_format(const struct mqtt_fault *f, char *buf, size_t cap)
{
	char out[512], tmp[64];
	size_t n = 0;
#define PUT(...) (n += (size_t)snprintf(out + n, n < sizeof out ? sizeof out - n : 0, __VA_ARGS__))
	PUT("%s", f->dirs == MQTT_C2B ? "c2b" : f->dirs == MQTT_B2C ? "b2c" : "both");
	struct mqtt_trigger t = f->packet;
	t.dirs = 0; /* the fault's direction says it */
	switch (f->when) {
	case MQTT_WHEN_BYTE:
		PUT(" byte=%llu", (unsigned long long)f->byte);
		break;
	case MQTT_WHEN_BEFORE:
	case MQTT_WHEN_AFTER:
		t.count = t.count > 1 ? 1 : t.count; /* count= below says the rest */
		mqtt_trigger_format(&t, tmp, sizeof tmp);
		PUT(" %s=%s", f->when == MQTT_WHEN_BEFORE ? "before" : "after", tmp);
		break;
	case MQTT_WHEN_TIME:
		format_duration(tmp, sizeof tmp, f->time_ms);
		PUT(" time=%s", tmp);
		break;
	case MQTT_WHEN_P_PACKET:
		PUT(" p=%.17g", f->p);
		if (f->packet.type)
			PUT(" packet=%s", mqtt_type_name(f->packet.type));
		break;
	case MQTT_WHEN_P_BYTE:
		PUT(" pbyte=%.17g", f->p);
		break;
	case MQTT_WHEN_START:
		break;
	}
	PUT(" %s", mqtt_fault_action_name(f->action));
	if (f->ms)
		PUT(" ms=%u", (unsigned)f->ms);
	if (f->jitter_ms)
		PUT(" jitter=%u", (unsigned)f->jitter_ms);
	if (f->rate)
		PUT(" rate=%llu", (unsigned long long)f->rate);
	if (f->size)
		PUT(" size=%u", (unsigned)f->size);
	if (f->bits)
		PUT(" bits=0x%02x", (unsigned)f->bits);
	if (f->for_ms) {
		format_duration(tmp, sizeof tmp, f->for_ms);
		PUT(" for=%s", tmp);
	}
	if (f->conn)
		PUT(" conn=%u", (unsigned)f->conn);
	bool one_shot = f->when == MQTT_WHEN_BYTE || f->when == MQTT_WHEN_TIME ||
	                ((f->when == MQTT_WHEN_BEFORE || f->when == MQTT_WHEN_AFTER) &&
	                 f->packet.count == 1);
	if (f->count != (one_shot ? 1u : 0u))
		PUT(" count=%u", (unsigned)f->count);
#undef PUT
	if (cap)
		snprintf(buf, cap, "%s", out);
	return (int)n;
}

int mqtt_fault_plan_format(const struct mqtt_fault_plan *plan, char *buf, size_t cap)
{
	size_t used = 0;
	if (cap)
		buf[0] = 0;
	for (size_t i = 0; i < plan->n; i++) {
		char line[600];
		int len = mqtt_fault_format(&plan->faults[i], line, sizeof line);
		if (len < 0)
			continue;
		if (used + (size_t)len + 1 < cap) {
			memcpy(buf + used, line, (size_t)len);
			buf[used + (size_t)len] = '\n';
			buf[used + (size_t)len + 1] = 0;
		}
		used += (size_t)len + 1;
	}
	return (int)used;
}
