/*
 * proxy.c - the fault link as a TCP proxy (see proxy.h). One thread,
 * epoll; a connection reads a side only while the link's queue toward
 * the other side is short, so a slow peer slows its sender as TCP would.
 */
#define _GNU_SOURCE /* accept4, eventfd */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mqttsim/fault_engine.h"
#include "proxy.h"

#define BACKLOG_MAX (4u << 20) /* queued bytes a side may have before we stop reading it */
#define CHUNK 65536
#define ROUTES_MAX 64

enum kind { K_LISTEN, K_STOP, K_CLIENT, K_UPSTREAM };

struct proxied;

struct end {
	enum kind kind;
	int fd;
	struct proxied *p;  /* K_CLIENT, K_UPSTREAM */
	int route;          /* K_LISTEN */
	uint32_t events;
	bool registered;
};

struct proxied {
	struct end client, upstream;
	int route;
	uint32_t conn;       /* the route's connection number, from 1 */
	uint32_t capture;    /* its number in the captures, over the proxy */
	bool connecting;     /* TCP connect, then (tls://) the handshake: upstream takes no data yet */
	SSL *ssl;            /* tls:// upstream */
	bool fin_sent[2];    /* [0] to upstream, [1] to client */
	bool read_done[2];   /* [0] client, [1] upstream */
	struct mqtt_fault_link *link;
	struct proxied *next;
	bool dead;
};

struct route {
	struct end listener;
	struct mqtt_fault_plan plan;
	struct mqtt_fault_run *run;
	bool passthrough;    /* an empty plan: bytes go straight through when nothing waits */
};

