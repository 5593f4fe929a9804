/*
 * libFuzzer target: the broker core against clients that send anything.
 * The input is split in three streams by its first bytes; each goes to
 * its own connection in chunks, interleaved, with time moving and a
 * rule or two in force, so that the connections' effects on each other
 * (routing, takeover, wills, retained messages) are exercised too.
 * Whatever arrives: no crash, no leak, no read out of bounds; a
 * connection the broker wants closed is closed; the others go on.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mqttsim/broker.h"

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "fuzz_broker: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                     \
		}                                                                    \
	} while (0)

#define CONNS 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct mqtt_broker_config cfg = {.packet_max = 4096, .queue_max = 8, .inflight_max = 2,
	                                 .record = true, .record_max = 16,
	                                 .connect_timeout_ms = 500};
	struct mqtt_broker *b;
	CHECK(mqtt_broker_new(&b, &cfg) == 0);
	static const char *const rules[] = {
		"withhold b2c:PUBACK#2", "delay PUBLISH#1+ ms=30", "duplicate SUBACK",
		"reorder PUBLISH#2", "close c2b:PUBREC#1 when=after", "deliver-twice PUBLISH#1",
		"drop PUBLISH#2", "refuse-subscribe #", "refuse 2 count=1", "stop-reading PINGREQ#2",
	};
	char err[128];
	CHECK(mqtt_broker_rule(b, rules[data[0] % 10], err, sizeof err) > 0);
	CHECK(mqtt_broker_rule(b, rules[data[1] % 10], err, sizeof err) > 0);
	size_t chunk = 1 + data[1] % 64;
	data += 2;
	size -= 2;
	uint64_t now = 1000;
	struct mqtt_bconn *c[CONNS];
	for (int i = 0; i < CONNS; i++)
		CHECK((c[i] = mqtt_broker_open(b, now)) != NULL);
	size_t pos[CONNS] = {0};
	for (size_t round = 0; round * CONNS * chunk < size + CONNS * chunk; round++) {
		for (int i = 0; i < CONNS; i++) {
			/* Connection i reads every CONNS-th chunk of the input. */
			size_t start = (round * CONNS + (size_t)i) * chunk;
			if (start >= size || !c[i])
				continue;
			size_t n = size - start < chunk ? size - start : chunk;
			if (mqtt_bconn_wants_read(c[i]))
				pos[i] += mqtt_broker_receive(b, c[i], now, data + start, n);
		}
		now += 7;
		mqtt_broker_tick(b, now);
		struct mqtt_bconn *r;
		while ((r = mqtt_broker_next_ready(b)) != NULL) {
			const uint8_t *out;
			size_t n = mqtt_broker_output(b, r, &out);
			if (n)
				mqtt_broker_wrote(b, r, n);
			if (mqtt_bconn_wants_close(r)) {
				for (int i = 0; i < CONNS; i++)
					if (c[i] == r)
						c[i] = NULL;
				mqtt_broker_closed(b, r, now);
			}
		}
	}
	struct mqtt_broker_record rec[16];
	size_t n = mqtt_broker_records(b, 0, rec, 16);
	CHECK(n <= 16);
	for (int i = 0; i < CONNS; i++)
		if (c[i])
			mqtt_broker_closed(b, c[i], now);
	mqtt_broker_free(b);
	return 0;
}
