/*
 * The pcap writer, read back with libpcap: handshake, one segment per
 * write (split above the IPv4 limit), sequence and acknowledgement
 * numbers following the bytes, valid checksums, FIN at the end.
 * MQTTSIM_PCAP_OUT names a file to keep (pytest decodes it with tshark).
 */
#define _DEFAULT_SOURCE /* libpcap's BSD types */
#include <CUnit/CUnit.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqttsim/pcap.h"
#include "testing/suites.h"

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t checksum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static const uint8_t connect_pkt[] = {0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02,
                                      0x00, 0x3c, 0x00, 0x04, 'p', 'c', 'a', 'p'};
static const uint8_t connack_pkt[] = {0x20, 0x02, 0x00, 0x00};
static const uint8_t publish_pkt[] = {0x30, 0x0a, 0x00, 0x03, 'a', '/', 'b', 'h', 'e', 'l', 'l', 'o'};

static void test_write_and_read_back(void)
{
	char path[256];
	const char *keep = getenv("MQTTSIM_PCAP_OUT");
	if (keep)
		snprintf(path, sizeof path, "%s", keep);
	else
		snprintf(path, sizeof path, "%s/mqttsim-pcap-%d.pcap", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		         (int)getpid());
	struct mqtt_pcap *w;
	char err[256] = "";
	CU_ASSERT_EQUAL_FATAL(mqtt_pcap_open(&w, path, err, sizeof err), 0);
	uint64_t t = 1764000000000000ull;
	CU_ASSERT_EQUAL(mqtt_pcap_write(w, 0, MQTT_PCAP_TO_BROKER, t, connect_pkt, sizeof connect_pkt), 0);
	CU_ASSERT_EQUAL(mqtt_pcap_write(w, 0, MQTT_PCAP_TO_CLIENT, t + 100, connack_pkt, sizeof connack_pkt), 0);
	/* One PUBLISH written in two pieces: two segments. */
	CU_ASSERT_EQUAL(mqtt_pcap_write(w, 0, MQTT_PCAP_TO_BROKER, t + 200, publish_pkt, 5), 0);
	CU_ASSERT_EQUAL(mqtt_pcap_write(w, 0, MQTT_PCAP_TO_BROKER, t + 300, publish_pkt + 5, sizeof publish_pkt - 5), 0);
	/* A second connection, and a write over the IPv4 limit. */
	static uint8_t big[70000];
	big[0] = 0x30;
	CU_ASSERT_EQUAL(mqtt_pcap_write(w, 7, MQTT_PCAP_TO_CLIENT, t + 400, big, sizeof big), 0);
	CU_ASSERT_EQUAL(mqtt_pcap_end(w, 0, t + 500), 0);
	CU_ASSERT_EQUAL(mqtt_pcap_end(w, 0, t + 600), -EINVAL); /* once */
	CU_ASSERT_EQUAL(mqtt_pcap_write(w, 0, MQTT_PCAP_TO_BROKER, t, "x", 1), -EINVAL);
	CU_ASSERT_EQUAL(mqtt_pcap_write(w, MQTT_PCAP_MAX_CONNECTIONS, MQTT_PCAP_TO_BROKER, t, "x", 1), -EINVAL);
	CU_ASSERT_EQUAL(mqtt_pcap_close(w), 0);

	char perr[PCAP_ERRBUF_SIZE];
	pcap_t *r = pcap_open_offline(path, perr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(pcap_datalink(r), DLT_EN10MB);
	struct pcap_pkthdr *h;
	const u_char *d;
	int records = 0, data_segments = 0;
	uint32_t next_seq[2][2] = {{0}}; /* [conn 0 or 7][side] */
	size_t big_bytes = 0;
	uint8_t stream0[64];
	size_t stream0_len = 0;
	while (pcap_next_ex(r, &h, &d) == 1) {
		records++;
		CU_ASSERT_EQUAL(h->caplen, h->len);
		const uint8_t *ip = d + 14, *tcp = ip + 20;
		CU_ASSERT_EQUAL(checksum(ip, 20, 0), 0); /* a valid header sums to zero */
		size_t ip_len = (size_t)ip[2] << 8 | ip[3];
		CU_ASSERT_EQUAL(ip_len + 14, h->len);
		size_t payload = ip_len - 40;
		uint8_t pseudo[12];
		memcpy(pseudo, ip + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = 6;
		pseudo[10] = (uint8_t)((ip_len - 20) >> 8);
		pseudo[11] = (uint8_t)(ip_len - 20);
		CU_ASSERT_EQUAL(checksum(tcp, ip_len - 20, 0xffff & ~checksum(pseudo, 12, 0)), 0);
		unsigned sport = (unsigned)tcp[0] << 8 | tcp[1], dport = (unsigned)tcp[2] << 8 | tcp[3];
		int from_broker = sport == 1883;
		unsigned client_port = from_broker ? dport : sport;
		CU_ASSERT(client_port == 49152 || client_port == 49152 + 7);
		int k = client_port != 49152;
		uint32_t seq = get32(tcp + 4);
		uint8_t flags = tcp[13];
		if (flags & 0x02) { /* SYN */
			next_seq[k][from_broker] = seq + 1;
			continue;
		}
		CU_ASSERT_EQUAL(seq, next_seq[k][from_broker]);
		if (flags & 0x10)
			CU_ASSERT_EQUAL(get32(tcp + 8), next_seq[k][!from_broker]); /* acks all of the other side */
		next_seq[k][from_broker] = seq + (uint32_t)payload + ((flags & 0x01) ? 1 : 0);
		if (payload) {
			data_segments++;
			if (k == 1)
				big_bytes += payload;
			else if (!from_broker && stream0_len + payload <= sizeof stream0)
				memcpy(stream0 + stream0_len, tcp + 20, payload), stream0_len += payload;
		}
	}
	pcap_close(r);
	/* 3 handshake + 4 writes on conn 0 + 3 handshake + 2 segments on
	 * conn 7 + 3 to end conn 0. */
	CU_ASSERT_EQUAL(records, 3 + 4 + 3 + 2 + 3);
	CU_ASSERT_EQUAL(data_segments, 6);
	CU_ASSERT_EQUAL(big_bytes, sizeof big);
	CU_ASSERT_EQUAL(stream0_len, sizeof connect_pkt + sizeof publish_pkt);
	CU_ASSERT(memcmp(stream0, connect_pkt, sizeof connect_pkt) == 0);
	CU_ASSERT(memcmp(stream0 + sizeof connect_pkt, publish_pkt, sizeof publish_pkt) == 0);
	if (!keep)
		unlink(path);
}

static void test_open_errors(void)
{
	struct mqtt_pcap *w;
	char err[256] = "";
	CU_ASSERT_EQUAL(mqtt_pcap_open(&w, "/nonexistent/dir/x.pcap", err, sizeof err), -EIO);
	CU_ASSERT(strlen(err) > 0);
	CU_ASSERT_EQUAL(mqtt_pcap_open(NULL, "x", NULL, 0), -EINVAL);
}

const struct test_def pcap_writer_tests[] = {
	{"written and read back segment by segment", test_write_and_read_back},
	{"open errors", test_open_errors},
	{NULL, NULL},
};