struct fault_proxy {
	struct fault_proxy_hooks hooks;
	struct sockaddr_storage upstream;
	socklen_t upstream_len;
	SSL_CTX *tls;              /* tls:// upstream: verified as the threaded client does */
	char tls_name[256];        /* the name checked, and sent as SNI */
	struct route routes[ROUTES_MAX];
	int nroutes;
	int epfd;
	struct proxied *conns, *graveyard;
	uint32_t captures;
	uint64_t started;
	int stop_fd;         /* fault_proxy_start's */
	pthread_t thread;
	bool running;
	uint8_t buf[CHUNK];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t now_ms(const struct fault_proxy *x)
{
	return mono_ms() - x->started;
}

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

__attribute__((format(printf, 2, 3)))
static void logf_(struct fault_proxy *x, const char *fmt, ...)
{
	if (!x->hooks.log)
		return;
	char line[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	x->hooks.log(x->hooks.arg, line);
}

/* "HOST:PORT" of a tcp:// address into host and port; false with err set. */
static bool split_tcp(const char *url, char *host, size_t hcap, char *port, size_t pcap, char *err,
                      size_t errcap)
{
	const char *hp = url + 6, *colon;
	if (*hp == '[') {
		const char *end = strchr(hp, ']');
		if (!end || end[1] != ':' || (size_t)(end - hp) > hcap) {
			snprintf(err, errcap, "expected tcp://[IPv6]:PORT, not %s", url);
			return false;
		}
		snprintf(host, hcap, "%.*s", (int)(end - hp - 1), hp + 1);
		colon = end + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon || colon == hp || (size_t)(colon - hp) >= hcap) {
			snprintf(err, errcap, "expected tcp://HOST:PORT, not %s", url);
			return false;
		}
		snprintf(host, hcap, "%.*s", (int)(colon - hp), hp);
	}
	if (!colon[1] || strlen(colon + 1) >= pcap || strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
		snprintf(err, errcap, "expected a port number in %s", url);
		return false;
	}
	snprintf(port, pcap, "%s", colon + 1);
	return true;
}

static int resolve(const char *url, bool passive, struct sockaddr_storage *ss, socklen_t *len,
                   char *err, size_t errcap)
{
	if (!strncmp(url, "unix:", 5) && !passive) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		if (!url[5] || strlen(url + 5) >= sizeof un->sun_path) {
			snprintf(err, errcap, "%s: expected unix:PATH (a path shorter than %zu bytes)", url,
			         sizeof un->sun_path);
			return -1;
		}
		memset(ss, 0, sizeof *ss);
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, url + 5);
		*len = (socklen_t)sizeof *un;
		return 0;
	}
	if (strncmp(url, "tcp://", 6) != 0 && (passive || strncmp(url, "tls://", 6) != 0)) {
		snprintf(err, errcap, "%s: expected tcp://HOST:PORT%s", url,
		         passive ? "" : ", tls://HOST:PORT or unix:PATH");
		return -1;
	}
	char host[256], port[16];
	if (!split_tcp(url, host, sizeof host, port, sizeof port, err, errcap))
		return -1;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = (passive ? AI_PASSIVE : 0) | AI_NUMERICSERV};
	struct addrinfo *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		snprintf(err, errcap, "%s: %s", url, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int fault_proxy_tls(struct fault_proxy *x, const char *ca_file, char *err, size_t errcap)
{
	if (!x->tls_name[0]) {
		snprintf(err, errcap, "the upstream is not tls://");
		return -1;
	}
	if (!(x->tls = SSL_CTX_new(TLS_client_method()))) {
		snprintf(err, errcap, "TLS: out of memory");
		return -1;
	}
	SSL_CTX_set_min_proto_version(x->tls, TLS1_2_VERSION);
	/* Partial writes, from a buffer that may have moved: the link's segments. */
	SSL_CTX_set_mode(x->tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(x->tls, SSL_VERIFY_PEER, NULL);
	if (ca_file ? SSL_CTX_load_verify_locations(x->tls, ca_file, NULL) != 1
	            : SSL_CTX_set_default_verify_paths(x->tls) != 1) {
		snprintf(err, errcap, "TLS: cannot load %s", ca_file ? ca_file : "the system's CAs");
		return -1;
	}
	return 0;
}

int fault_proxy_new(struct fault_proxy **out, const char *upstream,
                    const struct fault_proxy_hooks *hooks, char *err, size_t errcap)
{
	*out = NULL;
	struct fault_proxy *x = calloc(1, sizeof *x);
	if (!x) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	if (resolve(upstream, false, &x->upstream, &x->upstream_len, err, errcap) != 0) {
		free(x);
		return -1;
	}
	if (hooks)
		x->hooks = *hooks;
	if (!strncmp(upstream, "tls://", 6)) {
		/* The host of tls://HOST:PORT, without IPv6's brackets. */
		const char *h = upstream + 6, *colon = strrchr(h, ':');
		int len = (int)(colon - h);
		if (*h == '[')
			h++, len -= 2;
		snprintf(x->tls_name, sizeof x->tls_name, "%.*s", len, h);
	}
	x->stop_fd = -1;
	x->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (x->epfd < 0) {
		snprintf(err, errcap, "epoll: %s", strerror(errno));
		free(x);
		return -1;
	}
	x->started = mono_ms();
	*out = x;
	return 0;
}

static void watch(struct fault_proxy *x, struct end *e, uint32_t events)
{
	if (e->fd < 0 || (e->registered && e->events == events))
		return;
	struct epoll_event ev = {.events = events, .data.ptr = e};
	epoll_ctl(x->epfd, e->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, e->fd, &ev);
	e->registered = true;
	e->events = events;
}

int fault_proxy_route(struct fault_proxy *x, const char *listen_url, const struct mqtt_fault_plan *plan,
                      uint64_t seed, char *where, size_t wherecap, char *err, size_t errcap)
{
	if (x->nroutes == ROUTES_MAX) {
		snprintf(err, errcap, "at most %d routes", ROUTES_MAX);
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl;
	if (resolve(listen_url, true, &ss, &sl, err, errcap) != 0)
		return -1;
	struct route *r = &x->routes[x->nroutes];
	memset(r, 0, sizeof *r);
	for (size_t i = 0; plan && i < plan->n; i++)
		if (mqtt_fault_plan_add(&r->plan, &plan->faults[i], err, errcap) != 0) {
			mqtt_fault_plan_free(&r->plan);
			return -1;
		}
	int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (lfd >= 0)
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, sl) != 0 || listen(lfd, 1024) != 0) {
		snprintf(err, errcap, "%s: %s", listen_url, strerror(errno));
		if (lfd >= 0)
			close(lfd);
		mqtt_fault_plan_free(&r->plan);
		return -1;
	}
	if (mqtt_fault_run_new(&r->run, &r->plan, seed) != 0) {
		snprintf(err, errcap, "out of memory");
		close(lfd);
		mqtt_fault_plan_free(&r->plan);
		return -1;
	}
	r->passthrough = r->plan.n == 0;
	sl = sizeof ss;
	getsockname(lfd, (struct sockaddr *)&ss, &sl);
	char addr[INET6_ADDRSTRLEN] = "?";
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof addr);
		snprintf(where, wherecap, "[%s]:%u", addr, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, addr, sizeof addr);
		snprintf(where, wherecap, "%s:%u", addr, ntohs(a->sin_port));
	}
	r->listener = (struct end){.kind = K_LISTEN, .fd = lfd, .route = x->nroutes};
	watch(x, &r->listener, EPOLLIN);
	return x->nroutes++;
}

