/*
 * captured.c - loading a capture's MQTT packets (capture/mqtt_streams.h)
 * into one list, connections numbered by first packet.
 */
#include "captured.h"

#include <stdlib.h>
#include <string.h>

#include "capture/mqtt_streams.h"

struct loading {
	struct cap_session *s;
	size_t cap;
	unsigned *conn_of;   /* per TCP stream: its connection + 1, 0 while none */
	size_t nstreams;
	FILE *problems;
	bool oom;
};

static struct cap_event *add(struct loading *l, unsigned stream)
{
	if (l->oom)
		return NULL;
	if (stream >= l->nstreams) {
		size_t n = (size_t)stream * 2 + 16;
		unsigned *c = realloc(l->conn_of, n * sizeof *c);
		if (!c)
			return l->oom = true, NULL;
		memset(c + l->nstreams, 0, (n - l->nstreams) * sizeof *c);
		l->conn_of = c;
		l->nstreams = n;
	}
	if (l->s->n == l->cap) {
		size_t n = l->cap ? l->cap * 2 : 256;
		struct cap_event *e = realloc(l->s->ev, n * sizeof *e);
		if (!e)
			return l->oom = true, NULL;
		l->s->ev = e;
		l->cap = n;
	}
	if (!l->conn_of[stream])
		l->conn_of[stream] = ++l->s->nconns;
	struct cap_event *e = &l->s->ev[l->s->n++];
	memset(e, 0, sizeof *e);
	e->conn = l->conn_of[stream] - 1;
	e->stream = stream;
	return e;
}

static void on_packet(void *arg, const struct mqtt_stream_packet *p)
{
	struct loading *l = arg;
	uint8_t *copy = malloc(p->len);
	struct cap_event *e = copy ? add(l, p->stream) : NULL;
	if (!e) {
		free(copy);
		l->oom = true;
		return;
	}
	memcpy(copy, p->data, p->len);
	e->kind = CAP_PACKET;
	e->dir = p->dir;
	e->frame = p->frame;
	e->ts_us = p->ts_us;
	e->v31 = p->v31;
	e->data = copy;
	e->len = p->len;
}

static void on_closed(void *arg, unsigned stream, int dir, uint64_t frame, uint64_t ts_us)
{
	struct loading *l = arg;
	/* A stream that never carried a packet is nobody's session. */
	if (stream >= l->nstreams || !l->conn_of[stream])
		return;
	struct cap_event *e = add(l, stream);
	if (!e)
		return;
	e->kind = CAP_CLOSE;
	e->dir = dir;
	e->frame = frame;
	e->ts_us = ts_us;
}

static void on_problem(void *arg, const char *text)
{
	struct loading *l = arg;
	fprintf(l->problems, "mqttsim: %s\n", text);
}

int cap_session_load(struct cap_session *s, const char *path, const uint16_t *ports, int nports,
                     FILE *problems, char *err, size_t errcap)
{
	memset(s, 0, sizeof *s);
	struct loading l = {.s = s, .problems = problems};
	static const struct mqtt_streams_ops ops = {on_packet, on_closed, on_problem};
	int rc = mqtt_streams_read(path, ports, nports, &ops, &l, err, errcap);
	free(l.conn_of);
	if (l.oom && rc != 2) {
		snprintf(err, errcap, "out of memory");
		rc = 2;
	}
	if (rc == 2)
		cap_session_free(s);
	return rc;
}

void cap_session_free(struct cap_session *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->ev[i].data);
	free(s->ev);
	memset(s, 0, sizeof *s);
}

int cap_port_option(int argc, char **argv, int *i, uint16_t ports[16], int *nports)
{
	if (strcmp(argv[*i], "--port"))
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "mqttsim: --port needs a number\n");
		return -1;
	}
	char *end;
	long p = strtol(argv[++*i], &end, 10);
	if (*end || p < 1 || p > 65535 || *nports == 16) {
		fprintf(stderr, "mqttsim: --port takes 1 to 65535 (16 at most), not %s\n", argv[*i]);
		return -1;
	}
	ports[(*nports)++] = (uint16_t)p;
	return 1;
}
