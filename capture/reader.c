/*
 * reader.c - captures down to TCP segments, and TCP streams back
 * together (reader.h).
 */
#define _DEFAULT_SOURCE /* the BSD types <pcap/pcap.h> uses */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

struct capture {
	pcap_t *p;
	int linktype;
	uint64_t frame, skipped;
};

int capture_open(struct capture **out, const char *path, char *err, size_t errcap)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, perr);
	if (!p) {
		snprintf(err, errcap, "%s: %s", path, *perr ? perr : "cannot be read as a capture");
		return -1;
	}
	struct capture *c = calloc(1, sizeof *c);
	if (!c) {
		pcap_close(p);
		snprintf(err, errcap, "%s: out of memory", path);
		return -1;
	}
	c->p = p;
	c->linktype = pcap_datalink(p);
	*out = c;
	return 0;
}

static uint16_t be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Where the IP packet starts in a frame of the capture's link type; -1: none. */
static long ip_offset(int linktype, const uint8_t *b, size_t len)
{
	switch (linktype) {
	case DLT_EN10MB: {
		size_t at = 12;
		while (at + 2 <= len && (be16(b + at) == 0x8100 || be16(b + at) == 0x88a8))
			at += 4; /* VLAN tags */
		if (at + 2 > len)
			return -1;
		uint16_t type = be16(b + at);
		return type == 0x0800 || type == 0x86dd ? (long)(at + 2) : -1;
	}
	case DLT_LINUX_SLL:
		return len >= 16 && (be16(b + 14) == 0x0800 || be16(b + 14) == 0x86dd) ? 16 : -1;
	case DLT_LINUX_SLL2:
		return len >= 20 && (be16(b) == 0x0800 || be16(b) == 0x86dd) ? 20 : -1;
	case DLT_NULL:
	case DLT_LOOP: {
		if (len < 4)
			return -1;
		/* The family in the capturing host's byte order (NULL) or in
		 * network order (LOOP): 2 is IPv4; 10, 24, 28, 30 are IPv6. */
		uint32_t le = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
		uint32_t fam = linktype == DLT_LOOP || le > 0xffff ? be32(b) : le;
		return fam == 2 || fam == 10 || fam == 24 || fam == 28 || fam == 30 ? 4 : -1;
	}
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return 0;
	default:
		return -1;
	}
}

/* The TCP segment in the IP packet at b; false when there is none. */
static bool tcp_in_ip(const uint8_t *b, size_t len, struct tcp_segment *s)
{
	size_t at;
	if (len < 1)
		return false;
	if (b[0] >> 4 == 4) {
		size_t ihl = (size_t)(b[0] & 15) * 4;
		if (len < 20 || ihl < 20 || len < ihl || b[9] != 6)
			return false;
		if (be16(b + 6) & 0x3fff)
			return false; /* a fragment: not reassembled here */
		size_t total = be16(b + 2);
		if (total >= ihl && total < len)
			len = total; /* Ethernet padding */
		s->family = 4;
		memset(s->src, 0, 16);
		memset(s->dst, 0, 16);
		memcpy(s->src, b + 12, 4);
		memcpy(s->dst, b + 16, 4);
		at = ihl;
	} else if (b[0] >> 4 == 6) {
		if (len < 40)
			return false;
		size_t payload = be16(b + 4);
		if (40 + payload < len)
			len = 40 + payload;
		uint8_t next = b[6];
		at = 40;
		/* Hop-by-hop, routing and destination options come before TCP. */
		while ((next == 0 || next == 43 || next == 60) && at + 8 <= len) {
			next = b[at];
			at += (size_t)(b[at + 1] + 1) * 8;
		}
		if (next != 6 || at > len)
			return false;
		s->family = 6;
		memcpy(s->src, b + 8, 16);
		memcpy(s->dst, b + 24, 16);
	} else {
		return false;
	}
	if (len - at < 20)
		return false;
	const uint8_t *t = b + at;
	size_t off = (size_t)(t[12] >> 4) * 4;
	if (off < 20 || off > len - at)
		return false;
	s->sport = be16(t);
	s->dport = be16(t + 2);
	s->seq = be32(t + 4);
	s->flags = t[13];
	s->payload = t + off;
	s->len = len - at - off;
	return true;
}

