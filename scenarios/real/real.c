/*
 * real.c - mqttsim run --real: a scenario over real sockets, threads and
 * processes, judged by the same oracle as in simulation.
 *
 * The runner keeps the fake broker in its own process, serving a free
 * loopback port from its thread, and the oracle. Each client is a process
 * of its own (this program again, as "mqttsim __client ..."), running the
 * threaded client of the library through the fault-injecting transport
 * (the client's faults, the network's delay) on a TCP connection to the
 * broker, with a file-system store in a private directory for store=fs.
 * So a crash is what it says: the client's process is killed (SIGKILL),
 * at a time by the runner, or at a packet by itself the moment its
 * transport sees it, and restarted later on its store.
 *
 * The runner tells each client process what to do (subscribe, publish
 * message k of a workload line, disconnect, quit) over a SOCK_SEQPACKET
 * socket, one command a packet, and the process reports back what its
 * application saw (messages read, calls returned, exchanges completed,
 * connections made, faults applied, what it wrote that broke the DUP or
 * identifier rules). Real time is not reproducible: a seed fixes the
 * fault decisions, not the interleaving.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <ftw.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/client.h"
#include "mqttsim/fakebroker.h"
#include "mqttsim/faults.h"
#include "scenarios/oracle/oracle.h"
#include "faults/proxy.h"
#include "mqttsim/pcap.h"
#include "realscript.h"
#include "real.h"
#include "scenarios/lang/setup.h"
#include "scenarios/oracle/wire.h"
#include "target.h"

#define PACKET_MAX 512
#define PAYLOAD_SHOWN 64 /* of a message read, enough for its identity */

static uint64_t clock_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* The client process.                                                 */

struct pending {
	struct mqtt_exchange *ex;
	int step;
	uint32_t seq;
};

struct child {
	const struct scenario *sc;
	int index;
	const struct scn_client *cfg;
	int fd;
	pthread_mutex_t send_lock;
	struct mqtt_client *client;
	uint64_t prng;
	pthread_mutex_t lock; /* pend, wire */
	struct pending *pend;
	size_t npend, cap;
	struct wire *wire;
	struct wire_report wr;
	bool dup_sent, id_sent;
	bool adopted;
	atomic_bool stop;
	atomic_uint fresh_sessions; /* CONNACKs without a session present (the reader's thread) */
};

__attribute__((format(printf, 2, 3)))
static void child_send(struct child *ch, const char *fmt, ...)
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
	pthread_mutex_lock(&ch->send_lock);
	send(ch->fd, buf, (size_t)n, MSG_NOSIGNAL);
	pthread_mutex_unlock(&ch->send_lock);
}

static void child_warn(void *arg, const char *text)
{
	child_send(arg, "t warning: %s", text);
}

/* A fault applied on the client's connection; a crash mark kills the process now. */
static void child_fault(void *arg, const struct mqtt_fault_report *r)
{
	struct child *ch = arg;
	if (r->line >= CRASH_LINE_BASE) {
		child_send(ch, "x %u", r->line - CRASH_LINE_BASE);
		raise(SIGKILL);
	}
	if (!r->line)
		return; /* the network's own delay, not news */
	char line[200];
	mqtt_fault_report_format(r, line, sizeof line);
	child_send(ch, "t fault %s", line);
}

/* What the client writes and reads, checked by the DUP and identifier rules (wire.c). */
struct observed {
	struct mqtt_conn inner;
	struct child *ch;
	uint8_t connack[4]; /* the first bytes the broker sends */
	size_t got;
};

/* Reads pass; the CONNACK at their start tells whether a session was present. */
static ssize_t obs_read(void *self, void *buf, size_t len)
{
	struct observed *o = self;
	ssize_t n = o->inner.ops->read(o->inner.self, buf, len);
	if (n > 0) {
		/* What the client reads frees the identifiers it is told are done. */
		pthread_mutex_lock(&o->ch->lock);
		wire_bytes(o->ch->wire, false, false, buf, (size_t)n, o->ch->cfg->name, &o->ch->wr);
		pthread_mutex_unlock(&o->ch->lock);
	}
	if (n > 0 && o->got < sizeof o->connack) {
		size_t k = sizeof o->connack - o->got < (size_t)n ? sizeof o->connack - o->got : (size_t)n;
		memcpy(o->connack + o->got, buf, k);
		o->got += k;
		if (o->got == sizeof o->connack && o->connack[0] == 0x20 && o->connack[1] == 2 &&
		    o->connack[3] == 0) {
			if (!(o->connack[2] & 1))
				atomic_fetch_add(&o->ch->fresh_sessions, 1);
			child_send(o->ch, "a %d", o->connack[2] & 1);
		}
	}
	return n;
}

static int obs_pending(void *self)
{
	struct observed *o = self;
	return o->inner.ops->pending ? o->inner.ops->pending(o->inner.self) : 0;
}

static ssize_t obs_writev(void *self, const struct iovec *iov, int iovcnt)
{
	struct observed *o = self;
	ssize_t n = o->inner.ops->writev(o->inner.self, iov, iovcnt);
	if (n <= 0)
		return n;
	struct child *ch = o->ch;
	pthread_mutex_lock(&ch->lock);
	size_t left = (size_t)n;
	for (int i = 0; i < iovcnt && left; i++) {
		size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
		wire_bytes(ch->wire, false, true, iov[i].iov_base, k, ch->cfg->name, &ch->wr);
		left -= k;
	}
	bool dup = ch->wr.dup_violation && !ch->dup_sent, id = ch->wr.id_violation && !ch->id_sent;
	ch->dup_sent |= dup;
	ch->id_sent |= id;
	pthread_mutex_unlock(&ch->lock);
	if (dup)
		child_send(ch, "w d %s", ch->wr.dup_why);
	if (id)
		child_send(ch, "w i %s", ch->wr.id_why);
	return n;
}

static void obs_close(void *self)
{
	struct observed *o = self;
	o->inner.ops->close(o->inner.self);
	free(o);
}

static const struct mqtt_conn_ops observed_ops = {obs_read, obs_writev, obs_pending, obs_close, NULL, NULL};

struct observer {
	struct mqtt_dialer inner;
	struct child *ch;
};

static int obs_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	struct observer *d = arg;
	struct observed *o = malloc(sizeof *o);
	if (!o)
		return -ENOMEM;
	int rc = d->inner.dial(d->inner.arg, &o->inner, timeout_ms);
	if (rc) {
		free(o);
		return rc;
	}
	o->ch = d->ch;
	o->got = 0;
	pthread_mutex_lock(&d->ch->lock);
	wire_connection(d->ch->wire, d->ch->adopted);
	pthread_mutex_unlock(&d->ch->lock);
	child_send(d->ch, "o");
	*out = (struct mqtt_conn){&observed_ops, o, o->inner.fd};
	return 0;
}

static void obs_free(void *arg)
{
	struct observer *d = arg;
	if (d->inner.free)
		d->inner.free(d->inner.arg);
	free(d);
}

static void send_message(struct child *ch, const struct mqtt_message *m)
{
	uint8_t buf[PACKET_MAX];
	size_t tlen = m->topic.len < 256 ? m->topic.len : 256;
	size_t plen = m->payload.len < PAYLOAD_SHOWN ? m->payload.len : PAYLOAD_SHOWN;
	buf[0] = 'm';
	buf[1] = m->qos;
	buf[2] = m->dup;
	buf[3] = m->retain;
	buf[4] = (uint8_t)(tlen >> 8);
	buf[5] = (uint8_t)tlen;
	memcpy(buf + 6, m->topic.data, tlen);
	memcpy(buf + 6 + tlen, m->payload.data, plen);
	pthread_mutex_lock(&ch->send_lock);
	send(ch->fd, buf, 6 + tlen + plen, MSG_NOSIGNAL);
	pthread_mutex_unlock(&ch->send_lock);
}

static void *reader(void *arg)
{
	struct child *ch = arg;
	for (;;) {
		struct mqtt_message msg = {0};
		struct mqtt_error e = mqtt_client_read(ch->client, &msg);
		if (e.cls == MQTT_SUCCESS) {
			send_message(ch, &msg);
		} else if (e.cls == MQTT_BIG_MESSAGE && msg.topic.data) {
			uint8_t *payload = NULL;
			if (mqtt_client_read_all(ch->client, &msg, &payload).cls == MQTT_SUCCESS)
				send_message(ch, &msg);
			free(payload);
			continue;
		} else if (e.cls == MQTT_CLOSED) {
			return NULL;
		} else if (e.cls == MQTT_DOWN) {
			mqtt_client_backoff(ch->client, NULL);
			continue;
		} else {
			char why[200];
			child_send(ch, "t read: %s", mqtt_error_text(e, why, sizeof why));
			if (e.cls != MQTT_REFUSED)
				child_send(ch, "b"); /* the connection is lost (mqtt_client_read) */
			continue;
		}
		/* The application takes its time; the next read acknowledges. */
		if (ch->cfg->read_delay_ms)
			sleep_ms(ch->cfg->read_delay_ms);
	}
}

/* Exchanges that completed, reported by workload line and sequence. */
static void *completions(void *arg)
{
	struct child *ch = arg;
	int efd = mqtt_client_event_fd(ch->client);
	size_t reported = SIZE_MAX;
	while (!atomic_load(&ch->stop)) {
		struct pollfd p = {efd, POLLIN, 0};
		if (efd >= 0 && poll(&p, 1, 50) > 0) {
			uint64_t count;
			if (read(efd, &count, sizeof count) < 0 && errno != EAGAIN)
				break;
		} else if (efd < 0) {
			sleep_ms(50);
		}
		pthread_mutex_lock(&ch->lock);
		for (size_t i = 0; i < ch->npend;) {
			if (mqtt_exchange_state(ch->pend[i].ex) == MQTT_EXCHANGE_DONE) {
				child_send(ch, "c %d %u", ch->pend[i].step, ch->pend[i].seq);
				mqtt_exchange_release(ch->pend[i].ex);
				ch->pend[i] = ch->pend[--ch->npend];
			} else {
				i++;
			}
		}
		pthread_mutex_unlock(&ch->lock);
		/* What is in flight, adopted exchanges included: the run ends at 0. */
		size_t inflight = mqtt_client_inflight(ch->client);
		if (inflight != reported) {
			child_send(ch, "i %zu", inflight);
			reported = inflight;
		}
	}
	return NULL;
}

