/*
 * Our client through the fault-injecting transport against the fake
 * broker embedded here: a connection dropped right after the broker's
 * second PUBACK costs no QoS 1 message; the client reconnects and
 * resends what was not acknowledged.
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqttsim/client.h"
#include "mqttsim/codec.h"
#include "mqttsim/fakebroker.h"
#include "mqttsim/faults.h"
#include "testing/suites.h"

#define MESSAGES 60

static void *read_routine(void *arg)
{
	struct mqtt_client *c = arg;
	for (;;) {
		struct mqtt_message m;
		struct mqtt_error e = mqtt_client_read(c, &m);
		if (e.cls == MQTT_CLOSED)
			return NULL;
		if (e.cls != MQTT_SUCCESS && e.cls != MQTT_BIG_MESSAGE)
			mqtt_client_backoff(c, NULL);
	}
}

static int reports;
static void count_report(void *arg, const struct mqtt_fault_report *r)
{
	(void)r;
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
}

/* Runs the workload through plan; returns how many distinct payloads the broker got. */
static int run_through(const char *plan_text, uint64_t *connects)
{
	struct mqtt_fakebroker *fb;
	char err[256], where[128];
	struct mqtt_fakebroker_config bcfg = {.broker = {.record = true}};
	CU_ASSERT_FATAL(mqtt_fakebroker_new(&fb, &bcfg, err, sizeof err) == 0);
	CU_ASSERT_FATAL(mqtt_fakebroker_listen(fb, "tcp://127.0.0.1:0", where, sizeof where, err,
	                                       sizeof err) == 0);
	CU_ASSERT_FATAL(mqtt_fakebroker_start(fb) == 0);
	const char *port = strrchr(where, ':') + 1;

	struct mqtt_fault_plan plan;
	CU_ASSERT_FATAL(mqtt_fault_plan_parse(&plan, plan_text, err, sizeof err) == 0);
	struct mqtt_dialer tcp;
	CU_ASSERT_FATAL(mqtt_dialer_tcp(&tcp, "127.0.0.1", port) == 0);
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	reports = 0;
	CU_ASSERT_FATAL(mqtt_dialer_faulty(&cfg.dialer, tcp, &plan, 7, count_report, &reports) == 0);
	mqtt_fault_plan_free(&plan);
	cfg.session.client_id = mqtt_slice_str("faulty-publisher");
	cfg.session.clean_session = true;
	cfg.session.keep_alive = 30;
	cfg.session.at_least_once_max = 16;
	cfg.session.reconnect_wait_min_ms = 10;
	cfg.session.reconnect_wait_max_ms = 50;
	struct mqtt_client *c;
	CU_ASSERT_FATAL(mqtt_client_new(&c, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls ==
	                MQTT_SUCCESS);
	pthread_t reader;
	pthread_create(&reader, NULL, read_routine, c);
	struct mqtt_exchange *ex[MESSAGES];
	for (int i = 0; i < MESSAGES; i++) {
		char payload[16];
		snprintf(payload, sizeof payload, "%d", i);
		for (;;) {
			struct mqtt_error e = mqtt_client_publish(c, NULL, 1, false, mqtt_slice_str("seq"),
			                                          mqtt_slice_str(payload), &ex[i]);
			if (e.cls == MQTT_SUCCESS)
				break;
			CU_ASSERT_EQUAL_FATAL(e.cls, MQTT_MAX); /* the window is full: wait a little */
			nanosleep(&(struct timespec){0, 2000000}, NULL);
		}
	}
	int done = 0;
	for (int i = 0; i < MESSAGES; i++) {
		/* Bounded by the test: a lost message would hang here otherwise. */
		struct timespec start, now;
		clock_gettime(CLOCK_MONOTONIC, &start);
		while (mqtt_exchange_state(ex[i]) != MQTT_EXCHANGE_DONE) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - start.tv_sec > 10)
				break;
			nanosleep(&(struct timespec){0, 1000000}, NULL);
		}
		done += mqtt_exchange_state(ex[i]) == MQTT_EXCHANGE_DONE;
		mqtt_exchange_release(ex[i]);
	}
	CU_ASSERT_EQUAL(done, MESSAGES);
	mqtt_client_close(c);
	pthread_join(reader, NULL);
	mqtt_client_free(c);

	/* What the broker received, by payload. */
	bool seen[MESSAGES] = {false};
	int distinct = 0;
	struct mqtt_broker *b = mqtt_fakebroker_lock(fb);
	struct mqtt_broker_record rec[64];
	uint64_t since = 0;
	size_t n;
	while ((n = mqtt_broker_records(b, since, rec, 64)) > 0) {
		for (size_t i = 0; i < n; i++) {
			since = rec[i].seq;
			struct mqtt_packet p;
			if (rec[i].dir != MQTT_C2B || rec[i].type != MQTT_PUBLISH ||
			    mqtt_decode(&p, rec[i].bytes, rec[i].len, MQTT_STRICT, NULL) != MQTT_OK)
				continue;
			char digits[16] = "";
			memcpy(digits, p.publish.payload.data,
			       p.publish.payload.len < 15 ? p.publish.payload.len : 15);
			int k = atoi(digits);
			if (k >= 0 && k < MESSAGES && !seen[k]) {
				seen[k] = true;
				distinct++;
			}
		}
	}
	struct mqtt_broker_stats st;
	mqtt_broker_stats(b, &st);
	*connects = st.connections_total;
	mqtt_fakebroker_unlock(fb);
	mqtt_fakebroker_free(fb);
	return distinct;
}

static void drop_after_second_puback_loses_nothing(void)
{
	uint64_t connects = 0;
	int got = run_through("b2c after=PUBACK#2 drop", &connects);
	CU_ASSERT_EQUAL(got, MESSAGES);
	CU_ASSERT(connects >= 2); /* the drop forced a reconnect */
	CU_ASSERT_EQUAL(reports, 1);
}

static void slow_and_split_links_lose_nothing(void)
{
	uint64_t connects = 0;
	int got = run_through("c2b partial-write size=1\nb2c partial-read size=1\n"
	                      "both latency ms=2 jitter=1\nc2b before=PUBLISH#10 stall ms=100",
	                      &connects);
	CU_ASSERT_EQUAL(got, MESSAGES);
	CU_ASSERT_EQUAL(connects, 1);
}

const struct test_def fault_e2e_tests[] = {
	{"drop after the second PUBACK loses nothing", drop_after_second_puback_loses_nothing},
	{"slow and split links lose nothing", slow_and_split_links_lose_nothing},
	{NULL, NULL},
};
