/*
 * pcap_writer.c - MQTT connections as a pcap file, through libpcap, with
 * synthesised Ethernet/IPv4/TCP headers (see mqttsim/pcap.h).
 *
 * Each connection keeps the next sequence number of either side; a
 * segment carries ACK of everything the other side sent, so Wireshark's
 * TCP analysis sees a clean stream and reassembles MQTT across segments.
 */
/* libpcap's headers use the BSD types u_int and u_char. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/pcap.h"

#define ETH_LEN 14
#define IP_LEN 20
#define TCP_LEN 20
#define HEADERS (ETH_LEN + IP_LEN + TCP_LEN)
#define MAX_SEGMENT (65535 - IP_LEN - TCP_LEN)
#define BROKER_PORT 1883
#define CLIENT_PORT_BASE 49152

enum { FIN = 0x01, SYN = 0x02, PSH = 0x08, ACK = 0x10 };

struct conn {
	bool started, ended;
	uint32_t seq[2];   /* next sequence number: [0] client, [1] broker */
	uint16_t ip_id[2];
};

struct mqtt_pcap {
	pcap_t *dead;
	pcap_dumper_t *dump;
	FILE *notes;        /* the JSON-lines sidecar, PATH.jsonl */
	uint64_t frames;    /* records written */
	struct conn *conns; /* MQTT_PCAP_MAX_CONNECTIONS, calloc'd: untouched pages stay free */
	uint8_t frame[HEADERS + MAX_SEGMENT];
};

static const uint8_t broker_ip[4] = {192, 0, 2, 1};
static const uint8_t client_ip[4] = {192, 0, 2, 2};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* The Internet checksum (RFC 1071) over len bytes, from sum. */
static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Writes one segment: from side `from` (0 client, 1 broker) of c. */
static int segment(struct mqtt_pcap *w, uint32_t k, int from, uint8_t flags, uint64_t t,
                   const uint8_t *data, size_t len)
{
	struct conn *c = &w->conns[k];
	uint8_t *f = w->frame;
	const uint8_t *src_ip = from ? broker_ip : client_ip, *dst_ip = from ? client_ip : broker_ip;
	uint16_t client_port = (uint16_t)(CLIENT_PORT_BASE + k);
	uint16_t src_port = from ? BROKER_PORT : client_port, dst_port = from ? client_port : BROKER_PORT;

	/* Ethernet: locally administered addresses, IPv4. */
	static const uint8_t mac[2][6] = {{0x02, 0, 0, 0, 0, 0x02}, {0x02, 0, 0, 0, 0, 0x01}};
	memcpy(f, mac[!from], 6);
	memcpy(f + 6, mac[from], 6);
	put16(f + 12, 0x0800);

	uint8_t *ip = f + ETH_LEN;
	memset(ip, 0, IP_LEN);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(IP_LEN + TCP_LEN + len));
	put16(ip + 4, c->ip_id[from]++);
	put16(ip + 6, 0x4000); /* don't fragment */
	ip[8] = 64;
	ip[9] = 6; /* TCP */
	memcpy(ip + 12, src_ip, 4);
	memcpy(ip + 16, dst_ip, 4);
	put16(ip + 10, fold(sum16(0, ip, IP_LEN)));

	uint8_t *tcp = ip + IP_LEN;
	memset(tcp, 0, TCP_LEN);
	put16(tcp, src_port);
	put16(tcp + 2, dst_port);
	put32(tcp + 4, c->seq[from]);
	put32(tcp + 8, (flags & ACK) ? c->seq[!from] : 0);
	tcp[12] = (TCP_LEN / 4) << 4;
	tcp[13] = flags;
	put16(tcp + 14, 65535);
	if (len)
		memcpy(tcp + TCP_LEN, data, len);
	uint8_t pseudo[12];
	memcpy(pseudo, src_ip, 4);
	memcpy(pseudo + 4, dst_ip, 4);
	pseudo[8] = 0;
	pseudo[9] = 6;
	put16(pseudo + 10, (uint16_t)(TCP_LEN + len));
	put16(tcp + 16, fold(sum16(sum16(0, pseudo, 12), tcp, TCP_LEN + len)));

	c->seq[from] += (uint32_t)len + ((flags & (SYN | FIN)) ? 1 : 0);

	struct pcap_pkthdr h;
	h.ts.tv_sec = (time_t)(t / 1000000);
	h.ts.tv_usec = (suseconds_t)(t % 1000000);
	h.caplen = h.len = (bpf_u_int32)(HEADERS + len);
	pcap_dump((u_char *)w->dump, &h, f);
	w->frames++;
	return 0;
}

