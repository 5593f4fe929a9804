/*
 * The framer: a stream of several packets, split at every position (and
 * every pair of positions, and one byte at a time), always yields the
 * same packets; whole packets inside a chunk are not copied; bad
 * lengths are reported at their stream offset.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/codec.h"
#include "testing/suites.h"

/* CONNECT, PUBLISH QoS 1 (200-byte payload: a two-byte length),
 * PINGREQ, SUBSCRIBE, DISCONNECT. */
static uint8_t stream[512];
static size_t stream_len;
static size_t packet_ends[8];
static size_t packet_count;

static void append(const struct mqtt_packet *p)
{
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(stream + stream_len, sizeof stream - stream_len, p, 0, &n),
	                      MQTT_OK);
	stream_len += n;
	packet_ends[packet_count++] = stream_len;
}

static void build_stream(void)
{
	if (stream_len)
		return;
	static uint8_t payload[200];
	memset(payload, 'p', sizeof payload);
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	p.connect.protocol_name = mqtt_slice_str("MQTT");
	p.connect.protocol_level = 4;
	p.connect.clean_session = true;
	p.connect.client_id = mqtt_slice_str("framer");
	append(&p);
	struct mqtt_packet pub = {.type = MQTT_PUBLISH};
	pub.publish.qos = 1;
	pub.publish.packet_id = 9;
	pub.publish.topic = mqtt_slice_str("a/b");
	pub.publish.payload.data = payload;
	pub.publish.payload.len = sizeof payload;
	append(&pub);
	struct mqtt_packet ping = {.type = MQTT_PINGREQ};
	append(&ping);
	struct mqtt_topic t = {mqtt_slice_str("a/#"), 2};
	struct mqtt_packet sub = {.type = MQTT_SUBSCRIBE};
	sub.subscribe.packet_id = 3;
	sub.subscribe.topics = &t;
	sub.subscribe.count = 1;
	append(&sub);
	struct mqtt_packet disc = {.type = MQTT_DISCONNECT};
	append(&disc);
}

struct collected {
	size_t count;
	size_t ends[8];
	int ok;
	size_t copies; /* frames that came from the framer's buffer */
};

/* Feeds chunk [from, to) of the stream and checks each packet yielded. */
static void feed(struct mqtt_framer *f, size_t from, size_t to, struct collected *c)
{
	size_t off = from;
	while (off < to) {
		size_t used = 0;
		struct mqtt_frame fr;
		if (mqtt_framer_feed(f, stream + off, to - off, &used, &fr) != MQTT_OK) {
			c->ok = 0;
			return;
		}
		if (used == 0 && fr.len == 0) {
			c->ok = 0; /* no progress: would loop for ever */
			return;
		}
		off += used;
		if (fr.len) {
			size_t start = c->count ? c->ends[c->count - 1] : 0;
			if (c->count >= packet_count || fr.len != packet_ends[c->count] - start ||
			    memcmp(fr.data, stream + start, fr.len) != 0) {
				c->ok = 0;
				return;
			}
			if (fr.data == f->buf)
				c->copies++;
			else if (fr.data != stream + start) /* a view of the input itself */
				c->ok = 0;
			c->ends[c->count++] = off;
		}
	}
}

static void check_splits(const size_t *cuts, size_t ncuts)
{
	uint8_t buf[256];
	struct mqtt_framer f;
	CU_ASSERT_EQUAL_FATAL(mqtt_framer_init(&f, buf, sizeof buf), MQTT_OK);
	struct collected c = {.ok = 1};
	size_t from = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : stream_len;
		feed(&f, from, to, &c);
		from = to;
	}
	CU_ASSERT(c.ok);
	CU_ASSERT_EQUAL(c.count, packet_count);
	CU_ASSERT_EQUAL(f.have, 0);
	CU_ASSERT_EQUAL(f.offset, stream_len);
	/* A packet is copied only when a cut falls inside it. */
	size_t straddled = 0;
	for (size_t k = 0; k < packet_count; k++) {
		size_t start = k ? packet_ends[k - 1] : 0;
		for (size_t i = 0; i < ncuts; i++)
			if (cuts[i] > start && cuts[i] < packet_ends[k]) {
				straddled++;
				break;
			}
	}
	CU_ASSERT_EQUAL(c.copies, straddled);
}

static void test_whole_stream(void)
{
	build_stream();
	check_splits(NULL, 0);
}

static void test_every_split(void)
{
	build_stream();
	for (size_t cut = 0; cut <= stream_len; cut++)
		check_splits(&cut, 1);
}

