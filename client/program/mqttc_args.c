/*
 * mqttc_args.c - mqttc's command line, durations, addresses and quoting
 * (mqttc_args.h).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttc_args.h"

struct flag {
	const char *name;
	enum { STRING, BOOL, REPEAT, DURATION, QOS } kind;
	size_t offset;
};

#define F(name, kind, field) {name, kind, offsetof(struct mqttc_args, field)}
static const struct flag flags[] = {
	F("ca", STRING, ca),           F("cert", STRING, cert),     F("client", STRING, client),
	F("key", STRING, key),         F("net", STRING, net),       F("pass", STRING, pass),
	F("prefix", STRING, prefix),   F("publish", STRING, publish), F("quiet", BOOL, quiet),
	F("quote", BOOL, quote),       F("server", STRING, server), F("subscribe", REPEAT, subscribe),
	F("suffix", STRING, suffix),   F("timeout", DURATION, timeout_ms), F("tls", BOOL, tls),
	F("topic", BOOL, topic),       F("user", STRING, user),     F("verbose", BOOL, verbose),
	F("qos", QOS, qos),            F("h", BOOL, help),          F("help", BOOL, help),
};
#undef F

int mqttc_parse_args(struct mqttc_args *a, int argc, char **argv, char *why, size_t cap)
{
	memset(a, 0, sizeof *a);
	a->client = "generated";
	a->net = "tcp";
	a->suffix = "\n";
	a->prefix = "";
	a->timeout_ms = 4000;
	int i = 1;
	for (; i < argc; i++) {
		const char *arg = argv[i];
		if (arg[0] != '-' || !arg[1])
			break; /* the address */
		if (!strcmp(arg, "--")) {
			i++;
			break;
		}
		const char *name = arg + 1 + (arg[1] == '-');
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const struct flag *f = NULL;
		for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
			if (strlen(flags[k].name) == nlen && !strncmp(flags[k].name, name, nlen))
				f = &flags[k];
		if (!f) {
			snprintf(why, cap, "flag provided but not defined: -%.*s", (int)nlen, name);
			return -1;
		}
		void *field = (char *)a + f->offset;
		if (f->kind == BOOL) {
			bool v = true;
			if (eq && (!strcmp(eq + 1, "false") || !strcmp(eq + 1, "0")))
				v = false;
			else if (eq && strcmp(eq + 1, "true") && strcmp(eq + 1, "1")) {
				snprintf(why, cap, "invalid boolean value \"%s\" for -%s", eq + 1, f->name);
				return -1;
			}
			*(bool *)field = v;
			continue;
		}
		const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
		if (!v) {
			snprintf(why, cap, "flag needs an argument: -%s", f->name);
			return -1;
		}
		switch (f->kind) {
		case STRING:
			*(const char **)field = v;
			break;
		case REPEAT:
			if (a->nsubscribe == MQTTC_SUBSCRIBE_MAX) {
				snprintf(why, cap, "at most %d -subscribe filters", MQTTC_SUBSCRIBE_MAX);
				return -1;
			}
			a->subscribe[a->nsubscribe++] = v;
			break;
		case DURATION:
			if (mqttc_duration(v, (uint64_t *)field) != 0) {
				snprintf(why, cap, "invalid value \"%s\" for flag -%s: a duration such as 4s "
				         "or 250ms", v, f->name);
				return -1;
			}
			break;
		case QOS:
			if (strlen(v) != 1 || v[0] < '0' || v[0] > '2') {
				snprintf(why, cap, "invalid value \"%s\" for flag -qos: 0, 1 or 2", v);
				return -1;
			}
			a->qos = v[0] - '0';
			break;
		case BOOL:
			break;
		}
	}
	if (a->help)
		return 0;
	if (argc - i != 1) {
		snprintf(why, cap, argc - i ? "one address argument, not %d" : "an address argument is "
		         "needed", argc - i);
		return -1;
	}
	a->address = argv[i];
	if (strcmp(a->net, "tcp") && strcmp(a->net, "tcp4") && strcmp(a->net, "tcp6") &&
	    strcmp(a->net, "unix")) {
		snprintf(why, cap, "unknown network %s; -net is tcp, tcp4, tcp6 or unix", a->net);
		return -1;
	}
	if ((a->cert != NULL) != (a->key != NULL)) {
		snprintf(why, cap, "-cert and -key go together");
		return -1;
	}
	if (!a->timeout_ms) {
		snprintf(why, cap, "-timeout must be above 0");
		return -1;
	}
	return 0;
}

