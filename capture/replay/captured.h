/*
 * captured.h - a capture's MQTT sessions held in memory, in the order the
 * capture completes them: what `mqttsim replay` plays and `mqttsim
 * convert` turns into a scenario.
 */
#ifndef SCENARIOS_CAPTURED_H
#define SCENARIOS_CAPTURED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cap_kind { CAP_PACKET, CAP_CLOSE };

struct cap_event {
	enum cap_kind kind;
	unsigned conn;       /* MQTT connections from 0, in order of their first packet */
	unsigned stream;     /* the TCP stream, as `mqttsim decode` numbers it */
	int dir;             /* 0: from the client, 1: from the broker */
	uint64_t frame, ts_us;
	bool v31;
	uint8_t *data;       /* CAP_PACKET: the whole packet */
	size_t len;
};

struct cap_session {
	struct cap_event *ev;
	size_t n;
	unsigned nconns;
};

/*
 * Loads the MQTT packets and connection ends of the capture at path
 * (ports: more MQTT ports, as for decode). Problems of the capture go to
 * problems, one line each, prefixed "mqttsim: ". Returns 0; 1 when the
 * capture had problems (what could be read is loaded); 2 when it cannot
 * be read (err says why; s is then empty).
 */
int cap_session_load(struct cap_session *s, const char *path, const uint16_t *ports, int nports,
                     FILE *problems, char *err, size_t errcap);
void cap_session_free(struct cap_session *s);

/* Reads repeated --port N options for decode, replay and convert: 1 when
 * argv[*i] was one (taken), 0 when not, -1 (said on stderr) when bad. */
int cap_port_option(int argc, char **argv, int *i, uint16_t ports[16], int *nports);

#endif
