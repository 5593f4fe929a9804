/*
 * test_oracle.c - the oracle's judgements fed event by event, without a
 * simulator: the reconnect policy (expect backoff), reads cut by kills,
 * and subscriptions ended in the millisecond or by a discarded session,
 * and what a CONNACK may say of the session after a clean one.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "scenarios/lang/scenario.h"
#include "scenarios/lang/setup.h"
#include "scenarios/oracle/oracle.h"
#include "testing/suites.h"

/* The oracle of a scenario's text, parsed into *s: the test stops when
 * either cannot be made. */
static struct oracle *oracle_of(struct scenario *s, const char *name, const char *text)
{
	char err[600];
	CU_ASSERT_FATAL(scenario_parse(s, name, text, err, sizeof err) == 0);
	struct oracle *o = oracle_new(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	return o;
}

/* The run judged as finished into *r; o and s are freed. */
static void judge_and_free(struct oracle *o, struct scenario *s, struct scn_result *r)
{
	memset(r, 0, sizeof *r);
	oracle_judge(o, s, true, r);
	oracle_free(o);
	scenario_free(s);
}

static const char backoff_scn[] = "# the policy alone\nclient pub\nexpect backoff\n";

/* The verdict on pub's dials: each owed at ended, made at dialled (0: the
 * run ends at end with it still owed). */
static bool backoff_holds(const uint64_t (*waits)[4], int n, uint64_t end, char *why, size_t cap)
{
	struct scenario s;
	struct oracle *o = oracle_of(&s, "backoff.scn", backoff_scn);
	oracle_backoff_policy(o, 0, 200, 5000);
	for (int i = 0; i < n; i++) {
		/* waits[i]: accepted (1) or not (0), when it ended, when it
		 * dialled, and whether its process restarted before that */
		oracle_redial_owed(o, 0, waits[i][0] != 0, waits[i][1]);
		if (waits[i][3])
			oracle_backoff_policy(o, 0, 200, 5000); /* a new process dials at once */
		if (waits[i][2])
			oracle_dialled(o, 0, waits[i][2]);
	}
	if (end)
		oracle_undialled(o, 0, end);
	struct scn_result r;
	judge_and_free(o, &s, &r);
	snprintf(why, cap, "%s", r.first[SCN_BACKOFF]);
	return !r.violated[SCN_BACKOFF];
}

static void test_backoff_wait_by_wait(void)
{
	char why[256];
	/* Within the shortest wait after accepted connections, within the cap
	 * after failed ones: both bounds themselves included. */
	static const uint64_t good[][4] = {{1, 1000, 1200}, {0, 2000, 7000}, {0, 8000, 8001}, {1, 9000, 9150}};
	CU_ASSERT(backoff_holds(good, 4, 0, why, sizeof why));
	/* A wait past the shortest after an accepted connection: the backoff
	 * was not started again. */
	static const uint64_t no_reset[][4] = {{1, 1000, 1201}};
	CU_ASSERT(!backoff_holds(no_reset, 1, 0, why, sizeof why));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "pub dialled again 201 ms after its connection ended at t=1000ms"));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "200 ms at most after an accepted connection"));
	/* A wait past the cap after a failed attempt. */
	static const uint64_t no_cap[][4] = {{0, 1000, 6001}};
	CU_ASSERT(!backoff_holds(no_cap, 1, 0, why, sizeof why));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "5000 ms at most after a failed one"));
	/* A run that ends while a dial is owed: judged by how long it is owed. */
	static const uint64_t waiting[][4] = {{0, 1000, 0}};
	CU_ASSERT(backoff_holds(waiting, 1, 6000, why, sizeof why));
	CU_ASSERT(!backoff_holds(waiting, 1, 6001, why, sizeof why));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "pub had not dialled again 5001 ms"));
	/* A dial made settles what was owed: the end of the run owes nothing. */
	static const uint64_t settled[][4] = {{1, 1000, 1100}};
	CU_ASSERT(backoff_holds(settled, 1, 90000, why, sizeof why));
}

/* A new process dials at once: what the dead one owed is not judged. */
static void test_backoff_new_process(void)
{
	char why[256];
	static const uint64_t restarted[][4] = {{1, 1000, 4000, 1}};
	CU_ASSERT(backoff_holds(restarted, 1, 9000, why, sizeof why));
}

static const char kill_scn[] = "# a reader killed in its reads\nclient pub\nclient sub store=fs\n"
                                "subscribe sub t/# qos=2\npublish pub t/a qos=2 count=4\n"
                                "publish pub t/b qos=1 count=1\nexpect exactly-once\n";

