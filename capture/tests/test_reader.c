/*
 * Reading captures: every link type the reader knows, IPv4 and IPv6, and
 * TCP streams put back together through reordering, retransmissions,
 * overlaps and gaps; files written by our own pcap writer read back.
 */
#define _DEFAULT_SOURCE /* the BSD types <pcap/pcap.h> uses */
#include <CUnit/CUnit.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqttsim/pcap.h"
#include "capture/reader.h"
#include "testing/suites.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

/* What a test's streams received. */
struct got {
	char data[2][512];
	size_t len[2];
	uint64_t frames[2][16];
	int nframes[2];
	uint32_t gaps[4];
	uint64_t gap_frames[4];
	int ngaps;
	unsigned streams;
	uint16_t ports[2];
	uint64_t closed_frame[2]; /* the record of each side's FIN or RST */
	int closes;
};

static void on_data(void *arg, unsigned stream, int dir, uint64_t frame, const uint8_t *d, size_t len)
{
	struct got *g = arg;
	(void)stream;
	if (g->len[dir] + len < sizeof g->data[dir]) {
		memcpy(g->data[dir] + g->len[dir], d, len);
		g->len[dir] += len;
	}
	if (g->nframes[dir] < 16)
		g->frames[dir][g->nframes[dir]++] = frame;
}

static void on_gap(void *arg, unsigned stream, int dir, uint64_t frame, uint32_t missing)
{
	struct got *g = arg;
	(void)stream, (void)dir;
	if (g->ngaps < 4) {
		g->gaps[g->ngaps] = missing;
		g->gap_frames[g->ngaps++] = frame;
	}
}

static void on_open(void *arg, unsigned stream, uint16_t p0, uint16_t p1)
{
	struct got *g = arg;
	g->streams = stream + 1;
	g->ports[0] = p0;
	g->ports[1] = p1;
}

static void on_closed(void *arg, unsigned stream, int dir, uint64_t frame)
{
	struct got *g = arg;
	(void)stream;
	g->closed_frame[dir] = frame;
	g->closes++;
}

static const struct tcp_streams_ops ops = {on_data, on_gap, on_open, on_closed};

/* Reads a whole file through the streams. */
static void read_all(const char *path, struct got *g)
{
	memset(g, 0, sizeof *g);
	struct capture *c;
	char err[256];
	CU_ASSERT_EQUAL_FATAL(capture_open(&c, path, err, sizeof err), 0);
	struct tcp_streams *t = tcp_streams_new(&ops, g);
	struct tcp_segment s;
	int rc;
	uint64_t last = 0;
	while ((rc = capture_next(c, &s, err, sizeof err)) == 1) {
		CU_ASSERT_EQUAL(tcp_streams_add(t, &s), 0);
		last = s.frame;
	}
	CU_ASSERT_EQUAL(rc, 0);
	tcp_streams_finish(t, last);
	tcp_streams_free(t);
	capture_close(c);
}

static void test_reads_our_writer(void)
{
	char path[] = "/tmp/reader-XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	struct mqtt_pcap *w;
	char err[256];
	CU_ASSERT_EQUAL_FATAL(mqtt_pcap_open(&w, path, err, sizeof err), 0);
	mqtt_pcap_write(w, 1, MQTT_PCAP_TO_BROKER, 1000, "\x10\x02", 2);
	mqtt_pcap_write(w, 1, MQTT_PCAP_TO_BROKER, 2000, "ab", 2);
	mqtt_pcap_write(w, 1, MQTT_PCAP_TO_CLIENT, 3000, "\x20\x02\x00\x00", 4);
	mqtt_pcap_end(w, 1, 4000);
	mqtt_pcap_close(w);
	struct got g;
	read_all(path, &g);
	unlink(path);
	CU_ASSERT_EQUAL(g.streams, 1);
	CU_ASSERT_EQUAL(g.ports[1], 1883); /* the broker's side second */
	CU_ASSERT_EQUAL(g.len[0], 4);
	CU_ASSERT(!memcmp(g.data[0], "\x10\x02" "ab", 4));
	CU_ASSERT_EQUAL(g.len[1], 4);
	CU_ASSERT(!memcmp(g.data[1], "\x20\x02\x00\x00", 4));
	/* mqtt_pcap_end's FINs: each side once, after its bytes (3 handshake + 3 data records). */
	CU_ASSERT_EQUAL(g.closes, 2);
	CU_ASSERT(g.closed_frame[0] > 6 && g.closed_frame[1] > 6);
	CU_ASSERT_EQUAL(g.ngaps, 0);
}

