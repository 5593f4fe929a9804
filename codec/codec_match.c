/*
 * codec_match.c - topic filters against topic names (§4.7), for the
 * broker's routing and the scenario checks.
 */
#include "codec_internal.h"

bool mqtt_topic_match(const uint8_t *f, size_t flen, const uint8_t *n, size_t nlen)
{
	/* A wildcard first never matches a '$' topic [MQTT-4.7.2-1]. */
	if (nlen && n[0] == '$' && flen && (f[0] == '+' || f[0] == '#')) {
		MQTT_CONFORMS("MQTT-4.7.2-1");
		return false;
	}
	/* Byte for byte: no normalisation of either [MQTT-4.7.3-4]. */
	MQTT_CONFORMS("MQTT-4.7.3-4");
	size_t i = 0, j = 0;
	for (;;) {
		if (i < flen && f[i] == '#')
			return true; /* the rest, the parent level included [§4.7.1.2] */
		if (i < flen && f[i] == '+') {
			while (j < nlen && n[j] != '/')
				j++; /* one whole level, possibly empty [§4.7.1.3] */
			i++;
		} else {
			while (i < flen && j < nlen && f[i] != '/' && f[i] == n[j]) {
				i++;
				j++;
			}
			if ((i < flen && f[i] != '/') || (j < nlen && n[j] != '/'))
				return false; /* the levels differ */
		}
		/* Both at the end of a level. */
		if (i == flen || j == nlen) {
			if (i == flen && j == nlen)
				return true;
			/* "sport/#" matches "sport": the filter's rest is "/#". */
			return j == nlen && flen - i == 2 && f[i] == '/' && f[i + 1] == '#';
		}
		i++; /* both at '/' */
		j++;
	}
}
