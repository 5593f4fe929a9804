/*
 * libFuzzer target: the session core against a broker that sends
 * anything. The input is split into chunks by its first byte; between
 * chunks the client publishes at each QoS, reads on, and time moves.
 * Whatever arrives: no crash, no leak, no read out of bounds; every
 * error asks for the connection to be closed; after a close the
 * session reconnects and resends without trouble.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mqttsim/session.h"

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz_session: %s (line %d)\n", #cond, __LINE__); \
			abort();                                             \
		}                                                            \
	} while (0)

static void drain(struct mqtt_session *s, uint64_t now)
{
	const uint8_t *out;
	size_t n = mqtt_session_output(s, &out);
	if (n)
		mqtt_session_wrote(s, now, n);
	struct mqtt_event ev;
	while (mqtt_session_next_event(s, &ev))
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct mqtt_session_config c = {0};
	c.client_id = mqtt_slice_str("fuzz");
	c.clean_session = true;
	c.keep_alive = 5;
	c.at_least_once_max = 4;
	c.exactly_once_max = 4;
	c.pause_timeout_ms = 1000;
	c.ack_timeout_ms = 2000;
	c.read_buffer_size = 1024;
	struct mqtt_session *s;
	CHECK(mqtt_session_new(&s, &c, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls == MQTT_SUCCESS);
	uint64_t now = 1000;
	size_t chunk = 1 + data[0] % 32;
	data++;
	size--;
	static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
	for (int round = 0; round < 2; round++) {
		mqtt_session_connected(s, now);
		drain(s, now);
		size_t used;
		struct mqtt_message msg;
		struct mqtt_error e = mqtt_session_receive(s, now, connack, sizeof connack, &used, &msg);
		CHECK(e.cls == MQTT_SUCCESS);
		size_t off = 0;
		unsigned step = 0;
		while (off < size && !mqtt_session_should_close(s)) {
			size_t n = size - off < chunk ? size - off : chunk;
			e = mqtt_session_receive(s, now, data + off, n, &used, &msg);
			CHECK(used <= n);
			if (e.cls != MQTT_SUCCESS) {
				CHECK(mqtt_session_should_close(s));
				break;
			}
			off += used;
			if (msg.topic.data)
				CHECK(msg.topic.len > 0 && msg.qos <= 2);
			mqtt_session_publish(s, now, (uint8_t)(step % 3), false, mqtt_slice_str("t"),
			                     mqtt_slice_str("p"), NULL);
			now += 100 * (step++ % 7);
			mqtt_session_tick(s, now);
			drain(s, now);
		}
		struct mqtt_error gone = {MQTT_IO, 104};
		mqtt_session_lost(s, now, gone);
		drain(s, now);
		now = mqtt_session_dial_at(s);
	}
	mqtt_session_free(s);
	return 0;
}
