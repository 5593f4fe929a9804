/*
 * fuzz_capture - any bytes as a capture file: read (libpcap), taken down
 * to TCP segments and put back into streams, no crash, no hang, and
 * never more bytes out of a stream than went into it.
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "capture/mqtt_streams.h"
#include "mqttsim/codec.h"
#include "capture/reader.h"

static size_t in_bytes, out_bytes;

static void on_data(void *arg, unsigned stream, int dir, uint64_t frame, const uint8_t *d, size_t n)
{
	(void)arg, (void)stream, (void)dir, (void)frame, (void)d;
	out_bytes += n;
}

static void on_gap(void *arg, unsigned stream, int dir, uint64_t frame, uint32_t missing)
{
	(void)arg, (void)stream, (void)dir, (void)frame, (void)missing;
}

/* The MQTT layer on top: every packet it frames is whole (its remaining
 * length says so) and decodes leniently or fails cleanly. */
static void on_packet(void *arg, const struct mqtt_stream_packet *p)
{
	(void)arg;
	size_t at = 1;
	uint32_t remaining = 0;
	for (unsigned shift = 0; at < p->len && at < 5; at++, shift += 7) {
		remaining |= (uint32_t)(p->data[at] & 0x7f) << shift;
		if (!(p->data[at] & 0x80))
			break;
	}
	if (at >= p->len && p->len != 2)
		abort();
	if (at + 1 + remaining != p->len)
		abort(); /* framed wrong */
	struct mqtt_packet k;
	mqtt_decode(&k, p->data, p->len, MQTT_LENIENT, NULL);
}

static void on_problem(void *arg, const char *text)
{
	(void)arg, (void)text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libpcap reads files: a private one holds the input. */
	char path[] = "/tmp/fuzz_capture-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	struct capture *c;
	char err[512];
	if (capture_open(&c, path, err, sizeof err) == 0) {
		static const struct tcp_streams_ops ops = {on_data, on_gap, NULL, NULL};
		struct tcp_streams *t = tcp_streams_new(&ops, NULL);
		struct tcp_segment s;
		in_bytes = out_bytes = 0;
		uint64_t last = 0;
		while (t && capture_next(c, &s, err, sizeof err) == 1) {
			in_bytes += s.len;
			last = s.frame;
			if (tcp_streams_add(t, &s) != 0)
				break;
		}
		if (t)
			tcp_streams_finish(t, last);
		tcp_streams_free(t);
		capture_close(c);
		if (out_bytes > in_bytes)
			abort(); /* a stream made bytes up */
		static const struct mqtt_streams_ops mops = {.packet = on_packet, .problem = on_problem};
		mqtt_streams_read(path, NULL, 0, &mops, NULL, err, sizeof err);
	}
	unlink(path);
	return 0;
}
