/*
 * libFuzzer target: the framer's result does not depend on how the
 * stream is cut. The first two input bytes seed the chunk sizes; the
 * rest is the stream. It is framed once whole and once in pseudo-random
 * chunks (1 to 64 bytes); both must yield the same packets, and the same
 * error at the same stream offset. Packets over the buffer (up to 1 MiB)
 * are streamed in pieces, whose ends must agree too. Every whole frame is
 * also decoded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/codec.h"

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "fuzz_framer: %s (line %d)\n", #cond, __LINE__); \
			abort();                                           \
		}                                                          \
	} while (0)

#define CAP 2048
#define MAX_FRAMES 4096

struct run {
	size_t count;
	uint64_t ends[MAX_FRAMES];
	enum mqtt_err err;
	uint64_t error_at;
};

static uint32_t next(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static void frame_all(const uint8_t *s, size_t len, uint32_t seed, struct run *r)
{
	static uint8_t buf[CAP];
	struct mqtt_framer f;
	CHECK(mqtt_framer_init(&f, buf, sizeof buf) == MQTT_OK);
	uint32_t state = seed | 1;
	size_t off = 0;
	memset(r, 0, sizeof *r);
	while (off < len) {
		size_t chunk = seed ? 1 + next(&state) % 64 : len - off;
		if (chunk > len - off)
			chunk = len - off;
		size_t used = 0;
		struct mqtt_frame fr;
		enum mqtt_err err = mqtt_framer_feed(&f, s + off, chunk, &used, &fr);
		CHECK(used <= chunk);
		off += used;
		if (err == MQTT_ERR_PACKET_SIZE && f.need < 1u << 20) {
			/* Stream it; pieces depend on the cuts, packet ends do not. */
			CHECK(mqtt_framer_stream(&f) == MQTT_OK);
			continue;
		}
		if (err) {
			r->err = err;
			r->error_at = f.error_at;
			CHECK(f.error_at <= len);
			return;
		}
		CHECK(used > 0 || fr.len > 0);
		if (fr.len && fr.offset + fr.len < fr.total) {
			CHECK(fr.offset || fr.len == CAP); /* the head fills the buffer */
			continue;
		}
		if (fr.len) {
			CHECK(fr.len <= CAP || fr.offset);
			struct mqtt_packet p;
			if (!fr.offset)
				(void)mqtt_decode(&p, fr.data, fr.len, MQTT_LENIENT, NULL);
			if (r->count < MAX_FRAMES)
				r->ends[r->count] = f.offset;
			r->count++;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint32_t seed = (uint32_t)data[0] << 8 | data[1];
	static struct run whole, cut;
	frame_all(data + 2, size - 2, 0, &whole);
	frame_all(data + 2, size - 2, seed | 0x10000, &cut);
	CHECK(whole.count == cut.count);
	CHECK(whole.err == cut.err);
	CHECK(whole.error_at == cut.error_at);
	size_t n = whole.count < MAX_FRAMES ? whole.count : MAX_FRAMES;
	CHECK(memcmp(whole.ends, cut.ends, n * sizeof *whole.ends) == 0);
	return 0;
}
