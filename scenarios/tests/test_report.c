/*
 * test_report.c - the reports' parts: chart events recorded by a run and
 * read back, bad events files refused with their line, the SVG drawn from
 * a handmade chart (lanes, arrows, a lost packet, folds, the violation),
 * results carried between processes, and markup escaping.
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/conformance.h"
#include "scenarios/report/chart.h"
#include "scenarios/report/coverage.h"
#include "scenarios/report/markup.h"
#include "scenarios/report/results.h"
#include "scenarios/sim/sim.h"
#include "testing/suites.h"

/* text into a temporary file; its path into path (freed by unlink). */
static void temp_with(char *path, size_t cap, const char *text)
{
	snprintf(path, cap, "/tmp/mqttsim-chart-test-XXXXXX");
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	FILE *f = fdopen(fd, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

/* What chart_svg() writes, as a string (the caller frees it). */
static char *drawn(struct chart *c, struct chart_stats *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CU_ASSERT_FATAL(f != NULL);
	*st = chart_svg(f, c, "t");
	fclose(f);
	return buf;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* Lines of text holding both a and b. */
static size_t lines_with(const char *text, const char *a, const char *b)
{
	size_t n = 0;
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *one = strndup(line, len);
		n += one && strstr(one, a) && strstr(one, b);
		free(one);
		line += len + (end != NULL);
	}
	return n;
}

static void test_bad_events_are_refused_with_their_line(void)
{
	static const char *const bad[][2] = {
		{"{\"ev\":\"run\",\"scenario\":\"x\",\"clients\":[\"a\"]}\nnot json\n", ":2: not a JSON object"},
		{"{\"ev\":\"run\",\"scenario\":\"x\",\"clients\":[\"a\"]}\n{\"ev\":\"dance\"}\n",
		 ":2: not a chart event"},
		{"{\"ev\":\"run\",\"scenario\":\"x\"}\n{\"t\":1,\"ev\":\"send\",\"client\":999}\n",
		 ":2: client 999 out of range"},
		{"[1,2]\n", ":1: not a JSON object"},
		{"{\"t\":1,\"ev\":\"mark\",\"kind\":\"note\",\"text\":\"x\"}\n", "no run line"},
		{"", "no run line"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char path[64], why[600];
		temp_with(path, sizeof path, bad[i][0]);
		struct chart *c = (struct chart *)1;
		CU_ASSERT_EQUAL(chart_load(path, &c, why, sizeof why), -1);
		CU_ASSERT_PTR_NULL(c);
		if (!strstr(why, bad[i][1]))
			fprintf(stderr, "\ncase %zu: %s\n", i, why);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, bad[i][1]));
		CU_ASSERT_PTR_NOT_NULL(strstr(why, path));
		unlink(path);
	}
	char why[600];
	struct chart *c;
	CU_ASSERT_EQUAL(chart_load("/nonexistent/events", &c, why, sizeof why), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "No such file"));
}

/*
 * Two clients, one of them restarted: a CONNECT each way, a PUBLISH lost
 * on the way (no receipt), one delivered twice (the subject), a fault and
 * a crash, and the violation found at the second copy.
 */
