/*
 * mqttsim/error.h - the one error type of the client.
 *
 * Every failure of a client call belongs to exactly one class, the Go
 * seed's taxonomy plus the three it folds into plain errors (I/O,
 * protocol violation, persistence). What a class means for a request
 * ("not sent" or "result unknown") is given by mqtt_error_not_sent()
 * and mqtt_error_unknown(), and, per call, in mqttsim/session.h.
 */
#ifndef MQTTSIM_ERROR_H
#define MQTTSIM_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#include "mqttsim/api.h"

#ifdef __cplusplus
extern "C" {
#endif

enum mqtt_class {
	MQTT_SUCCESS = 0,
	MQTT_CLOSED,       /* use after close or disconnect; permanent */
	MQTT_DOWN,         /* no connection now; clears when a reconnect succeeds */
	MQTT_MAX,          /* in-flight window full; nothing done, try later */
	MQTT_CANCELED,     /* canceled before submission; nothing sent */
	MQTT_ABANDONED,    /* canceled after submission; result unknown */
	MQTT_BREAK,        /* connection lost after submission; result unknown */
	MQTT_DENY,         /* invalid request; permanent; code: enum mqtt_err */
	MQTT_REFUSED,      /* CONNACK refusal; code: return code 1 to 5 */
	MQTT_SUBSCRIBE_FAILED, /* the broker failed one or more filters (SUBACK 0x80) */
	MQTT_BIG_MESSAGE,  /* inbound message larger than the read buffer; code: its size */
	MQTT_TIMEOUT,      /* PauseTimeout, keep-alive or acknowledgement timeout */
	MQTT_IO,           /* transport failure; code: errno, or MQTT_IO_RESOLVE + ... */
	MQTT_PROTOCOL,     /* the broker broke the protocol; code: enum mqtt_err or enum mqtt_violation */
	MQTT_PERSISTENCE,  /* the store failed; code: errno */
};

/*
 * Protocol violations no single packet shows, only the session
 * (codes of MQTT_PROTOCOL at and above MQTT_VIOLATION_BASE; below it,
 * the code is the codec's enum mqtt_err).
 */
enum mqtt_violation {
	MQTT_VIOLATION_BASE = 100,
	MQTT_V_NOT_CONNACK_FIRST = 100, /* MQTT-3.2.0-1 */
	MQTT_V_SECOND_CONNACK,          /* a CONNACK after the first */
	MQTT_V_SERVER_ONLY_PACKET,      /* CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ or DISCONNECT from a server */
	MQTT_V_UNKNOWN_PACKET_ID,       /* an ack for no request of ours [MQTT-2.3.1-6, -7] */
	MQTT_V_SUBACK_COUNT,            /* SUBACK codes differ in number from the filters [MQTT-3.8.4-5] */
	MQTT_V_UNEXPECTED_PINGRESP,     /* PINGRESP without PINGREQ */
};

struct mqtt_error {
	enum mqtt_class cls;
	int code; /* see each class */
};

/*
 * The codes of MQTT_IO from MQTT_IO_RESOLVE on are no errno: the broker's
 * host name (or service) did not resolve. code - MQTT_IO_RESOLVE is the
 * getaddrinfo(3) error negated: gai_strerror(MQTT_IO_RESOLVE - code) says
 * why, and MQTT_IO_RESOLVE - EAI_AGAIN is a temporary failure. A dialer
 * reports one by returning -code.
 */
#define MQTT_IO_RESOLVE 0x10000
#define MQTT_ERROR_UNRESOLVED(err) ((err).cls == MQTT_IO && (err).code >= MQTT_IO_RESOLVE)

/* Whether err means the request was never sent (safe to retry as new). */
MQTTSIM_API bool mqtt_error_not_sent(struct mqtt_error err);
/* Whether err leaves the outcome of a sent request unknown. */
MQTTSIM_API bool mqtt_error_unknown(struct mqtt_error err);
/* A sentence for err, written to buf (cap bytes); returns buf. */
MQTTSIM_API const char *mqtt_error_text(struct mqtt_error err, char *buf, size_t cap);
/* The name of a class: "closed", "down", ... */
MQTTSIM_API const char *mqtt_class_name(enum mqtt_class cls);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_ERROR_H */
