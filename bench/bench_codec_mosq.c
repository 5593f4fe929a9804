/*
 * bench_codec_mosq - the peer of bench_codec: libmosquitto's checks of a
 * PUBLISH topic (UTF-8 validation and wildcard test), the only codec
 * piece libmosquitto exports. Same command line and result line as
 * bench_codec.
 *
 * usage: bench_codec_mosq [N]
 */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char TOPIC[] = "bench/topic/sensor-0001";
static volatile unsigned sink;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = 5000000;
	if (argc > 2 || (argc == 2 && (n = strtol(argv[1], NULL, 10)) <= 0)) {
		fprintf(stderr, "usage: bench_codec_mosq [N]\n");
		return 2;
	}
	unsigned acc = 0;
	double t0 = now();
	for (long i = 0; i < n; i++)
		acc += mosquitto_validate_utf8(TOPIC, (int)sizeof TOPIC - 1) == MOSQ_ERR_SUCCESS &&
		       mosquitto_pub_topic_check2(TOPIC, sizeof TOPIC - 1) == MOSQ_ERR_SUCCESS;
	double secs = now() - t0;
	sink = acc;
	if (acc != (unsigned)n) {
		fprintf(stderr, "bench_codec_mosq: the topic was refused\n");
		return 1;
	}
	printf("lib=mosquitto op=topic-check size=%zu n=%ld seconds=%.4f pkts_per_s=%.0f allocs=-\n",
	       sizeof TOPIC - 1, n, secs, n / secs);
	return 0;
}
