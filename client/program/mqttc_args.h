/*
 * mqttc_args.h - the command line of mqttc, as the Go seed's flag package
 * reads it: -name value, -name=value, --name too; boolean flags alone or
 * as -name=true|false; the first argument that is no flag ends them.
 */
#ifndef MQTTC_ARGS_H
#define MQTTC_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQTTC_SUBSCRIBE_MAX 64

struct mqttc_args {
	const char *ca, *cert, *key, *client, *net, *pass, *prefix, *publish, *server, *suffix,
	        *user;
	const char *subscribe[MQTTC_SUBSCRIBE_MAX];
	int nsubscribe;
	uint64_t timeout_ms;
	int qos; /* -qos: the publish QoS (an extension; the seed publishes at most once) */
	bool quiet, quote, tls, topic, verbose, help;
	const char *address;
};

/*
 * Fills a from argv. Returns 0, or -1 with why (for "mqttc: WHY" and
 * exit status 2).
 */
int mqttc_parse_args(struct mqttc_args *a, int argc, char **argv, char *why, size_t cap);

/*
 * A Go duration ("4s", "250ms", "1m30s", "1.5h"; units ns us µs ms s m h)
 * in milliseconds, rounded up. Returns 0, or -1 when it is none.
 */
int mqttc_duration(const char *s, uint64_t *ms);

/*
 * Splits an address into host and port for tcp: "host:port",
 * "[v6]:port", ":port" (this machine), or a host alone (default_port).
 * Returns 0, -1 when it is malformed, or -2 when the port is no number
 * from 1 to 65535.
 */
int mqttc_host_port(const char *address, const char *default_port, char *host, size_t hostcap,
                    char *port, size_t portcap);

/*
 * Writes s (len bytes) as a Go %q string would show it: in double quotes,
 * with \a \b \f \n \r \t \v \\ \" escapes, \xNN for other control bytes
 * and bytes that are no UTF-8, \u00NN for C1 controls. Returns the length
 * written (up to cap - 1; out is terminated).
 */
size_t mqttc_quote(const uint8_t *s, size_t len, char *out, size_t cap);

#endif