static void do_subscribe(struct child *ch)
{
	unsigned session = 0;
	bool granted_any = false;
	for (int i = 0; i < ch->sc->nsteps; i++) {
		const struct scn_step *st = &ch->sc->steps[i];
		if (st->kind != SCN_SUBSCRIBE || st->late || st->client != ch->index)
			continue;
		struct mqtt_topic f = {mqtt_slice_str(st->topic), st->qos};
		mqtt_client_wait_online(ch->client, NULL);
		uint8_t granted = st->qos;
		struct mqtt_error e = mqtt_client_subscribe_codes(ch->client, NULL, &f, 1, &granted);
		if (e.cls == MQTT_SUCCESS) {
			child_send(ch, "g %d %u", i, granted); /* the QoS the SUBACK granted */
			/* Those granted before a new session began went with the
			 * old one: all again. */
			unsigned now_in = atomic_load(&ch->fresh_sessions);
			if (granted_any && now_in != session)
				i = -1;
			session = now_in;
			granted_any = true;
			continue;
		}
		if (e.cls != MQTT_DOWN && e.cls != MQTT_BREAK && e.cls != MQTT_ABANDONED &&
		    e.cls != MQTT_MAX && e.cls != MQTT_TIMEOUT && e.cls != MQTT_IO &&
		    e.cls != MQTT_PROTOCOL) {
			child_send(ch, "s %d %d", (int)e.cls, e.code);
			return;
		}
		/* The connection went meanwhile (for whatever reason: a timeout,
		 * an I/O error): all of them again once online, as the
		 * simulator's application does. A clean session ended with that
		 * connection, and took those already granted with it. */
		sleep_ms(10);
		i = -1;
	}
	child_send(ch, "s 0 0");
}

static void do_publish(struct child *ch, int step, uint32_t seq)
{
	const struct scn_step *st = &ch->sc->steps[step];
	char id[64];
	int len = st->clear ? 0 : scn_identity(id, ch->index, step, seq);
	size_t size = st->size > (size_t)len ? st->size : (size_t)len;
	uint8_t *buf = malloc(size ? size : 1); /* a clear has no payload */
	if (!buf) {
		child_send(ch, "p %d %u %d %d", step, seq, (int)MQTT_PERSISTENCE, ENOMEM);
		return;
	}
	memcpy(buf, id, (size_t)len);
	memset(buf + len, 'x', size - (size_t)len);
	struct mqtt_exchange *ex = NULL;
	struct mqtt_error e;
	for (;;) {
		e = mqtt_client_publish(ch->client, NULL, st->qos, st->retain, mqtt_slice_str(st->topic),
		                        (struct mqtt_slice){buf, size}, st->qos ? &ex : NULL);
		/* The window is full, or offline at QoS 0: the application tries again. */
		if (e.cls == MQTT_MAX)
			sleep_ms(1);
		else if (e.cls == MQTT_DOWN)
			mqtt_client_wait_online(ch->client, NULL);
		else
			break;
	}
	free(buf);
	if (e.cls == MQTT_SUCCESS && ex) {
		pthread_mutex_lock(&ch->lock);
		if (ch->npend == ch->cap) {
			size_t cap = ch->cap ? ch->cap * 2 : 64;
			struct pending *np = realloc(ch->pend, cap * sizeof *np);
			if (np) {
				ch->pend = np;
				ch->cap = cap;
			}
		}
		if (ch->npend < ch->cap)
			ch->pend[ch->npend++] = (struct pending){ex, step, seq};
		else
			mqtt_exchange_release(ex);
		pthread_mutex_unlock(&ch->lock);
	}
	child_send(ch, "p %d %u %d %d", step, seq, (int)e.cls, e.code);
}

/*
 * The client's plan without the one-shot faults (count=1) and crash marks
 * that acted in an earlier process: in simulation a plan runs once for
 * the whole run, restarts included; here every process has its own run.
 */
static void drop_fired(struct mqtt_fault_plan *plan, const char *fired)
{
	size_t kept = 0;
	for (size_t i = 0; i < plan->n; i++) {
		const struct mqtt_fault *f = &plan->faults[i];
		bool gone = false;
		char line[16];
		snprintf(line, sizeof line, ",%u,", f->line);
		if (f->count == 1 && f->line && strstr(fired, line))
			gone = true;
		if (!gone)
			plan->faults[kept++] = *f;
	}
	plan->n = kept;
}

/* The dialer of "tcp://HOST:PORT" or "unix:PATH". */
static int dialer_of(struct mqtt_dialer *out, const char *address)
{
	if (!strncmp(address, "unix:", 5))
		return mqtt_dialer_unix(out, address + 5);
	if (strncmp(address, "tcp://", 6) != 0)
		return -1;
	char host[256];
	const char *hp = address + 6, *colon = strrchr(hp, ':');
	if (!colon || (size_t)(colon - hp) >= sizeof host)
		return -1;
	bool bracketed = *hp == '[' && colon[-1] == ']';
	snprintf(host, sizeof host, "%.*s", (int)(colon - hp) - (bracketed ? 2 : 0), hp + bracketed);
	return mqtt_dialer_tcp(out, host, colon + 1);
}

/* mqttsim __client FILE INDEX ADDRESS FD SEED GENERATION DIR FIRED PREFIX OWN
 * (OWN 1: only the faults of the client's own calls; a proxy does the rest) */
