/*
 * server.c - the fake broker's socket driver (see mqttsim/fakebroker.h):
 * one thread, epoll, non-blocking plain, TLS and unix sockets around
 * the sans-I/O core.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/fakebroker.h"
#include "mqttsim/pcap.h"
#include "client/transport.h"

#define READ_CHUNK 65536
#define READS_PER_EVENT 16  /* then other connections get their turn */
#define ACCEPT_PAUSE_MS 100 /* out of descriptors: try accepting again after */

enum kind { K_WAKE, K_LISTENER, K_CONN };

struct item {
	enum kind kind;
};

struct listener {
	struct item it;
	int fd;
	bool tls;
	bool paused;
	char *unix_path; /* removed at the end */
	struct listener *next;
};

struct fconn {
	struct item it;
	int fd;
	SSL *ssl;
	bool handshaking;
	bool dead;
	uint32_t events;
	struct mqtt_bconn *bc;
	struct fconn *prev, *next;
};

struct mqtt_fakebroker {
	pthread_mutex_t lock;
	struct mqtt_broker *b;
	int epfd, wakefd;
	struct item wake_item;
	struct listener *listeners;
	struct fconn *conns, *graveyard;
	SSL_CTX *tls;
	BIO_METHOD *bio;
	struct mqtt_pcap *pcap;
	bool pcap_failed;
	pthread_t thread;
	bool started, serving;
	atomic_bool stopping;
	uint64_t accept_resume; /* when paused listeners listen again */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	uint8_t readbuf[READ_CHUNK];
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int fail(char *err, size_t cap, int code, const char *fmt, const char *arg)
{
	if (err && cap) {
		char what[512];
		snprintf(what, sizeof what, "%s: %s", fmt, arg);
		if (code == EIO) {
			unsigned long e = ERR_get_error();
			char reason[256] = "";
			if (e)
				ERR_error_string_n(e, reason, sizeof reason);
			snprintf(err, cap, "%s%s%s", what, *reason ? ": " : "", reason);
		} else {
			snprintf(err, cap, "%s (%s)", what, strerror(code));
		}
	}
	ERR_clear_error();
	return code;
}

static void logf_(struct mqtt_fakebroker *fb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct mqtt_fakebroker *fb, const char *fmt, ...)
{
	if (!fb->log)
		return;
	char line[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fb->log(fb->log_arg, line);
}

static void core_log(void *arg, uint32_t conn, const char *line)
{
	struct mqtt_fakebroker *fb = arg;
	/* Called with the lock held, as everything that writes the capture. */
	if (fb->pcap)
		mqtt_pcap_note(fb->pcap, conn ? conn : MQTT_PCAP_NO_CONNECTION, wall_us(), "fakebroker",
		               "log", line);
	if (conn)
		logf_(fb, "conn %u: %s", conn, line);
	else
		logf_(fb, "%s", line);
}

int mqtt_fakebroker_new(struct mqtt_fakebroker **out, const struct mqtt_fakebroker_config *cfg,
                        char *err, size_t errcap)
{
	*out = NULL;
	struct mqtt_fakebroker_config c = cfg ? *cfg : (struct mqtt_fakebroker_config){0};
	struct mqtt_fakebroker *fb = calloc(1, sizeof *fb);
	if (!fb)
		return fail(err, errcap, ENOMEM, "fake broker", "allocation");
	fb->epfd = fb->wakefd = -1;
	int rc = mqtt_broker_new(&fb->b, &c.broker);
	if (rc) {
		free(fb);
		return fail(err, errcap, rc, "broker core", "configuration");
	}
	pthread_mutex_init(&fb->lock, NULL);
	fb->log = c.log;
	fb->log_arg = c.log_arg;
	if (c.log || c.record_pcap)
		mqtt_broker_set_log(fb->b, core_log, fb); /* the log, and the capture's sidecar */
	fb->epfd = epoll_create1(EPOLL_CLOEXEC);
	fb->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fb->epfd < 0 || fb->wakefd < 0) {
		rc = fail(err, errcap, errno, "fake broker", "epoll");
		goto fail;
	}
	fb->wake_item.kind = K_WAKE;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &fb->wake_item};
	epoll_ctl(fb->epfd, EPOLL_CTL_ADD, fb->wakefd, &ev);
	if (c.tls_cert || c.tls_key || c.tls_ca) {
		if (!c.tls_cert || !c.tls_key) {
			rc = fail(err, errcap, EINVAL, "TLS", "a certificate needs its key and a key its certificate");
			goto fail;
		}
		fb->tls = SSL_CTX_new(TLS_server_method());
		fb->bio = transport_nosig_bio_method();
		if (!fb->tls || !fb->bio) {
			rc = fail(err, errcap, EIO, "TLS", "context");
			goto fail;
		}
		SSL_CTX_set_min_proto_version(fb->tls, TLS1_2_VERSION);
		SSL_CTX_set_mode(fb->tls, SSL_MODE_ENABLE_PARTIAL_WRITE |
		                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		if (SSL_CTX_use_certificate_chain_file(fb->tls, c.tls_cert) != 1) {
			rc = fail(err, errcap, EIO, "TLS certificate", c.tls_cert);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(fb->tls, c.tls_key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(fb->tls) != 1) {
			rc = fail(err, errcap, EIO, "TLS key", c.tls_key);
			goto fail;
		}
		if (c.tls_ca) {
			if (SSL_CTX_load_verify_locations(fb->tls, c.tls_ca, NULL) != 1) {
				rc = fail(err, errcap, EIO, "TLS CA", c.tls_ca);
				goto fail;
			}
			SSL_CTX_set_verify(fb->tls, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		}
	}
	if (c.record_pcap) {
		char why[256] = "";
		if (mqtt_pcap_open(&fb->pcap, c.record_pcap, why, sizeof why) != 0) {
			rc = fail(err, errcap, EIO, "pcap", why);
			goto fail;
		}
	}
	*out = fb;
	return 0;
fail:
	mqtt_fakebroker_free(fb);
	return rc;
}

static void pcap_record(struct mqtt_fakebroker *fb, struct fconn *fc,
                        enum mqtt_pcap_direction dir, const void *data, size_t len)
{
	if (!fb->pcap || !fc->bc)
		return;
	if (mqtt_pcap_write(fb->pcap, mqtt_bconn_id(fc->bc), dir, wall_us(), data, len) != 0 &&
	    !fb->pcap_failed) {
		fb->pcap_failed = true; /* said once; serving goes on */
		logf_(fb, "pcap: cannot record connection %u", mqtt_bconn_id(fc->bc));
	}
}

static void set_events(struct mqtt_fakebroker *fb, struct fconn *fc, uint32_t events)
{
	if (fc->events == events)
		return;
	struct epoll_event ev = {.events = events, .data.ptr = fc};
	epoll_ctl(fb->epfd, EPOLL_CTL_MOD, fc->fd, &ev);
	fc->events = events;
}

static void close_conn(struct mqtt_fakebroker *fb, struct fconn *fc)
{
	if (fc->dead)
		return;
	fc->dead = true;
	epoll_ctl(fb->epfd, EPOLL_CTL_DEL, fc->fd, NULL);
	if (fc->ssl) {
		if (!fc->handshaking)
			SSL_shutdown(fc->ssl);
		SSL_free(fc->ssl);
		fc->ssl = NULL;
	}
	close(fc->fd);
	if (fc->prev)
		fc->prev->next = fc->next;
	else
		fb->conns = fc->next;
	if (fc->next)
		fc->next->prev = fc->prev;
	/* Freed after the current batch of events, which may still name it. */
	fc->next = fb->graveyard;
	fb->graveyard = fc;
	if (fc->bc) {
		if (fb->pcap)
			mqtt_pcap_end(fb->pcap, mqtt_bconn_id(fc->bc), wall_us());
		struct mqtt_bconn *bc = fc->bc;
		fc->bc = NULL;
		mqtt_broker_closed(fb->b, bc, now_ms());
	}
}

/* Sends what the core has for fc; closes it when the core wants that. */
static void flush(struct mqtt_fakebroker *fb, struct fconn *fc)
{
	if (fc->dead || fc->handshaking)
		return;
	const uint8_t *data;
	size_t len;
	bool blocked = false;
	while ((len = mqtt_broker_output(fb->b, fc->bc, &data)) > 0) {
		ssize_t n;
		if (fc->ssl) {
			size_t w = 0;
			int r = SSL_write_ex(fc->ssl, data, len, &w);
			if (r <= 0) {
				int e = SSL_get_error(fc->ssl, r);
				ERR_clear_error();
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
					blocked = true;
					break;
				}
				close_conn(fb, fc);
				return;
			}
			n = (ssize_t)w;
		} else {
			n = send(fc->fd, data, len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
					blocked = true;
					break;
				}
				close_conn(fb, fc);
				return;
			}
		}
		pcap_record(fb, fc, MQTT_PCAP_TO_CLIENT, data, (size_t)n);
		mqtt_broker_wrote(fb->b, fc->bc, (size_t)n);
	}
	if (!blocked && mqtt_bconn_wants_close(fc->bc)) {
		close_conn(fb, fc);
		return;
	}
	uint32_t ev = (mqtt_bconn_wants_read(fc->bc) ? EPOLLIN : 0) | (blocked ? EPOLLOUT : 0);
	set_events(fb, fc, ev);
}

static void read_conn(struct mqtt_fakebroker *fb, struct fconn *fc)
{
	if (fc->handshaking) {
		int r = SSL_do_handshake(fc->ssl);
		if (r == 1) {
			fc->handshaking = false;
		} else {
			int e = SSL_get_error(fc->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				ERR_clear_error();
				set_events(fb, fc, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
				return;
			}
			char reason[256] = "handshake failed";
			unsigned long code = ERR_get_error();
			if (code)
				ERR_error_string_n(code, reason, sizeof reason);
			ERR_clear_error();
			logf_(fb, "conn %u: TLS: %s", mqtt_bconn_id(fc->bc), reason);
			close_conn(fb, fc);
			return;
		}
	}
	for (int i = 0; i < READS_PER_EVENT && !fc->dead && mqtt_bconn_wants_read(fc->bc); i++) {
		size_t got = 0;
		if (fc->ssl) {
			int r = SSL_read_ex(fc->ssl, fb->readbuf, sizeof fb->readbuf, &got);
			if (r <= 0) {
				int e = SSL_get_error(fc->ssl, r);
				ERR_clear_error();
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					break;
				close_conn(fb, fc); /* end of stream or failure */
				return;
			}
		} else {
			ssize_t n = recv(fc->fd, fb->readbuf, sizeof fb->readbuf, 0);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				break;
			if (n <= 0) {
				close_conn(fb, fc);
				return;
			}
			got = (size_t)n;
		}
		pcap_record(fb, fc, MQTT_PCAP_TO_BROKER, fb->readbuf, got);
		/* Bytes after a stop-reading rule took effect are not handled,
		 * as if they had stayed in the socket. */
		mqtt_broker_receive(fb->b, fc->bc, now_ms(), fb->readbuf, got);
		if (got < sizeof fb->readbuf && !fc->ssl)
			break; /* the socket is drained */
	}
	if (!fc->dead)
		flush(fb, fc);
}

static int add_conn(struct mqtt_fakebroker *fb, int fd, bool tls)
{
	struct fconn *fc = calloc(1, sizeof *fc);
	if (!fc) {
		close(fd);
		return ENOMEM;
	}
	fc->it.kind = K_CONN;
	fc->fd = fd;
	if (tls) {
		BIO *bio = BIO_new(fb->bio);
		fc->ssl = SSL_new(fb->tls);
		if (!bio || !fc->ssl) {
			BIO_free(bio);
			SSL_free(fc->ssl);
			free(fc);
			close(fd);
			return ENOMEM;
		}
		BIO_set_data(bio, (void *)(intptr_t)fd);
		SSL_set_bio(fc->ssl, bio, bio);
		SSL_set_accept_state(fc->ssl);
		fc->handshaking = true;
	}
	fc->bc = mqtt_broker_open(fb->b, now_ms());
	if (!fc->bc) {
		SSL_free(fc->ssl);
		free(fc);
		close(fd);
		return ENOMEM;
	}
	mqtt_bconn_set_user(fc->bc, fc);
	fc->events = EPOLLIN;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = fc};
	if (epoll_ctl(fb->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		int e = errno;
		mqtt_broker_closed(fb->b, fc->bc, now_ms());
		SSL_free(fc->ssl);
		free(fc);
		close(fd);
		return e;
	}
	fc->next = fb->conns;
	if (fb->conns)
		fb->conns->prev = fc;
	fb->conns = fc;
	return 0;
}

static void accept_all(struct mqtt_fakebroker *fb, struct listener *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Pause this listener rather than spin on it. */
				logf_(fb, "accept: %s; pausing for %d ms", strerror(errno), ACCEPT_PAUSE_MS);
				struct epoll_event ev = {.events = 0, .data.ptr = l};
				epoll_ctl(fb->epfd, EPOLL_CTL_MOD, l->fd, &ev);
				l->paused = true;
				fb->accept_resume = now_ms() + ACCEPT_PAUSE_MS;
			}
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails on unix: fine */
		add_conn(fb, fd, l->tls);
	}
}

