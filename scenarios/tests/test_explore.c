/*
 * test_explore.c - the generator and the signatures of mqttsim explore:
 * every seed's scenario is one the language takes, the same seed gives
 * the same text, and failures that differ only in sizes, names and
 * topics share a signature while different ones do not.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "scenarios/explore/explore.h"
#include "scenarios/explore/gen.h"
#include "mqttsim/fault_engine.h"
#include "mqttsim/codec.h"
#include "scenarios/lang/scenario.h"
#include "scenarios/oracle/topics.h"
#include "testing/suites.h"

#define GOLDEN_FNV 0x85019438f09430a3u

static void test_every_seed_parses(void)
{
	char text[EXPLORE_TEXT_MAX], again[EXPLORE_TEXT_MAX], err[600];
	unsigned bad = 0;
	for (uint64_t seed = 0; seed < 20000; seed++) {
		size_t n = explore_generate(seed, text, sizeof text);
		CU_ASSERT_FATAL(n > 0);
		CU_ASSERT_EQUAL(explore_generate(seed, again, sizeof again), n);
		CU_ASSERT(!memcmp(text, again, n));
		struct scenario s;
		if (scenario_parse(&s, "gen", text, err, sizeof err) != 0) {
			if (!bad++)
				fprintf(stderr, "\nseed %llu: %s\n", (unsigned long long)seed, err);
			continue;
		}
		CU_ASSERT(s.nclients >= 1 && s.nclients <= 4);
		CU_ASSERT(s.nexpects >= 10);
		scenario_free(&s);
	}
	CU_ASSERT_EQUAL(bad, 0);
	/* The largest seeds too: no arithmetic depends on the seed's size. */
	CU_ASSERT(explore_generate(UINT64_MAX, text, sizeof text) > 0);
	/* Too small a buffer says so. */
	CU_ASSERT_EQUAL(explore_generate(1, text, 16), 0);
}

/*
 * The same bytes on every build: a digest of what these seeds generate,
 * checked under gcc (make test, make san) and clang (make tsan). It
 * changes only with the generator (EXPLORE_GENERATOR, and the golden
 * digest of pytests/test_explore.py): argument evaluation order once
 * made gcc and clang builds generate different scenarios.
 */
static void test_same_bytes_every_build(void)
{
	/* 470: a disconnect; 41: a disconnect of a client that crashes later;
	 * 17: a late subscription to the wills; 34: a quiet reader. */
	static const uint64_t seeds[] = {1, 2, 3, 17, 34, 41, 42, 470, 1000, UINT64_MAX};
	char text[EXPLORE_TEXT_MAX];
	uint64_t h = 14695981039346656037u;
	for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
		size_t n = explore_generate(seeds[i], text, sizeof text);
		CU_ASSERT_FATAL(n > 0);
		for (size_t k = 0; k < n; k++)
			h = (h ^ (uint8_t)text[k]) * 1099511628211u;
	}
	CU_ASSERT_EQUAL(EXPLORE_GENERATOR, 11);
	if (h != GOLDEN_FNV)
		fprintf(stderr, "\ngenerated digest %016llx\n", (unsigned long long)h);
	CU_ASSERT_EQUAL(h, GOLDEN_FNV);
}

static void test_signatures(void)
{
	char a[512], b[512], c[512];
	explore_signature("# one\nclient c1 clean=no window=4\nclient c2\nsubscribe c2 t/# qos=1\n"
	                  "publish c1 t/a qos=1 count=12\nfault c1 b2c after=PUBACK#3 drop\n"
	                  "expect at-least-once\n", a, sizeof a);
	explore_signature("# two\nclient c3 clean=no window=16\nclient c1\nsubscribe c1 +/+ qos=1\n"
	                  "publish c3 u/c qos=1 count=40\nfault c3 b2c after=PUBACK#17 drop\n"
	                  "expect at-least-once\n", b, sizeof b);
	CU_ASSERT_STRING_EQUAL(a, b);
	CU_ASSERT(!strncmp(a, "at-least-once; ", 15)); /* the broken guarantee first */
	/* Another action, another QoS, another guarantee: another signature. */
	explore_signature("# three\nclient c1 clean=no window=4\nclient c2\nsubscribe c2 t/# qos=1\n"
	                  "publish c1 t/a qos=1 count=12\nfault c1 b2c after=PUBACK#3 reset\n"
	                  "expect at-least-once\n", c, sizeof c);
	CU_ASSERT_STRING_NOT_EQUAL(a, c);
	explore_signature("# four\nclient c1 clean=no window=4\nclient c2\nsubscribe c2 t/# qos=2\n"
	                  "publish c1 t/a qos=2 count=12\nfault c1 b2c after=PUBACK#3 drop\n"
	                  "expect at-least-once\n", c, sizeof c);
	CU_ASSERT_STRING_NOT_EQUAL(a, c);
	CU_ASSERT_NOT_EQUAL(explore_signature_hash(a), explore_signature_hash(c));
	CU_ASSERT_EQUAL(explore_failed_invariant("line 9: exactly-once violated: x"), SCN_EXACTLY_ONCE);
	CU_ASSERT_EQUAL(explore_failed_invariant("the run crashed"), 0);
}

