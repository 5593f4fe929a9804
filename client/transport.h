/*
 * transport.h - the socket helpers of the client's dialers, shared with
 * the drivers of other parts that make connections of their own (the
 * fake broker's server, mqttsim replay). Not installed; part of the
 * client's interface to the other parts of mqttsim
 * (docs/architecture.md).
 */
#ifndef MQTTSIM_CLIENT_TRANSPORT_H
#define MQTTSIM_CLIENT_TRANSPORT_H

#include <openssl/bio.h>
#include <sys/socket.h>

#include "mqttsim/client.h"

/* A connection over a plain descriptor, which it closes. */
void transport_fd_conn(struct mqtt_conn *out, int fd);
/* The same over a TCP socket, whose input and output can go in batches
 * (TCP_NODELAY set: output batching starts off). */
void transport_tcp_conn(struct mqtt_conn *out, int fd);
/* connect(2) within timeout_ms (0: none); 0 or a negative errno. */
int transport_connect(int fd, const struct sockaddr *addr, socklen_t len, uint32_t timeout_ms);
/* A connected TCP socket to host:port in *out_fd; 0, a negative errno,
 * or -(MQTT_IO_RESOLVE - EAI_...) when host or port do not resolve
 * (mqttsim/error.h). */
int transport_tcp_connect(const char *host, const char *port, uint32_t timeout_ms, int *out_fd);
/*
 * A socket BIO that sends with MSG_NOSIGNAL (OpenSSL's own raises
 * SIGPIPE when the peer closed); its data is the descriptor, which it
 * does not close. The caller frees the method with BIO_meth_free().
 */
BIO_METHOD *transport_nosig_bio_method(void);

#endif
