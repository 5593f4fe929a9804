/*
 * codec_testutil.h - helpers for codec tests and the fuzz targets:
 * packet comparison and building.
 */
#ifndef CODEC_TESTUTIL_H
#define CODEC_TESTUTIL_H

#include <stdbool.h>
#include <stdio.h>

#include "mqttsim/codec.h"

/*
 * Whether a and b say the same. With wire, also the fixed-header flags,
 * remaining length and violation bits, which a packet built for
 * encoding does not carry. On a difference, why (when not NULL) names
 * the first field that differs.
 */
bool packet_equal(const struct mqtt_packet *a, const struct mqtt_packet *b, bool wire,
                  const char **why);

/* A slice over len bytes of s. */
struct mqtt_slice slice_n(const void *s, size_t len);

#endif
