/*
 * transport_plain.c - dialers for plain connections: TCP (IPv4/IPv6,
 * host names), unix-domain sockets, and a pre-connected descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mqttsim/client.h"
#include "transport.h"

static ssize_t fd_read(void *self, void *buf, size_t len)
{
	return read((int)(intptr_t)self, buf, len);
}

/* sendmsg with MSG_NOSIGNAL: a peer that closed must give EPIPE, never
 * a SIGPIPE that kills the application. One buffer goes with send(2),
 * which spares the kernel copying in a message header and a vector. */
static ssize_t fd_writev(void *self, const struct iovec *iov, int iovcnt)
{
	if (iovcnt == 1)
		return send((int)(intptr_t)self, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
	struct msghdr m;
	memset(&m, 0, sizeof m);
	m.msg_iov = (struct iovec *)(uintptr_t)iov;
	m.msg_iovlen = (size_t)iovcnt;
	return sendmsg((int)(intptr_t)self, &m, MSG_NOSIGNAL);
}

static void fd_close(void *self)
{
	close((int)(intptr_t)self);
}

/* TCP's poll(2) honours the receive low-water mark; a unix-domain
 * socket's does not (its reads would wait for the mark instead). */
static int tcp_read_batch(void *self, int bytes)
{
	return setsockopt((int)(intptr_t)self, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes);
}

/* Setting TCP_NODELAY also sends what Nagle's algorithm held [tcp(7)]. */
static int tcp_write_batch(void *self, bool on)
{
	int nodelay = !on;
	return setsockopt((int)(intptr_t)self, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
}

static const struct mqtt_conn_ops fd_ops = {fd_read, fd_writev, NULL, fd_close, NULL, NULL};
static const struct mqtt_conn_ops tcp_ops = {fd_read, fd_writev, NULL, fd_close, tcp_read_batch, tcp_write_batch};

void transport_fd_conn(struct mqtt_conn *out, int fd)
{
	out->ops = &fd_ops;
	out->self = (void *)(intptr_t)fd;
	out->fd = fd;
}

void transport_tcp_conn(struct mqtt_conn *out, int fd)
{
	transport_fd_conn(out, fd);
	out->ops = &tcp_ops;
	tcp_write_batch(out->self, false); /* as write_batch() promises a new connection */
}

/* connect(2) with a timeout: non-blocking, then poll for completion. */
int transport_connect(int fd, const struct sockaddr *addr, socklen_t len, uint32_t timeout_ms)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	int rc = connect(fd, addr, len);
	if (rc < 0 && errno != EINPROGRESS)
		return -errno;
	if (rc < 0) {
		struct pollfd p = {fd, POLLOUT, 0};
		int n;
		do
			n = poll(&p, 1, timeout_ms ? (int)timeout_ms : -1);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		int err = 0;
		socklen_t elen = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return -errno;
		if (err)
			return -err;
	}
	return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

struct tcp_target {
	char *host, *port;
};

int transport_tcp_connect(const char *host, const char *port, uint32_t timeout_ms, int *out_fd)
{
	struct addrinfo hints, *res;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int g = getaddrinfo(host, port, &hints, &res);
	if (g) /* the name or the port did not resolve: said as such (mqttsim/error.h) */
		return g == EAI_SYSTEM ? -errno : -(MQTT_IO_RESOLVE - g);
	int rc = -EHOSTUNREACH;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		rc = transport_connect(fd, a->ai_addr, a->ai_addrlen, timeout_ms);
		if (rc == 0) {
			/* Latency over coalescing: the client batches writes itself. */
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			*out_fd = fd;
			break;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

static int tcp_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	struct tcp_target *t = arg;
	int fd;
	int rc = transport_tcp_connect(t->host, t->port, timeout_ms, &fd);
	if (rc == 0)
		transport_tcp_conn(out, fd);
	return rc;
}

static void tcp_free(void *arg)
{
	struct tcp_target *t = arg;
	free(t->host);
	free(t->port);
	free(t);
}

int mqtt_dialer_tcp(struct mqtt_dialer *out, const char *host, const char *port)
{
	if (!out || !host || !port)
		return -EINVAL;
	struct tcp_target *t = calloc(1, sizeof *t);
	if (!t || !(t->host = strdup(host)) || !(t->port = strdup(port))) {
		if (t)
			tcp_free(t);
		return -ENOMEM;
	}
	out->dial = tcp_dial;
	out->free = tcp_free;
	out->arg = t;
	return 0;
}

static int unix_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	const struct sockaddr_un *addr = arg;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = transport_connect(fd, (const struct sockaddr *)addr, sizeof *addr, timeout_ms);
	if (rc) {
		close(fd);
		return rc;
	}
	transport_fd_conn(out, fd);
	return 0;
}

int mqtt_dialer_unix(struct mqtt_dialer *out, const char *path)
{
	if (!out || !path)
		return -EINVAL;
	struct sockaddr_un *addr = calloc(1, sizeof *addr);
	if (!addr)
		return -ENOMEM;
	if (strlen(path) >= sizeof addr->sun_path) {
		free(addr);
		return -ENAMETOOLONG;
	}
	addr->sun_family = AF_UNIX;
	strcpy(addr->sun_path, path);
	out->dial = unix_dial;
	out->free = free;
	out->arg = addr;
	return 0;
}

struct fd_once {
	int fd; /* -1 once handed out */
};

static int once_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	(void)timeout_ms;
	struct fd_once *o = arg;
	if (o->fd < 0)
		return -ECONNREFUSED;
	transport_fd_conn(out, o->fd);
	o->fd = -1;
	return 0;
}

static void once_free(void *arg)
{
	struct fd_once *o = arg;
	if (o->fd >= 0)
		close(o->fd);
	free(o);
}

int mqtt_dialer_fd(struct mqtt_dialer *out, int fd)
{
	if (!out || fd < 0)
		return -EINVAL;
	struct fd_once *o = malloc(sizeof *o);
	if (!o)
		return -ENOMEM;
	o->fd = fd;
	out->dial = once_dial;
	out->free = once_free;
	out->arg = o;
	return 0;
}