/* The exactly-once verdict of kill_scn when sub read the messages of
 * t/a in read[] (4) and t/b's as read_b, and was killed in a read at each
 * of kills[] (n). t/a #k is published at 100 + 10 k, t/b #0 at 150. */
static bool kill_verdict(const bool *read, bool read_b, const uint64_t *kills, int n)
{
	struct scenario s;
	struct oracle *o = oracle_of(&s, "kill.scn", kill_scn);
	uint64_t now = 0;
	oracle_clock(o, &now);
	oracle_connected(o, 0, true, false, 0);
	oracle_connected(o, 1, true, false, 0);
	oracle_subscribe_request(o, 1, "t/#");
	oracle_subscribed(o, 1, "t/#", 2, false, 0, 10);
	for (uint32_t k = 0; k < 5; k++) {
		int step = k < 4 ? 1 : 2;
		uint32_t seq = k < 4 ? k : 0;
		now = 100 + 10 * k;
		uint32_t index = oracle_published(o, 0, step, seq, k < 4 ? "t/a" : "t/b", k < 4 ? 2 : 1,
		                                  true, now);
		oracle_completed(o, index, now);
	}
	for (uint32_t k = 0; k < 5; k++) {
		if (k < 4 ? !read[k] : !read_b)
			continue;
		char id[64];
		int len = scn_identity(id, 0, k < 4 ? 1 : 2, k < 4 ? k : 0);
		now = 300 + k;
		oracle_delivered(o, 1, (const uint8_t *)(k < 4 ? "t/a" : "t/b"), 3, (const uint8_t *)id,
		                 (size_t)len, k < 4 ? 2 : 1, false, false, now);
	}
	for (int i = 0; i < n; i++)
		oracle_read_interrupted(o, 1, kills[i]);
	struct scn_result r;
	judge_and_free(o, &s, &r);
	return !r.violated[SCN_EXACTLY_ONCE] && !r.violated[SCN_AT_LEAST_ONCE];
}

/* A driver's client killed while its application waited in a read: the
 * kill may fall between its library's saving of a QoS 2 identifier and
 * the return of the message. One QoS 2 message published before the kill
 * may go unread per such kill; no more, none published after it, and no
 * QoS 1 message (nothing held keeps a resend of it from coming). */
static void test_kill_in_a_read(void)
{
	static const bool all[4] = {true, true, true, true}, one_lost[4] = {true, false, true, true},
	                  two_lost[4] = {true, false, false, true};
	static const uint64_t kill_late[1] = {200}, kill_early[1] = {105}, two_kills[2] = {125, 200};
	CU_ASSERT(kill_verdict(all, true, NULL, 0));
	CU_ASSERT(!kill_verdict(one_lost, true, NULL, 0)); /* no kill: a loss */
	CU_ASSERT(kill_verdict(one_lost, true, kill_late, 1));
	CU_ASSERT(!kill_verdict(two_lost, true, kill_late, 1)); /* one a kill */
	CU_ASSERT(kill_verdict(two_lost, true, two_kills, 2));
	CU_ASSERT(!kill_verdict(one_lost, true, kill_early, 1)); /* #1 came after it */
	CU_ASSERT(!kill_verdict(all, false, kill_late, 1));      /* QoS 1 */
}

static const char void_scn[] = "# a late subscription\nclient c\nsubscribe c t/# qos=1 at=100ms\n"
                               "publish c t/a qos=1 count=2\nexpect at-least-once\n";

/* The at-least-once verdict of void_scn: c's SUBSCRIBE goes at 100 and
 * its SUBACK comes at 210; the broker discards c's session at 200 (a late
 * clean CONNECT of an older connection) when discard; asked again at 400
 * when again; t/a #0 is published at 300, #1 at 500, neither read. */
static bool void_verdict(bool discard, bool again)
{
	struct scenario s;
	struct oracle *o = oracle_of(&s, "void.scn", void_scn);
	uint64_t now = 0;
	oracle_clock(o, &now);
	oracle_connected(o, 0, true, false, 0);
	now = 100;
	oracle_subscribe_sent(o, 0, "t/#", 1, now);
	oracle_subscribe_request(o, 0, "t/#");
	now = 200;
	if (discard)
		oracle_session_discarded(o, 0, now);
	now = 210;
	oracle_subscribed(o, 0, "t/#", 1, true, 100, now);
	now = 300;
	oracle_completed(o, oracle_published(o, 0, 1, 0, "t/a", 1, true, now), now);
	if (again) {
		now = 400;
		oracle_subscribe_sent(o, 0, "t/#", 1, now);
		oracle_subscribe_request(o, 0, "t/#");
		now = 410;
		oracle_subscribed(o, 0, "t/#", 1, true, 400, now);
	}
	now = 500;
	oracle_completed(o, oracle_published(o, 0, 1, 1, "t/a", 1, true, now), now);
	struct scn_result r;
	judge_and_free(o, &s, &r);
	return !r.violated[SCN_AT_LEAST_ONCE];
}

