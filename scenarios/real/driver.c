/*
 * driver.c - a client library under test (mqttsim run --client-cmd): the
 * process between the runner and a driver (docs/drivers.md).
 *
 * The runner speaks to each scenario client's process in its own terms
 * (real.c: commands S, P, L, N, D, Z, Q; events m, p, c, g, s, l, n, o,
 * a, i, z, t, d). For a driver, that process is this one: it runs the
 * driver's command with a pipe on either side, and translates both ways
 * between those terms and the driver's JSON lines. It also does what an
 * application does with its library: it keeps one read outstanding
 * (taking read-delay between messages), counts the exchanges in flight,
 * and knows whether the client is online, from what the driver reports.
 * Anything the driver does outside the protocol (no hello, malformed
 * JSON, an unknown event, a command left unanswered past its deadline,
 * an exit) ends this process after an "e" event that names it: the run
 * is then broken, never passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "real.h"
#include "scenarios/lang/setup.h"

#define PACKET_MAX 512
#define HELLO_MS 10000
#define LINE_MAX_BYTES (4u << 20) /* a message of 1 MiB, escaped, fits */
#define PENDING_MAX 4096

enum kind { K_CONNECT, K_SUBSCRIBE, K_LATE_SUB, K_LATE_UNSUB, K_PUBLISH, K_READ, K_DISCONNECT };

struct pending {
	long id;
	enum kind kind;
	int step;
	uint32_t seq;
	uint8_t qos;
	bool acked;       /* publish: "ok" came; waits for "completed" (QoS 1, 2) */
	uint64_t deadline;
};

struct adapter {
	const struct scenario *sc;
	int index, fd;
	const struct scn_client *cfg;
	pid_t pid;
	int to, from, err;           /* the driver's stdin, stdout, stderr */
	char *buf;                   /* its stdout, a line at a time */
	size_t have;
	char ebuf[1024];             /* its stderr */
	size_t ehave;
	long next_id;
	struct pending pend[PENDING_MAX];
	int npend;
	unsigned timeout_ms;
	bool online, disconnected, reading, subscribing;
	int subs_left, subs_failed_cls;
	uint64_t read_at;            /* the next read goes then (read-delay) */
	char name[200];
};

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

__attribute__((format(printf, 2, 3)))
static void report(struct adapter *a, const char *fmt, ...)
{
	char buf[PACKET_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	send(a->fd, buf, (size_t)n, MSG_NOSIGNAL);
}

/* The driver broke the protocol: the runner hears why, and this process ends. */
__attribute__((format(printf, 2, 3), noreturn))
static void broken(struct adapter *a, const char *fmt, ...)
{
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	report(a, "e the driver '%s' of %s %s", a->name, a->cfg->name, why);
	if (a->pid > 0)
		kill(-a->pid, SIGKILL);
	_exit(3);
}

static void send_json(struct adapter *a, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!text)
		broken(a, "could not be written to (out of memory)");
	size_t len = strlen(text);
	text[len] = '\n'; /* over the NUL: written as one line */
	const char *p = text;
	size_t left = len + 1;
	while (left) {
		ssize_t w = write(a->to, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			const char *why = w < 0 ? strerror(errno) : "closed";
			free(text);
			/* Its end closed: most often the driver is exiting. Say how
			 * it ended when it does within a second (a race between the
			 * write and its exit made the report vary). */
			for (int i = 0; a->pid > 0 && i < 100; i++) {
				int status;
				if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
					a->pid = -1;
					broken(a, "%s %d", WIFSIGNALED(status) ? "died of signal" : "exited with status",
					       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
				}
				nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
			}
			broken(a, "stopped reading its commands (%s)", why);
		}
		p += w;
		left -= (size_t)w;
	}
	free(text);
}

static struct pending *command(struct adapter *a, enum kind kind, json_t *obj)
{
	if (a->npend == PENDING_MAX)
		broken(a, "has %d commands unanswered", PENDING_MAX);
	struct pending *p = &a->pend[a->npend++];
	/* A library may rightly hold a publish or a subscribe as long as it
	 * has no room or no connection (the scenario's limit bounds that);
	 * starting and saying goodbye it must answer promptly. */
	bool prompt = kind == K_CONNECT || kind == K_DISCONNECT;
	*p = (struct pending){.id = ++a->next_id, .kind = kind, .step = -1,
	                      .deadline = prompt ? mono_ms() + a->timeout_ms : UINT64_MAX};
	json_object_set_new(obj, "id", json_integer(p->id));
	send_json(a, obj);
	return p;
}

