/*
 * realscript.c - a scripted broker side on a real socket (realscript.h).
 * One connection at a time, as a client has: a new one replaces the last.
 */
#define _DEFAULT_SOURCE
#include "realscript.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

struct rscript {
	struct script_run *run;
	int lfd, fd;
	uint32_t conn;    /* the script engine's connection number, from 1 */
	rscript_bytes_fn *watch;
	void *watch_arg;
};

void rscript_watch(struct rscript *s, rscript_bytes_fn *fn, void *arg)
{
	s->watch = fn;
	s->watch_arg = arg;
}

struct rscript *rscript_new(const struct scn_pkt *steps, int n, int client, char *port,
                            size_t portcap, char *why, size_t whycap)
{
	struct rscript *s = calloc(1, sizeof *s);
	if (!s || !(s->run = pscript_new(steps, n, client))) {
		free(s);
		snprintf(why, whycap, "out of memory");
		return NULL;
	}
	s->fd = -1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(s->lfd, 8) != 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &len) != 0) {
		snprintf(why, whycap, "a listener for the script: %s", strerror(errno));
		rscript_free(s);
		return NULL;
	}
	snprintf(port, portcap, "%u", ntohs(sa.sin_port));
	return s;
}

void rscript_free(struct rscript *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->lfd >= 0)
		close(s->lfd);
	pscript_free(s->run);
	free(s);
}

int rscript_pollfds(const struct rscript *s, struct pollfd *p)
{
	int n = 0;
	p[n++] = (struct pollfd){s->lfd, POLLIN, 0};
	if (s->fd >= 0) {
		const uint8_t *d;
		bool out = pscript_output(s->run, s->conn, &d) > 0;
		p[n++] = (struct pollfd){s->fd, (short)(POLLIN | (out ? POLLOUT : 0)), 0};
	}
	return n;
}

static void drop(struct rscript *s, uint64_t now)
{
	close(s->fd);
	s->fd = -1;
	pscript_closed(s->run, s->conn, now);
}

void rscript_step(struct rscript *s, uint64_t now)
{
	int c = accept(s->lfd, NULL, NULL);
	if (c >= 0) {
		if (s->fd >= 0)
			drop(s, now); /* the client moved on to a new connection */
		s->fd = c;
		pscript_connected(s->run, ++s->conn, now);
	}
	pscript_tick(s->run, now);
	if (s->fd < 0)
		return;
	uint8_t buf[1 << 16];
	for (;;) {
		ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n > 0) {
			if (s->watch)
				s->watch(s->watch_arg, s->conn, false, buf, (size_t)n);
			pscript_receive(s->run, s->conn, now, buf, (size_t)n);
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			drop(s, now);
			return;
		}
		break;
	}
	const uint8_t *d;
	size_t len;
	while ((len = pscript_output(s->run, s->conn, &d)) > 0) {
		ssize_t w = send(s->fd, d, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w <= 0) {
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				drop(s, now);
			return;
		}
		if (s->watch)
			s->watch(s->watch_arg, s->conn, true, d, (size_t)w);
		pscript_wrote(s->run, (size_t)w);
	}
	if (pscript_wants_close(s->run, s->conn))
		drop(s, now);
}

const struct script_run *rscript_run(const struct rscript *s)
{
	return s->run;
}