static void resume_listeners(struct mqtt_fakebroker *fb)
{
	for (struct listener *l = fb->listeners; l; l = l->next) {
		if (!l->paused)
			continue;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
		epoll_ctl(fb->epfd, EPOLL_CTL_MOD, l->fd, &ev);
		l->paused = false;
	}
	fb->accept_resume = 0;
}

static void bury(struct mqtt_fakebroker *fb)
{
	while (fb->graveyard) {
		struct fconn *fc = fb->graveyard;
		fb->graveyard = fc->next;
		free(fc);
	}
}

static void serve_ready(struct mqtt_fakebroker *fb)
{
	struct mqtt_bconn *bc;
	while ((bc = mqtt_broker_next_ready(fb->b)) != NULL)
		flush(fb, mqtt_bconn_user(bc));
}

int mqtt_fakebroker_run(struct mqtt_fakebroker *fb)
{
	struct epoll_event evs[64];
	while (!atomic_load(&fb->stopping)) {
		pthread_mutex_lock(&fb->lock);
		uint64_t now = now_ms();
		if (fb->accept_resume && now >= fb->accept_resume)
			resume_listeners(fb);
		uint64_t deadline = mqtt_broker_tick(fb->b, now);
		serve_ready(fb);
		bury(fb);
		if (fb->accept_resume && fb->accept_resume < deadline)
			deadline = fb->accept_resume;
		pthread_mutex_unlock(&fb->lock);
		int timeout = deadline == UINT64_MAX ? -1
		            : deadline <= now       ? 0
		            : deadline - now > 60000 ? 60000
		                                     : (int)(deadline - now);
		int n = epoll_wait(fb->epfd, evs, 64, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		pthread_mutex_lock(&fb->lock);
		for (int i = 0; i < n; i++) {
			struct item *it = evs[i].data.ptr;
			if (it->kind == K_WAKE) {
				uint64_t v;
				ssize_t r = read(fb->wakefd, &v, sizeof v);
				(void)r; /* only clears the counter */
			} else if (it->kind == K_LISTENER) {
				accept_all(fb, (struct listener *)it);
			} else {
				struct fconn *fc = (struct fconn *)it;
				if (fc->dead)
					continue;
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR) || fc->handshaking)
					read_conn(fb, fc);
				else if (evs[i].events & EPOLLOUT)
					flush(fb, fc);
			}
		}
		serve_ready(fb);
		bury(fb);
		pthread_mutex_unlock(&fb->lock);
	}
	return 0;
}