static void reports(struct fault_proxy *x, struct proxied *p)
{
	struct mqtt_fault_report r;
	while (mqtt_fault_link_report(p->link, &r)) {
		if (x->hooks.client_leg) {
			char line[200];
			mqtt_fault_report_format(&r, line, sizeof line);
			mqtt_pcap_note(x->hooks.client_leg, p->capture, wall_us(),
			               x->hooks.source ? x->hooks.source : "faultproxy", "fault", line);
		}
		if (x->hooks.report)
			x->hooks.report(x->hooks.arg, p->route, &r);
	}
}

/* Bytes on the broker's leg: to its capture and hook. */
static void broker_leg(struct fault_proxy *x, struct proxied *p, unsigned dir, const uint8_t *b,
                       size_t n)
{
	if (x->hooks.broker_leg && n)
		mqtt_pcap_write(x->hooks.broker_leg, p->capture,
		                dir == MQTT_C2B ? MQTT_PCAP_TO_BROKER : MQTT_PCAP_TO_CLIENT, wall_us(), b, n);
	if (x->hooks.broker_bytes)
		x->hooks.broker_bytes(x->hooks.arg, p->route, p->conn, dir, b, n);
}

static void client_leg(struct fault_proxy *x, struct proxied *p, unsigned dir, const uint8_t *b,
                       size_t n)
{
	if (x->hooks.client_leg)
		mqtt_pcap_write(x->hooks.client_leg, p->capture,
		                dir == MQTT_C2B ? MQTT_PCAP_TO_BROKER : MQTT_PCAP_TO_CLIENT, wall_us(), b, n);
	if (x->hooks.client_bytes && n)
		x->hooks.client_bytes(x->hooks.arg, p->route, p->conn, dir, b, n);
}

