/*
 * replay_main.c - mqttsim replay FILE: the driver of the replay core
 * (replay.h). Sockets, poll and the monotonic clock live here, nothing of
 * MQTT.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "capture/replay/captured.h"
#include "capture/replay/replay.h"
#include "commands.h"
#include "client/transport.h"
#include "mqttsim/error.h"

static const char replay_usage[] =
"Usage: mqttsim replay --as-client --against ADDRESS [OPTION]... FILE\n"
"       mqttsim replay --as-broker --listen ADDRESS [OPTION]... FILE\n"
"Plays one side of the MQTT sessions captured in FILE (pcap or pcapng, as\n"
"decode reads it) against a live peer and reports where the peer differs.\n"
"--as-client dials the broker at ADDRESS once for each captured connection and\n"
"sends what the captured client sent; --as-broker listens on ADDRESS, prints\n"
"\"replay: listening on ADDRESS\" (the port chosen when it was 0), and serves\n"
"the captured broker side to each client connection in turn. ADDRESS is\n"
"tcp://HOST:PORT ([v6 address]:PORT) or unix:PATH.\n"
"A packet of ours goes out once each packet the capture shows the peer sending\n"
"before it has arrived (or is given up as missing after --timeout), and not\n"
"before its captured time divided by --speed. Identifiers the peer chooses are\n"
"mapped; the client identifier of a CONNECT is the client's own.\n"
"Options:\n"
"  --speed X             captured timing divided by X (default 1)\n"
"  --fast                as fast as causality allows (--speed 0)\n"
"  --timeout DUR         how late a packet of the peer may be (default 2s)\n"
"  --wait-first DUR      as a broker, how long to wait for the first client\n"
"                        (default 60s)\n"
"  --client-id-prefix P  as a client, prepended to every client identifier\n"
"  --port N              another MQTT port of the capture (repeatable)\n"
"DUR is N (milliseconds), Nms, Ns or Nm.\n"
"Output: one line per difference, by captured frame: a packet missing, extra\n"
"(after the frame named) or differing in fields, PINGREQ/PINGRESP not judged;\n"
"then a summary line. Exit status: 0 no difference; 1 differences (or a capture\n"
"with gaps); 2 a bad file, bad usage, or a broker that cannot be reached.\n";

static uint64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static int duration_us(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s)
		return -1;
	uint64_t unit = 1000; /* bare numbers are milliseconds */
	if (!strcmp(end, "ms") || !*end)
		unit = 1000;
	else if (!strcmp(end, "s"))
		unit = 1000000;
	else if (!strcmp(end, "m"))
		unit = 60000000;
	else
		return -1;
	*out = v * unit;
	return 0;
}

/* Splits tcp://HOST:PORT; 0, or -1 when it is not that form. */
static int host_port(const char *url, char *host, size_t hcap, char *port, size_t pcap)
{
	if (strncmp(url, "tcp://", 6))
		return -1;
	const char *h = url + 6, *colon;
	if (*h == '[') {
		const char *close = strchr(h, ']');
		if (!close || close[1] != ':')
			return -1;
		snprintf(host, hcap, "%.*s", (int)(close - h - 1), h + 1);
		colon = close + 1;
	} else {
		if (!(colon = strrchr(h, ':')))
			return -1;
		snprintf(host, hcap, "%.*s", (int)(colon - h), h);
	}
	snprintf(port, pcap, "%s", colon + 1);
	return *host && *port ? 0 : -1;
}

static int dial(const char *url, uint64_t timeout_us, char *why, size_t cap)
{
	char host[256], port[32];
	int fd = -1, rc;
	if (!strncmp(url, "unix:", 5)) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", url + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		rc = fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ? -errno : 0;
	} else if (host_port(url, host, sizeof host, port, sizeof port) == 0) {
		rc = transport_tcp_connect(host, port, (uint32_t)(timeout_us / 1000), &fd);
	} else {
		rc = -EINVAL;
	}
	if (rc <= -MQTT_IO_RESOLVE) {
		snprintf(why, cap, "%.200s: %s", host, gai_strerror(MQTT_IO_RESOLVE + rc));
		return -1;
	}
	if (rc != 0) {
		snprintf(why, cap, "%s", strerror(-rc));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int listen_on(const char *url, char *where, size_t wcap, char *why, size_t cap)
{
	char host[256], port[32];
	int fd;
	if (!strncmp(url, "unix:", 5)) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", url + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0)
			goto fail;
		snprintf(where, wcap, "%s", url);
		return fd;
	}
	if (host_port(url, host, sizeof host, port, sizeof port) != 0) {
		snprintf(why, cap, "expected tcp://HOST:PORT or unix:PATH");
		return -1;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g) {
		snprintf(why, cap, "%s", gai_strerror(g));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
		freeaddrinfo(ai);
		goto fail;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char addr[INET6_ADDRSTRLEN] = "?";
	getsockname(fd, (struct sockaddr *)&ss, &len);
	unsigned p = 0;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
		p = ntohs(s6->sin6_port);
		snprintf(where, wcap, "tcp://[%s]:%u", addr, p);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr);
		p = ntohs(s4->sin_port);
		snprintf(where, wcap, "tcp://%s:%u", addr, p);
	}
	return fd;
