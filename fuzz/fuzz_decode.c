/*
 * libFuzzer target: the decoder, and its agreement with the encoder.
 *
 * For each input, in strict and in lenient mode:
 *  - decoding never reads out of bounds, and a failure names a byte
 *    inside the input;
 *  - a packet that decodes encodes again (under the same mode: the
 *    encoder accepts everything the decoder accepts), to the very same
 *    bytes when the input used the shortest remaining-length form;
 *  - decoding that encoding gives the same packet, and encoding it
 *    again gives the same bytes (encoding is stable);
 *  - strict success implies lenient success without violations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/tests/codec_testutil.h"

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "fuzz_decode: %s (line %d)\n", #cond, __LINE__); \
			abort();                                           \
		}                                                          \
	} while (0)

static size_t rl_field_size(const uint8_t *data, size_t size)
{
	size_t n = 0;
	while (1 + n < size && n < 4 && (data[1 + n] & 0x80))
		n++;
	return n + 1;
}

static size_t minimal_rl_size(uint32_t rl)
{
	return rl < 128 ? 1 : rl < 16384 ? 2 : rl < 2097152 ? 3 : 4;
}

static void roundtrip(const uint8_t *data, size_t size, unsigned mode)
{
	struct mqtt_packet p;
	size_t at = (size_t)-1;
	enum mqtt_err err = mqtt_decode(&p, data, size, mode, &at);
	CHECK(at <= size);
	if (err != MQTT_OK)
		return;
	CHECK(mode == MQTT_LENIENT || p.violations == 0);

	size_t n = mqtt_encoded_size(&p);
	CHECK(n > 0);
	uint8_t *first = malloc(n), *second = malloc(n);
	CHECK(first && second);
	size_t written = 0;
	err = mqtt_encode(first, n, &p, mode, &written);
	if (err)
		fprintf(stderr, "encode refused a decoded %s: %s\n", mqtt_type_name(p.type),
		        mqtt_strerror(err));
	CHECK(err == MQTT_OK);
	CHECK(written == n);
	if (rl_field_size(data, size) == minimal_rl_size(p.remaining_length))
		CHECK(n == size && memcmp(first, data, size) == 0);

	struct mqtt_packet q;
	CHECK(mqtt_decode(&q, first, n, mode, NULL) == MQTT_OK);
	const char *why = NULL;
	if (!packet_equal(&p, &q, true, &why))
		fprintf(stderr, "re-decoded %s differs in %s\n", mqtt_type_name(p.type), why);
	CHECK(packet_equal(&p, &q, true, NULL));
	CHECK(mqtt_encode(second, n, &q, mode, &written) == MQTT_OK);
	CHECK(written == n && memcmp(first, second, n) == 0);

	/* The gathered form holds the same bytes. */
	struct iovec iov[MQTT_IOV_MAX];
	int iovcnt = 0;
	size_t total = 0;
	CHECK(mqtt_encode_iov(iov, &iovcnt, second, n, &p, mode, &total) == MQTT_OK);
	CHECK(total == n);
	size_t off = 0;
	for (int i = 0; i < iovcnt; i++) {
		CHECK(off + iov[i].iov_len <= n);
		CHECK(memcmp((const uint8_t *)iov[i].iov_base, first + off, iov[i].iov_len) == 0);
		off += iov[i].iov_len;
	}
	CHECK(off == n);
	free(first);
	free(second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	roundtrip(data, size, MQTT_STRICT);
	roundtrip(data, size, MQTT_LENIENT);

	struct mqtt_packet s, l;
	enum mqtt_err strict = mqtt_decode(&s, data, size, MQTT_STRICT, NULL);
	enum mqtt_err lenient = mqtt_decode(&l, data, size, MQTT_LENIENT, NULL);
	if (strict == MQTT_OK) {
		CHECK(lenient == MQTT_OK && l.violations == 0);
		CHECK(packet_equal(&s, &l, true, NULL));
	}
	/* Lenient without remarks is strict, but for MQTT 3.1 (MQIsdp). */
	if (lenient == MQTT_OK && l.violations == 0 &&
	    !(l.type == MQTT_CONNECT && l.connect.protocol_level == 3))
		CHECK(strict == MQTT_OK);
	return 0;
}