int scenario_real_client(int argc, char **argv)
{
	if (argc != 12)
		return 2;
	static struct scenario sc;
	char err[600];
	if (scenario_load(&sc, argv[2], err, sizeof err) != 0 ||
	    scn_prefix(&sc, argv[10], err, sizeof err) != 0) {
		fprintf(stderr, "mqttsim client: %s\n", err);
		return 2;
	}
	struct child ch = {.sc = &sc, .index = atoi(argv[3]), .fd = atoi(argv[5])};
	uint64_t seed = strtoull(argv[6], NULL, 10);
	int generation = atoi(argv[7]);
	const char *dir = argv[8];
	if (ch.index < 0 || ch.index >= sc.nclients)
		return 2;
	ch.cfg = &sc.clients[ch.index];
	pthread_mutex_init(&ch.send_lock, NULL);
	pthread_mutex_init(&ch.lock, NULL);
	if (!(ch.wire = calloc(1, sizeof *ch.wire)))
		return 1;
	wire_init(ch.wire, WIRE_CLIENT);
	/* A restart draws other jitter than the first life. */
	ch.prng = scn_client_prng(seed, ch.index) + (uint64_t)generation * 7919;
	bool has_store = ch.cfg->store == SCN_STORE_FS;
	ch.adopted = has_store && generation > 1;

	struct mqtt_fault_plan plan = {0};
	struct mqtt_dialer tcp, faulty;
	struct observer *obs = malloc(sizeof *obs);
	if (scn_client_plan(&sc, ch.index, &plan) == 0)
		drop_fired(&plan, argv[9]);
	if (!strcmp(argv[11], "1"))
		scn_plan_keep(&plan, true);
	if (!obs ||
	    dialer_of(&tcp, argv[4]) != 0 ||
	    mqtt_dialer_faulty(&faulty, tcp, &plan, scn_fault_seed(seed, ch.index) + (uint64_t)generation,
	                       child_fault, &ch) != 0) {
		fprintf(stderr, "mqttsim client: cannot set up the connection\n");
		return 1;
	}
	obs->inner = faulty;
	obs->ch = &ch;
	struct mqtt_client_config cfg = {.dialer = {obs_dial, obs_free, obs}};
	char will[16];
	scn_session_config(ch.cfg, ch.index, &ch.prng, will, &cfg.session);
	struct mqtt_store store;
	if (has_store && mqtt_store_fs(&store, dir) != 0) {
		fprintf(stderr, "mqttsim client: %s: cannot open the store\n", dir);
		return 1;
	}
	enum mqtt_session_mode mode = !has_store ? MQTT_SESSION_VOLATILE
	                              : generation > 1 ? MQTT_SESSION_ADOPT : MQTT_SESSION_INIT;
	struct mqtt_error e = mqtt_client_new(&ch.client, &cfg, mode, has_store ? &store : NULL,
	                                      child_warn, &ch);
	if (e.cls) {
		char why[200];
		child_send(&ch, "t session: %s", mqtt_error_text(e, why, sizeof why));
		return 1;
	}
	pthread_t rt, ct;
	pthread_create(&rt, NULL, reader, &ch);
	pthread_create(&ct, NULL, completions, &ch);
	char cmd[PACKET_MAX];
	bool disconnected = false;
	for (;;) {
		ssize_t n = recv(ch.fd, cmd, sizeof cmd - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the runner is gone */
		cmd[n] = 0;
		int step;
		unsigned seq;
		if (cmd[0] == 'S') {
			do_subscribe(&ch);
		} else if (cmd[0] == 'P' && sscanf(cmd, "P %d %u", &step, &seq) == 2 && step >= 0 &&
		           step < sc.nsteps) {
			do_publish(&ch, step, seq);
		} else if ((cmd[0] == 'L' || cmd[0] == 'N') && sscanf(cmd + 1, " %d", &step) == 1 &&
		           step >= 0 && step < sc.nsteps) {
			struct mqtt_topic f = {mqtt_slice_str(sc.steps[step].topic), sc.steps[step].qos};
			mqtt_client_wait_online(ch.client, NULL);
			uint8_t granted = f.qos;
			e = cmd[0] == 'L' ? mqtt_client_subscribe_codes(ch.client, NULL, &f, 1, &granted)
			                  : mqtt_client_unsubscribe(ch.client, NULL, &f, 1);
			child_send(&ch, "%c %d %d %d %u", cmd[0] == 'L' ? 'l' : 'n', step, (int)e.cls, e.code,
			           granted);
		} else if (cmd[0] == 'D') {
			e = mqtt_client_disconnect(ch.client, NULL);
			disconnected = true;
			/* Whether a DISCONNECT is among what it wrote on its last
			 * connection, for a success to be checked against. */
			pthread_mutex_lock(&ch.lock);
			bool wrote = wire_disconnect(ch.wire, false, true);
			pthread_mutex_unlock(&ch.lock);
			child_send(&ch, "d %d %d", (int)e.cls, wrote);
		} else if (cmd[0] == 'Z') {
			/* Where it ends (expect state). */
			child_send(&ch, "z %d %zu", disconnected ? SCN_FINAL_CLOSED : mqtt_client_online(ch.client)
			           ? SCN_FINAL_ONLINE : SCN_FINAL_OFFLINE, mqtt_client_inflight(ch.client));
		} else if (cmd[0] == 'Q') {
			break;
		}
	}
	mqtt_client_close(ch.client);
	pthread_join(rt, NULL);
	atomic_store(&ch.stop, true);
	pthread_join(ct, NULL);
	for (size_t i = 0; i < ch.npend; i++)
		mqtt_exchange_release(ch.pend[i].ex);
	mqtt_client_free(ch.client);
	if (has_store)
		mqtt_store_close(&store);
	mqtt_fault_plan_free(&plan);
	free(ch.pend);
	free(ch.wire);
	scenario_free(&sc);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The runner's side.                                                  */

/* How long the workload waits for every client's first connection. */
#define FIRST_CONNECTION_WAIT_MS 3000u

struct rclient {
	pid_t pid;
	int fd;                /* -1: no process */
	int generation;
	char dir[600];         /* its store, for store=fs */
	bool has_subs;
	bool subscribed;       /* its subscriptions stand (SUBACKs came) */
	bool busy;             /* a command is out */
	int busy_step;         /* -1: not a publish */
	uint32_t busy_seq;
	bool dying;            /* killed (or killing itself) on purpose */
	uint64_t restart_ms;   /* of the crash that is under way */
	uint64_t restart_at;   /* UINT64_MAX: none due */
	uint64_t back_by;      /* when the scenario has it back after its last crash (UINT64_MAX: never) */
	uint64_t slip;         /* how much later than back_by its last restart came (a loaded machine) */
	bool quitting;
	uint32_t connects;
	size_t inflight;       /* as the process last reported */
	enum scn_final final;  /* where it ended (expect state); 0 until asked */
	long final_inflight;
	uint32_t proc_connects; /* connections of the current process */
	uint64_t lost_at;      /* its process saw the connection lost ('b'); UINT64_MAX: not since 'o' */
	bool first_connect;    /* its session has not been online yet */
	bool online_once;      /* a CONNACK accepted it, in any of its processes */
	uint64_t req_sent;     /* a late (un)subscribe: when it was asked for */
	bool disconnected;     /* told to DISCONNECT: its end is clean */
	bool closed;           /* and its DISCONNECT call returned: closed for good */
	bool disconnect_ok;    /* that call reported its DISCONNECT sent */
	bool end_judged;       /* and its end was judged (closed_end_judged) */
	int disconnect_wrote;  /* and one was among the bytes it wrote (-1: the runner's cwire knows) */
	char fired[1024];      /* ",LINE,LINE,": one-shot faults that acted, for a restart */
	bool cut;              /* its connection went with the broker (no will owed) */
	pid_t driver_pid;      /* a driver's process group: a crash kills it alone (under wlock) */
};

struct real {
	const struct scenario *sc;
	const char *exe, *path;
	uint64_t seed, t0, now, start, last_event;
	bool started;
	char port[16], tmp[512];
	struct rclient c[SCN_MAX_CLIENTS];
	uint32_t next[SCN_MAX_STEPS];     /* next seq of a publish; UINT32_MAX: the step is done */
	uint64_t next_at[SCN_MAX_STEPS];
	struct oracle *o;
	struct wire_report wire;
	FILE *trace;
	char broken[512];                 /* why the run itself failed */
	struct rscript *script[SCN_MAX_CLIENTS]; /* a scripted client's broker side */
	struct script_end { struct real *m; int client; } script_end[SCN_MAX_CLIENTS];
	char script_port[SCN_MAX_CLIENTS][16];
	struct mqtt_fakebroker *fb;       /* its capture's sidecar takes the trace */
	/* The broker's end of each client's connections, judged from the
	 * fake broker's packet records (wire.c). */
	struct mqtt_fakebroker *broker;
	struct wire *bwire[SCN_MAX_CLIENTS];
	uint32_t bconn[SCN_MAX_CLIENTS];  /* the broker's connection of each client (0: none yet) */
	uint64_t rec_seq;                 /* records already judged */
	struct wire_report bwire_report;
	/* When the broker took a clean CONNECT of the client, not yet told
	 * the oracle (UINT64_MAX: none; under wlock: the proxy's thread sees
	 * them): it discards the session there was, as in simulation. */
	uint64_t discard_at[SCN_MAX_CLIENTS];
	int granted[SCN_MAX_STEPS];       /* a subscription's SUBACK code; -1: not known */
	/* A broker under test: where it is, the command that runs it, the
	 * fault link in front of it (whose thread feeds bwire, under wlock). */
	const struct real_target *target;
	bool external;
	char address[128];
	struct broker_proc bp;
	struct fault_proxy *proxy;
	char route[SCN_MAX_CLIENTS][64];  /* where each client dials: its route of the proxy */
	pthread_mutex_t wlock;
	struct mqtt_pcap *pcap_client, *pcap_broker;
	uint64_t broker_back_at;          /* a crashed broker starts again then; UINT64_MAX: none due */
	const char *driver;               /* a client library under test: its driver's command */
	bool target_broken;               /* the target broke its protocol: the run is an error */
	unsigned marks[64], nmarks;       /* crash marks the link passed (its thread, under wlock) */
	uint32_t link_conns[SCN_MAX_CLIENTS]; /* connections the link accepted (its thread, under wlock) */
	uint32_t link_at_spawn[SCN_MAX_CLIENTS]; /* link_conns when the client's process started */
	bool unpersisted[SCN_MAX_CLIENTS]; /* store=fs, but its driver declares no persistence */
	/* A driver's client end, judged from the link's client leg (under
	 * wlock): the threaded client's processes judge their own. */
	struct wire *cwire[SCN_MAX_CLIENTS];
	uint32_t cconn[SCN_MAX_CLIENTS];
	bool cadopt[SCN_MAX_CLIENTS];     /* its next connection goes on with an adopted session */
};

__attribute__((format(printf, 2, 3)))
static void rtrace(struct real *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (m->fb) {
		char line[400];
		va_list copy;
		va_copy(copy, ap);
		vsnprintf(line, sizeof line, fmt, copy);
		va_end(copy);
		mqtt_fakebroker_note(m->fb, 0, "scenario", line);
	}
	scn_vtrace(m->trace, m->now, fmt, ap);
	va_end(ap);
}

static int spawn(struct real *m, int i)
{
	struct rclient *c = &m->c[i];
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	c->generation++;
	char index[16], fdnum[16], seed[32], gen[16], exe[1024], path[600], address[160];
	snprintf(exe, sizeof exe, "%s", m->exe);
	snprintf(path, sizeof path, "%s", m->path);
	snprintf(index, sizeof index, "%d", i);
	snprintf(fdnum, sizeof fdnum, "%d", sv[1]);
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)m->seed);
	snprintf(gen, sizeof gen, "%d", c->generation);
	if (m->proxy)
		snprintf(address, sizeof address, "tcp://%s", m->route[i]);
	else if (!m->external)
		snprintf(address, sizeof address, "tcp://127.0.0.1:%s", m->script[i] ? m->script_port[i] : m->port);
	else
		snprintf(address, sizeof address, "%s", m->address);
	char prefix[64];
	snprintf(prefix, sizeof prefix, "%s", m->target && m->target->prefix ? m->target->prefix : "");
	char own[2] = {m->proxy ? '1' : '0', 0};
	char timeout[16], driver[2048];
	snprintf(timeout, sizeof timeout, "%u", m->target ? m->target->driver_timeout_ms : 0);
	snprintf(driver, sizeof driver, "%s", m->driver ? m->driver : "");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* A group of its own: a crash kills it and a driver it runs at
		 * once, before the driver could see its input end and say goodbye. */
		setpgid(0, 0);
		fcntl(sv[1], F_SETFD, 0); /* this one end goes through exec */
		char *args[] = {exe, m->driver ? "__driver" : "__client", path, index, address, fdnum, seed,
		                gen, c->dir, c->fired, prefix, own, driver, timeout, NULL};
		if (!m->driver)
			args[12] = NULL;
		execv(exe, args);
		_exit(127);
	}
	close(sv[1]);
	setpgid(pid, pid); /* either side may run first */
	pthread_mutex_lock(&m->wlock); /* the link's thread reads them (crash marks) */
	c->pid = pid;
	c->fd = sv[0];
	c->driver_pid = 0;
	m->link_at_spawn[i] = m->link_conns[i];
	pthread_mutex_unlock(&m->wlock);
	c->busy = false;
	c->busy_step = -1;
	c->inflight = 0;
	c->closed = false;
	c->disconnected = false; /* a new process was never told to (the simulator's restart) */
	c->disconnect_ok = false;
	c->end_judged = false;
	c->proc_connects = 0;
	c->lost_at = UINT64_MAX;
	/* An adopted session goes on: its first connect is a reconnect. */
	c->first_connect = c->generation == 1 || m->sc->clients[i].store != SCN_STORE_FS;
	c->dying = false;
	c->slip = c->back_by != UINT64_MAX && m->now > c->back_by ? m->now - c->back_by : 0;
	c->subscribed = false;
	m->last_event = m->now; /* a (re)start is news: "settled" waits for what it brings */
	rtrace(m, "%s: process %d started%s", m->sc->clients[i].name, (int)pid,
	       c->generation > 1 && m->sc->clients[i].store == SCN_STORE_FS ? " (adopting its store)" : "");
	return 0;
}

static void command(struct real *m, int i, const char *cmd, int step, uint32_t seq)
{
	struct rclient *c = &m->c[i];
	send(c->fd, cmd, strlen(cmd), MSG_NOSIGNAL);
	c->busy = true;
	c->busy_step = step;
	c->busy_seq = seq;
}

/* The scenario client of a client identifier, or -1. */
static int client_of_id(const struct real *m, const char *id)
{
	for (int i = 0; i < m->sc->nclients; i++)
		if (!strcmp(m->sc->clients[i].id, id))
			return i;
	return -1;
}

/* The scenario client of a broker's record. A CONNECT is recorded before
 * the broker takes it, with no client identifier yet: its own names the
 * client (its clean flag begins a new session at the broker's end). */
static int client_of_record(const struct real *m, const struct mqtt_broker_record *rec)
{
	if (*rec->client_id || rec->type != MQTT_CONNECT)
		return client_of_id(m, rec->client_id);
	struct mqtt_packet p;
	if (mqtt_decode(&p, rec->bytes, rec->len, MQTT_LENIENT, NULL) != MQTT_OK ||
	    !p.connect.client_id.len)
		return -1;
	char id[256];
	snprintf(id, sizeof id, "%.*s", (int)p.connect.client_id.len,
	         (const char *)p.connect.client_id.data);
	return client_of_id(m, id);
}

/*
 * Feeds the fake broker's new packet records to the broker's end of
 * each client's connection: what it sent and what it received, in the
 * order it did. A connection newer than the client's last one begins a
 * new connection; an older one's last records are its draining end.
 */
/* Bytes of client i's connection at the broker's end, judged there; a
 * clean CONNECT the broker took (b2c false) discards its session at that
 * time (under wlock, or on the runner's thread with no proxy). */
static void broker_end_judged(struct real *m, int i, bool old, bool b2c, const uint8_t *data,
                              size_t len, uint64_t at)
{
	uint32_t clean_before = m->bwire[i]->clean_connects;
	wire_bytes(m->bwire[i], old, b2c, data, len, m->sc->clients[i].name, &m->bwire_report);
	if (m->bwire[i]->clean_connects != clean_before && at < m->discard_at[i])
		m->discard_at[i] = at;
}

/*
 * Tells the oracle of the sessions clean CONNECTs discarded, before it
 * hears of anything the client saw since (a CONNACK): a late clean
 * CONNECT of a connection let go of, stalled on its way, discards the
 * session the next CONNACK said was present (the simulator tells it
 * as the broker takes the bytes).
 */
static void take_discards(struct real *m)
{
	for (int i = 0; i < m->sc->nclients; i++) {
		pthread_mutex_lock(&m->wlock);
		uint64_t at = m->discard_at[i];
		m->discard_at[i] = UINT64_MAX;
		pthread_mutex_unlock(&m->wlock);
		if (at != UINT64_MAX)
			oracle_session_discarded(m->o, i, at);
	}
}