static const char handmade[] =
	"{\"ev\":\"run\",\"scenario\":\"hand.scn\",\"seed\":7,\"clients\":[\"pub\",\"sub\"]}\n"
	"{\"t\":0,\"ev\":\"process\",\"client\":0,\"inc\":1,\"name\":\"pub\"}\n"
	"{\"t\":0,\"ev\":\"process\",\"client\":1,\"inc\":1,\"name\":\"sub\"}\n"
	"{\"t\":0,\"ev\":\"conn\",\"client\":0,\"conn\":1}\n"
	"{\"t\":0,\"ev\":\"conn\",\"client\":1,\"conn\":1}\n"
	"{\"t\":1,\"ev\":\"send\",\"client\":0,\"conn\":1,\"dir\":\"c2b\",\"off\":0,\"len\":14,\"type\":\"CONNECT\"}\n"
	"{\"t\":2,\"ev\":\"recv\",\"client\":0,\"conn\":1,\"dir\":\"c2b\",\"off\":0,\"len\":14,\"type\":\"CONNECT\"}\n"
	"{\"t\":3,\"ev\":\"send\",\"client\":0,\"conn\":1,\"dir\":\"c2b\",\"off\":14,\"len\":9,\"type\":\"PUBLISH\","
	"\"qos\":1,\"id\":5,\"topic\":\"t\",\"payload\":\"0:1:0:\",\"payload_len\":6}\n"
	"{\"t\":3,\"ev\":\"mark\",\"lane\":\"link\",\"client\":0,\"kind\":\"fault\",\"text\":\"reset <&>\"}\n"
	"{\"t\":4,\"ev\":\"send\",\"client\":1,\"conn\":1,\"dir\":\"b2c\",\"off\":0,\"len\":9,\"type\":\"PUBLISH\","
	"\"qos\":2,\"id\":1,\"topic\":\"t\",\"payload\":\"0:2:3:\",\"payload_len\":6}\n"
	"{\"t\":5,\"ev\":\"recv\",\"client\":1,\"conn\":1,\"dir\":\"b2c\",\"off\":0,\"len\":9,\"type\":\"PUBLISH\","
	"\"qos\":2,\"id\":1,\"topic\":\"t\",\"payload\":\"0:2:3:\",\"payload_len\":6}\n"
	"{\"t\":5,\"ev\":\"send\",\"client\":1,\"conn\":1,\"dir\":\"b2c\",\"off\":9,\"len\":9,\"type\":\"PUBLISH\","
	"\"qos\":2,\"id\":2,\"dup\":false,\"topic\":\"t\",\"payload\":\"0:2:3:\",\"payload_len\":6}\n"
	"{\"t\":6,\"ev\":\"recv\",\"client\":1,\"conn\":1,\"dir\":\"b2c\",\"off\":9,\"len\":9,\"type\":\"PUBLISH\","
	"\"qos\":2,\"id\":2,\"topic\":\"t\",\"payload\":\"0:2:3:\",\"payload_len\":6}\n"
	"{\"t\":7,\"ev\":\"mark\",\"lane\":\"client\",\"client\":0,\"kind\":\"crash\",\"text\":\"crash\"}\n"
	"{\"t\":9,\"ev\":\"process\",\"client\":0,\"inc\":2,\"name\":\"pub\"}\n"
	"{\"t\":6,\"ev\":\"violation\",\"guarantee\":\"exactly-once\",\"decisive\":true,\"at_end\":false,"
	"\"client\":1,\"step\":2,\"seq\":3,\"text\":\"sub read t #3 (QoS 2) 2 times\"}\n"
	"{\"ev\":\"verdict\",\"passed\":false,\"virtual_ms\":10,\"why\":\"line 5\"}\n";