static void *serve_thread(void *arg)
{
	mqtt_fakebroker_run(arg);
	return NULL;
}

int mqtt_fakebroker_start(struct mqtt_fakebroker *fb)
{
	if (fb->started)
		return EALREADY;
	int rc = pthread_create(&fb->thread, NULL, serve_thread, fb);
	if (rc == 0)
		fb->started = true;
	return rc;
}

void mqtt_fakebroker_stop(struct mqtt_fakebroker *fb)
{
	atomic_store(&fb->stopping, true);
	uint64_t one = 1;
	ssize_t r = write(fb->wakefd, &one, sizeof one);
	(void)r; /* the counter cannot overflow from a few stops */
}

struct mqtt_broker *mqtt_fakebroker_lock(struct mqtt_fakebroker *fb)
{
	pthread_mutex_lock(&fb->lock);
	return fb->b;
}

void mqtt_fakebroker_unlock(struct mqtt_fakebroker *fb)
{
	pthread_mutex_unlock(&fb->lock);
	uint64_t one = 1;
	ssize_t r = write(fb->wakefd, &one, sizeof one);
	(void)r;
}

int mqtt_fakebroker_adopt(struct mqtt_fakebroker *fb, int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
		return errno;
	pthread_mutex_lock(&fb->lock);
	int rc = add_conn(fb, fd, false);
	pthread_mutex_unlock(&fb->lock);
	uint64_t one = 1;
	ssize_t r = write(fb->wakefd, &one, sizeof one);
	(void)r;
	return rc;
}

