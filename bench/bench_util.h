/*
 * bench_util.h - what mqttbench and its peer programs share: argument
 * parsing, clocks, the sequence number in the payload, the result line.
 * One line of output each:
 *   lib=L qos=Q size=S n=N seconds=T msgs_per_s=R mode=M cpu_s=C
 */
#ifndef MQTTSIM_BENCH_UTIL_H
#define MQTTSIM_BENCH_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_WINDOW 1024 /* messages outstanding at most */
#define BENCH_STALL_S 20.0

struct bench_args {
	const char *host, *port;
	int qos, size;
	long n;
	int e2e;
};

static const char *bench_name = "bench";

static inline void bench_die(const char *what, const char *detail)
{
	fprintf(stderr, "%s: %s%s%s\n", bench_name, what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static inline long bench_number(const char *s, long lo, long hi, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: bad %s: %s\n", bench_name, what, s);
		exit(2);
	}
	return v;
}

/* HOST PORT QOS SIZE N [pub|e2e]; exits 2 on bad arguments. */
static inline void bench_args(int argc, char **argv, const char *name, struct bench_args *a)
{
	bench_name = name;
	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: %s HOST PORT QOS SIZE N [pub|e2e]\n", name);
		exit(2);
	}
	a->host = argv[1];
	bench_number(argv[2], 1, 65535, "PORT");
	a->port = argv[2];
	a->qos = (int)bench_number(argv[3], 0, 2, "QOS");
	a->size = (int)bench_number(argv[4], 0, 268435000L, "SIZE");
	a->n = bench_number(argv[5], 1, 1000000000L, "N");
	a->e2e = argc == 7 && !strcmp(argv[6], "e2e");
	if (argc == 7 && !a->e2e && strcmp(argv[6], "pub")) {
		fprintf(stderr, "%s: bad mode (pub|e2e): %s\n", name, argv[6]);
		exit(2);
	}
}

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* User + system CPU of the whole process (all threads). */
static inline double bench_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec * 1e-6;
}

/* The sequence number in the first four payload bytes (SIZE >= 4). */
static inline void bench_put_seq(unsigned char *p, int size, long seq)
{
	if (size >= 4) {
		p[0] = (unsigned char)(seq >> 24);
		p[1] = (unsigned char)(seq >> 16);
		p[2] = (unsigned char)(seq >> 8);
		p[3] = (unsigned char)seq;
	}
}

/* Whether a received message is the expected one: length, QoS, sequence. */
static inline int bench_check(const unsigned char *p, long len, int qos, const struct bench_args *a,
                              long expected_seq)
{
	unsigned long seq = a->size >= 4 ? (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
	                                           (unsigned long)p[2] << 8 | p[3]
	                                 : (unsigned long)expected_seq;
	return len == a->size && qos == a->qos && seq == (unsigned long)expected_seq;
}

static inline void bench_report(const char *lib, const struct bench_args *a, double secs, double cpu)
{
	printf("lib=%s qos=%d size=%d n=%ld seconds=%.4f msgs_per_s=%.0f mode=%s cpu_s=%.3f\n", lib,
	       a->qos, a->size, a->n, secs, secs > 0 ? a->n / secs : 0.0, a->e2e ? "e2e" : "pub", cpu);
	fflush(stdout);
}

#endif