/* The stalled writer is sound only so: nothing but its pause timeout
 * may end its connection, a whole window of its big messages waits
 * behind the stall, and nothing takes a message out of that window
 * unfinished (a crash of its memory, a full disk). */
static void check_stalled_writer(const struct scenario *s, int v, uint64_t seed)
{
	const struct scn_client *c = &s->clients[v];
	CU_ASSERT(c->keep_alive == 0 && c->ack_timeout_ms == 0 && c->pause_ms > 0);
	CU_ASSERT(c->window == 16 && c->store == SCN_STORE_MEMORY);
	int big = -1;
	for (int i = 0; i < s->nsteps; i++) {
		const struct scn_step *st = &s->steps[i];
		if (st->client != v)
			continue;
		CU_ASSERT(st->kind != SCN_CRASH && st->kind != SCN_DISK);
		if (st->kind == SCN_PUBLISH && st->size >= 16800)
			big = i;
	}
	CU_ASSERT_FATAL(big >= 0);
	const struct scn_step *b = &s->steps[big];
	CU_ASSERT(b->qos >= 1 && b->count >= 17 && (uint64_t)b->size * 16 > MQTT_FAULT_SEND_BUFFER);
	for (int i = 0; i < s->nsteps; i++)
		if (i != big && s->steps[i].client == v && s->steps[i].kind == SCN_PUBLISH)
			if (s->steps[i].qos == b->qos) {
				fprintf(stderr, "\nseed %llu: step %d shares the window\n", (unsigned long long)seed, i);
				CU_FAIL("another line at the stalled writer's QoS");
			}
	bool stall = false;
	for (size_t k = 0; k < c->plan.n; k++) {
		const struct mqtt_fault *f = &c->plan.faults[k];
		if (f->action == MQTT_FAULT_STALL && f->ms >= 900000 && f->when == MQTT_WHEN_BEFORE &&
		    f->packet.type == MQTT_PUBLISH && f->packet.first == 1 && f->dirs == MQTT_C2B)
			stall = true;
		/* Nothing else may end what only its pause timeout is to end. */
		CU_ASSERT(f->action != MQTT_FAULT_DISCARD);
	}
	if (!stall)
		fprintf(stderr, "\nseed %llu: the stalled writer has no stall\n", (unsigned long long)seed);
	CU_ASSERT(stall);
}

/* Two restarts: one session in one store throughout, and the second
 * crash while the second stall still holds what the first left. */
static void check_two_restarts(const struct scenario *s, int v)
{
	const struct scn_client *c = &s->clients[v];
	CU_ASSERT(!c->clean && c->store == SCN_STORE_FS && c->window == 16);
	/* The trial's two crashes are the last lines (a crash the rest of
	 * the scenario gave it comes before). */
	uint64_t at[2] = {0, 0}, restart = 0;
	int crashes = 0;
	for (int i = s->nsteps - 1; i >= 0 && crashes < 2; i--) {
		const struct scn_step *st = &s->steps[i];
		if (st->client == v && st->kind == SCN_CRASH && !st->after.type) {
			at[1 - crashes++] = st->at_ms;
			restart = st->restart_ms;
		}
	}
	CU_ASSERT_FATAL(crashes == 2);
	uint64_t hold = 0;
	for (size_t k = 0; k < c->plan.n; k++) {
		const struct mqtt_fault *f = &c->plan.faults[k];
		if (f->action == MQTT_FAULT_STALL && f->count == 2 && f->when == MQTT_WHEN_BEFORE &&
		    f->packet.type == MQTT_PUBLISH)
			hold = f->ms;
	}
	CU_ASSERT(hold >= 2000);
	CU_ASSERT(at[0] < hold);                     /* in the first stall */
	CU_ASSERT(at[1] > at[0] + restart + 300);    /* after the second connection's first sends */
	CU_ASSERT(at[1] < at[0] + restart + hold);   /* in the second stall */
}

/* The quiet reader is sound only so: a client of its own with a
 * keep-alive, nothing to acknowledge (QoS 0, a '$' topic no other filter
 * takes, which a client of its own publishes), no trouble on its link or
 * from the broker's rules, and a stream that comes more often than once a
 * keep-alive period for more than two of them. */
