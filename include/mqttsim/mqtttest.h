/*
 * mqtttest.h - replace the client in the tests of code that uses it
 *
 * NAME
 *	struct mqtt_api, mqtt_api_client - the client functions a component
 *	calls, as a table it owns
 *	mqtt_test_stub_read, mqtt_test_stub_publish, mqtt_test_stub_subscribe,
 *	mqtt_test_stub_unsubscribe - fixed answers
 *	mqtt_test_mock_read, mqtt_test_mock_publish, mqtt_test_mock_subscribe,
 *	mqtt_test_mock_unsubscribe, mqtt_test_mock_finish - ordered
 *	expectations, reported through a hook
 *
 * DESCRIPTION
 *	The Go seed's mqtttest package, in C. A component that talks MQTT
 *	takes a struct mqtt_api (a table of the client calls it makes, each
 *	a function and its argument) instead of calling mqtt_client_*()
 *	directly; the program fills it with mqtt_api_client(), a test with
 *	stubs and mocks, one entry at a time. The library keeps no global
 *	state: every stub and mock is a struct the test owns, and must
 *	outlive the calls it answers. Stubs and mocks are not thread-safe:
 *	call each from one thread at a time.
 *
 *	A stub gives fixed answers and expects nothing. A mock answers from
 *	an ordered list of expected calls and reports, through its
 *	reporter, every unexpected call, every argument that differs from
 *	the expectation, and (at mqtt_test_mock_finish()) every expected
 *	call that never came. Each report is one line, e.g.
 *	    publish mock: call 2: topic "home/heater" is not the expected "home/fan"
 *	With no reporter set, reports go to standard error. A CUnit test
 *	plugs in with a function that calls CU_assertImplementation(); any
 *	other framework the same way.
 *
 *	Fixed from the seed: the publish mock reports a mismatch of the
 *	message or of the topic (the seed only when both differ); the
 *	subscribe mocks stop at the end of their list (the seed reads past
 *	it after an unexpected call); reports go through a hook, not one
 *	framework.
 */
#ifndef MQTTSIM_MQTTTEST_H
#define MQTTSIM_MQTTTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttsim/api.h"
#include "mqttsim/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The client calls of <mqttsim/client.h>, each as a function and the argument it gets first. */
struct mqtt_api {
	struct {
		struct mqtt_error (*fn)(void *arg, struct mqtt_message *msg);
		void *arg;
	} read;
	struct {
		struct mqtt_error (*fn)(void *arg, struct mqtt_cancel *cancel, uint8_t qos, bool retain,
		                        struct mqtt_slice topic, struct mqtt_slice payload,
		                        struct mqtt_exchange **ex);
		void *arg;
	} publish;
	/* The exchange calls go to the publish entry's argument. */
	enum mqtt_exchange_state (*exchange_wait)(void *arg, struct mqtt_exchange *ex,
	                                          enum mqtt_exchange_state want,
	                                          struct mqtt_cancel *cancel);
	void (*exchange_release)(void *arg, struct mqtt_exchange *ex);
	struct {
		struct mqtt_error (*fn)(void *arg, struct mqtt_cancel *cancel,
		                        const struct mqtt_topic *filters, size_t n);
		void *arg;
	} subscribe, unsubscribe;
};

/* Fills api with the real client c (which the caller keeps and frees). */
MQTTSIM_API void mqtt_api_client(struct mqtt_api *api, struct mqtt_client *c);

/* One message exchange: its topic, message (payload), QoS, retain flag, and what the call returns. */
struct mqtt_test_transfer {
	const char *topic;
	struct mqtt_slice message;
	uint8_t qos;
	bool retain;
	struct mqtt_error err;
};

/* One (un)subscribe exchange: its filters (order does not matter) and what the call returns. */
struct mqtt_test_filter {
	const char *const *filters;
	size_t n;
	struct mqtt_error err;
};

/* One step of a stubbed QoS 1/2 exchange. */
enum mqtt_test_step_kind {
	MQTT_TEST_REACH = 1, /* the exchange reaches state (RELEASED or DONE) */
	MQTT_TEST_BLOCK,     /* progress is held back for ms; 0: for ever (until cancel fires) */
	MQTT_TEST_CLOSED,    /* the client closed: the exchange stays open, never DONE; last */
};

