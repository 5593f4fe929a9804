/*
 * topics.h - the oracle's own reading of topic filters (§4.7).
 *
 * The fake broker routes with the codec's mqtt_topic_match(); an oracle
 * that asked the same function which subscriptions a message is owed to
 * would agree with every defect of it (a "sport/#" that misses "sport",
 * a '+' that spans levels), and a broker routing by it could not be
 * caught. This one is written apart, level by level, from the standard's
 * text alone.
 */
#ifndef SCENARIOS_ORACLE_TOPICS_H
#define SCENARIOS_ORACLE_TOPICS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether filter (filter_len bytes, a valid topic filter) matches topic
 * (topic_len bytes, a valid topic name). Neither needs a terminating NUL;
 * neither is kept. */
bool oracle_topic_match(const char *filter, size_t filter_len, const char *topic, size_t topic_len);

#endif