/* A SUBACK that comes after the broker discarded the session that took its
 * SUBSCRIBE answers a subscription the broker no longer has: nothing
 * published after is owed. Asked again, the new one stands. */
static void test_suback_after_discard(void)
{
	CU_ASSERT(!void_verdict(false, false)); /* it stands: both owed, neither read */
	CU_ASSERT(void_verdict(true, false));
	CU_ASSERT(!void_verdict(true, true));   /* #1 owed to the one asked again */
}

static const char void_then_new_scn[] = "# asked again, then a restart\nclient c\n"
                                        "subscribe c t/# qos=1\npublish c t/a qos=1 count=1\n"
                                        "expect no-phantom\nexpect at-least-once\n";

/* A request voided by a discarded session is answered on its own
 * connection or never: the SUBACK of a restarted process's subscription,
 * on a later connection, makes its own subscription (found by the
 * --real runner, once it told the oracle of discards: the new SUBACK was
 * taken for the void one's, and every message after was a phantom). */
static void test_void_request_then_new_connection(void)
{
	struct scenario s;
	struct oracle *o = oracle_of(&s, "void-then-new.scn", void_then_new_scn);
	uint64_t now = 0;
	oracle_clock(o, &now);
	oracle_connect_attempt(o, 0, true);
	oracle_session_discarded(o, 0, now);
	oracle_connected(o, 0, true, false, now);
	oracle_subscribe_request(o, 0, "t/#");
	oracle_subscribed(o, 0, "t/#", 1, false, 0, now = 10);
	/* Lost; the broker has no session: subscribed again, no SUBACK yet. */
	now = 20;
	oracle_connection_lost(o, 0, now, now);
	oracle_connect_attempt(o, 0, false);
	oracle_connected(o, 0, false, false, now = 30);
	oracle_unsubscribed(o, 0, "t/#", now);
	oracle_subscribed(o, 0, "t/#", 1, true, now, UINT64_MAX);
	oracle_subscribe_request(o, 0, "t/#");
	oracle_session_lost(o, 0);
	/* Killed; the new process connects clean and subscribes. */
	now = 40;
	oracle_connection_lost(o, 0, now, now);
	oracle_connect_attempt(o, 0, true);
	oracle_session_discarded(o, 0, now = 55);
	oracle_connected(o, 0, true, false, now = 60);
	oracle_subscribe_request(o, 0, "t/#");
	now = 70;
	oracle_subscribed(o, 0, "t/#", 1, false, now, now);
	now = 100;
	oracle_completed(o, oracle_published(o, 0, 1, 0, "t/a", 1, true, now), now);
	char id[64];
	int len = scn_identity(id, 0, 1, 0);
	oracle_delivered(o, 0, (const uint8_t *)"t/a", 3, (const uint8_t *)id, (size_t)len, 1, false,
	                 false, now = 110);
	struct scn_result r;
	judge_and_free(o, &s, &r);
	CU_ASSERT_FALSE(r.violated[SCN_NO_PHANTOM]);
	CU_ASSERT_FALSE(r.violated[SCN_AT_LEAST_ONCE]);
}

static const char unsub_scn[] = "# an unsubscribe\nclient c\nsubscribe c t/# qos=1\n"
                                "unsubscribe c t/# at=100ms\npublish c t/a qos=1 count=2\n"
                                "expect no-phantom\n";

/* The no-phantom verdict of unsub_scn when c reads t/a #k (read[k]): #0
 * is published just before the UNSUBSCRIBE goes, #1 just after its
 * UNSUBACK, all in the millisecond 729. */