/* A hand-made capture: frames with the link header of linktype. */
struct builder {
	pcap_t *p;
	pcap_dumper_t *d;
	int linktype;
	bool v6;
	uint64_t n;
};

static void begin(struct builder *b, const char *path, int linktype, bool v6)
{
	b->p = pcap_open_dead(linktype, 65535);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b->p);
	b->d = pcap_dump_open(b->p, path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b->d);
	b->linktype = linktype;
	b->v6 = v6;
	b->n = 0;
}

/* One TCP segment from the client (dir 0: port 50000 to 1883) or back. */
static void segment(struct builder *b, int dir, uint32_t seq, uint8_t flags, const char *data)
{
	uint8_t f[256] = {0};
	size_t at = 0, len = strlen(data);
	switch (b->linktype) {
	case DLT_EN10MB:
		f[12] = b->v6 ? 0x86 : 0x08, f[13] = b->v6 ? 0xdd : 0x00, at = 14;
		break;
	case DLT_LINUX_SLL:
		f[14] = b->v6 ? 0x86 : 0x08, f[15] = b->v6 ? 0xdd : 0x00, at = 16;
		break;
	case DLT_LINUX_SLL2:
		f[0] = b->v6 ? 0x86 : 0x08, f[1] = b->v6 ? 0xdd : 0x00, at = 20;
		break;
	case DLT_NULL: {
		uint32_t fam = b->v6 ? 30 : 2; /* the capturing host's order */
		memcpy(f, &fam, 4);
		at = 4;
		break;
	}
	default: /* raw IP */
		break;
	}
	uint8_t *ip = f + at;
	size_t iplen;
	uint8_t cli[16] = {10, 0, 0, 2}, srv[16] = {10, 0, 0, 1};
	if (b->v6) {
		memset(cli, 0, 16), memset(srv, 0, 16);
		cli[0] = srv[0] = 0xfd, cli[15] = 2, srv[15] = 1;
		ip[0] = 0x60;
		ip[4] = (uint8_t)((20 + len) >> 8), ip[5] = (uint8_t)(20 + len);
		ip[6] = 6, ip[7] = 64;
		memcpy(ip + 8, dir ? srv : cli, 16);
		memcpy(ip + 24, dir ? cli : srv, 16);
		iplen = 40;
	} else {
		ip[0] = 0x45;
		ip[2] = (uint8_t)((40 + len) >> 8), ip[3] = (uint8_t)(40 + len);
		ip[8] = 64, ip[9] = 6;
		memcpy(ip + 12, dir ? srv : cli, 4);
		memcpy(ip + 16, dir ? cli : srv, 4);
		iplen = 20;
	}
	uint8_t *t = ip + iplen;
	uint16_t sp = dir ? 1883 : 50000, dp = dir ? 50000 : 1883;
	t[0] = (uint8_t)(sp >> 8), t[1] = (uint8_t)sp, t[2] = (uint8_t)(dp >> 8), t[3] = (uint8_t)dp;
	t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8), t[7] = (uint8_t)seq;
	t[12] = 5 << 4;
	t[13] = flags;
	memcpy(t + 20, data, len);
	struct pcap_pkthdr h = {{(time_t)++b->n, 0}, 0, 0};
	h.caplen = h.len = (bpf_u_int32)(at + iplen + 20 + len);
	pcap_dump((u_char *)b->d, &h, f);
}

static void end(struct builder *b)
{
	pcap_dump_close(b->d);
	pcap_close(b->p);
}

static void test_link_types_and_ip_versions(void)
{
	const int types[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_RAW};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		for (int v6 = 0; v6 < 2; v6++) {
			char path[] = "/tmp/reader-XXXXXX";
			int fd = mkstemp(path);
			close(fd);
			struct builder b;
			begin(&b, path, types[i], v6);
			segment(&b, 0, 100, TCP_SYN, "");
			segment(&b, 1, 500, TCP_SYN | TCP_ACK, "");
			segment(&b, 0, 101, TCP_ACK, "hello");
			segment(&b, 1, 501, TCP_ACK, "back");
			end(&b);
			struct got g;
			read_all(path, &g);
			unlink(path);
			CU_ASSERT_EQUAL(g.streams, 1);
			CU_ASSERT_EQUAL(g.len[0], 5);
			CU_ASSERT(!memcmp(g.data[0], "hello", 5));
			CU_ASSERT_EQUAL(g.len[1], 4);
			CU_ASSERT_EQUAL(g.ports[0], 50000);
			CU_ASSERT_EQUAL(g.ports[1], 1883);
		}
}

