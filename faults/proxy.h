/*
 * proxy.h - the fault link as a TCP proxy: any MQTT client and broker,
 * with a fault plan between them (the faultproxy program, and the
 * scenario runner in front of a broker or client under test).
 *
 * A proxy has one upstream (the broker) and one or more routes: a route
 * is a listening loopback socket with a fault plan and seed of its own
 * (one mqtt_fault_run), so its connections count packets and one-shot
 * faults over the route's whole life, reconnects included. Each accepted
 * connection gets a connection to the upstream and a link of its
 * route's run; bytes pass through the link both ways.
 *
 * The proxy runs in one thread, either the caller's (fault_proxy_run)
 * or its own (fault_proxy_start). Hooks are called from that thread,
 * with no lock of the proxy's held; they must not call back into it.
 */
#ifndef FAULTS_PROXY_H
#define FAULTS_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttsim/faults.h"
#include "mqttsim/pcap.h"

struct fault_proxy;

struct fault_proxy_hooks {
	/* A fault the link applied (or a mark it passed) on route's connection. */
	void (*report)(void *arg, int route, const struct mqtt_fault_report *r);
	/* The broker's leg, as the broker had it: MQTT_C2B what it received,
	 * MQTT_B2C what it sent (before any fault). conn counts the route's
	 * connections from 1; a connection's end comes as len 0. */
	void (*broker_bytes)(void *arg, int route, uint32_t conn, unsigned dir, const uint8_t *data,
	                     size_t len);
	/* The client's leg, as the client had it: MQTT_C2B what it sent,
	 * MQTT_B2C what reached it (past the faults). */
	void (*client_bytes)(void *arg, int route, uint32_t conn, unsigned dir, const uint8_t *data,
	                     size_t len);
	/* A connection of route was accepted (conn counts them from 1). */
	void (*accepted)(void *arg, int route, uint32_t conn);
	/* One line of news (connections accepted, closed, upstream errors), for -v. */
	void (*log)(void *arg, const char *line);
	void *arg;
	/* Captures, not owned, may be NULL: the client's leg as the client
	 * had it (past the faults) and the broker's leg. Connections are
	 * numbered over the whole proxy, every route's alike. */
	struct mqtt_pcap *client_leg, *broker_leg;
	/* Notes of applied faults go into the client leg's sidecar under this source name. */
	const char *source;
};

/*
 * Makes a proxy to upstream ("tcp://HOST:PORT", IPv6 as [ADDR],
 * "tls://HOST:PORT" (then fault_proxy_tls() before it runs), or "unix:PATH"). hooks is copied; NULL: none. Returns 0, or -1 with a
 * message in err (an address that does not parse or resolve, no memory).
 */
int fault_proxy_new(struct fault_proxy **out, const char *upstream,
                    const struct fault_proxy_hooks *hooks, char *err, size_t errcap);

/*
 * For a tls:// upstream: the broker's certificate chain is verified
 * against ca_file (PEM; NULL: the system's trust store) and its name
 * against HOST (sent as SNI too), as the threaded client's TLS does.
 * Call before the proxy runs; 0, or -1 with err (not tls://, a file that
 * does not load). A handshake that fails closes that connection (its
 * reason is logged); the client sees it end.
 */
int fault_proxy_tls(struct fault_proxy *p, const char *ca_file, char *err, size_t errcap);

/*
 * Adds a route: listens on listen ("tcp://HOST:PORT"; port 0 picks a
 * free one) with plan (copied) and seed. Writes where it listens as
 * "HOST:PORT" ("[ADDR]:PORT" for IPv6) to where. Returns the route's
 * index (from 0), or -1 with a message in err. Only before the proxy runs.
 */
int fault_proxy_route(struct fault_proxy *p, const char *listen, const struct mqtt_fault_plan *plan,
                      uint64_t seed, char *where, size_t wherecap, char *err, size_t errcap);

/* Runs the proxy in this thread until stop_fd becomes readable (its
 * data is not read). Returns 0, or -1 when the event loop failed. */
int fault_proxy_run(struct fault_proxy *p, int stop_fd);

/* Runs the proxy in a thread of its own; 0, or -1 (no thread). */
int fault_proxy_start(struct fault_proxy *p);

/* Stops the thread fault_proxy_start made, and waits for it. Idempotent. */
void fault_proxy_stop(struct fault_proxy *p);

/* Closes every connection and listener and frees p (stopping it first). NULL is ignored. */
void fault_proxy_free(struct fault_proxy *p);

#endif
