/*
 * mqttsim/client.h - the MQTT 3.1.1 client: blocking, thread-safe API
 * over the session core, with real transports.
 *
 * NAME
 *	mqtt_client_new, mqtt_client_read, mqtt_client_backoff,
 *	mqtt_client_publish, mqtt_client_subscribe, mqtt_client_unsubscribe,
 *	mqtt_client_ping, mqtt_client_disconnect, mqtt_client_close,
 *	mqtt_client_free, mqtt_exchange_wait, mqtt_exchange_release,
 *	mqtt_client_event_fd - the threaded client
 *
 * DESCRIPTION
 *	The client follows the Go seed (github.com/pascaldekloe/mqtt). One
 *	thread owns the read routine, mqtt_client_read(), which also runs
 *	the network: it dials, reconnects after the backoff the core
 *	decides, resends, pings and times out. Any thread may publish,
 *	subscribe, unsubscribe, ping, disconnect and close at the same
 *	time. Concurrent writers share system calls: whoever writes
 *	flushes everything queued so far (a group commit).
 *
 *	Errors are struct mqtt_error (mqttsim/error.h). For each call below,
 *	"not sent" classes leave nothing done; "unknown" classes mean the
 *	request went out and its outcome is not known.
 *
 * CANCELLATION
 *	Blocking calls take an optional struct mqtt_cancel (NULL: wait as
 *	long as it takes). mqtt_cancel_fire() from any thread ends the wait
 *	within 50 ms: with MQTT_CANCELED when the request was not sent,
 *	MQTT_ABANDONED when it was.
 *
 * THREADS
 *	Every call is thread-safe but mqtt_client_read(), which one thread
 *	calls consecutively until MQTT_CLOSED. No callback runs with a
 *	library lock held (there are no callbacks). mqtt_client_free() is
 *	called once, after every other call has returned.
 */
#ifndef MQTTSIM_CLIENT_H
#define MQTTSIM_CLIENT_H

#include <sys/types.h>

#include "mqttsim/session.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A connection. read and writev return what read(2) and writev(2) do,
 * -1 with errno set on failure (EAGAIN/ETIMEDOUT when a timeout
 * expired). fd is polled for input; pending() (may be NULL) tells of
 * input buffered above the descriptor (TLS).
 *
 * read_batch() (may be NULL) asks that fd poll readable only once at
 * least bytes of input are buffered, or at end of stream (1: any input),
 * and that a read then return without waiting for more: what
 * SO_RCVLOWAT does on a TCP socket. Returns 0, or -1 with errno set.
 * Only a connection whose poll(2) honours it may offer it (TCP does;
 * unix-domain sockets and TLS do not). The read routine uses it to take
 * a busy window's acknowledgements in batches; see mqtt_client_read().
 *
 * write_batch() (may be NULL) with on true lets small writes wait while
 * earlier output is unacknowledged, to go out together (Nagle's
 * algorithm: TCP_NODELAY off); with on false each write goes out at once
 * and anything held goes now. Returns 0, or -1 with errno set. A new
 * connection starts with it off. The read routine turns it on and off
 * with read_batch(), while a busy window's acknowledgements keep
 * arriving (and so release what is held).
 */
struct mqtt_conn_ops {
	ssize_t (*read)(void *self, void *buf, size_t len);
	ssize_t (*writev)(void *self, const struct iovec *iov, int iovcnt);
	int (*pending)(void *self);
	void (*close)(void *self);
	int (*read_batch)(void *self, int bytes);
	int (*write_batch)(void *self, bool on);
};

struct mqtt_conn {
	const struct mqtt_conn_ops *ops;
	void *self;
	int fd;
};

/*
 * A dialer opens a connection within timeout_ms (0: no limit). Returns
 * 0, a negative errno, or -(MQTT_IO_RESOLVE - EAI_...) when the host or
 * port did not resolve (getaddrinfo(3)); the read routine reports the
 * failure as MQTT_IO with the negated value as its code, so a caller
 * tells a name that does not resolve (MQTT_ERROR_UNRESOLVED(), in
 * mqttsim/error.h) from a broker that cannot be reached. Tests and the
 * fault transport supply their own; the library has TCP, unix-socket,
 * TLS and file-descriptor ones.
 */
struct mqtt_dialer {
	int (*dial)(void *arg, struct mqtt_conn *out, uint32_t timeout_ms);
	void (*free)(void *arg); /* may be NULL */
	void *arg;
};

