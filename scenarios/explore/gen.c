/*
 * gen.c - a seed becomes a scenario (explore_generate in gen.h).
 *
 * Swarm testing: each seed first draws which kinds of trouble it may
 * use at all (a random subset of drops, resets, stalls, partial reads
 * and writes, latency, bandwidth, header corruption, discards, crashes
 * with unsynced writes lost, full disks, broker rules), so that some
 * runs stack one kind many times and others mix a few, instead of every
 * run mixing everything a little. Then it draws the clients, their
 * subscriptions, the workload, and faults of the enabled kinds at
 * random packet positions and times.
 *
 * Each draw of the generator is a statement of its own, never two
 * arguments of one call: C leaves their order to the compiler, and gcc
 * and clang differ (the same seed would make two scenarios).
 *
 * Every fault ends: a probability trigger is capped by count=, slow
 * links and partial I/O last for=, full disks for=, crashed clients
 * restart. So once the trouble is over the workload can complete, and
 * the generator can demand liveness. What it leaves out is what a
 * correct client and broker could not survive, not what they might
 * fail at:
 *   - a discard (a packet lost while the link stays up) only where the
 *     client's acknowledgement timeout recovers it: its own PUBLISH or
 *     PUBREL, or the PUBACK, PUBREC or PUBCOMP it waits for;
 *   - corruption only of the flags of a packet whose flags are fixed
 *     (not PUBLISH): a flip breaks them, so the receiver sees a protocol
 *     violation [MQTT-2.2.2-2]; a flipped type bit can make another
 *     valid packet, lost while the link stays up; a flipped PUBLISH flag or
 *     payload byte is a different message
 *     that no oracle can tell from a phantom, and a flipped length
 *     holds a packet until a timer happens to end it;
 *   - broker rules that the protocol allows (refused connects with
 *     code 3, late acknowledgements, closed connections, refused
 *     subscriptions, an acknowledgement withheld from a client whose
 *     timeout resends); rules that break the broker's own guarantees
 *     are for the hand-written scenarios that must catch them;
 *   - an acknowledgement timeout shorter than what the slow links it
 *     is given can deliver in time (it would reconnect for ever).
 * The one fault that does not end, a stall for ever, goes only to a
 * client with a keep-alive, which must end it: so a client's timers are
 * put to the test, not only its reconnects.
 *
 * Some seeds also hold a trial of one client's timers, drawn from a
 * stream of their own (so the rest of the scenario is what the seed
 * makes without it): a run of refused connects, long enough that only
 * a backoff with a cap keeps the client live; or a writer whose link
 * stalls for ever once more than a socket's buffer waits, with no
 * keep-alive and no acknowledgement timeout, so that only its pause
 * timeout (on writes) ends the connection; or two crashes of a client
 * with a store while its link holds what it sent, so that the second
 * restart finds records of both processes, which it must resend in
 * publish order; or a quiet reader, a client of its own that only reads
 * QoS 0 messages, more often than once a keep-alive period, and must
 * still ping to keep its connection (generator 11).
 * And one seed in eight closes a client by DISCONNECT during the
 * workload (from a stream of its own too): the rest of its lines is
 * never carried out, and the oracle owes nothing it had left unfinished
 * or unread.
 * The expectations are then what the oracle judges for that
 * configuration: every invariant the scenario's workload exercises.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gen.h"

enum kind {
	K_DROP, K_RESET, K_HALF_CLOSE, K_STALL, K_PARTIAL, K_LATENCY, K_BANDWIDTH, K_CORRUPT,
	K_DISCARD, K_INTERRUPT, K_CRASH, K_DAMAGE, K_DISK, K_RULES, K_COUNT
};

static const char *const kind_names[K_COUNT] = {
	"drop", "reset", "half-close", "stall", "partial", "latency", "bandwidth", "corrupt",
	"discard", "eintr/eagain", "crash", "damage", "full disk", "broker rules",
};

#define MAX_CLIENTS 4
#define NTOPICS 3
static const char *const topics[NTOPICS] = {"t/a", "t/b", "u/c"};
static const char *const filters[] = {"t/a", "t/b", "u/c", "t/+", "t/#", "#", "+/c", "+/+"};
#define NFILTERS (sizeof filters / sizeof *filters)
/* Now and then, topics at the edges of the wildcards' levels: a parent
 * level ('#' takes it, '+' does not), a level deeper, an empty level, a
 * '$' topic (no wildcard first takes it); and filters that reach them.
 * Rare, so that most messages still meet most subscriptions (generator
 * 10: planted defects in the broker's matching went unseen before). */
