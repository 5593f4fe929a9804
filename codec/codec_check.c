/*
 * codec_check.c - validation of UTF-8 strings, topic names and topic
 * filters, shared by the decoder, the encoder and the cores.
 */
#include "codec_internal.h"

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Non-zero when some byte of w is zero. */
static inline uint64_t has_zero_byte(uint64_t w)
{
	return (w - ONES) & ~w & HIGHS;
}

/*
 * Length of the leading run of s that is plain ASCII with no NUL and,
 * when names is set, no '+' or '#'. Eight bytes a step: topics are
 * mostly ASCII and this is on every PUBLISH.
 */
static size_t ascii_run(const uint8_t *s, size_t len, int names)
{
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		uint64_t bad = (w & HIGHS) | has_zero_byte(w);
		if (names)
			bad |= has_zero_byte(w ^ (ONES * '+')) | has_zero_byte(w ^ (ONES * '#'));
		if (bad)
			break;
	}
	return i;
}

/*
 * Checks one multi-byte sequence starting at s[0] (>= 0x80), per the
 * well-formed table of RFC 3629 §4, which also excludes the surrogates
 * U+D800..U+DFFF and overlong forms [MQTT-1.5.3-1]. Returns its length,
 * or 0 when ill-formed.
 */
static size_t utf8_sequence(const uint8_t *s, size_t len)
{
	uint8_t b0 = s[0];
	uint8_t lo = 0x80, hi = 0xbf;
	size_t n;
	if (b0 >= 0xc2 && b0 <= 0xdf) {
		n = 2;
	} else if (b0 >= 0xe0 && b0 <= 0xef) {
		n = 3;
		if (b0 == 0xe0)
			lo = 0xa0;
		else if (b0 == 0xed)
			hi = 0x9f; /* would be a surrogate */
	} else if (b0 >= 0xf0 && b0 <= 0xf4) {
		n = 4;
		if (b0 == 0xf0)
			lo = 0x90;
		else if (b0 == 0xf4)
			hi = 0x8f; /* beyond U+10FFFF */
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return n;
}

/* UTF-8 validation, optionally rejecting the wildcards of topic names. */
static enum mqtt_err check_string(const uint8_t *s, size_t len, int names, size_t *error_at)
{
	/* Well-formed UTF-8, no surrogates, no U+0000, whatever else it holds. */
	MQTT_CONFORMS("MQTT-1.5.3-1");
	MQTT_CONFORMS("MQTT-1.5.3-2");
	size_t i = 0;
	while (i < len) {
		i += ascii_run(s + i, len - i, names);
		if (i >= len)
			break;
		uint8_t c = s[i];
		if (c < 0x80) {
			if (c == 0) {
				if (error_at)
					*error_at = i;
				return MQTT_ERR_UTF8_NUL; /* MQTT-1.5.3-2 */
			}
			if (names && (c == '+' || c == '#')) {
				if (error_at)
					*error_at = i;
				return MQTT_ERR_TOPIC_WILDCARD; /* MQTT-3.3.2-2, MQTT-4.7.1-1 */
			}
			i++;
			continue;
		}
		size_t n = utf8_sequence(s + i, len - i);
		if (n == 3 && s[i] == 0xef && s[i + 1] == 0xbb && s[i + 2] == 0xbf)
			MQTT_CONFORMS("MQTT-1.5.3-3"); /* U+FEFF: kept as it is */
		if (n == 0) {
			if (error_at)
				*error_at = i;
			return MQTT_ERR_UTF8; /* MQTT-1.5.3-1 */
		}
		i += n;
	}
	return MQTT_OK;
}

enum mqtt_err mqtt_check_utf8(const uint8_t *s, size_t len, size_t *error_at)
{
	if (!s && len)
		return MQTT_ERR_ARGUMENT;
	return check_string(s, len, 0, error_at);
}

enum mqtt_err mqtt_check_topic_name(const uint8_t *s, size_t len, size_t *error_at)
{
	if (!s && len)
		return MQTT_ERR_ARGUMENT;
	/* A name: at least one character, no wildcard, no U+0000, as UTF-8. */
	MQTT_CONFORMS("MQTT-3.3.2-1");
	MQTT_CONFORMS("MQTT-3.3.2-2");
	MQTT_CONFORMS("MQTT-4.7.1-1");
	MQTT_CONFORMS("MQTT-4.7.3-1");
	MQTT_CONFORMS("MQTT-4.7.3-2");
	if (len == 0) {
		if (error_at)
			*error_at = 0;
		return MQTT_ERR_TOPIC_EMPTY; /* MQTT-4.7.3-1 */
	}
	return check_string(s, len, 1, error_at);
}

enum mqtt_err mqtt_check_topic_filter(const uint8_t *s, size_t len, size_t *error_at)
{
	if (!s && len)
		return MQTT_ERR_ARGUMENT;
	if (len == 0) {
		if (error_at)
			*error_at = 0;
		return MQTT_ERR_TOPIC_EMPTY; /* MQTT-4.7.3-1 */
	}
	enum mqtt_err err = check_string(s, len, 0, error_at);
	if (err)
		return err;
	/* Wildcards where a filter may hold them; at least one character, no U+0000. */
	MQTT_CONFORMS("MQTT-4.7.1-2");
	MQTT_CONFORMS("MQTT-4.7.1-3");
	MQTT_CONFORMS("MQTT-4.7.3-1");
	MQTT_CONFORMS("MQTT-4.7.3-2");
	for (size_t i = 0; i < len; i++) {
		int level_start = i == 0 || s[i - 1] == '/';
		int level_end = i + 1 == len || s[i + 1] == '/';
		if (s[i] == '#' && !(level_start && i + 1 == len)) {
			if (error_at)
				*error_at = i;
			return MQTT_ERR_FILTER_SYNTAX; /* MQTT-4.7.1-2 */
		}
		if (s[i] == '+' && !(level_start && level_end)) {
			if (error_at)
				*error_at = i;
			return MQTT_ERR_FILTER_SYNTAX; /* MQTT-4.7.1-3 */
		}
	}
	return MQTT_OK;
}
