/*
 * fuzz_replay - any bytes from the live peer, in any pieces, against the
 * replay core in both roles: no crash, no hang, a report that ends with
 * its summary line, and never more packets judged received than framed.
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/replay/replay.h"

/* A captured session: CONNECT, CONNACK, SUBSCRIBE, SUBACK, the broker's
 * QoS 2 PUBLISH and its flow, the client's QoS 1 PUBLISH, DISCONNECT. */
static const uint8_t p0[] = {0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 1, 'c'};
static const uint8_t p1[] = {0x20, 0x02, 0x00, 0x00};
static const uint8_t p2[] = {0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x02};
static const uint8_t p3[] = {0x90, 0x03, 0x00, 0x01, 0x02};
static const uint8_t p4[] = {0x34, 0x06, 0x00, 0x01, 't', 0x00, 0x09, 'x'};
static const uint8_t p5[] = {0x50, 0x02, 0x00, 0x09};
static const uint8_t p6[] = {0x62, 0x02, 0x00, 0x09};
static const uint8_t p7[] = {0x70, 0x02, 0x00, 0x09};
static const uint8_t p8[] = {0x32, 0x06, 0x00, 0x01, 'u', 0x00, 0x05, 'y'};
static const uint8_t p9[] = {0x40, 0x02, 0x00, 0x05};
static const uint8_t p10[] = {0xe0, 0x00};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct { int dir; const uint8_t *d; size_t n; } pk[] = {
		{0, p0, sizeof p0}, {1, p1, sizeof p1}, {0, p2, sizeof p2}, {1, p3, sizeof p3},
		{1, p4, sizeof p4}, {0, p5, sizeof p5}, {1, p6, sizeof p6}, {0, p7, sizeof p7},
		{0, p8, sizeof p8}, {1, p9, sizeof p9}, {0, p10, sizeof p10}};
	struct cap_event ev[16];
	struct cap_session s = {.ev = ev, .nconns = 1};
	for (size_t i = 0; i < sizeof pk / sizeof pk[0]; i++)
		ev[s.n++] = (struct cap_event){.kind = CAP_PACKET, .dir = pk[i].dir, .frame = i + 1,
		                               .ts_us = i * 1000, .data = (uint8_t *)(uintptr_t)pk[i].d,
		                               .len = pk[i].n};
	ev[s.n++] = (struct cap_event){.kind = CAP_CLOSE, .dir = 0, .frame = 12};
	for (int role = 0; role < 2; role++) {
		struct replay_config c = {.role = role ? REPLAY_AS_BROKER : REPLAY_AS_CLIENT,
		                          .timeout_us = 1000, .first_wait_us = 1000,
		                          .client_id_prefix = role ? NULL : "f-"};
		struct replay *r = replay_new(&s, &c);
		if (!r)
			return 0;
		uint64_t now = 0;
		size_t at = 0;
		bool accepted = false;
		for (int steps = 0; steps < 10000; steps++) {
			struct replay_action a;
			replay_next(r, now, &a);
			if (a.todo == REPLAY_DONE)
				break;
			if (a.todo == REPLAY_DIAL)
				replay_dialed(r, a.conn, true, NULL);
			if (a.todo == REPLAY_SEND && (!a.len || !a.data))
				abort();
			if (a.todo != REPLAY_WAIT)
				continue;
			if (role && !accepted) {
				accepted = true;
				replay_accepted(r, now);
			}
			/* The peer's next piece: its length from the first byte. */
			if (at < size) {
				size_t n = 1 + data[at] % 37;
				at++;
				if (n > size - at)
					n = size - at;
				replay_input(r, 0, now, data + at, n);
				at += n;
			} else {
				now = a.until > now ? a.until : now + 1;
			}
		}
		char *report = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&report, &len);
		if (f) {
			replay_report(r, f);
			fclose(f);
			if (!report || !len || report[len - 1] != '\n')
				abort();
			size_t start = len - 1;
			while (start && report[start - 1] != '\n')
				start--;
			if (strncmp(report + start, "replay: ", 8))
				abort(); /* the last line is not the summary */
			free(report);
		}
		replay_free(r);
	}
	return 0;
}
