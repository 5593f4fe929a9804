/*
 * gen.h - the scenario generator of mqttsim explore: a seed in, a whole
 * scenario out (workload, client configuration, fault plan and the
 * expectations the oracle can demand of them), as .scn text.
 *
 * The text is a function of the seed alone: integer arithmetic on a
 * fixed generator (splitmix64), no floating point, no locale, no clock,
 * so the same seed gives the same bytes on every machine and build.
 */
#ifndef SCENARIOS_EXPLORE_GEN_H
#define SCENARIOS_EXPLORE_GEN_H

#include <stddef.h>
#include <stdint.h>

/* Bumped whenever a seed's scenario changes: results of different
 * generators do not mix (mqttsim --version says which this is). */
#define EXPLORE_GENERATOR 11

/* Enough room for any generated scenario. */
#define EXPLORE_TEXT_MAX 8192

/*
 * Writes the scenario of seed into out (cap bytes, NUL-terminated) and
 * returns its length; 0 when cap is too small (out then holds a
 * truncated text, not to be used).
 */
size_t explore_generate(uint64_t seed, char *out, size_t cap);

#endif
