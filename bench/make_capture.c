/*
 * make_capture.c - writes a synthesised MQTT capture of at least MB
 * megabytes with the library's pcap writer, for the decode benchmark:
 * CONNECTIONS clients, each CONNECT/CONNACK, SUBSCRIBE/SUBACK, then
 * rounds of QoS 0, 1 and 2 publishes (payloads of 16 to 4,000 bytes,
 * some over several segments' worth) with their acknowledgements, the
 * connections interleaved, each write one TCP segment.
 *
 * usage: make_capture FILE [MB] [CONNECTIONS]
 * Prints "bytes=N packets=N" on standard output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mqttsim/codec.h"
#include "mqttsim/pcap.h"

static struct mqtt_pcap *w;
static uint64_t now_us = 1700000000000000ull, packets;
static uint8_t buf[8192];

static void put(uint32_t conn, enum mqtt_pcap_direction dir, const struct mqtt_packet *p)
{
	size_t len;
	if (mqtt_encode(buf, sizeof buf, p, 0, &len) != MQTT_OK) {
		fprintf(stderr, "make_capture: cannot encode a %s\n", mqtt_type_name(p->type));
		exit(1);
	}
	now_us += 7;
	if (mqtt_pcap_write(w, conn, dir, now_us, buf, len) != 0) {
		fprintf(stderr, "make_capture: writing failed\n");
		exit(1);
	}
	packets++;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: make_capture FILE [MB] [CONNECTIONS]\n");
		return 2;
	}
	long mb = argc > 2 ? atol(argv[2]) : 100, conns = argc > 3 ? atol(argv[3]) : 64;
	if (mb < 1 || conns < 1 || conns > 1000) {
		fprintf(stderr, "make_capture: MB at least 1, CONNECTIONS 1 to 1000\n");
		return 2;
	}
	char err[256];
	if (mqtt_pcap_open(&w, argv[1], err, sizeof err) != 0) {
		fprintf(stderr, "make_capture: %s\n", err);
		return 1;
	}
	static uint8_t payload[4000];
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)('a' + i % 26);
	for (uint32_t c = 0; c < (uint32_t)conns; c++) {
		char id[32];
		snprintf(id, sizeof id, "bench-%u", c);
		struct mqtt_packet p = {.type = MQTT_CONNECT};
		p.connect.protocol_name = mqtt_slice_str("MQTT");
		p.connect.protocol_level = 4;
		p.connect.clean_session = true;
		p.connect.keep_alive = 60;
		p.connect.client_id = mqtt_slice_str(id);
		put(c, MQTT_PCAP_TO_BROKER, &p);
		put(c, MQTT_PCAP_TO_CLIENT, &(struct mqtt_packet){.type = MQTT_CONNACK});
		struct mqtt_topic f = {mqtt_slice_str("bench/#"), 2};
		put(c, MQTT_PCAP_TO_BROKER, &(struct mqtt_packet){.type = MQTT_SUBSCRIBE,
		    .subscribe = {.packet_id = 1, .count = 1, .topics = &f}});
		static const uint8_t granted = 2;
		put(c, MQTT_PCAP_TO_CLIENT, &(struct mqtt_packet){.type = MQTT_SUBACK,
		    .suback = {.packet_id = 1, .return_codes = {&granted, 1}}});
	}
	struct stat st = {0};
	uint64_t target = (uint64_t)mb * 1000000u;
	for (uint32_t round = 0;; round++) {
		for (uint32_t c = 0; c < (uint32_t)conns; c++) {
			uint8_t qos = (uint8_t)((round + c) % 3);
			uint16_t id = (uint16_t)(round % 65535 + 1);
			size_t size = 16 + (size_t)(round * 7919u + c * 104729u) % (sizeof payload - 16);
			struct mqtt_packet p = {.type = MQTT_PUBLISH};
			p.publish.qos = qos;
			p.publish.topic = mqtt_slice_str("bench/topic");
			p.publish.packet_id = qos ? id : 0;
			p.publish.payload = (struct mqtt_slice){payload, size};
			put(c, MQTT_PCAP_TO_BROKER, &p);
			if (qos == 1)
				put(c, MQTT_PCAP_TO_CLIENT, &(struct mqtt_packet){.type = MQTT_PUBACK, .ack = {id}});
			if (qos == 2) {
				put(c, MQTT_PCAP_TO_CLIENT, &(struct mqtt_packet){.type = MQTT_PUBREC, .ack = {id}});
				put(c, MQTT_PCAP_TO_BROKER, &(struct mqtt_packet){.type = MQTT_PUBREL, .ack = {id}});
				put(c, MQTT_PCAP_TO_CLIENT, &(struct mqtt_packet){.type = MQTT_PUBCOMP, .ack = {id}});
			}
		}
		if (round % 64 == 0 && stat(argv[1], &st) == 0 && (uint64_t)st.st_size >= target)
			break;
	}
	for (uint32_t c = 0; c < (uint32_t)conns; c++) {
		put(c, MQTT_PCAP_TO_BROKER, &(struct mqtt_packet){.type = MQTT_DISCONNECT});
		mqtt_pcap_end(w, c, now_us);
	}
	if (mqtt_pcap_close(w) != 0 || stat(argv[1], &st) != 0) {
		fprintf(stderr, "make_capture: closing %s failed\n", argv[1]);
		return 1;
	}
	printf("bytes=%lld packets=%llu\n", (long long)st.st_size, (unsigned long long)packets);
	return 0;
}
