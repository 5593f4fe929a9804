/*
 * bench_codec - throughput of the MQTT codec, and proof that it does
 * not allocate.
 *
 * usage: bench_codec [N]
 *
 * For a PUBLISH (QoS 1, 23-byte topic) with a 64-byte and a 1 KiB
 * payload, times N operations (default 5,000,000) of each kind and
 * prints one line per measurement:
 *
 *   lib=mqttsim op=OP size=S n=N seconds=T pkts_per_s=R allocs=A
 *
 * OP is encode (mqtt_encode into a buffer), encode-iov (mqtt_encode_iov,
 * payload not copied), decode (mqtt_decode of one whole packet),
 * frame-decode (mqtt_framer_feed over a buffer of back-to-back packets,
 * then mqtt_decode of each), and topic-check (the topic validation a
 * PUBLISH decode performs), and session-publish-qos0 (the session
 * core's QoS 0 publish and the take of its output: the client's hot
 * path, which must not allocate). lib=memcpy op=copy is the baseline: copying
 * the encoded packet once, the least any encoder does. A peer with the
 * same line, bench_codec_mosq, times libmosquitto's topic checks (the
 * only codec piece that library exports).
 *
 * allocs counts malloc/calloc/realloc calls inside the timed loops
 * (alloc_count.h: the link wraps them, for this program only); the
 * program fails (exit 1) when it is not 0.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc_count.h"
#include "mqttsim/codec.h"
#include "mqttsim/session.h"

static const char TOPIC[] = "bench/topic/sensor-0001";
static volatile unsigned sink; /* keeps results alive */
static int failed;

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(const char *lib, const char *op, size_t size, long n, double secs,
                   unsigned long allocs)
{
	printf("lib=%s op=%s size=%zu n=%ld seconds=%.4f pkts_per_s=%.0f allocs=%lu\n", lib, op,
	       size, n, secs, n / secs, allocs);
	fflush(stdout);
	if (allocs)
		failed = 1;
}

static struct mqtt_packet publish_of(const uint8_t *payload, size_t size)
{
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	p.publish.qos = 1;
	p.publish.packet_id = 4242;
	p.publish.topic = mqtt_slice_str(TOPIC);
	p.publish.payload.data = payload;
	p.publish.payload.len = size;
	return p;
}

static void bench_size(size_t size, long n)
{
	static uint8_t payload[1024], wire[2048], scratch[MQTT_PUBLISH_SCRATCH];
	memset(payload, 'v', sizeof payload);
	struct mqtt_packet p = publish_of(payload, size);
	size_t len = 0;
	if (mqtt_encode(wire, sizeof wire, &p, 0, &len) != MQTT_OK) {
		fprintf(stderr, "bench_codec: cannot encode the packet\n");
		exit(1);
	}

	/* Back-to-back packets for the framer: about 256 KiB of stream. */
	size_t per = 262144 / len;
	uint8_t *stream = malloc(per * len);
	for (size_t i = 0; i < per; i++)
		memcpy(stream + i * len, wire, len);
	uint8_t framebuf[2048];

	unsigned long a0;
	double t0;
	unsigned acc = 0;

	a0 = alloc_count();
	t0 = seconds_now();
	for (long i = 0; i < n; i++) {
		p.publish.packet_id = (uint16_t)(i | 1);
		size_t w;
		mqtt_encode(wire, sizeof wire, &p, 0, &w);
		acc += wire[w - 1] + (unsigned)w;
	}
	report("mqttsim", "encode", size, n, seconds_now() - t0, alloc_count() - a0);

	a0 = alloc_count();
	t0 = seconds_now();
	for (long i = 0; i < n; i++) {
		p.publish.packet_id = (uint16_t)(i | 1);
		struct iovec iov[MQTT_IOV_MAX];
		int cnt;
		size_t total;
		mqtt_encode_iov(iov, &cnt, scratch, sizeof scratch, &p, 0, &total);
		acc += (unsigned)cnt + (unsigned)total + scratch[1];
	}
	report("mqttsim", "encode-iov", size, n, seconds_now() - t0, alloc_count() - a0);

	a0 = alloc_count();
	t0 = seconds_now();
	for (long i = 0; i < n; i++) {
		struct mqtt_packet d;
		mqtt_decode(&d, wire, len, 0, NULL);
		acc += d.publish.packet_id + (unsigned)d.publish.payload.len;
	}
	report("mqttsim", "decode", size, n, seconds_now() - t0, alloc_count() - a0);

	a0 = alloc_count();
	t0 = seconds_now();
	long done = 0;
	struct mqtt_framer f;
	mqtt_framer_init(&f, framebuf, sizeof framebuf);
	while (done < n) {
		/* 1500-byte reads, as off a socket: some packets straddle. */
		size_t off = 0, total = per * len;
		while (off < total && done < n) {
			size_t chunk = total - off < 1500 ? total - off : 1500, used = 0;
			while (used < chunk && done < n) {
				size_t u;
				struct mqtt_frame fr;
				mqtt_framer_feed(&f, stream + off + used, chunk - used, &u, &fr);
				used += u;
				if (fr.len) {
					struct mqtt_packet d;
					mqtt_decode(&d, fr.data, fr.len, 0, NULL);
					acc += (unsigned)d.publish.payload.len;
					done++;
				}
			}
			off += used;
		}
	}
	report("mqttsim", "frame-decode", size, done, seconds_now() - t0, alloc_count() - a0);

	a0 = alloc_count();
	t0 = seconds_now();
	for (long i = 0; i < n; i++) {
		wire[len - 1] = (uint8_t)i;
		memcpy(stream, wire, len);
		acc += stream[len - 1];
	}
	report("memcpy", "copy", size, n, seconds_now() - t0, alloc_count() - a0);

	free(stream);
	sink = acc;
}

