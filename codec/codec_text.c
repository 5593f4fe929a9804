/*
 * codec_text.c - names and messages of the codec: packet type names,
 * error sentences, and the C-string slice helper.
 */
#include "codec_internal.h"

struct mqtt_slice mqtt_slice_str(const char *s)
{
	struct mqtt_slice v = {(const uint8_t *)s, s ? strlen(s) : 0};
	return v;
}

const char *mqtt_type_name(unsigned type)
{
	static const char *const names[16] = {
		"RESERVED0", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
		"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK",
		"PINGREQ", "PINGRESP", "DISCONNECT", "RESERVED15",
	};
	return type < 16 ? names[type] : "UNKNOWN";
}

const char *mqtt_strerror(enum mqtt_err err)
{
	switch (err) {
	case MQTT_OK: return "success";
	case MQTT_ERR_ARGUMENT: return "invalid argument";
	case MQTT_ERR_BUFFER_SIZE: return "buffer too small for the packet";
	case MQTT_ERR_PACKET_SIZE: return "packet larger than the size limit";
	case MQTT_ERR_REMAINING_LENGTH: return "remaining length takes more than four bytes [MQTT 2.2.3]";
	case MQTT_ERR_PACKET_TYPE: return "reserved control packet type 0 or 15 [MQTT 2.2.1]";
	case MQTT_ERR_TRUNCATED: return "field runs past the end of the packet";
	case MQTT_ERR_TRAILING: return "bytes left after the last field of the packet";
	case MQTT_ERR_HEADER_FLAGS: return "fixed-header flags differ from the reserved values [MQTT-2.2.2-1]";
	case MQTT_ERR_QOS: return "QoS 3 is not allowed [MQTT-3.3.1-4]";
	case MQTT_ERR_DUP_QOS0: return "DUP flag set on a QoS 0 message [MQTT-3.3.1-2]";
	case MQTT_ERR_PACKET_ID: return "packet identifier is zero [MQTT-2.3.1-1]";
	case MQTT_ERR_UTF8: return "ill-formed UTF-8 in a string [MQTT-1.5.3-1]";
	case MQTT_ERR_UTF8_NUL: return "U+0000 in a string [MQTT-1.5.3-2]";
	case MQTT_ERR_STRING_LENGTH: return "string or binary field longer than 65535 bytes [MQTT 1.5.3]";
	case MQTT_ERR_TOPIC_EMPTY: return "topic name or filter is empty [MQTT-4.7.3-1]";
	case MQTT_ERR_TOPIC_WILDCARD: return "wildcard in a topic name [MQTT-3.3.2-2]";
	case MQTT_ERR_FILTER_SYNTAX: return "wildcard not occupying a whole level of a topic filter [MQTT-4.7.1-2, MQTT-4.7.1-3]";
	case MQTT_ERR_PROTOCOL_NAME: return "CONNECT protocol name is not \"MQTT\" [MQTT-3.1.2-1]";
	case MQTT_ERR_PROTOCOL_LEVEL: return "CONNECT protocol level is not 4 [MQTT-3.1.2-2]";
	case MQTT_ERR_CONNECT_RESERVED: return "CONNECT reserved flag is set [MQTT-3.1.2-3]";
	case MQTT_ERR_WILL_FLAGS: return "will QoS or will retain set without the will flag, or will QoS 3 [MQTT-3.1.2-11, MQTT-3.1.2-13, MQTT-3.1.2-14, MQTT-3.1.2-15]";
	case MQTT_ERR_PASSWORD_FLAG: return "password flag set without the user name flag [MQTT-3.1.2-22]";
	case MQTT_ERR_CONNACK_FLAGS: return "CONNACK reserved flags set, or session present on a refusal [MQTT 3.2.2.1, MQTT-3.2.2-4]";
	case MQTT_ERR_CONNACK_CODE: return "CONNACK return code is reserved (above 5) [MQTT 3.2.2.3]";
	case MQTT_ERR_SUBSCRIBE_OPTIONS: return "requested QoS byte has reserved bits set or QoS 3 [MQTT-3.8.3-4]";
	case MQTT_ERR_SUBACK_CODE: return "SUBACK return code other than 0x00, 0x01, 0x02, 0x80 [MQTT-3.9.3-2]";
	case MQTT_ERR_NO_TOPICS: return "SUBSCRIBE, UNSUBSCRIBE or SUBACK without entries [MQTT-3.8.3-3, MQTT-3.10.3-2]";
	case MQTT_ERR_COUNT: break;
	}
	return "unknown error";
}
