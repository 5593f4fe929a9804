/*
 * trigger.c - the packet-trigger syntax (see mqttsim/trigger.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mqttsim/codec.h"
#include "mqttsim/trigger.h"

static int fail(size_t at, const char *msg, size_t *error_at, const char **why)
{
	if (error_at)
		*error_at = at;
	if (why)
		*why = msg;
	return -1;
}

/* The packet type named by s[0..n), 0 for ANY, -1 when unknown. */
static int type_by_name(const char *s, size_t n)
{
	if (n == 3 && strncasecmp(s, "ANY", 3) == 0)
		return 0;
	for (unsigned t = MQTT_CONNECT; t <= MQTT_DISCONNECT; t++) {
		const char *name = mqtt_type_name(t);
		if (strlen(name) == n && strncasecmp(s, name, n) == 0)
			return (int)t;
	}
	return -1;
}

int mqtt_trigger_parse(struct mqtt_trigger *t, const char *text, size_t len, size_t *error_at,
                       const char **why)
{
	size_t i = 0;
	memset(t, 0, sizeof *t);
	t->first = 1;
	if (len >= 4 && text[3] == ':') {
		if (strncasecmp(text, "c2b", 3) == 0)
			t->dirs = MQTT_C2B;
		else if (strncasecmp(text, "b2c", 3) == 0)
			t->dirs = MQTT_B2C;
		else
			return fail(0, "expected c2b: or b2c: before the packet type", error_at, why);
		i = 4;
	}
	size_t name_start = i;
	while (i < len && text[i] != '#')
		i++;
	int type = type_by_name(text + name_start, i - name_start);
	if (type < 0)
		return fail(name_start, "expected a packet type (CONNECT, PUBLISH, PUBACK, ... or ANY)",
		            error_at, why);
	t->type = (uint8_t)type;
	if (i == len)
		return 0; /* every matching packet: first 1, no end */
	i++; /* '#' */
	uint64_t k = 0;
	size_t digits = i;
	while (i < len && text[i] >= '0' && text[i] <= '9') {
		k = k * 10 + (uint64_t)(text[i] - '0');
		if (k > UINT32_MAX)
			return fail(digits, "ordinal too large", error_at, why);
		i++;
	}
	if (i == digits || k == 0)
		return fail(digits, "expected an ordinal of 1 or more after '#'", error_at, why);
	t->first = (uint32_t)k;
	t->count = 1;
	if (i < len && text[i] == '+') {
		t->count = 0;
		i++;
	}
	if (i != len)
		return fail(i, "unexpected text after the trigger", error_at, why);
	return 0;
}

int mqtt_trigger_format(const struct mqtt_trigger *t, char *buf, size_t cap)
{
	const char *dir = t->dirs == MQTT_C2B ? "c2b:" : t->dirs == MQTT_B2C ? "b2c:" : "";
	const char *type = t->type ? mqtt_type_name(t->type) : "ANY";
	if (t->count == 0 && t->first == 1)
		return snprintf(buf, cap, "%s%s", dir, type);
	if (t->count == 0)
		return snprintf(buf, cap, "%s%s#%u+", dir, type, (unsigned)t->first);
	if (t->count == 1)
		return snprintf(buf, cap, "%s%s#%u", dir, type, (unsigned)t->first);
	return snprintf(buf, cap, "%s%s#%u count=%u", dir, type, (unsigned)t->first,
	                (unsigned)t->count);
}

bool mqtt_trigger_hit(struct mqtt_trigger *t, unsigned dir, unsigned type)
{
	if (t->dirs && !(t->dirs & dir))
		return false;
	if (t->type && t->type != type)
		return false;
	t->seen++;
	if (t->seen < t->first)
		return false;
	return t->count == 0 || t->seen - t->first < t->count;
}

bool mqtt_trigger_spent(const struct mqtt_trigger *t)
{
	return t->count != 0 && t->seen >= (uint64_t)t->first + t->count - 1;
}

bool mqtt_trigger_possible(unsigned dirs, unsigned type)
{
	bool to_broker_only = type == MQTT_CONNECT || type == MQTT_SUBSCRIBE ||
	                      type == MQTT_UNSUBSCRIBE || type == MQTT_PINGREQ ||
	                      type == MQTT_DISCONNECT;
	bool to_client_only = type == MQTT_CONNACK || type == MQTT_SUBACK ||
	                      type == MQTT_UNSUBACK || type == MQTT_PINGRESP;
	if (dirs == MQTT_C2B)
		return !to_client_only;
	if (dirs == MQTT_B2C)
		return !to_broker_only;
	return true;
}
