/*
 * codec_internal.h - byte-level helpers shared by the codec's files.
 * Not installed: nothing here is public interface.
 */
#ifndef MQTTSIM_CODEC_INTERNAL_H
#define MQTTSIM_CODEC_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "codec/conformance.h"

static inline uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint8_t *put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

/* Bytes the remaining-length field takes for value v (1 to 4). */
static inline size_t remaining_length_size(uint32_t v)
{
	return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

/* Writes v (at most MQTT_REMAINING_LENGTH_MAX) in the §2.2.3 encoding. */
static inline uint8_t *put_remaining_length(uint8_t *p, uint32_t v)
{
	do {
		uint8_t b = (uint8_t)(v & 0x7f);
		v >>= 7;
		*p++ = v ? (uint8_t)(b | 0x80) : b;
	} while (v);
	return p;
}

/*
 * Reads a remaining length from p[0..len). Returns the number of bytes
 * it took, 0 when more input is needed, or -1 when a fifth byte would
 * be needed (§2.2.3 allows four).
 */
static inline int get_remaining_length(const uint8_t *p, size_t len, uint32_t *v)
{
	uint32_t value = 0;
	for (int i = 0; i < 4; i++) {
		if ((size_t)i >= len)
			return 0;
		value |= (uint32_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = value;
			return i + 1;
		}
	}
	return -1;
}

/* The flags Table 2.2 requires in the fixed header of each type but PUBLISH. */
static inline uint8_t required_header_flags(enum mqtt_type t)
{
	return (t == MQTT_PUBREL || t == MQTT_SUBSCRIBE || t == MQTT_UNSUBSCRIBE) ? 0x2 : 0x0;
}

/*
 * Validates the entry list of a SUBSCRIBE (with_qos) or UNSUBSCRIBE in
 * wire form, strictly. Sets *count to the number of entries. For the
 * encoder, which takes a decoded payload back as is.
 */
enum mqtt_err codec_check_topic_list(const uint8_t *payload, size_t len, int with_qos,
                                     size_t *count, size_t *error_at);

#endif /* MQTTSIM_CODEC_INTERNAL_H */
