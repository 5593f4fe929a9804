/*
 * test_thermostat.c - the thermostat tested with mqtttest's stubs and
 * mocks instead of a client: no broker, no network, no threads. The
 * mocks report through a hook that makes each report a CUnit failure.
 *
 * Build: cc -o test_thermostat test_thermostat.c thermostat.c \
 *            $(pkg-config --cflags --libs mqttsim) -lcunit
 */
#include <CUnit/Basic.h>
#include <string.h>

#include "thermostat.h"

/* Every mock report is a failed CUnit assertion, with the mock's words. */
static void cunit_report(void *arg, const char *message)
{
	(void)arg;
	CU_assertImplementation(CU_FALSE, 0, message, "mqtttest", "", CU_FALSE);
}

static const struct mqtt_test_reporter to_cunit = {cunit_report, NULL};

#define TEXT(s) ((struct mqtt_slice){(const uint8_t *)(s), sizeof(s) - 1})
#define OK ((struct mqtt_error){MQTT_SUCCESS, 0})

static void test_start_subscribes_to_the_setpoint(void)
{
	const char *const filters[] = {"home/setpoint"};
	const struct mqtt_test_filter want[] = {{filters, 1, OK}};
	struct mqtt_test_mock sub = {.report = to_cunit, .filters = want, .n = 1};
	struct mqtt_api api = {0};
	mqtt_test_mock_subscribe(&api, &sub);
	struct thermostat t;
	CU_ASSERT_EQUAL(thermostat_start(&t, &api).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(mqtt_test_mock_finish(&sub), 0);
}

static void test_setpoint_then_heater_on_and_off(void)
{
	struct mqtt_test_stub sub = {.err = OK};
	const struct mqtt_test_transfer reads[] = {
		{"home/setpoint", TEXT("22.5"), 1, false, OK},
		{"home/other", TEXT("99"), 0, false, OK},   /* not for us */
		{"home/setpoint", TEXT("hot"), 1, false, OK}, /* not a number */
	};
	const struct mqtt_test_transfer publishes[] = {
		{"home/heater", TEXT("on"), 1, true, OK},
		{"home/heater", TEXT("off"), 1, true, OK},
	};
	struct mqtt_test_mock read = {.report = to_cunit, .transfers = reads, .n = 3};
	struct mqtt_test_mock pub = {.report = to_cunit, .transfers = publishes, .n = 2};
	struct mqtt_api api = {0};
	mqtt_test_stub_subscribe(&api, &sub);
	mqtt_test_mock_read(&api, &read);
	mqtt_test_mock_publish(&api, &pub);
	struct thermostat t;
	CU_ASSERT_EQUAL(thermostat_start(&t, &api).cls, MQTT_SUCCESS);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(thermostat_poll(&t).cls, MQTT_SUCCESS);
	CU_ASSERT_DOUBLE_EQUAL(t.setpoint, 22.5, 1e-9);
	CU_ASSERT_EQUAL(thermostat_measure(&t, 21.0).cls, MQTT_SUCCESS); /* on */
	CU_ASSERT_EQUAL(thermostat_measure(&t, 22.7).cls, MQTT_SUCCESS); /* no change: no publish */
	CU_ASSERT_EQUAL(thermostat_measure(&t, 23.5).cls, MQTT_SUCCESS); /* off */
	CU_ASSERT_EQUAL(mqtt_test_mock_finish(&read), 0);
	CU_ASSERT_EQUAL(mqtt_test_mock_finish(&pub), 0);
}

static void test_broker_down_is_retried_on_the_next_measure(void)
{
	struct mqtt_test_stub down = {.err = {MQTT_DOWN, 0}};
	struct mqtt_api api = {0};
	struct mqtt_test_stub sub = {.err = OK};
	mqtt_test_stub_subscribe(&api, &sub);
	CU_ASSERT_EQUAL_FATAL(mqtt_test_stub_publish(&api, &down), 0);
	struct thermostat t;
	thermostat_start(&t, &api);
	CU_ASSERT_EQUAL(thermostat_measure(&t, 15).cls, MQTT_DOWN);
	CU_ASSERT(!t.told);
	/* The broker is back; the heater gets told. */
	const struct mqtt_test_transfer publishes[] = {{"home/heater", TEXT("on"), 1, true, OK}};
	struct mqtt_test_mock pub = {.report = to_cunit, .transfers = publishes, .n = 1};
	mqtt_test_mock_publish(&api, &pub);
	CU_ASSERT_EQUAL(thermostat_measure(&t, 15).cls, MQTT_SUCCESS);
	CU_ASSERT(t.told && t.heating);
	CU_ASSERT_EQUAL(mqtt_test_mock_finish(&pub), 0);
}

static void test_exchange_left_open_counts_as_not_told(void)
{
	const struct mqtt_test_step course[] = {
		{MQTT_TEST_BLOCK, 0, 20},
		{MQTT_TEST_CLOSED, 0, 0},
	};
	struct mqtt_test_stub pub = {.steps = course, .nsteps = 2};
	struct mqtt_test_stub sub = {.err = OK};
	struct mqtt_api api = {0};
	mqtt_test_stub_subscribe(&api, &sub);
	CU_ASSERT_EQUAL_FATAL(mqtt_test_stub_publish(&api, &pub), 0);
	struct thermostat t;
	thermostat_start(&t, &api);
	CU_ASSERT_EQUAL(thermostat_measure(&t, 10).cls, MQTT_TIMEOUT);
	CU_ASSERT(!t.told);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	CU_pSuite s = CU_add_suite("thermostat", NULL, NULL);
	if (!s || !CU_add_test(s, "start subscribes to the set point", test_start_subscribes_to_the_setpoint) ||
	    !CU_add_test(s, "set point, then heater on and off", test_setpoint_then_heater_on_and_off) ||
	    !CU_add_test(s, "broker down: told on the next measure", test_broker_down_is_retried_on_the_next_measure) ||
	    !CU_add_test(s, "exchange left open: not told", test_exchange_left_open_counts_as_not_told))
		return 2;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
