/*
 * reader.h - reading captures (libpcap: classic pcap and pcapng) down to
 * TCP segments, and putting each connection's byte streams back together.
 * Not installed: `mqttsim decode` and replay build on it.
 *
 * capture_next() walks the records and returns each TCP segment found
 * in Ethernet (with VLAN tags), Linux cooked (SLL, SLL2), BSD
 * loopback/NULL and raw IPv4/IPv6 frames; other records are skipped and
 * counted. tcp_streams puts segments in order per connection and
 * direction: duplicates and retransmissions are trimmed, out-of-order
 * segments wait for the one that fills the hole (and are delivered with
 * that record's frame number), and a hole that never fills is reported as
 * a gap, never glued over. Captures that start mid-connection are taken
 * from their first segment on.
 */
#ifndef CAPTURE_READER_H
#define CAPTURE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

struct tcp_segment {
	uint64_t frame;        /* the record's number, from 1 */
	uint64_t ts_us;
	int family;            /* 4 or 6 */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq;
	uint8_t flags;
	const uint8_t *payload; /* valid until the next capture_next() */
	size_t len;
};

struct capture;

/* Opens path. -1 with err ("path: reason") when it cannot be read. */
int capture_open(struct capture **out, const char *path, char *err, size_t errcap);
/* The next TCP segment: 1, 0 at the end, -1 with err on a read error. */
int capture_next(struct capture *c, struct tcp_segment *seg, char *err, size_t errcap);
/* Records that held no TCP segment (other link types, ARP, UDP, ...). */
uint64_t capture_skipped(const struct capture *c);
void capture_close(struct capture *c);

/* What the streams report: bytes in order, or a gap before more bytes. */
struct tcp_streams_ops {
	/* len bytes of stream (from 0, in order of first segment) in dir (0:
	 * from the side that opened the connection, or that sent first; 1:
	 * back), completed by record frame. */
	void (*data)(void *arg, unsigned stream, int dir, uint64_t frame, const uint8_t *d,
	             size_t len);
	/* Bytes missing before frame's segment (or at the end); what follows
	 * is a new start. */
	void (*gap)(void *arg, unsigned stream, int dir, uint64_t frame, uint32_t missing);
	/* The stream's first segment: its ports, the first side's first. */
	void (*opened)(void *arg, unsigned stream, uint16_t port0, uint16_t port1);
	/* Optional: dir sent its first FIN or RST in record frame (after the
	 * bytes that segment carried; a FIN ahead of a hole is reported where
	 * it was seen, the bytes before it come later). */
	void (*closed)(void *arg, unsigned stream, int dir, uint64_t frame);
};

struct tcp_streams;

struct tcp_streams *tcp_streams_new(const struct tcp_streams_ops *ops, void *arg);
/* Feeds one segment. -1 when out of memory. */
int tcp_streams_add(struct tcp_streams *t, const struct tcp_segment *seg);
/* At the end: what still waits behind a hole is reported (gap) and delivered. */
void tcp_streams_finish(struct tcp_streams *t, uint64_t last_frame);
void tcp_streams_free(struct tcp_streams *t);

#endif
