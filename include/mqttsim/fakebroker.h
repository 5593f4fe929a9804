/*
 * mqttsim/fakebroker.h - the fake broker served over real sockets, in
 * a thread of the calling process or in the calling thread.
 *
 * NAME
 *	mqtt_fakebroker_new, mqtt_fakebroker_listen, mqtt_fakebroker_adopt,
 *	mqtt_fakebroker_start, mqtt_fakebroker_run, mqtt_fakebroker_stop,
 *	mqtt_fakebroker_lock, mqtt_fakebroker_unlock, mqtt_fakebroker_free -
 *	a scriptable MQTT 3.1.1 broker for tests
 *
 * SYNOPSIS
 *	struct mqtt_fakebroker *fb;
 *	char where[128], err[256];
 *	mqtt_fakebroker_new(&fb, NULL, err, sizeof err);
 *	mqtt_fakebroker_listen(fb, "tcp://127.0.0.1:0", where, sizeof where,
 *	                       err, sizeof err);      // where: "tcp 127.0.0.1:41234"
 *	mqtt_fakebroker_start(fb);                    // serves from a thread
 *	struct mqtt_broker *b = mqtt_fakebroker_lock(fb);
 *	mqtt_broker_rule(b, "withhold b2c:PUBACK#2", err, sizeof err);
 *	mqtt_fakebroker_unlock(fb);
 *	...
 *	mqtt_fakebroker_free(fb);                     // stops and joins
 *
 * DESCRIPTION
 *	A driver of the broker core (mqttsim/broker.h): one thread, epoll,
 *	non-blocking sockets. Listeners are given as URLs:
 *	  tcp://HOST:PORT     IPv4 or a name; [::1] for IPv6; port 0 picks one
 *	  tls://HOST:PORT     the same with TLS (config tls_cert and tls_key)
 *	  unix:PATH           a unix stream socket (an old socket file is replaced)
 *	A connected stream socket, such as one end of a socketpair(2), is
 *	served with mqtt_fakebroker_adopt().
 *
 *	Every packet passes the core's rules and recording. With
 *	record_pcap, every read and write is also written to that pcap file
 *	(mqttsim/pcap.h): one TCP segment per real write, so a capture
 *	shows the segmentation the client saw. The core's log lines
 *	(connections, refusals, closes, rule actions) and the notes of
 *	mqtt_fakebroker_note() go to the capture's JSON-lines sidecar,
 *	FILE.jsonl, keyed by frame number.
 *
 * THREADS
 *	The core is guarded by a mutex. mqtt_fakebroker_lock() takes it and
 *	returns the core, on which any function of mqttsim/broker.h may be
 *	called; mqtt_fakebroker_unlock() releases it and wakes the serving
 *	thread so that what the calls queued is sent. Keep the lock short:
 *	the broker serves nobody while it is held. mqtt_fakebroker_stop() is
 *	safe from any thread and from a signal handler.
 *
 * ERRORS
 *	Functions returning int return 0, or an errno value with a sentence
 *	in err[0..errcap) when err is not NULL: EINVAL (a malformed URL, a
 *	TLS listener without a certificate), EADDRINUSE and the other
 *	errors of socket(2), bind(2) and listen(2), EIO (an OpenSSL failure,
 *	named), ENOMEM.
 */
#ifndef MQTTSIM_FAKEBROKER_H
#define MQTTSIM_FAKEBROKER_H

#include <stddef.h>

#include "mqttsim/api.h"
#include "mqttsim/broker.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mqtt_fakebroker;

struct mqtt_fakebroker_config {
	struct mqtt_broker_config broker;
	const char *record_pcap; /* a pcap file to write, or NULL */
	const char *tls_cert;    /* PEM certificate chain for tls:// listeners */
	const char *tls_key;     /* PEM private key */
	const char *tls_ca;      /* when set: client certificates are required and
	                            verified against these PEM CAs */
	/* Log lines (connections, refusals, closes, rule actions); no secrets. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
};

/* Creates a broker with no listener yet. cfg NULL for the defaults. */
MQTTSIM_API int mqtt_fakebroker_new(struct mqtt_fakebroker **out,
                                    const struct mqtt_fakebroker_config *cfg, char *err,
                                    size_t errcap);

/*
 * Adds a listener. where (when not NULL) gets what it bound, as
 * "tcp 127.0.0.1:PORT", "tls [::1]:PORT" or "unix PATH" - the words of
 * the standalone program's "listening" line. Before or after start.
 */
MQTTSIM_API int mqtt_fakebroker_listen(struct mqtt_fakebroker *fb, const char *url, char *where,
                                       size_t wherecap, char *err, size_t errcap);

/* Serves the connected stream socket fd, which the broker then owns. */
MQTTSIM_API int mqtt_fakebroker_adopt(struct mqtt_fakebroker *fb, int fd);

/* Serves from a new thread. EALREADY when serving already. */
MQTTSIM_API int mqtt_fakebroker_start(struct mqtt_fakebroker *fb);

/* Serves from the calling thread until mqtt_fakebroker_stop(). */
MQTTSIM_API int mqtt_fakebroker_run(struct mqtt_fakebroker *fb);

/* Asks the serving thread to stop (connections are closed, unclean). */
MQTTSIM_API void mqtt_fakebroker_stop(struct mqtt_fakebroker *fb);

MQTTSIM_API struct mqtt_broker *mqtt_fakebroker_lock(struct mqtt_fakebroker *fb);
MQTTSIM_API void mqtt_fakebroker_unlock(struct mqtt_fakebroker *fb);

/* Stops, joins a started thread, closes everything and frees fb. */
/* With record_pcap: appends text to the capture's JSON-lines sidecar
 * (mqtt_pcap_note(3); event "note"), for connection conn (0: none), from
 * source ("scenario", a test's name). Thread-safe. 0 without a capture;
 * -EINVAL for a NULL argument, -EIO when the sidecar cannot be written. */
MQTTSIM_API int mqtt_fakebroker_note(struct mqtt_fakebroker *fb, uint32_t conn, const char *source,
                                     const char *text);

MQTTSIM_API void mqtt_fakebroker_free(struct mqtt_fakebroker *fb);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_FAKEBROKER_H */
