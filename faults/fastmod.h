/*
 * fastmod.h - a % m for a divisor m fixed in advance, by multiplication.
 *
 * A 64-bit division costs 40 to 90 cycles on common x86-64 cores; the
 * fault link draws a latency jitter with one for every segment it
 * queues, a noticeable part of a simulated run. This is the method of
 * Lemire, Kaser and Kurz, "Faster Remainder by Direct Computation"
 * (2019): with M = floor((2^128 - 1) / m) + 1, a % m is the high 64 bits
 * of (M * a mod 2^128) * m, exact for every 64-bit a and every m > 0.
 * Where the compiler has no 128-bit integers it is the plain remainder.
 * Not installed.
 */
#ifndef MQTTSIM_FASTMOD_H
#define MQTTSIM_FASTMOD_H

#include <stdint.h>

#ifdef __SIZEOF_INT128__
typedef unsigned __int128 fastmod_t;

/* The constant for divisor m (m > 0; for m == 1 it wraps to 0, which
 * gives 0, the right remainder). */
static inline fastmod_t fastmod_of(uint64_t m)
{
	return ~(fastmod_t)0 / m + 1;
}

static inline uint64_t fastmod(uint64_t a, fastmod_t M, uint64_t m)
{
	fastmod_t low = M * a; /* mod 2^128 */
	fastmod_t bottom = ((low & UINT64_MAX) * m) >> 64;
	fastmod_t top = (low >> 64) * m;
	return (uint64_t)((bottom + top) >> 64);
}
#else
typedef uint64_t fastmod_t;

static inline fastmod_t fastmod_of(uint64_t m)
{
	return m;
}

static inline uint64_t fastmod(uint64_t a, fastmod_t M, uint64_t m)
{
	(void)M;
	return a % m;
}
#endif

#endif