/* TCP to host (name or address, IPv4 or IPv6) and port ("1883", or a
 * service name); both are resolved at each dial. */
MQTTSIM_API int mqtt_dialer_tcp(struct mqtt_dialer *out, const char *host, const char *port);
/* A unix-domain stream socket at path. */
MQTTSIM_API int mqtt_dialer_unix(struct mqtt_dialer *out, const char *path);
/* Hands out fd (already connected) on the first dial; later dials fail
 * with -ECONNREFUSED. For tests over socketpair(2). */
MQTTSIM_API int mqtt_dialer_fd(struct mqtt_dialer *out, int fd);

/*
 * TLS (OpenSSL). The peer's certificate chain and its host name are
 * verified by default: against ca_file and/or ca_dir when given, else
 * the system's trust store; the name checked (and sent as SNI) is
 * server_name when given, else host. cert_file and key_file (PEM) give
 * a client certificate. insecure_no_verify turns every check off; it is
 * for tests only.
 */
struct mqtt_tls_options {
	const char *ca_file, *ca_dir;
	const char *cert_file, *key_file;
	const char *server_name;
	bool insecure_no_verify;
};

/*
 * A TLS dialer to host:port. Certificates and keys are loaded here, so
 * that a bad file fails now: then the return is -EINVAL (or -ENOMEM)
 * and errbuf (when not NULL) says what failed. A dial whose handshake
 * or verification fails returns -ECONNREFUSED (-EPROTO for a failed
 * verification) and leaves the reason in the same errbuf, from the
 * dialing thread; so does a connection that fails later with a TLS
 * error (OpenSSL's reason), and one whose broker had asked for a client
 * certificate that was not given (TLS 1.3 brokers refuse it only after
 * the handshake), from the thread whose read or write failed. errbuf
 * must outlive the dialer (not a local of the function that made it),
 * and be read only after the read routine reported the failure.
 */
MQTTSIM_API int mqtt_dialer_tls(struct mqtt_dialer *out, const char *host, const char *port,
                                const struct mqtt_tls_options *opt, char *errbuf, size_t errcap);

/*
 * A cancel token; zero-initialise it, or use MQTT_CANCEL_INIT. Its field
 * is read and written atomically by mqtt_cancel_fire() and
 * mqtt_cancel_fired() only (a plain int, so that the header is C++ as
 * well as C: C11's atomic types are not C++'s); do not touch it.
 */
struct mqtt_cancel {
	int fired;
};
#define MQTT_CANCEL_INIT {0}
/* Fires c (NULL: nothing), from any thread; it stays fired. */
MQTTSIM_API void mqtt_cancel_fire(struct mqtt_cancel *c);
/* Whether c (not NULL) has fired. */
MQTTSIM_API bool mqtt_cancel_fired(const struct mqtt_cancel *c);

struct mqtt_client_config {
	struct mqtt_session_config session;
	struct mqtt_dialer dialer; /* the client owns it from mqtt_client_new() on */
};

struct mqtt_client;

/*
 * Creates a client, offline; the read routine makes the first dial.
 * Errors: those of mqtt_session_new(). On error the dialer is freed.
 */
MQTTSIM_API struct mqtt_error mqtt_client_new(struct mqtt_client **out,
                                              const struct mqtt_client_config *cfg,
                                              enum mqtt_session_mode mode,
                                              struct mqtt_store *store,
                                              void (*warn)(void *arg, const char *text),
                                              void *warn_arg);
/* Frees the client, closing it first. The dialer is freed too. */
MQTTSIM_API void mqtt_client_free(struct mqtt_client *c);

