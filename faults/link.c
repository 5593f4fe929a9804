/*
 * link.c - the fault engine: a connection's two byte streams through a
 * fault plan, as data in and data out with times (see mqttsim/faults.h).
 *
 * Each direction frames MQTT packets as bytes pass (type nibble and
 * remaining length only), so packet triggers work at any split. Bytes
 * become segments in a delivery queue, each with the time it is due;
 * FIN and RST are segments too, so a clean close arrives after the data
 * before it and a reset overtakes everything.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "mqttsim/fault_engine.h"
#include "fastmod.h"

#define RANDOM_SIZE_MAX 16
#define WRITE_BUF 4096       /* bytes a write gathers before it queues them */
#define BANDWIDTH_TICK_MS 10 /* a capped stream goes in chunks this far apart */
/* The lasting actions a write or a read consults: latency, bandwidth,
 * partial-write, partial-read (in this order in enum mqtt_fault_action). */
#define LASTING_FIRST MQTT_FAULT_LATENCY
#define LASTING_KINDS 4
_Static_assert(MQTT_FAULT_BANDWIDTH == LASTING_FIRST + 1 && MQTT_FAULT_PARTIAL_WRITE == LASTING_FIRST + 2 &&
               MQTT_FAULT_PARTIAL_READ == LASTING_FIRST + 3, "the lasting actions are consecutive");

enum seg_kind { SEG_DATA, SEG_FIN };

/* Segments come in two sizes kept for reuse on their link: most are a
 * packet or less, a big message goes in writes of up to a write's buffer
 * (malloc and free were a tenth of a simulated run). Bigger ones, and
 * spares beyond what a link keeps, are made and freed. Per link, not per
 * thread: a core has no threads to know of, and a thread's spares would
 * outlive it. */
#define SEG_SMALL 128
#define SEG_LARGE 4096
static const size_t seg_class_cap[2] = {SEG_SMALL, SEG_LARGE};
static const unsigned seg_spare_max[2] = {256, 8};

struct seg {
	struct seg *next;
	uint64_t due;
	size_t len, off, cap;
	enum seg_kind kind;
	uint8_t data[];
};

/* What one fault knows on one link. */
struct fstate {
	struct mqtt_trigger trig;   /* per-connection packet counting */
	uint64_t next_pbyte;        /* pbyte=: the offset of the next hit */
	bool time_done;
	bool active;                /* a lasting effect in force */
	uint64_t until;             /* its end; UINT64_MAX for ever */
	fastmod_t jitter_mod;       /* latency: fastmod_of(2 * jitter_ms + 1) */
};

struct dir {
	uint64_t offset;            /* stream bytes taken from the writer */
	uint64_t kept;              /* of those, queued for the reader (not discarded or cut off) */
	/* the packet being framed */
	int pstate;                 /* 0 first byte, 1 length bytes, 2 body */
	uint8_t ptype;
	uint32_t rem, mult;
	int lenbytes;
	uint64_t pstart;
	uint32_t pno;               /* ordinal of the current packet in its type */
	uint32_t seen[16];
	/* effects on the current or next packet */
	bool discard_packet;        /* the current packet is lost */
	bool discard_next;          /* the next packet is lost */
	uint32_t truncate_keep;     /* keep this many bytes of the current packet; 0 none */
	bool truncate_half;         /* keep half, known once the length is */
	bool truncate_next;
	uint32_t truncate_next_keep;
	uint32_t corrupt_left;
	uint8_t corrupt_bits;       /* the bits that may flip (bits=); 0: all */
	/* delivery */
	struct seg *head, *tail;
	uint64_t last_due;
	uint64_t stall_until;
	uint64_t bw_free;           /* bandwidth: when the current burst has gone */
	uint64_t bw_start, bw_bytes, bw_rate; /* the burst: its start, bytes so far, cap */
	bool closed;                /* takes no more data (FIN queued or reset) */
	size_t queued;              /* data bytes waiting in the queue */
	int inject_read, inject_write; /* errno to inject, pending */
};

struct report_node {
	struct report_node *next;
	struct mqtt_fault_report r;
	bool read_offset_pending;  /* a corrupt: read_offset is known when its first byte passes */
};

struct mqtt_fault_run {
	struct mqtt_fault_plan plan;
	uint64_t seed;
	uint32_t *acted;           /* per fault, over the run */
	uint32_t links;
};