struct mqtt_test_step {
	enum mqtt_test_step_kind kind;
	enum mqtt_exchange_state state;
	uint32_t ms;
};

/* A stub. Zero it, set the fields its kind uses, install it. */
struct mqtt_test_stub {
	struct mqtt_error err;                /* what every call returns */
	struct mqtt_test_transfer transfer;   /* read: the message every call returns */
	const struct mqtt_test_step *steps;   /* publish at QoS 1/2: the exchange's course */
	size_t nsteps;
	/* Internal. */
	size_t at;
	enum mqtt_exchange_state state;
	bool out;                             /* an exchange handle is out */
};

/*
 * Installs s as api's read: every call returns transfer's topic and
 * message (valid as long as s) and transfer.err.
 */
MQTTSIM_API void mqtt_test_stub_read(struct mqtt_api *api, struct mqtt_test_stub *s);

/*
 * Installs s as api's publish: every call returns err, or MQTT_CANCELED
 * when the caller's cancel token has fired. A successful QoS 1 or 2 call
 * hands out an exchange that follows steps in order and then completes
 * (DONE); mqtt_api.exchange_wait() runs them. Returns 0, or -EINVAL for
 * nonsense: steps together with a call error, a step of no kind, or a
 * step after MQTT_TEST_CLOSED or after an endless block.
 */
MQTTSIM_API int mqtt_test_stub_publish(struct mqtt_api *api, struct mqtt_test_stub *s);

/*
 * Installs s as api's subscribe (or unsubscribe): every call returns
 * err; MQTT_CANCELED when cancel has fired; MQTT_DENY for a call without
 * a filter.
 */
MQTTSIM_API void mqtt_test_stub_subscribe(struct mqtt_api *api, struct mqtt_test_stub *s);
MQTTSIM_API void mqtt_test_stub_unsubscribe(struct mqtt_api *api, struct mqtt_test_stub *s);

/* Where mocks report: one line a failure. */
struct mqtt_test_reporter {
	void (*fail)(void *arg, const char *message);
	void *arg;
};

/* A mock. Zero it, point it at its expectations, set a reporter, install it. */
struct mqtt_test_mock {
	struct mqtt_test_reporter report;
	const struct mqtt_test_transfer *transfers; /* read, publish: in call order */
	const struct mqtt_test_filter *filters;     /* subscribe, unsubscribe: in call order */
	size_t n;                                   /* how many */
	/* Internal. */
	const char *kind;
	size_t calls;
	unsigned failures;
	struct mqtt_test_stub done; /* the exchange a publish mock hands out: done at once */
};

/*
 * Installs m as api's read: call k returns transfers[k] (its topic and
 * message valid as long as the transfer); a call beyond the list is
 * reported and returns MQTT_CLOSED.
 */
MQTTSIM_API void mqtt_test_mock_read(struct mqtt_api *api, struct mqtt_test_mock *m);

/*
 * Installs m as api's publish: call k is compared with transfers[k]
 * (topic, message, QoS, retain; each difference reported) and returns
 * its err; a successful QoS 1/2 call hands out an exchange that is DONE
 * at once. A call beyond the list is reported and returns MQTT_CLOSED.
 */
MQTTSIM_API void mqtt_test_mock_publish(struct mqtt_api *api, struct mqtt_test_mock *m);

/*
 * Installs m as api's subscribe (or unsubscribe): call k's filters are
 * compared with filters[k] as sets (every unwanted and every missing
 * filter reported) and the call returns its err. A call beyond the list
 * is reported and returns MQTT_CLOSED.
 */
MQTTSIM_API void mqtt_test_mock_subscribe(struct mqtt_api *api, struct mqtt_test_mock *m);
MQTTSIM_API void mqtt_test_mock_unsubscribe(struct mqtt_api *api, struct mqtt_test_mock *m);

/*
 * At teardown: reports the expected calls that never came, and returns
 * how many failures m reported in all (0: the mock was satisfied).
 */
MQTTSIM_API unsigned mqtt_test_mock_finish(struct mqtt_test_mock *m);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_MQTTTEST_H */