int capture_next(struct capture *c, struct tcp_segment *seg, char *err, size_t errcap)
{
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *data;
		int rc = pcap_next_ex(c->p, &h, &data);
		if (rc == PCAP_ERROR_BREAK)
			return 0;
		if (rc < 0) {
			snprintf(err, errcap, "record %llu: %s", (unsigned long long)c->frame + 1,
			         pcap_geterr(c->p));
			return -1;
		}
		if (rc == 0)
			continue;
		c->frame++;
		memset(seg, 0, sizeof *seg);
		seg->frame = c->frame;
		seg->ts_us = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
		long ip = ip_offset(c->linktype, data, h->caplen);
		if (ip < 0 || !tcp_in_ip(data + ip, h->caplen - (size_t)ip, seg)) {
			c->skipped++;
			continue;
		}
		return 1;
	}
}

uint64_t capture_skipped(const struct capture *c)
{
	return c->skipped;
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	pcap_close(c->p);
	free(c);
}

/* ---- streams ---- */

struct pending {
	struct pending *next;
	uint32_t seq;
	uint64_t frame;
	size_t len;
	uint8_t data[];
};

struct half {
	bool started, closed;
	uint32_t next;          /* the sequence number expected next */
	struct pending *waiting; /* out of order, by sequence */
};

struct stream {
	int family;
	uint8_t addr[2][16];
	uint16_t port[2];        /* [0]: the side that opened it (or sent first) */
	struct half h[2];
};

struct tcp_streams {
	const struct tcp_streams_ops *ops;
	void *arg;
	struct stream *s;
	size_t n, cap;
	size_t last;             /* the stream of the last segment: most come in runs */
	bool oom;                /* a segment could not be kept */
};

struct tcp_streams *tcp_streams_new(const struct tcp_streams_ops *ops, void *arg)
{
	struct tcp_streams *t = calloc(1, sizeof *t);
	if (t) {
		t->ops = ops;
		t->arg = arg;
	}
	return t;
}

static bool is_side(const struct stream *s, int side, const struct tcp_segment *g)
{
	return s->family == g->family && s->port[side] == g->sport && s->port[!side] == g->dport &&
	       !memcmp(s->addr[side], g->src, 16) && !memcmp(s->addr[!side], g->dst, 16);
}

/* The stream of seg and its direction; a new stream for a new pair. */
static struct stream *find(struct tcp_streams *t, const struct tcp_segment *g, int *dir)
{
	for (size_t k = 0; k < t->n; k++) {
		size_t i = (t->last + k) % t->n;
		for (int side = 0; side < 2; side++)
			if (is_side(&t->s[i], side, g)) {
				t->last = i;
				*dir = side;
				return &t->s[i];
			}
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct stream *ns = realloc(t->s, cap * sizeof *ns);
		if (!ns)
			return NULL;
		t->s = ns;
		t->cap = cap;
	}
	struct stream *s = &t->s[t->n];
	memset(s, 0, sizeof *s);
	s->family = g->family;
	/* Who opened it: a lone SYN says; else a well-known MQTT port is the
	 * broker's; else the first sender is the client. */
	bool from_server = (g->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) ||
	                   (!(g->flags & TCP_SYN) && (g->sport == 1883 || g->sport == 8883) &&
	                    g->dport != 1883 && g->dport != 8883);
	int me = from_server ? 1 : 0;
	memcpy(s->addr[me], g->src, 16);
	memcpy(s->addr[!me], g->dst, 16);
	s->port[me] = g->sport;
	s->port[!me] = g->dport;
	t->last = t->n++;
	if (t->ops->opened)
		t->ops->opened(t->arg, (unsigned)t->last, s->port[0], s->port[1]);
	*dir = me;
	return s;
}

