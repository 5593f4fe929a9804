// doorbell.hpp - a small C++ component that talks MQTT through a table of
// client calls (struct mqtt_api), so that its GoogleTest tests replace the
// client with mqtttest's stubs and mocks (test_doorbell.cpp).
//
// A press of the button publishes "ring" to "home/doorbell" at QoS 1 and
// waits for the acknowledgement, unless the bell is muted: "on" or "off"
// on "home/doorbell/mute" mutes and unmutes it.
#ifndef DOORBELL_HPP
#define DOORBELL_HPP

#include <mqttsim/mqtttest.h>

class Doorbell {
public:
	// api must outlive the doorbell; nothing is called before start().
	explicit Doorbell(const mqtt_api &api) : api_(api) {}

	// Subscribes to the mute topic. Errors: those of the subscribe call.
	mqtt_error start();
	// Takes the next message (the read call) and applies a mute command;
	// anything else is ignored. Errors: those of the read call.
	mqtt_error poll();
	// The button: rings unless muted. MQTT_TIMEOUT when the exchange did
	// not complete; the publish call's errors otherwise.
	mqtt_error press();

	bool muted() const { return muted_; }

private:
	const mqtt_api &api_;
	bool muted_ = false;
};

#endif