static void test_a_handmade_chart_is_drawn_as_it_says(void)
{
	char path[64], why[600];
	temp_with(path, sizeof path, handmade);
	struct chart *c;
	CU_ASSERT_EQUAL_FATAL(chart_load(path, &c, why, sizeof why), 0);
	struct chart_stats st;
	char *svg = drawn(c, &st);
	CU_ASSERT_EQUAL(st.lanes, 5); /* pub #1, pub #2, sub #1, network, broker */
	CU_ASSERT_EQUAL(count(svg, "<g class=\"lane\""), 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(svg, "data-name=\"pub #2\""));
	CU_ASSERT_EQUAL(st.arrows, 4);
	CU_ASSERT_EQUAL(count(svg, "<g class=\"arrow"), 4);
	CU_ASSERT_EQUAL(st.lost, 1);
	CU_ASSERT_EQUAL(count(svg, "class=\"cross\""), 1);
	CU_ASSERT_EQUAL(count(svg, " subject\""), 2); /* the two copies of 2:3 */
	CU_ASSERT(st.violation);
	CU_ASSERT_PTR_NOT_NULL(strstr(svg, "id=\"t-violation\" class=\"violation\" data-guarantee="
	                                   "\"exactly-once\" data-t=\"6\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(svg, "reset &lt;&amp;&gt;")); /* escaped */
	CU_ASSERT_PTR_NOT_NULL(strstr(svg, "data-kind=\"crash\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(svg, "never received (lost on the way)"));
	CU_ASSERT_PTR_NULL(strstr(svg, "<script"));
	free(svg);
	chart_free(c);
	unlink(path);
}

static void test_keep_alive_stretches_fold(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	fputs("{\"ev\":\"run\",\"scenario\":\"idle\",\"clients\":[\"c\"]}\n"
	      "{\"t\":0,\"ev\":\"process\",\"client\":0,\"inc\":1,\"name\":\"c\"}\n"
	      "{\"t\":0,\"ev\":\"conn\",\"client\":0,\"conn\":1}\n", f);
	for (int i = 0; i < 50; i++) {
		const char *ty = i % 2 ? "PINGRESP" : "PINGREQ", *dir = i % 2 ? "b2c" : "c2b";
		fprintf(f, "{\"t\":%d,\"ev\":\"send\",\"client\":0,\"conn\":1,\"dir\":\"%s\",\"off\":%d,"
		        "\"len\":2,\"type\":\"%s\"}\n{\"t\":%d,\"ev\":\"recv\",\"client\":0,\"conn\":1,"
		        "\"dir\":\"%s\",\"off\":%d,\"len\":2,\"type\":\"%s\"}\n", i * 1000, dir, i / 2 * 2,
		        ty, i * 1000 + 1, dir, i / 2 * 2, ty);
	}
	fclose(f);
	char path[64], why[600];
	temp_with(path, sizeof path, text);
	free(text);
	struct chart *c;
	CU_ASSERT_EQUAL_FATAL(chart_load(path, &c, why, sizeof why), 0);
	struct chart_stats st;
	char *svg = drawn(c, &st);
	CU_ASSERT_EQUAL(st.arrows + st.collapsed, 50);
	CU_ASSERT(st.collapsed >= 48);
	CU_ASSERT_PTR_NOT_NULL(strstr(svg, "<g class=\"fold\" data-events=\"100\""));
	free(svg);
	chart_free(c);
	unlink(path);
}

/* A real run's events: each send received once at most, and what the
 * trace's broker records say it read and sent, the chart has. */
static void test_a_simulated_run_records_its_chart(void)
{
	static const char text[] =
		"# dup\nclient pub clean=no\nclient sub clean=no\nsubscribe sub t qos=2\n"
		"publish pub t qos=2 count=6\nrule deliver-twice PUBLISH#3 client=sub\n"
		"fault pub c2b after=PUBLISH#2 reset\nexpect violation exactly-once\n";
	struct scenario s;
	char err[600];
	CU_ASSERT_EQUAL_FATAL(scenario_parse(&s, "dup.scn", text, err, sizeof err), 0);
	char *events = NULL, *trace = NULL;
	size_t elen = 0, tlen = 0;
	FILE *e = open_memstream(&events, &elen), *t = open_memstream(&trace, &tlen);
	struct scn_result r;
	CU_ASSERT_EQUAL(scenario_simulate_charted(&s, 3, &r, t, NULL, e), 0);
	fclose(e);
	fclose(t);
	CU_ASSERT(r.passed);
	/* What the broker read and sent, by its own records. */
	CU_ASSERT_EQUAL(count(trace, " broker <- "), lines_with(events, "\"ev\":\"recv\"", "\"dir\":\"c2b\""));
	CU_ASSERT_EQUAL(count(trace, " broker -> "), lines_with(events, "\"ev\":\"send\"", "\"dir\":\"b2c\""));
	CU_ASSERT(lines_with(events, "\"ev\":\"recv\"", "") <= lines_with(events, "\"ev\":\"send\"", ""));
	CU_ASSERT_PTR_NOT_NULL(strstr(events, "\"ev\":\"violation\",\"guarantee\":\"exactly-once\","
	                                      "\"decisive\":true"));
	CU_ASSERT_PTR_NOT_NULL(strstr(events, "\"kind\":\"fault\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(events, "{\"ev\":\"verdict\",\"passed\":true"));
	/* And without a chart, the same verdict: recording changes nothing. */
	struct scn_result plain;
	CU_ASSERT_EQUAL(scenario_simulate(&s, 3, &plain, NULL, NULL), 0);
	CU_ASSERT_EQUAL(plain.passed, r.passed);
	CU_ASSERT_EQUAL(plain.virtual_ms, r.virtual_ms);
	CU_ASSERT_EQUAL(plain.delivered, r.delivered);
	CU_ASSERT_EQUAL(plain.where[SCN_EXACTLY_ONCE].at_ms, r.where[SCN_EXACTLY_ONCE].at_ms);
	CU_ASSERT_EQUAL(r.where[SCN_EXACTLY_ONCE].client, 1);
	int publish_step = -1;
	for (int i = 0; i < s.nsteps; i++)
		if (s.steps[i].kind == SCN_PUBLISH)
			publish_step = i;
	CU_ASSERT_EQUAL(r.where[SCN_EXACTLY_ONCE].step, publish_step);
	CU_ASSERT(r.where[SCN_EXACTLY_ONCE].seq >= 0 && r.where[SCN_EXACTLY_ONCE].seq < 6);
	CU_ASSERT(!r.where[SCN_EXACTLY_ONCE].at_end);
	free(events);
	free(trace);
	scenario_free(&s);
}

static void test_results_survive_the_trip_between_processes(void)
{
	struct scenario s;
	char err[600];
	CU_ASSERT_EQUAL_FATAL(scenario_parse(&s, "x.scn", "# x\nclient a\nclient b\nsubscribe b t\n"
	                                     "publish a t count=2\nexpect at-most-once\n"
	                                     "expect reconnects a max=0\n", err, sizeof err), 0);
	struct result r;
	result_init(&r, &s, 3, 9);
	CU_ASSERT_EQUAL(r.nguarantees, 2);
	CU_ASSERT_STRING_EQUAL(r.guarantees[0], "at-most-once");
	CU_ASSERT_STRING_EQUAL(r.guarantees[1], "a never reconnects");
	struct result_failure fl = {.seed = 4, .guarantee = "at-most-once", .why = "why"};
	CU_ASSERT_EQUAL(result_add_failure(&r, &fl), 0);
	fl.seed = 8;
	CU_ASSERT_EQUAL(result_add_failure(&r, &fl), 0);
	FILE *f = tmpfile();
	CU_ASSERT_EQUAL(result_save(f, &r), 0);
	rewind(f);
	struct result back;
	CU_ASSERT_EQUAL(result_load(f, &back), 0);
	CU_ASSERT_EQUAL(back.nfailures, 2);
	CU_ASSERT_EQUAL(back.failures[1].seed, 8);
	CU_ASSERT_STRING_EQUAL(back.path, "x.scn");
	/* A file cut short is refused, not half-read. */
	rewind(f);
	CU_ASSERT_EQUAL(ftruncate(fileno(f), (off_t)(sizeof r + 10)), 0);
	struct result cut;
	CU_ASSERT_EQUAL(result_load(f, &cut), -1);
	CU_ASSERT_PTR_NULL(cut.failures);
	fclose(f);
	result_free(&back);
	result_free(&r);
	scenario_free(&s);
}

static void test_markup_escapes_and_cuts_whole_characters(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	markup_text(f, "a<b>&\"c'\x01");
	fputc('|', f);
	markup_text_n(f, "\xc3\xa9\xc3\xa9\xc3\xa9", 3); /* "ééé" cut inside the second */
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf, "a&lt;b&gt;&amp;&quot;c&#39;?|\xc3\xa9...");
	free(buf);
}

/* The statements' table is whole and every tag names one of its ids. */
static void test_statements_and_tags(void)
{
	int n;
	const struct statement *st = coverage_statements(&n);
	CU_ASSERT_EQUAL_FATAL(n, 137); /* MQTT 3.1.1's numbered statements */
	CU_ASSERT_STRING_EQUAL(st[0].id, "MQTT-1.5.3-1");
	CU_ASSERT_STRING_EQUAL(st[n - 1].id, "MQTT-6.0.0-4");
	for (int i = 0; i < n; i++) {
		CU_ASSERT(!strcmp(st[i].who, "client") || !strcmp(st[i].who, "server") ||
		          !strcmp(st[i].who, "both"));
		CU_ASSERT(strlen(st[i].summary) > 20);
		CU_ASSERT(!*st[i].why_not || !strncmp(st[i].why_not, "n/a: ", 5) ||
		          !strncmp(st[i].why_not, "not exercised: ", 15));
		for (int j = 0; j < i; j++)
			CU_ASSERT(strcmp(st[i].id, st[j].id) != 0);
	}
	char unknown[2000];
	size_t bad = coverage_unknown_tags(unknown, sizeof unknown);
	if (bad)
		fprintf(stderr, "\ntags of no statement:\n%s", unknown);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(coverage_find("MQTT-3.3.1-1") >= 0);
	CU_ASSERT_EQUAL(coverage_find("MQTT-9.9.9-9"), -1);
}

/* A run reaches what it does, and counting off costs the count nothing. */
static void test_a_run_reaches_its_statements(void)
{
	struct scenario s;
	char err[600];
	CU_ASSERT_EQUAL_FATAL(scenario_parse(&s, "c.scn", "# c\nclient pub\nclient sub clean=no\n"
	                                     "subscribe sub t qos=1\npublish pub t qos=1 count=3\n"
	                                     "expect at-least-once\n", err, sizeof err), 0);
	uint64_t before[COVERAGE_MAX], after[COVERAGE_MAX];
	struct scn_result r;
	mqtt_conformance_count(false);
	coverage_snapshot(before);
	CU_ASSERT_EQUAL(scenario_simulate(&s, 1, &r, NULL, NULL), 0);
	coverage_snapshot(after);
	uint8_t reached[COVERAGE_MAX / 8] = {0};
	coverage_diff(before, after, reached);
	for (size_t i = 0; i < sizeof reached; i++)
		CU_ASSERT_EQUAL(reached[i], 0); /* not counting: nothing counted */
	mqtt_conformance_count(true);
	coverage_snapshot(before);
	CU_ASSERT_EQUAL(scenario_simulate(&s, 1, &r, NULL, NULL), 0);
	coverage_snapshot(after);
	mqtt_conformance_count(false);
	coverage_diff(before, after, reached);
	int puback = coverage_find("MQTT-4.3.2-2"), retained = coverage_find("MQTT-3.3.1-10");
	CU_ASSERT(reached[puback / 8] >> (puback % 8) & 1);     /* QoS 1 acknowledged */
	CU_ASSERT(!(reached[retained / 8] >> (retained % 8) & 1)); /* no retained clear here */
	struct coverage_run run = {"c.scn", reached};
	struct coverage_counts c = coverage_count(&run, 1);
	CU_ASSERT_EQUAL(c.statements, 137);
	CU_ASSERT_EQUAL(c.applicable, 133);
	CU_ASSERT(c.exercised > 40 && c.exercised < c.applicable);
	scenario_free(&s);
}

const struct test_def report_tests[] = {
	{"the statements' table is whole and every tag names a statement", test_statements_and_tags},
	{"a run reaches its statements, and only while counting", test_a_run_reaches_its_statements},
	{"bad chart events are refused with their file and line", test_bad_events_are_refused_with_their_line},
	{"a handmade chart: lanes, arrows, the lost, the subject, the violation", test_a_handmade_chart_is_drawn_as_it_says},
	{"keep-alive stretches fold into one row", test_keep_alive_stretches_fold},
	{"a simulated run records its chart, and recording changes nothing", test_a_simulated_run_records_its_chart},
	{"results survive the trip between processes; a cut file is refused", test_results_survive_the_trip_between_processes},
	{"markup escapes and cuts whole characters", test_markup_escapes_and_cuts_whole_characters},
	{NULL, NULL},
};