static bool unsub_verdict(const bool read[2])
{
	struct scenario s;
	struct oracle *o = oracle_of(&s, "unsub.scn", unsub_scn);
	uint64_t now = 0;
	oracle_clock(o, &now);
	oracle_connected(o, 0, true, false, 0);
	oracle_subscribe_request(o, 0, "t/#");
	oracle_subscribed(o, 0, "t/#", 1, false, 0, 10);
	now = 729;
	oracle_published(o, 0, 2, 0, "t/a", 1, true, now);
	oracle_unsubscribe_sent(o, 0, "t/#", now);
	oracle_unsubscribed(o, 0, "t/#", now);
	oracle_published(o, 0, 2, 1, "t/a", 1, true, now);
	for (uint32_t k = 0; k < 2; k++) {
		if (!read[k])
			continue;
		char id[64];
		int len = scn_identity(id, 0, 2, k);
		oracle_delivered(o, 0, (const uint8_t *)"t/a", 3, (const uint8_t *)id, (size_t)len, 1,
		                 false, false, now);
	}
	struct scn_result r;
	judge_and_free(o, &s, &r);
	return !r.violated[SCN_NO_PHANTOM];
}

/* In the millisecond of an UNSUBACK, what was published before it may
 * come through the subscription (the broker took it first); what was
 * published after it may not. */
static void test_unsuback_same_millisecond(void)
{
	static const bool first[2] = {true, false}, second[2] = {false, true};
	CU_ASSERT(unsub_verdict(first));
	CU_ASSERT(!unsub_verdict(second));
}

static const char present_scn[] = "# one client\nclient c\nexpect session\n";

enum { LOST_DIAL = 1, DISCARD_BEFORE = 2, DISCARD_AFTER = 4, CLEAN_RESTART = 8 };

/* The session verdict of present_scn: c connects clean (CONNACK at 10),
 * its connection ends, and it dials again at 30, not clean; that CONNACK,
 * saying a session is present, comes at 50. With LOST_DIAL, a dial at 20
 * whose CONNACK never came went before it; with CLEAN_RESTART, a new
 * process connected clean at 22; a late clean CONNECT of an older
 * connection discarded the session at 25 (DISCARD_BEFORE the dial) or at
 * 40 (DISCARD_AFTER it). */
static bool present_verdict(unsigned events)
{
	struct scenario s;
	struct oracle *o = oracle_of(&s, "present.scn", present_scn);
	uint64_t now = 0;
	oracle_clock(o, &now);
	oracle_connect_attempt(o, 0, true);
	oracle_connected(o, 0, true, false, now = 10);
	if (events & LOST_DIAL)
		oracle_connect_attempt(o, 0, false);
	if (events & CLEAN_RESTART) {
		oracle_connect_attempt(o, 0, true);
		oracle_connected(o, 0, true, false, now = 22);
	}
	if (events & DISCARD_BEFORE)
		oracle_session_discarded(o, 0, now = 25);
	now = 30;
	oracle_connect_attempt(o, 0, false);
	if (events & DISCARD_AFTER)
		oracle_session_discarded(o, 0, now = 40);
	oracle_connected(o, 0, false, true, now = 50);
	struct scn_result r;
	judge_and_free(o, &s, &r);
	return !r.violated[SCN_SESSION];
}

/* After a clean session, a CONNACK may say a session is present only when
 * an earlier CONNECT, not clean, may have made one (one held on its way
 * may come after a clean one); or when a late discard came while it was
 * on its way (it may have left before). */
static void test_session_present_after_a_clean_session(void)
{
	CU_ASSERT(!present_verdict(0));
	CU_ASSERT(present_verdict(LOST_DIAL));
	CU_ASSERT(present_verdict(DISCARD_AFTER));
	CU_ASSERT(!present_verdict(DISCARD_BEFORE));
	CU_ASSERT(present_verdict(LOST_DIAL | DISCARD_BEFORE));
	CU_ASSERT(!present_verdict(CLEAN_RESTART));
	CU_ASSERT(present_verdict(LOST_DIAL | CLEAN_RESTART));
}

const struct test_def oracle_tests[] = {
	{"backoff: each wait held to the shortest after a success, the cap after a failure", test_backoff_wait_by_wait},
	{"backoff: a new process owes no dial of the old one", test_backoff_new_process},
	{"a kill in a read may lose one QoS 2 message published before it", test_kill_in_a_read},
	{"a SUBACK after its session was discarded makes no subscription", test_suback_after_discard},
	{"a request voided by a discard is not answered on a later connection", test_void_request_then_new_connection},
	{"an UNSUBACK ends a subscription after what was published before it", test_unsuback_same_millisecond},
	{"after a clean session, only a CONNECT that may find a session may be told one is present", test_session_present_after_a_clean_session},
	{NULL, NULL},
};
