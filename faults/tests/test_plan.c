/*
 * Fault plans as text: every action and trigger parses and prints back
 * in its own syntax; bad and impossible plans are refused with the line,
 * the column and what was expected.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "mqttsim/faults.h"
#include "testing/suites.h"

static void round_trip(void)
{
	/* Each line is in its canonical form: it prints back unchanged. */
	static const char *const lines[] = {
		"b2c after=PUBACK#2 drop",
		"c2b before=PUBLISH#1 reset",
		"both time=2s stall ms=5000",
		"c2b partial-write size=1",
		"b2c partial-read",
		"both latency ms=50 jitter=10 for=1m",
		"c2b bandwidth rate=1000",
		"b2c byte=10 corrupt size=2",
		"c2b p=0.25 packet=PUBLISH discard",
		"b2c pbyte=0.001 corrupt",
		"c2b before=PUBREL#1 corrupt bits=0x0f",
		"c2b after=PUBREC#3+ truncate size=3",
		"b2c before=PUBLISH half-close conn=2 count=5",
		"c2b before=PUBLISH eintr",
		"b2c time=1500ms eagain count=3",
		"both after=ANY#4 drop conn=1",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		struct mqtt_fault f;
		char err[256] = "", out[256];
		int rc = mqtt_fault_parse(&f, lines[i], strlen(lines[i]), err, sizeof err);
		if (rc)
			fprintf(stderr, "\n%s: %s\n", lines[i], err);
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		mqtt_fault_format(&f, out, sizeof out);
		if (strcmp(out, lines[i]))
			fprintf(stderr, "\n%s printed as %s\n", lines[i], out);
		CU_ASSERT_STRING_EQUAL(out, lines[i]);
	}
}

static void defaults_and_values(void)
{
	struct mqtt_fault f;
	const char *l = "b2c after=PUBACK#2 drop";
	CU_ASSERT_EQUAL_FATAL(mqtt_fault_parse(&f, l, strlen(l), NULL, 0), 0);
	CU_ASSERT_EQUAL(f.dirs, MQTT_B2C);
	CU_ASSERT_EQUAL(f.when, MQTT_WHEN_AFTER);
	CU_ASSERT_EQUAL(f.packet.type, 4);
	CU_ASSERT_EQUAL(f.packet.first, 2);
	CU_ASSERT_EQUAL(f.count, 1); /* one-shot: once in the run */
	l = "c2b before=PUBLISH discard";
	CU_ASSERT_EQUAL_FATAL(mqtt_fault_parse(&f, l, strlen(l), NULL, 0), 0);
	CU_ASSERT_EQUAL(f.count, 0); /* every PUBLISH */
	l = "both time=2m stall ms=1";
	CU_ASSERT_EQUAL_FATAL(mqtt_fault_parse(&f, l, strlen(l), NULL, 0), 0);
	CU_ASSERT_EQUAL(f.time_ms, 120000);
	CU_ASSERT_EQUAL(f.dirs, 3);
	l = "c2b latency ms=5 for=250   # a comment";
	CU_ASSERT_EQUAL_FATAL(mqtt_fault_parse(&f, l, strlen(l), NULL, 0), 0);
	CU_ASSERT_EQUAL(f.for_ms, 250); /* a bare number is milliseconds */
}

