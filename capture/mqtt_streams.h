/*
 * mqtt_streams.h - the MQTT packets of a capture, framed per connection
 * and direction. Not installed: `mqttsim decode`, `replay` and `convert`
 * build on it; reader.h does the records and the TCP streams.
 *
 * A TCP stream is MQTT when one of its ports is 1883, 8883 or one the
 * caller names, or when its first bytes from the side that opened it are
 * a CONNECT (MQTT 3.1.1, or MQTT 3.1's MQIsdp). Packets are framed by
 * their remaining length (up to 4 MiB each), not decoded: the caller
 * decodes what it needs, leniently or not.
 *
 * Problems are reported through the ops, each naming the record and the
 * stream: a gap (bytes the capture lacks), bytes that do not frame as
 * MQTT, a packet the capture ends before it is complete. After a gap or
 * unframeable bytes, the rest of that direction is skipped: nothing is
 * ever glued over a hole.
 */
#ifndef CAPTURE_MQTT_STREAMS_H
#define CAPTURE_MQTT_STREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mqtt_stream_packet {
	unsigned stream;       /* the TCP stream, from 0 in order of first segment */
	int dir;               /* 0: from the client (the side that opened it), 1: from the broker */
	uint64_t frame;        /* the record that completed the packet, from 1 */
	uint64_t ts_us;        /* that record's time */
	uint16_t sport, dport;
	bool v31;              /* the stream's CONNECT said MQTT 3.1 */
	const uint8_t *data;   /* the whole packet; valid during the call */
	size_t len;
};

struct mqtt_streams_ops {
	void (*packet)(void *arg, const struct mqtt_stream_packet *p);
	/* Optional: dir of an MQTT stream sent FIN or RST in record frame. */
	void (*closed)(void *arg, unsigned stream, int dir, uint64_t frame, uint64_t ts_us);
	/* A problem, as one line of text without the program's name ("frame
	 * 12, stream 0: 40 bytes missing ..."). */
	void (*problem)(void *arg, const char *text);
};

/*
 * Reads the capture at path to its end and hands out every MQTT packet
 * in order of the records that complete them. ports (nports of them, may
 * be 0) are MQTT ports beside 1883 and 8883.
 * Returns 0; 1 when there were problems (each reported, the rest still
 * read); 2 when the file cannot be read at all or memory ran out (err
 * says why).
 */
int mqtt_streams_read(const char *path, const uint16_t *ports, int nports,
                      const struct mqtt_streams_ops *ops, void *arg, char *err, size_t errcap);

#endif