/*
 * The read routine: runs the connection and returns the next inbound
 * message. Its slices are valid until the next call, which also
 * acknowledges it. Errors:
 *   MQTT_CLOSED      the client is closed: stop calling;
 *   MQTT_DOWN        no connection; call mqtt_client_backoff() before
 *                    the next read;
 *   MQTT_REFUSED     the broker refused the connection (code 1-5);
 *   MQTT_BIG_MESSAGE with msg->topic set: a message larger than the
 *                    read buffer (code: its payload size; msg has its
 *                    topic and QoS). Read it with mqtt_client_read_all()
 *                    or read on to skip it; it is acknowledged either
 *                    way. Not a connection failure.
 *   MQTT_IO, MQTT_TIMEOUT, MQTT_PROTOCOL, MQTT_PERSISTENCE,
 *   MQTT_BIG_MESSAGE (no topic) the connection was lost for this
 *                    reason; the next reads reconnect after the backoff.
 *
 * Input in batches: while 64 or more QoS 1/2 exchanges are in flight
 * on a connection that offers read_batch() (TCP), the routine sleeps
 * until half of the bytes they owe (4 per acknowledgement, at most
 * 1 KiB) have arrived, but never more than 2 ms; after such a wait it
 * takes any input until its next read. So a busy window costs one
 * wake-up per hundreds of acknowledgements, not one each, and an
 * inbound message can wait up to 2 ms while the window is busy. A
 * stream of inbound messages (16 reads within 2 ms) is taken the same
 * way, in batches of half of what those reads brought (at most 16 KiB),
 * until a 2 ms wait misses. Otherwise every byte is taken as it comes.
 *
 * Output in batches: while input is batched, and during a burst of
 * writes (64 within 2 ms), on a connection that
 * offers write_batch() (TCP), small writes may wait for the
 * acknowledgement of earlier output and go out as one segment (Nagle's
 * algorithm); the broker's acknowledgements release them. When the
 * batching ends, or 2 ms after the last write of a burst, what is held
 * goes at once, and each write goes out as it is made.
 */
MQTTSIM_API struct mqtt_error mqtt_client_read(struct mqtt_client *c, struct mqtt_message *msg);

/*
 * The read routine for one thread that also publishes (an event loop, or
 * libmosquitto's mosquitto_loop() way): as mqtt_client_read(), but it
 * returns MQTT_CANCELED, nothing read and nothing lost, as soon as a QoS
 * 1 or 2 exchange progressed (see mqtt_exchange_state()) or after
 * wait_ms without a message; 0 takes only what is there. It counts as
 * the read routine: the same thread calls it and mqtt_client_read().
 */
MQTTSIM_API struct mqtt_error mqtt_client_read_wait(struct mqtt_client *c, struct mqtt_message *msg,
                                                    uint32_t wait_ms);

/*
 * After mqtt_client_read() reported MQTT_BIG_MESSAGE, reads that message
 * whole, as the seed's BigMessage.ReadAll: *payload gets a buffer from
 * malloc(3) that the caller frees, and msg the message (its payload in
 * that buffer, its topic valid until the next read). From the read
 * routine's thread only, before the next read. Errors: MQTT_DENY (no
 * big message waits), and those of mqtt_client_read() when the
 * connection goes first (*payload is NULL then; the broker resends).
 */
MQTTSIM_API struct mqtt_error mqtt_client_read_all(struct mqtt_client *c, struct mqtt_message *msg,
                                                   uint8_t **payload);

/* Waits until the backoff ends (the next dial is due), the client is
 * closed, or cancel fires. */
MQTTSIM_API void mqtt_client_backoff(struct mqtt_client *c, struct mqtt_cancel *cancel);

/* A QoS 1 or 2 exchange in progress. */
struct mqtt_exchange;

enum mqtt_exchange_state {
	MQTT_EXCHANGE_PENDING,  /* saved and queued; not acknowledged yet */
	MQTT_EXCHANGE_RELEASED, /* QoS 2: PUBREC received */
	MQTT_EXCHANGE_DONE,     /* acknowledged: PUBACK or PUBCOMP */
	MQTT_EXCHANGE_CLOSED,   /* the client closed first; ADOPT may finish it */
};

/*
 * Publishes at qos. QoS 0 blocks until the packet is written (or not).
 * QoS 1 and 2 return once the message is saved and queued; *ex (when
 * not NULL) then receives a handle to follow the exchange, to be
 * released with mqtt_exchange_release().
 *
 * Errors, "not sent": MQTT_CLOSED, MQTT_DENY, MQTT_MAX (QoS 1/2 window
 * full), MQTT_DOWN (QoS 0 while offline), MQTT_CANCELED,
 * MQTT_PERSISTENCE (QoS 1/2: the save failed, the message is dropped).
 * QoS 0 only, "unknown": MQTT_BREAK (the connection broke while
 * writing), MQTT_TIMEOUT (a timeout dropped it: the pause timeout on a
 * write that made no progress, as the seed's net.Error with Timeout).
 */
MQTTSIM_API struct mqtt_error mqtt_client_publish(struct mqtt_client *c, struct mqtt_cancel *cancel,
                                                  uint8_t qos, bool retain, struct mqtt_slice topic,
                                                  struct mqtt_slice payload,
                                                  struct mqtt_exchange **ex);