static void errors_name_line_and_column(void)
{
	static const struct {
		const char *text, *err;
	} bad[] = {
		{"", "column 1: empty fault"},
		{"up drop", "column 1: expected a direction"},
		{"c2b", "column 4: expected an action"},
		{"c2b explode", "column 5: expected an action"},
		{"c2b drop reset", "column 10: a second action"},
		{"c2b colour=red drop", "column 5: unknown key colour"},
		{"c2b byte=x drop", "column 10: byte= needs"},
		{"c2b byte=1 time=2s drop", "column 12: a second trigger"},
		{"c2b after=PUBAK drop", "column 11: expected a packet type"},
		{"c2b after=PUBACK#0 drop", "column 18: expected an ordinal"},
		{"c2b after=CONNACK drop", "CONNACK never travels c2b"},
		{"b2c before=SUBSCRIBE drop", "SUBSCRIBE never travels b2c"},
		{"c2b after=b2c:PUBACK drop", "direction differs"},
		{"c2b time=0 drop", "column 10: time= needs a duration above 0"},
		{"c2b time=5h drop", "column 10: time= needs"},
		{"c2b p=0 drop", "column 7: p= needs a probability"},
		{"c2b p=1.5 drop", "column 7: p= needs a probability"},
		{"c2b pbyte=-1 drop", "column 11: pbyte= needs"},
		{"c2b stall", "stall needs ms="},
		{"c2b latency ms=5 jitter=6", "jitter= is at most ms="},
		{"c2b bandwidth", "bandwidth needs rate="},
		{"c2b drop ms=5", "column 10: ms= does not belong to drop"},
		{"c2b stall ms=5 for=1s", "column 16: for= does not belong to stall"},
		{"c2b partial-write size=0", "column 24: size= needs a number above 0"},
		{"c2b drop count=0", "column 16: count= needs"},
		{"c2b drop conn=0", "column 15: conn= needs"},
		{"c2b latency ms=5 for=0", "column 22: for= needs a duration above 0"},
		{"c2b packet=PUBLISH drop", "packet= narrows p= only"},
		{"c2b corrupt bits=0", "column 18: bits= needs a mask of 1 to 255"},
		{"c2b corrupt bits=256", "column 18: bits= needs a mask"},
		{"c2b corrupt bits=0xg1", "column 18: bits= needs a mask"},
		{"c2b drop bits=3", "column 10: bits= does not belong to drop"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct mqtt_fault f;
		char err[256] = "";
		CU_ASSERT_EQUAL(mqtt_fault_parse(&f, bad[i].text, strlen(bad[i].text), err, sizeof err), -1);
		if (!strstr(err, bad[i].err))
			fprintf(stderr, "\n'%s': got '%s', expected '%s'\n", bad[i].text, err, bad[i].err);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].err));
	}
}

static void plans(void)
{
	struct mqtt_fault_plan plan;
	char err[256];
	const char *text = "# a plan\n\nc2b after=PUBLISH#1 stall ms=100\n  b2c after=PUBACK#2 drop  \n";
	CU_ASSERT_EQUAL_FATAL(mqtt_fault_plan_parse(&plan, text, err, sizeof err), 0);
	CU_ASSERT_EQUAL(plan.n, 2);
	CU_ASSERT_EQUAL(plan.faults[0].line, 3);
	CU_ASSERT_EQUAL(plan.faults[1].line, 4);
	char out[256];
	mqtt_fault_plan_format(&plan, out, sizeof out);
	CU_ASSERT_STRING_EQUAL(out, "c2b after=PUBLISH#1 stall ms=100\nb2c after=PUBACK#2 drop\n");
	mqtt_fault_plan_free(&plan);
	CU_ASSERT_EQUAL(mqtt_fault_plan_parse(&plan, "c2b drop\n\n# x\nb2c stall\n", err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "line 4, stall needs ms=N above 0");
	CU_ASSERT_EQUAL(plan.n, 0);
	CU_ASSERT_EQUAL(mqtt_fault_plan_parse(&plan, "c2b drop\nc2b bogus=1 drop", err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 2, column 5: unknown key bogus"));
	/* Built in C: checked the same way. */
	struct mqtt_fault f = {.dirs = MQTT_C2B, .action = MQTT_FAULT_LATENCY};
	CU_ASSERT_EQUAL(mqtt_fault_plan_add(&plan, &f, err, sizeof err), -1);
	f.ms = 20;
	CU_ASSERT_EQUAL(mqtt_fault_plan_add(&plan, &f, err, sizeof err), 0);
	CU_ASSERT_EQUAL(plan.n, 1);
	mqtt_fault_plan_free(&plan);
}

const struct test_def fault_plan_tests[] = {
	{"round trip", round_trip},
	{"defaults and values", defaults_and_values},
	{"errors name line and column", errors_name_line_and_column},
	{"plans", plans},
	{NULL, NULL},
};
