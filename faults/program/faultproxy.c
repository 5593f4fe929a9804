/*
 * faultproxy - a TCP proxy that puts a fault plan between any MQTT
 * client and broker (see usage()). One thread, epoll; every accepted
 * connection gets an upstream connection and a link of the run, and
 * bytes pass through the link both ways.
 */
#define _GNU_SOURCE /* accept4, signalfd */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/faults.h"
#include "mqttsim/pcap.h"

#define MAX_FAULTS 64
#define BACKLOG_MAX (4u << 20) /* queued bytes a side may have before we stop reading it */
#define CHUNK 65536

static const char usage_text[] =
"Usage: faultproxy --upstream tcp://HOST:PORT [OPTION]...\n"
"A TCP proxy for MQTT that applies a fault plan between any client and any\n"
"broker: drops, resets, half-closes, stalls, latency, bandwidth caps, partial\n"
"writes and reads, corrupted, truncated and discarded packets. It frames MQTT\n"
"as bytes pass, so faults can be aimed at packets (\"the 2nd PUBREC\").\n"
"\n"
"It prints \"listening tcp 127.0.0.1:PORT\" to standard output, flushed, first;\n"
"then one line per fault applied to standard error:\n"
"    t=MSms conn=N c2b|b2c byte=OFFSET [packet=TYPE#K] action=NAME line=L\n"
"(t is milliseconds since the proxy started; L is the line of the plan file,\n"
"and --fault options count on after its last line). SIGINT and SIGTERM stop it.\n"
"\n"
"Options:\n"
"  --listen tcp://HOST:PORT   where clients connect (default tcp://127.0.0.1:0;\n"
"                             port 0 picks a free one; IPv6 as [::1])\n"
"  --upstream tcp://HOST:PORT the broker (required)\n"
"  --plan FILE                a fault plan, one fault a line (docs/faults.md)\n"
"  --fault 'SPEC'             one fault, in the same syntax; repeatable\n"
"  --seed N                   the seed of every random choice (default 1): the\n"
"                             same plan, seed and traffic give the same faults\n"
"  --record FILE.pcap         write both sides' traffic as seen past the faults\n"
"  -v, --verbose              log connections to standard error\n"
"  -h, --help                 this text\n"
"\n"
"Fault syntax: DIR [TRIGGER] ACTION [key=value]..., for example\n"
"  b2c after=PUBACK#2 drop         cut the connection after the 2nd PUBACK\n"
"  c2b partial-write size=1        deliver the client's bytes one at a time\n"
"  both latency ms=50 jitter=10    add 40-60 ms each way\n"
"  c2b byte=1 corrupt conn=2       damage a length byte on the 2nd connection\n"
"\n"
"Exit status: 0 after a clean stop, 1 when it failed, 2 for bad usage or plan.\n";

enum kind { K_LISTEN, K_SIGNAL, K_CLIENT, K_UPSTREAM };

struct proxied;

struct end {
	enum kind kind;
	int fd;
	struct proxied *p;
	uint32_t events;
	bool registered;
};

struct proxied {
	struct end client, upstream;
	bool connecting;
	bool fin_sent[2];    /* [0] to upstream, [1] to client */
	bool read_done[2];   /* [0] client, [1] upstream */
	struct mqtt_fault_link *link;
	struct proxied *next;
	bool dead;
};

static struct {
	int epfd;
	struct addrinfo *upstream;
	struct mqtt_fault_run *run;
	struct mqtt_pcap *pcap;
	struct proxied *conns, *graveyard;
	uint64_t started;
	bool verbose;
	bool passthrough; /* an empty plan: bytes go straight through when nothing waits */
	uint8_t buf[CHUNK];
} g;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u - g.started;
}

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

__attribute__((format(printf, 1, 2), noreturn))
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "faultproxy: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'faultproxy --help'.\n");
	exit(2);
}

