/*
 * thermostat.h - a small component that talks MQTT through a table of
 * client calls (struct mqtt_api), so that its tests can replace the
 * client with mqtttest's stubs and mocks.
 *
 * It listens for a set point on "home/setpoint" (a number of degrees)
 * and switches the heater through "home/heater" ("on" or "off", at
 * least once, retained) when the measured temperature says so.
 */
#ifndef THERMOSTAT_H
#define THERMOSTAT_H

#include <stdbool.h>

#include <mqttsim/mqtttest.h>

struct thermostat {
	const struct mqtt_api *api;
	double setpoint;   /* degrees; 20 until told otherwise */
	bool heating;      /* what the heater was last told */
	bool told;         /* whether it was told anything yet */
};

/* Starts: subscribes to the set point. Errors: those of the subscribe call. */
struct mqtt_error thermostat_start(struct thermostat *t, const struct mqtt_api *api);

/*
 * Takes the next message (the read call): a valid set point replaces the
 * current one; anything else is ignored. Errors: those of the read call.
 */
struct mqtt_error thermostat_poll(struct thermostat *t);

/*
 * Given the measured temperature, switches the heater when it should
 * change (heat below the set point less half a degree, stop above it
 * plus half a degree), publishing at least once and waiting for the
 * acknowledgement. MQTT_TIMEOUT when the exchange did not complete (the
 * client closed: the broker may or may not have it); the publish call's
 * errors otherwise. On any error the heater counts as not told.
 */
struct mqtt_error thermostat_measure(struct thermostat *t, double celsius);

#endif