static void test_reorder_retransmit_overlap(void)
{
	char path[] = "/tmp/reader-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	struct builder b;
	begin(&b, path, DLT_EN10MB, false);
	segment(&b, 0, 100, TCP_SYN, "");            /* frame 1 */
	segment(&b, 0, 103, TCP_ACK, "cd");          /* 2: ahead of a hole */
	segment(&b, 0, 101, TCP_ACK, "ab");          /* 3: fills it: "ab" and "cd" complete here */
	segment(&b, 0, 101, TCP_ACK, "ab");          /* 4: a retransmission */
	segment(&b, 0, 104, TCP_ACK, "def");         /* 5: overlaps by one: "ef" is new */
	end(&b);
	struct got g;
	read_all(path, &g);
	unlink(path);
	CU_ASSERT_EQUAL(g.len[0], 6);
	CU_ASSERT(!memcmp(g.data[0], "abcdef", 6));
	CU_ASSERT_EQUAL(g.nframes[0], 3);
	CU_ASSERT_EQUAL(g.frames[0][0], 3);
	CU_ASSERT_EQUAL(g.frames[0][1], 3); /* the record that filled the hole completes it */
	CU_ASSERT_EQUAL(g.frames[0][2], 5);
	CU_ASSERT_EQUAL(g.ngaps, 0);
}

static void test_gap_is_reported_not_glued(void)
{
	char path[] = "/tmp/reader-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	struct builder b;
	begin(&b, path, DLT_EN10MB, false);
	/* No SYN: the capture starts mid-connection, the server talks first. */
	segment(&b, 1, 7000, TCP_ACK, "xy");         /* frame 1 */
	segment(&b, 1, 7010, TCP_ACK, "zz");         /* 2: 8 bytes never seen before it */
	end(&b);
	struct got g;
	read_all(path, &g);
	unlink(path);
	CU_ASSERT_EQUAL(g.ports[1], 1883); /* port 1883 says who the broker is */
	CU_ASSERT_EQUAL(g.ngaps, 1);
	CU_ASSERT_EQUAL(g.gaps[0], 8);
	CU_ASSERT_EQUAL(g.gap_frames[0], 2);
	CU_ASSERT_EQUAL(g.len[1], 4); /* "xy", then "zz" after the gap, apart */
}

static void test_bad_files(void)
{
	struct capture *c;
	char err[256];
	CU_ASSERT_EQUAL(capture_open(&c, "/nonexistent.pcap", err, sizeof err), -1);
	CU_ASSERT(strstr(err, "/nonexistent.pcap: ") == err);
	char path[] = "/tmp/reader-XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_EQUAL(write(fd, "not a capture at all", 20), 20);
	close(fd);
	CU_ASSERT_EQUAL(capture_open(&c, path, err, sizeof err), -1);
	CU_ASSERT(strncmp(err, path, strlen(path)) == 0);
	/* A capture cut in the middle of a record: an error, what came before read. */
	struct builder b;
	begin(&b, path, DLT_EN10MB, false);
	segment(&b, 0, 1, TCP_ACK, "first");
	segment(&b, 0, 6, TCP_ACK, "second record, cut short");
	end(&b);
	FILE *f = fopen(path, "r+");
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fclose(f);
	CU_ASSERT_EQUAL(truncate(path, size - 10), 0);
	CU_ASSERT_EQUAL_FATAL(capture_open(&c, path, err, sizeof err), 0);
	struct tcp_segment s;
	CU_ASSERT_EQUAL(capture_next(c, &s, err, sizeof err), 1);
	CU_ASSERT_EQUAL(s.len, 5);
	CU_ASSERT_EQUAL(capture_next(c, &s, err, sizeof err), -1);
	CU_ASSERT(strstr(err, "record 2") != NULL);
	capture_close(c);
	unlink(path);
}

const struct test_def reader_tests[] = {
	{"reads what our writer wrote", test_reads_our_writer},
	{"link types, IPv4 and IPv6", test_link_types_and_ip_versions},
	{"reordering, retransmissions, overlaps", test_reorder_retransmit_overlap},
	{"a gap is reported, not glued", test_gap_is_reported_not_glued},
	{"bad and truncated files", test_bad_files},
	{NULL, NULL},
};