static void bench_topic(long n)
{
	unsigned acc = 0;
	unsigned long a0 = alloc_count();
	double t0 = seconds_now();
	for (long i = 0; i < n; i++)
		acc += mqtt_check_topic_name((const uint8_t *)TOPIC, sizeof TOPIC - 1, NULL) == MQTT_OK;
	report("mqttsim", "topic-check", sizeof TOPIC - 1, n, seconds_now() - t0, alloc_count() - a0);
	sink = acc;
}

/* A volatile clean session (exits when it cannot be made). */
static struct mqtt_session *new_session(void)
{
	struct mqtt_session_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.client_id = mqtt_slice_str("bench");
	cfg.clean_session = true;
	struct mqtt_session *s;
	if (mqtt_session_new(&s, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls) {
		fprintf(stderr, "bench_codec: cannot create a session\n");
		exit(1);
	}
	return s;
}

/* The session core's QoS 0 publish path, output drained as a driver
 * would: no allocation per message. */
static void bench_session_publish(size_t size, long n)
{
	static uint8_t payload[1024];
	struct mqtt_session *s = new_session();
	mqtt_session_connected(s, 1);
	const uint8_t *out;
	mqtt_session_wrote(s, 1, mqtt_session_output(s, &out));
	static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
	size_t used;
	struct mqtt_message msg;
	struct mqtt_event ev;
	mqtt_session_receive(s, 1, connack, sizeof connack, &used, &msg);
	while (mqtt_session_next_event(s, &ev))
		;
	struct mqtt_slice topic = mqtt_slice_str(TOPIC), p = {payload, size};
	/* Warm up: the output buffer grows once, before the clock. */
	mqtt_session_publish(s, 2, 0, false, topic, p, NULL);
	mqtt_session_wrote(s, 2, mqtt_session_output(s, &out));
	unsigned acc = 0;
	unsigned long a0 = alloc_count();
	double t0 = seconds_now();
	for (long i = 0; i < n; i++) {
		payload[0] = (uint8_t)i;
		if (mqtt_session_publish(s, 3, 0, false, topic, p, NULL).cls) {
			fprintf(stderr, "bench_codec: session publish failed\n");
			exit(1);
		}
		size_t k = mqtt_session_output(s, &out);
		acc += out[k - 1];
		mqtt_session_wrote(s, 3, k);
	}
	report("mqttsim", "session-publish-qos0", size, n, seconds_now() - t0, alloc_count() - a0);
	sink = acc;
	mqtt_session_free(s);
}

int main(int argc, char **argv)
{
	long n = 5000000;
	if (argc > 2 || (argc == 2 && (n = strtol(argv[1], NULL, 10)) <= 0)) {
		fprintf(stderr, "usage: bench_codec [N]\n");
		return 2;
	}
	/* The counter must see the library's allocations, or allocs=0 proves
	 * nothing: making a session allocates. */
	unsigned long before = alloc_count();
	mqtt_session_free(new_session());
	if (alloc_count() == before) {
		fprintf(stderr, "bench_codec: allocation counting does not work here\n");
		return 1;
	}
	bench_size(64, n);
	bench_size(1024, n);
	bench_topic(n);
	bench_session_publish(64, n);
	bench_session_publish(1024, n);
	if (failed) {
		fprintf(stderr, "bench_codec: the codec or the session core allocated memory in a timed loop\n");
		return 1;
	}
	return 0;
}
