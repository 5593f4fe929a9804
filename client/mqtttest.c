/*
 * mqtttest.c - the client call table and its stubs and mocks
 * (mqttsim/mqtttest.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mqttsim/mqtttest.h"

/* ---- the real client ---- */

static struct mqtt_error real_read(void *arg, struct mqtt_message *msg)
{
	return mqtt_client_read(arg, msg);
}

static struct mqtt_error real_publish(void *arg, struct mqtt_cancel *cancel, uint8_t qos,
                                      bool retain, struct mqtt_slice topic,
                                      struct mqtt_slice payload, struct mqtt_exchange **ex)
{
	return mqtt_client_publish(arg, cancel, qos, retain, topic, payload, ex);
}

static enum mqtt_exchange_state real_wait(void *arg, struct mqtt_exchange *ex,
                                          enum mqtt_exchange_state want, struct mqtt_cancel *cancel)
{
	(void)arg;
	return mqtt_exchange_wait(ex, want, cancel);
}

static void real_release(void *arg, struct mqtt_exchange *ex)
{
	(void)arg;
	mqtt_exchange_release(ex);
}

static struct mqtt_error real_subscribe(void *arg, struct mqtt_cancel *cancel,
                                        const struct mqtt_topic *filters, size_t n)
{
	return mqtt_client_subscribe(arg, cancel, filters, n);
}

static struct mqtt_error real_unsubscribe(void *arg, struct mqtt_cancel *cancel,
                                          const struct mqtt_topic *filters, size_t n)
{
	return mqtt_client_unsubscribe(arg, cancel, filters, n);
}

void mqtt_api_client(struct mqtt_api *api, struct mqtt_client *c)
{
	api->read.fn = real_read;
	api->read.arg = c;
	api->publish.fn = real_publish;
	api->publish.arg = c;
	api->exchange_wait = real_wait;
	api->exchange_release = real_release;
	api->subscribe.fn = real_subscribe;
	api->subscribe.arg = c;
	api->unsubscribe.fn = real_unsubscribe;
	api->unsubscribe.arg = c;
}

/* ---- shared ---- */

static struct mqtt_error err_of(enum mqtt_class cls, int code)
{
	return (struct mqtt_error){cls, code};
}

static bool fired(const struct mqtt_cancel *cancel)
{
	return cancel && mqtt_cancel_fired(cancel);
}

