/*
 * chart_svg.c - a run's chart events read back and drawn as an SVG
 * message sequence chart.
 *
 * Rows, not times, run down the page: every event has a row of its own
 * in the order it happened, so an instant with a hundred packets and
 * ten idle minutes each take the room their events need. Idle gaps are
 * labelled; long stretches of keep-alive traffic fold into one row, and
 * so, in a very long run, does what lies far from the violation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "markup.h"

enum ev_kind { EV_PROCESS, EV_CONN, EV_SEND, EV_RECV, EV_MARK, EV_END };

struct cev {
	uint64_t t;
	enum ev_kind kind;
	int client, inc;
	uint32_t conn;
	bool to_broker, corrupted, undecodable, dup, retain;
	uint64_t off;
	uint64_t len, payload_len;
	int qos, id;              /* -1: none */
	char type[16];
	char *topic, *payload, *detail, *text;
	char lane[8], mark[10];
	/* Drawing. */
	int lane_at;              /* the lane it is drawn on (a packet: its client's side) */
	int row;                  /* -1: folded */
	int fold;                 /* the fold row it is in, when folded */
	long match;               /* a send's receipt, a receipt's send; -1 none */
	bool subject;             /* carries the violation's message */
};

struct violation {
	char guarantee[40];
	char *text;
	uint64_t t;
	bool at_end, decisive;
	int client, step;
	long long seq;
};

struct chart {
	char scenario[512];
	uint64_t seed;
	char names[CHART_MAX_CLIENTS][64];
	int nclients;
	struct cev *ev;
	size_t n, cap;
	struct violation v[SCN_INVARIANT_COUNT];
	int nv;
	bool has_verdict, passed;
	char why[600];
	uint64_t virtual_ms;
};