/*
 * Waits until the exchange reaches state at least want (RELEASED or
 * DONE), is closed, or cancel fires; returns its state.
 */
MQTTSIM_API enum mqtt_exchange_state mqtt_exchange_wait(struct mqtt_exchange *ex,
                                                        enum mqtt_exchange_state want,
                                                        struct mqtt_cancel *cancel);
MQTTSIM_API enum mqtt_exchange_state mqtt_exchange_state(struct mqtt_exchange *ex);
MQTTSIM_API uint16_t mqtt_exchange_id(const struct mqtt_exchange *ex);
/* Drops the handle; the exchange goes on. */
MQTTSIM_API void mqtt_exchange_release(struct mqtt_exchange *ex);

/*
 * A descriptor that polls readable when some exchange progressed, for
 * event loops: one per client, made on first call. Read it (8 bytes)
 * to reset it. Returns -1 with errno on failure.
 */
MQTTSIM_API int mqtt_client_event_fd(struct mqtt_client *c);

/*
 * Subscribes and waits for the SUBACK. Errors, "not sent": MQTT_CLOSED,
 * MQTT_DENY, MQTT_DOWN, MQTT_MAX, MQTT_CANCELED; "unknown": MQTT_BREAK
 * (the connection was lost), MQTT_TIMEOUT (it was dropped by a timeout:
 * the pause timeout, an unanswered PINGREQ, the acknowledgement timeout),
 * MQTT_ABANDONED; MQTT_SUBSCRIBE_FAILED when the broker failed a filter
 * (code: the index of the first).
 */
MQTTSIM_API struct mqtt_error mqtt_client_subscribe(struct mqtt_client *c, struct mqtt_cancel *cancel,
                                                    const struct mqtt_topic *filters, size_t n);
/*
 * The same, and codes (n bytes, caller's) gets the broker's answer for
 * each filter, in order: the QoS granted, or MQTT_SUBACK_FAILURE (0x80)
 * for every filter it failed - all of them, as the seed's SubscribeError
 * lists them, where the error's code names only the first. codes is
 * written only when the SUBACK came (success or MQTT_SUBSCRIBE_FAILED).
 */
MQTTSIM_API struct mqtt_error mqtt_client_subscribe_codes(struct mqtt_client *c,
                                                          struct mqtt_cancel *cancel,
                                                          const struct mqtt_topic *filters, size_t n,
                                                          uint8_t *codes);
MQTTSIM_API struct mqtt_error mqtt_client_unsubscribe(struct mqtt_client *c, struct mqtt_cancel *cancel,
                                                      const struct mqtt_topic *filters, size_t n);
/* A round trip. Errors as subscribe; MQTT_MAX when a ping is pending. */
MQTTSIM_API struct mqtt_error mqtt_client_ping(struct mqtt_client *c, struct mqtt_cancel *cancel);

/*
 * Sends DISCONNECT (the broker discards the will) and closes. The
 * client is closed whatever the result. Errors, as the seed's: "not
 * sent": MQTT_CLOSED (already), MQTT_CANCELED (cancel had fired: the
 * client closes without DISCONNECT, so the broker publishes the will),
 * MQTT_DOWN (offline: nothing to send it on); "unknown": MQTT_CANCELED
 * when cancel fired while the DISCONNECT was being written, MQTT_IO
 * (it may not have gone out).
 */
MQTTSIM_API struct mqtt_error mqtt_client_disconnect(struct mqtt_client *c, struct mqtt_cancel *cancel);
/* Closes without DISCONNECT (the broker publishes the will). */
MQTTSIM_API void mqtt_client_close(struct mqtt_client *c);

/* Online/offline signals: wait until the state is (or is not) online. */
MQTTSIM_API bool mqtt_client_wait_online(struct mqtt_client *c, struct mqtt_cancel *cancel);
MQTTSIM_API bool mqtt_client_wait_offline(struct mqtt_client *c, struct mqtt_cancel *cancel);
MQTTSIM_API bool mqtt_client_online(struct mqtt_client *c);

/*
 * QoS 1 and 2 exchanges not complete yet (no PUBACK or PUBCOMP), those
 * of an adopted session included: 0 means everything published has been
 * acknowledged, e.g. before a Disconnect that should lose nothing.
 */
MQTTSIM_API size_t mqtt_client_inflight(struct mqtt_client *c);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_CLIENT_H */