static void finish(struct fault_proxy *x, struct proxied *p, bool reset)
{
	if (p->dead)
		return;
	p->dead = true;
	reports(x, p);
	logf_(x, "connection %u closed%s", p->capture, reset ? " (reset)" : "");
	if (p->ssl) {
		SSL_free(p->ssl); /* no close_notify: the link decides how the stream ends */
		p->ssl = NULL;
	}
	struct end *ends[2] = {&p->client, &p->upstream};
	for (int i = 0; i < 2; i++) {
		if (ends[i]->fd < 0)
			continue;
		if (reset) {
			struct linger lg = {1, 0}; /* close sends RST */
			setsockopt(ends[i]->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		}
		epoll_ctl(x->epfd, EPOLL_CTL_DEL, ends[i]->fd, NULL);
		close(ends[i]->fd);
		ends[i]->fd = -1;
	}
	if (x->hooks.client_leg)
		mqtt_pcap_end(x->hooks.client_leg, p->capture, wall_us());
	if (x->hooks.broker_leg)
		mqtt_pcap_end(x->hooks.broker_leg, p->capture, wall_us());
	if (x->hooks.broker_bytes)
		x->hooks.broker_bytes(x->hooks.arg, p->route, p->conn, MQTT_C2B, NULL, 0);
	for (struct proxied **pp = &x->conns; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	p->next = x->graveyard; /* freed after this batch of events */
	x->graveyard = p;
}

/* A write toward dir's destination, through TLS on a tls:// upstream:
 * bytes taken, or -1 with errno (EAGAIN: try again when writable). */
static ssize_t put(struct proxied *p, unsigned dir, const void *data, size_t n)
{
	if (dir == MQTT_B2C || !p->ssl)
		return send(dir == MQTT_C2B ? p->upstream.fd : p->client.fd, data, n, MSG_NOSIGNAL);
	int w = SSL_write(p->ssl, data, (int)(n > INT32_MAX ? INT32_MAX : n));
	if (w > 0)
		return w;
	int e = SSL_get_error(p->ssl, w);
	errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : EPIPE;
	return -1;
}

/* Delivers what is due in dir to its destination; false when p ended. */
static bool deliver(struct fault_proxy *x, struct proxied *p, unsigned dir, uint64_t now)
{
	struct end *dst = dir == MQTT_C2B ? &p->upstream : &p->client;
	int side = dir == MQTT_C2B ? 0 : 1;
	if (mqtt_fault_link_state(p->link, dir, now) == MQTT_LINK_RESET) {
		finish(x, p, true);
		return false;
	}
	if (dir == MQTT_C2B && p->connecting)
		return true;
	const uint8_t *data;
	size_t n;
	bool blocked = false;
	/* One write per segment: partial writes reach the peer as such. */
	while ((n = mqtt_fault_link_peek(p->link, dir, now, &data)) > 0) {
		ssize_t w = put(p, dir, data, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				blocked = true;
				break;
			}
			finish(x, p, true);
			return false;
		}
		if (dir == MQTT_C2B)
			broker_leg(x, p, dir, data, (size_t)w);
		else
			client_leg(x, p, dir, data, (size_t)w);
		mqtt_fault_link_consume(p->link, dir, (size_t)w);
	}
	if (!p->fin_sent[side] && mqtt_fault_link_state(p->link, dir, now) == MQTT_LINK_EOF) {
		shutdown(dst->fd, SHUT_WR);
		p->fin_sent[side] = true;
	}
	if (p->fin_sent[0] && p->fin_sent[1]) {
		finish(x, p, false);
		return false;
	}
	/* Read a source only while its destination keeps up. */
	struct end *src = dir == MQTT_C2B ? &p->client : &p->upstream;
	bool want_read = !p->read_done[side] && mqtt_fault_link_queued(p->link, dir) < BACKLOG_MAX;
	uint32_t src_ev = (src->events & EPOLLOUT) | (want_read ? EPOLLIN : 0);
	watch(x, src, src_ev);
	watch(x, dst, (dst->events & EPOLLIN) | (blocked ? EPOLLOUT : 0));
	return true;
}

static void pump(struct fault_proxy *x, struct proxied *p, uint64_t now)
{
	if (deliver(x, p, MQTT_C2B, now) && deliver(x, p, MQTT_B2C, now))
		reports(x, p);
}

/* Reads from one end into the link. */
static void ingest(struct fault_proxy *x, struct proxied *p, struct end *src, uint64_t now)
{
	unsigned dir = src->kind == K_CLIENT ? MQTT_C2B : MQTT_B2C;
	int side = dir == MQTT_C2B ? 0 : 1;
	ssize_t n;
	if (src->kind == K_UPSTREAM && p->ssl) {
		int r = SSL_read(p->ssl, x->buf, (int)sizeof x->buf);
		n = r;
		if (r <= 0) {
			int e = SSL_get_error(p->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			n = e == SSL_ERROR_ZERO_RETURN ? 0 : -1; /* close_notify, or a broken stream */
			ERR_clear_error();
		}
	} else {
		n = recv(src->fd, x->buf, sizeof x->buf, 0);
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		mqtt_fault_link_shutdown(p->link, dir, now, n < 0);
		p->read_done[side] = true;
		watch(x, src, src->events & ~(uint32_t)EPOLLIN);
		return;
	}
	if (dir == MQTT_B2C)
		broker_leg(x, p, dir, x->buf, (size_t)n);
	else
		client_leg(x, p, dir, x->buf, (size_t)n);
	size_t off = 0;
	if (x->routes[p->route].passthrough && !mqtt_fault_link_queued(p->link, dir) &&
	    !(dir == MQTT_C2B && p->connecting)) {
		/* Nothing to apply and nothing waiting: send from the read buffer;
		 * only what the socket does not take goes through the link. */
		ssize_t w = put(p, dir, x->buf, (size_t)n);
		if (w > 0) {
			if (dir == MQTT_C2B)
				broker_leg(x, p, dir, x->buf, (size_t)w);
			else
				client_leg(x, p, dir, x->buf, (size_t)w);
			off = (size_t)w;
		}
	}
	while (off < (size_t)n) {
		size_t room = mqtt_fault_link_room(p->link, dir, now, (size_t)n - off);
		if (!room)
			break; /* the link no longer takes data this way: lost */
		off += mqtt_fault_link_write(p->link, dir, now, x->buf + off, room);
	}
}

static bool start_tls(struct fault_proxy *x, struct proxied *p);
static bool handshake(struct fault_proxy *x, struct proxied *p);

static void accept_all(struct fault_proxy *x, struct route *r)
{
	for (;;) {
		int cfd = accept4(r->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		int ufd = socket(x->upstream.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct proxied *p = calloc(1, sizeof *p);
		if (ufd < 0 || !p || mqtt_fault_link_new(&p->link, r->run, now_ms(x)) != 0) {
			if (ufd >= 0)
				close(ufd);
			close(cfd);
			free(p);
			continue;
		}
		int one = 1;
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (x->upstream.ss_family != AF_UNIX)
			setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		p->route = r->listener.route;
		p->conn = mqtt_fault_link_number(p->link);
		p->capture = ++x->captures;
		p->client = (struct end){.kind = K_CLIENT, .fd = cfd, .p = p};
		p->upstream = (struct end){.kind = K_UPSTREAM, .fd = ufd, .p = p};
		int rc = connect(ufd, (struct sockaddr *)&x->upstream, x->upstream_len);
		p->connecting = (rc != 0 && errno == EINPROGRESS) || x->tls;
		p->next = x->conns;
		x->conns = p;
		logf_(x, "connection %u accepted", p->capture);
		if (x->hooks.accepted)
			x->hooks.accepted(x->hooks.arg, p->route, p->conn);
		if (rc != 0 && errno != EINPROGRESS) {
			logf_(x, "connection %u: upstream: %s", p->capture, strerror(errno));
			finish(x, p, false);
			continue;
		}
		watch(x, &p->client, EPOLLIN);
		watch(x, &p->upstream, p->connecting ? EPOLLOUT : EPOLLIN);
		if (rc == 0 && x->tls && (!start_tls(x, p) || !handshake(x, p)))
			continue;
		pump(x, p, now_ms(x));
	}
}

/* The TCP connection to a tls:// upstream is up: the handshake starts. */
static bool start_tls(struct fault_proxy *x, struct proxied *p)
{
	if (!(p->ssl = SSL_new(x->tls)) || SSL_set_fd(p->ssl, p->upstream.fd) != 1 ||
	    SSL_set_tlsext_host_name(p->ssl, x->tls_name) != 1 || SSL_set1_host(p->ssl, x->tls_name) != 1) {
		logf_(x, "connection %u: upstream: TLS: out of memory", p->capture);
		finish(x, p, false);
		return false;
	}
	SSL_set_connect_state(p->ssl);
	return true;
}

/* One step of the handshake; false when it failed (p ended). */
static bool handshake(struct fault_proxy *x, struct proxied *p)
{
	int r = SSL_do_handshake(p->ssl);
	if (r == 1) {
		p->connecting = false;
		return true;
	}
	int e = SSL_get_error(p->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		watch(x, &p->upstream, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
		return true;
	}
	long v = SSL_get_verify_result(p->ssl);
	char why[256];
	if (v != X509_V_OK)
		snprintf(why, sizeof why, "certificate verification failed: %s",
		         X509_verify_cert_error_string(v));
	else
		ERR_error_string_n(ERR_get_error(), why, sizeof why);
	ERR_clear_error();
	logf_(x, "connection %u: upstream: TLS: %s", p->capture, why);
	finish(x, p, false);
	return false;
}

static void on_event(struct fault_proxy *x, struct end *e, uint32_t events, uint64_t now)
{
	struct proxied *p = e->p;
	if (p->dead)
		return;
	if (e->kind == K_UPSTREAM && p->connecting) {
		if (!p->ssl) {
			int err = 0;
			socklen_t len = sizeof err;
			getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err) {
				logf_(x, "connection %u: upstream: %s", p->capture, strerror(err));
				finish(x, p, false);
				return;
			}
			if (!x->tls)
				p->connecting = false; /* plain TCP: up */
			else if (!start_tls(x, p))
				return;
		}
		if (p->ssl && !handshake(x, p))
			return;
		if (p->connecting)
			return; /* the handshake goes on */
		watch(x, e, EPOLLIN);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ingest(x, p, e, now);
		/* TLS may hold decrypted bytes the socket no longer signals. */
		while (!p->dead && e->kind == K_UPSTREAM && p->ssl && SSL_pending(p->ssl) > 0 &&
		       mqtt_fault_link_queued(p->link, MQTT_B2C) < BACKLOG_MAX)
			ingest(x, p, e, now);
	}
	if (!p->dead)
		pump(x, p, now);
}

static void bury(struct fault_proxy *x)
{
	while (x->graveyard) {
		struct proxied *p = x->graveyard;
		x->graveyard = p->next;
		mqtt_fault_link_free(p->link);
		free(p);
	}
}

int fault_proxy_run(struct fault_proxy *x, int stop_fd)
{
	struct end stop = {.kind = K_STOP, .fd = stop_fd};
	watch(x, &stop, EPOLLIN);
	struct epoll_event evs[64];
	int rc = 0;
	for (bool done = false; !done;) {
		uint64_t now = now_ms(x), next = UINT64_MAX;
		for (struct proxied *p = x->conns; p; p = p->next) {
			uint64_t t = mqtt_fault_link_next(p->link, now);
			if (t < next)
				next = t;
		}
		int timeout = next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now);
		int n = epoll_wait(x->epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			rc = -1;
			break;
		}
		now = now_ms(x);
		for (int i = 0; i < n; i++) {
			struct end *e = evs[i].data.ptr;
			if (e->kind == K_STOP)
				done = true;
			else if (e->kind == K_LISTEN)
				accept_all(x, &x->routes[e->route]);
			else
				on_event(x, e, evs[i].events, now);
		}
		/* Timers: what became due. */
		for (struct proxied *p = x->conns, *nx; p; p = nx) {
			nx = p->next;
			pump(x, p, now);
		}
		bury(x);
	}
	epoll_ctl(x->epfd, EPOLL_CTL_DEL, stop_fd, NULL);
	return rc;
}

static void *thread_main(void *arg)
{
	struct fault_proxy *x = arg;
	fault_proxy_run(x, x->stop_fd);
	return NULL;
}

int fault_proxy_start(struct fault_proxy *x)
{
	if (x->running)
		return 0;
	if (x->stop_fd < 0 && (x->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -1;
	if (pthread_create(&x->thread, NULL, thread_main, x) != 0)
		return -1;
	x->running = true;
	return 0;
}

void fault_proxy_stop(struct fault_proxy *x)
{
	if (!x || !x->running)
		return;
	uint64_t one = 1;
	ssize_t w = write(x->stop_fd, &one, sizeof one);
	(void)w;
	pthread_join(x->thread, NULL);
	x->running = false;
}

void fault_proxy_free(struct fault_proxy *x)
{
	if (!x)
		return;
	fault_proxy_stop(x);
	while (x->conns)
		finish(x, x->conns, false);
	bury(x);
	for (int i = 0; i < x->nroutes; i++) {
		close(x->routes[i].listener.fd);
		mqtt_fault_run_free(x->routes[i].run);
		mqtt_fault_plan_free(&x->routes[i].plan);
	}
	if (x->stop_fd >= 0)
		close(x->stop_fd);
	SSL_CTX_free(x->tls);
	close(x->epfd);
	free(x);
}
