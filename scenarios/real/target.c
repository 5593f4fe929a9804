/*
 * target.c - a broker under test: dialing it, running it by command,
 * clearing up after a run (see target.h).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mqttsim/codec.h"
#include "target.h"

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void nap_ms(unsigned ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* Connects fd to sa within timeout_ms; 0, or an errno. */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, unsigned timeout_ms)
{
	int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	int rc = connect(fd, sa, len) == 0 ? 0 : errno;
	if (rc == EINPROGRESS) {
		struct pollfd p = {fd, POLLOUT, 0};
		int n = poll(&p, 1, (int)timeout_ms);
		if (n == 0) {
			rc = ETIMEDOUT;
		} else {
			socklen_t el = sizeof rc;
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &el);
		}
	}
	fcntl(fd, F_SETFL, flags);
	return rc;
}

int target_dial(const char *address, unsigned timeout_ms, char *err, size_t errcap)
{
	int fd = -1, rc = 0;
	if (!strncmp(address, "unix:", 5)) {
		struct sockaddr_un un = {.sun_family = AF_UNIX};
		if (!address[5] || strlen(address + 5) >= sizeof un.sun_path) {
			snprintf(err, errcap, "%s: expected unix:PATH", address);
			return -1;
		}
		strcpy(un.sun_path, address + 5);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			rc = errno;
		else
			rc = connect_within(fd, (struct sockaddr *)&un, sizeof un, timeout_ms);
	} else if (!strncmp(address, "tcp://", 6)) {
		const char *hp = address + 6;
		char host[256], port[16];
		const char *colon;
		if (*hp == '[') {
			const char *end = strchr(hp, ']');
			if (!end || end[1] != ':' || (size_t)(end - hp) > sizeof host) {
				snprintf(err, errcap, "%s: expected tcp://[IPv6]:PORT", address);
				return -1;
			}
			snprintf(host, sizeof host, "%.*s", (int)(end - hp - 1), hp + 1);
			colon = end + 1;
		} else {
			colon = strrchr(hp, ':');
			if (!colon || colon == hp || (size_t)(colon - hp) >= sizeof host) {
				snprintf(err, errcap, "%s: expected tcp://HOST:PORT", address);
				return -1;
			}
			snprintf(host, sizeof host, "%.*s", (int)(colon - hp), hp);
		}
		if (!colon[1] || strlen(colon + 1) >= sizeof port ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
			snprintf(err, errcap, "%s: expected a port number", address);
			return -1;
		}
		snprintf(port, sizeof port, "%s", colon + 1);
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
		int g = getaddrinfo(host, port, &hints, &ai);
		if (g) {
			snprintf(err, errcap, "%s: %s", address, gai_strerror(g));
			return -1;
		}
		if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			rc = errno;
		else
			rc = connect_within(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
		freeaddrinfo(ai);
	} else {
		snprintf(err, errcap, "%s: expected tcp://HOST:PORT, tls://HOST:PORT or unix:PATH",
		         address);
		return -1;
	}
	if (rc) {
		if (rc == ETIMEDOUT)
			snprintf(err, errcap, "%s: no answer within %u ms", address, timeout_ms);
		else
			snprintf(err, errcap, "%s: %s", address, strerror(rc));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

/* ------------------------------------------------------------------ */

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* The last lines of the broker's output, on one line, for an error. */
static void log_tail(const struct broker_proc *b, char *out, size_t cap)
{
	*out = 0;
	FILE *f = fopen(b->log, "r");
	if (!f)
		return;
	char buf[4096];
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
	fseek(f, from, SEEK_SET);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	const char *start = buf;
	int lines = 0;
	for (size_t i = n; i-- > 0;)
		if (buf[i] == '\n' && ++lines == 3) {
			start = buf + i + 1;
			break;
		}
	size_t len = strlen(start);
	if (len >= cap)
		start += len - cap + 1; /* its end says most */
	memcpy(out, start, strlen(start) + 1);
	for (char *c = out; *c; c++)
		if (*c == '\n')
			*c = '|';
}

static int run_and_wait(struct broker_proc *b, unsigned wait_ms, char *err, size_t errcap)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errcap, "cannot start the broker command: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		int out = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (out >= 0) {
			dup2(out, 1);
			dup2(out, 2);
		}
		if (in >= 0)
			dup2(in, 0);
		execl("/bin/sh", "sh", "-c", b->cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid); /* either side may run first */
	b->pid = pid;
	b->starts++;
	uint64_t deadline = mono_ms() + wait_ms;
	for (;;) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			b->pid = 0;
			char tail[600];
			log_tail(b, tail, sizeof tail);
			snprintf(err, errcap, "the broker command '%s' %s %d before it listened on %s%s%s",
			         b->cmd, WIFSIGNALED(status) ? "died of signal" : "exited with status",
			         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), b->address,
			         *tail ? "; its output ends: " : "", tail);
			return -1;
		}
		char why[200];
		int fd = target_dial(b->address, 100, why, sizeof why);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (mono_ms() >= deadline) {
			broker_proc_kill(b);
			snprintf(err, errcap, "the broker command '%s' did not listen on %s within %u ms "
			         "(stopped)", b->cmd, b->address, wait_ms);
			return -1;
		}
		nap_ms(20);
	}
}