int mqtt_pcap_open(struct mqtt_pcap **out, const char *path, char *errbuf, size_t errcap)
{
	if (!out || !path)
		return -EINVAL;
	*out = NULL;
	struct mqtt_pcap *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->conns = calloc(MQTT_PCAP_MAX_CONNECTIONS, sizeof *w->conns);
	w->dead = pcap_open_dead(DLT_EN10MB, 65535 + ETH_LEN);
	if (!w->conns || !w->dead) {
		mqtt_pcap_close(w);
		return -ENOMEM;
	}
	w->dump = pcap_dump_open(w->dead, path);
	if (!w->dump) {
		if (errbuf && errcap)
			snprintf(errbuf, errcap, "%s", pcap_geterr(w->dead));
		mqtt_pcap_close(w);
		return -EIO;
	}
	/* The sidecar is made with the capture, so a stale one never stands beside it. */
	size_t n = strlen(path);
	char *notes = malloc(n + sizeof ".jsonl");
	if (notes) {
		memcpy(notes, path, n);
		memcpy(notes + n, ".jsonl", sizeof ".jsonl");
		w->notes = fopen(notes, "w");
	}
	if (!w->notes) {
		if (errbuf && errcap)
			snprintf(errbuf, errcap, "%s.jsonl: %s", path, notes ? strerror(errno) : "no memory");
		free(notes);
		mqtt_pcap_close(w);
		return notes ? -EIO : -ENOMEM;
	}
	free(notes);
	*out = w;
	return 0;
}

static int start(struct mqtt_pcap *w, uint32_t k, uint64_t t)
{
	struct conn *c = &w->conns[k];
	if (c->started)
		return 0;
	c->started = true;
	/* Fixed initial sequence numbers: files are reproducible. */
	c->seq[0] = 1000;
	c->seq[1] = 5000;
	segment(w, k, 0, SYN, t, NULL, 0);
	segment(w, k, 1, SYN | ACK, t, NULL, 0);
	return segment(w, k, 0, ACK, t, NULL, 0);
}

int mqtt_pcap_write(struct mqtt_pcap *w, uint32_t conn, enum mqtt_pcap_direction dir, uint64_t time_us,
                    const void *data, size_t len)
{
	if (!w || conn >= MQTT_PCAP_MAX_CONNECTIONS || (!data && len) || w->conns[conn].ended)
		return -EINVAL;
	start(w, conn, time_us);
	int from = dir == MQTT_PCAP_TO_CLIENT;
	const uint8_t *p = data;
	do {
		size_t n = len > MAX_SEGMENT ? MAX_SEGMENT : len;
		segment(w, conn, from, PSH | ACK, time_us, p, n);
		p += n;
		len -= n;
	} while (len);
	return 0;
}

int mqtt_pcap_end(struct mqtt_pcap *w, uint32_t conn, uint64_t time_us)
{
	if (!w || conn >= MQTT_PCAP_MAX_CONNECTIONS || w->conns[conn].ended)
		return -EINVAL;
	struct conn *c = &w->conns[conn];
	if (!c->started)
		return 0;
	c->ended = true;
	segment(w, conn, 0, FIN | ACK, time_us, NULL, 0);
	segment(w, conn, 1, FIN | ACK, time_us, NULL, 0);
	return segment(w, conn, 0, ACK, time_us, NULL, 0);
}

static void json_string(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(o, "\\%c", c);
		else if (c < 0x20)
			fprintf(o, "\\u%04x", c);
		else
			fputc(c, o);
	}
	fputc('"', o);
}

int mqtt_pcap_note(struct mqtt_pcap *w, uint32_t conn, uint64_t time_us, const char *source,
                   const char *event, const char *text)
{
	if (!w || !source || !event || !text)
		return -EINVAL;
	fprintf(w->notes, "{\"frame\":%llu,\"time_us\":%llu,", (unsigned long long)w->frames,
	        (unsigned long long)time_us);
	if (conn != MQTT_PCAP_NO_CONNECTION)
		fprintf(w->notes, "\"conn\":%u,\"port\":%u,", conn, 49152u + conn);
	fputs("\"source\":", w->notes);
	json_string(w->notes, source);
	fputs(",\"event\":", w->notes);
	json_string(w->notes, event);
	fputs(",\"text\":", w->notes);
	json_string(w->notes, text);
	fputs("}\n", w->notes);
	return ferror(w->notes) ? -EIO : 0;
}

uint64_t mqtt_pcap_frames(const struct mqtt_pcap *w)
{
	return w ? w->frames : 0;
}

int mqtt_pcap_close(struct mqtt_pcap *w)
{
	if (!w)
		return -EINVAL;
	int rc = 0;
	if (w->notes && fclose(w->notes) != 0)
		rc = -EIO;
	if (w->dump) {
		if (pcap_dump_flush(w->dump) != 0)
			rc = -EIO;
		pcap_dump_close(w->dump);
	}
	if (w->dead)
		pcap_close(w->dead);
	free(w->conns);
	free(w);
	return rc;
}
