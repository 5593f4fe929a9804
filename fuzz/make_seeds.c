/*
 * Writes the seed corpus of the fuzz targets into the folder given: one
 * file per packet shape (every type, both protocol versions, a few with
 * violations), and streams of several packets for the framer.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "mqttsim/codec.h"

static const char *dir;
static int count;
static int failed;

static void write_seed(const uint8_t *b, size_t n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/seed-%03d", dir, count++);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "make_seeds: %s: %s\n", path, strerror(errno));
		failed = 1;
	}
}

static size_t put(uint8_t *out, size_t cap, const struct mqtt_packet *p)
{
	size_t n = 0;
	if (mqtt_encode(out, cap, p, MQTT_LENIENT, &n) != MQTT_OK)
		return 0;
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	dir = argv[1];
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "make_seeds: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	static uint8_t stream[8192];
	size_t stream_len = 0;
	uint8_t one[1024];
	struct mqtt_topic topics[] = {{mqtt_slice_str("a/+/c"), 1}, {mqtt_slice_str("#"), 2}};
	struct mqtt_packet packets[16];
	size_t np = 0;
	memset(packets, 0, sizeof packets);

	struct mqtt_packet *p = &packets[np++];
	p->type = MQTT_CONNECT;
	p->connect.protocol_name = mqtt_slice_str("MQTT");
	p->connect.protocol_level = 4;
	p->connect.clean_session = true;
	p->connect.keep_alive = 30;
	p->connect.client_id = mqtt_slice_str("seed");
	p->connect.will = true;
	p->connect.will_qos = 1;
	p->connect.will_topic = mqtt_slice_str("w/t");
	p->connect.will_message = mqtt_slice_str("gone");
	p->connect.has_username = p->connect.has_password = true;
	p->connect.username = mqtt_slice_str("user");
	p->connect.password = mqtt_slice_str("pass");

	p = &packets[np++];
	p->type = MQTT_CONNECT;
	p->connect.protocol_name = mqtt_slice_str("MQIsdp");
	p->connect.protocol_level = 3;
	p->connect.clean_session = true;
	p->connect.client_id = mqtt_slice_str("paho/31");

	p = &packets[np++];
	p->type = MQTT_CONNACK;
	p->connack.flags = 1;

	for (uint8_t q = 0; q <= 2; q++) {
		p = &packets[np++];
		p->type = MQTT_PUBLISH;
		p->publish.qos = q;
		p->publish.retain = q == 0;
		p->publish.dup = q == 2;
		p->publish.packet_id = q ? 258 : 0;
		p->publish.topic = mqtt_slice_str("caf\xc3\xa9/t");
		p->publish.payload = mqtt_slice_str("payload bytes");
	}
	static const enum mqtt_type acks[] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP, MQTT_UNSUBACK};
	for (size_t i = 0; i < 5; i++) {
		p = &packets[np++];
		p->type = acks[i];
		p->flags = acks[i] == MQTT_PUBREL ? 2 : 0;
		p->ack.packet_id = 258;
	}
	p = &packets[np++];
	p->type = MQTT_SUBSCRIBE;
	p->flags = 2;
	p->subscribe.packet_id = 5;
	p->subscribe.topics = topics;
	p->subscribe.count = 2;
	p = &packets[np++];
	p->type = MQTT_UNSUBSCRIBE;
	p->flags = 2;
	p->subscribe.packet_id = 6;
	p->subscribe.topics = topics;
	p->subscribe.count = 2;
	p = &packets[np++];
	p->type = MQTT_SUBACK;
	p->suback.packet_id = 5;
	p->suback.return_codes = mqtt_slice_str("\x01\x02\x80");
	packets[np++].type = MQTT_PINGREQ;
	packets[np++].type = MQTT_DISCONNECT;

	for (size_t i = 0; i < np; i++) {
		size_t n = put(one, sizeof one, &packets[i]);
		if (!n) {
			fprintf(stderr, "make_seeds: cannot encode %s\n", mqtt_type_name(packets[i].type));
			return 1;
		}
		write_seed(one, n);
		/* Framer seeds: two seed bytes, then the stream so far. */
		if (stream_len == 0) {
			stream[0] = 0x12;
			stream[1] = 0x34;
			stream_len = 2;
		}
		memcpy(stream + stream_len, one, n);
		stream_len += n;
	}
	write_seed(stream, stream_len);
	static const uint8_t violations[] = {0x3e, 0x06, 0, 2, 'a', '#', 0, 0};
	write_seed(violations, sizeof violations);
	static const uint8_t long_length[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x7f};
	write_seed(long_length, sizeof long_length);
	if (failed)
		return 1;
	printf("make_seeds: %d seeds in %s\n", count, dir);
	return 0;
}