static void forget(struct adapter *a, struct pending *p)
{
	*p = a->pend[--a->npend];
}

static struct pending *find(struct adapter *a, long id)
{
	for (int i = 0; i < a->npend; i++)
		if (a->pend[i].id == id)
			return &a->pend[i];
	return NULL;
}

static size_t inflight(const struct adapter *a)
{
	size_t n = 0;
	for (int i = 0; i < a->npend; i++)
		n += a->pend[i].kind == K_PUBLISH && a->pend[i].qos > 0;
	return n;
}

static void start_driver(struct adapter *a, const char *cmd, const char *dir)
{
	int in[2], out[2], err[2];
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		broken(a, "cannot be started: %s", strerror(errno));
	mkdir(dir, 0700);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		broken(a, "cannot be started: %s", strerror(errno));
	if (pid == 0) {
		/* A crash of the scenario client is SIGKILL of this process: the
		 * driver goes with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* Its own process group, which a crash kills whole: a command
		 * that runs the driver under a shell (`cd DIR && ./driver`) has
		 * the driver in it, not only the shell. */
		setpgid(0, 0);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		setenv("MQTTSIM_STORE_DIR", dir, 1);
		setenv("MQTTSIM_CLIENT", a->cfg->name, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid); /* either side may run first */
	close(in[0]);
	close(out[1]);
	close(err[1]);
	a->pid = pid;
	a->to = in[1];
	a->from = out[0];
	a->err = err[0];
	fcntl(a->from, F_SETFL, O_NONBLOCK);
	fcntl(a->err, F_SETFL, O_NONBLOCK);
}

/* Standard error of the driver, a line at a time, into the trace. */
static void drain_stderr(struct adapter *a)
{
	for (;;) {
		ssize_t n = read(a->err, a->ebuf + a->ehave, sizeof a->ebuf - 1 - a->ehave);
		if (n <= 0)
			return;
		a->ehave += (size_t)n;
		char *nl;
		while ((nl = memchr(a->ebuf, '\n', a->ehave)) || a->ehave == sizeof a->ebuf - 1) {
			size_t len = nl ? (size_t)(nl - a->ebuf) : a->ehave;
			report(a, "t driver: %.*s", (int)(len < 300 ? len : 300), a->ebuf);
			size_t used = nl ? len + 1 : len;
			memmove(a->ebuf, a->ebuf + used, a->ehave - used);
			a->ehave -= used;
		}
	}
}

static const char *str_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The runner's error class of a driver's: -1 unknown (the message may arrive or not). */
static int error_class(struct adapter *a, const char *cls)
{
	if (!cls)
		broken(a, "sent an error without its \"class\"");
	if (!strcmp(cls, "unknown"))
		return -1;
	if (!strcmp(cls, "not-sent") || !strcmp(cls, "refused") || !strcmp(cls, "closed"))
		return 1;
	broken(a, "sent an error of unknown class \"%.40s\" (not-sent, unknown, refused, closed)", cls);
}

static void on_message(struct adapter *a, json_t *ev)
{
	const char *topic = str_of(ev, "topic"), *payload = str_of(ev, "payload");
	json_t *qos = json_object_get(ev, "qos");
	if (!topic || !payload || !json_is_integer(qos) || json_integer_value(qos) < 0 ||
	    json_integer_value(qos) > 2)
		broken(a, "sent a message without topic, payload or QoS 0-2");
	uint8_t buf[PACKET_MAX];
	size_t tlen = strlen(topic), plen = strlen(payload);
	if (tlen > 256)
		tlen = 256;
	if (plen > 64)
		plen = 64; /* enough for its identity */
	buf[0] = 'm';
	buf[1] = (uint8_t)json_integer_value(qos);
	buf[2] = json_is_true(json_object_get(ev, "dup"));
	buf[3] = json_is_true(json_object_get(ev, "retain"));
	buf[4] = (uint8_t)(tlen >> 8);
	buf[5] = (uint8_t)tlen;
	memcpy(buf + 6, topic, tlen);
	memcpy(buf + 6 + tlen, payload, plen);
	send(a->fd, buf, 6 + tlen + plen, MSG_NOSIGNAL);
	a->reading = false;
	a->read_at = mono_ms() + a->cfg->read_delay_ms; /* the application takes its time */
}

static void on_event(struct adapter *a, json_t *ev, const char *line)
{
	const char *what = str_of(ev, "event");
	if (!what)
		broken(a, "wrote a line without \"event\": %.200s", line);
	if (!strcmp(what, "connected")) {
		a->online = true;
		json_t *sp = json_object_get(ev, "session_present");
		report(a, "o");
		report(a, "a %d", !sp ? -1 : json_is_true(sp) ? 1 : 0); /* -1: the driver cannot tell */
		return;
	}
	if (!strcmp(what, "connection_lost")) {
		a->online = false;
		const char *why = str_of(ev, "reason");
		report(a, "t read: connection lost%s%.200s", why ? ": " : "", why ? why : "");
		report(a, "b");
		return;
	}
	if (!strcmp(what, "log")) {
		const char *text = str_of(ev, "text");
		report(a, "t driver: %.300s", text ? text : "");
		return;
	}
	if (!strcmp(what, "hello"))
		broken(a, "said hello twice");
	json_t *idv = json_object_get(ev, "id");
	static const char *const known[] = {"ok", "error", "completed", "message"};
	bool is_known = false;
	for (size_t k = 0; k < sizeof known / sizeof *known; k++)
		is_known |= !strcmp(what, known[k]);
	if (!is_known)
		broken(a, "sent an unknown event \"%.40s\"", what);
	if (!json_is_integer(idv))
		broken(a, "sent \"%s\" without the id of its command", what);
	struct pending *p = find(a, (long)json_integer_value(idv));
	if (!p)
		broken(a, "answered %ld, a command it was not given or that was answered", (long)json_integer_value(idv));
	bool ok = !strcmp(what, "ok"), error = !strcmp(what, "error");
	int cls = error ? error_class(a, str_of(ev, "class")) : 0;
	switch (p->kind) {
	case K_READ:
		if (strcmp(what, "message") != 0)
			broken(a, "answered a read with \"%s\", not a message", what);
		on_message(a, ev);
		forget(a, p);
		return;
	case K_CONNECT:
		if (error)
			broken(a, "could not start its client: %.200s", str_of(ev, "text") ? str_of(ev, "text") : "");
		break;
	case K_SUBSCRIBE:
		if (ok) {
			json_t *g = json_object_get(ev, "granted");
			if (json_is_integer(g))
				report(a, "g %d %lld", p->step, (long long)json_integer_value(g));
		} else if (error && !a->subs_failed_cls) {
			a->subs_failed_cls = cls > 0 ? cls : 1;
		}
		if (--a->subs_left == 0) {
			report(a, "s %d 0", a->subs_failed_cls);
			a->subscribing = false;
		}
		break;
	case K_LATE_SUB:
	case K_LATE_UNSUB: {
		json_t *g = json_object_get(ev, "granted");
		report(a, "%c %d %d 0 %lld", p->kind == K_LATE_SUB ? 'l' : 'n', p->step, error ? 1 : 0,
		       json_is_integer(g) ? (long long)json_integer_value(g) : (long long)-1);
		break;
	}
	case K_PUBLISH:
		if (!strcmp(what, "completed")) {
			if (!p->acked)
				broken(a, "completed publish %ld before it said ok", p->id);
			report(a, "c %d %u", p->step, p->seq);
			break;
		}
		if (p->acked)
			broken(a, "answered publish %ld twice", p->id);
		if (error)
			report(a, "t publish #%u: %s: %.200s", p->seq, str_of(ev, "class"),
			       str_of(ev, "text") ? str_of(ev, "text") : "");
		report(a, "p %d %u %d 0", p->step, p->seq, cls);
		if (ok && p->qos > 0) {
			p->acked = true;
			p->deadline = UINT64_MAX; /* the broker's acknowledgement takes what it takes */
			report(a, "i %zu", inflight(a));
			return;
		}
		break;
	case K_DISCONNECT:
		a->disconnected = true;
		report(a, "d %d -1", cls); /* the runner sees whether it wrote a DISCONNECT */
		break;
	}
	if (!strcmp(what, "completed") && p->kind != K_PUBLISH)
		broken(a, "completed a command that was not a publish");
	if (!strcmp(what, "message"))
		broken(a, "answered a command with a message");
	forget(a, p);
	report(a, "i %zu", inflight(a));
}

/* Reads the driver's lines; false at its end. */
static bool read_driver(struct adapter *a, json_t **hello)
{
	ssize_t n = read(a->from, a->buf + a->have, LINE_MAX_BYTES - a->have);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	a->have += (size_t)n;
	char *nl;
	while ((nl = memchr(a->buf, '\n', a->have))) {
		*nl = 0;
		json_error_t jerr;
		json_t *ev = json_loads(a->buf, 0, &jerr);
		if (!ev || !json_is_object(ev))
			broken(a, "wrote malformed JSON (%s): %.200s", ev ? "not an object" : jerr.text, a->buf);
		if (hello) {
			*hello = ev;
		} else {
			on_event(a, ev, a->buf);
			json_decref(ev);
		}
		size_t used = (size_t)(nl - a->buf) + 1;
		memmove(a->buf, a->buf + used, a->have - used);
		a->have -= used;
		if (hello)
			return true;
	}
	if (a->have == LINE_MAX_BYTES)
		broken(a, "wrote a line longer than %u bytes", LINE_MAX_BYTES);
	return true;
}

static json_t *will_of(const struct scn_client *c, int index)
{
	if (!*c->will_topic)
		return json_null();
	char msg[16];
	snprintf(msg, sizeof msg, "w:%d:", index); /* as the threaded client's (setup.c) */
	return json_pack("{s:s, s:s, s:i, s:b}", "topic", c->will_topic, "payload", msg, "qos",
	                 c->will_qos, "retain", c->will_retain);
}

static void subscribe_all(struct adapter *a)
{
	a->subs_left = 0;
	a->subs_failed_cls = 0;
	for (int i = 0; i < a->sc->nsteps; i++) {
		const struct scn_step *st = &a->sc->steps[i];
		if (st->kind != SCN_SUBSCRIBE || st->late || st->client != a->index)
			continue;
		struct pending *p = command(a, K_SUBSCRIBE, json_pack("{s:s, s:s, s:i}", "cmd", "subscribe",
		                                                     "topic", st->topic, "qos", st->qos));
		p->step = i;
		a->subs_left++;
	}
	a->subscribing = a->subs_left > 0;
	if (!a->subs_left)
		report(a, "s 0 0");
}

static void publish(struct adapter *a, int step, uint32_t seq)
{
	const struct scn_step *st = &a->sc->steps[step];
	char id[64];
	int len = st->clear ? 0 : scn_identity(id, a->index, step, seq);
	size_t size = st->size > (size_t)len ? st->size : (size_t)len;
	char *payload = malloc(size + 1);
	if (!payload)
		broken(a, "could not be given a payload (out of memory)");
	memcpy(payload, id, (size_t)len);
	memset(payload + len, 'x', size - (size_t)len);
	payload[size] = 0;
	struct pending *p = command(a, K_PUBLISH, json_pack("{s:s, s:s, s:s, s:i, s:b}", "cmd", "publish",
	                                                    "topic", st->topic, "payload", payload,
	                                                    "qos", st->qos, "retain", st->retain));
	free(payload);
	p->step = step;
	p->seq = seq;
	p->qos = st->qos;
}

static void runner_command(struct adapter *a, char *cmd)
{
	int step;
	unsigned seq;
	if (cmd[0] == 'S') {
		subscribe_all(a);
	} else if (cmd[0] == 'P' && sscanf(cmd, "P %d %u", &step, &seq) == 2 && step >= 0 &&
	           step < a->sc->nsteps) {
		publish(a, step, seq);
	} else if ((cmd[0] == 'L' || cmd[0] == 'N') && sscanf(cmd + 1, " %d", &step) == 1 && step >= 0 &&
	           step < a->sc->nsteps) {
		const struct scn_step *st = &a->sc->steps[step];
		json_t *obj = cmd[0] == 'L'
		        ? json_pack("{s:s, s:s, s:i}", "cmd", "subscribe", "topic", st->topic, "qos", st->qos)
		        : json_pack("{s:s, s:s}", "cmd", "unsubscribe", "topic", st->topic);
		command(a, cmd[0] == 'L' ? K_LATE_SUB : K_LATE_UNSUB, obj)->step = step;
	} else if (cmd[0] == 'D') {
		command(a, K_DISCONNECT, json_pack("{s:s}", "cmd", "disconnect"));
	} else if (cmd[0] == 'Z') {
		report(a, "z %d %zu", a->disconnected ? SCN_FINAL_CLOSED : a->online ? SCN_FINAL_ONLINE
		       : SCN_FINAL_OFFLINE, inflight(a));
	}
}

/* mqttsim __driver FILE INDEX ADDRESS FD SEED GENERATION DIR FIRED PREFIX OWN CMD TIMEOUT_MS */
int scenario_driver_client(int argc, char **argv)
{
	if (argc != 14)
		return 2;
	static struct scenario sc;
	static struct adapter a;
	char err[600];
	if (scenario_load(&sc, argv[2], err, sizeof err) != 0 ||
	    scn_prefix(&sc, argv[10], err, sizeof err) != 0) {
		fprintf(stderr, "mqttsim driver: %s\n", err);
		return 2;
	}
	a.sc = &sc;
	a.index = atoi(argv[3]);
	a.fd = atoi(argv[5]);
	if (a.index < 0 || a.index >= sc.nclients)
		return 2;
	a.cfg = &sc.clients[a.index];
	a.timeout_ms = (unsigned)strtoul(argv[13], NULL, 10);
	snprintf(a.name, sizeof a.name, "%.190s", argv[12]);
	if (!(a.buf = malloc(LINE_MAX_BYTES)))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	start_driver(&a, argv[12], argv[8]);
	report(&a, "k %d", (int)a.pid); /* a crash kills the driver alone: what it said still comes */

	/* The hello first: who it is and what it declares. */
	json_t *hello = NULL;
	uint64_t deadline = mono_ms() + HELLO_MS;
	while (!hello) {
		int left = (int)(deadline - mono_ms());
		if (left <= 0)
			broken(&a, "said no hello within %d s", HELLO_MS / 1000);
		struct pollfd p[2] = {{a.from, POLLIN, 0}, {a.err, POLLIN, 0}};
		poll(p, 2, left);
		drain_stderr(&a);
		if (p[0].revents && !read_driver(&a, &hello)) {
			int status = 0;
			waitpid(a.pid, &status, 0);
			drain_stderr(&a);
			a.pid = 0;
			broken(&a, "%s %d before its hello", WIFSIGNALED(status) ? "died of signal" :
			       "exited with status", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		}
	}
	const char *what = str_of(hello, "event");
	if (!what || strcmp(what, "hello") != 0)
		broken(&a, "began with something else than its hello");
	const char *library = str_of(hello, "library");
	report(&a, "t driver: %s, %s", str_of(hello, "driver") ? str_of(hello, "driver") : "?",
	       library ? library : "?");
	json_decref(hello);
	command(&a, K_CONNECT, json_pack("{s:s, s:s, s:s, s:b, s:i, s:o, s:i, s:i, s:i}", "cmd", "connect",
	                                 "address", argv[4], "client_id", a.cfg->id, "clean_session",
	                                 a.cfg->clean, "keep_alive", a.cfg->keep_alive, "will",
	                                 will_of(a.cfg, a.index), "ack_timeout_ms", a.cfg->ack_timeout_ms,
	                                 "pause_timeout_ms", a.cfg->pause_ms, "inflight_max",
	                                 a.cfg->window));
	for (;;) {
		uint64_t now = mono_ms();
		for (int i = 0; i < a.npend; i++)
			if (now >= a.pend[i].deadline)
				broken(&a, "left command %ld unanswered for %u ms", a.pend[i].id, a.timeout_ms);
		if (!a.reading && now >= a.read_at) {
			command(&a, K_READ, json_pack("{s:s}", "cmd", "read"));
			a.reading = true;
		}
		struct pollfd p[3] = {{a.fd, POLLIN, 0}, {a.from, POLLIN, 0}, {a.err, POLLIN, 0}};
		poll(p, 3, a.reading ? 50 : (int)(a.read_at > now ? a.read_at - now : 0));
		drain_stderr(&a);
		if (p[1].revents && !read_driver(&a, NULL)) {
			int status = 0;
			waitpid(a.pid, &status, 0);
			drain_stderr(&a);
			a.pid = 0;
			/* SIGKILL is the runner's crash: everything the driver said has
			 * been passed on; this process ends with it. A read it had not
			 * answered was under way: the kill may have come inside it
			 * (oracle_read_interrupted). */
			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
				if (a.reading)
					report(&a, "r");
				_exit(0);
			}
			broken(&a, "%s %d", WIFSIGNALED(status) ? "died of signal" : "exited with status",
			       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		}
		if (p[0].revents) {
			char cmd[PACKET_MAX];
			ssize_t n = recv(a.fd, cmd, sizeof cmd - 1, MSG_DONTWAIT);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0 || cmd[0] == 'Q')
				break; /* the runner is done, or gone */
			cmd[n] = 0;
			runner_command(&a, cmd);
		}
	}
	/* The end: its input closes; it has a moment to go by itself. */
	close(a.to);
	for (int i = 0; i < 100; i++) {
		if (waitpid(a.pid, NULL, WNOHANG) == a.pid)
			return 0;
		struct timespec t = {0, 10 * 1000000};
		nanosleep(&t, NULL);
	}
	kill(-a.pid, SIGKILL);
	waitpid(a.pid, NULL, 0);
	return 0;
}

int driver_probe(const char *cmd, char *caps, size_t capscap, char *who, size_t whocap, char *err,
                 size_t errcap)
{
	int in[2], out[2];
	const char *tmp = getenv("TMPDIR");
	char path[600];
	snprintf(path, sizeof path, "%s/mqttsim-probe-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(path)) {
		snprintf(err, errcap, "cannot make a folder: %s", strerror(errno));
		return -1;
	}
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		snprintf(err, errcap, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 2);
		setenv("MQTTSIM_STORE_DIR", path, 1);
		setenv("MQTTSIM_CLIENT", "probe", 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	char line[4096];
	size_t have = 0;
	int rc = -1;
	uint64_t deadline = mono_ms() + HELLO_MS;
	snprintf(err, errcap, "said no hello within %d s", HELLO_MS / 1000);
	while (pid > 0 && have < sizeof line - 1) {
		int left = (int)(deadline - mono_ms());
		struct pollfd p = {out[0], POLLIN, 0};
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		ssize_t n = read(out[0], line + have, sizeof line - 1 - have);
		if (n <= 0) {
			int status = 0;
			waitpid(pid, &status, 0);
			pid = 0;
			snprintf(err, errcap, "%s %d before its hello", WIFSIGNALED(status) ? "died of signal" :
			         "exited with status", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			break;
		}
		have += (size_t)n;
		line[have] = 0;
		char *nl = strchr(line, '\n');
		if (!nl)
			continue;
		*nl = 0;
		json_error_t jerr;
		json_t *hello = json_loads(line, 0, &jerr);
		const char *what = hello ? str_of(hello, "event") : NULL;
		json_t *list = hello ? json_object_get(hello, "capabilities") : NULL;
		if (!hello || !what || strcmp(what, "hello") != 0 || (list && !json_is_array(list))) {
			snprintf(err, errcap, "began with something else than its hello: %.200s", line);
		} else {
			size_t used = (size_t)snprintf(caps, capscap, ",");
			size_t k;
			json_t *c;
			json_array_foreach(list, k, c)
				if (json_is_string(c) && used < capscap)
					used += (size_t)snprintf(caps + used, capscap - used, "%s,", json_string_value(c));
			snprintf(who, whocap, "%s (%s)", str_of(hello, "driver") ? str_of(hello, "driver") : "?",
			         str_of(hello, "library") ? str_of(hello, "library") : "?");
			rc = 0;
		}
		json_decref(hello);
		break;
	}
	close(in[1]);
	close(out[0]);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	rmdir(path); /* a driver that wrote there keeps its files: not ours to remove */
	return rc;
}
