/*
 * error.c - classes, predicates and sentences of struct mqtt_error.
 */
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "mqttsim/error.h"

const char *mqtt_class_name(enum mqtt_class cls)
{
	switch (cls) {
	case MQTT_SUCCESS: return "success";
	case MQTT_CLOSED: return "closed";
	case MQTT_DOWN: return "down";
	case MQTT_MAX: return "max";
	case MQTT_CANCELED: return "canceled";
	case MQTT_ABANDONED: return "abandoned";
	case MQTT_BREAK: return "break";
	case MQTT_DENY: return "deny";
	case MQTT_REFUSED: return "connection refused";
	case MQTT_SUBSCRIBE_FAILED: return "subscribe failed";
	case MQTT_BIG_MESSAGE: return "big message";
	case MQTT_TIMEOUT: return "timeout";
	case MQTT_IO: return "I/O";
	case MQTT_PROTOCOL: return "protocol violation";
	case MQTT_PERSISTENCE: return "persistence";
	}
	return "unknown";
}

bool mqtt_error_not_sent(struct mqtt_error err)
{
	switch (err.cls) {
	case MQTT_CLOSED:
	case MQTT_DOWN:
	case MQTT_MAX:
	case MQTT_CANCELED:
	case MQTT_DENY:
	case MQTT_PERSISTENCE:
		return true;
	default:
		return false;
	}
}

bool mqtt_error_unknown(struct mqtt_error err)
{
	return err.cls == MQTT_ABANDONED || err.cls == MQTT_BREAK || err.cls == MQTT_TIMEOUT ||
	       err.cls == MQTT_IO || err.cls == MQTT_PROTOCOL;
}

static const char *refusal(int code)
{
	switch (code) {
	case 1: return "unacceptable protocol version";
	case 2: return "identifier rejected";
	case 3: return "server unavailable";
	case 4: return "bad user name or password";
	case 5: return "not authorized";
	}
	return "unknown return code";
}

static const char *violation(int code)
{
	switch (code) {
	case MQTT_V_NOT_CONNACK_FIRST: return "first packet from the server is not CONNACK [MQTT-3.2.0-1]";
	case MQTT_V_SECOND_CONNACK: return "second CONNACK on one connection";
	case MQTT_V_SERVER_ONLY_PACKET: return "server sent a packet only a client may send";
	case MQTT_V_UNKNOWN_PACKET_ID: return "acknowledgement for no pending request [MQTT-2.3.1-6]";
	case MQTT_V_SUBACK_COUNT: return "SUBACK return codes differ in number from the filters [MQTT-3.8.4-5]";
	case MQTT_V_UNEXPECTED_PINGRESP: return "PINGRESP without PINGREQ";
	}
	return code < MQTT_VIOLATION_BASE ? mqtt_strerror((enum mqtt_err)code) : "unknown violation";
}

const char *mqtt_error_text(struct mqtt_error err, char *buf, size_t cap)
{
	if (!buf || !cap)
		return "";
	const char *name = mqtt_class_name(err.cls);
	switch (err.cls) {
	case MQTT_DENY:
		snprintf(buf, cap, "mqtt: request denied: %s", mqtt_strerror((enum mqtt_err)err.code));
		break;
	case MQTT_REFUSED:
		snprintf(buf, cap, "mqtt: connection refused: %s", refusal(err.code));
		break;
	case MQTT_PROTOCOL:
		snprintf(buf, cap, "mqtt: protocol violation by the broker: %s", violation(err.code));
		break;
	case MQTT_IO:
		if (err.code >= MQTT_IO_RESOLVE) {
			snprintf(buf, cap, "mqtt: cannot resolve the broker's address: %s",
			         gai_strerror(MQTT_IO_RESOLVE - err.code));
			break;
		}
		/* fall through */
	case MQTT_PERSISTENCE:
		snprintf(buf, cap, "mqtt: %s error: %s", name, strerror(err.code));
		break;
	case MQTT_BIG_MESSAGE:
		snprintf(buf, cap, "mqtt: inbound message of %d bytes exceeds the read buffer", err.code);
		break;
	case MQTT_CLOSED: snprintf(buf, cap, "mqtt: client closed"); break;
	case MQTT_DOWN: snprintf(buf, cap, "mqtt: connection unavailable"); break;
	case MQTT_MAX: snprintf(buf, cap, "mqtt: maximum number of pending requests reached"); break;
	case MQTT_CANCELED: snprintf(buf, cap, "mqtt: request canceled before submission"); break;
	case MQTT_ABANDONED: snprintf(buf, cap, "mqtt: request abandoned after submission"); break;
	case MQTT_BREAK: snprintf(buf, cap, "mqtt: connection lost while awaiting response"); break;
	case MQTT_SUBSCRIBE_FAILED: snprintf(buf, cap, "mqtt: broker failed subscription"); break;
	case MQTT_TIMEOUT: snprintf(buf, cap, "mqtt: timeout"); break;
	default: snprintf(buf, cap, "mqtt: %s", name); break;
	}
	return buf;
}