struct mqtt_fault_link {
	struct mqtt_fault_run *run;
	uint32_t no;
	uint64_t opened;
	uint64_t prng;
	bool reset;
	unsigned timed_left;       /* faults with a time trigger not yet due */
	uint64_t timed_at;         /* when the first of those is due (0: at once; UINT64_MAX: none) */
	uint64_t time_next;        /* of those with time=, the first one's time (mqtt_fault_link_next) */
	/* Per direction, the faults of each lasting action on it, in plan
	 * order: a write and a read asked the whole plan about each (a tenth
	 * of a generated run, whose plans are long). */
	uint32_t *lasting[2][LASTING_KINDS];
	uint32_t nlasting[2][LASTING_KINDS];
	bool edges[2];             /* per direction, whether a fault on it has a packet trigger */
	struct seg *spare[2];      /* segments for reuse, by class */
	unsigned nspare[2];
	struct fstate *fs;
	struct dir d[2];           /* [0] c2b, [1] b2c */
	struct report_node *rhead, *rtail;
};

static int di(unsigned dir)
{
	return dir == MQTT_B2C ? 1 : 0;
}

/* splitmix64: small, fast, and the same everywhere. */
static uint64_t rnd(struct mqtt_fault_link *l)
{
	uint64_t z = (l->prng += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static double rnd01(struct mqtt_fault_link *l)
{
	return (double)(rnd(l) >> 11) * (1.0 / 9007199254740992.0);
}

int mqtt_fault_run_new(struct mqtt_fault_run **out, const struct mqtt_fault_plan *plan,
                       uint64_t seed)
{
	*out = NULL;
	struct mqtt_fault_run *r = calloc(1, sizeof *r);
	if (!r)
		return ENOMEM;
	r->seed = seed;
	if (plan->n) {
		r->plan.faults = malloc(plan->n * sizeof *plan->faults);
		r->acted = calloc(plan->n, sizeof *r->acted);
		if (!r->plan.faults || !r->acted) {
			free(r->plan.faults);
			free(r->acted);
			free(r);
			return ENOMEM;
		}
		memcpy(r->plan.faults, plan->faults, plan->n * sizeof *plan->faults);
		r->plan.n = plan->n;
	}
	*out = r;
	return 0;
}

void mqtt_fault_run_free(struct mqtt_fault_run *r)
{
	if (!r)
		return;
	free(r->plan.faults);
	free(r->acted);
	free(r);
}

static uint64_t next_pbyte(struct mqtt_fault_link *l, uint64_t from, double p)
{
	if (p >= 1)
		return from;
	/* Geometric gap: one draw per hit instead of one per byte. */
	double u = rnd01(l);
	if (u <= 0)
		u = 1e-300;
	double gap = floor(log(u) / log1p(-p));
	if (gap > 1e18)
		return UINT64_MAX;
	return from + (uint64_t)gap;
}

/* When the first timed fault not yet done is due, and the first with a time trigger. */
static void timed_due(struct mqtt_fault_link *l)
{
	const struct mqtt_fault_plan *plan = &l->run->plan;
	l->timed_at = l->time_next = UINT64_MAX;
	for (size_t i = 0; l->timed_left && i < plan->n; i++) {
		const struct mqtt_fault *f = &plan->faults[i];
		if (l->fs[i].time_done)
			continue;
		if (f->when == MQTT_WHEN_START)
			l->timed_at = 0;
		else if (f->when == MQTT_WHEN_TIME && l->opened + f->time_ms < l->time_next)
			l->time_next = l->opened + f->time_ms;
	}
	if (l->time_next < l->timed_at)
		l->timed_at = l->time_next;
}

int mqtt_fault_link_new(struct mqtt_fault_link **out, struct mqtt_fault_run *r, uint64_t now)
{
	*out = NULL;
	struct mqtt_fault_link *l = calloc(1, sizeof *l);
	if (!l)
		return ENOMEM;
	size_t n = r->plan.n ? r->plan.n : 1;
	l->fs = calloc(n, sizeof *l->fs);
	uint32_t *lists = malloc(2 * LASTING_KINDS * n * sizeof *lists);
	if (!l->fs || !lists) {
		free(l->fs);
		free(lists);
		free(l);
		return ENOMEM;
	}
	for (int d = 0; d < 2; d++)
		for (int k = 0; k < LASTING_KINDS; k++)
			l->lasting[d][k] = lists + ((size_t)d * LASTING_KINDS + (size_t)k) * n;
	l->run = r;
	l->no = ++r->links;
	l->opened = now;
	l->prng = r->seed ^ ((uint64_t)l->no * UINT64_C(0xD1B54A32D192ED03));
	for (size_t i = 0; i < r->plan.n; i++) {
		const struct mqtt_fault *f = &r->plan.faults[i];
		l->fs[i].trig = f->packet;
		l->fs[i].trig.dirs = f->dirs;
		l->fs[i].trig.seen = 0;
		if (f->when == MQTT_WHEN_P_PACKET) {
			l->fs[i].trig.first = 1;
			l->fs[i].trig.count = 0;
		}
		if (f->when == MQTT_WHEN_P_BYTE)
			l->fs[i].next_pbyte = next_pbyte(l, 0, f->p);
		if (f->action == MQTT_FAULT_LATENCY)
			l->fs[i].jitter_mod = fastmod_of(2 * (uint64_t)f->jitter_ms + 1);
		l->timed_left += f->when == MQTT_WHEN_START || f->when == MQTT_WHEN_TIME;
		bool edge = f->when == MQTT_WHEN_BEFORE || f->when == MQTT_WHEN_AFTER ||
		            f->when == MQTT_WHEN_P_PACKET;
		for (unsigned dir = MQTT_C2B; dir <= MQTT_B2C; dir <<= 1)
			if (f->dirs & dir) {
				l->edges[di(dir)] |= edge;
				int k = (int)f->action - LASTING_FIRST;
				if (k >= 0 && k < LASTING_KINDS)
					l->lasting[di(dir)][k][l->nlasting[di(dir)][k]++] = (uint32_t)i;
			}
	}
	timed_due(l);
	*out = l;
	return 0;
}

/* Gives a segment back: one of a class to the link's spares. */
static void seg_free(struct mqtt_fault_link *l, struct seg *s)
{
	for (int k = 0; k < 2; k++)
		if (s->cap == seg_class_cap[k] && l->nspare[k] < seg_spare_max[k]) {
			s->next = l->spare[k];
			l->spare[k] = s;
			l->nspare[k]++;
			return;
		}
	free(s);
}

void mqtt_fault_link_free(struct mqtt_fault_link *l)
{
	if (!l)
		return;
	for (int i = 0; i < 2; i++) {
		while (l->d[i].head) {
			struct seg *s = l->d[i].head;
			l->d[i].head = s->next;
			free(s);
		}
	}
	for (int k = 0; k < 2; k++)
		while (l->spare[k]) {
			struct seg *s = l->spare[k];
			l->spare[k] = s->next;
			free(s);
		}
	while (l->rhead) {
		struct report_node *n = l->rhead;
		l->rhead = n->next;
		free(n);
	}
	free(l->lasting[0][0]);
	free(l->fs);
	free(l);
}

uint32_t mqtt_fault_link_number(const struct mqtt_fault_link *l)
{
	return l->no;
}

static void report(struct mqtt_fault_link *l, size_t fi, unsigned dir, uint64_t now)
{
	struct report_node *n = calloc(1, sizeof *n);
	if (!n)
		return;
	const struct dir *d = &l->d[di(dir)];
	const struct mqtt_fault *f = &l->run->plan.faults[fi];
	n->r = (struct mqtt_fault_report){
		.time = now, .conn = l->no, .dir = dir, .offset = d->offset,
		.packet_type = d->pstate || d->offset > d->pstart ? d->ptype : 0,
		.packet_no = d->pstate || d->offset > d->pstart ? d->pno : 0,
		.action = f->action, .line = f->line, .fault = fi, .read_offset = d->kept,
	};
	n->read_offset_pending = f->action == MQTT_FAULT_CORRUPT;
	if (l->rtail)
		l->rtail->next = n;
	else
		l->rhead = n;
	l->rtail = n;
}

bool mqtt_fault_link_report(struct mqtt_fault_link *l, struct mqtt_fault_report *out)
{
	struct report_node *n = l->rhead;
	if (!n)
		return false;
	*out = n->r;
	l->rhead = n->next;
	if (!l->rhead)
		l->rtail = NULL;
	free(n);
	return true;
}

int mqtt_fault_report_format(const struct mqtt_fault_report *r, char *buf, size_t cap)
{
	char packet[48] = "";
	if (r->packet_type)
		snprintf(packet, sizeof packet, " packet=%s#%u", mqtt_type_name(r->packet_type),
		         (unsigned)r->packet_no);
	return snprintf(buf, cap, "t=%llums conn=%u %s byte=%llu%s action=%s line=%u",
	                (unsigned long long)r->time, (unsigned)r->conn,
	                r->dir == MQTT_C2B ? "c2b" : "b2c", (unsigned long long)r->offset, packet,
	                mqtt_fault_action_name(r->action), r->line);
}

/* Whether fault fi may act on link l now (connection filter, run-wide count). */
static bool may_act(const struct mqtt_fault_link *l, size_t fi)
{
	const struct mqtt_fault *f = &l->run->plan.faults[fi];
	if (f->conn && f->conn != l->no)
		return false;
	return !f->count || l->run->acted[fi] < f->count;
}

static void push_seg(struct dir *d, struct seg *s)
{
	s->next = NULL;
	if (d->tail)
		d->tail->next = s;
	else
		d->head = s;
	d->tail = s;
}

static void queue_fin(struct dir *d, uint64_t now)
{
	if (d->closed)
		return;
	d->closed = true;
	struct seg *s = calloc(1, sizeof *s);
	if (!s)
		return;
	s->kind = SEG_FIN;
	s->due = d->last_due > now ? d->last_due : now;
	if (d->stall_until > s->due)
		s->due = d->stall_until;
	push_seg(d, s);
}

static bool lasting_active(struct mqtt_fault_link *l, size_t fi, uint64_t now)
{
	struct fstate *s = &l->fs[fi];
	if (!s->active)
		return false;
	if (now >= s->until) {
		s->active = false;
		return false;
	}
	return true;
}

/* A fault fires: the effect starts at the current position of d. */
static void act(struct mqtt_fault_link *l, size_t fi, unsigned dir, uint64_t now, bool before)
{
	const struct mqtt_fault *f = &l->run->plan.faults[fi];
	struct dir *d = &l->d[di(dir)];
	l->run->acted[fi]++;
	report(l, fi, dir, now);
	switch (f->action) {
	case MQTT_FAULT_DROP:
		queue_fin(&l->d[0], now);
		queue_fin(&l->d[1], now);
		break;
	case MQTT_FAULT_RESET:
		l->reset = true;
		for (int i = 0; i < 2; i++) {
			l->d[i].closed = true;
			l->d[i].queued = 0;
			while (l->d[i].head) { /* a reset loses what was in flight */
				struct seg *s = l->d[i].head;
				l->d[i].head = s->next;
				seg_free(l, s);
			}
			l->d[i].tail = NULL;
		}
		break;
	case MQTT_FAULT_HALF_CLOSE:
		queue_fin(d, now);
		break;
	case MQTT_FAULT_STALL:
		if (now + f->ms > d->stall_until)
			d->stall_until = now + f->ms;
		break;
	case MQTT_FAULT_LATENCY:
	case MQTT_FAULT_BANDWIDTH:
	case MQTT_FAULT_PARTIAL_WRITE:
	case MQTT_FAULT_PARTIAL_READ:
		l->fs[fi].active = true;
		l->fs[fi].until = f->for_ms ? now + f->for_ms : UINT64_MAX;
		break;
	case MQTT_FAULT_CORRUPT:
		d->corrupt_left += f->size ? f->size : 1;
		d->corrupt_bits = f->bits;
		break;
	case MQTT_FAULT_TRUNCATE:
		if (before) {
			d->truncate_keep = f->size;
			d->truncate_half = !f->size;
		} else {
			d->truncate_next = true;
			d->truncate_next_keep = f->size;
		}
		break;
	case MQTT_FAULT_DISCARD:
		if (before)
			d->discard_packet = true;
		else
			d->discard_next = true;
		break;
	case MQTT_FAULT_EINTR:
	case MQTT_FAULT_EAGAIN:
		/* c2b: the client's next write; b2c: its next read. */
		if (dir == MQTT_C2B)
			d->inject_write = f->action == MQTT_FAULT_EINTR ? EINTR : EAGAIN;
		else
			d->inject_read = f->action == MQTT_FAULT_EINTR ? EINTR : EAGAIN;
		break;
	}
}

/* Time triggers and trigger-less faults of both directions. */
static void check_time(struct mqtt_fault_link *l, uint64_t now)
{
	if (!l->timed_left || now < l->timed_at)
		return;
	const struct mqtt_fault_plan *plan = &l->run->plan;
	for (size_t i = 0; l->timed_left && i < plan->n; i++) {
		const struct mqtt_fault *f = &plan->faults[i];
		struct fstate *s = &l->fs[i];
		if (s->time_done)
			continue;
		bool due = f->when == MQTT_WHEN_START ||
		           (f->when == MQTT_WHEN_TIME && now >= l->opened + f->time_ms);
		if (!due)
			continue;
		s->time_done = true;
		l->timed_left--;
		if (!may_act(l, i))
			continue;
		for (unsigned dir = MQTT_C2B; dir <= MQTT_B2C; dir <<= 1)
			if (f->dirs & dir)
				act(l, i, dir, now, false);
	}
	timed_due(l);
}

/* Faults of kind `when` on the packet boundary of d (BEFORE at its first byte, AFTER past its last). */
static void packet_edge(struct mqtt_fault_link *l, unsigned dir, uint64_t now,
                        enum mqtt_fault_when when)
{
	/* Most directions have none (only the network's jitter): every
	 * packet's edges went through the whole plan for nothing. */
	if (!l->edges[di(dir)])
		return;
	const struct mqtt_fault_plan *plan = &l->run->plan;
	struct dir *d = &l->d[di(dir)];
	for (size_t i = 0; i < plan->n; i++) {
		const struct mqtt_fault *f = &plan->faults[i];
		if (!(f->dirs & dir))
			continue;
		bool fire = false;
		if (f->when == when)
			fire = mqtt_trigger_hit(&l->fs[i].trig, dir, d->ptype);
		else if (when == MQTT_WHEN_BEFORE && f->when == MQTT_WHEN_P_PACKET)
			fire = mqtt_trigger_hit(&l->fs[i].trig, dir, d->ptype) && rnd01(l) < f->p;
		if (fire && may_act(l, i))
			act(l, i, dir, now, when != MQTT_WHEN_AFTER);
		if (d->closed)
			return;
	}
}

static void byte_triggers(struct mqtt_fault_link *l, unsigned dir, uint64_t now)
{
	const struct mqtt_fault_plan *plan = &l->run->plan;
	struct dir *d = &l->d[di(dir)];
	for (size_t i = 0; i < plan->n; i++) {
		const struct mqtt_fault *f = &plan->faults[i];
		if (!(f->dirs & dir))
			continue;
		if (f->when == MQTT_WHEN_BYTE && d->offset == f->byte && may_act(l, i)) {
			act(l, i, dir, now, true);
		} else if (f->when == MQTT_WHEN_P_BYTE && d->offset == l->fs[i].next_pbyte) {
			l->fs[i].next_pbyte = next_pbyte(l, d->offset + 1, f->p);
			if (may_act(l, i))
				act(l, i, dir, now, true);
		}
		if (d->closed)
			return;
	}
}

/* The bandwidth cap in force on dir, in bytes per second; 0 when none. */
/* The cap on dir's rate at now (0: none), and in *until when the caps in
 * force lift (UINT64_MAX: never). */
static uint64_t bandwidth(struct mqtt_fault_link *l, unsigned dir, uint64_t now, uint64_t *until)
{
	const struct mqtt_fault_plan *plan = &l->run->plan;
	uint64_t rate = 0;
	*until = 0;
	const int kind = MQTT_FAULT_BANDWIDTH - LASTING_FIRST;
	for (uint32_t at = 0; at < l->nlasting[di(dir)][kind]; at++) {
		uint32_t i = l->lasting[di(dir)][kind][at];
		const struct mqtt_fault *f = &plan->faults[i];
		if (!lasting_active(l, i, now))
			continue;
		if (!rate || f->rate < rate)
			rate = f->rate;
		if (l->fs[i].until > *until)
			*until = l->fs[i].until;
	}
	return rate;
}

/* When bytes written at now may be delivered, under stall and latency; order is kept. */
static uint64_t due_time(struct mqtt_fault_link *l, unsigned dir, uint64_t now)
{
	struct dir *d = &l->d[di(dir)];
	uint64_t due = now;
	if (d->stall_until > due)
		due = d->stall_until;
	const struct mqtt_fault_plan *plan = &l->run->plan;
	const int kind = MQTT_FAULT_LATENCY - LASTING_FIRST;
	for (uint32_t at = 0; at < l->nlasting[di(dir)][kind]; at++) {
		uint32_t i = l->lasting[di(dir)][kind][at];
		const struct mqtt_fault *f = &plan->faults[i];
		if (!lasting_active(l, i, now))
			continue;
		uint64_t j = f->jitter_ms
		             ? fastmod(rnd(l), l->fs[i].jitter_mod, 2 * (uint64_t)f->jitter_ms + 1)
		             : 0;
		uint64_t t = now + f->ms - f->jitter_ms + j;
		if (t > due)
			due = t;
	}
	return due > d->last_due ? due : d->last_due;
}

static void queue_seg(struct mqtt_fault_link *l, struct dir *d, uint64_t due, const uint8_t *b,
                      size_t n)
{
	struct seg *t = d->tail;
	if (t && t->kind == SEG_DATA && t->due == due && t->cap - t->len >= n) {
		memcpy(t->data + t->len, b, n);
		t->len += n;
		d->queued += n;
		return;
	}
	int k = n <= SEG_SMALL ? 0 : n <= SEG_LARGE ? 1 : -1;
	struct seg *s = k >= 0 ? l->spare[k] : NULL;
	if (s) {
		l->spare[k] = s->next;
		l->nspare[k]--;
	} else {
		size_t cap = k >= 0 ? seg_class_cap[k] : n;
		if (!(s = malloc(sizeof *s + cap)))
			return; /* out of memory: the bytes are lost, as on a bad link */
		s->cap = cap;
	}
	s->kind = SEG_DATA;
	s->len = n;
	s->off = 0;
	s->due = due;
	memcpy(s->data, b, n);
	push_seg(d, s);
	d->last_due = due;
	d->queued += n;
}

/* The first byte of a corrupt passes: where it lands in what the reader
 * gets (UINT64_MAX: nowhere, a discard or truncate took it; found by
 * mqttsim explore, seed 132401: a corrupt and a discard of one packet made
 * the oracle skip the next packet as damaged). A report already taken
 * keeps what it said. */
static void corrupt_landed(struct mqtt_fault_link *l, unsigned dir, uint64_t read_offset)
{
	for (struct report_node *n = l->rhead; n; n = n->next)
		if (n->read_offset_pending && n->r.dir == dir) {
			n->r.read_offset = read_offset;
			n->read_offset_pending = false;
		}
}

/* A nonzero value to XOR a byte with, within mask (0: any bit). */
static uint8_t flip(struct mqtt_fault_link *l, uint8_t mask)
{
	if (!mask || mask == 0xff)
		return (uint8_t)(1 + rnd(l) % 255);
	/* A nonzero subset of the mask's bits, uniformly: the k-th of them. */
	unsigned n = 0;
	uint8_t bits[8];
	for (int i = 0; i < 8; i++)
		if (mask >> i & 1)
			bits[n++] = (uint8_t)(1u << i);
	uint64_t k = 1 + rnd(l) % ((1u << n) - 1);
	uint8_t v = 0;
	for (unsigned i = 0; i < n; i++)
		if (k >> i & 1)
			v |= bits[i];
	return v;
}

static void queue_data(struct mqtt_fault_link *l, unsigned dir, uint64_t now, const uint8_t *b,
                       size_t n)
{
	struct dir *d = &l->d[di(dir)];
	if (!n || d->closed)
		return;
	d->kept += n;
	uint64_t due = due_time(l, dir, now);
	uint64_t lifts;
	uint64_t rate = bandwidth(l, dir, now, &lifts);
	if (!rate) {
		queue_seg(l, d, due, b, n);
		return;
	}
	/* Paced: chunks of at most a tick's worth of bytes, each due when the
	 * bytes before it in this burst have gone at rate. By bytes, not by
	 * chunks: a writer that writes a byte at a time (a partial-write
	 * fault) is not slowed to a byte a tick (found by mqttsim explore). */
	size_t chunk = (size_t)(rate * BANDWIDTH_TICK_MS / 1000);
	if (!chunk)
		chunk = 1;
	if (due >= d->bw_free || rate != d->bw_rate) {
		/* The link was idle (or the cap changed): a new burst. */
		d->bw_start = due > d->bw_free ? due : d->bw_free;
		d->bw_bytes = 0;
		d->bw_rate = rate;
	}
	/* Once the cap lifts, what waits goes at once: a backlog queued
	 * under it is not paced for ever after (found by mqttsim explore,
	 * seed 77100: acknowledgements paced for seconds past the cap's end
	 * timed out every connection). */
	for (size_t off = 0; off < n; off += chunk) {
		size_t len = n - off < chunk ? n - off : chunk;
		uint64_t at = d->bw_start + d->bw_bytes * 1000 / rate;
		if (at > lifts)
			at = lifts;
		queue_seg(l, d, at > due ? at : due, b + off, len);
		d->bw_bytes += len;
	}
	/* The burst's end: a write after it starts a new one. */
	d->bw_free = d->bw_start + (d->bw_bytes * 1000 + rate - 1) / rate;
	if (d->bw_free > lifts)
		d->bw_free = lifts;
}

/* The stream offset (from `from` on) of the next byte trigger of dir; UINT64_MAX when none. */
static uint64_t next_byte_event(const struct mqtt_fault_link *l, unsigned dir, uint64_t from)
{
	const struct mqtt_fault_plan *plan = &l->run->plan;
	uint64_t next = UINT64_MAX;
	for (size_t i = 0; i < plan->n; i++) {
		const struct mqtt_fault *f = &plan->faults[i];
		if (!(f->dirs & dir))
			continue;
		uint64_t at = f->when == MQTT_WHEN_BYTE ? f->byte
		            : f->when == MQTT_WHEN_P_BYTE ? l->fs[i].next_pbyte
		                                          : UINT64_MAX;
		if (at >= from && at < next)
			next = at;
	}
	return next;
}

/* n, or less under a partial-write or partial-read (action) in force on dir. */
static size_t piece(struct mqtt_fault_link *l, enum mqtt_fault_action action, unsigned dir,
                    uint64_t now, size_t n)
{
	const struct mqtt_fault_plan *plan = &l->run->plan;
	const int kind = (int)action - LASTING_FIRST;
	for (uint32_t at = 0; at < l->nlasting[di(dir)][kind]; at++) {
		uint32_t i = l->lasting[di(dir)][kind][at];
		const struct mqtt_fault *f = &plan->faults[i];
		if (!lasting_active(l, i, now))
			continue;
		size_t k = f->size ? f->size : 1 + (size_t)(rnd(l) % RANDOM_SIZE_MAX);
		if (k < n)
			n = k;
	}
	return n;
}

/* The size of the well-formed packet that starts p[0..n) when it lies
 * whole in it and fits one segment of the byte loop's buffer; else 0. */
static size_t whole_packet(const uint8_t *p, size_t n)
{
	uint32_t rem = 0, mult = 1;
	for (size_t k = 1; k < n && k <= 4; k++) {
		rem += (uint32_t)(p[k] & 0x7f) * mult;
		mult *= 128;
		if (!(p[k] & 0x80)) {
			size_t total = 1 + k + (size_t)rem;
			return total <= n && total <= WRITE_BUF ? total : 0;
		}
	}
	return 0;
}

size_t mqtt_fault_link_room(struct mqtt_fault_link *l, unsigned dir, uint64_t now, size_t want)
{
	check_time(l, now);
	struct dir *d = &l->d[di(dir)];
	if (l->reset || d->closed)
		return 0;
	return piece(l, MQTT_FAULT_PARTIAL_WRITE, dir, now, want);
}

size_t mqtt_fault_link_write(struct mqtt_fault_link *l, unsigned dir, uint64_t now,
                             const void *data, size_t len)
{
	check_time(l, now);
	struct dir *d = &l->d[di(dir)];
	if (l->reset || d->closed)
		return 0;
	const uint8_t *in = data;
	if (!l->run->plan.n) {
		/* No faults: the bytes pass as written. */
		queue_data(l, dir, now, in, len);
		d->offset += len;
		return len;
	}
	uint8_t buf[WRITE_BUF];
	size_t have = 0; /* bytes in buf waiting to be queued together */
	uint64_t byte_event = next_byte_event(l, dir, d->offset);
	for (size_t i = 0; i < len; i++) {
		if (d->pstate == 2 && d->rem > 1 && !d->corrupt_left && !d->discard_packet &&
		    !d->truncate_keep && !d->truncate_half) {
			/* The middle of a body with nothing to do in it: in one piece.
			 * Its last byte goes the slow way, where the packet ends. */
			size_t k = d->rem - 1 < len - i ? d->rem - 1 : len - i;
			if (byte_event != UINT64_MAX && byte_event < d->offset + k)
				k = byte_event > d->offset ? (size_t)(byte_event - d->offset) : 0;
			if (k) {
				if (have + k > sizeof buf) {
					queue_data(l, dir, now, buf, have);
					have = 0;
				}
				if (k > sizeof buf) {
					queue_data(l, dir, now, in + i, k);
				} else {
					memcpy(buf + have, in + i, k);
					have += k;
				}
				d->offset += k;
				d->rem -= (uint32_t)k;
				i += k - 1;
				continue;
			}
		}
		if (d->pstate == 0 && !have && !l->edges[di(dir)] && !d->corrupt_left &&
		    !d->discard_next && !d->truncate_next && !d->truncate_keep && !d->truncate_half) {
			size_t whole = whole_packet(in + i, len - i);
			if (whole && (byte_event == UINT64_MAX || byte_event >= d->offset + whole)) {
				/* A whole packet, with nothing to trigger or change in it:
				 * one segment, as the byte loop below would make it. */
				d->ptype = in[i] >> 4;
				d->pstart = d->offset;
				d->pno = ++d->seen[d->ptype & 15];
				d->discard_packet = false;
				queue_data(l, dir, now, in + i, whole);
				d->offset += whole;
				i += whole - 1;
				continue;
			}
		}
		if (d->pstate == 0) {
			/* A packet starts. */
			queue_data(l, dir, now, buf, have);
			have = 0;
			d->ptype = in[i] >> 4;
			d->pstart = d->offset;
			d->pno = ++d->seen[d->ptype & 15];
			d->rem = 0;
			d->mult = 1;
			d->lenbytes = 0;
			d->pstate = 1;
			d->discard_packet = d->discard_next;
			d->discard_next = false;
			if (d->truncate_next) {
				d->truncate_keep = d->truncate_next_keep;
				d->truncate_half = !d->truncate_next_keep;
				d->truncate_next = false;
			}
			packet_edge(l, dir, now, MQTT_WHEN_BEFORE);
		}
		if (d->offset == byte_event) {
			queue_data(l, dir, now, buf, have);
			have = 0;
			byte_triggers(l, dir, now);
			byte_event = next_byte_event(l, dir, d->offset + 1);
		}
		if (l->reset || d->closed) {
			queue_data(l, dir, now, buf, have);
			d->offset += len - i; /* taken, and lost on the way */
			return len;
		}
		uint8_t b = in[i];
		uint64_t pos = d->offset - d->pstart; /* within the packet */
		bool keep = !d->discard_packet &&
		            !(d->truncate_keep && pos >= d->truncate_keep);
		if (d->corrupt_left) {
			b ^= flip(l, d->corrupt_bits);
			d->corrupt_left--;
			corrupt_landed(l, dir, keep ? d->kept + have : UINT64_MAX);
		}
		if (keep) {
			buf[have++] = b;
			if (have == sizeof buf) {
				queue_data(l, dir, now, buf, have);
				have = 0;
			}
		}
		d->offset++;
		/* Framing: type byte, 1-4 length bytes, body. */
		bool ended = false;
		if (d->pstate == 1 && pos >= 1) {
			d->rem += (uint32_t)(in[i] & 0x7f) * d->mult;
			d->mult *= 128;
			d->lenbytes++;
			if (!(in[i] & 0x80) || d->lenbytes == 4) {
				d->pstate = 2;
				if (d->truncate_half) {
					uint64_t total = 1 + (uint64_t)d->lenbytes + d->rem;
					d->truncate_keep = (uint32_t)(total / 2 ? total / 2 : 1);
					d->truncate_half = false;
				}
				ended = d->rem == 0;
			}
		} else if (d->pstate == 2) {
			ended = --d->rem == 0;
		}
		if (ended) {
			d->pstate = 0;
			d->discard_packet = false;
			d->truncate_keep = 0;
			queue_data(l, dir, now, buf, have);
			have = 0;
			d->offset--; /* report the packet's last byte as its place */
			packet_edge(l, dir, now, MQTT_WHEN_AFTER);
			d->offset++;
			if (l->reset || d->closed) {
				d->offset += len - i - 1;
				return len;
			}
		}
	}
	queue_data(l, dir, now, buf, have);
	return len;
}

void mqtt_fault_link_shutdown(struct mqtt_fault_link *l, unsigned dir, uint64_t now, bool reset)
{
	if (reset) {
		l->reset = true;
		for (int i = 0; i < 2; i++)
			l->d[i].closed = true;
		return;
	}
	queue_fin(&l->d[di(dir)], now);
}

size_t mqtt_fault_link_peek(struct mqtt_fault_link *l, unsigned dir, uint64_t now,
                            const uint8_t **data)
{
	check_time(l, now);
	struct dir *d = &l->d[di(dir)];
	*data = NULL;
	if (l->reset)
		return 0;
	struct seg *s = d->head;
	while (s && s->kind == SEG_DATA && s->off == s->len) {
		d->head = s->next;
		if (!d->head)
			d->tail = NULL;
		seg_free(l, s);
		s = d->head;
	}
	if (!s || s->kind != SEG_DATA || s->due > now)
		return 0;
	*data = s->data + s->off;
	return piece(l, MQTT_FAULT_PARTIAL_READ, dir, now, s->len - s->off);
}

void mqtt_fault_link_consume(struct mqtt_fault_link *l, unsigned dir, size_t n)
{
	struct dir *d = &l->d[di(dir)];
	struct seg *s = d->head;
	if (!s || s->kind != SEG_DATA)
		return;
	size_t take = n < s->len - s->off ? n : s->len - s->off;
	s->off += take;
	d->queued -= take;
	if (s->off == s->len) {
		d->head = s->next;
		if (!d->head)
			d->tail = NULL;
		seg_free(l, s);
	}
}

enum mqtt_fault_state mqtt_fault_link_state(const struct mqtt_fault_link *l, unsigned dir,
                                            uint64_t now)
{
	if (l->reset)
		return MQTT_LINK_RESET;
	const struct seg *s = l->d[di(dir)].head;
	while (s && s->kind == SEG_DATA && s->off == s->len)
		s = s->next;
	if (s && s->kind == SEG_FIN && s->due <= now)
		return MQTT_LINK_EOF;
	return MQTT_LINK_OPEN;
}

int mqtt_fault_link_inject(struct mqtt_fault_link *l, unsigned dir, uint64_t now, bool write)
{
	check_time(l, now);
	struct dir *d = &l->d[di(dir)];
	int *slot = write ? &d->inject_write : &d->inject_read;
	int e = *slot;
	*slot = 0;
	return e;
}

size_t mqtt_fault_link_queued(const struct mqtt_fault_link *l, unsigned dir)
{
	return l->d[di(dir)].queued;
}

uint64_t mqtt_fault_link_next(const struct mqtt_fault_link *l, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	if (l->reset)
		return next;
	for (int i = 0; i < 2; i++) {
		const struct seg *s = l->d[i].head;
		while (s && s->kind == SEG_DATA && s->off == s->len)
			s = s->next;
		if (s && s->due < next)
			next = s->due;
	}
	if (l->time_next < next)
		next = l->time_next;
	return next < now ? now : next;
}
