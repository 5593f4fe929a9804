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

#include "reader.h"

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
		static const struct tcp_streams_ops ops = {on_data, on_gap, NULL};
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
	}
	unlink(path);
	return 0;
}
