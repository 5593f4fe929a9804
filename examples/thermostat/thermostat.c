/*
 * thermostat.c - the component under test (thermostat.h).
 */
#include <stdlib.h>
#include <string.h>

#include "thermostat.h"

static const char setpoint_topic[] = "home/setpoint";

struct mqtt_error thermostat_start(struct thermostat *t, const struct mqtt_api *api)
{
	memset(t, 0, sizeof *t);
	t->api = api;
	t->setpoint = 20;
	struct mqtt_topic f = {mqtt_slice_str(setpoint_topic), 1};
	return api->subscribe.fn(api->subscribe.arg, NULL, &f, 1);
}

struct mqtt_error thermostat_poll(struct thermostat *t)
{
	struct mqtt_message m;
	struct mqtt_error e = t->api->read.fn(t->api->read.arg, &m);
	if (e.cls)
		return e;
	if (m.topic.len != strlen(setpoint_topic) || memcmp(m.topic.data, setpoint_topic, m.topic.len))
		return e;
	char text[32];
	if (m.payload.len == 0 || m.payload.len >= sizeof text)
		return e;
	memcpy(text, m.payload.data, m.payload.len);
	text[m.payload.len] = 0;
	char *end;
	double v = strtod(text, &end);
	if (*end == 0 && v >= 5 && v <= 35)
		t->setpoint = v;
	return e;
}

struct mqtt_error thermostat_measure(struct thermostat *t, double celsius)
{
	bool heat = t->heating;
	if (celsius < t->setpoint - 0.5)
		heat = true;
	else if (celsius > t->setpoint + 0.5)
		heat = false;
	if (t->told && heat == t->heating)
		return (struct mqtt_error){MQTT_SUCCESS, 0};
	const struct mqtt_api *api = t->api;
	const char *word = heat ? "on" : "off";
	struct mqtt_exchange *ex = NULL;
	struct mqtt_error e = api->publish.fn(api->publish.arg, NULL, 1, true,
	                                      mqtt_slice_str("home/heater"), mqtt_slice_str(word), &ex);
	if (e.cls) {
		t->told = false;
		return e;
	}
	enum mqtt_exchange_state st = api->exchange_wait(api->publish.arg, ex, MQTT_EXCHANGE_DONE, NULL);
	api->exchange_release(api->publish.arg, ex);
	if (st != MQTT_EXCHANGE_DONE) {
		t->told = false;
		return (struct mqtt_error){MQTT_TIMEOUT, 0};
	}
	t->heating = heat;
	t->told = true;
	return e;
}