/* "host:port" or "[v6]:port" into host and port. */
static int split_host_port(const char *s, char *host, size_t hostcap, char *port, size_t portcap)
{
	const char *colon;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -1;
		if ((size_t)(end - s - 1) >= hostcap)
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = 0;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= hostcap || colon == s)
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
	}
	if (!colon[1] || strlen(colon + 1) >= portcap || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	strcpy(port, colon + 1);
	return 0;
}

static void describe(int fd, const char *scheme, char *where, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof addr);
			port = ntohs(a->sin6_port);
			snprintf(where, cap, "%s [%s]:%u", scheme, addr, port);
			return;
		}
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, addr, sizeof addr);
		port = ntohs(a->sin_port);
	}
	snprintf(where, cap, "%s %s:%u", scheme, addr, port);
}

static int add_listener(struct mqtt_fakebroker *fb, int fd, bool tls, char *unix_path)
{
	struct listener *l = calloc(1, sizeof *l);
	if (!l)
		return ENOMEM;
	l->it.kind = K_LISTENER;
	l->fd = fd;
	l->tls = tls;
	l->unix_path = unix_path;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
	pthread_mutex_lock(&fb->lock);
	int rc = epoll_ctl(fb->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
	if (rc == 0) {
		l->next = fb->listeners;
		fb->listeners = l;
	}
	pthread_mutex_unlock(&fb->lock);
	if (rc)
		free(l);
	return rc;
}

int mqtt_fakebroker_listen(struct mqtt_fakebroker *fb, const char *url, char *where,
                           size_t wherecap, char *err, size_t errcap)
{
	char scratch[16];
	if (!where) {
		where = scratch;
		wherecap = sizeof scratch;
	}
	if (strncmp(url, "unix:", 5) == 0) {
		const char *path = url + 5;
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		if (!*path || strlen(path) >= sizeof sa.sun_path)
			return fail(err, errcap, EINVAL, "unix listener path empty or too long", url);
		strcpy(sa.sun_path, path);
		struct stat st;
		if (lstat(path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode))
				return fail(err, errcap, EEXIST, "not a socket; not replaced", path);
			unlink(path);
		}
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return fail(err, errcap, errno, "socket", url);
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0) {
			int e = errno;
			close(fd);
			return fail(err, errcap, e, "bind", url);
		}
		char *copy = strdup(path);
		int rc = copy ? add_listener(fb, fd, false, copy) : ENOMEM;
		if (rc) {
			free(copy);
			close(fd);
			return fail(err, errcap, rc, "listen", url);
		}
		snprintf(where, wherecap, "unix %s", path);
		return 0;
	}
	bool tls;
	if (strncmp(url, "tcp://", 6) == 0)
		tls = false;
	else if (strncmp(url, "tls://", 6) == 0)
		tls = true;
	else
		return fail(err, errcap, EINVAL, "expected tcp://HOST:PORT, tls://HOST:PORT or unix:PATH", url);
	if (tls && !fb->tls)
		return fail(err, errcap, EINVAL, "a tls:// listener needs a certificate and key", url);
	char host[256], port[16];
	if (split_host_port(url + 6, host, sizeof host, port, sizeof port) != 0)
		return fail(err, errcap, EINVAL, "expected HOST:PORT ([v6 address]:PORT) after the scheme", url);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai;
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai != 0)
		return fail(err, errcap, EINVAL, gai_strerror(gai), url);
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		freeaddrinfo(ai);
		return fail(err, errcap, e, "socket", url);
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
		int e = errno;
		freeaddrinfo(ai);
		close(fd);
		return fail(err, errcap, e, "bind", url);
	}
	freeaddrinfo(ai);
	int rc = add_listener(fb, fd, tls, NULL);
	if (rc) {
		close(fd);
		return fail(err, errcap, rc, "listen", url);
	}
	describe(fd, tls ? "tls" : "tcp", where, wherecap);
	return 0;
}