void chart_free(struct chart *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->ev[i].topic);
		free(c->ev[i].payload);
		free(c->ev[i].detail);
		free(c->ev[i].text);
	}
	for (int i = 0; i < c->nv; i++)
		free(c->v[i].text);
	free(c->ev);
	free(c);
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static long long num(json_t *o, const char *key, long long dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static bool flag(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* A copy of o[key], or NULL when absent or empty. */
static char *dup_or_null(json_t *o, const char *key)
{
	const char *s = str(o, key);
	return *s ? strdup(s) : NULL;
}

/* One line of the file into c; 0, or -1 with why. */
static int load_line(struct chart *c, json_t *o, char *why, size_t cap)
{
	const char *ev = str(o, "ev");
	if (!strcmp(ev, "run")) {
		snprintf(c->scenario, sizeof c->scenario, "%s", str(o, "scenario"));
		c->seed = (uint64_t)num(o, "seed", 0);
		json_t *names = json_object_get(o, "clients");
		for (size_t i = 0; i < json_array_size(names) && i < CHART_MAX_CLIENTS; i++) {
			const char *nm = json_string_value(json_array_get(names, i));
			snprintf(c->names[i], sizeof c->names[i], "%s", nm ? nm : "?");
			c->nclients = (int)i + 1;
		}
		return 0;
	}
	if (!strcmp(ev, "violation")) {
		if (c->nv >= SCN_INVARIANT_COUNT)
			return 0;
		struct violation *v = &c->v[c->nv++];
		snprintf(v->guarantee, sizeof v->guarantee, "%s", str(o, "guarantee"));
		v->text = strdup(str(o, "text"));
		v->t = (uint64_t)num(o, "t", 0);
		v->at_end = flag(o, "at_end");
		v->decisive = flag(o, "decisive");
		v->client = (int)num(o, "client", -1);
		v->step = (int)num(o, "step", -1);
		v->seq = num(o, "seq", -1);
		return v->text ? 0 : -1;
	}
	if (!strcmp(ev, "verdict")) {
		c->has_verdict = true;
		c->passed = flag(o, "passed");
		c->virtual_ms = (uint64_t)num(o, "virtual_ms", 0);
		snprintf(c->why, sizeof c->why, "%s", str(o, "why"));
		return 0;
	}
	enum ev_kind kind;
	if (!strcmp(ev, "process"))
		kind = EV_PROCESS;
	else if (!strcmp(ev, "conn"))
		kind = EV_CONN;
	else if (!strcmp(ev, "send"))
		kind = EV_SEND;
	else if (!strcmp(ev, "recv"))
		kind = EV_RECV;
	else if (!strcmp(ev, "mark"))
		kind = EV_MARK;
	else {
		snprintf(why, cap, "not a chart event: \"ev\" is \"%s\"", ev);
		return -1;
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 256;
		struct cev *grown = realloc(c->ev, ncap * sizeof *grown);
		if (!grown) {
			snprintf(why, cap, "out of memory");
			return -1;
		}
		c->ev = grown;
		c->cap = ncap;
	}
	struct cev *e = &c->ev[c->n];
	memset(e, 0, sizeof *e);
	e->kind = kind;
	e->t = (uint64_t)num(o, "t", 0);
	e->client = (int)num(o, "client", -1);
	if (e->client >= CHART_MAX_CLIENTS || e->client < -1) {
		snprintf(why, cap, "client %d out of range", e->client);
		return -1;
	}
	e->inc = (int)num(o, "inc", 0);
	e->conn = (uint32_t)num(o, "conn", 0);
	e->to_broker = !strcmp(str(o, "dir"), "c2b");
	e->corrupted = flag(o, "corrupted");
	e->undecodable = flag(o, "undecodable");
	e->dup = flag(o, "dup");
	e->retain = flag(o, "retain");
	e->off = (uint64_t)num(o, "off", 0);
	e->len = (uint64_t)num(o, "len", 0);
	e->payload_len = (uint64_t)num(o, "payload_len", 0);
	e->qos = (int)num(o, "qos", -1);
	e->id = (int)num(o, "id", -1);
	snprintf(e->type, sizeof e->type, "%s", str(o, "type"));
	snprintf(e->lane, sizeof e->lane, "%s", str(o, "lane"));
	snprintf(e->mark, sizeof e->mark, "%s", str(o, "kind"));
	e->topic = dup_or_null(o, "topic");
	e->payload = dup_or_null(o, "payload");
	e->detail = dup_or_null(o, "detail");
	e->text = kind == EV_PROCESS ? dup_or_null(o, "name") : dup_or_null(o, "text");
	e->match = -1;
	e->row = -1;
	c->n++;
	return 0;
}

int chart_load(const char *path, struct chart **out, char *why, size_t cap)
{
	*out = NULL;
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(why, cap, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct chart *c = calloc(1, sizeof *c);
	char *line = NULL;
	size_t lcap = 0;
	unsigned lineno = 0;
	int rc = c ? 0 : -1;
	if (!c)
		snprintf(why, cap, "out of memory");
	while (rc == 0 && getline(&line, &lcap, f) > 0) {
		lineno++;
		json_error_t err;
		json_t *o = json_loads(line, 0, &err);
		char what[200];
		if (!o || !json_is_object(o)) {
			snprintf(why, cap, "%s:%u: not a JSON object: %s", path, lineno, o ? "" : err.text);
			rc = -1;
		} else if (load_line(c, o, what, sizeof what) != 0) {
			snprintf(why, cap, "%s:%u: %s", path, lineno, what);
			rc = -1;
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	if (rc == 0 && !*c->scenario) {
		snprintf(why, cap, "%s: no run line: not a chart's events", path);
		rc = -1;
	}
	if (rc != 0) {
		chart_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

/* Geometry (px). */
enum { ROW_H = 20, TOP = 64, LEFT = 120, LANE_W = 180, BOTTOM = 40 };
/* A run of at least this many keep-alive events folds into one row. */
enum { FOLD_ROUTINE = 6 };
/* Past this many rows, what lies far from the violation folds. */
enum { MAX_ROWS = 1500, KEEP_HEAD = 400, KEEP_TAIL = 200, KEEP_NEAR = 300 };

struct lane {
	int client, inc;          /* client -1: the network (-2) or the broker (-3) */
	int first_row, last_row;
};

struct drawing {
	struct chart *c;
	struct lane *lanes;
	int nlanes, net, broker;
	int rows;                 /* rows drawn, folds and the end row included */
	int *row_event;           /* a row's event (-1: a fold, -2: the end row) */
	int *fold_count;          /* a fold row's events */
	uint64_t *fold_from, *fold_to;
	long anchor;              /* the violation's event; -1: at the end row */
	const struct violation *v;
};

static int lane_of(const struct drawing *d, int client, int inc)
{
	for (int i = 0; i < d->nlanes; i++)
		if (d->lanes[i].client == client && d->lanes[i].inc == inc)
			return i;
	return -1;
}

/* Whether e is keep-alive traffic: what folds when there is much of it. */
static bool routine(const struct cev *e)
{
	return (e->kind == EV_SEND || e->kind == EV_RECV) &&
	       (!strcmp(e->type, "PINGREQ") || !strcmp(e->type, "PINGRESP"));
}

/* Whether a PUBLISH's payload names the violation's message ("P:STEP:SEQ:"). */
static bool carries(const struct cev *e, const struct violation *v)
{
	if (!v || v->step < 0 || strcmp(e->type, "PUBLISH") || !e->payload)
		return false;
	const char *p = strchr(e->payload, ':');
	char want[48];
	snprintf(want, sizeof want, ":%d:%lld:", v->step, v->seq);
	return p && !strncmp(p, want, strlen(want));
}

/* Lanes from the process events; each packet and mark on its lane. */
static int assign_lanes(struct drawing *d)
{
	struct chart *c = d->c;
	int cur[CHART_MAX_CLIENTS] = {0};
	struct conn_lane {
		int client;
		uint32_t conn;
		int inc;
	} *conns = calloc(c->n + 1, sizeof *conns);
	size_t nconns = 0;
	d->lanes = calloc(c->n + 2, sizeof *d->lanes);
	if (!conns || !d->lanes) {
		free(conns);
		return -1;
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->ev[i].kind == EV_PROCESS && c->ev[i].client >= 0)
			d->lanes[d->nlanes++] = (struct lane){c->ev[i].client, c->ev[i].inc, -1, -1};
	/* By client, then incarnation: a client's lives side by side. */
	for (int i = 1; i < d->nlanes; i++)
		for (int j = i; j > 0 && (d->lanes[j - 1].client > d->lanes[j].client ||
		                          (d->lanes[j - 1].client == d->lanes[j].client &&
		                           d->lanes[j - 1].inc > d->lanes[j].inc)); j--) {
			struct lane t = d->lanes[j];
			d->lanes[j] = d->lanes[j - 1];
			d->lanes[j - 1] = t;
		}
	d->net = d->nlanes;
	d->broker = d->nlanes + 1;
	d->lanes[d->net] = (struct lane){-2, 0, -1, -1};
	d->lanes[d->broker] = (struct lane){-3, 0, -1, -1};
	d->nlanes += 2;
	for (size_t i = 0; i < c->n; i++) {
		struct cev *e = &c->ev[i];
		int who = e->client;
		if (e->kind == EV_PROCESS && who >= 0)
			cur[who] = e->inc;
		if (e->kind == EV_CONN && who >= 0)
			conns[nconns++] = (struct conn_lane){who, e->conn, cur[who]};
		int inc = who >= 0 ? cur[who] : 0;
		if ((e->kind == EV_SEND || e->kind == EV_RECV) && who >= 0)
			for (size_t k = nconns; k-- > 0;)
				if (conns[k].client == who && conns[k].conn == e->conn) {
					inc = conns[k].inc;
					break;
				}
		if (e->kind == EV_MARK && !strcmp(e->lane, "link"))
			e->lane_at = d->net;
		else if (e->kind == EV_MARK && !strcmp(e->lane, "broker"))
			e->lane_at = d->broker;
		else if (e->kind == EV_MARK && strcmp(e->lane, "client"))
			e->lane_at = -1; /* a note across the chart */
		else if (e->kind == EV_CONN)
			e->lane_at = d->net;
		else
			e->lane_at = who >= 0 ? lane_of(d, who, inc) : d->broker;
		if (e->lane_at < -1)
			e->lane_at = d->broker;
	}
	free(conns);
	return 0;
}

/* Each send with its receipt: the same connection, direction and offset. */
static int match_packets(struct chart *c)
{
	size_t cap = 16;
	while (cap < c->n * 2)
		cap *= 2;
	long *slot = malloc(cap * sizeof *slot);
	if (!slot)
		return -1;
	for (size_t i = 0; i < cap; i++)
		slot[i] = -1;
	for (size_t i = 0; i < c->n; i++) {
		struct cev *e = &c->ev[i];
		if (e->kind != EV_SEND && e->kind != EV_RECV)
			continue;
		uint64_t h = (uint64_t)(e->client + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)e->conn << 40 ^
		             e->off * 0xff51afd7ed558ccdull ^ (uint64_t)e->to_broker;
		h ^= h >> 29;
		for (size_t k = (size_t)(h & (cap - 1));; k = (k + 1) & (cap - 1)) {
			long j = slot[k];
			if (j < 0) {
				if (e->kind == EV_SEND)
					slot[k] = (long)i; /* awaits its receipt */
				break;
			}
			struct cev *s = &c->ev[j];
			if (s->kind == EV_SEND && s->match < 0 && e->kind == EV_RECV && s->client == e->client &&
			    s->conn == e->conn && s->off == e->off && s->to_broker == e->to_broker) {
				s->match = (long)i;
				e->match = j;
				break;
			}
			if (e->kind == EV_SEND && s->client == e->client && s->conn == e->conn &&
			    s->off == e->off && s->to_broker == e->to_broker) {
				slot[k] = (long)i; /* the same offset again: the newer send */
				break;
			}
		}
	}
	free(slot);
	return 0;
}

/* The decisive violation's event: the last receipt of its message by
 * its client at or before its time (else any last event then); -1 when
 * it was found at the end. */
static long find_anchor(const struct drawing *d)
{
	const struct violation *v = d->v;
	const struct chart *c = d->c;
	if (!v || v->at_end)
		return -1;
	long any = -1, best = -1;
	for (size_t i = 0; i < c->n && c->ev[i].t <= v->t; i++) {
		const struct cev *e = &c->ev[i];
		any = (long)i;
		if (e->kind == EV_RECV && !e->to_broker && e->client == v->client &&
		    (v->step < 0 || e->subject))
			best = (long)i;
	}
	return best >= 0 ? best : any;
}

/* Rows: every event its own, but long keep-alive stretches and, past
 * MAX_ROWS, what lies far from the anchor fold into one row each. */
static int assign_rows(struct drawing *d)
{
	struct chart *c = d->c;
	bool *hide = calloc(c->n + 1, sizeof *hide);
	if (!hide)
		return -1;
	for (size_t i = 0; i < c->n;) {
		size_t j = i;
		while (j < c->n && routine(&c->ev[j]))
			j++;
		if (j - i >= FOLD_ROUTINE)
			for (size_t k = i; k < j; k++)
				hide[k] = (long)k != d->anchor;
		i = j > i ? j : i + 1;
	}
	size_t shown = 0;
	for (size_t i = 0; i < c->n; i++)
		shown += !hide[i];
	if (shown > MAX_ROWS) {
		size_t rank = 0, anchor_rank = SIZE_MAX;
		for (size_t i = 0; i < c->n; i++) {
			if ((long)i == d->anchor)
				anchor_rank = rank;
			rank += !hide[i];
		}
		if (d->anchor < 0)
			anchor_rank = shown; /* the end: the tail is near it */
		rank = 0;
		for (size_t i = 0; i < c->n; i++) {
			if (hide[i])
				continue;
			bool keep = rank < KEEP_HEAD || rank + KEEP_TAIL >= shown ||
			            (rank + KEEP_NEAR >= anchor_rank && rank <= anchor_rank + KEEP_NEAR) ||
			            (long)i == d->anchor;
			hide[i] = !keep;
			rank++;
		}
	}
	size_t max_rows = c->n + 2;
	d->row_event = malloc(max_rows * sizeof *d->row_event);
	d->fold_count = calloc(max_rows, sizeof *d->fold_count);
	d->fold_from = calloc(max_rows, sizeof *d->fold_from);
	d->fold_to = calloc(max_rows, sizeof *d->fold_to);
	if (!d->row_event || !d->fold_count || !d->fold_from || !d->fold_to) {
		free(hide);
		return -1;
	}
	int row = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct cev *e = &c->ev[i];
		if (!hide[i]) {
			d->row_event[row] = (int)i;
			e->row = row++;
			continue;
		}
		if (i == 0 || !hide[i - 1]) {
			d->row_event[row] = -1;
			d->fold_from[row] = e->t;
			row++;
		}
		e->row = -1;
		e->fold = row - 1;
		d->fold_count[row - 1]++;
		d->fold_to[row - 1] = e->t;
	}
	d->row_event[row++] = -2; /* the end of the run */
	d->rows = row;
	free(hide);
	return 0;
}

static int lane_x(int lane)
{
	return LEFT + lane * LANE_W + LANE_W / 2;
}

static int row_y(int row)
{
	return TOP + row * ROW_H + ROW_H / 2;
}

/* A time as people read it: ms below 10 s, then seconds. */
static void time_text(char *out, size_t cap, uint64_t ms)
{
	if (ms < 10000)
		snprintf(out, cap, "%" PRIu64 " ms", ms);
	else
		snprintf(out, cap, "%.3f s", (double)ms / 1000.0);
}

/* A packet's label: "PUBLISH q1 id 7 DUP RET t/a". */
static void packet_label(char *out, size_t cap, const struct cev *e)
{
	size_t used = (size_t)snprintf(out, cap, "%s", e->type);
	if (e->qos >= 0 && used < cap)
		used += (size_t)snprintf(out + used, cap - used, " q%d", e->qos);
	if (e->id >= 0 && used < cap)
		used += (size_t)snprintf(out + used, cap - used, " id %d", e->id);
	if (e->dup && used < cap)
		used += (size_t)snprintf(out + used, cap - used, " DUP");
	if (e->retain && used < cap)
		used += (size_t)snprintf(out + used, cap - used, " RET");
	if (e->topic && used < cap)
		used += (size_t)snprintf(out + used, cap - used, " %s", e->topic);
	if ((e->corrupted || e->undecodable) && used < cap)
		snprintf(out + used, cap - used, " (corrupted)");
}

/* The <title> of a packet: every decoded field, both ends. */
static void packet_title(FILE *f, const struct chart *c, const struct cev *s, const struct cev *r)
{
	char t1[32], t2[32], line[900];
	time_text(t1, sizeof t1, s->t);
	fputs("<title>", f);
	snprintf(line, sizeof line, "%s%s\n%s to %s, connection %u, stream offset %" PRIu64
	         ", %" PRIu64 " bytes\n", s->type, s->undecodable ? " (undecodable)" : "",
	         s->to_broker ? (s->client >= 0 && s->client < c->nclients ? c->names[s->client] : "client")
	                      : "broker",
	         s->to_broker ? "broker" : (s->client >= 0 && s->client < c->nclients ? c->names[s->client]
	                                                                            : "client"),
	         s->conn, s->off, s->len);
	markup_text(f, line);
	size_t used = 0;
	line[0] = 0;
	if (s->qos >= 0)
		used += (size_t)snprintf(line + used, sizeof line - used, "QoS %d, DUP %d, RETAIN %d", s->qos,
		                         s->dup, s->retain);
	if (s->id >= 0 && used < sizeof line)
		used += (size_t)snprintf(line + used, sizeof line - used, "%spacket id %d", used ? ", " : "",
		                         s->id);
	if (s->topic && used < sizeof line)
		used += (size_t)snprintf(line + used, sizeof line - used, "\ntopic %s", s->topic);
	if (s->payload && used < sizeof line)
		used += (size_t)snprintf(line + used, sizeof line - used, "\npayload %s (%" PRIu64 " bytes)",
		                         s->payload, s->payload_len);
	if (s->detail && used < sizeof line)
		used += (size_t)snprintf(line + used, sizeof line - used, "%s%s", used ? "\n" : "",
		                         s->detail);
	if (used)
		markup_text(f, line);
	if (r) {
		time_text(t2, sizeof t2, r->t);
		snprintf(line, sizeof line, "\nsent at %s, received at %s%s", t1, t2,
		         r->corrupted ? " (corrupted on the way)" : "");
	} else {
		snprintf(line, sizeof line, "\nsent at %s, never received (lost on the way)", t1);
	}
	markup_text(f, line);
	fputs("</title>", f);
}

/* The y of event i: its row, or the row its fold took. */
static int event_y(const struct drawing *d, long i)
{
	const struct cev *e = &d->c->ev[i];
	return row_y(e->row >= 0 ? e->row : e->fold);
}

static int sender_lane(const struct drawing *d, const struct cev *s)
{
	return s->to_broker ? s->lane_at : d->broker;
}

static int receiver_lane(const struct drawing *d, const struct cev *s, const struct cev *r)
{
	return s->to_broker ? d->broker : (r ? r->lane_at : s->lane_at);
}

static void draw_arrows(FILE *f, const struct drawing *d, const char *id, struct chart_stats *st)
{
	const struct chart *c = d->c;
	for (size_t i = 0; i < c->n; i++) {
		const struct cev *e = &c->ev[i];
		const struct cev *s = NULL, *r = NULL;
		if (e->kind == EV_SEND) {
			s = e;
			r = e->match >= 0 ? &c->ev[e->match] : NULL;
		} else if (e->kind == EV_RECV && e->match < 0) {
			s = e; /* a receipt no send matched (a framing a corruption broke) */
			r = e;
		} else {
			continue;
		}
		bool shown = s->row >= 0 || (r && r->row >= 0);
		if (!shown) {
			st->collapsed++;
			continue;
		}
		int x1 = s == r ? lane_x(d->net) : lane_x(sender_lane(d, s));
		int y1 = event_y(d, (long)(s - c->ev));
		int x2 = r ? lane_x(receiver_lane(d, s, r)) : lane_x(d->net);
		int y2 = r ? event_y(d, (long)(r - c->ev)) : y1;
		char label[300];
		packet_label(label, sizeof label, s);
		bool lost = !r;
		fprintf(f, "<g class=\"arrow%s%s%s\" data-type=\"%s\" data-dir=\"%s\" data-sent=\"%" PRIu64
		        "\"", lost ? " lost" : "", (r && r->corrupted) || s->undecodable ? " corrupted" : "",
		        s->subject ? " subject" : "", s->type, s->to_broker ? "c2b" : "b2c", s->t);
		if (r)
			fprintf(f, " data-received=\"%" PRIu64 "\"", r->t);
		fputs(">", f);
		packet_title(f, c, s, s == r ? NULL : r);
		if (lost)
			fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", x1, y1, x2, y2);
		else
			fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" marker-end=\"url(#%s-head)\"/>",
			        x1, y1, x2, y2, id);
		if (lost) {
			fprintf(f, "<path class=\"cross\" d=\"M%d %dl10 10m0 -10l-10 10\"/>", x2 - 5, y2 - 5);
			st->lost++;
		}
		int tx = x1 < x2 ? x1 + 6 : x1 - 6;
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\">", tx, y1 - 3,
		        x1 < x2 ? "start" : "end");
		markup_text_n(f, label, 48);
		fputs("</text></g>\n", f);
		st->arrows++;
	}
}

static const char *lane_name(const struct drawing *d, int lane, char *buf, size_t cap)
{
	const struct lane *l = &d->lanes[lane];
	if (l->client == -2)
		return "network";
	if (l->client == -3)
		return "broker";
	snprintf(buf, cap, "%s #%d", l->client < d->c->nclients ? d->c->names[l->client] : "client",
	         l->inc);
	return buf;
}

/* The lanes: a header each, and a line over the rows it lived. */
static void draw_lanes(FILE *f, const struct drawing *d)
{
	const struct chart *c = d->c;
	for (int l = 0; l < d->nlanes; l++)
		d->lanes[l].first_row = d->lanes[l].last_row = -1;
	for (int row = 0; row < d->rows; row++) {
		int i = d->row_event[row];
		if (i < 0)
			continue;
		const struct cev *e = &c->ev[i];
		if (e->lane_at < 0 || e->lane_at >= d->net)
			continue;
		struct lane *l = &d->lanes[e->lane_at];
		if (l->first_row < 0)
			l->first_row = row;
		/* A crash ends a process: its lane ends there. */
		if (l->last_row < 0 || l->last_row < row)
			l->last_row = row;
	}
	for (int l = 0; l < d->nlanes; l++) {
		char buf[96];
		const char *name = lane_name(d, l, buf, sizeof buf);
		struct lane *ln = &d->lanes[l];
		int first = l >= d->net || ln->first_row < 0 ? 0 : ln->first_row;
		int last = d->rows - 1;
		/* A process that crashed lives until its crash; one alive at the
		 * end, to the end. */
		if (l < d->net) {
			bool crashed = false;
			for (size_t i = 0; i < c->n; i++)
				if (c->ev[i].kind == EV_MARK && c->ev[i].lane_at == l && !strcmp(c->ev[i].mark, "crash"))
					crashed = true;
			if (crashed && ln->last_row >= 0)
				last = ln->last_row;
		}
		fprintf(f, "<g class=\"lane\" data-lane=\"%d\" data-name=\"", l);
		markup_text(f, name);
		fprintf(f, "\"><text class=\"lane-name\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", lane_x(l),
		        TOP - 24);
		markup_text(f, name);
		fprintf(f, "</text><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/></g>\n", lane_x(l),
		        row_y(first) - ROW_H / 2, lane_x(l), row_y(last) + ROW_H / 2);
	}
}

/* Times down the left, where they change; an idle gap said. */
static void draw_times(FILE *f, const struct drawing *d)
{
	const struct chart *c = d->c;
	bool have = false;
	uint64_t last = 0;
	for (int row = 0; row < d->rows; row++) {
		int i = d->row_event[row];
		uint64_t t = i >= 0 ? c->ev[i].t : i == -1 ? d->fold_from[row] : c->virtual_ms;
		if (have && t == last)
			continue;
		char txt[32];
		time_text(txt, sizeof txt, t);
		if (have && t - last >= 1000) {
			char gap[32];
			time_text(gap, sizeof gap, t - last);
			fprintf(f, "<text class=\"gap\" x=\"4\" y=\"%d\">+%s idle</text>", row_y(row) - 8, gap);
		}
		fprintf(f, "<text class=\"time\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", LEFT - 12,
		        row_y(row) + 4, txt);
		have = true;
		last = t;
	}
}

/* Marks: faults, crashes, restarts, disks, ends, notes, folds, the end. */
static void draw_marks(FILE *f, const struct drawing *d)
{
	const struct chart *c = d->c;
	int width = LEFT + d->nlanes * LANE_W;
	for (int row = 0; row < d->rows; row++) {
		int i = d->row_event[row];
		int y = row_y(row);
		if (i == -1) {
			char a[32], b[32];
			time_text(a, sizeof a, d->fold_from[row]);
			time_text(b, sizeof b, d->fold_to[row]);
			fprintf(f, "<g class=\"fold\" data-events=\"%d\"><rect x=\"%d\" y=\"%d\" width=\"%d\" "
			        "height=\"%d\"/><text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%d events folded "
			        "(%s to %s): keep-alive traffic or far from the violation; the trace has them"
			        "</text></g>\n", d->fold_count[row], LEFT, y - ROW_H / 2 + 2, width - LEFT,
			        ROW_H - 4, (LEFT + width) / 2, y + 4, d->fold_count[row], a, b);
			continue;
		}
		if (i == -2) {
			fprintf(f, "<g class=\"mark end-of-run\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
			        "<text x=\"%d\" y=\"%d\">end of the run: judged</text></g>\n", LEFT, y, width, y,
			        LEFT + 4, y - 4);
			continue;
		}
		const struct cev *e = &c->ev[i];
		const char *kind = e->kind == EV_PROCESS ? "process" : e->kind == EV_CONN ? "conn"
		                   : e->kind == EV_MARK ? e->mark : NULL;
		if (!kind)
			continue;
		char text[400];
		if (e->kind == EV_PROCESS)
			snprintf(text, sizeof text, "%s starts", e->text ? e->text : "client");
		else if (e->kind == EV_CONN)
			snprintf(text, sizeof text, "connection %u of %s opens", e->conn,
			         e->client >= 0 && e->client < c->nclients ? c->names[e->client] : "?");
		else
			snprintf(text, sizeof text, "%s", e->text ? e->text : e->mark);
		if (e->lane_at < 0) {
			fprintf(f, "<g class=\"mark note\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
			        "<text x=\"%d\" y=\"%d\">", LEFT, y, width, y, LEFT + 4, y - 4);
			markup_text(f, text);
			fputs("</text></g>\n", f);
			continue;
		}
		int x = lane_x(e->lane_at);
		fprintf(f, "<g class=\"mark %s\" data-kind=\"%s\" data-t=\"%" PRIu64 "\"><title>", kind, kind,
		        e->t);
		markup_text(f, text);
		fprintf(f, "</title><rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\"/><text x=\"%d\" y=\"%d\">",
		        x - 5, y - 5, x + 9, y + 4);
		markup_text_n(f, text, 40);
		fputs("</text></g>\n", f);
	}
}

/* The violation: a marker where the oracle found it, and its sentence. */
static bool draw_violation(FILE *f, const struct drawing *d, const char *id)
{
	const struct violation *v = d->v;
	if (!v)
		return false;
	const struct chart *c = d->c;
	int lane = d->broker, row = d->rows - 1;
	if (d->anchor >= 0) {
		const struct cev *e = &c->ev[d->anchor];
		row = e->row;
		lane = e->lane_at >= 0 ? e->lane_at : d->broker;
	}
	if (v->client >= 0 && (d->anchor < 0 || c->ev[d->anchor].client != v->client)) {
		/* Its client's last lane. */
		for (int l = d->net - 1; l >= 0; l--)
			if (d->lanes[l].client == v->client) {
				lane = l;
				break;
			}
	}
	int x = lane_x(lane), y = row_y(row);
	char when[32];
	time_text(when, sizeof when, v->t);
	fprintf(f, "<g id=\"%s-violation\" class=\"violation\" data-guarantee=\"", id);
	markup_text(f, v->guarantee);
	fprintf(f, "\" data-t=\"%" PRIu64 "\" data-row=\"%d\" data-lane=\"%d\" data-at-end=\"%s\">"
	        "<title>", v->t, row, lane, v->at_end ? "true" : "false");
	markup_text(f, v->guarantee);
	fputs(" violated", f);
	if (v->at_end)
		fputs(" (found when the run was judged)", f);
	else
		fprintf(f, " at %s", when);
	fputs(": ", f);
	markup_text(f, v->text);
	fprintf(f, "</title><circle cx=\"%d\" cy=\"%d\" r=\"9\"/><text class=\"bang\" x=\"%d\" y=\"%d\" "
	        "text-anchor=\"middle\">!</text><text class=\"why\" x=\"%d\" y=\"%d\">", x, y, x, y + 5,
	        x + 14, y + 18);
	markup_text(f, v->guarantee);
	fputs(": ", f);
	markup_text_n(f, v->text, 90);
	fputs("</text></g>\n", f);
	return true;
}

struct chart_stats chart_svg(FILE *f, struct chart *c, const char *id)
{
	struct chart_stats st = {0};
	struct drawing d = {.c = c, .anchor = -1};
	for (int i = 0; i < c->nv; i++)
		if (c->v[i].decisive)
			d.v = &c->v[i];
	if (assign_lanes(&d) != 0 || match_packets(c) != 0) {
		fputs("<p class=\"error\">out of memory: the chart is not drawn</p>\n", f);
		free(d.lanes);
		return st;
	}
	for (size_t i = 0; i < c->n; i++)
		c->ev[i].subject = carries(&c->ev[i], d.v);
	d.anchor = find_anchor(&d);
	if (assign_rows(&d) != 0) {
		fputs("<p class=\"error\">out of memory: the chart is not drawn</p>\n", f);
	} else {
		int width = LEFT + d.nlanes * LANE_W + 20, height = TOP + d.rows * ROW_H + BOTTOM;
		fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"%s\" width=\"%d\" "
		        "height=\"%d\" viewBox=\"0 0 %d %d\" data-lanes=\"%d\" ", id, width, height, width,
		        height, d.nlanes);
		long sends = 0;
		for (size_t i = 0; i < c->n; i++)
			sends += c->ev[i].kind == EV_SEND;
		fprintf(f, "data-sends=\"%ld\">\n<defs><marker id=\"%s-head\" viewBox=\"0 0 10 10\" refX=\"10\" "
		        "refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\">"
		        "<path d=\"M0 0L10 5L0 10z\"/></marker></defs>\n", sends, id);
		draw_lanes(f, &d);
		draw_times(f, &d);
		draw_marks(f, &d);
		draw_arrows(f, &d, id, &st);
		st.violation = draw_violation(f, &d, id);
		st.lanes = d.nlanes;
		fprintf(f, "<text class=\"stats\" x=\"4\" y=\"%d\" data-arrows=\"%d\" data-lost=\"%d\" "
		        "data-folded=\"%d\">%d lanes, %d packets drawn (%d lost on the way), %d folded</text>\n"
		        "</svg>\n", height - 10, st.arrows, st.lost, st.collapsed, st.lanes, st.arrows, st.lost,
		        st.collapsed);
	}
	free(d.lanes);
	free(d.row_event);
	free(d.fold_count);
	free(d.fold_from);
	free(d.fold_to);
	return st;
}
