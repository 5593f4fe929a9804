/*
 * libFuzzer target: fault plans from any text, then a link of that plan
 * fed the rest of the input as traffic both ways with time moving.
 * Whatever the text: a plan that parses prints back to text that parses
 * to the same plan; a link never crashes, leaks, or delivers more bytes
 * than were written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/faults.h"

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "fuzz_faults: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                     \
		}                                                                    \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Text up to the first NUL byte is the plan; the rest is traffic. */
	const uint8_t *nul = memchr(data, 0, size);
	size_t tlen = nul ? (size_t)(nul - data) : size;
	char *text = malloc(tlen + 1);
	CHECK(text);
	memcpy(text, data, tlen);
	text[tlen] = 0;
	struct mqtt_fault_plan plan;
	char err[256];
	if (mqtt_fault_plan_parse(&plan, text, err, sizeof err) != 0) {
		free(text);
		return 0;
	}
	free(text);
	char printed[65536];
	int n = mqtt_fault_plan_format(&plan, printed, sizeof printed);
	if (n >= 0 && (size_t)n < sizeof printed) {
		struct mqtt_fault_plan again;
		CHECK(mqtt_fault_plan_parse(&again, printed, err, sizeof err) == 0);
		CHECK(again.n == plan.n);
		char twice[65536];
		mqtt_fault_plan_format(&again, twice, sizeof twice);
		CHECK(strcmp(printed, twice) == 0);
		mqtt_fault_plan_free(&again);
	}
	struct mqtt_fault_run *run;
	CHECK(mqtt_fault_run_new(&run, &plan, 1) == 0);
	const uint8_t *traffic = nul ? nul + 1 : data + size;
	size_t left = nul ? size - tlen - 1 : 0;
	uint64_t now = 0, written[2] = {0, 0}, read[2] = {0, 0};
	for (int conn = 0; conn < 2; conn++) {
		struct mqtt_fault_link *l;
		CHECK(mqtt_fault_link_new(&l, run, now) == 0);
		size_t pos = 0;
		while (pos < left) {
			unsigned dir = traffic[pos] & 1 ? MQTT_B2C : MQTT_C2B;
			size_t chunk = 1 + (traffic[pos] >> 1) % 32;
			pos++;
			if (chunk > left - pos)
				chunk = left - pos;
			size_t room = mqtt_fault_link_room(l, dir, now, chunk);
			CHECK(room <= chunk);
			size_t took = mqtt_fault_link_write(l, dir, now, traffic + pos, room);
			written[dir == MQTT_B2C] += took;
			pos += chunk;
			now += traffic[pos - 1] % 50;
			for (unsigned d = MQTT_C2B; d <= MQTT_B2C; d <<= 1) {
				const uint8_t *p;
				size_t got;
				while ((got = mqtt_fault_link_peek(l, d, now, &p)) > 0) {
					read[d == MQTT_B2C] += got;
					mqtt_fault_link_consume(l, d, got);
				}
				(void)mqtt_fault_link_state(l, d, now);
				(void)mqtt_fault_link_inject(l, d, now, true);
			}
			CHECK(mqtt_fault_link_next(l, now) >= now);
			struct mqtt_fault_report r;
			while (mqtt_fault_link_report(l, &r)) {
				char line[200];
				mqtt_fault_report_format(&r, line, sizeof line);
			}
		}
		mqtt_fault_link_free(l);
	}
	CHECK(read[0] <= written[0] && read[1] <= written[1]);
	mqtt_fault_run_free(run);
	mqtt_fault_plan_free(&plan);
	return 0;
}