static void judge_broker_records(struct real *m)
{
	if (!m->broker) {
		take_discards(m); /* a proxy's */
		return;
	}
	struct mqtt_broker *b = mqtt_fakebroker_lock(m->broker);
	struct mqtt_broker_record rec[64];
	size_t n;
	while ((n = mqtt_broker_records(b, m->rec_seq, rec, 64)) > 0) {
		for (size_t k = 0; k < n; k++) {
			m->rec_seq = rec[k].seq;
			int i = client_of_record(m, &rec[k]);
			if (i < 0 || !m->bwire[i] || !rec[k].type)
				continue;
			bool old = false;
			if (rec[k].conn > m->bconn[i]) {
				if (m->bconn[i])
					wire_retire(m->bwire[i]);
				wire_connection(m->bwire[i], false);
				m->bconn[i] = rec[k].conn;
			} else if (rec[k].conn < m->bconn[i]) {
				old = true;
			}
			broker_end_judged(m, i, old, rec[k].dir == MQTT_B2C, rec[k].bytes, rec[k].len,
			                  rec[k].time > m->t0 ? rec[k].time - m->t0 : 0);
		}
	}
	mqtt_fakebroker_unlock(m->broker);
	take_discards(m);
}

/*
 * The end of a process closed by DISCONNECT, judged once: when it dies
 * (a crash; a restart's new process has connections of its own) or at
 * the run's end.
 *  - A DISCONNECT its library said it sent, not among the bytes the
 *    client wrote: no graceful end, and its will goes [MQTT-3.1.2-8] (the
 *    simulator's disconnect_judged). Judged where the will shows, as
 *    there; its bytes are the process's own view, or the runner's for a
 *    driver's client.
 *  - A DISCONNECT the broker never took (lost or held on the way): the
 *    connection may have ended uncleanly, and then its will goes; not
 *    owed, as the broker may not have ended it yet (the simulator, which
 *    sees the broker's end, owes it).
 */
static void closed_end_judged(struct real *m, int i)
{
	struct rclient *c = &m->c[i];
	const struct scn_client *cfg = &m->sc->clients[i];
	if (!c->closed || c->end_judged)
		return;
	c->end_judged = true;
	if (c->disconnect_ok && *cfg->will_topic) {
		bool wrote = c->disconnect_wrote > 0;
		if (c->disconnect_wrote < 0 && m->cwire[i]) {
			pthread_mutex_lock(&m->wlock);
			wrote = wire_disconnect(m->cwire[i], false, true);
			pthread_mutex_unlock(&m->wlock);
		}
		if (!wrote) {
			char why[300];
			snprintf(why, sizeof why, "%s was told to disconnect, and its library "
			         "reported the DISCONNECT sent, yet it wrote none: its will goes", cfg->name);
			rtrace(m, "%s", why);
			oracle_wire_violation(m->o, SCN_WILL, why);
		}
	}
	if (!c->proc_connects || !m->bwire[i])
		return;
	judge_broker_records(m); /* what the broker took until now */
	pthread_mutex_lock(&m->wlock);
	bool took = wire_disconnect(m->bwire[i], false, false);
	pthread_mutex_unlock(&m->wlock);
	if (!took) {
		rtrace(m, "%s: its DISCONNECT never reached the broker", cfg->name);
		oracle_connection_maybe_lost(m->o, i, m->now);
	}
}

/* A crash ordered at AT (its client's death is seen later, when its
 * process's end of the socket closes). */
static void crash_ordered(struct rclient *c, uint64_t at, uint64_t restart_ms)
{
	c->dying = true;
	c->restart_ms = restart_ms;
	c->back_by = restart_ms ? at + restart_ms : UINT64_MAX;
}

/*
 * The broker forgot a subscribed client's session (a CONNACK without a
 * session present): its application subscribes again, and the new
 * subscriptions stand from their SUBACKs ('g'), as in simulation. Before
 * the workload, the oracle has not been told of any yet.
 */
static void session_forgot_subscriptions(struct real *m, int i)
{
	if (m->started) {
		for (int k = 0; k < m->sc->nsteps; k++) {
			const struct scn_step *st = &m->sc->steps[k];
			if (st->kind != SCN_SUBSCRIBE || st->late || st->client != i)
				continue;
			oracle_unsubscribed(m->o, i, st->topic, m->now);
			oracle_subscribed(m->o, i, st->topic, st->qos, true, m->now, UINT64_MAX);
			oracle_subscribe_request(m->o, i, st->topic);
		}
		oracle_session_lost(m->o, i);
	}
	m->c[i].subscribed = false; /* the runner asks it to subscribe again */
	rtrace(m, "%s: its session is gone: subscribes again", m->sc->clients[i].name);
}

