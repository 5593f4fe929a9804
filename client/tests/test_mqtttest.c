/*
 * mqtttest's stubs and mocks: their answers, and their own failure
 * reports (a mock that should complain does, with the words expected).
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mqttsim/mqtttest.h"
#include "testing/suites.h"

struct captured {
	char lines[16][256];
	int n;
};

static void capture(void *arg, const char *message)
{
	struct captured *c = arg;
	if (c->n < 16)
		snprintf(c->lines[c->n++], sizeof c->lines[0], "%s", message);
}

static bool said(const struct captured *c, const char *text)
{
	for (int i = 0; i < c->n; i++)
		if (strstr(c->lines[i], text))
			return true;
	return false;
}

#define MSG(s) ((struct mqtt_slice){(const uint8_t *)(s), sizeof(s) - 1})

static struct mqtt_error publish(struct mqtt_api *api, uint8_t qos, const char *topic,
                                 struct mqtt_slice msg, struct mqtt_exchange **ex,
                                 struct mqtt_cancel *cancel)
{
	return api->publish.fn(api->publish.arg, cancel, qos, false, mqtt_slice_str(topic), msg, ex);
}

static void test_read_stub(void)
{
	struct mqtt_api api = {0};
	struct mqtt_test_stub s = {.transfer = {"home/setpoint", MSG("21.5"), 1, true, {0, 0}}};
	mqtt_test_stub_read(&api, &s);
	for (int i = 0; i < 3; i++) {
		struct mqtt_message m;
		CU_ASSERT_EQUAL(api.read.fn(api.read.arg, &m).cls, MQTT_SUCCESS);
		CU_ASSERT_EQUAL(m.topic.len, 13);
		CU_ASSERT_NSTRING_EQUAL(m.topic.data, "home/setpoint", 13);
		CU_ASSERT_NSTRING_EQUAL(m.payload.data, "21.5", 4);
		CU_ASSERT(m.qos == 1 && m.retain);
	}
	s.transfer.err = (struct mqtt_error){MQTT_DOWN, 0};
	struct mqtt_message m;
	CU_ASSERT_EQUAL(api.read.fn(api.read.arg, &m).cls, MQTT_DOWN);
}

static void test_publish_stub_errors_and_cancel(void)
{
	struct mqtt_api api = {0};
	struct mqtt_test_stub s = {.err = {MQTT_DOWN, 0}};
	CU_ASSERT_EQUAL(mqtt_test_stub_publish(&api, &s), 0);
	struct mqtt_exchange *ex = (struct mqtt_exchange *)(uintptr_t)1;
	CU_ASSERT_EQUAL(publish(&api, 0, "t", MSG("x"), NULL, NULL).cls, MQTT_DOWN);
	CU_ASSERT_EQUAL(publish(&api, 1, "t", MSG("x"), &ex, NULL).cls, MQTT_DOWN);
	CU_ASSERT_PTR_NULL(ex); /* no exchange for a call that failed */
	struct mqtt_cancel quit = MQTT_CANCEL_INIT;
	mqtt_cancel_fire(&quit);
	s.err = (struct mqtt_error){0, 0};
	CU_ASSERT_EQUAL(publish(&api, 0, "t", MSG("x"), NULL, &quit).cls, MQTT_CANCELED);
	CU_ASSERT_EQUAL(publish(&api, 0, "t", MSG("x"), NULL, NULL).cls, MQTT_SUCCESS);
}