int broker_proc_start(struct broker_proc *b, const char *templ, const char *dir, unsigned wait_ms,
                      char *err, size_t errcap)
{
	memset(b, 0, sizeof *b);
	int port = free_port();
	if (port < 0) {
		snprintf(err, errcap, "no free loopback port: %s", strerror(errno));
		return -1;
	}
	char ports[16];
	snprintf(ports, sizeof ports, "%d", port);
	snprintf(b->dir, sizeof b->dir, "%s", dir);
	snprintf(b->address, sizeof b->address, "tcp://127.0.0.1:%d", port);
	snprintf(b->log, sizeof b->log, "%s/broker.log", dir);
	size_t used = 0;
	for (const char *t = templ; *t;) {
		const char *put = NULL;
		size_t skip = 1;
		if (!strncmp(t, "{port}", 6))
			put = ports, skip = 6;
		else if (!strncmp(t, "{dir}", 5))
			put = dir, skip = 5;
		size_t len = put ? strlen(put) : 1;
		if (used + len >= sizeof b->cmd) {
			snprintf(err, errcap, "the broker command is too long");
			return -1;
		}
		memcpy(b->cmd + used, put ? put : t, len);
		used += len;
		t += skip;
	}
	b->cmd[used] = 0;
	return run_and_wait(b, wait_ms, err, errcap);
}

int broker_proc_restart(struct broker_proc *b, unsigned wait_ms, char *err, size_t errcap)
{
	if (b->pid)
		broker_proc_kill(b);
	return run_and_wait(b, wait_ms, err, errcap);
}

/*
 * Whether every process of b's group is gone by deadline. The shell that
 * runs the command may end first (a signal ends it at once) while the
 * broker it started is still saving its state: the group is what counts.
 */
static bool group_gone(struct broker_proc *b, uint64_t deadline)
{
	bool leader = false;
	for (;;) {
		if (!leader && waitpid(b->pid, NULL, WNOHANG) == b->pid)
			leader = true;
		if (leader && kill(-b->pid, 0) != 0 && errno == ESRCH)
			return true;
		if (mono_ms() >= deadline)
			return false;
		nap_ms(5);
	}
}

void broker_proc_kill(struct broker_proc *b)
{
	if (!b->pid)
		return;
	kill(-b->pid, SIGKILL);
	kill(b->pid, SIGKILL);
	group_gone(b, mono_ms() + 5000); /* the port is free again */
	b->pid = 0;
}

void broker_proc_stop(struct broker_proc *b, unsigned wait_ms)
{
	if (!b->pid)
		return;
	kill(-b->pid, SIGTERM);
	if (group_gone(b, mono_ms() + wait_ms))
		b->pid = 0;
	else
		broker_proc_kill(b);
}

/* ------------------------------------------------------------------ */