#define NEDGE_TOPICS 4
static const char *const edge_topics[NEDGE_TOPICS] = {"t", "t/a/x", "t//x", "$s/a"};
static const char *const edge_filters[] = {"+", "t/+/x", "+/+/x", "$s/#", "$s/+"};
#define NEDGE_FILTERS (sizeof edge_filters / sizeof *edge_filters)

struct gclient {
	bool clean, fs, publishes, subscribes;
	unsigned window;
	uint32_t ack_ms;     /* 0: no acknowledgement timeout */
	uint32_t read_buffer;
	bool will;
	unsigned keepalive;  /* seconds; 0: none */
	unsigned qos_used;   /* 1 << the QoS of each of its publish lines */
	bool crashes;        /* it has a crash line */
};

struct gen {
	uint64_t state;
	char *out;
	size_t cap, len;
	bool full;
	unsigned kinds;           /* the swarm: enabled kinds, 1 << enum kind */
	int nclients;
	struct gclient c[MAX_CLIENTS];
	bool qos2, retain, late, will, damage, discard;
	/* The trial of a client's timers or store: which, on whom, from its own stream. */
	enum trial { T_NONE, T_REFUSED, T_STALLED_WRITER, T_TWO_RESTARTS, T_QUIET_READER } trial;
	int tv;
	uint64_t trial_state;
};