static void test_every_pair_of_splits(void)
{
	build_stream();
	for (size_t a = 0; a <= stream_len; a++)
		for (size_t b = a; b <= stream_len; b++) {
			size_t cuts[2] = {a, b};
			check_splits(cuts, 2);
		}
}

static void test_one_byte_at_a_time(void)
{
	build_stream();
	size_t cuts[512];
	for (size_t i = 0; i + 1 < stream_len; i++)
		cuts[i] = i + 1;
	check_splits(cuts, stream_len - 1);
}

static void test_decodes_after_framing(void)
{
	build_stream();
	uint8_t buf[256];
	struct mqtt_framer f;
	mqtt_framer_init(&f, buf, sizeof buf);
	static const enum mqtt_type want[] = {
		MQTT_CONNECT, MQTT_PUBLISH, MQTT_PINGREQ, MQTT_SUBSCRIBE, MQTT_DISCONNECT,
	};
	size_t off = 0, k = 0;
	while (off < stream_len) {
		size_t used;
		struct mqtt_frame fr;
		/* Seven-byte chunks: most packets straddle. */
		size_t chunk = stream_len - off < 7 ? stream_len - off : 7;
		CU_ASSERT_EQUAL_FATAL(mqtt_framer_feed(&f, stream + off, chunk, &used, &fr), MQTT_OK);
		off += used;
		if (fr.len) {
			struct mqtt_packet p;
			CU_ASSERT_EQUAL(mqtt_decode(&p, fr.data, fr.len, 0, NULL), MQTT_OK);
			CU_ASSERT_FATAL(k < 5);
			CU_ASSERT_EQUAL(p.type, want[k]);
			k++;
		}
	}
	CU_ASSERT_EQUAL(k, 5);
}

static void test_remaining_length_too_long(void)
{
	static const uint8_t bad[] = {0xc0, 0x00, 0x30, 0x80, 0x80, 0x80, 0x80, 0x01};
	for (size_t step = 1; step <= sizeof bad; step++) {
		uint8_t buf[64];
		struct mqtt_framer f;
		mqtt_framer_init(&f, buf, sizeof buf);
		size_t off = 0, frames = 0;
		enum mqtt_err err = MQTT_OK;
		while (off < sizeof bad && !err) {
			size_t used, chunk = sizeof bad - off < step ? sizeof bad - off : step;
			struct mqtt_frame fr;
			err = mqtt_framer_feed(&f, bad + off, chunk, &used, &fr);
			off += used;
			frames += fr.len != 0;
		}
		CU_ASSERT_EQUAL(frames, 1); /* the PINGREQ before it */
		CU_ASSERT_EQUAL(err, MQTT_ERR_REMAINING_LENGTH);
		CU_ASSERT_EQUAL(f.error_at, 2 + 1 + 4); /* the fifth length byte */
		/* Sticky: the stream cannot be resynchronised. */
		size_t used;
		struct mqtt_frame fr;
		CU_ASSERT_EQUAL(mqtt_framer_feed(&f, bad, 2, &used, &fr), MQTT_ERR_REMAINING_LENGTH);
		CU_ASSERT_EQUAL(used, 0);
	}
}

static void test_packet_too_large(void)
{
	/* A PUBLISH announcing 300 bytes, against a 64-byte limit. */
	static const uint8_t big[] = {0x30, 0xac, 0x02, 0x00, 0x01, 'a'};
	for (size_t step = 1; step <= sizeof big; step++) {
		uint8_t buf[64];
		struct mqtt_framer f;
		mqtt_framer_init(&f, buf, sizeof buf);
		size_t off = 0;
		enum mqtt_err err = MQTT_OK;
		while (off < sizeof big && !err) {
			size_t used, chunk = sizeof big - off < step ? sizeof big - off : step;
			struct mqtt_frame fr;
			err = mqtt_framer_feed(&f, big + off, chunk, &used, &fr);
			off += used;
		}
		CU_ASSERT_EQUAL(err, MQTT_ERR_PACKET_SIZE);
		CU_ASSERT_EQUAL(f.need, 3 + 300);
		CU_ASSERT_EQUAL(f.error_at, 0);
	}
}

/* An oversize packet streamed in pieces, at any chunking, reassembles to
 * its bytes, and framing goes on after it. */