int target_connect(struct target_conn *c, const char *address, const char *ca_file,
                   unsigned timeout_ms, char *err, size_t errcap)
{
	c->ssl = NULL;
	c->ctx = NULL;
	if (strncmp(address, "tls://", 6) != 0)
		return (c->fd = target_dial(address, timeout_ms, err, errcap)) < 0 ? -1 : 0;
	char tcp[300], host[256];
	snprintf(tcp, sizeof tcp, "tcp://%s", address + 6);
	if ((c->fd = target_dial(tcp, timeout_ms, err, errcap)) < 0) {
		if (!strncmp(err, "tcp://", 6))
			memcpy(err, "tls", 3); /* name it as given */
		return -1;
	}
	const char *h = address + 6, *colon = strrchr(h, ':');
	int len = (int)(colon - h);
	if (*h == '[')
		h++, len -= 2;
	snprintf(host, sizeof host, "%.*s", len, h);
	/* As the threaded client's TLS: the chain and the host name verified. */
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx || !(c->ssl = SSL_new(c->ctx))) {
		snprintf(err, errcap, "%s: TLS: out of memory", address);
		target_close(c);
		return -1;
	}
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	if (ca_file ? SSL_CTX_load_verify_locations(c->ctx, ca_file, NULL) != 1
	            : SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
		snprintf(err, errcap, "%s: TLS: cannot load %s", address, ca_file ? ca_file : "the system's CAs");
		target_close(c);
		return -1;
	}
	if (SSL_set_fd(c->ssl, c->fd) != 1 || SSL_set_tlsext_host_name(c->ssl, host) != 1 ||
	    SSL_set1_host(c->ssl, host) != 1 || SSL_connect(c->ssl) != 1) {
		long v = SSL_get_verify_result(c->ssl);
		char why[256];
		if (v != X509_V_OK)
			snprintf(why, sizeof why, "certificate verification failed: %s",
			         X509_verify_cert_error_string(v));
		else
			ERR_error_string_n(ERR_get_error(), why, sizeof why);
		ERR_clear_error();
		snprintf(err, errcap, "%s: TLS: %s", address, why);
		target_close(c);
		return -1;
	}
	return 0;
}

static ssize_t target_send(struct target_conn *c, const void *data, size_t n)
{
	if (!c->ssl)
		return send(c->fd, data, n, MSG_NOSIGNAL);
	int w = SSL_write(c->ssl, data, (int)n);
	return w > 0 ? w : -1;
}

static ssize_t target_recv_all(struct target_conn *c, void *data, size_t n)
{
	if (!c->ssl)
		return recv(c->fd, data, n, MSG_WAITALL);
	size_t got = 0;
	while (got < n) {
		int r = SSL_read(c->ssl, (uint8_t *)data + got, (int)(n - got));
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

void target_close(struct target_conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->ctx = NULL;
	c->fd = -1;
}

static int send_packet(struct target_conn *c, const struct mqtt_packet *p)
{
	uint8_t buf[600];
	size_t n;
	if (mqtt_encode(buf, sizeof buf, p, 0, &n) != MQTT_OK)
		return -1;
	return target_send(c, buf, n) == (ssize_t)n ? 0 : -1;
}

static int clear_client(const char *address, const char *ca_file, const struct scenario *sc, int i,
                        char *err, size_t errcap)
{
	const struct scn_client *c = &sc->clients[i];
	struct target_conn conn;
	if (target_connect(&conn, address, ca_file, 3000, err, errcap) != 0)
		return -1;
	struct mqtt_packet p = {.type = MQTT_CONNECT};
	p.connect.protocol_name = mqtt_slice_str("MQTT");
	p.connect.protocol_level = 4;
	p.connect.clean_session = true; /* the session the run left goes [MQTT-3.1.2-6] */
	p.connect.keep_alive = 10;
	p.connect.client_id = mqtt_slice_str(c->id);
	uint8_t connack[4];
	if (send_packet(&conn, &p) != 0 || target_recv_all(&conn, connack, 4) != 4 ||
	    connack[0] != 0x20 || connack[3] != 0) {
		snprintf(err, errcap, "%s: clearing up as %s: no CONNACK accepting it", address, c->id);
		target_close(&conn);
		return -1;
	}
	int rc = 0;
	for (int k = 0; k <= sc->nsteps && rc == 0; k++) {
		const char *topic = NULL;
		if (k < sc->nsteps) {
			const struct scn_step *st = &sc->steps[k];
			if (st->kind == SCN_PUBLISH && st->client == i && st->retain)
				topic = st->topic;
		} else if (*c->will_topic && c->will_retain) {
			topic = c->will_topic;
		}
		if (!topic)
			continue;
		struct mqtt_packet pub = {.type = MQTT_PUBLISH};
		pub.publish.retain = true;
		pub.publish.topic = mqtt_slice_str(topic);
		rc = send_packet(&conn, &pub);
	}
	struct mqtt_packet bye = {.type = MQTT_DISCONNECT};
	if (rc == 0)
		rc = send_packet(&conn, &bye);
	if (rc != 0)
		snprintf(err, errcap, "%s: clearing up as %s: %s", address, c->id, strerror(errno));
	target_close(&conn);
	return rc;
}

int target_clear(const char *address, const char *ca_file, const struct scenario *sc, char *err,
                 size_t errcap)
{
	for (int i = 0; i < sc->nclients; i++)
		if (clear_client(address, ca_file, sc, i, err, errcap) != 0)
			return -1;
	return 0;
}
