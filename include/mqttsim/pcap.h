/*
 * mqttsim/pcap.h - writing MQTT traffic as a capture file.
 *
 * NAME
 *	mqtt_pcap_open, mqtt_pcap_write, mqtt_pcap_end, mqtt_pcap_note,
 *	mqtt_pcap_frames, mqtt_pcap_close - record connections as a pcap
 *	file that Wireshark and tshark decode as MQTT without options, with
 *	a JSON-lines sidecar of annotations
 *
 * DESCRIPTION
 *	The fake broker, the fault proxy and the scenario runner record what
 *	crossed each connection. The writer turns that into a classic pcap
 *	file (through libpcap) with synthesised Ethernet, IPv4 and TCP
 *	headers: the broker is 192.0.2.1 port 1883, client connection k is
 *	192.0.2.2 port 49152 + k (k below 16,384); both are documentation
 *	addresses (RFC 5737). A connection starts with a three-way handshake
 *	on first use; each write becomes one TCP segment (split only above
 *	65,495 bytes, the IPv4 limit), so packet boundaries in the file are
 *	the real write boundaries; sequence and acknowledgement numbers
 *	follow the bytes; checksums are correct. mqtt_pcap_end() closes a
 *	connection with FIN segments.
 *
 *	The classic pcap format has no comments, so annotations (fault
 *	events, rule actions, a scenario's crashes) go to a sidecar file
 *	beside the capture: its path with ".jsonl" added, made (truncated)
 *	with it. Each line is one JSON object: {"frame":N,"time_us":T,
 *	"conn":K,"port":P,"source":"...","event":"...","text":"..."}, where
 *	frame is the number of records written before the event (the event
 *	happened after record N; 0: before any), conn and port (the client
 *	side's TCP port in the file) are left out for events of no one
 *	connection.
 *
 * ERRORS
 *	Functions return 0 or a negative errno value: -EINVAL (bad argument,
 *	connection number out of range, a connection already ended),
 *	-ENOMEM, -EIO (libpcap could not open or write the file, or the
 *	sidecar could not be made or written; errbuf says why for
 *	mqtt_pcap_open()).
 *
 * THREADS
 *	A writer is used by one thread at a time.
 */
#ifndef MQTTSIM_PCAP_H
#define MQTTSIM_PCAP_H

#include <stddef.h>
#include <stdint.h>

#include "mqttsim/api.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MQTT_PCAP_MAX_CONNECTIONS 16384u

enum mqtt_pcap_direction {
	MQTT_PCAP_TO_BROKER,   /* client to broker */
	MQTT_PCAP_TO_CLIENT,   /* broker to client */
};

struct mqtt_pcap;

/* Creates (truncates) the file at path. errbuf (may be NULL) gets the
 * reason of a failure. */
MQTTSIM_API int mqtt_pcap_open(struct mqtt_pcap **out, const char *path, char *errbuf, size_t errcap);

/* Records one write of len bytes on connection conn at time_us
 * (microseconds since the epoch, or any origin). */
MQTTSIM_API int mqtt_pcap_write(struct mqtt_pcap *w, uint32_t conn, enum mqtt_pcap_direction dir,
                                uint64_t time_us, const void *data, size_t len);

/* Ends connection conn with FIN segments from both sides. A connection
 * never written to is left out. */
MQTTSIM_API int mqtt_pcap_end(struct mqtt_pcap *w, uint32_t conn, uint64_t time_us);

#define MQTT_PCAP_NO_CONNECTION UINT32_MAX

/* Appends an annotation to the sidecar: source (who: "faultproxy"),
 * event (what kind: "fault"), text (free form); conn, or
 * MQTT_PCAP_NO_CONNECTION. All strings are copied. */
MQTTSIM_API int mqtt_pcap_note(struct mqtt_pcap *w, uint32_t conn, uint64_t time_us,
                               const char *source, const char *event, const char *text);

/* The number of records written so far (the frame of the last one). */
MQTTSIM_API uint64_t mqtt_pcap_frames(const struct mqtt_pcap *w);

/* Flushes and closes the file and its sidecar; frees w. */
MQTTSIM_API int mqtt_pcap_close(struct mqtt_pcap *w);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_PCAP_H */