static void check_quiet_reader(const struct scenario *s)
{
	int reader = -1, feeder = -1;
	for (int i = 0; i < s->nclients; i++) {
		if (!strcmp(s->clients[i].name, "reader"))
			reader = i;
		if (!strcmp(s->clients[i].name, "feeder"))
			feeder = i;
	}
	CU_ASSERT_FATAL(reader >= 0 && feeder >= 0);
	const struct scn_client *r = &s->clients[reader];
	CU_ASSERT(r->keep_alive >= 2 && r->keep_alive <= 3);
	CU_ASSERT(r->plan.n == 0 && s->clients[feeder].plan.n == 0);
	CU_ASSERT(!r->will_topic[0]);
	int streams = 0;
	for (int i = 0; i < s->nsteps; i++) {
		const struct scn_step *st = &s->steps[i];
		if (st->client == reader)
			CU_ASSERT(st->kind == SCN_SUBSCRIBE && st->qos == 0 && !strcmp(st->topic, "$k/r"));
		if (st->client == feeder) {
			CU_ASSERT_FATAL(st->kind == SCN_PUBLISH);
			CU_ASSERT(st->qos == 0 && !strcmp(st->topic, "$k/r"));
			CU_ASSERT(st->every_ms > 0 && st->every_ms < r->keep_alive * 1000u);
			CU_ASSERT((uint64_t)st->count * st->every_ms > r->keep_alive * 2000u);
			streams++;
		} else if (st->kind == SCN_PUBLISH) {
			CU_ASSERT(st->topic[0] != '$' || st->topic[1] != 'k');
		}
	}
	CU_ASSERT_EQUAL(streams, 1);
	bool none = false;
	for (int i = 0; i < s->nexpects; i++)
		none |= s->expects[i].what == SCN_RECONNECTS && s->expects[i].client == reader &&
		        s->expects[i].max == 0;
	CU_ASSERT(none);
}

/* The trials of a client's timers come at about their rates, each as
 * its soundness needs; a seed without one is unchanged by them. */
static void test_timer_trials(void)
{
	char text[EXPLORE_TEXT_MAX], err[600];
	unsigned refused = 0, stalled = 0, restarts = 0, readers = 0;
	for (uint64_t seed = 0; seed < 8000; seed++) {
		size_t n = explore_generate(seed, text, sizeof text);
		CU_ASSERT_FATAL(n > 0);
		if (strstr(text, "# timers: reader only reads")) {
			struct scenario s;
			CU_ASSERT_FATAL(scenario_parse(&s, "gen", text, err, sizeof err) == 0);
			readers++;
			check_quiet_reader(&s);
			scenario_free(&s);
			continue;
		}
		const char *r = strstr(text, "'s connects reset ");
		const char *w = strstr(text, "'s link stalls for ever");
		const char *t = strstr(text, " crashes twice while its link holds");
		if (!r && !w && !t)
			continue;
		struct scenario s;
		CU_ASSERT_FATAL(scenario_parse(&s, "gen", text, err, sizeof err) == 0);
		int v = (r ? r : w ? w : t)[-1] - '1';
		CU_ASSERT_FATAL(v >= 0 && v < s.nclients);
		if (r) {
			refused++;
			unsigned resets = 0;
			for (size_t k = 0; k < s.clients[v].plan.n; k++) {
				const struct mqtt_fault *f = &s.clients[v].plan.faults[k];
				if (f->action == MQTT_FAULT_RESET && f->packet.type == MQTT_CONNECT &&
				    f->when == MQTT_WHEN_BEFORE && f->count >= 7)
					resets++;
			}
			CU_ASSERT_EQUAL(resets, 1);
		} else if (w) {
			stalled++;
			check_stalled_writer(&s, v, seed);
		} else {
			restarts++;
			check_two_restarts(&s, v);
		}
		bool backoff = false;
		for (int i = 0; i < s.nexpects; i++)
			backoff |= s.expects[i].what == SCN_BACKOFF;
		CU_ASSERT(backoff);
		scenario_free(&s);
	}
	/* One in eight, and one in sixteen each (a stalled writer whose
	 * QoS are both taken has none). */
	CU_ASSERT(refused > 800 && refused < 1200);
	CU_ASSERT(stalled > 300 && stalled < 600);
	CU_ASSERT(restarts > 350 && restarts < 650);
	/* One in sixteen of the seeds with one or two clients (half). */
	CU_ASSERT(readers > 150 && readers < 350);
	if (readers <= 150 || readers >= 350)
		fprintf(stderr, "\n%u quiet readers in 8000 seeds\n", readers);
}