int mqttc_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1}, {"s", 1000},
	             {"m", 60000}, {"h", 3600000}};
	double total = 0;
	if (!*s)
		return -1;
	if (!strcmp(s, "0")) {
		*ms = 0;
		return 0;
	}
	while (*s) {
		char *end;
		errno = 0;
		if ((*s < '0' || *s > '9') && *s != '.')
			return -1;
		double v = strtod(s, &end);
		if (errno || end == s)
			return -1;
		s = end;
		size_t best = 0;
		int which = -1;
		for (int k = 0; k < (int)(sizeof units / sizeof units[0]); k++) {
			size_t n = strlen(units[k].unit);
			if (!strncmp(s, units[k].unit, n) && n > best) {
				best = n;
				which = k;
			}
		}
		if (which < 0)
			return -1; /* a unit is required, as in Go */
		total += v * units[which].ms;
		s += best;
	}
	if (total > 1e15)
		return -1;
	*ms = (uint64_t)ceil(total);
	return 0;
}

int mqttc_host_port(const char *address, const char *default_port, char *host, size_t hostcap,
                    char *port, size_t portcap)
{
	const char *colon;
	if (address[0] == '[') {
		const char *close = strchr(address, ']');
		if (!close || (close[1] && close[1] != ':'))
			return -1;
		if ((size_t)(close - address - 1) >= hostcap)
			return -1;
		snprintf(host, hostcap, "%.*s", (int)(close - address - 1), address + 1);
		colon = close[1] ? close + 1 : NULL;
	} else {
		colon = strrchr(address, ':');
		if (colon && strchr(address, ':') != colon)
			return -1; /* a bare IPv6 address needs brackets */
		size_t hlen = colon ? (size_t)(colon - address) : strlen(address);
		if (hlen >= hostcap)
			return -1;
		snprintf(host, hostcap, "%.*s", (int)hlen, address);
	}
	if (!*host)
		snprintf(host, hostcap, "localhost"); /* ":1883": this machine, as Go dials it */
	const char *p = colon ? colon + 1 : default_port;
	if (!*p || strlen(p) >= portcap)
		return -1;
	snprintf(port, portcap, "%s", p);
	char *end;
	errno = 0;
	unsigned long n = strtoul(p, &end, 10);
	if (*end || errno || n < 1 || n > 65535 || !isdigit((unsigned char)*p))
		return -2;
	return 0;
}

/* The length of the UTF-8 sequence at s (of n bytes), or 0 when it is none. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
	size_t len = s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] < 0xf5 ? 4 : 0;
	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xf0 && s[1] < 0x90) ||
	    (s[0] == 0xf4 && s[1] > 0x8f) || (s[0] == 0xed && s[1] > 0x9f))
		return 0; /* overlong, beyond U+10FFFF, or a surrogate */
	return len;
}

size_t mqttc_quote(const uint8_t *s, size_t len, char *out, size_t cap)
{
	size_t at = 0;
#define PUT(...) (at += (size_t)snprintf(out + at, at < cap ? cap - at : 0, __VA_ARGS__), at = at < cap ? at : cap - 1)
	PUT("\"");
	for (size_t i = 0; i < len;) {
		uint8_t c = s[i];
		const char *esc = c == '\a' ? "\\a" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
		                  : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
		                  : c == '\v' ? "\\v" : c == '\\' ? "\\\\" : c == '"' ? "\\\"" : NULL;
		if (esc) {
			PUT("%s", esc);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			PUT("\\x%02x", c);
			i++;
		} else if (c < 0x80) {
			PUT("%c", c);
			i++;
		} else {
			size_t n = utf8_len(s + i, len - i);
			if (!n) {
				PUT("\\x%02x", c);
				i++;
			} else if (n == 2 && c == 0xc2 && s[i + 1] < 0xa0) {
				PUT("\\u%04x", s[i + 1]); /* a C1 control */
				i += 2;
			} else {
				PUT("%.*s", (int)n, (const char *)s + i);
				i += n;
			}
		}
	}
	PUT("\"");
#undef PUT
	return at;
}
