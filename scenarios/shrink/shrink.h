/*
 * shrink.h - the shrinker: a failing scenario reduced to a smallest one
 * that still fails with its seed.
 */
#ifndef SCENARIOS_SHRINK_H
#define SCENARIOS_SHRINK_H

#include <stddef.h>
#include <stdint.h>

/*
 * Shrinks a scenario text that fails with seed to a smaller one that
 * still does (shrink.c): only the failed expectation, every line it can
 * do without left out, workload sizes halved. Returns the new text
 * (free() it), or NULL when the text does not fail or memory ran out.
 * runs: how many simulations it took; lines_before/after: directives.
 * path names the scenario in messages.
 */
char *scenario_shrink(const char *path, const char *text, uint64_t seed, unsigned *runs,
                      size_t *lines_before, size_t *lines_after);
/* The same, trying at most max_runs smaller scenarios (0: no bound): the
 * smallest still failing by then. The bound is a count, so the result
 * stays a function of the input. */
char *scenario_shrink_bounded(const char *path, const char *text, uint64_t seed,
                              unsigned max_runs, unsigned *runs, size_t *lines_before,
                              size_t *lines_after);

#endif