/* A client closed by DISCONNECT comes in about one seed in nine, once
 * at most, never to the one on trial, and in some seeds to a client
 * that also crashes (and may restart: a new process, generator 9). */
static void test_closing_clients(void)
{
	char text[EXPLORE_TEXT_MAX], err[600];
	unsigned closing = 0, crashing = 0;
	for (uint64_t seed = 0; seed < 8000; seed++) {
		size_t n = explore_generate(seed, text, sizeof text);
		CU_ASSERT_FATAL(n > 0);
		if (!strstr(text, "\ndisconnect "))
			continue;
		struct scenario s;
		CU_ASSERT_FATAL(scenario_parse(&s, "gen", text, err, sizeof err) == 0);
		int who = -1, lines = 0;
		for (int k = 0; k < s.nsteps; k++)
			if (s.steps[k].kind == SCN_DISCONNECT) {
				who = s.steps[k].client;
				lines++;
			}
		CU_ASSERT_EQUAL(lines, 1);
		bool crashes = false;
		for (int k = 0; k < s.nsteps; k++)
			crashes |= s.steps[k].kind == SCN_CRASH && s.steps[k].client == who;
		crashing += crashes;
		const char *trial = strstr(text, "# timers: c");
		if (trial)
			CU_ASSERT(trial[11] - '1' != who);
		closing++;
		scenario_free(&s);
	}
	CU_ASSERT(closing > 600 && closing < 1300);
	CU_ASSERT(crashing > 30 && crashing < closing / 2);
	if (crashing <= 30 || crashing >= closing / 2)
		fprintf(stderr, "\n%u of %u closed clients crash\n", crashing, closing);
}

/*
 * Topics at the edges of the wildcards' levels (a parent level, a level
 * deeper, an empty level, a '$' topic) and the filters that reach them
 * come now and then, and meet: a broker whose matching is wrong there
 * must meet a scenario that shows it (generator 9 never published one).
 */
static void test_wildcard_edges(void)
{
	static const char *const edge_topics[] = {"t", "t/a/x", "t//x", "$s/a"};
	static const char *const edge_filters[] = {"+", "t/+/x", "+/+/x", "$s/#", "$s/+"};
	unsigned topic_seen[4] = {0}, filter_seen[5] = {0}, met = 0, scenarios = 0;
	char text[EXPLORE_TEXT_MAX], err[600];
	for (uint64_t seed = 0; seed < 8000; seed++) {
		CU_ASSERT_FATAL(explore_generate(seed, text, sizeof text) > 0);
		struct scenario s;
		CU_ASSERT_FATAL(scenario_parse(&s, "gen", text, err, sizeof err) == 0);
		scenarios++;
		bool meets = false;
		for (int k = 0; k < s.nsteps; k++) {
			const struct scn_step *p = &s.steps[k];
			for (size_t e = 0; e < 4; e++)
				topic_seen[e] += p->kind == SCN_PUBLISH && !strcmp(p->topic, edge_topics[e]);
			for (size_t e = 0; e < 5; e++)
				filter_seen[e] += p->kind == SCN_SUBSCRIBE && !strcmp(p->topic, edge_filters[e]);
			if (p->kind != SCN_PUBLISH)
				continue;
			bool edge_topic = false;
			for (size_t e = 0; e < 4; e++)
				edge_topic |= !strcmp(p->topic, edge_topics[e]);
			for (int j = 0; edge_topic && j < s.nsteps; j++)
				meets |= s.steps[j].kind == SCN_SUBSCRIBE &&
				         oracle_topic_match(s.steps[j].topic, strlen(s.steps[j].topic), p->topic,
				                            strlen(p->topic));
		}
		met += meets;
		scenario_free(&s);
	}
	for (size_t e = 0; e < 4; e++)
		CU_ASSERT(topic_seen[e] > 100);
	for (size_t e = 0; e < 5; e++)
		CU_ASSERT(filter_seen[e] > 100);
	CU_ASSERT(met > scenarios / 20 && met < scenarios / 2);
	if (met <= scenarios / 20 || met >= scenarios / 2)
		fprintf(stderr, "\n%u of %u scenarios deliver an edge topic\n", met, scenarios);
}

const struct test_def explore_tests[] = {
	{"topics and filters at the edges of wildcard levels, and where they meet", test_wildcard_edges},
	{"trials of a client's timers: their rates, and what makes each sound", test_timer_trials},
	{"clients closed by DISCONNECT: their rate, and whom they close", test_closing_clients},
	{"every seed generates a scenario the language takes, the same each time", test_every_seed_parses},
	{"signatures: the same failure shape, the same signature", test_signatures},
	{"the same seed, the same bytes on every build", test_same_bytes_every_build},
	{NULL, NULL},
};