fail:
	snprintf(why, cap, "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Writes all of it, waiting at most timeout for room. */
static int write_all(int fd, const uint8_t *d, size_t n, uint64_t timeout_us)
{
	uint64_t deadline = now_us() + timeout_us;
	while (n) {
		ssize_t w = send(fd, d, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			d += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		uint64_t t = now_us();
		if (t >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd p = {fd, POLLOUT, 0};
		poll(&p, 1, (int)((deadline - t) / 1000) + 1);
	}
	return 0;
}

int mqttsim_replay(int argc, char **argv)
{
	struct replay_config cfg = {.role = (enum replay_role)-1, .speed = 1, .timeout_us = 2000000,
	                            .first_wait_us = 60000000};
	const char *against = NULL, *listen_url = NULL, *path = NULL;
	uint16_t ports[16];
	int nports = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int port = cap_port_option(argc, argv, &i, ports, &nports);
		if (port < 0)
			return 2;
		if (port)
			continue;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(replay_usage, stdout);
			return 0;
		} else if (!strcmp(a, "--as-client")) {
			cfg.role = REPLAY_AS_CLIENT;
		} else if (!strcmp(a, "--as-broker")) {
			cfg.role = REPLAY_AS_BROKER;
		} else if (!strcmp(a, "--fast")) {
			cfg.speed = 0;
		} else if (v && !strcmp(a, "--against")) {
			against = argv[++i];
		} else if (v && !strcmp(a, "--listen")) {
			listen_url = argv[++i];
		} else if (v && !strcmp(a, "--client-id-prefix")) {
			cfg.client_id_prefix = argv[++i];
		} else if (v && !strcmp(a, "--speed")) {
			char *end;
			cfg.speed = strtod(argv[++i], &end);
			if (*end || end == argv[i] || !(cfg.speed >= 0) || cfg.speed > 1e6)
				return fprintf(stderr, "mqttsim: --speed takes a number from 0 (as fast as "
				               "possible) up, not %s\n", argv[i]), 2;
		} else if (v && (!strcmp(a, "--timeout") || !strcmp(a, "--wait-first"))) {
			uint64_t *to = a[2] == 't' ? &cfg.timeout_us : &cfg.first_wait_us;
			if (duration_us(argv[++i], to) != 0)
				return fprintf(stderr, "mqttsim: %s takes a duration (250ms, 2s, 1m), not %s\n", a,
				               argv[i]), 2;
		} else if (a[0] == '-' || path) {
			return fprintf(stderr, "mqttsim: replay: unexpected %s%s\n%s", a,
			               a[0] == '-' && !v ? " (it needs a value)" : "", replay_usage), 2;
		} else {
			path = a;
		}
	}
	if ((int)cfg.role < 0 || !path || (cfg.role == REPLAY_AS_CLIENT && (!against || listen_url)) ||
	    (cfg.role == REPLAY_AS_BROKER && (!listen_url || against)))
		return fprintf(stderr, "mqttsim: replay needs a capture file and either --as-client "
		               "--against ADDRESS or --as-broker --listen ADDRESS\n%s", replay_usage), 2;

	struct cap_session s;
	char err[512];
	int loaded = cap_session_load(&s, path, ports, nports, stderr, err, sizeof err);
	if (loaded == 2)
		return fprintf(stderr, "mqttsim: %s\n", err), 2;
	if (!s.nconns) {
		cap_session_free(&s);
		return fprintf(stderr, "mqttsim: %s: no MQTT session in it (another port? --port N)\n",
		               path), 2;
	}
	int lfd = -1;
	if (cfg.role == REPLAY_AS_BROKER) {
		char where[300];
		if ((lfd = listen_on(listen_url, where, sizeof where, err, sizeof err)) < 0) {
			cap_session_free(&s);
			return fprintf(stderr, "mqttsim: --listen %s: %s\n", listen_url, err), 2;
		}
		printf("replay: listening on %s\n", where);
		fflush(stdout);
	}
	struct replay *r = replay_new(&s, &cfg);
	int *fds = calloc(s.nconns, sizeof *fds);
	struct pollfd *p = calloc(s.nconns + 1, sizeof *p);
	unsigned *who = calloc(s.nconns + 1, sizeof *who);
	if (!r || !fds || !p || !who) {
		fprintf(stderr, "mqttsim: out of memory\n");
		replay_free(r);
		free(fds), free(p), free(who);
		cap_session_free(&s);
		return 2;
	}
	for (unsigned i = 0; i < s.nconns; i++)
		fds[i] = -1;
	static uint8_t buf[1 << 16];
	bool unreachable = false;
	/* On a terminal, a progress line a second: a capture played in its own time can be long. */
	bool progress = isatty(STDERR_FILENO);
	uint64_t shown = now_us();
	for (;;) {
		struct replay_action a;
		uint64_t now = now_us();
		if (progress && now - shown >= 1000000) {
			size_t played, diffs;
			replay_progress(r, &played, &diffs);
			fprintf(stderr, "\rreplay: %zu of %zu captured events, %zu difference%s so far ", played,
			        s.n, diffs, diffs == 1 ? "" : "s");
			shown = now;
		}
		replay_next(r, now, &a);
		if (a.todo == REPLAY_DONE)
			break;
		if (a.todo == REPLAY_DIAL) {
			char why[256];
			fds[a.conn] = dial(against, cfg.timeout_us, why, sizeof why);
			if (fds[a.conn] < 0) {
				fprintf(stderr, "mqttsim: %s: %s\n", against, why);
				unreachable = true;
			}
			replay_dialed(r, a.conn, fds[a.conn] >= 0, why);
			continue;
		}
		if (a.todo == REPLAY_SEND) {
			if (write_all(fds[a.conn], a.data, a.len, cfg.timeout_us) != 0) {
				replay_peer_closed(r, a.conn, now_us(), errno == ETIMEDOUT ?
				                   "stopped reading" : "reset the connection");
				close(fds[a.conn]);
				fds[a.conn] = -1;
			}
			continue;
		}
		if (a.todo == REPLAY_FIN) {
			shutdown(fds[a.conn], SHUT_WR);
			continue;
		}
		if (a.todo == REPLAY_CLOSE) {
			close(fds[a.conn]);
			fds[a.conn] = -1;
			continue;
		}
		/* REPLAY_WAIT: for input, a client, or the deadline. */
		nfds_t np = 0;
		if (lfd >= 0) {
			p[np] = (struct pollfd){lfd, POLLIN, 0};
			who[np++] = UINT32_MAX;
		}
		for (unsigned i = 0; i < s.nconns; i++)
			if (fds[i] >= 0) {
				p[np] = (struct pollfd){fds[i], POLLIN, 0};
				who[np++] = i;
			}
		uint64_t wait = a.until > now ? a.until - now : 0;
		int ms = wait > 1000000 ? 1000 : (int)((wait + 999) / 1000);
		if (poll(p, np, ms) <= 0)
			continue;
		now = now_us();
		for (nfds_t k = 0; k < np; k++) {
			if (!p[k].revents)
				continue;
			if (who[k] == UINT32_MAX) {
				int c = accept(lfd, NULL, NULL);
				if (c < 0)
					continue;
				int ci = replay_accepted(r, now);
				if (ci < 0)
					close(c);
				else
					fds[ci] = c;
				continue;
			}
			unsigned ci = who[k];
			ssize_t n = recv(fds[ci], buf, sizeof buf, MSG_DONTWAIT);
			if (n > 0) {
				replay_input(r, ci, now, buf, (size_t)n);
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				replay_peer_closed(r, ci, now, n == 0 ? NULL : "reset the connection");
				close(fds[ci]);
				fds[ci] = -1;
			}
		}
	}
	if (progress)
		fputs("\r\033[K", stderr);
	size_t differences = replay_report(r, stdout);
	fflush(stdout);
	bool none_made = replay_connections_made(r) == 0;
	replay_free(r);
	for (unsigned i = 0; i < s.nconns; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (lfd >= 0)
		close(lfd);
	free(fds), free(p), free(who);
	cap_session_free(&s);
	if (cfg.role == REPLAY_AS_CLIENT && unreachable && none_made)
		return fprintf(stderr, "mqttsim: the broker at %s could not be reached\n", against), 2;
	return differences || loaded == 1 ? 1 : 0;
}