int mqtt_fakebroker_note(struct mqtt_fakebroker *fb, uint32_t conn, const char *source,
                         const char *text)
{
	if (!fb || !source || !text)
		return -EINVAL;
	if (!fb->pcap)
		return 0;
	pthread_mutex_lock(&fb->lock);
	int rc = mqtt_pcap_note(fb->pcap, conn ? conn : MQTT_PCAP_NO_CONNECTION, wall_us(), source,
	                        "note", text);
	pthread_mutex_unlock(&fb->lock);
	return rc;
}

/*
 * At a stop, what the clients sent before it, already in the sockets,
 * is handled and recorded: a capture ends with the DISCONNECT a client
 * wrote just before the broker was stopped, however late the serving
 * thread would have come to it. Each connection is read once (handling
 * one may close another, which then stays closed).
 */
static void drain_all(struct mqtt_fakebroker *fb)
{
	size_t n = 0;
	for (struct fconn *fc = fb->conns; fc; fc = fc->next)
		n++;
	struct fconn **all = n ? malloc(n * sizeof *all) : NULL;
	if (!all)
		return; /* out of memory at a stop: what is unread stays unread */
	n = 0;
	for (struct fconn *fc = fb->conns; fc; fc = fc->next)
		all[n++] = fc;
	for (size_t i = 0; i < n; i++)
		if (!all[i]->dead) /* the dead are in the graveyard until bury(): still valid */
			read_conn(fb, all[i]);
	free(all);
	bury(fb);
}

void mqtt_fakebroker_free(struct mqtt_fakebroker *fb)
{
	if (!fb)
		return;
	if (fb->wakefd >= 0)
		mqtt_fakebroker_stop(fb);
	if (fb->started)
		pthread_join(fb->thread, NULL);
	drain_all(fb);
	while (fb->conns)
		close_conn(fb, fb->conns);
	bury(fb);
	while (fb->listeners) {
		struct listener *l = fb->listeners;
		fb->listeners = l->next;
		close(l->fd);
		if (l->unix_path) {
			unlink(l->unix_path);
			free(l->unix_path);
		}
		free(l);
	}
	if (fb->pcap)
		mqtt_pcap_close(fb->pcap);
	SSL_CTX_free(fb->tls);
	if (fb->bio)
		BIO_meth_free(fb->bio);
	if (fb->epfd >= 0)
		close(fb->epfd);
	if (fb->wakefd >= 0)
		close(fb->wakefd);
	mqtt_broker_free(fb->b);
	pthread_mutex_destroy(&fb->lock);
	free(fb);
}