/* Delivers the waiting segments that now follow on. */
static void drain(struct tcp_streams *t, unsigned id, int dir, struct half *h, uint64_t frame)
{
	while (h->waiting) {
		struct pending *p = h->waiting;
		int32_t rel = (int32_t)(p->seq - h->next);
		if (rel > 0)
			return;
		h->waiting = p->next;
		size_t skip = (size_t)-rel;
		if (skip < p->len) {
			t->ops->data(t->arg, id, dir, frame, p->data + skip, p->len - skip);
			h->next += (uint32_t)(p->len - skip);
		}
		free(p);
	}
}

/* The segment's bytes: delivered in order, or kept until a hole fills. */
static void add_payload(struct tcp_streams *t, unsigned id, struct half *h, int dir,
                        const struct tcp_segment *g)
{
	if (!g->len)
		return;
	if (!h->started) {
		h->started = true; /* mid-connection: from here on */
		h->next = g->seq;
	}
	int32_t rel = (int32_t)(g->seq - h->next);
	if (rel + (int64_t)g->len <= 0)
		return; /* all of it came before: a retransmission */
	if (rel <= 0) {
		size_t skip = (size_t)-rel;
		t->ops->data(t->arg, id, dir, g->frame, g->payload + skip, g->len - skip);
		h->next += (uint32_t)(g->len - skip);
		drain(t, id, dir, h, g->frame);
		return;
	}
	/* Ahead of a hole: it waits, in sequence order. */
	struct pending **at = &h->waiting;
	while (*at && (int32_t)((*at)->seq - g->seq) < 0)
		at = &(*at)->next;
	if (*at && (*at)->seq == g->seq && (*at)->len >= g->len)
		return; /* the same segment again */
	struct pending *p = malloc(sizeof *p + g->len);
	if (!p) {
		t->oom = true;
		return;
	}
	p->seq = g->seq;
	p->frame = g->frame;
	p->len = g->len;
	memcpy(p->data, g->payload, g->len);
	p->next = *at;
	*at = p;
}

int tcp_streams_add(struct tcp_streams *t, const struct tcp_segment *g)
{
	int dir;
	struct stream *s = find(t, g, &dir);
	if (!s)
		return -1;
	unsigned id = (unsigned)(s - t->s);
	struct half *h = &s->h[dir];
	if (g->flags & TCP_SYN) {
		h->started = true;
		h->next = g->seq + 1;
		return 0;
	}
	add_payload(t, id, h, dir, g);
	if ((g->flags & (TCP_FIN | TCP_RST)) && !h->closed) {
		h->closed = true;
		if (t->ops->closed)
			t->ops->closed(t->arg, id, dir, g->frame);
	}
	return t->oom ? -1 : 0;
}

void tcp_streams_finish(struct tcp_streams *t, uint64_t last_frame)
{
	(void)last_frame;
	for (size_t i = 0; i < t->n; i++)
		for (int dir = 0; dir < 2; dir++) {
			struct half *h = &t->s[i].h[dir];
			while (h->waiting) {
				/* The hole never filled: say so, and go on after it. */
				struct pending *p = h->waiting;
				if (t->ops->gap)
					t->ops->gap(t->arg, (unsigned)i, dir, p->frame, p->seq - h->next);
				h->next = p->seq;
				drain(t, (unsigned)i, dir, h, p->frame);
			}
		}
}

void tcp_streams_free(struct tcp_streams *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		for (int dir = 0; dir < 2; dir++)
			while (t->s[i].h[dir].waiting) {
				struct pending *p = t->s[i].h[dir].waiting;
				t->s[i].h[dir].waiting = p->next;
				free(p);
			}
	free(t->s);
	free(t);
}