static void child_gone(struct real *m, int i)
{
	struct rclient *c = &m->c[i];
	const struct scn_client *cfg = &m->sc->clients[i];
	int status = 0;
	close(c->fd);
	pthread_mutex_lock(&m->wlock);
	c->fd = -1;
	pthread_mutex_unlock(&m->wlock);
	waitpid(c->pid, &status, 0);
	if (c->busy && c->busy_step >= 0) {
		/* Its application died in the call: nobody learnt the result. */
		const struct scn_step *st = &m->sc->steps[c->busy_step];
		oracle_publish_unknown(m->o, i, c->busy_step, c->busy_seq, st->qos, m->now);
		if (m->next[c->busy_step] == c->busy_seq)
			m->next[c->busy_step]++;
		if (m->next[c->busy_step] >= st->count)
			m->next[c->busy_step] = UINT32_MAX;
	}
	c->busy = false;
	if (c->quitting)
		return;
	pthread_mutex_lock(&m->wlock);
	bool dialed = m->link_conns[i] > m->link_at_spawn[i];
	pthread_mutex_unlock(&m->wlock);
	if (c->proc_connects && !c->disconnected)
		oracle_connection_lost(m->o, i, m->now, m->now); /* killed: no DISCONNECT, the will goes */
	else if (m->driver && dialed && !c->disconnected)
		oracle_connection_maybe_lost(m->o, i, m->now); /* its CONNACK may have been on the way */
	if (!c->dying) {
		if (!*m->broken)
			snprintf(m->broken, sizeof m->broken, "the process of %s died unexpectedly (%s %d)",
			         cfg->name, WIFSIGNALED(status) ? "signal" : "exit status",
			         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		return;
	}
	rtrace(m, "%s: crashed%s", cfg->name, cfg->store == SCN_STORE_FS ? "" :
	       " (its memory-only state is lost)");
	closed_end_judged(m, i); /* before its end of the wire starts afresh */
	if (cfg->store != SCN_STORE_FS || m->unpersisted[i]) {
		/* It forgot the QoS 2 messages it was receiving: the broker's
		 * resends of those it had no PUBREC for come as new, once each
		 * (the simulator's rule, there counted at the client's end; the
		 * broker's end may count one it never got, allowed unused). */
		judge_broker_records(m);
		pthread_mutex_lock(&m->wlock);
		uint32_t resent = m->bwire[i] ? wire_own_awaiting_pubrec(m->bwire[i]) : 0;
		pthread_mutex_unlock(&m->wlock);
		while (resent--)
			oracle_allow_repeat(m->o, i);
	}
	if (m->cwire[i]) {
		/* Its next process starts its end afresh: from its store, or from nothing. */
		pthread_mutex_lock(&m->wlock);
		memset(m->cwire[i], 0, sizeof *m->cwire[i]);
		wire_init(m->cwire[i], WIRE_CLIENT);
		m->cadopt[i] = cfg->store == SCN_STORE_FS;
		pthread_mutex_unlock(&m->wlock);
	}
	if (m->unpersisted[i])
		oracle_session_lost(m->o, i); /* what its session held for it went with it: not owed */
	if (cfg->store != SCN_STORE_FS) {
		oracle_excuse_unfinished(m->o, i);
		judge_broker_records(m); /* what came before the crash */
		pthread_mutex_lock(&m->wlock);
		if (m->bwire[i])
			wire_peer_lost(m->bwire[i]); /* what it started, nobody will finish */
		pthread_mutex_unlock(&m->wlock);
	}
	c->restart_at = c->restart_ms ? m->now + c->restart_ms : UINT64_MAX;
}

static void note_fired(struct rclient *c, unsigned line)
{
	char one[16];
	snprintf(one, sizeof one, ",%u,", line);
	size_t len = strlen(c->fired);
	if (strstr(c->fired, one) || len + strlen(one) >= sizeof c->fired)
		return;
	snprintf(c->fired + len, sizeof c->fired - len, "%u,", line);
}

static void event(struct real *m, int i, const uint8_t *b, size_t n)
{
	struct rclient *c = &m->c[i];
	const struct scn_client *cfg = &m->sc->clients[i];
	char text[PACKET_MAX + 1];
	memcpy(text, b, n);
	text[n] = 0;
	int step, cls, code, granted;
	unsigned seq, k;
	m->last_event = m->now;
	switch (b[0]) {
	case 'm':
		if (n >= 6) {
			size_t tlen = (size_t)b[4] << 8 | b[5];
			if (6 + tlen <= n)
				oracle_delivered(m->o, i, b + 6, tlen, b + 6 + tlen, n - 6 - tlen, b[1], b[2],
				                 b[3], m->now);
		}
		break;
	case 'p':
		if (sscanf(text, "p %d %u %d %d", &step, &seq, &cls, &code) == 4 && step >= 0 &&
		    step < m->sc->nsteps) {
			const struct scn_step *st = &m->sc->steps[step];
			if (cls > 0)
				rtrace(m, "%s: publish %s #%u refused: class %d code %d", cfg->name, st->topic,
				       seq, cls, code);
			if (cls < 0) /* a driver's "unknown": it may arrive or not */
				rtrace(m, "%s: publish %s #%u: outcome unknown", cfg->name, st->topic, seq);
			else
				oracle_published(m->o, i, step, seq, st->topic, st->qos, cls == 0, m->now);
			c->busy = false;
			m->next[step] = seq + 1 >= st->count ? UINT32_MAX : seq + 1;
			if (st->every_ms)
				m->next_at[step] += st->every_ms;
		}
		break;
	case 'c':
		if (sscanf(text, "c %d %u", &step, &seq) == 2 && step >= 0 && step < m->sc->nsteps)
			oracle_completed(m->o, oracle_published_index(m->o, step, seq), m->now);
		break;
	case 's':
		c->busy = false;
		if (sscanf(text, "s %d %d", &cls, &code) == 2 && cls == 0) {
			c->subscribed = true;
		} else if (!*m->broken) {
			snprintf(m->broken, sizeof m->broken, "%s could not subscribe: class %d code %d",
			         cfg->name, cls, code);
		}
		break;
	case 'd':
		/* Closed for good (DISCONNECT): what it had not finished never
		 * finishes now, so it is no longer owed and the run does not
		 * wait for it; nor is what it had not read (the simulator's
		 * note_closed). */
		c->busy = false;
		c->closed = true;
		c->disconnect_wrote = -1;
		c->disconnect_ok = sscanf(text, "d %d %d", &cls, &c->disconnect_wrote) >= 1 && cls == 0;
		oracle_excuse_unfinished(m->o, i);
		oracle_session_lost(m->o, i);
		oracle_closed(m->o, i, m->now);
		if (c->inflight)
			rtrace(m, "%s: closed with %zu exchange%s unfinished: no longer owed", cfg->name,
			       c->inflight, c->inflight == 1 ? "" : "s");
		break;
	case 'g':
		if (sscanf(text, "g %d %d", &step, &code) == 2 && step >= 0 && step < m->sc->nsteps &&
		    m->sc->steps[step].kind == SCN_SUBSCRIBE) {
			const struct scn_step *st = &m->sc->steps[step];
			m->granted[step] = code;
			if (m->started) {
				/* Subscribed again in the workload (a restart, a session
				 * the broker no longer had): it stands, and what it
				 * matches is owed, from its SUBACK on (the simulator's
				 * granted()). */
				oracle_subscribed(m->o, i, st->topic, st->qos, false, m->now, m->now);
				oracle_granted(m->o, i, st->topic, (uint8_t)code, m->now);
			}
		}
		break;
	case 'i':
		sscanf(text, "i %zu", &c->inflight);
		break;
	case 'z':
		if (sscanf(text, "z %d %ld", &code, &c->final_inflight) == 2)
			c->final = (enum scn_final)code;
		break;
	case 'a':
		if (sscanf(text, "a %d", &code) == 1) {
			/* -1: a driver that cannot tell; not judged on it (what it
			 * would be for a broker that keeps the rules). */
			judge_broker_records(m); /* and the sessions discarded before it */
			bool present = code < 0 ? oracle_session_held(m->o, i, c->first_connect) : code == 1;
			oracle_connected(m->o, i, c->first_connect, present, m->now);
			c->first_connect = false;
			c->online_once = true;
			if (!present && c->subscribed && !m->driver)
				session_forgot_subscriptions(m, i);
		}
		break;
	case 'l':
	case 'n':
		granted = -1;
		if (sscanf(text + 1, " %d %d %d %d", &step, &cls, &code, &granted) >= 3 && step >= 0 &&
		    step < m->sc->nsteps) {
			const struct scn_step *st = &m->sc->steps[step];
			c->busy = false;
			if (cls) {
				rtrace(m, "%s: %s %s: class %d code %d", cfg->name,
				       b[0] == 'l' ? "subscribe" : "unsubscribe", st->topic, cls, code);
				break; /* asked again */
			}
			if (b[0] == 'l') {
				oracle_subscribed(m->o, i, st->topic, st->qos, true, c->req_sent, m->now);
				if (granted >= 0)
					oracle_granted(m->o, i, st->topic, (uint8_t)granted, m->now);
			} else
				oracle_unsubscribed(m->o, i, st->topic, m->now);
			m->next[step] = UINT32_MAX;
		}
		break;
	case 'b':
		/* The process saw its connection lost: it was away from then
		 * on, not from its next dial (what a broker queued for its
		 * session meanwhile is judged by that). */
		if (c->lost_at == UINT64_MAX)
			c->lost_at = m->now;
		break;
	case 'o':
		/* A reconnect in the same process: the last connection was lost
		 * (or went with the broker, and then no will is owed). */
		if (c->proc_connects++ && !c->cut) {
			uint64_t lost = c->lost_at < m->now ? c->lost_at : m->now;
			oracle_connection_lost(m->o, i, lost, lost);
		}
		c->lost_at = UINT64_MAX;
		c->cut = false;
		oracle_connect_attempt(m->o, i, c->first_connect); /* as the simulator does at its dial */
		c->connects++;
		rtrace(m, "%s: connection %u", cfg->name, c->connects);
		break;
	case 'x':
		if (sscanf(text, "x %u", &k) == 1 && k < (unsigned)m->sc->nsteps) {
			note_fired(c, CRASH_LINE_BASE + k);
			crash_ordered(c, m->now, m->sc->steps[k].restart_ms);
			m->next[k] = UINT32_MAX;
		}
		break;
	case 'w':
		if (n > 4 && text[2] == 'd' && !m->wire.dup_violation) {
			m->wire.dup_violation = true;
			snprintf(m->wire.dup_why, sizeof m->wire.dup_why, "%.199s", text + 4);
		} else if (n > 4 && text[2] == 'i' && !m->wire.id_violation) {
			m->wire.id_violation = true;
			snprintf(m->wire.id_why, sizeof m->wire.id_why, "%.199s", text + 4);
		}
		break;
	case 'r':
		/* A driver's client killed with a read unanswered: the kill may
		 * have come between its library's saving of a QoS 2 identifier
		 * and the return of its message (our own transport stops a
		 * --real client at a packet instead, never inside a read). */
		if (cfg->store == SCN_STORE_FS) {
			oracle_read_interrupted(m->o, i, m->now);
			rtrace(m, "%s: killed with a read under way: one QoS 2 message may be lost",
			       cfg->name);
		}
		break;
	case 'k':
		if (sscanf(text, "k %d", &code) == 1) {
			pthread_mutex_lock(&m->wlock);
			c->driver_pid = (pid_t)code;
			pthread_mutex_unlock(&m->wlock);
		}
		break;
	case 'e':
		/* The driver broke its protocol: the run cannot be judged. */
		if (!m->target_broken)
			snprintf(m->broken, sizeof m->broken, "%.500s", text + 2);
		m->target_broken = true;
		break;
	case 't': {
		rtrace(m, "%s: %s", cfg->name, text + 2);
		const char *at = strstr(text, " line=");
		if (!strncmp(text, "t fault ", 8) && at && sscanf(at, " line=%u", &k) == 1)
			note_fired(c, k);
		break;
	}
	}
}

/* Crash marks the fault link passed (a driver's client, killed by the link's thread). */
static void take_marks(struct real *m)
{
	unsigned marks[64], n;
	pthread_mutex_lock(&m->wlock);
	n = m->nmarks;
	memcpy(marks, m->marks, n * sizeof *marks);
	m->nmarks = 0;
	pthread_mutex_unlock(&m->wlock);
	for (unsigned j = 0; j < n; j++) {
		int i = (int)(marks[j] >> 24);
		unsigned k = marks[j] & 0xffffff;
		if (i >= m->sc->nclients || k >= (unsigned)m->sc->nsteps)
			continue;
		crash_ordered(&m->c[i], m->now, m->sc->steps[k].restart_ms);
		m->next[k] = UINT32_MAX;
		rtrace(m, "%s: killed at line %u's packet", m->sc->clients[i].name, m->sc->steps[k].line);
	}
}

/* crash broker / restart broker: the command's broker goes, and comes back. */
static void broker_down(struct real *m, const struct scn_step *st)
{
	for (int i = 0; i < m->sc->nclients; i++)
		if (m->c[i].fd >= 0 && m->c[i].proc_connects && !m->c[i].disconnected) {
			oracle_connection_cut(m->o, i, m->now);
			m->c[i].cut = true;
		}
	if (st->graceful) {
		rtrace(m, "broker: stopped (SIGTERM to process %d)", (int)m->bp.pid);
		broker_proc_stop(&m->bp, 10000);
		m->broker_back_at = m->now;
	} else {
		rtrace(m, "broker: crashed (SIGKILL to process %d)", (int)m->bp.pid);
		broker_proc_kill(&m->bp);
		m->broker_back_at = m->now + st->restart_ms;
	}
}

/* The application's next moves, as in simulation (sim.c's schedule). */
static void schedule(struct real *m)
{
	const struct scenario *sc = m->sc;
	if (m->broker_back_at != UINT64_MAX && m->now >= m->broker_back_at) {
		char err[300];
		m->broker_back_at = UINT64_MAX;
		if (broker_proc_restart(&m->bp, m->target->wait_ms, err, sizeof err) != 0) {
			if (!*m->broken)
				snprintf(m->broken, sizeof m->broken, "the broker did not come back: %.260s", err);
			return;
		}
		rtrace(m, "broker: started again (process %d)", (int)m->bp.pid);
	}
	if (!m->started) {
		bool all = true;
		for (int i = 0; i < sc->nclients; i++) {
			struct rclient *c = &m->c[i];
			if (!c->has_subs || c->subscribed)
				continue;
			all = false;
			if (c->fd >= 0 && !c->busy)
				command(m, i, "S", -1, 0);
		}
		/* In simulation every client connects at once and at no cost, so
		 * that when the SUBACKs are in, the others are online too. Here a
		 * process takes tens of milliseconds to start and connect (more
		 * under a sanitizer, or with many clients on one core). The
		 * workload's times count from when each client's first connection
		 * has settled, came online or ended, so that "disconnect at=60ms"
		 * does not find a client still connecting. Bounded, for a client
		 * that cannot get through (refused, its broker down). */
		for (int i = 0; all && i < sc->nclients; i++) {
			const struct rclient *c = &m->c[i];
			if (c->fd < 0 || c->online_once || c->connects >= 2)
				continue;
			if (m->now < FIRST_CONNECTION_WAIT_MS)
				all = false;
			else
				rtrace(m, "%s: not through after %u ms; the workload starts without it",
				       sc->clients[i].name, FIRST_CONNECTION_WAIT_MS);
		}
		if (!all)
			return;
		for (int i = 0; i < sc->nsteps; i++)
			if (sc->steps[i].kind == SCN_SUBSCRIBE && !sc->steps[i].late)
				oracle_subscribed(m->o, sc->steps[i].client, sc->steps[i].topic, sc->steps[i].qos,
				                  false, m->now, m->now);
		for (int i = 0; i < sc->nsteps; i++)
			if (sc->steps[i].kind == SCN_SUBSCRIBE && !sc->steps[i].late && m->granted[i] >= 0)
				oracle_granted(m->o, sc->steps[i].client, sc->steps[i].topic,
				               (uint8_t)m->granted[i], m->now);
		m->started = true;
		m->start = m->now;
		rtrace(m, "workload starts");
		for (int i = 0; i < sc->nsteps; i++)
			m->next_at[i] = m->start + sc->steps[i].at_ms;
	}
	for (int i = 0; i < sc->nclients; i++) {
		struct rclient *c = &m->c[i];
		if (c->fd < 0 && c->restart_at != UINT64_MAX && m->now >= c->restart_at) {
			c->restart_at = UINT64_MAX;
			if (spawn(m, i) != 0 && !*m->broken)
				snprintf(m->broken, sizeof m->broken, "cannot start a process: %s",
				         strerror(errno));
			if (sc->clients[i].store != SCN_STORE_FS && sc->clients[i].clean)
				oracle_session_lost(m->o, i); /* its new session starts clean */
		}
		/* A restarted subscriber subscribes again, as an application does. */
		if (c->fd >= 0 && c->has_subs && !c->subscribed && !c->busy)
			command(m, i, "S", -1, 0);
	}
	for (int i = 0; i < sc->nsteps; i++) {
		const struct scn_step *st = &sc->steps[i];
		struct rclient *c = &m->c[st->client];
		if (m->next[i] == UINT32_MAX || m->now < m->next_at[i] ||
		    (st->kind == SCN_SUBSCRIBE && !st->late))
			continue;
		if (c->closed && (st->kind == SCN_PUBLISH || st->late)) {
			/* Closed for good (DISCONNECT): it publishes and asks nothing
			 * more, as in simulation; the rest of the line is not owed. */
			if (st->kind == SCN_PUBLISH)
				rtrace(m, "line %u: %s is closed: %u of %u not published", st->line,
				       sc->clients[st->client].name, st->count - m->next[i], st->count);
			m->next[i] = UINT32_MAX;
			continue;
		}
		if (st->kind == SCN_BROKER_DOWN) {
			m->next[i] = UINT32_MAX;
			broker_down(m, st);
		} else if (st->kind == SCN_CRASH && !st->after.type) {
			/* Due when the scenario has its client back from its last
			 * crash: on a loaded machine the death may be seen, and the
			 * restart come, late. The crash waits for the new process
			 * and keeps its distance from the restart; as in simulation,
			 * one due while its client is down for good, or before the
			 * scenario has it back, finds nobody. */
			if (c->back_by != UINT64_MAX && m->next_at[i] >= c->back_by &&
			    (c->fd < 0 || c->dying || m->now < m->next_at[i] + c->slip))
				continue;
			m->next[i] = UINT32_MAX;
			if (c->fd >= 0 && !c->dying) {
				crash_ordered(c, m->next_at[i], st->restart_ms);
				pthread_mutex_lock(&m->wlock);
				pid_t driver = c->driver_pid;
				pthread_mutex_unlock(&m->wlock);
				/* A driver's process group alone (its adapter passes on
				 * what it said, then ends); else the process and its
				 * group, at once. */
				kill(driver > 0 ? -driver : -c->pid, SIGKILL);
				rtrace(m, "%s: killed", sc->clients[st->client].name);
			}
		} else if ((st->kind == SCN_SUBSCRIBE || st->kind == SCN_UNSUBSCRIBE) && st->late) {
			if (c->fd < 0 || c->busy)
				continue;
			char cmd[32];
			snprintf(cmd, sizeof cmd, "%c %d", st->kind == SCN_SUBSCRIBE ? 'L' : 'N', i);
			c->req_sent = m->now;
			if (st->kind == SCN_SUBSCRIBE) {
				oracle_subscribe_sent(m->o, st->client, st->topic, st->qos, m->now);
				oracle_subscribe_request(m->o, st->client, st->topic);
			} else {
				oracle_unsubscribe_sent(m->o, st->client, st->topic, m->now);
			}
			command(m, st->client, cmd, -1, 0);
		} else if (st->kind == SCN_DISCONNECT && c->fd >= 0 && !c->busy) {
			m->next[i] = UINT32_MAX;
			m->c[st->client].disconnected = true;
			command(m, st->client, "D", -1, 0);
		} else if (st->kind == SCN_PUBLISH && c->fd >= 0 && !c->busy && c->subscribed == c->has_subs) {
			char cmd[64];
			snprintf(cmd, sizeof cmd, "P %d %u", i, m->next[i]);
			/* Its subscribers may read it before the call returns: from now
			 * on it is published, with its result unknown until the reply. */
			oracle_publish_unknown(m->o, st->client, i, m->next[i], st->qos, m->now);
			command(m, st->client, cmd, i, m->next[i]);
		}
	}
}

/*
 * Whether the run is over: the workload done, nothing in flight, every
 * message owed read, and 300 ms without news (late duplicates get their
 * chance). *settled: all that but a message owed, with 2 s of silence (8 s
 * for a driver's clients):
 * it is not coming (a broker that lost it), no need to wait for the limit.
 */
static bool finished(const struct real *m, bool *settled)
{
	*settled = false;
	for (int i = 0; i < m->sc->nclients; i++)
		if (m->script[i] && pscript_failure(rscript_run(m->script[i])))
			return true; /* the verdict is in: the client did not follow its script */
	if (!m->started || m->now - m->last_event < 300 || m->broker_back_at != UINT64_MAX)
		return false;
	for (int i = 0; i < m->sc->nclients; i++)
		if (m->script[i] && !pscript_done(rscript_run(m->script[i])))
			return false;
	for (int i = 0; i < m->sc->nsteps; i++) {
		const struct scn_step *st = &m->sc->steps[i];
		bool waits = (st->kind != SCN_SUBSCRIBE || st->late) &&
		             !(st->kind == SCN_CRASH && st->after.type);
		if (waits && m->next[i] != UINT32_MAX)
			return false;
	}
	for (int i = 0; i < m->sc->nclients; i++)
		if (m->c[i].busy || m->c[i].restart_at != UINT64_MAX ||
		    (m->c[i].fd >= 0 && m->c[i].dying) || /* killed: its death not seen yet */
		    (m->c[i].fd >= 0 && m->c[i].inflight && !m->c[i].closed))
			return false;
	if (oracle_all_delivered(m->o))
		return true;
	/* A library's own backoff may keep it away longer than ours does
	 * (Paho C waits 1, 2, 4 s between tries): a driver's run waits longer
	 * before it calls a missing message lost. */
	*settled = m->now - m->last_event >= (m->driver ? 8000u : 2000u);
	return false;
}

/* Asks every living process where it stands, and waits (a second at most) for the answers. */
static void ask_final_states(struct real *m)
{
	for (int i = 0; i < m->sc->nclients; i++)
		if (m->c[i].fd >= 0)
			send(m->c[i].fd, "Z", 1, MSG_NOSIGNAL);
	uint64_t deadline = clock_ms() + 1000;
	for (int i = 0; i < m->sc->nclients; i++) {
		struct rclient *c = &m->c[i];
		while (c->fd >= 0 && !c->final && clock_ms() < deadline) {
			struct pollfd p = {c->fd, POLLIN, 0};
			if (poll(&p, 1, 20) <= 0)
				continue;
			uint8_t buf[PACKET_MAX];
			ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
			if (n <= 0)
				break;
			event(m, i, buf, (size_t)n);
		}
	}
}

static void stop_all(struct real *m)
{
	for (int i = 0; i < m->sc->nclients; i++) {
		struct rclient *c = &m->c[i];
		if (c->fd < 0)
			continue;
		c->quitting = true;
		send(c->fd, "Q", 1, MSG_NOSIGNAL);
	}
	uint64_t deadline = clock_ms() + 3000;
	for (int i = 0; i < m->sc->nclients; i++) {
		struct rclient *c = &m->c[i];
		if (c->fd < 0)
			continue;
		int status;
		while (waitpid(c->pid, &status, WNOHANG) == 0) {
			if (clock_ms() > deadline) {
				kill(-c->pid, SIGKILL);
				waitpid(c->pid, &status, 0);
				break;
			}
			sleep_ms(5);
		}
		close(c->fd);
		c->fd = -1;
	}
}

/* A folder of the run and what is in it (a broker's files). */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* The stores' directories and the run's folder: only files we made are there. */
static void remove_tree(struct real *m)
{
	for (int i = 0; i < m->sc->nclients; i++) {
		DIR *d = opendir(m->c[i].dir);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
		rmdir(m->c[i].dir);
	}
	char broker[600];
	snprintf(broker, sizeof broker, "%s/broker", m->tmp);
	nftw(broker, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	rmdir(m->tmp);
}

__attribute__((format(printf, 2, 3)))
static void rtrace_only(struct real *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	scn_vtrace(m->trace, m->now, fmt, ap);
	va_end(ap);
}

/* From the broker's thread, its lock held: the trace only (the broker
 * puts its own lines in the capture's sidecar). */
static void broker_log(void *arg, const char *line)
{
	struct real *m = arg;
	rtrace_only(m, "broker: %s", line);
}

/* From the proxy's thread: a fault applied on a client's link. */
static void proxy_report(void *arg, int route, const struct mqtt_fault_report *r)
{
	struct real *m = arg;
	if (route < 0 || route >= m->sc->nclients)
		return;
	if (r->line >= CRASH_LINE_BASE) {
		/* A crash at a packet, of a client whose transport is not ours:
		 * killed as the link passes the packet. The runner learns of it
		 * before it sees the process go (marks are read first). */
		pthread_mutex_lock(&m->wlock);
		if (m->nmarks < 64)
			m->marks[m->nmarks++] = (unsigned)route << 24 | (r->line - CRASH_LINE_BASE);
		pid_t pid = m->c[route].fd >= 0 ? m->c[route].pid : 0, driver = m->c[route].driver_pid;
		pthread_mutex_unlock(&m->wlock);
		if (driver > 0)
			kill(-driver, SIGKILL);
		else if (pid > 0)
			kill(-pid, SIGKILL);
		return;
	}
	if (!m->trace || !r->line)
		return; /* line 0: the network's own delay, not news */
	char line[200];
	mqtt_fault_report_format(r, line, sizeof line);
	flockfile(m->trace);
	fprintf(m->trace, "t=%llums %s: fault %s (the link)\n",
	        (unsigned long long)(clock_ms() - m->t0), m->sc->clients[route].name, line);
	funlockfile(m->trace);
}

/* From the proxy's thread: a driver's client's leg, judged at its end. */
static void proxy_client_bytes(void *arg, int route, uint32_t conn, unsigned dir,
                               const uint8_t *data, size_t len)
{
	struct real *m = arg;
	if (route < 0 || route >= m->sc->nclients || !m->cwire[route])
		return;
	pthread_mutex_lock(&m->wlock);
	bool old = false;
	if (conn > m->cconn[route]) {
		if (m->cconn[route])
			wire_retire(m->cwire[route]);
		/* After a connection that ended, the client may have written a
		 * PUBLISH the link never read: its resend may rightly carry DUP
		 * although the link sees it first, as after an adopted session. */
		wire_connection(m->cwire[route], m->cadopt[route] || m->cconn[route]);
		m->cadopt[route] = false;
		m->cconn[route] = conn;
	} else if (conn < m->cconn[route]) {
		old = true;
	}
	wire_bytes(m->cwire[route], old, dir == MQTT_C2B, data, len, m->sc->clients[route].name,
	           &m->wire);
	pthread_mutex_unlock(&m->wlock);
}

/* From the proxy's thread: a client dialed (connections a driver's client
 * made, whether or not a CONNACK came back, as the threaded client's dials count). */
static void proxy_accepted(void *arg, int route, uint32_t conn)
{
	struct real *m = arg;
	if (route < 0 || route >= m->sc->nclients)
		return;
	pthread_mutex_lock(&m->wlock);
	m->link_conns[route] = conn;
	pthread_mutex_unlock(&m->wlock);
}

/* The broker's leg of a client's connection (from the proxy's thread, or
 * a script's side from the runner's), judged at the broker's end as the
 * fake broker's records are. */
static void broker_end_bytes(struct real *m, int route, uint32_t conn, bool b2c,
                             const uint8_t *data, size_t len)
{
	if (!len || route < 0 || route >= m->sc->nclients || !m->bwire[route])
		return;
	pthread_mutex_lock(&m->wlock);
	bool old = false;
	if (conn > m->bconn[route]) {
		if (m->bconn[route])
			wire_retire(m->bwire[route]);
		wire_connection(m->bwire[route], false);
		m->bconn[route] = conn;
	} else if (conn < m->bconn[route]) {
		old = true;
	}
	broker_end_judged(m, route, old, b2c, data, len, clock_ms() - m->t0);
	pthread_mutex_unlock(&m->wlock);
}

static void proxy_broker_bytes(void *arg, int route, uint32_t conn, unsigned dir,
                               const uint8_t *data, size_t len)
{
	broker_end_bytes(arg, route, conn, dir == MQTT_B2C, data, len);
}

/* A scripted client's broker side: what the script writes is the broker's
 * conduct (its DUP flags and identifiers), judged as the fake broker's. */
static void script_bytes(void *arg, uint32_t conn, bool sent, const uint8_t *data, size_t len)
{
	struct script_end *e = arg;
	broker_end_bytes(e->m, e->client, conn, sent, data, len);
	/* News: what a script sent last must reach its client and be judged
	 * before the run may end (a PUBLISH sent after a wait went unread). */
	e->m->last_event = e->m->now;
}

/* The broker's leg's capture beside the client's: X.pcap and X.broker.pcap. */
static void broker_leg_path(const char *pcap, char *out, size_t cap)
{
	size_t len = strlen(pcap);
	if (len > 5 && !strcmp(pcap + len - 5, ".pcap"))
		len -= 5;
	snprintf(out, cap, "%.*s.broker.pcap", (int)len, pcap);
}

/* A failed run's trace ends with what the broker said (its last 200 lines). */
static void copy_broker_log(struct real *m)
{
	FILE *f = fopen(m->bp.log, "r");
	if (!f)
		return;
	char line[1024];
	long lines = 0;
	while (fgets(line, sizeof line, f))
		lines++;
	rewind(f);
	fprintf(m->trace, "broker output (%s, last 200 of %ld lines):\n", m->bp.log, lines);
	for (long k = 0; fgets(line, sizeof line, f); k++)
		if (k >= lines - 200)
			fprintf(m->trace, "  %s%s", line, strchr(line, '\n') ? "" : "\n");
	fclose(f);
}

/* A broker under test: started by its command or given. */
static int broker_setup(struct real *m, const struct real_target *t, char *err, size_t errcap)
{
	if (t->broker_cmd) {
		char dir[600];
		snprintf(dir, sizeof dir, "%s/broker", m->tmp);
		if (mkdir(dir, 0700) != 0) {
			snprintf(err, errcap, "%.200s: %s", dir, strerror(errno));
			return -1;
		}
		if (broker_proc_start(&m->bp, t->broker_cmd, dir, t->wait_ms, err, errcap) != 0)
			return -1;
		snprintf(m->address, sizeof m->address, "%s", m->bp.address);
		rtrace(m, "broker: started by '%s' (process %d), at %s", m->bp.cmd, (int)m->bp.pid,
		       m->address);
	} else {
		snprintf(m->address, sizeof m->address, "%s", t->broker);
	}
	return 0;
}

/*
 * The fault link in front of the broker (m->address), one route per
 * client, each with the client's plan: all of it for a driver's client,
 * whose transport is not ours; for the threaded client, what its own
 * transport does not do. In front of a broker under test it captures
 * both legs (pcap) and judges the broker's end from the broker's leg;
 * the fake broker does both itself.
 */
static int link_setup(struct real *m, const char *pcap, char *err, size_t errcap)
{
	if (pcap && m->external) {
		char bpath[1100];
		broker_leg_path(pcap, bpath, sizeof bpath);
		if (mqtt_pcap_open(&m->pcap_client, pcap, err, errcap) != 0 ||
		    mqtt_pcap_open(&m->pcap_broker, bpath, err, errcap) != 0)
			return -1;
	}
	struct fault_proxy_hooks hooks = {.report = proxy_report, .accepted = proxy_accepted,
	                                  .client_bytes = m->driver ? proxy_client_bytes : NULL,
	                                  .broker_bytes = m->external ? proxy_broker_bytes : NULL,
	                                  .arg = m, .client_leg = m->pcap_client,
	                                  .broker_leg = m->pcap_broker, .source = "mqttsim"};
	if (fault_proxy_new(&m->proxy, m->address, &hooks, err, errcap) != 0)
		return -1;
	if (!strncmp(m->address, "tls://", 6) &&
	    fault_proxy_tls(m->proxy, m->target->broker_ca, err, errcap) != 0)
		return -1;
	for (int i = 0; i < m->sc->nclients; i++) {
		struct mqtt_fault_plan plan = {0};
		int rc = scn_client_plan(m->sc, i, &plan);
		if (!m->driver)
			scn_plan_keep(&plan, false);
		if (rc == 0)
			rc = fault_proxy_route(m->proxy, "tcp://127.0.0.1:0", &plan, scn_fault_seed(m->seed, i),
			                       m->route[i], sizeof m->route[i], err, errcap);
		mqtt_fault_plan_free(&plan);
		if (rc < 0)
			return -1;
	}
	if (fault_proxy_start(m->proxy) != 0) {
		snprintf(err, errcap, "the fault link does not start");
		return -1;
	}
	return 0;
}

void scenario_driver_notes(const struct scenario *sc, const struct real_target *t, char *out,
                           size_t cap)
{
	size_t used = 0;
	*out = 0;
	if (!t || !t->client_cmd)
		return;
	bool persists = strstr(t->driver_caps ? t->driver_caps : "", ",persistence,") != NULL;
	for (int i = 0; i < sc->nclients && !persists; i++)
		if (sc->clients[i].store == SCN_STORE_FS && used < cap)
			used += (size_t)snprintf(out + used, cap - used, "%s%s's session across a restart "
			                         "(store=fs: the driver declares no persistence)",
			                         used ? "; " : "", sc->clients[i].name);
}

bool scenario_real_skip(const struct scenario *sc, const struct real_target *t, char *why,
                        size_t cap)
{
	for (int i = 0; i < sc->nexpects; i++)
		if (sc->expects[i].what == SCN_BACKOFF) {
			/* Its bounds are this library's policy as the simulator sets
			 * it, in virtual time: not a driver's, nor wall-clock. */
			snprintf(why, cap, "line %u: backoff is judged in simulation only",
			         sc->expects[i].line);
			return true;
		}
	for (int i = 0; i < sc->nsteps; i++)
		if (sc->steps[i].kind == SCN_DISK || sc->steps[i].damage) {
			snprintf(why, cap, "line %u: a %s is simulated only", sc->steps[i].line,
			         sc->steps[i].kind == SCN_DISK ? "full disk" : "damaged disk");
			return true;
		}
	if (scn_downs_broker(sc) && !(t && t->broker_cmd)) {
		snprintf(why, cap, "it crashes or restarts the broker: only a broker that --broker-cmd "
		         "runs can be (the fake broker keeps nothing across a crash)");
		return true;
	}
	const char *caps = t && t->driver_caps ? t->driver_caps : ",";
	for (int i = 0; t && t->client_cmd && i < sc->nclients; i++) {
		const struct scn_client *c = &sc->clients[i];
		for (size_t k = 0; k < c->plan.n; k++)
			if (c->plan.faults[k].action == MQTT_FAULT_EINTR ||
			    c->plan.faults[k].action == MQTT_FAULT_EAGAIN) {
				snprintf(why, cap, "line %u injects errors into %s's own calls (eintr, eagain): "
				         "a driver's library cannot be made to fail so", c->plan.faults[k].line,
				         c->name);
				return true;
			}
		if (c->ack_timeout_ms && !strstr(caps, ",ack-timeout,")) {
			snprintf(why, cap, "%s needs an acknowledgement timeout (ack-timeout=): the driver "
			         "declares none", c->name);
			return true;
		}
		const char *kmin = strstr(caps, ",keep-alive-min:");
		unsigned least = kmin ? (unsigned)atoi(kmin + 16) : 0;
		if (c->keep_alive && c->keep_alive < least) {
			snprintf(why, cap, "%s's keep-alive of %u s is below the least the driver's library "
			         "takes (%u s)", c->name, c->keep_alive, least);
			return true;
		}
		if (c->pause_ms && !strstr(caps, ",pause-timeout,")) {
			snprintf(why, cap, "%s needs a pause timeout (pause=): the driver declares none",
			         c->name);
			return true;
		}
	}
	if (t && t->client_cmd && sc->npkts) {
		snprintf(why, cap, "it scripts the broker's side of a connection (packet lines)");
		return true;
	}
	if (!t || (!t->broker && !t->broker_cmd))
		return false;
	if (sc->nrules) {
		snprintf(why, cap, "it needs the fake broker's rule '%s'", sc->broker_rules[0]);
		return true;
	}
	if (sc->npkts) {
		snprintf(why, cap, "it scripts the broker's side of a connection (packet lines)");
		return true;
	}
	if (sc->queue_max || sc->inflight_max) {
		snprintf(why, cap, "it sets the fake broker's limits (broker queue-max=/inflight-max=)");
		return true;
	}
	return false;
}

/* Why the run failed, into r->why: a sentence for a person, cut short
 * when it does not fit (a helper, as gcc -O0 warned of each cut). */
__attribute__((format(printf, 2, 3)))
static void say_why(struct scn_result *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof r->why, fmt, ap);
	va_end(ap);
}

int scenario_real(const struct scenario *sc, const char *exe, uint64_t seed,
                  const struct real_target *t, struct scn_result *r, FILE *trace, const char *pcap)
{
	memset(r, 0, sizeof *r);
	char err[300];
	if (scenario_real_skip(sc, t, err, sizeof err)) {
		say_why(r, "%s", err);
		return -1;
	}
	struct real *m = calloc(1, sizeof *m);
	struct scenario *own = NULL; /* sc with its names prefixed */
	if (!m)
		return -1;
	m->target = t;
	m->external = t && (t->broker || t->broker_cmd);
	if (t && ((t->prefix && *t->prefix) || t->client_cmd)) {
		if (!(own = malloc(sizeof *own))) {
			free(m);
			return -1;
		}
		memcpy(own, sc, sizeof *own);
		if (scn_prefix(own, t->prefix, err, sizeof err) != 0) {
			say_why(r, "%s", err);
			free(own);
			free(m);
			return -1;
		}
		/* A driver that keeps nothing across a restart is held to what a
		 * memory-only client owes (scenario_driver_notes says so). */
		if (t->client_cmd && !strstr(t->driver_caps ? t->driver_caps : "", ",persistence,"))
			for (int i = 0; i < own->nclients; i++) {
				m->unpersisted[i] = own->clients[i].store == SCN_STORE_FS;
				own->clients[i].store = SCN_STORE_MEMORY;
			}
		sc = own;
	}
	pthread_mutex_init(&m->wlock, NULL);
	m->sc = sc;
	m->exe = exe;
	m->path = sc->path;
	m->seed = seed;
	m->trace = trace;
	m->t0 = clock_ms();
	m->broker_back_at = UINT64_MAX;
	for (int i = 0; i < SCN_MAX_CLIENTS; i++)
		m->discard_at[i] = UINT64_MAX;
	int rc = -1;
	struct mqtt_fakebroker *fb = NULL;
	snprintf(m->tmp, sizeof m->tmp, "%s/mqttsim-real-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(m->tmp)) {
		say_why(r, "cannot make a folder for the stores: %s", strerror(errno));
		free(own);
		free(m);
		return -1;
	}
	for (int i = 0; i < SCN_MAX_CLIENTS; i++) {
		m->c[i].fd = -1;
		m->c[i].restart_at = UINT64_MAX;
		m->c[i].back_by = UINT64_MAX;
		strcpy(m->c[i].fired, ",");
		snprintf(m->c[i].dir, sizeof m->c[i].dir, "%s/client%d", m->tmp, i);
	}
	if (!(m->o = oracle_new(sc)))
		goto out;
	oracle_clock(m->o, &m->now);
	for (int i = 0; i < SCN_MAX_STEPS; i++)
		m->granted[i] = -1;
	for (int i = 0; i < sc->nclients; i++) {
		if (!(m->bwire[i] = calloc(1, sizeof *m->bwire[i])))
			goto out;
		wire_init(m->bwire[i], WIRE_BROKER);
		if (t && t->client_cmd) {
			if (!(m->cwire[i] = calloc(1, sizeof *m->cwire[i])))
				goto out;
			wire_init(m->cwire[i], WIRE_CLIENT);
		}
	}
	m->driver = t && t->client_cmd ? t->client_cmd : NULL;
	if (m->external) {
		if (broker_setup(m, t, err, sizeof err) != 0) {
			say_why(r, "%s", err);
			goto out;
		}
	} else {
		struct mqtt_fakebroker_config bcfg = {
			.broker = {.queue_max = sc->queue_max, .inflight_max = sc->inflight_max, .record = true},
			.record_pcap = pcap, .log = trace ? broker_log : NULL, .log_arg = m};
		char where[128];
		if (mqtt_fakebroker_new(&fb, &bcfg, err, sizeof err) != 0 ||
		    mqtt_fakebroker_listen(fb, "tcp://127.0.0.1:0", where, sizeof where, err, sizeof err) != 0) {
			say_why(r, "the fake broker: %s", err);
			goto out;
		}
		const char *colon = strrchr(where, ':');
		snprintf(m->port, sizeof m->port, "%s", colon ? colon + 1 : "");
		if (pcap)
			m->fb = fb;
		m->broker = fb;
		struct mqtt_broker *b = mqtt_fakebroker_lock(fb);
		for (int i = 0; i < sc->nrules; i++)
			if (mqtt_broker_rule(b, sc->broker_rules[i], err, sizeof err) < 0) {
				mqtt_fakebroker_unlock(fb);
				say_why(r, "rule %s: %s", sc->broker_rules[i], err);
				goto out;
			}
		mqtt_fakebroker_unlock(fb);
		if (mqtt_fakebroker_start(fb) != 0) {
			say_why(r, "the fake broker does not start");
			goto out;
		}
		snprintf(m->address, sizeof m->address, "tcp://127.0.0.1:%s", m->port);
	}
	if (((m->external && !t->direct) || m->driver) && link_setup(m, pcap, err, sizeof err) != 0) {
		say_why(r, "%s", err);
		goto out;
	}
	for (int i = 0; i < sc->nsteps; i++)
		if (sc->steps[i].kind == SCN_SUBSCRIBE)
			m->c[sc->steps[i].client].has_subs = true;
	for (int i = 0; i < sc->nclients; i++)
		if (sc->scripted[i] && !(m->script[i] = rscript_new(sc->pkts, sc->npkts, i,
		                                                     m->script_port[i],
		                                                     sizeof m->script_port[i], err,
		                                                     sizeof err))) {
			say_why(r, "%s", err);
			goto out;
		} else if (m->script[i]) {
			m->script_end[i] = (struct script_end){m, i};
			rscript_watch(m->script[i], script_bytes, &m->script_end[i]);
		}
	for (int i = 0; i < sc->nclients; i++) {
		if (sc->clients[i].store == SCN_STORE_FS && mkdir(m->c[i].dir, 0700) != 0) {
			say_why(r, "%s: %s", m->c[i].dir, strerror(errno));
			goto out;
		}
		if (spawn(m, i) != 0) {
			say_why(r, "cannot start a process: %s", strerror(errno));
			goto out;
		}
	}
	bool done = false;
	while (!*m->broken) {
		m->now = clock_ms() - m->t0;
		if (m->now > sc->limit_ms || (t && t->max_ms && m->now > t->max_ms))
			break;
		schedule(m);
		struct pollfd p[SCN_MAX_CLIENTS * 3];
		int who[SCN_MAX_CLIENTS * 3], np = 0;
		for (int i = 0; i < sc->nclients; i++)
			if (m->script[i]) {
				int k = rscript_pollfds(m->script[i], p + np);
				for (int j = 0; j < k; j++)
					who[np + j] = -1;
				np += k;
			}
		for (int i = 0; i < sc->nclients; i++)
			if (m->c[i].fd >= 0) {
				p[np] = (struct pollfd){m->c[i].fd, POLLIN, 0};
				who[np++] = i;
			}
		poll(p, (nfds_t)np, 5);
		m->now = clock_ms() - m->t0;
		take_marks(m); /* before the processes they killed are seen gone */
		for (int i = 0; i < sc->nclients; i++)
			if (m->script[i])
				rscript_step(m->script[i], m->now);
		for (int k = 0; k < np; k++) {
			if (!p[k].revents || who[k] < 0)
				continue;
			uint8_t buf[PACKET_MAX];
			for (;;) {
				ssize_t n = recv(p[k].fd, buf, sizeof buf, MSG_DONTWAIT);
				if (n > 0) {
					event(m, who[k], buf, (size_t)n);
					continue;
				}
				if (n == 0 || (errno != EAGAIN && errno != EINTR))
					child_gone(m, who[k]);
				break;
			}
		}
		judge_broker_records(m);
		bool settled;
		if ((done = finished(m, &settled)) || settled)
			break;
	}
	ask_final_states(m);
	judge_broker_records(m);
	for (int i = 0; i < sc->nclients; i++)
		closed_end_judged(m, i);
	for (int i = 0; i < sc->nclients; i++) {
		/* Quiescence: an online client's exchanges, in its session and
		 * at the broker's end, are all finished by now. */
		const struct rclient *c = &m->c[i];
		char why[400] = "";
		if (c->fd < 0 || c->disconnected || c->final != SCN_FINAL_ONLINE || !m->bwire[i])
			continue;
		if (c->final_inflight > 0)
			snprintf(why, sizeof why, "%s's session has %ld exchange%s in flight",
			         sc->clients[i].name, c->final_inflight, c->final_inflight == 1 ? "" : "s");
		else {
			pthread_mutex_lock(&m->wlock);
			bool unfinished = wire_unfinished(m->bwire[i], sc->clients[i].name, why, sizeof why);
			pthread_mutex_unlock(&m->wlock);
			if (!unfinished)
				continue;
		}
		oracle_wire_violation(m->o, SCN_QUIESCENT, why);
	}
	for (int i = 0; i < sc->nexpects; i++) {
		const struct scn_expect *e = &sc->expects[i];
		const struct rclient *c = &m->c[e->client];
		if (e->what != SCN_STATE)
			continue;
		enum scn_final was = c->fd < 0 ? SCN_FINAL_DOWN : c->final ? c->final : SCN_FINAL_OFFLINE;
		long inflight = c->fd < 0 ? 0 : c->final_inflight;
		if (was != e->state || (e->inflight >= 0 && inflight != e->inflight))
			r->state_wrong[i] = true, r->state_was[i] = was, r->state_inflight[i] = inflight;
	}
	stop_all(m);
	if (fb)
		mqtt_fakebroker_stop(fb);
	fault_proxy_stop(m->proxy);
	if (m->external) {
		/* The broker as the run found it: its sessions and retained messages gone. */
		if (target_clear(m->address, t->broker_ca, sc, err, sizeof err) != 0)
			rtrace(m, "clearing up the broker: %s", err);
		if (m->bp.pid)
			broker_proc_stop(&m->bp, 5000);
	}
	r->virtual_ms = m->now;
	for (int i = 0; i < sc->nclients; i++) {
		uint32_t n = m->driver ? m->link_conns[i] : m->c[i].connects;
		r->reconnects[i] = n ? n - 1 : 0;
	}
	for (int i = 0; i < sc->nsteps; i++)
		if (sc->steps[i].kind == SCN_PUBLISH && m->next[i] != UINT32_MAX)
			rtrace(m, "line %u: published %u of %u", sc->steps[i].line, m->next[i],
			       sc->steps[i].count);
	for (int i = 0; i < sc->nclients; i++) {
		char why[400];
		if (m->script[i] && pscript_violated(rscript_run(m->script[i]), why, sizeof why))
			oracle_wire_violation(m->o, SCN_SCRIPT, why);
	}
	if (m->wire.dup_violation)
		oracle_wire_violation(m->o, SCN_DUP_FLAG, m->wire.dup_why);
	if (m->wire.id_violation)
		oracle_wire_violation(m->o, SCN_PACKET_IDS, m->wire.id_why);
	if (m->bwire_report.dup_violation)
		oracle_wire_violation(m->o, SCN_BROKER_DUP_FLAG, m->bwire_report.dup_why);
	if (m->bwire_report.id_violation)
		oracle_wire_violation(m->o, SCN_BROKER_PACKET_IDS, m->bwire_report.id_why);
	oracle_judge(m->o, sc, done, r);
	if (*m->broken) {
		r->passed = false;
		say_why(r, "%s", m->broken);
	}
	if (!r->passed && m->bp.starts && trace)
		copy_broker_log(m);
	r->target_broken = m->target_broken;
	rc = 0;
out:
	stop_all(m);
	m->fb = NULL;
	mqtt_fakebroker_free(fb);
	fault_proxy_free(m->proxy);
	broker_proc_kill(&m->bp);
	if (m->pcap_client)
		mqtt_pcap_close(m->pcap_client);
	if (m->pcap_broker)
		mqtt_pcap_close(m->pcap_broker);
	for (int i = 0; i < SCN_MAX_CLIENTS; i++) {
		rscript_free(m->script[i]);
		free(m->bwire[i]);
		free(m->cwire[i]);
	}
	oracle_free(m->o);
	remove_tree(m);
	pthread_mutex_destroy(&m->wlock);
	free(m);
	free(own);
	return rc;
}