static void logv(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logv(const char *fmt, ...)
{
	if (!g.verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "faultproxy: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static struct addrinfo *resolve(const char *opt, const char *url, bool passive)
{
	if (strncmp(url, "tcp://", 6) != 0)
		usage_error("%s takes tcp://HOST:PORT, not %s", opt, url);
	const char *hp = url + 6, *colon;
	char host[256], port[16];
	if (*hp == '[') {
		const char *end = strchr(hp, ']');
		if (!end || end[1] != ':' || (size_t)(end - hp) >= sizeof host)
			usage_error("%s: expected [IPv6]:PORT in %s", opt, url);
		memcpy(host, hp + 1, (size_t)(end - hp - 1));
		host[end - hp - 1] = 0;
		colon = end + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon || colon == hp || (size_t)(colon - hp) >= sizeof host)
			usage_error("%s: expected HOST:PORT in %s", opt, url);
		memcpy(host, hp, (size_t)(colon - hp));
		host[colon - hp] = 0;
	}
	if (!colon[1] || strlen(colon + 1) >= sizeof port ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		usage_error("%s: expected a port number in %s", opt, url);
	strcpy(port, colon + 1);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = (passive ? AI_PASSIVE : 0) | AI_NUMERICSERV};
	struct addrinfo *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc)
		usage_error("%s %s: %s", opt, url, gai_strerror(rc));
	return ai;
}

static void watch(struct end *e, uint32_t events)
{
	if (e->fd < 0 || (e->registered && e->events == events))
		return;
	struct epoll_event ev = {.events = events, .data.ptr = e};
	epoll_ctl(g.epfd, e->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, e->fd, &ev);
	e->registered = true;
	e->events = events;
}

static void reports(struct proxied *p)
{
	struct mqtt_fault_report r;
	while (mqtt_fault_link_report(p->link, &r)) {
		char line[200];
		mqtt_fault_report_format(&r, line, sizeof line);
		fprintf(stderr, "%s\n", line);
		if (g.pcap)
			mqtt_pcap_note(g.pcap, mqtt_fault_link_number(p->link), wall_us(), "faultproxy",
			               "fault", line);
	}
}

static void finish(struct proxied *p, bool reset)
{
	if (p->dead)
		return;
	p->dead = true;
	reports(p);
	logv("connection %u closed%s", mqtt_fault_link_number(p->link), reset ? " (reset)" : "");
	struct end *ends[2] = {&p->client, &p->upstream};
	for (int i = 0; i < 2; i++) {
		if (ends[i]->fd < 0)
			continue;
		if (reset) {
			struct linger lg = {1, 0}; /* close sends RST */
			setsockopt(ends[i]->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		}
		epoll_ctl(g.epfd, EPOLL_CTL_DEL, ends[i]->fd, NULL);
		close(ends[i]->fd);
		ends[i]->fd = -1;
	}
	if (g.pcap)
		mqtt_pcap_end(g.pcap, mqtt_fault_link_number(p->link), wall_us());
	for (struct proxied **pp = &g.conns; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	p->next = g.graveyard; /* freed after this batch of events */
	g.graveyard = p;
}

/* Delivers what is due in dir to its destination; false when p ended. */
static bool deliver(struct proxied *p, unsigned dir, uint64_t now)
{
	struct end *dst = dir == MQTT_C2B ? &p->upstream : &p->client;
	int side = dir == MQTT_C2B ? 0 : 1;
	if (mqtt_fault_link_state(p->link, dir, now) == MQTT_LINK_RESET) {
		finish(p, true);
		return false;
	}
	if (dir == MQTT_C2B && p->connecting)
		return true;
	const uint8_t *data;
	size_t n;
	bool blocked = false;
	/* One write per segment: partial writes reach the peer as such. */
	while ((n = mqtt_fault_link_peek(p->link, dir, now, &data)) > 0) {
		ssize_t w = send(dst->fd, data, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				blocked = true;
				break;
			}
			finish(p, true);
			return false;
		}
		if (g.pcap)
			mqtt_pcap_write(g.pcap, mqtt_fault_link_number(p->link),
			                dir == MQTT_C2B ? MQTT_PCAP_TO_BROKER : MQTT_PCAP_TO_CLIENT,
			                wall_us(), data, (size_t)w);
		mqtt_fault_link_consume(p->link, dir, (size_t)w);
	}
	if (!p->fin_sent[side] && mqtt_fault_link_state(p->link, dir, now) == MQTT_LINK_EOF) {
		shutdown(dst->fd, SHUT_WR);
		p->fin_sent[side] = true;
	}
	if (p->fin_sent[0] && p->fin_sent[1]) {
		finish(p, false);
		return false;
	}
	/* Read a source only while its destination keeps up. */
	struct end *src = dir == MQTT_C2B ? &p->client : &p->upstream;
	bool want_read = !p->read_done[side] &&
	                 mqtt_fault_link_queued(p->link, dir) < BACKLOG_MAX;
	uint32_t src_ev = (src->events & EPOLLOUT) | (want_read ? EPOLLIN : 0);
	watch(src, src_ev);
	watch(dst, (dst->events & EPOLLIN) | (blocked ? EPOLLOUT : 0));
	return true;
}

static void pump(struct proxied *p, uint64_t now)
{
	if (deliver(p, MQTT_C2B, now) && deliver(p, MQTT_B2C, now))
		reports(p);
}

/* Reads from one end into the link; false when p ended. */
static bool ingest(struct proxied *p, struct end *src, uint64_t now)
{
	unsigned dir = src->kind == K_CLIENT ? MQTT_C2B : MQTT_B2C;
	int side = dir == MQTT_C2B ? 0 : 1;
	ssize_t n = recv(src->fd, g.buf, sizeof g.buf, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return true;
	if (n <= 0) {
		mqtt_fault_link_shutdown(p->link, dir, now, n < 0);
		p->read_done[side] = true;
		watch(src, src->events & ~(uint32_t)EPOLLIN);
		return true;
	}
	size_t off = 0;
	struct end *dst = dir == MQTT_C2B ? &p->upstream : &p->client;
	if (g.passthrough && !mqtt_fault_link_queued(p->link, dir) && !(dir == MQTT_C2B && p->connecting)) {
		/* Nothing to apply and nothing waiting: send from the read buffer;
		 * only what the socket does not take goes through the link. */
		ssize_t w = send(dst->fd, g.buf, (size_t)n, MSG_NOSIGNAL);
		if (w > 0) {
			if (g.pcap)
				mqtt_pcap_write(g.pcap, mqtt_fault_link_number(p->link),
				                dir == MQTT_C2B ? MQTT_PCAP_TO_BROKER : MQTT_PCAP_TO_CLIENT,
				                wall_us(), g.buf, (size_t)w);
			off = (size_t)w;
		}
	}
	while (off < (size_t)n) {
		size_t room = mqtt_fault_link_room(p->link, dir, now, (size_t)n - off);
		if (!room)
			break; /* the link no longer takes data this way: lost */
		off += mqtt_fault_link_write(p->link, dir, now, g.buf + off, room);
	}
	return true;
}

static void accept_all(int lfd)
{
	for (;;) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		int ufd = socket(g.upstream->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct proxied *p = calloc(1, sizeof *p);
		if (ufd < 0 || !p || mqtt_fault_link_new(&p->link, g.run, now_ms()) != 0) {
			if (ufd >= 0)
				close(ufd);
			close(cfd);
			free(p);
			continue;
		}
		int one = 1;
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		p->client = (struct end){K_CLIENT, cfd, p, 0, false};
		p->upstream = (struct end){K_UPSTREAM, ufd, p, 0, false};
		int rc = connect(ufd, g.upstream->ai_addr, g.upstream->ai_addrlen);
		p->connecting = rc != 0 && errno == EINPROGRESS;
		p->next = g.conns;
		g.conns = p;
		logv("connection %u accepted", mqtt_fault_link_number(p->link));
		if (rc != 0 && !p->connecting) {
			logv("connection %u: upstream: %s", mqtt_fault_link_number(p->link), strerror(errno));
			finish(p, false);
			continue;
		}
		watch(&p->client, EPOLLIN);
		watch(&p->upstream, p->connecting ? EPOLLOUT : EPOLLIN);
		pump(p, now_ms());
	}
}

static void on_event(struct end *e, uint32_t events, uint64_t now)
{
	struct proxied *p = e->p;
	if (p->dead)
		return;
	if (e->kind == K_UPSTREAM && p->connecting) {
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			logv("connection %u: upstream: %s", mqtt_fault_link_number(p->link), strerror(err));
			finish(p, false);
			return;
		}
		p->connecting = false;
		watch(e, EPOLLIN);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		if (!ingest(p, e, now))
			return;
	pump(p, now);
}

int main(int argc, char **argv)
{
	const char *listen_url = "tcp://127.0.0.1:0", *upstream_url = NULL, *plan_file = NULL;
	const char *record = NULL;
	const char *faults[MAX_FAULTS];
	int nfaults = 0;
	uint64_t seed = 1;
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'}, {"upstream", required_argument, NULL, 'u'},
		{"plan", required_argument, NULL, 'p'},   {"fault", required_argument, NULL, 'f'},
		{"seed", required_argument, NULL, 's'},   {"record", required_argument, NULL, 'r'},
		{"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_url = optarg; break;
		case 'u': upstream_url = optarg; break;
		case 'p': plan_file = optarg; break;
		case 'f':
			if (nfaults == MAX_FAULTS)
				usage_error("at most %d --fault options", MAX_FAULTS);
			faults[nfaults++] = optarg;
			break;
		case 's': {
			char *end;
			errno = 0;
			seed = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-')
				usage_error("--seed needs a whole number, not %s", optarg);
			break;
		}
		case 'r': record = optarg; break;
		case 'v': g.verbose = true; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fprintf(stderr, "Try 'faultproxy --help'.\n"); return 2;
		}
	}
	if (optind < argc)
		usage_error("unexpected argument %s", argv[optind]);
	if (!upstream_url)
		usage_error("--upstream tcp://HOST:PORT is required");
	struct mqtt_fault_plan plan = {0};
	char err[512];
	unsigned plan_lines = 0; /* --fault options are numbered after the file's lines */
	if (plan_file) {
		FILE *f = fopen(plan_file, "r");
		if (!f)
			usage_error("--plan %s: %s", plan_file, strerror(errno));
		char *text = NULL;
		size_t cap = 0;
		ssize_t n = getdelim(&text, &cap, '\0', f);
		fclose(f);
		if (n < 0)
			text = strdup("");
		for (const char *t = text; t && *t; t++)
			plan_lines += *t == '\n' || !t[1];
		if (mqtt_fault_plan_parse(&plan, text ? text : "", err, sizeof err) != 0)
			usage_error("%s: %s", plan_file, err);
		free(text);
	}
	for (int i = 0; i < nfaults; i++) {
		struct mqtt_fault f;
		if (mqtt_fault_parse(&f, faults[i], strlen(faults[i]), err, sizeof err) != 0 ||
		    mqtt_fault_plan_add(&plan, &f, err, sizeof err) != 0)
			usage_error("--fault '%s': %s", faults[i], err);
		plan.faults[plan.n - 1].line = plan_lines + (unsigned)i + 1;
	}
	g.upstream = resolve("--upstream", upstream_url, false);
	struct addrinfo *la = resolve("--listen", listen_url, true);
	if (record) {
		if (mqtt_pcap_open(&g.pcap, record, err, sizeof err) != 0) {
			fprintf(stderr, "faultproxy: --record %s: %s\n", record, err);
			return 1;
		}
	}
	g.passthrough = plan.n == 0;
	if (mqtt_fault_run_new(&g.run, &plan, seed) != 0) {
		fprintf(stderr, "faultproxy: out of memory\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	int lfd = socket(la->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, la->ai_addr, la->ai_addrlen) != 0 || listen(lfd, 1024) != 0) {
		fprintf(stderr, "faultproxy: --listen %s: %s\n", listen_url, strerror(errno));
		return 1;
	}
	freeaddrinfo(la);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(lfd, (struct sockaddr *)&ss, &sl);
	char addr[INET6_ADDRSTRLEN];
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof addr);
		printf("listening tcp [%s]:%u\n", addr, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, addr, sizeof addr);
		printf("listening tcp %s:%u\n", addr, ntohs(a->sin_port));
	}
	fflush(stdout);
	g.started = 0;
	g.started = now_ms();
	g.epfd = epoll_create1(EPOLL_CLOEXEC);
	struct end lend = {K_LISTEN, lfd, NULL, 0, false}, send_ = {K_SIGNAL, sfd, NULL, 0, false};
	watch(&lend, EPOLLIN);
	watch(&send_, EPOLLIN);
	struct epoll_event evs[64];
	for (;;) {
		uint64_t now = now_ms(), next = UINT64_MAX;
		for (struct proxied *p = g.conns; p; p = p->next) {
			uint64_t t = mqtt_fault_link_next(p->link, now);
			if (t < next)
				next = t;
		}
		int timeout = next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now);
		int n = epoll_wait(g.epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR)
			break;
		now = now_ms();
		bool stop = false;
		for (int i = 0; i < n; i++) {
			struct end *e = evs[i].data.ptr;
			if (e->kind == K_SIGNAL)
				stop = true;
			else if (e->kind == K_LISTEN)
				accept_all(e->fd);
			else
				on_event(e, evs[i].events, now);
		}
		/* Timers: what became due. */
		for (struct proxied *p = g.conns, *nx; p; p = nx) {
			nx = p->next;
			pump(p, now);
		}
		while (g.graveyard) {
			struct proxied *p = g.graveyard;
			g.graveyard = p->next;
			mqtt_fault_link_free(p->link);
			free(p);
		}
		if (stop)
			break;
	}
	while (g.conns)
		finish(g.conns, false);
	while (g.graveyard) {
		struct proxied *p = g.graveyard;
		g.graveyard = p->next;
		mqtt_fault_link_free(p->link);
		free(p);
	}
	if (g.pcap)
		mqtt_pcap_close(g.pcap);
	mqtt_fault_run_free(g.run);
	mqtt_fault_plan_free(&plan);
	freeaddrinfo(g.upstream);
	close(lfd);
	close(sfd);
	close(g.epfd);
	return 0;
}
