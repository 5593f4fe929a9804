/*
 * alloc_count.c - the malloc family's wrappers for -Wl,--wrap
 * (alloc_count.h): each call is counted and passed to libc's own.
 */
#include <stddef.h>

#include "alloc_count.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);

static unsigned long calls; /* the benchmarks are single-threaded */

void *__wrap_malloc(size_t n)
{
	calls++;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t a, size_t b)
{
	calls++;
	return __real_calloc(a, b);
}

void *__wrap_realloc(void *p, size_t n)
{
	calls++;
	return __real_realloc(p, n);
}

unsigned long alloc_count(void)
{
	return calls;
}