static void sleep_ms(uint32_t ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* The handle a stub hands out is the stub itself; a mock's, its done member. */

/* ---- stubs ---- */

static struct mqtt_error stub_read(void *arg, struct mqtt_message *msg)
{
	const struct mqtt_test_stub *s = arg;
	memset(msg, 0, sizeof *msg);
	msg->topic = mqtt_slice_str(s->transfer.topic ? s->transfer.topic : "");
	msg->payload = s->transfer.message;
	msg->qos = s->transfer.qos;
	msg->retain = s->transfer.retain;
	return s->transfer.err;
}

void mqtt_test_stub_read(struct mqtt_api *api, struct mqtt_test_stub *s)
{
	api->read.fn = stub_read;
	api->read.arg = s;
}

static struct mqtt_error stub_publish(void *arg, struct mqtt_cancel *cancel, uint8_t qos,
                                      bool retain, struct mqtt_slice topic,
                                      struct mqtt_slice payload, struct mqtt_exchange **ex)
{
	(void)retain, (void)topic, (void)payload;
	struct mqtt_test_stub *s = arg;
	if (ex)
		*ex = NULL;
	if (fired(cancel))
		return err_of(MQTT_CANCELED, 0);
	if (s->err.cls)
		return s->err;
	if (qos && ex) {
		/* One exchange per stub: each call starts its course anew. */
		s->at = 0;
		s->state = MQTT_EXCHANGE_PENDING;
		s->out = true;
		*ex = (struct mqtt_exchange *)(void *)s;
	}
	return s->err;
}

/* Runs the steps of a stubbed exchange until it reaches want, closes or is cancelled. */
static enum mqtt_exchange_state stub_wait(void *arg, struct mqtt_exchange *ex,
                                          enum mqtt_exchange_state want, struct mqtt_cancel *cancel)
{
	(void)arg;
	struct mqtt_test_stub *s = (struct mqtt_test_stub *)(void *)ex;
	while (s->state < want && s->state != MQTT_EXCHANGE_CLOSED) {
		if (s->at == s->nsteps) {
			s->state = MQTT_EXCHANGE_DONE; /* and finally it completes */
			break;
		}
		const struct mqtt_test_step *st = &s->steps[s->at];
		if (st->kind == MQTT_TEST_REACH) {
			s->state = st->state;
		} else if (st->kind == MQTT_TEST_CLOSED) {
			s->state = MQTT_EXCHANGE_CLOSED;
			break;
		} else {
			/* Held back: for ms, or until the caller gives up. */
			for (uint32_t waited = 0; !st->ms || waited < st->ms; waited += 5) {
				if (fired(cancel))
					return s->state;
				sleep_ms(st->ms && st->ms - waited < 5 ? st->ms - waited : 5);
			}
		}
		s->at++;
	}
	return s->state;
}

static void stub_release(void *arg, struct mqtt_exchange *ex)
{
	(void)arg;
	struct mqtt_test_stub *s = (struct mqtt_test_stub *)(void *)ex;
	if (s)
		s->out = false;
}

int mqtt_test_stub_publish(struct mqtt_api *api, struct mqtt_test_stub *s)
{
	if (s->nsteps && (s->err.cls || !s->steps))
		return -EINVAL; /* a call that fails has no exchange to follow */
	for (size_t i = 0; i < s->nsteps; i++) {
		const struct mqtt_test_step *st = &s->steps[i];
		bool last = i + 1 == s->nsteps;
		if (st->kind < MQTT_TEST_REACH || st->kind > MQTT_TEST_CLOSED)
			return -EINVAL;
		if (st->kind == MQTT_TEST_REACH && st->state != MQTT_EXCHANGE_RELEASED &&
		    st->state != MQTT_EXCHANGE_DONE)
			return -EINVAL;
		if (!last && (st->kind == MQTT_TEST_CLOSED || (st->kind == MQTT_TEST_BLOCK && !st->ms)))
			return -EINVAL; /* nothing comes after those */
	}
	s->state = MQTT_EXCHANGE_PENDING;
	api->publish.fn = stub_publish;
	api->publish.arg = s;
	api->exchange_wait = stub_wait;
	api->exchange_release = stub_release;
	return 0;
}

static struct mqtt_error stub_topics(void *arg, struct mqtt_cancel *cancel,
                                     const struct mqtt_topic *filters, size_t n)
{
	const struct mqtt_test_stub *s = arg;
	if (fired(cancel))
		return err_of(MQTT_CANCELED, 0);
	if (!filters || !n)
		return err_of(MQTT_DENY, MQTT_ERR_NO_TOPICS); /* [MQTT-3.8.3-3], [MQTT-3.10.3-2] */
	return s->err;
}

void mqtt_test_stub_subscribe(struct mqtt_api *api, struct mqtt_test_stub *s)
{
	api->subscribe.fn = stub_topics;
	api->subscribe.arg = s;
}

void mqtt_test_stub_unsubscribe(struct mqtt_api *api, struct mqtt_test_stub *s)
{
	api->unsubscribe.fn = stub_topics;
	api->unsubscribe.arg = s;
}

/* ---- mocks ---- */

__attribute__((format(printf, 2, 3)))
static void report(struct mqtt_test_mock *m, const char *fmt, ...)
{
	char line[512];
	int n = snprintf(line, sizeof line, "%s mock: ", m->kind);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	m->failures++;
	if (m->report.fail)
		m->report.fail(m->report.arg, line);
	else
		fprintf(stderr, "%s\n", line);
}

/* The expectation for this call, or NULL (reported) past the end of the list. */
static const void *next_expected(struct mqtt_test_mock *m, size_t size)
{
	size_t call = ++m->calls;
	if (call > m->n) {
		report(m, "call %zu unexpected: %zu expected", call, m->n);
		return NULL;
	}
	const char *base = m->transfers ? (const char *)m->transfers : (const char *)m->filters;
	return base + (call - 1) * size;
}

/* "text" for a report, cut short. */
static void show(char *out, size_t cap, const void *data, size_t len)
{
	size_t at = 0;
	out[at++] = '"';
	for (size_t i = 0; i < len && at + 6 < cap; i++) {
		unsigned char c = ((const unsigned char *)data)[i];
		at += (size_t)snprintf(out + at, cap - at, c >= 0x20 && c < 0x7f && c != '"' ? "%c" : "\\x%02x", c);
	}
	if (at + 5 < cap && len && at >= cap - 6)
		at += (size_t)snprintf(out + at, cap - at, "...");
	snprintf(out + at, cap - at, "\"");
}

static struct mqtt_error mock_read(void *arg, struct mqtt_message *msg)
{
	struct mqtt_test_mock *m = arg;
	memset(msg, 0, sizeof *msg);
	const struct mqtt_test_transfer *t = next_expected(m, sizeof *t);
	if (!t)
		return err_of(MQTT_CLOSED, 0);
	msg->topic = mqtt_slice_str(t->topic ? t->topic : "");
	msg->payload = t->message;
	msg->qos = t->qos;
	msg->retain = t->retain;
	return t->err;
}

void mqtt_test_mock_read(struct mqtt_api *api, struct mqtt_test_mock *m)
{
	m->kind = "read";
	m->filters = NULL;
	api->read.fn = mock_read;
	api->read.arg = m;
}

static struct mqtt_error mock_publish(void *arg, struct mqtt_cancel *cancel, uint8_t qos,
                                      bool retain, struct mqtt_slice topic,
                                      struct mqtt_slice payload, struct mqtt_exchange **ex)
{
	struct mqtt_test_mock *m = arg;
	if (ex)
		*ex = NULL;
	(void)cancel;
	const struct mqtt_test_transfer *t = next_expected(m, sizeof *t);
	if (!t)
		return err_of(MQTT_CLOSED, 0);
	size_t call = m->calls;
	char got[80], want[80];
	const char *wtopic = t->topic ? t->topic : "";
	/* Each field on its own: the seed's mock missed a wrong topic with the right message. */
	if (topic.len != strlen(wtopic) || memcmp(topic.data, wtopic, topic.len)) {
		show(got, sizeof got, topic.data, topic.len);
		show(want, sizeof want, wtopic, strlen(wtopic));
		report(m, "call %zu: topic %s is not the expected %s", call, got, want);
	}
	if (payload.len != t->message.len ||
	    (payload.len && memcmp(payload.data, t->message.data, payload.len))) {
		show(got, sizeof got, payload.data, payload.len);
		show(want, sizeof want, t->message.data, t->message.len);
		report(m, "call %zu: message %s is not the expected %s", call, got, want);
	}
	if (qos != t->qos)
		report(m, "call %zu: QoS %u is not the expected %u", call, qos, t->qos);
	if (retain != t->retain)
		report(m, "call %zu: retain %s is not the expected %s", call, retain ? "on" : "off",
		       t->retain ? "on" : "off");
	if (!t->err.cls && qos && ex)
		*ex = (struct mqtt_exchange *)(void *)&m->done; /* acknowledged at once */
	return t->err;
}

void mqtt_test_mock_publish(struct mqtt_api *api, struct mqtt_test_mock *m)
{
	m->kind = "publish";
	m->filters = NULL;
	memset(&m->done, 0, sizeof m->done);
	m->done.state = MQTT_EXCHANGE_DONE;
	api->publish.fn = mock_publish;
	api->publish.arg = m;
	api->exchange_wait = stub_wait;
	api->exchange_release = stub_release;
}

static bool has_filter(const struct mqtt_topic *filters, size_t n, const char *f)
{
	for (size_t i = 0; i < n; i++)
		if (filters[i].filter.len == strlen(f) && !memcmp(filters[i].filter.data, f, filters[i].filter.len))
			return true;
	return false;
}

static struct mqtt_error mock_topics(void *arg, struct mqtt_cancel *cancel,
                                     const struct mqtt_topic *filters, size_t n)
{
	struct mqtt_test_mock *m = arg;
	(void)cancel;
	const struct mqtt_test_filter *want = next_expected(m, sizeof *want);
	if (!want)
		return err_of(MQTT_CLOSED, 0); /* and no reading past the list (the seed did) */
	size_t call = m->calls;
	char shown[80];
	for (size_t i = 0; i < n; i++) {
		bool wanted = false;
		for (size_t k = 0; k < want->n && !wanted; k++)
			wanted = filters[i].filter.len == strlen(want->filters[k]) &&
			         !memcmp(filters[i].filter.data, want->filters[k], filters[i].filter.len);
		if (!wanted) {
			show(shown, sizeof shown, filters[i].filter.data, filters[i].filter.len);
			report(m, "call %zu: unwanted filter %s", call, shown);
		}
	}
	for (size_t k = 0; k < want->n; k++)
		if (!has_filter(filters, n, want->filters[k])) {
			show(shown, sizeof shown, want->filters[k], strlen(want->filters[k]));
			report(m, "call %zu: missing filter %s", call, shown);
		}
	return want->err;
}

void mqtt_test_mock_subscribe(struct mqtt_api *api, struct mqtt_test_mock *m)
{
	m->kind = "subscribe";
	m->transfers = NULL;
	api->subscribe.fn = mock_topics;
	api->subscribe.arg = m;
}

void mqtt_test_mock_unsubscribe(struct mqtt_api *api, struct mqtt_test_mock *m)
{
	m->kind = "unsubscribe";
	m->transfers = NULL;
	api->unsubscribe.fn = mock_topics;
	api->unsubscribe.arg = m;
}

unsigned mqtt_test_mock_finish(struct mqtt_test_mock *m)
{
	if (m->calls < m->n)
		report(m, "%zu of %zu expected calls never came", m->n - m->calls, m->n);
	return m->failures;
}