/* splitmix64: small, fast, and the same everywhere. */
static uint64_t next(struct gen *g)
{
	uint64_t z = (g->state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* 0 to n - 1. */
static uint32_t below(struct gen *g, uint32_t n)
{
	return (uint32_t)(next(g) % n);
}

/* lo to hi, inclusive. */
static uint32_t between(struct gen *g, uint32_t lo, uint32_t hi)
{
	return lo + below(g, hi - lo + 1);
}

/* True num times in den. */
static bool chance(struct gen *g, uint32_t num, uint32_t den)
{
	return below(g, den) < num;
}

static bool enabled(const struct gen *g, enum kind k)
{
	return g->kinds & 1u << k;
}

/* A draw of the trial's own stream: lo to hi, inclusive. */
static uint32_t trial_between(struct gen *g, uint32_t lo, uint32_t hi)
{
	struct gen t = {.state = g->trial_state};
	uint32_t v = between(&t, lo, hi);
	g->trial_state = t.state;
	return v;
}

static void put(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct gen *g, const char *fmt, ...)
{
	if (g->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(g->out + g->len, g->cap - g->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= g->cap - g->len)
		g->full = true;
	else
		g->len += (size_t)n;
}

static const char *pick(struct gen *g, const char *const *from, uint32_t n)
{
	return from[below(g, n)];
}

/* A packet the client sends (c2b) or receives (b2c), as a trigger. */
static void packet(struct gen *g, bool c2b, uint32_t max_k)
{
	static const char *const sent[] = {"CONNECT", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	                                   "PUBCOMP", "SUBSCRIBE", "PINGREQ"};
	static const char *const received[] = {"CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	                                       "PUBCOMP", "SUBACK"};
	const char *type = c2b ? pick(g, sent, 8) : pick(g, received, 7);
	uint32_t k = !strcmp(type, "CONNECT") || !strcmp(type, "CONNACK") ? between(g, 1, 3)
	                                                                    : between(g, 1, max_k);
	put(g, "%s#%u", type, k);
}

/* A packet whose first byte's flags are fixed, to corrupt: a flipped
 * PUBLISH flag (DUP, QoS, RETAIN) makes another valid message, which no
 * oracle can tell from what the client sent (found by mqttsim explore:
 * a QoS 1 PUBLISH turned QoS 2 on the way). */
static void packet_fixed_flags(struct gen *g, bool c2b, uint32_t max_k)
{
	static const char *const sent[] = {"CONNECT", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	                                   "SUBSCRIBE", "PINGREQ"};
	static const char *const received[] = {"CONNACK", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	                                       "SUBACK"};
	const char *type = c2b ? pick(g, sent, 7) : pick(g, received, 6);
	uint32_t k = !strcmp(type, "CONNECT") || !strcmp(type, "CONNACK") ? between(g, 1, 3)
	                                                                    : between(g, 1, max_k);
	put(g, "%s#%u", type, k);
}

/* A trigger: a packet, a time, or a probability capped by count=. */
static void trigger(struct gen *g, bool c2b, uint32_t max_k)
{
	switch (below(g, 4)) {
	case 0:
		put(g, " before=");
		packet(g, c2b, max_k);
		break;
	case 1:
		put(g, " after=");
		packet(g, c2b, max_k);
		break;
	case 2:
		put(g, " time=%ums", between(g, 1, 3000));
		break;
	default:
		put(g, " p=0.0%u", between(g, 1, 9));
		break;
	}
}

static const char *dir(struct gen *g, bool c2b)
{
	(void)g;
	return c2b ? "c2b" : "b2c";
}

/* Longer than any run (mqttsim's limit is 600 s of virtual time). */
#define STALL_FOR_EVER_MS 900000u

/* Faults of the enabled kinds on client i's link. */
static void faults(struct gen *g, int i, uint32_t max_k)
{
	struct gclient *c = &g->c[i];
	static const enum kind cuts[] = {K_DROP, K_RESET, K_HALF_CLOSE};
	static const char *const cut_names[] = {"drop", "reset", "half-close"};
	for (int k = 0; k < 3; k++)
		for (uint32_t n = enabled(g, cuts[k]) ? below(g, 3) : 0; n > 0; n--) {
			bool c2b = chance(g, 1, 2);
			put(g, "fault c%d %s", i + 1, dir(g, c2b));
			bool prob = false;
			if (chance(g, 1, 4)) {
				put(g, " p=0.0%u", between(g, 1, 5));
				prob = true;
			} else {
				put(g, chance(g, 1, 2) ? " after=" : " before=");
				packet(g, c2b, max_k);
			}
			put(g, " %s%s\n", cut_names[k], prob ? " count=2" : "");
		}
	if (enabled(g, K_STALL) && chance(g, 2, 3)) {
		bool c2b = chance(g, 1, 2);
		put(g, "fault c%d %s", i + 1, dir(g, c2b));
		trigger(g, c2b, max_k);
		put(g, " stall ms=%u%s\n", between(g, 50, 6000), " count=1");
	}
	if (enabled(g, K_STALL) && c->keepalive && chance(g, 1, 3)) {
		/* A silence that outlasts the run, where only keep-alive ends
		 * it: the client's PINGREQ or the broker's PINGRESP never comes,
		 * and the client gives the connection up (the broker too, after
		 * one and a half keep-alive periods of a silent client
		 * [MQTT-3.1.2-24]). */
		bool c2b = chance(g, 1, 2);
		put(g, "fault c%d %s", i + 1, dir(g, c2b));
		trigger(g, c2b, max_k);
		put(g, " stall ms=%u count=1\n", STALL_FOR_EVER_MS);
	}
	if (enabled(g, K_PARTIAL) && chance(g, 2, 3)) {
		bool c2b = chance(g, 1, 2);
		const char *what = chance(g, 1, 2) ? "partial-write" : "partial-read";
		uint32_t size = between(g, 1, 20);
		put(g, "fault c%d %s %s size=%u", i + 1, dir(g, c2b), what, size);
		if (chance(g, 1, 2))
			put(g, " for=%ums", between(g, 100, 3000));
		put(g, "\n");
	}
	if (enabled(g, K_LATENCY) && chance(g, 2, 3)) {
		bool c2b = chance(g, 1, 2);
		uint32_t ms = between(g, 1, 150);
		put(g, "fault c%d %s", i + 1, dir(g, c2b));
		if (chance(g, 1, 2))
			put(g, " time=%ums", between(g, 1, 2000));
		uint32_t jitter = below(g, ms + 1);
		uint32_t lasting = between(g, 100, 3000);
		put(g, " latency ms=%u jitter=%u for=%ums\n", ms, jitter, lasting);
	}
	if (enabled(g, K_BANDWIDTH) && chance(g, 2, 3)) {
		bool c2b = chance(g, 1, 2);
		put(g, "fault c%d %s", i + 1, dir(g, c2b));
		if (chance(g, 1, 2))
			put(g, " time=%ums", between(g, 1, 2000));
		uint32_t rate = between(g, 2000, 200000);
		uint32_t lasting = between(g, 100, 3000);
		put(g, " bandwidth rate=%u for=%ums\n", rate, lasting);
	}
	if (enabled(g, K_CORRUPT) && chance(g, 2, 3)) {
		bool c2b = chance(g, 1, 2);
		put(g, "fault c%d %s before=", i + 1, dir(g, c2b));
		packet_fixed_flags(g, c2b, max_k);
		/* Flags only: a flip of the type bits can make another valid
		 * packet (found by mqttsim explore, seed 10113: a PUBREL turned
		 * PUBREC, lost with the link up, and the exchange waited for
		 * ever); a flip of a fixed packet's flags never does. */
		put(g, " corrupt bits=0x0f\n");
	}
	if (enabled(g, K_DISCARD) && c->ack_ms && chance(g, 2, 3)) {
		/* Only what the client's own acknowledgement timeout recovers. */
		static const char *const own[] = {"PUBLISH", "PUBREL"};
		static const char *const awaited[] = {"PUBACK", "PUBREC", "PUBCOMP"};
		bool c2b = c->publishes && chance(g, 1, 2);
		if (c->publishes) {
			const char *type = c2b ? pick(g, own, 2) : pick(g, awaited, 3);
			uint32_t k = between(g, 1, max_k);
			put(g, "fault c%d %s before=%s#%u discard\n", i + 1, dir(g, c2b), type, k);
			g->discard = true;
		}
	}
	if (enabled(g, K_INTERRUPT) && chance(g, 1, 2)) {
		bool c2b = chance(g, 1, 2);
		uint32_t p = between(g, 1, 5);
		const char *what = chance(g, 1, 2) ? "eintr" : "eagain";
		uint32_t count = between(g, 1, 10);
		put(g, "fault c%d %s p=0.%u %s count=%u\n", i + 1, dir(g, c2b), p, what, count);
	}
}

/* Crashes, full disks and broker rules for client i. */
static void trouble(struct gen *g, int i, uint32_t max_k)
{
	struct gclient *c = &g->c[i];
	/* Not the stalled writer: a crash of its memory would lose a window
	 * of its big messages, and what is left could fit in the buffer. */
	bool stalled_writer = g->trial == T_STALLED_WRITER && g->tv == i;
	if (enabled(g, K_CRASH) && !stalled_writer && chance(g, 2, 3)) {
		put(g, "crash c%d", i + 1);
		c->crashes = true;
		if (chance(g, 1, 3)) {
			put(g, " at=%ums", between(g, 1, 3000));
		} else {
			bool c2b = chance(g, 1, 2);
			put(g, " after=%s:", c2b ? "c2b" : "b2c");
			packet(g, c2b, max_k);
		}
		put(g, " restart=%ums", between(g, 10, 3000));
		if (enabled(g, K_DAMAGE) && c->fs && chance(g, 1, 2)) {
			static const char *const damages[] = {"torn", "flip", "vanish", "rename"};
			put(g, " damage=%s", pick(g, damages, 4));
			g->damage = true;
		}
		put(g, "\n");
	}
	if (enabled(g, K_DISK) && c->fs && chance(g, 2, 3)) {
		uint32_t at = between(g, 1, 3000);
		uint32_t lasting = between(g, 10, 2000);
		put(g, "disk c%d full at=%ums for=%ums\n", i + 1, at, lasting);
	}
	if (enabled(g, K_RULES) && chance(g, 2, 3)) {
		switch (below(g, 5)) {
		case 0:
			put(g, "rule refuse 3 client=c%d count=%u\n", i + 1, between(g, 1, 3));
			break;
		case 1: {
			/* Late answers; not a late PUBLISH: its followers would overtake
			 * it, a reordering broker (§4.6), not a slow one. */
			static const char *const acks[] = {"CONNACK", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
			                                   "SUBACK"};
			const char *type = pick(g, acks, 6);
			uint32_t k = between(g, 1, max_k);
			uint32_t ms = between(g, 1, 2000);
			put(g, "rule delay b2c:%s#%u ms=%u client=c%d\n", type, k, ms, i + 1);
			break;
		}
		case 2: {
			bool c2b = chance(g, 1, 2);
			put(g, "rule close %s:", c2b ? "c2b" : "b2c");
			packet(g, c2b, max_k);
			put(g, "%s client=c%d\n", c2b ? "" : chance(g, 1, 2) ? " when=after" : "", i + 1);
			break;
		}
		case 3:
			if (c->subscribes) {
				put(g, "rule refuse-subscribe %s count=1 client=c%d\n", pick(g, filters, NFILTERS),
				    i + 1);
				break;
			}
			/* fall through */
		default:
			if (c->ack_ms && c->publishes) {
				const char *type = chance(g, 1, 2) ? "PUBACK" : "PUBREC";
				uint32_t k = between(g, 1, max_k);
				put(g, "rule withhold b2c:%s#%u client=c%d\n", type, k, i + 1);
			}
			break;
		}
	}
}

size_t explore_generate(uint64_t seed, char *out, size_t cap)
{
	struct gen g = {.state = seed, .out = out, .cap = cap};
	if (!cap)
		return 0;
	*out = 0;
	/* The swarm: each kind of trouble in or out, one in two. */
	for (int k = 0; k < K_COUNT; k++)
		if (chance(&g, 1, 2))
			g.kinds |= 1u << k;
	g.nclients = (int)between(&g, 1, MAX_CLIENTS);
	put(&g, "# explore seed %llu: %d client%s; trouble:", (unsigned long long)seed, g.nclients,
	    g.nclients == 1 ? "" : "s");
	for (int k = 0; k < K_COUNT; k++)
		if (enabled(&g, (enum kind)k))
			put(&g, " %s", kind_names[k]);
	put(&g, "%s\n", g.kinds ? "" : " none");

	/* Who publishes and who subscribes: at least one of each. */
	for (int i = 0; i < g.nclients; i++) {
		g.c[i].publishes = chance(&g, 1, 2);
		g.c[i].subscribes = chance(&g, 1, 2);
	}
	g.c[below(&g, (uint32_t)g.nclients)].publishes = true;
	g.c[below(&g, (uint32_t)g.nclients)].subscribes = true;

	/* A trial: refused connects one seed in eight; a stalled writer
	 * (its big messages cost more) one in 16; two restarts one in 16;
	 * a quiet reader one in 16 of the seeds with at most two clients
	 * (it brings two more, and a seed has four at most). */
	g.trial_state = seed ^ UINT64_C(0x74696d6572732121); /* "timers!!" */
	uint32_t t = trial_between(&g, 0, 15);
	g.trial = t < 2 ? T_REFUSED : t == 2 ? T_STALLED_WRITER : t == 3 ? T_TWO_RESTARTS : T_NONE;
	if (t == 4 && g.nclients <= 2)
		g.trial = T_QUIET_READER;
	do
		g.tv = (int)trial_between(&g, 0, (uint32_t)g.nclients - 1);
	while ((g.trial == T_STALLED_WRITER || g.trial == T_TWO_RESTARTS) && !g.c[g.tv].publishes);

	/* The clients. */
	for (int i = 0; i < g.nclients; i++) {
		struct gclient *c = &g.c[i];
		c->clean = chance(&g, 1, 3);
		if (g.trial == T_TWO_RESTARTS && g.tv == i)
			c->clean = false; /* one session throughout: §4.6 order holds across its restarts */
		bool wants_disk = enabled(&g, K_CRASH) || enabled(&g, K_DISK);
		c->fs = wants_disk ? chance(&g, 2, 3) : chance(&g, 1, 4);
		static const unsigned windows[] = {1, 2, 4, 16};
		c->window = windows[below(&g, 4)];
		/* The stalled writer: a full window of its big messages is more
		 * than the link's send buffer, and only its pause timeout may
		 * see the write that makes no progress. In memory: a full disk
		 * would refuse some of them, and what is left could fit. */
		bool stalled_writer = g.trial == T_STALLED_WRITER && g.tv == i;
		if (stalled_writer) {
			c->window = 16;
			c->fs = false;
		}
		/* Two restarts: its store keeps what each leaves in flight. */
		if (g.trial == T_TWO_RESTARTS && g.tv == i) {
			c->window = 16;
			c->fs = true;
		}
		put(&g, "client c%d clean=%s store=%s window=%u", i + 1, c->clean ? "yes" : "no",
		    c->fs ? "fs" : "memory", c->window);
		static const unsigned keepalives[] = {0, 2, 10, 30};
		c->keepalive = keepalives[below(&g, 4)];
		if (stalled_writer)
			c->keepalive = 0;
		put(&g, " keepalive=%u", c->keepalive);
		bool pause = chance(&g, 1, 4);
		uint32_t pause_ms = pause ? between(&g, 500, 5000) : 0;
		if (stalled_writer)
			pause_ms = trial_between(&g, 500, 3000);
		if (pause_ms)
			put(&g, " pause=%ums", pause_ms);
		if (chance(&g, 1, 3) || enabled(&g, K_DISCARD)) {
			/* Long enough for what the slowest link generated delivers
			 * (latency, bandwidth, a window of the biggest messages). */
			c->ack_ms = between(&g, 4000, 10000);
			if (stalled_writer)
				c->ack_ms = 0;
			else
				put(&g, " ack-timeout=%ums", c->ack_ms);
		}
		if (chance(&g, 1, 6))
			put(&g, " read-delay=%ums", between(&g, 1, 20));
		if (c->subscribes && chance(&g, 1, 5)) {
			c->read_buffer = between(&g, 256, 2048);
			put(&g, " read-buffer=%u", c->read_buffer);
		}
		if (chance(&g, 1, 4)) {
			c->will = g.will = true;
			uint32_t qos = below(&g, 3);
			bool retain = chance(&g, 1, 4);
			put(&g, " will=w/c%d will-qos=%u%s", i + 1, qos, retain ? " will-retain=yes" : "");
		}
		put(&g, "\n");
	}
	/* The quiet reader and what it reads: clients of their own, with no
	 * trouble, so that nothing but its keep-alive may end its connection. */
	uint32_t reader_keepalive = 0;
	if (g.trial == T_QUIET_READER) {
		reader_keepalive = trial_between(&g, 2, 3);
		put(&g, "client reader keepalive=%u\nclient feeder\n", reader_keepalive);
	}
	if (chance(&g, 1, 5))
		put(&g, "broker inflight-max=%u\n", between(&g, 1, 20));
	if (chance(&g, 1, 4)) {
		uint32_t latency = between(&g, 0, 20);
		uint32_t jitter = between(&g, 0, 5);
		put(&g, "network latency=%ums jitter=%ums\n", latency, jitter);
	}

	/* Subscriptions, overlapping at times; some late, some ended. */
	for (int i = 0; i < g.nclients; i++) {
		if (!g.c[i].subscribes)
			continue;
		uint32_t n = between(&g, 1, 2);
		unsigned used = 0;
		for (uint32_t k = 0; k < n; k++) {
			uint32_t f = chance(&g, 1, 5) ? NFILTERS + below(&g, NEDGE_FILTERS)
			                              : below(&g, NFILTERS);
			if (used & 1u << f)
				continue;
			used |= 1u << f;
			const char *filter = f < NFILTERS ? filters[f] : edge_filters[f - NFILTERS];
			uint32_t qos = below(&g, 3);
			g.qos2 |= qos == 2;
			put(&g, "subscribe c%d %s qos=%u", i + 1, filter, qos);
			if (chance(&g, 1, 6)) {
				put(&g, " at=%ums", between(&g, 1, 2000));
				g.late = true;
			} else if (chance(&g, 1, 10)) {
				put(&g, "\nunsubscribe c%d %s at=%ums", i + 1, filter, between(&g, 1, 2000));
			}
			put(&g, "\n");
		}
		if (g.will && chance(&g, 1, 2)) {
			put(&g, "subscribe c%d w/# qos=%u", i + 1, below(&g, 3));
			/* Late at times: a will published retained before is owed
			 * to it then, RETAIN set (generator 10). */
			if (chance(&g, 1, 4)) {
				put(&g, " at=%ums", between(&g, 500, 3000));
				g.late = true;
			}
			put(&g, "\n");
		}
	}

	/* The workload. */
	uint32_t lines = between(&g, 1, 3), max_k = 1;
	for (uint32_t l = 0; l < lines; l++) {
		uint32_t who;
		do
			who = below(&g, (uint32_t)g.nclients);
		while (!g.c[who].publishes);
		uint32_t qos = below(&g, 3), count = chance(&g, 1, 8) ? between(&g, 40, 150)
		                                                        : between(&g, 1, 40);
		g.qos2 |= qos == 2;
		g.c[who].qos_used |= 1u << qos;
		if (count > max_k)
			max_k = count;
		const char *topic = chance(&g, 1, 4) ? pick(&g, edge_topics, NEDGE_TOPICS)
		                                     : pick(&g, topics, NTOPICS);
		put(&g, "publish c%u %s qos=%u count=%u", who + 1, topic, qos, count);
		if (chance(&g, 1, 5))
			put(&g, " size=%u", between(&g, 16, 3000));
		if (chance(&g, 1, 5)) {
			put(&g, " retain=yes");
			g.retain = true;
		}
		if (chance(&g, 1, 3))
			put(&g, " at=%ums", between(&g, 0, 2000));
		if (chance(&g, 1, 3))
			put(&g, " every=%ums", between(&g, 1, 50));
		put(&g, "\n");
		if (g.retain && chance(&g, 1, 10)) {
			put(&g, "clear c%u %s at=%ums\n", who + 1, topic, between(&g, 500, 3000));
			g.c[who].qos_used |= 1u << 1; /* a clear goes at QoS 1 */
		}
	}

	if (g.trial == T_STALLED_WRITER) {
		/* A window of 16 messages of 16.8 KB and more, over the 256 KiB
		 * a stalled link's send buffer takes; at a QoS of its own, so
		 * that no other line's messages hold places in that window. */
		uint32_t count = trial_between(&g, 17, 20);
		uint32_t size = trial_between(&g, 16800, 17500);
		uint32_t qos = trial_between(&g, 1, 2);
		const char *topic = topics[trial_between(&g, 0, NTOPICS - 1)];
		if (g.c[g.tv].qos_used & 1u << qos)
			qos = 3 - qos;
		if (g.c[g.tv].qos_used & 1u << qos) {
			g.trial = T_NONE; /* both taken */
		} else {
			g.qos2 |= qos == 2;
			put(&g, "# timers: c%d's link stalls for ever with more than its send buffer to "
			    "write; only its pause timeout ends the connection\n", g.tv + 1);
			put(&g, "publish c%d %s qos=%u count=%u size=%u\n", g.tv + 1, topic, qos, count,
			    size);
		}
	}

	/* Faults, crashes, full disks, rules. */
	for (int i = 0; i < g.nclients; i++) {
		faults(&g, i, max_k);
		trouble(&g, i, max_k);
	}
	if (g.trial == T_TWO_RESTARTS) {
		/* Its first two connections stall from their first PUBLISH for
		 * a while; it crashes during each stall, so that what the first
		 * process left in flight is still in flight at the second
		 * crash, with newer messages saved between: the second restart
		 * must resend all of them in publish order [MQTT-4.6.0-1]. */
		uint32_t hold = trial_between(&g, 2000, 3000);
		uint32_t first = trial_between(&g, 200, 600);
		uint32_t restart = trial_between(&g, 50, 200);
		uint32_t second = first + restart + trial_between(&g, 400, hold - 300);
		uint32_t qos = trial_between(&g, 1, 2);
		uint32_t count = trial_between(&g, 12, 20);
		uint32_t every = trial_between(&g, 80, 120);
		const char *topic = topics[trial_between(&g, 0, NTOPICS - 1)];
		g.qos2 |= qos == 2;
		put(&g, "# timers: c%d crashes twice while its link holds what it sent; its store keeps "
		    "the order across both restarts\n", g.tv + 1);
		put(&g, "publish c%d %s qos=%u count=%u every=%ums\n", g.tv + 1, topic, qos, count, every);
		put(&g, "fault c%d c2b before=PUBLISH#1 stall ms=%u count=2\n", g.tv + 1, hold);
		put(&g, "crash c%d at=%ums restart=%ums\n", g.tv + 1, first, restart);
		put(&g, "crash c%d at=%ums restart=%ums\n", g.tv + 1, second, restart);
	} else if (g.trial == T_REFUSED) {
		/* Each connect reset before it gets through: from the seventh
		 * on, a backoff without a cap waits longer than its cap. */
		uint32_t count = trial_between(&g, 7, 12);
		put(&g, "# timers: c%d's connects reset %u times in a row; its backoff must stop at "
		    "its cap\n", g.tv + 1, count);
		put(&g, "fault c%d c2b before=CONNECT#1 reset count=%u\n", g.tv + 1, count);
	} else if (g.trial == T_QUIET_READER) {
		/* A stream at QoS 0 to a '$' topic (no other client's filter
		 * takes it), a message more often than once a keep-alive period
		 * and for more than two of them: the reader has nothing to
		 * acknowledge, so only its PINGREQs tell the broker it is there,
		 * which ends a connection silent for one and a half periods
		 * [MQTT-3.1.2-23, -24]. A client that counts what it reads as
		 * activity never pings, and reconnects. */
		uint32_t every = trial_between(&g, 150, 400);
		uint32_t count = (reader_keepalive * 2500 + every - 1) / every + trial_between(&g, 0, 10);
		put(&g, "# timers: reader only reads, at QoS 0, for more than two of its keep-alive "
		    "periods; it must still ping, or the broker ends its connection\n");
		put(&g, "subscribe reader $k/r qos=0\n");
		put(&g, "publish feeder $k/r qos=0 count=%u every=%ums\n", count, every);
		put(&g, "expect reconnects reader min=0 max=0\n");
	} else if (g.trial == T_STALLED_WRITER) {
		/* For ever (longer than any run), from the first message the
		 * client sends: no message is done then (its subscriptions are,
		 * which the workload waits for), so a whole window of the big
		 * ones waits behind it. */
		put(&g, "fault c%d c2b before=PUBLISH#1 stall ms=%u count=1\n", g.tv + 1,
		    STALL_FOR_EVER_MS);
	}

	/* One seed in eight closes a client by DISCONNECT at some time of the
	 * workload, drawn from a stream of its own (the rest of the scenario
	 * is what the seed makes without it): it publishes and asks nothing
	 * more, what it had not finished or read is not owed, and its will
	 * never goes for a connection it ended so. Not the one on trial. A
	 * client that crashes may be closed too (generator 9): a crash of it
	 * after the DISCONNECT kills the closed process, and a restart starts
	 * a new one, which connects and is judged as any client is. */
	struct gen closing = {.state = seed ^ UINT64_C(0x636c6f7365732121)}; /* "closes!!" */
	if (chance(&closing, 1, 8)) {
		int candidates[MAX_CLIENTS], n = 0;
		for (int i = 0; i < g.nclients; i++)
			if (g.trial == T_NONE || g.trial == T_QUIET_READER || g.tv != i)
				candidates[n++] = i;
		if (n) {
			int who = candidates[below(&closing, (uint32_t)n)];
			uint32_t at = between(&closing, 1, 3000);
			put(&g, "disconnect c%d at=%ums\n", who + 1, at);
		}
	}

	/* What the oracle can demand of all that. */
	static const char *const always[] = {"at-most-once", "at-least-once", "no-phantom", "live", "quiescent", "dup-flag", "packet-ids",
	                                     "broker-dup-flag", "broker-packet-ids", "delivery-qos",
	                                     "session", "backoff"};
	for (size_t k = 0; k < sizeof always / sizeof *always; k++)
		put(&g, "expect %s\n", always[k]);
	/* Order is a promise over an ordered, lossless transport (§4.6): a
	 * PUBLISH lost while the link stays up comes after its followers. */
	if (!g.discard)
		put(&g, "expect order\n");
	if (g.qos2)
		put(&g, "expect exactly-once\n");
	if (g.retain || g.late)
		put(&g, "expect retained\n");
	if (g.will)
		put(&g, "expect will\n");
	if (g.damage)
		put(&g, "expect storage\n");
	return g.full ? 0 : g.len;
}
