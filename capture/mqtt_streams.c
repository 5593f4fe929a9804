/*
 * mqtt_streams.c - MQTT packets out of a capture's TCP streams: which
 * streams are MQTT, and framing each direction by remaining length.
 */
#include "mqtt_streams.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "reader.h"

#define FRAMER_MAX (4u << 20) /* the largest packet framed: 4 MiB */

struct half_state {
	struct mqtt_framer f;
	uint8_t *buf;
	bool lost;           /* after a gap or unframeable bytes: nothing more */
	bool seen;           /* any byte yet (CONNECT sniffing looks at the first) */
	uint64_t last_frame; /* the last record that brought bytes */
};

struct stream_state {
	bool mqtt;
	bool v31;            /* the CONNECT said MQIsdp / level 3 */
	uint16_t port[2];
	struct half_state h[2];
};

struct reading {
	const uint16_t *ports;
	int nports;
	const struct mqtt_streams_ops *ops;
	void *arg;
	struct stream_state *s;
	size_t ns;
	uint64_t ts_us;      /* the time of the record being read */
	bool problems, oom;
};

__attribute__((format(printf, 2, 3)))
static void problem(struct reading *r, const char *fmt, ...)
{
	char text[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	r->problems = true;
	if (r->ops->problem)
		r->ops->problem(r->arg, text);
}

static struct stream_state *state(struct reading *r, unsigned id)
{
	if (id >= r->ns) {
		size_t n = (size_t)id + 16;
		struct stream_state *ns = realloc(r->s, n * sizeof *ns);
		if (!ns) {
			r->oom = true;
			return NULL;
		}
		memset(ns + r->ns, 0, (n - r->ns) * sizeof *ns);
		r->s = ns;
		r->ns = n;
	}
	return &r->s[id];
}

static bool mqtt_port(const struct reading *r, uint16_t p)
{
	if (p == 1883 || p == 8883)
		return true;
	for (int i = 0; i < r->nports; i++)
		if (r->ports[i] == p)
			return true;
	return false;
}

static void on_open(void *arg, unsigned id, uint16_t p0, uint16_t p1)
{
	struct reading *r = arg;
	struct stream_state *s = state(r, id);
	if (!s)
		return;
	s->port[0] = p0;
	s->port[1] = p1;
	s->mqtt = mqtt_port(r, p0) || mqtt_port(r, p1);
}

/* Whether the first bytes from the opening side are a CONNECT. */
static bool looks_like_connect(const uint8_t *b, size_t n)
{
	if (n < 2 || b[0] != 0x10)
		return false;
	size_t at = 1;
	while (at < n && at < 5 && (b[at] & 0x80))
		at++;
	at++;
	if (at + 2 > n)
		return false;
	size_t len = (size_t)b[at] << 8 | b[at + 1];
	return (len == 4 && at + 6 <= n && !memcmp(b + at + 2, "MQTT", 4)) ||
	       (len == 6 && at + 8 <= n && !memcmp(b + at + 2, "MQIsdp", 6));
}

/* The protocol level of a whole CONNECT packet (0 when it has none). */
static unsigned connect_level(const uint8_t *b, size_t n)
{
	size_t at = 1;
	while (at < n && at < 5 && (b[at] & 0x80))
		at++;
	at++;
	if (at + 2 > n)
		return 0;
	size_t len = (size_t)b[at] << 8 | b[at + 1];
	return at + 2 + len < n ? b[at + 2 + len] : 0;
}

static void on_data(void *arg, unsigned id, int dir, uint64_t frame, const uint8_t *b, size_t n)
{
	struct reading *r = arg;
	struct stream_state *s = state(r, id);
	if (!s)
		return;
	struct half_state *h = &s->h[dir];
	if (!h->seen) {
		h->seen = true;
		if (!s->mqtt && dir == 0 && looks_like_connect(b, n))
			s->mqtt = true;
	}
	if (!s->mqtt || h->lost)
		return;
	h->last_frame = frame;
	if (!h->buf) {
		if (!(h->buf = malloc(FRAMER_MAX))) {
			r->oom = true;
			h->lost = true;
			return;
		}
		mqtt_framer_init(&h->f, h->buf, FRAMER_MAX);
	}
	while (n) {
		size_t used;
		struct mqtt_frame fr;
		enum mqtt_err e = mqtt_framer_feed(&h->f, b, n, &used, &fr);
		if (e != MQTT_OK) {
			problem(r, "frame %llu, stream %u: bytes that do not frame as MQTT (%s); the rest "
			        "of this direction is skipped", (unsigned long long)frame, id, mqtt_strerror(e));
			h->lost = true;
			return;
		}
		b += used;
		n -= used;
		if (!fr.len)
			continue;
		if (dir == 0 && fr.data[0] >> 4 == MQTT_CONNECT)
			s->v31 = connect_level(fr.data, fr.len) == 3;
		struct mqtt_stream_packet p = {
			.stream = id, .dir = dir, .frame = frame, .ts_us = r->ts_us,
			.sport = s->port[dir], .dport = s->port[!dir], .v31 = s->v31,
			.data = fr.data, .len = fr.len};
		r->ops->packet(r->arg, &p);
	}
}

static void on_gap(void *arg, unsigned id, int dir, uint64_t frame, uint32_t missing)
{
	struct reading *r = arg;
	struct stream_state *s = state(r, id);
	if (!s || !s->mqtt || s->h[dir].lost)
		return;
	problem(r, "frame %llu, stream %u: %u bytes missing from the capture before it; the rest of "
	        "this direction is skipped", (unsigned long long)frame, id, missing);
	s->h[dir].lost = true;
}

static void on_closed(void *arg, unsigned id, int dir, uint64_t frame)
{
	struct reading *r = arg;
	struct stream_state *s = state(r, id);
	if (s && s->mqtt && r->ops->closed)
		r->ops->closed(r->arg, id, dir, frame, r->ts_us);
}

int mqtt_streams_read(const char *path, const uint16_t *ports, int nports,
                      const struct mqtt_streams_ops *ops, void *arg, char *err, size_t errcap)
{
	struct reading r = {.ports = ports, .nports = nports, .ops = ops, .arg = arg};
	struct capture *c;
	if (capture_open(&c, path, err, errcap) != 0)
		return 2;
	static const struct tcp_streams_ops tops = {on_data, on_gap, on_open, on_closed};
	struct tcp_streams *t = tcp_streams_new(&tops, &r);
	if (!t) {
		capture_close(c);
		snprintf(err, errcap, "out of memory");
		return 2;
	}
	struct tcp_segment seg;
	int rc = 0; /* read only after the loop ran (gcc -Og could not tell) */
	uint64_t last = 0;
	while (!r.oom && (rc = capture_next(c, &seg, err, errcap)) == 1) {
		last = seg.frame;
		r.ts_us = seg.ts_us;
		if (tcp_streams_add(t, &seg) != 0)
			r.oom = true;
	}
	if (!r.oom && rc < 0)
		problem(&r, "%s: %s (what came before is read)", path, err);
	tcp_streams_finish(t, last);
	tcp_streams_free(t);
	capture_close(c);
	for (size_t i = 0; i < r.ns; i++)
		for (int k = 0; k < 2; k++) {
			struct half_state *h = &r.s[i].h[k];
			if (h->buf && !h->lost && h->f.have)
				problem(&r, "frame %llu, stream %zu: %zu bytes of a packet that the capture "
				        "ends before it is complete", (unsigned long long)h->last_frame, i,
				        h->f.have);
			free(h->buf);
		}
	free(r.s);
	if (r.oom) {
		snprintf(err, errcap, "out of memory at frame %llu", (unsigned long long)last);
		return 2;
	}
	return r.problems ? 1 : 0;
}
