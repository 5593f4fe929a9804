// doorbell.cpp - the component under test (doorbell.hpp).
#include "doorbell.hpp"

#include <string_view>

namespace {
constexpr std::string_view mute_topic = "home/doorbell/mute";

std::string_view view(mqtt_slice s)
{
	return {reinterpret_cast<const char *>(s.data), s.len};
}
} // namespace

mqtt_error Doorbell::start()
{
	mqtt_topic filter = {mqtt_slice_str(mute_topic.data()), 1};
	return api_.subscribe.fn(api_.subscribe.arg, nullptr, &filter, 1);
}

mqtt_error Doorbell::poll()
{
	mqtt_message m;
	mqtt_error e = api_.read.fn(api_.read.arg, &m);
	if (e.cls == MQTT_SUCCESS && view(m.topic) == mute_topic) {
		if (view(m.payload) == "on")
			muted_ = true;
		else if (view(m.payload) == "off")
			muted_ = false;
	}
	return e;
}

mqtt_error Doorbell::press()
{
	if (muted_)
		return {MQTT_SUCCESS, 0};
	mqtt_exchange *ex = nullptr;
	mqtt_error e = api_.publish.fn(api_.publish.arg, nullptr, 1, false, mqtt_slice_str("home/doorbell"),
	                               mqtt_slice_str("ring"), &ex);
	if (e.cls)
		return e;
	// enum: the header's function mqtt_exchange_state() hides the type's name in C++.
	enum mqtt_exchange_state st = api_.exchange_wait(api_.publish.arg, ex, MQTT_EXCHANGE_DONE, nullptr);
	api_.exchange_release(api_.publish.arg, ex);
	return st == MQTT_EXCHANGE_DONE ? e : mqtt_error{MQTT_TIMEOUT, 0};
}
