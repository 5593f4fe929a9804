/*
 * topics.c - topic filters against topic names for the oracle (topics.h):
 * both split into levels at '/', compared a level at a time.
 */
#include <string.h>

#include "topics.h"

/* The end of the level that starts at s[at] (the next '/', or len). */
static size_t level_end(const char *s, size_t len, size_t at)
{
	const char *slash = memchr(s + at, '/', len - at);
	return slash ? (size_t)(slash - s) : len;
}

bool oracle_topic_match(const char *filter, size_t filter_len, const char *topic, size_t topic_len)
{
	/* A filter that begins with a wildcard matches no topic that begins
	 * with '$' [MQTT-4.7.2-1]. */
	if (topic_len && topic[0] == '$' && filter_len && (filter[0] == '#' || filter[0] == '+'))
		return false;
	size_t f = 0, t = 0;
	bool topic_done = false; /* every level of the topic was matched */
	for (;;) {
		size_t f_end = level_end(filter, filter_len, f);
		/* '#' is the last level of a filter: it matches what is left, the
		 * parent level itself included ("sport/#" matches "sport")
		 * [MQTT-4.7.1-2]. */
		if (f_end - f == 1 && filter[f] == '#')
			return true;
		if (topic_done)
			return false; /* the filter has a level more than the topic */
		size_t t_end = level_end(topic, topic_len, t);
		/* '+' matches exactly one level, an empty one too [MQTT-4.7.1-3];
		 * any other level only itself, byte for byte [MQTT-4.7.3-4]. */
		bool plus = f_end - f == 1 && filter[f] == '+';
		if (!plus && (f_end - f != t_end - t || memcmp(filter + f, topic + t, f_end - f) != 0))
			return false;
		bool filter_last = f_end == filter_len, topic_last = t_end == topic_len;
		if (filter_last)
			return topic_last; /* a topic with a level more is no match */
		f = f_end + 1;
		if (topic_last)
			topic_done = true;
		else
			t = t_end + 1;
	}
}