static void test_stream_oversize(void)
{
	uint8_t data[3 + 2 + 303 + 2];
	size_t n = 0;
	data[n++] = 0xc0; /* PINGREQ */
	data[n++] = 0x00;
	data[n++] = 0x30; /* PUBLISH, remaining length 300 */
	data[n++] = 0xac;
	data[n++] = 0x02;
	data[n++] = 0x00;
	data[n++] = 0x01;
	data[n++] = 't';
	for (int i = 0; i < 297; i++)
		data[n++] = (uint8_t)i;
	data[n++] = 0xd0; /* PINGRESP */
	data[n++] = 0x00;
	const size_t big_start = 2, big_size = 303;
	for (size_t step = 1; step <= n; step++) {
		uint8_t buf[64], whole[303];
		struct mqtt_framer f;
		mqtt_framer_init(&f, buf, sizeof buf);
		size_t off = 0, got = 0, frames = 0, pieces = 0;
		bool ok = true;
		while (off < n && ok) {
			size_t used, chunk = n - off < step ? n - off : step;
			struct mqtt_frame fr;
			enum mqtt_err e = mqtt_framer_feed(&f, data + off, chunk, &used, &fr);
			off += used;
			if (e == MQTT_ERR_PACKET_SIZE) {
				ok = f.need == big_size && mqtt_framer_stream(&f) == MQTT_OK;
				continue;
			}
			ok = e == MQTT_OK;
			if (!fr.len)
				continue;
			if (fr.total == big_size) {
				ok = fr.offset == got && got + fr.len <= big_size &&
				     (fr.offset || fr.len == sizeof buf); /* the head fills the buffer */
				if (ok)
					memcpy(whole + got, fr.data, fr.len);
				got += fr.len;
				pieces++;
			} else {
				ok = fr.offset == 0 && fr.total == fr.len && fr.len == 2;
				frames++;
			}
		}
		CU_ASSERT(ok);
		CU_ASSERT_EQUAL(frames, 2);
		CU_ASSERT(pieces >= 2);
		CU_ASSERT_EQUAL(got, big_size);
		CU_ASSERT(memcmp(whole, data + big_start, big_size) == 0);
		CU_ASSERT_EQUAL(f.offset, n);
	}
	uint8_t buf[64];
	struct mqtt_framer f;
	mqtt_framer_init(&f, buf, sizeof buf);
	CU_ASSERT_EQUAL(mqtt_framer_stream(&f), MQTT_ERR_ARGUMENT); /* no oversize packet */
}

static void test_largest_packet_fits(void)
{
	/* A packet exactly the size of the buffer, fed in two pieces. */
	uint8_t packet[64], buf[64];
	packet[0] = 0x30;
	packet[1] = 62;
	packet[2] = 0;
	packet[3] = 1;
	packet[4] = 't';
	memset(packet + 5, 'x', sizeof packet - 5);
	struct mqtt_framer f;
	mqtt_framer_init(&f, buf, sizeof buf);
	size_t used;
	struct mqtt_frame fr;
	CU_ASSERT_EQUAL(mqtt_framer_feed(&f, packet, 10, &used, &fr), MQTT_OK);
	CU_ASSERT_EQUAL(used, 10);
	CU_ASSERT_EQUAL(fr.len, 0);
	CU_ASSERT_EQUAL(mqtt_framer_feed(&f, packet + 10, sizeof packet - 10, &used, &fr), MQTT_OK);
	CU_ASSERT_EQUAL(fr.len, sizeof packet);
	CU_ASSERT(memcmp(fr.data, packet, sizeof packet) == 0);
}

static void test_arguments(void)
{
	uint8_t buf[64];
	struct mqtt_framer f;
	CU_ASSERT_EQUAL(mqtt_framer_init(&f, buf, 6), MQTT_ERR_ARGUMENT);
	CU_ASSERT_EQUAL(mqtt_framer_init(&f, NULL, 64), MQTT_ERR_ARGUMENT);
	CU_ASSERT_EQUAL(mqtt_framer_init(&f, buf, sizeof buf), MQTT_OK);
	size_t used;
	struct mqtt_frame fr;
	CU_ASSERT_EQUAL(mqtt_framer_feed(&f, NULL, 3, &used, &fr), MQTT_ERR_ARGUMENT);
	CU_ASSERT_EQUAL(mqtt_framer_feed(&f, NULL, 0, &used, &fr), MQTT_OK);
	CU_ASSERT_EQUAL(used, 0);
	CU_ASSERT_EQUAL(fr.len, 0);
}

const struct test_def codec_framer_tests[] = {
	{"whole stream in one chunk, no copies", test_whole_stream},
	{"every split into two chunks", test_every_split},
	{"every split into three chunks", test_every_pair_of_splits},
	{"one byte at a time", test_one_byte_at_a_time},
	{"framed packets decode", test_decodes_after_framing},
	{"fifth length byte at any split", test_remaining_length_too_long},
	{"packet over the limit at any split", test_packet_too_large},
	{"oversize packet streamed at any split", test_stream_oversize},
	{"packet of exactly the limit", test_largest_packet_fits},
	{"arguments", test_arguments},
	{NULL, NULL},
};