static long ms_since(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static void test_exchange_stub_course(void)
{
	struct mqtt_api api = {0};
	const struct mqtt_test_step steps[] = {
		{MQTT_TEST_REACH, MQTT_EXCHANGE_RELEASED, 0},
		{MQTT_TEST_BLOCK, 0, 200},
	};
	struct mqtt_test_stub s = {.steps = steps, .nsteps = 2};
	CU_ASSERT_EQUAL_FATAL(mqtt_test_stub_publish(&api, &s), 0);
	struct mqtt_exchange *ex = NULL;
	CU_ASSERT_EQUAL(publish(&api, 2, "t", MSG("x"), &ex, NULL).cls, MQTT_SUCCESS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(api.exchange_wait(api.publish.arg, ex, MQTT_EXCHANGE_RELEASED, NULL),
	                MQTT_EXCHANGE_RELEASED);
	CU_ASSERT(ms_since(&t0) < 150); /* released before the block */
	CU_ASSERT_EQUAL(api.exchange_wait(api.publish.arg, ex, MQTT_EXCHANGE_DONE, NULL),
	                MQTT_EXCHANGE_DONE); /* after the block it completes */
	CU_ASSERT(ms_since(&t0) >= 195);
	api.exchange_release(api.publish.arg, ex);

	/* Closed: the exchange stays open. */
	const struct mqtt_test_step closed[] = {{MQTT_TEST_CLOSED, 0, 0}};
	struct mqtt_test_stub c = {.steps = closed, .nsteps = 1};
	CU_ASSERT_EQUAL_FATAL(mqtt_test_stub_publish(&api, &c), 0);
	CU_ASSERT_EQUAL(publish(&api, 1, "t", MSG("x"), &ex, NULL).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(api.exchange_wait(api.publish.arg, ex, MQTT_EXCHANGE_DONE, NULL),
	                MQTT_EXCHANGE_CLOSED);

	/* An endless block holds until the caller's cancel fires. */
	const struct mqtt_test_step forever[] = {{MQTT_TEST_BLOCK, 0, 0}};
	struct mqtt_test_stub f = {.steps = forever, .nsteps = 1};
	CU_ASSERT_EQUAL_FATAL(mqtt_test_stub_publish(&api, &f), 0);
	CU_ASSERT_EQUAL(publish(&api, 1, "t", MSG("x"), &ex, NULL).cls, MQTT_SUCCESS);
	struct mqtt_cancel quit = MQTT_CANCEL_INIT;
	mqtt_cancel_fire(&quit);
	CU_ASSERT_EQUAL(api.exchange_wait(api.publish.arg, ex, MQTT_EXCHANGE_DONE, &quit),
	                MQTT_EXCHANGE_PENDING);
}

static void test_exchange_stub_refuses_nonsense(void)
{
	struct mqtt_api api = {0};
	const struct mqtt_test_step one[] = {{MQTT_TEST_REACH, MQTT_EXCHANGE_DONE, 0}};
	struct mqtt_test_stub with_error = {.err = {MQTT_DOWN, 0}, .steps = one, .nsteps = 1};
	CU_ASSERT_EQUAL(mqtt_test_stub_publish(&api, &with_error), -EINVAL);
	const struct mqtt_test_step empty[] = {{0, 0, 0}};
	struct mqtt_test_stub e = {.steps = empty, .nsteps = 1};
	CU_ASSERT_EQUAL(mqtt_test_stub_publish(&api, &e), -EINVAL);
	const struct mqtt_test_step after_closed[] = {{MQTT_TEST_CLOSED, 0, 0},
	                                              {MQTT_TEST_REACH, MQTT_EXCHANGE_DONE, 0}};
	struct mqtt_test_stub a = {.steps = after_closed, .nsteps = 2};
	CU_ASSERT_EQUAL(mqtt_test_stub_publish(&api, &a), -EINVAL);
	const struct mqtt_test_step after_forever[] = {{MQTT_TEST_BLOCK, 0, 0},
	                                               {MQTT_TEST_REACH, MQTT_EXCHANGE_DONE, 0}};
	struct mqtt_test_stub b = {.steps = after_forever, .nsteps = 2};
	CU_ASSERT_EQUAL(mqtt_test_stub_publish(&api, &b), -EINVAL);
	const struct mqtt_test_step bad_state[] = {{MQTT_TEST_REACH, MQTT_EXCHANGE_PENDING, 0}};
	struct mqtt_test_stub d = {.steps = bad_state, .nsteps = 1};
	CU_ASSERT_EQUAL(mqtt_test_stub_publish(&api, &d), -EINVAL);
	CU_ASSERT_PTR_NULL(api.publish.fn); /* nothing installed by a refusal */
}

static void test_subscribe_stubs(void)
{
	struct mqtt_api api = {0};
	struct mqtt_test_stub s = {.err = {MQTT_SUBSCRIBE_FAILED, 0}};
	mqtt_test_stub_subscribe(&api, &s);
	mqtt_test_stub_unsubscribe(&api, &s);
	struct mqtt_topic f = {mqtt_slice_str("a/#"), 1};
	CU_ASSERT_EQUAL(api.subscribe.fn(api.subscribe.arg, NULL, &f, 1).cls, MQTT_SUBSCRIBE_FAILED);
	CU_ASSERT_EQUAL(api.subscribe.fn(api.subscribe.arg, NULL, NULL, 0).cls, MQTT_DENY);
	CU_ASSERT_EQUAL(api.unsubscribe.fn(api.unsubscribe.arg, NULL, &f, 0).cls, MQTT_DENY);
	struct mqtt_cancel quit = MQTT_CANCEL_INIT;
	mqtt_cancel_fire(&quit);
	CU_ASSERT_EQUAL(api.unsubscribe.fn(api.unsubscribe.arg, &quit, &f, 1).cls, MQTT_CANCELED);
}

static void test_read_mock(void)
{
	struct captured cap = {0};
	const struct mqtt_test_transfer want[] = {
		{"a", MSG("1"), 0, false, {0, 0}},
		{"b", MSG("2"), 1, false, {MQTT_BIG_MESSAGE, 70000}},
	};
	struct mqtt_test_mock m = {.report = {capture, &cap}, .transfers = want, .n = 2};
	struct mqtt_api api = {0};
	mqtt_test_mock_read(&api, &m);
	struct mqtt_message msg;
	CU_ASSERT_EQUAL(api.read.fn(api.read.arg, &msg).cls, MQTT_SUCCESS);
	CU_ASSERT_NSTRING_EQUAL(msg.payload.data, "1", 1);
	CU_ASSERT_EQUAL(api.read.fn(api.read.arg, &msg).cls, MQTT_BIG_MESSAGE);
	CU_ASSERT_EQUAL(cap.n, 0);
	CU_ASSERT_EQUAL(api.read.fn(api.read.arg, &msg).cls, MQTT_CLOSED); /* one too many */
	CU_ASSERT(said(&cap, "read mock: call 3 unexpected: 2 expected"));
	CU_ASSERT_EQUAL(mqtt_test_mock_finish(&m), 1);

	/* Fewer calls than expected: reported at teardown. */
	struct captured cap2 = {0};
	struct mqtt_test_mock m2 = {.report = {capture, &cap2}, .transfers = want, .n = 2};
	mqtt_test_mock_read(&api, &m2);
	api.read.fn(api.read.arg, &msg);
	CU_ASSERT_EQUAL(mqtt_test_mock_finish(&m2), 1);
	CU_ASSERT(said(&cap2, "read mock: 1 of 2 expected calls never came"));
}

static void test_publish_mock_reports_each_difference(void)
{
	struct captured cap = {0};
	const struct mqtt_test_transfer want[] = {
		{"home/heater", MSG("on"), 1, false, {0, 0}},
		{"home/heater", MSG("off"), 1, false, {MQTT_DOWN, 0}},
		{"home/heater", MSG("off"), 0, true, {0, 0}},
	};
	struct mqtt_test_mock m = {.report = {capture, &cap}, .transfers = want, .n = 3};
	struct mqtt_api api = {0};
	mqtt_test_mock_publish(&api, &m);
	/* The right message on the wrong topic: the seed's mock let it pass. */
	struct mqtt_exchange *ex = NULL;
	CU_ASSERT_EQUAL(publish(&api, 1, "home/fan", MSG("on"), &ex, NULL).cls, MQTT_SUCCESS);
	CU_ASSERT(said(&cap, "publish mock: call 1: topic \"home/fan\" is not the expected \"home/heater\""));
	CU_ASSERT_EQUAL(cap.n, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	CU_ASSERT_EQUAL(api.exchange_wait(api.publish.arg, ex, MQTT_EXCHANGE_DONE, NULL),
	                MQTT_EXCHANGE_DONE);
	api.exchange_release(api.publish.arg, ex);
	/* The wrong message on the right topic; the expected error comes back. */
	CU_ASSERT_EQUAL(publish(&api, 1, "home/heater", MSG("of"), &ex, NULL).cls, MQTT_DOWN);
	CU_ASSERT(said(&cap, "publish mock: call 2: message \"of\" is not the expected \"off\""));
	CU_ASSERT_PTR_NULL(ex);
	/* QoS and retain count too. */
	api.publish.fn(api.publish.arg, NULL, 2, false, mqtt_slice_str("home/heater"), MSG("off"), NULL);
	CU_ASSERT(said(&cap, "call 3: QoS 2 is not the expected 0"));
	CU_ASSERT(said(&cap, "call 3: retain off is not the expected on"));
	CU_ASSERT_EQUAL(cap.n, 4);
	CU_ASSERT_EQUAL(publish(&api, 0, "x", MSG("y"), NULL, NULL).cls, MQTT_CLOSED);
	CU_ASSERT(said(&cap, "publish mock: call 4 unexpected: 3 expected"));
	CU_ASSERT_EQUAL(mqtt_test_mock_finish(&m), 5);
}

static void test_subscribe_mock_compares_sets(void)
{
	struct captured cap = {0};
	const char *const first[] = {"a/#", "b/+"};
	const struct mqtt_test_filter want[] = {
		{first, 2, {0, 0}},
		{first, 1, {MQTT_SUBSCRIBE_FAILED, 0}},
	};
	struct mqtt_test_mock m = {.report = {capture, &cap}, .filters = want, .n = 2};
	struct mqtt_api api = {0};
	mqtt_test_mock_subscribe(&api, &m);
	/* Order does not matter. */
	struct mqtt_topic got[] = {{mqtt_slice_str("b/+"), 1}, {mqtt_slice_str("a/#"), 0}};
	CU_ASSERT_EQUAL(api.subscribe.fn(api.subscribe.arg, NULL, got, 2).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(cap.n, 0);
	/* One unwanted, one missing. */
	struct mqtt_topic other[] = {{mqtt_slice_str("c"), 0}};
	CU_ASSERT_EQUAL(api.subscribe.fn(api.subscribe.arg, NULL, other, 1).cls, MQTT_SUBSCRIBE_FAILED);
	CU_ASSERT(said(&cap, "subscribe mock: call 2: unwanted filter \"c\""));
	CU_ASSERT(said(&cap, "subscribe mock: call 2: missing filter \"a/#\""));
	/* Past the end: reported, and nothing read beyond the list (ASan would see it). */
	CU_ASSERT_EQUAL(api.subscribe.fn(api.subscribe.arg, NULL, other, 1).cls, MQTT_CLOSED);
	CU_ASSERT_EQUAL(api.subscribe.fn(api.subscribe.arg, NULL, other, 1).cls, MQTT_CLOSED);
	CU_ASSERT(said(&cap, "subscribe mock: call 4 unexpected: 2 expected"));
	CU_ASSERT_EQUAL(mqtt_test_mock_finish(&m), 4);

	struct captured cap2 = {0};
	struct mqtt_test_mock u = {.report = {capture, &cap2}, .filters = want, .n = 1};
	mqtt_test_mock_unsubscribe(&api, &u);
	CU_ASSERT_EQUAL(mqtt_test_mock_finish(&u), 1);
	CU_ASSERT(said(&cap2, "unsubscribe mock: 1 of 1 expected calls never came"));
}

static void test_api_client_is_the_real_client(void)
{
	/* A client whose dial always fails, closed: the table's calls reach it. */
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.session.client_id = mqtt_slice_str("api");
	cfg.session.clean_session = true;
	CU_ASSERT_EQUAL_FATAL(mqtt_dialer_unix(&cfg.dialer, "/nonexistent/socket"), 0);
	struct mqtt_client *c = NULL;
	CU_ASSERT_EQUAL_FATAL(mqtt_client_new(&c, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls,
	                      MQTT_SUCCESS);
	mqtt_client_close(c);
	struct mqtt_api api;
	mqtt_api_client(&api, c);
	struct mqtt_message msg;
	CU_ASSERT_EQUAL(api.read.fn(api.read.arg, &msg).cls, MQTT_CLOSED);
	CU_ASSERT_EQUAL(publish(&api, 0, "t", MSG("x"), NULL, NULL).cls, MQTT_CLOSED);
	struct mqtt_topic f = {mqtt_slice_str("t"), 0};
	CU_ASSERT_EQUAL(api.subscribe.fn(api.subscribe.arg, NULL, &f, 1).cls, MQTT_CLOSED);
	CU_ASSERT_EQUAL(api.unsubscribe.fn(api.unsubscribe.arg, NULL, &f, 1).cls, MQTT_CLOSED);
	mqtt_client_free(c);
}

const struct test_def mqtttest_tests[] = {
	{"read stub", test_read_stub},
	{"publish stub: errors and cancel", test_publish_stub_errors_and_cancel},
	{"exchange stub: its course", test_exchange_stub_course},
	{"exchange stub: nonsense refused", test_exchange_stub_refuses_nonsense},
	{"subscribe and unsubscribe stubs", test_subscribe_stubs},
	{"read mock", test_read_mock},
	{"publish mock reports each difference", test_publish_mock_reports_each_difference},
	{"subscribe mock compares sets", test_subscribe_mock_compares_sets},
	{"the table of the real client", test_api_client_is_the_real_client},
	{NULL, NULL},
};
