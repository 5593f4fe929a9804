/*
 * alloc_count.h - counting the malloc family's calls in a benchmark.
 *
 * alloc_count.c defines __wrap_malloc, __wrap_calloc and
 * __wrap_realloc; a benchmark linked with
 *     -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
 * has every call it and the static library make go through them. Only
 * the benchmark's link sees these names: the library's objects and
 * every other program keep libc's malloc untouched.
 */
#ifndef BENCH_ALLOC_COUNT_H
#define BENCH_ALLOC_COUNT_H

/* Calls of malloc, calloc and realloc so far. */
unsigned long alloc_count(void);

#endif
