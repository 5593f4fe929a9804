/*
 * sim.c - the simulator: one thread, a virtual clock, the broker core,
 * each client's session core, and fault links between them (the same
 * engine as real connections). A run is a function of (scenario, seed).
 *
 * The application of each client publishes the workload's messages
 * (identity in the payload: "c:step:seq:") and reads every message at
 * once; the oracle (oracle.c) judges what was read against what was
 * published.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/broker.h"
#include "mqttsim/codec.h"
#include "mqttsim/pcap.h"
#include "scenarios/report/chart.h"
#include "mqttsim/session.h"
#include "mqttsim/store.h"
#include "scenarios/oracle/oracle.h"
#include "scenarios/lang/script.h"
#include "simdisk.h"
#include "scenarios/oracle/wire.h"
#include "scenarios/lang/setup.h"
#include "sim.h"


/*
 * What each packet identifier of a client last carried, in pages made as
 * identifiers are used: a run touches a few of the 65,536, and a table
 * of them all, cleared per run, cost more than the run's protocol work.
 */
#define ID_PAGE 256
struct id_page {
	uint32_t msg[ID_PAGE]; /* the last message it carried + 1; 0: none */
	uint8_t lost[ID_PAGE]; /* its record vanished: may be taken for the old message */
};
struct id_table {
	struct id_page *page[65536 / ID_PAGE];
	unsigned pages; /* made: clearing stops when they are freed */
};

static struct id_page *id_page(struct id_table *t, uint16_t id, bool make)
{
	struct id_page **p = &t->page[id / ID_PAGE];
	if (!*p && make && (*p = calloc(1, sizeof **p)))
		t->pages++;
	return *p;
}

static uint32_t id_msg(struct id_table *t, uint16_t id)
{
	const struct id_page *p = id_page(t, id, false);
	return p ? p->msg[id % ID_PAGE] : 0;
}

static void id_clear(struct id_table *t)
{
	for (size_t i = 0; t->pages && i < sizeof t->page / sizeof t->page[0]; i++) {
		if (t->page[i])
			t->pages--;
		free(t->page[i]);
		t->page[i] = NULL;
	}
}

struct sclient {
	const struct scn_client *cfg;
	struct sim *sim;
	int index;
	int incarnation;                 /* its process: 1, then one more a restart */
	uint64_t events;                 /* session events taken, over its processes */
	struct mqtt_session *s;          /* NULL while crashed */
	struct mqtt_store store;         /* store=fs: the file-system store on disk */
	struct simdisk *disk;            /* store=fs: outlives crashes, minus what was not synced */
	bool has_store;
	struct mqtt_fault_plan plan;     /* the client's faults + network + crash marks */
	struct mqtt_fault_run *run;
	struct mqtt_fault_link *link;
	struct mqtt_bconn *bc;
	/* A connection the client (or its dead process) let go of: what was
	 * written still reaches the broker, then the FIN; nobody reads it. */
	struct mqtt_fault_link *orphan;
	struct mqtt_bconn *orphan_bc;
	struct script_run *script;       /* its broker side is scripted (packet-level form) */
	bool b2c_fin;                    /* the broker's side closed the connection */
	uint64_t broker_closed_at;       /* when, if b2c_fin */
	uint32_t orphan_pcap;
	uint64_t prng;
	uint64_t restart_at;             /* UINT64_MAX: no restart pending */
	bool crashed_volatile;           /* lost its state at least once */
	bool orphan_volatile;            /* the orphan's client lost its state with it */
	bool orphan_will;                /* the orphan was accepted, and ends without DISCONNECT */
	bool lost_connection;
	bool subscribed;                 /* every SUBACK of its subscriptions came */
	int sub_pending;
	int connects;
	uint32_t pcap_conn;              /* the connection's number in the capture */
	struct wire *wire;               /* its end of the connection, judged (DUP, identifiers) */
	struct wire *bwire;              /* the broker's end of it, judged alike */
	/* The application is busy with the last message (read-delay) and asks
	 * for the next one, which acknowledges it, at read_at. */
	bool reading;
	uint64_t read_at;
	uint8_t *big;                    /* a big message's payload, claimed (read-buffer) */
	bool adopted;                    /* restarted on its store at least once */
	bool first_connect;              /* its session has not been online yet */
	bool disconnected;               /* told to DISCONNECT: closed for good (note_closed) */
	bool closed_noted;               /* note_closed saw it closed */
	/* A connection ended after DISCONNECT was asked, which the broker's
	 * end has yet to judge (disconnect_judged), and whether it was online. */
	enum disconnect_open { DISCONNECT_NONE, DISCONNECT_CONNECTING, DISCONNECT_ONLINE } disconnect_open;
	uint32_t disconnect_conn;        /* which connection that was */
	bool disconnect_missing;         /* it closed that one itself, with nothing left to write,
	                                  * and no DISCONNECT among what it wrote on it */
	bool online_here;                /* the connection's CONNACK accepted it */
	uint16_t sub_ids[SCN_MAX_STEPS]; /* a subscribe step's request identifier */
	struct id_table ids;             /* by packet id: its last message, whether its record vanished */
	/* Records the disk damaged, which the restarted session must report. */
	uint32_t damaged[8];
	int ndamaged;
	/* Of the broker's output to the current connection not yet written,
	 * the bytes the wire judged already: emitted before what a
	 * connection taken late (the orphan) sent after them. */
	size_t bjudged;
	size_t orphan_bjudged;           /* bjudged, carried into the orphan (drain_orphan) */
	uint16_t bforget[8];             /* given up at the broker's end once the orphan drained */
	int nbforget;
	char warnings[2048];             /* what the session warned of since its start */
};

struct pubstate {
	uint32_t next;                   /* next seq to publish; UINT32_MAX: the step is done */
	uint64_t next_at;
	uint16_t req;                    /* a late (un)subscribe: its packet identifier */
	uint64_t sent_at;
	bool requested;
	/* A publish refused for a full window: the client's event count and
	 * process then. Only a finished exchange (an event) or a new process
	 * frees an identifier, so until then a try is refused again. */
	bool full;
	uint64_t full_events;
	int full_incarnation;
};

struct sim {
	const struct scenario *sc;
	struct mqtt_broker *b;
	struct sclient c[SCN_MAX_CLIENTS];
	struct pubstate pub[SCN_MAX_STEPS];
	/* The steps schedule() acts on once the workload runs, in order: not
	 * the subscriptions made before it, nor crashes at a packet (which
	 * check_crash() does), nor the steps done, which it asked about at
	 * every spin. */
	int acting[SCN_MAX_STEPS];
	int nacting;
	struct oracle *o;
	uint64_t now, start;             /* start: the workload's time 0 (all subscribed) */
	bool started;
	FILE *trace;
	FILE *chart;                     /* the chart's events (report/chart.h), or NULL */
	struct wire_report wire;         /* the clients' conduct on the wire */
	struct wire_report bwire;        /* the broker's */
	struct mqtt_pcap *pcap;
	uint32_t pcap_conns;
	uint64_t events;
	uint64_t traced_seq; /* broker records already in the trace */
	bool broken;         /* the simulation itself failed (out of memory) */
	bool livelock;       /* it stopped making progress in virtual time */
	uint8_t *kept;       /* a message read, kept aside while its ack is written */
	size_t kept_cap;
	/* The payload of the next message to publish: a full window refuses
	 * it again and again, so it is made once (step, seq: what it holds). */
	uint8_t *payload;
	size_t payload_cap, payload_len;
	int payload_step;
	uint32_t payload_seq;
	/* The last fault, crash, restart, full disk or publish call: liveness
	 * is judged from the later of these (expect live within=). */
	uint64_t last_trouble;
	bool idle_for_ever;              /* the run ended with nothing left to happen */
	bool done;                       /* the workload is done: the run waits to be quiet */
};

/* The packets the broker saw and sent since the last call, into the trace. */
static void trace_packets(struct sim *m)
{
	struct mqtt_broker_record rec[32];
	size_t n;
	while ((n = mqtt_broker_records(m->b, m->traced_seq, rec, 32)) > 0) {
		for (size_t i = 0; i < n; i++) {
			m->traced_seq = rec[i].seq;
			char detail[64] = "";
			const uint8_t *b = rec[i].bytes;
			if ((rec[i].type == MQTT_PUBACK || rec[i].type == MQTT_PUBREC ||
			     rec[i].type == MQTT_PUBREL || rec[i].type == MQTT_PUBCOMP) && rec[i].len >= 4)
				snprintf(detail, sizeof detail, " id=%u", (unsigned)(b[2] << 8 | b[3]));
			else if (rec[i].type == MQTT_PUBLISH && rec[i].len >= 2)
				snprintf(detail, sizeof detail, " qos=%u%s", (unsigned)(b[0] >> 1 & 3),
				         b[0] & 8 ? " dup" : "");
			fprintf(m->trace, "t=%llums broker %s %s %s%s (%zu bytes)\n",
			        (unsigned long long)rec[i].time, rec[i].dir == MQTT_C2B ? "<-" : "->",
			        *rec[i].client_id ? rec[i].client_id : "?",
			        rec[i].type ? mqtt_type_name(rec[i].type) : "RAW", detail, rec[i].len);
		}
	}
}

static void tracef(struct sim *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tracef(struct sim *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (m->pcap) {
		/* The trace's events beside the capture, keyed by frame. */
		char line[400];
		va_list copy;
		va_copy(copy, ap);
		vsnprintf(line, sizeof line, fmt, copy);
		va_end(copy);
		mqtt_pcap_note(m->pcap, MQTT_PCAP_NO_CONNECTION, m->now * 1000, "scenario", "trace", line);
	}
	scn_vtrace(m->trace, m->now, fmt, ap);
	va_end(ap);
}

/* A mark on a lane of the chart (report/chart.h): lane "client" (c's),
 * "link" or "broker". */
static void chart_mark(struct sim *m, const char *lane, const struct sclient *c, const char *kind,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void chart_mark(struct sim *m, const char *lane, const struct sclient *c, const char *kind,
                       const char *fmt, ...)
{
	if (!m->chart)
		return;
	char text[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	chart_note_mark(m->chart, m->now, lane, c ? c->index : -1, kind, text);
}

/* Each packet as it completes at the client's end (wire_watch): what it
 * sent, what it received. */
static void chart_client_end(void *arg, bool old, bool sent, uint64_t offset, const uint8_t *p,
                             size_t len, bool corrupted)
{
	(void)old;
	struct sclient *c = arg;
	uint32_t conn = c->link ? mqtt_fault_link_number(c->link) : 0;
	chart_note_packet(c->sim->chart, c->sim->now, c->index, conn, sent, !sent, offset, p, len,
	                  corrupted);
}

/* And at the broker's end of c's connections (old: the one let go of). */
static void chart_broker_end(void *arg, bool old, bool sent, uint64_t offset, const uint8_t *p,
                             size_t len, bool corrupted)
{
	struct sclient *c = arg;
	struct mqtt_fault_link *l = old ? c->orphan : c->link;
	uint32_t conn = l ? mqtt_fault_link_number(l) : 0;
	chart_note_packet(c->sim->chart, c->sim->now, c->index, conn, !sent, !sent, offset, p, len,
	                  corrupted);
}

static void collect_warning(void *arg, const char *text)
{
	struct sclient *c = arg;
	size_t n = strlen(c->warnings);
	snprintf(c->warnings + n, sizeof c->warnings - n, "%s\n", text);
}

static int session_start(struct sim *m, struct sclient *c, bool adopt)
{
	c->warnings[0] = 0;
	/* An adopted session goes on: its first connect is a reconnect. */
	c->first_connect = !(adopt && c->has_store);
	struct mqtt_session_config cfg;
	char will[16];
	scn_session_config(c->cfg, c->index, &c->prng, will, &cfg);
	enum mqtt_session_mode mode = c->has_store ? (adopt ? MQTT_SESSION_ADOPT : MQTT_SESSION_INIT)
	                                           : MQTT_SESSION_VOLATILE;
	struct mqtt_error e = mqtt_session_new(&c->s, &cfg, mode, c->has_store ? &c->store : NULL,
	                                       collect_warning, c);
	if (e.cls) {
		tracef(m, "%s: session: class %d code %d", c->cfg->name, e.cls, e.code);
		if (e.cls == MQTT_PERSISTENCE && adopt) {
			/* Its store cannot be read now (a full disk, an I/O error):
			 * its supervisor starts it again a second later, as one does
			 * (found by mqttsim explore: a restart on a full disk). */
			c->restart_at = m->now + 1000;
			tracef(m, "%s: starts again in 1 s", c->cfg->name);
		}
		return -1;
	}
	c->incarnation++;
	oracle_backoff_policy(m->o, c->index, cfg.reconnect_wait_min_ms, cfg.reconnect_wait_max_ms);
	if (m->chart)
		chart_note_process(m->chart, m->now, c->index, c->cfg->name, c->incarnation);
	/* The policy: every damaged record a restart finds is reported. */
	for (int k = 0; k < c->ndamaged; k++) {
		char key[32];
		snprintf(key, sizeof key, "record %#x ", (unsigned)c->damaged[k]);
		if (!strstr(c->warnings, key)) {
			char why[200];
			snprintf(why, sizeof why, "%s adopted its store without reporting its damaged "
			         "record %#x", c->cfg->name, (unsigned)c->damaged[k]);
			oracle_wire_violation(m->o, SCN_STORAGE, why);
		}
	}
	c->ndamaged = 0;
	if (c->warnings[0] && m->trace)
		tracef(m, "%s: warnings: %s", c->cfg->name, c->warnings);
	return 0;
}

/*
 * The far end of a client's connection (bc, link number conn): the fake
 * broker's core, or the client's script in the packet-level form.
 */
static struct mqtt_bconn *peer_open(struct sim *m, struct sclient *c, uint32_t conn)
{
	if (c->script) {
		pscript_connected(c->script, conn, m->now);
		return NULL;
	}
	return mqtt_broker_open(m->b, m->now);
}

static size_t peer_receive(struct sim *m, struct sclient *c, struct mqtt_bconn *bc, uint32_t conn,
                           const uint8_t *d, size_t n)
{
	if (!c->script)
		return mqtt_broker_receive(m->b, bc, m->now, d, n);
	pscript_receive(c->script, conn, m->now, d, n);
	return n;
}

static size_t peer_output(struct sim *m, struct sclient *c, struct mqtt_bconn *bc, uint32_t conn,
                          const uint8_t **d)
{
	return c->script ? pscript_output(c->script, conn, d) : mqtt_broker_output(m->b, bc, d);
}

static void peer_wrote(struct sim *m, struct sclient *c, struct mqtt_bconn *bc, size_t n)
{
	if (c->script)
		pscript_wrote(c->script, n);
	else
		mqtt_broker_wrote(m->b, bc, n);
}

static bool peer_wants_close(struct sim *m, struct sclient *c, struct mqtt_bconn *bc, uint32_t conn)
{
	const uint8_t *rest;
	if (c->script)
		return pscript_wants_close(c->script, conn);
	return mqtt_bconn_wants_close(bc) && !mqtt_broker_output(m->b, bc, &rest);
}

static void peer_closed(struct sim *m, struct sclient *c, struct mqtt_bconn *bc, uint32_t conn)
{
	if (c->script)
		pscript_closed(c->script, conn, m->now);
	else
		mqtt_broker_closed(m->b, bc, m->now);
}

/*
 * A connection of c ended without DISCONNECT: the broker publishes the
 * will of a connection it accepted [MQTT-3.1.2-8]. One whose CONNACK
 * the client never saw may or may not have been accepted (refused, or
 * the CONNACK lost on the way): its will may come, it is not owed.
 */
static void connection_ended(struct sim *m, struct sclient *c)
{
	if (c->disconnected) {
		/* Clean only if the broker takes the DISCONNECT, known where
		 * the broker's end of the connection ends (disconnect_judged). */
		c->disconnect_open = c->online_here ? DISCONNECT_ONLINE : DISCONNECT_CONNECTING;
		c->disconnect_missing = false; /* a broken link: its DISCONNECT may never have gone */
		c->disconnect_conn = c->link ? mqtt_fault_link_number(c->link) : 0;
		c->online_here = false;
		return;
	}
	if (c->online_here)
		/* The broker published the will when it ended its side, which
		 * may be long before the client saw the end (found by mqttsim
		 * explore, seed 83279: keep-alive expired at the broker while
		 * the link to the client stalled). */
		oracle_connection_lost(m->o, c->index, m->now,
		                       c->b2c_fin ? c->broker_closed_at : m->now);
	else
		oracle_connection_maybe_lost(m->o, c->index, m->now);
	c->online_here = false;
}

/*
 * A client told to DISCONNECT is closed for good (the seed's Disconnect:
 * "the Client is closed regardless"). What it had not finished then
 * never finishes in this run, so it is no longer owed, as a memory-only
 * publisher's crash does, and the run does not wait for it; what it
 * completed stays owed (the broker acknowledged it). And it reads
 * nothing more: what it had not read by then is not owed to it, so loss
 * to it is not judged (duplicates and order still are).
 */
static void note_closed(struct sim *m, struct sclient *c)
{
	if (!c->disconnected || c->closed_noted || !c->s ||
	    mqtt_session_state(c->s) != MQTT_STATE_CLOSED)
		return;
	c->closed_noted = true;
	c->reading = false; /* the message its application was slow to take, it never takes */
	oracle_session_lost(m->o, c->index);
	/* A restarted process may resend from its store (found by mqttsim
	 * explore, seed 189088 of generator 9: a QoS 2 message delivered
	 * twice across a DISCONNECT, a crash and a clean restart). */
	oracle_closed(m->o, c->index, m->now);
	size_t left = mqtt_session_inflight(c->s);
	if (!left)
		return;
	oracle_excuse_unfinished(m->o, c->index);
	tracef(m, "%s: closed with %zu exchange%s unfinished: no longer owed", c->cfg->name, left,
	       left == 1 ? "" : "s");
}

/*
 * The broker's end of a connection its client wrote DISCONNECT on ends
 * (old: the connection let go of): a DISCONNECT the broker never took,
 * lost on the way or behind the broker's own close, makes it an unclean
 * end like any other, and the will goes [MQTT-3.1.2-8] (found by mqttsim
 * explore, generator 8, seed 9844: a drop at the DISCONNECT's byte).
 */
static void disconnect_judged(struct sim *m, struct sclient *c, bool old, uint32_t conn)
{
	if (conn != c->disconnect_conn)
		return; /* an older connection's end (found by mqttsim explore, seed 572048) */
	enum disconnect_open was = c->disconnect_open;
	c->disconnect_open = DISCONNECT_NONE;
	if (was == DISCONNECT_NONE || wire_disconnect(c->bwire, old, false))
		return;
	if (was == DISCONNECT_ONLINE && c->disconnect_missing) {
		/* Online, told to disconnect, and gone without writing DISCONNECT:
		 * no graceful end, so the broker rightly publishes the will. */
		char why[300];
		snprintf(why, sizeof why, "%s was told to disconnect while online, and its connection "
		         "ended without a DISCONNECT written: its will goes", c->cfg->name);
		tracef(m, "%s", why);
		if (*c->cfg->will_topic)
			oracle_wire_violation(m->o, SCN_WILL, why);
		oracle_connection_lost(m->o, c->index, m->now, m->now);
		return;
	}
	tracef(m, "%s: its DISCONNECT never reached the broker: the connection ended uncleanly",
	       c->cfg->name);
	if (was == DISCONNECT_ONLINE)
		oracle_connection_lost(m->o, c->index, m->now, m->now);
	else
		/* Closed while connecting (no DISCONNECT to send): a CONNECT
		 * still on its way may yet be accepted, and that connection's
		 * end is unclean; its will may come, it is not owed (found by
		 * mqttsim explore, generator 8, seed 618463). */
		oracle_connection_maybe_lost(m->o, c->index, m->now);
}

/* c's session let its connection go: unless it is done, it dials again. */
static void note_loss(struct sim *m, struct sclient *c, bool accepted)
{
	if (c->s && mqtt_session_state(c->s) != MQTT_STATE_CLOSED)
		oracle_redial_owed(m->o, c->index, accepted, m->now);
}

static void drop_connection(struct sim *m, struct sclient *c, const char *why)
{
	if (!c->link)
		return;
	tracef(m, "%s: connection %u ends: %s", c->cfg->name, mqtt_fault_link_number(c->link), why);
	chart_mark(m, "link", c, "end", "connection %u ends: %s", mqtt_fault_link_number(c->link), why);
	bool accepted = c->online_here;
	connection_ended(m, c);
	if (c->s)
		mqtt_session_lost(c->s, m->now, (struct mqtt_error){MQTT_IO, ECONNRESET});
	note_loss(m, c, accepted);
	note_closed(m, c);
	disconnect_judged(m, c, false, mqtt_fault_link_number(c->link)); /* what it held is lost */
	peer_closed(m, c, c->bc, mqtt_fault_link_number(c->link));
	if (accepted && !c->disconnected)
		oracle_will_sent(m->o, c->index, m->now);
	if (m->pcap)
		mqtt_pcap_end(m->pcap, c->pcap_conn, m->now * 1000);
	mqtt_fault_link_free(c->link);
	c->link = NULL;
	c->bc = NULL;
	c->bjudged = 0;
	c->lost_connection = true;
}

/* The orphan's end at the broker: after its last bytes (and FIN). */
static void orphan_end(struct sim *m, struct sclient *c)
{
	tracef(m, "%s: connection %u ends at the broker", c->cfg->name,
	       mqtt_fault_link_number(c->orphan));
	chart_mark(m, "link", c, "end", "connection %u ends at the broker",
	           mqtt_fault_link_number(c->orphan));
	disconnect_judged(m, c, true, mqtt_fault_link_number(c->orphan));
	peer_closed(m, c, c->orphan_bc, mqtt_fault_link_number(c->orphan));
	if (c->orphan_will)
		oracle_will_sent(m->o, c->index, m->now); /* a client that never comes back too */
	c->orphan_will = false;
	for (int k = 0; k < c->nbforget; k++)
		wire_forget(c->bwire, false, c->bforget[k]);
	c->nbforget = 0;
	/* What a memory-only client started before it died and the broker
	 * read only now, nobody will finish either (found by mqttsim
	 * explore: QoS 2 PUBLISHes that arrived after the crash). */
	if (c->orphan_volatile)
		wire_peer_lost(c->bwire);
	c->orphan_volatile = false;
	if (m->pcap)
		mqtt_pcap_end(m->pcap, c->orphan_pcap, m->now * 1000);
	mqtt_fault_link_free(c->orphan);
	c->orphan = NULL;
	c->orphan_bc = NULL;
	c->orphan_bjudged = 0;
}

/*
 * The client closes its connection (or its process dies): as a kernel
 * does, what it had been given still goes out, then a FIN; the client
 * reads no more of it. The link drains as an orphan (drain_orphan).
 */
static void let_go(struct sim *m, struct sclient *c, const char *why)
{
	tracef(m, "%s: connection %u closed by the client: %s", c->cfg->name,
	       mqtt_fault_link_number(c->link), why);
	chart_mark(m, "link", c, "end", "connection %u closed by the client: %s",
	           mqtt_fault_link_number(c->link), why);
	bool accepted = c->online_here;
	bool unclean = accepted && !c->disconnected;
	connection_ended(m, c);
	if (c->disconnect_open == DISCONNECT_ONLINE) {
		/* Closed by the client with nothing left to write: its DISCONNECT,
		 * if it made one, was written (one a stalled link held back,
		 * given up on, was not the client's choice). Looked at now, while
		 * this connection is the client's current one: a restarted
		 * process may dial a new one before the broker's end of this one
		 * ends (found by mqttsim explore, seed 14861 of generator 9). */
		const uint8_t *d;
		c->disconnect_missing = mqtt_session_output(c->s, &d) == 0 &&
		                        !wire_disconnect(c->wire, false, true);
	}
	if (c->orphan)
		orphan_end(m, c); /* one at a time: the older one is long done */
	mqtt_fault_link_shutdown(c->link, MQTT_C2B, m->now, false);
	wire_retire(c->bwire);
	c->orphan = c->link;
	c->orphan_will = unclean;
	c->orphan_bc = c->bc;
	c->orphan_pcap = c->pcap_conn;
	c->orphan_bjudged = c->bjudged; /* judged already, as the current connection's */
	c->link = NULL;
	c->bc = NULL;
	c->bjudged = 0;
	c->lost_connection = true;
	if (c->s)
		mqtt_session_lost(c->s, m->now, (struct mqtt_error){MQTT_IO, ECONNRESET});
	note_loss(m, c, accepted);
	note_closed(m, c);
}

/*
 * The broker took these bytes of c's connection (old: the one let go of):
 * its end of the wire judges them, and a clean CONNECT among them
 * discards the session there was, its subscriptions with it, as the
 * broker takes it (found by mqttsim explore: seed 83636, a restarted
 * client's clean connect ended a late subscription of its old session;
 * seed 9280, a clean CONNECT the client let go of, stalled on its way and
 * taken late).
 */
static void broker_took(struct sim *m, struct sclient *c, bool old, const uint8_t *d, size_t n)
{
	uint32_t clean_before = c->bwire->clean_connects;
	wire_bytes(c->bwire, old, false, d, n, c->cfg->name, &m->bwire);
	if (c->bwire->clean_connects != clean_before)
		oracle_session_discarded(m->o, c->index, m->now);
}

/* The broker wrote these n bytes of c's connection (old: the orphan): its
 * end of the wire judges them, but for the first *judged, which were
 * judged already (drain_orphan, when an older connection took over). */
static void broker_sent(struct sim *m, struct sclient *c, bool old, const uint8_t *d, size_t n,
                        size_t *judged)
{
	size_t skip = n < *judged ? n : *judged;
	if (n > skip)
		wire_bytes(c->bwire, old, true, d + skip, n - skip, c->cfg->name, &m->bwire);
	*judged -= skip;
}

/* Moves the orphan's bytes to the broker; returns whether anything moved. */
static bool drain_orphan(struct sim *m, struct sclient *c)
{
	bool moved = false;
	const uint8_t *d;
	size_t n;
	struct mqtt_fault_report rep;
	while ((n = mqtt_fault_link_peek(c->orphan, MQTT_C2B, m->now, &d)) > 0) {
		size_t used = peer_receive(m, c, c->orphan_bc, mqtt_fault_link_number(c->orphan), d, n);
		broker_took(m, c, true, d, used);
		if (m->pcap && used)
			mqtt_pcap_write(m->pcap, c->orphan_pcap, MQTT_PCAP_TO_BROKER, m->now * 1000, d, used);
		mqtt_fault_link_consume(c->orphan, MQTT_C2B, used);
		/* A broker that stops reading takes nothing: no progress (found
		 * with the scenario storage-two-restarts-order, as a livelock). */
		moved = moved || used > 0;
		if (used < n)
			break;
	}
	if (peer_output(m, c, c->orphan_bc, mqtt_fault_link_number(c->orphan), &d) > 0 && c->bc &&
	    (n = peer_output(m, c, c->bc, mqtt_fault_link_number(c->link), &d)) > c->bjudged) {
		/* What the broker emitted to the current connection came before
		 * what it sends the orphan now (which took it over): judged so,
		 * though it reaches the link later (found by mqttsim explore,
		 * seed 1583568: a first send judged after the late connection's
		 * resend with DUP was taken for a resend without DUP). */
		wire_bytes(c->bwire, false, true, d + c->bjudged, n - c->bjudged, c->cfg->name, &m->bwire);
		c->bjudged = n;
	}
	while ((n = peer_output(m, c, c->orphan_bc, mqtt_fault_link_number(c->orphan), &d)) > 0) {
		/* Sent, to a connection nobody reads any more: a resend is due.
		 * What was judged while this was the current connection (above,
		 * when an older orphan took it over) is not judged again (found
		 * by mqttsim explore, seed 1710201: a first send judged twice,
		 * the second time as a resend without DUP). */
		broker_sent(m, c, true, d, n, &c->orphan_bjudged);
		peer_wrote(m, c, c->orphan_bc, n);
	}
	while ((n = mqtt_fault_link_peek(c->orphan, MQTT_B2C, m->now, &d)) > 0)
		mqtt_fault_link_consume(c->orphan, MQTT_B2C, n);
	while (mqtt_fault_link_report(c->orphan, &rep))
		; /* what it did there no longer matters to anyone */
	if (mqtt_fault_link_state(c->orphan, MQTT_C2B, m->now) != MQTT_LINK_OPEN ||
	    peer_wants_close(m, c, c->orphan_bc, mqtt_fault_link_number(c->orphan))) {
		orphan_end(m, c);
		moved = true;
	}
	return moved;
}

/*
 * A storage fault at the crash: one record damaged. What the policy
 * (docs/client.md) lets happen to its message is no violation: a
 * damaged or vanished outbound message may be lost; a lost rename may
 * bring back a finished one (sent again); a vanished QoS 2 identifier
 * may be taken by the broker for the old message when a new one gets
 * it; a vanished inbound identifier lets a resend through once more.
 */
static void damage_disk(struct sim *m, struct sclient *c, enum scn_damage kind)
{
	static const enum simdisk_damage kinds[] = {0, SIMDISK_TORN, SIMDISK_FLIP, SIMDISK_VANISH,
	                                            SIMDISK_RENAME_LOST};
	static const char *const names[] = {"", "torn", "a bit flipped", "vanished", "rename lost"};
	uint32_t key;
	uint64_t pick = scn_next_random(&c->prng);
	if (simdisk_damage(c->disk, kinds[kind], pick, &key) != 0) {
		tracef(m, "%s: its disk has no record to damage", c->cfg->name);
		return;
	}
	tracef(m, "%s: its disk damages record %#x: %s", c->cfg->name, (unsigned)key, names[kind]);
	chart_mark(m, "client", c, "damage", "its disk damages record %#x: %s", (unsigned)key,
	           names[kind]);
	bool detectable = kind == SCN_DAMAGE_TORN || kind == SCN_DAMAGE_FLIP;
	if (detectable && c->ndamaged < 8)
		c->damaged[c->ndamaged++] = key;
	uint16_t id = (uint16_t)key;
	if (key >= MQTT_SPACE_AT_LEAST_ONCE && key <= 0xffff) {
		if (id_msg(&c->ids, id))
			oracle_damaged(m->o, id_msg(&c->ids, id) - 1, kind == SCN_DAMAGE_RENAME);
		struct id_page *page;
		if (!detectable && key >= MQTT_SPACE_EXACTLY_ONCE && (page = id_page(&c->ids, id, true)))
			page->lost[id % ID_PAGE] = 1;
		/* Exchanges given up by design, at both ends: a damaged QoS 1 one
		 * (never sent again, so the broker is never asked for its PUBACK
		 * again: found by mqttsim explore, seed 79200, with the PUBACK
		 * withheld), one whose record is gone or old. A damaged QoS 2 one
		 * is released, and finishes. */
		bool given_up = !detectable || key < MQTT_SPACE_EXACTLY_ONCE;
		if (given_up)
			wire_forget(c->wire, true, id);
		if (given_up && c->orphan && c->nbforget < 8)
			c->bforget[c->nbforget++] = id; /* its last bytes may still bring it */
		else if (given_up)
			wire_forget(c->bwire, false, id);
	} else if ((key & MQTT_KEY_INBOUND) && !detectable) {
		oracle_allow_repeat(m->o, c->index);
	}
}

/*
 * A memory-only client's identifiers die with it, but a QoS 2 one whose
 * exchange had not finished may still be held by the broker's session,
 * which the restarted client resumes (clean=no): the broker takes a new
 * message that gets it for the old one [MQTT-4.3.3-2], as for a record
 * that vanished (found by mqttsim explore). Those stay marked lost.
 */
static void forget_ids_keep_held(struct sim *m, struct sclient *c)
{
	uint16_t held[256];
	size_t n = 0;
	for (size_t p = 0; p < sizeof c->ids.page / sizeof c->ids.page[0]; p++) {
		const struct id_page *page = c->ids.page[p];
		for (size_t i = 0; page && i < ID_PAGE; i++) {
			uint16_t id = (uint16_t)(p * ID_PAGE + i);
			if ((page->msg[i] && id >= MQTT_SPACE_EXACTLY_ONCE &&
			     !oracle_is_completed(m->o, page->msg[i] - 1)) || page->lost[i]) {
				if (n < sizeof held / sizeof held[0])
					held[n++] = id;
			}
		}
	}
	id_clear(&c->ids);
	struct id_page *page;
	for (size_t k = 0; k < n; k++)
		if ((page = id_page(&c->ids, held[k], true)))
			page->lost[held[k] % ID_PAGE] = 1;
		else
			m->broken = true;
}

static void crash(struct sim *m, struct sclient *c, uint64_t restart_ms, enum scn_damage damage)
{
	tracef(m, "%s: crash%s", c->cfg->name, c->has_store ? "" : " (its memory-only state is lost)");
	chart_mark(m, "client", c, "crash", "crash%s",
	           c->has_store ? "" : " (its memory-only state is lost)");
	m->last_trouble = m->now;
	if (c->link) {
		/* As when a process dies: the kernel still sends what it had been
		 * given, then ends the connection (FIN); nobody reads any more. */
		let_go(m, c, "its process died");
	}
	mqtt_session_free(c->s);
	c->s = NULL;
	/* Requests that died with the process are asked for again after the
	 * restart, as its application does on starting. */
	for (int i = 0; i < m->sc->nsteps; i++)
		if (m->sc->steps[i].client == c->index && m->sc->steps[i].late &&
		    m->pub[i].next != UINT32_MAX)
			m->pub[i].requested = false;
	if (!c->subscribed)
		c->sub_pending = 0;
	memset(c->sub_ids, 0, sizeof c->sub_ids); /* requests died with it: identifiers never 0 */
	if (c->disk) {
		/* The machine goes down with the process: what the store did not
		 * sync is gone (the store's own code ran on this disk). */
		if (simdisk_crash(c->disk) != 0)
			m->broken = true;
		else if (damage)
			damage_disk(m, c, damage);
		tracef(m, "%s: its disk keeps %u records", c->cfg->name, simdisk_durable_files(c->disk));
	}
	c->reading = false; /* its last message was never acknowledged: the broker resends it */
	if (!c->has_store) {
		/* What was in flight is gone by design: no longer owed. */
		oracle_excuse_unfinished(m->o, c->index);
		/* Nor does it remember the QoS 2 messages it was receiving: the
		 * broker's resends of them come as new, once each (found by
		 * mqttsim explore). */
		for (uint32_t k = wire_peer_in_flight(c->wire); k; k--)
			oracle_allow_repeat(m->o, c->index);
		c->crashed_volatile = true;
		c->orphan_volatile = c->orphan != NULL;
		forget_ids_keep_held(m, c);
		wire_lost(c->wire); /* a new session: a new identifier space */
		wire_peer_lost(c->bwire); /* what it started, nobody will finish */
	}
	c->restart_at = restart_ms ? m->now + restart_ms : UINT64_MAX;
}

static void on_message(struct sim *m, struct sclient *c, const struct mqtt_message *msg)
{
	oracle_delivered(m->o, c->index, msg->topic.data, msg->topic.len, msg->payload.data,
	                 msg->payload.len, msg->qos, msg->dup, msg->retain, m->now);
}

/* A late subscribe or unsubscribe of c, acknowledged: it stands, or ended.
 * Returns its step, or -1 when it was none of them. */
static int late_request_done(struct sim *m, struct sclient *c, uint16_t id, bool subscribed)
{
	for (int i = 0; i < m->sc->nsteps; i++) {
		const struct scn_step *st = &m->sc->steps[i];
		struct pubstate *ps = &m->pub[i];
		if (st->client != c->index || !st->late || !ps->requested || ps->req != id ||
		    ps->next == UINT32_MAX || (st->kind == SCN_SUBSCRIBE) != subscribed)
			continue;
		ps->next = UINT32_MAX;
		if (subscribed)
			oracle_subscribed(m->o, c->index, st->topic, st->qos, true, ps->sent_at, m->now);
		else
			oracle_unsubscribed(m->o, c->index, st->topic, m->now);
		tracef(m, "%s: %s %s", c->cfg->name, subscribed ? "subscribed to" : "unsubscribed from",
		       st->topic);
		return i;
	}
	return -1;
}

/*
 * A subscribe or unsubscribe request failed (its connection ended before
 * the answer): the application asks again once online, as one does.
 */
static void request_failed(struct sim *m, struct sclient *c, uint32_t id)
{
	for (int i = 0; i < m->sc->nsteps; i++) {
		const struct scn_step *st = &m->sc->steps[i];
		struct pubstate *ps = &m->pub[i];
		if (st->client != c->index || (st->kind != SCN_SUBSCRIBE && st->kind != SCN_UNSUBSCRIBE))
			continue;
		if (st->late && ps->requested && ps->req == id && ps->next != UINT32_MAX) {
			ps->requested = false;
			tracef(m, "%s: %s %s failed: asks again", c->cfg->name,
			       st->kind == SCN_SUBSCRIBE ? "subscribe to" : "unsubscribe from", st->topic);
			return;
		}
		if (!st->late && st->kind == SCN_SUBSCRIBE && c->sub_ids[i] == id && c->sub_pending > 0 &&
		    !c->subscribed) {
			/* Every one pending failed with the connection: all again. */
			c->sub_pending = 0;
			tracef(m, "%s: subscribe to %s failed: subscribes again", c->cfg->name, st->topic);
			return;
		}
	}
}

/* A SUBACK: the QoS each subscription of c stands at (or its refusal).
 * late: the late step it answered (late_request_done), or -1. */
static void granted(struct sim *m, struct sclient *c, uint16_t id, uint8_t code, int late)
{
	for (int i = 0; i < m->sc->nsteps; i++) {
		const struct scn_step *st = &m->sc->steps[i];
		if (st->kind != SCN_SUBSCRIBE || st->client != c->index)
			continue;
		/* A late step's identifier may be an earlier, answered one's of
		 * an old session: only the step just answered (found by mqttsim
		 * explore, as for sub_ids below). */
		if (st->late ? i == late : c->sub_ids[i] == id) {
			/* It stands, and what it matches is owed, from its SUBACK on
			 * (a will of a connection lost before it is not); a SUBACK of
			 * one that stands already changes nothing. */
			if (!st->late)
				oracle_subscribed(m->o, c->index, st->topic, st->qos, false, m->now, m->now);
			oracle_granted(m->o, c->index, st->topic, code, m->now);
			/* Answered: a later request of a new session may get the same
			 * identifier, and its SUBACK is not this one's (found by
			 * mqttsim explore: a late subscription's grant lowered an
			 * earlier one's QoS). */
			if (!st->late)
				c->sub_ids[i] = 0;
			return;
		}
	}
}

/* Faults applied on c's link; a crash mark crashes the client right here. Returns whether it did. */
static bool check_crash(struct sim *m, struct sclient *c)
{
	struct mqtt_fault_report rep;
	uint64_t restart = 0;
	enum scn_damage damage = SCN_DAMAGE_NONE;
	bool crash_now = false;
	while (c->link && mqtt_fault_link_report(c->link, &rep)) {
		if (rep.line >= CRASH_LINE_BASE) {
			crash_now = true;
			restart = m->sc->steps[rep.line - CRASH_LINE_BASE].restart_ms;
			damage = m->sc->steps[rep.line - CRASH_LINE_BASE].damage;
		} else if (rep.line) { /* line 0: the network's own latency, not news */
			m->last_trouble = m->now;
			/* Told before the receiving end reads the bytes (found by
			 * mqttsim explore: a corrupted CONNACK read as a PUBREC). */
			if (rep.action == MQTT_FAULT_CORRUPT)
				wire_corrupted(rep.dir == MQTT_B2C ? c->wire : c->bwire, false, rep.read_offset);
			if (m->trace || m->chart) {
				char line[200];
				mqtt_fault_report_format(&rep, line, sizeof line);
				tracef(m, "%s: fault %s", c->cfg->name, line);
				chart_mark(m, "link", c, "fault", "%s", line);
			}
		}
	}
	if (!c->s)
		return false; /* already dead: its connection only drains */
	if (crash_now)
		crash(m, c, restart, damage);
	return crash_now;
}

/* What the client's session has to send, into its link. Returns whether anything moved. */
static bool send_output(struct sim *m, struct sclient *c)
{
	bool moved = false;
	struct iovec first = {0}; /* set by the call; gcc -O2 -flto could not tell */
	/* A piece at a time, as it lies: flattening all that waits at every
	 * write (mqtt_session_output) cost a stalled link's run quadratic
	 * copying, most of an exploration's time. */
	while (mqtt_session_output_iov(c->s, &first, 1, NULL) > 0) {
		const uint8_t *d = first.iov_base;
		size_t n = first.iov_len, done = 0;
		bool tried = false;
		/* The piece in as many writes as the link takes (a partial-write
		 * fault makes them a byte or a few each), judged and reported
		 * once: each write of a generated run went through the judge's
		 * framer and the session on its own, a fifth of the run. */
		while (done < n) {
			size_t room = mqtt_fault_link_room(c->link, MQTT_C2B, m->now, n - done);
			/* A socket's send buffer: a stalled link stalls the writer. */
			size_t queued = mqtt_fault_link_queued(c->link, MQTT_C2B);
			if (queued >= MQTT_FAULT_SEND_BUFFER)
				room = 0;
			else if (room > MQTT_FAULT_SEND_BUFFER - queued)
				room = MQTT_FAULT_SEND_BUFFER - queued;
			if (!room)
				break;
			done += mqtt_fault_link_write(c->link, MQTT_C2B, m->now, d + done, room);
			tried = true;
		}
		/* A write the link took none of (it was closed under it) counts
		 * as a move, as it always did: the spin goes round once more. */
		moved = moved || tried;
		if (!done)
			break;
		/* The client's conduct is judged by what it wrote, lost on the way or not. */
		wire_bytes(c->wire, false, true, d, done, c->cfg->name, &m->wire);
		mqtt_session_wrote(c->s, m->now, done);
		moved = true;
		if (done < n)
			break;
	}
	return moved;
}

/* Moves what can move for client c at now; returns whether anything did. */
/* Copies msg's topic and payload into the simulator's own buffer (not a
 * claimed big message: that one is the client's already). 0, or -1. */
static int keep_message(struct sim *m, struct mqtt_message *msg)
{
	size_t need = msg->topic.len + msg->payload.len;
	if (need > m->kept_cap) {
		uint8_t *grown = realloc(m->kept, need);
		if (!grown) {
			m->broken = true;
			return -1;
		}
		m->kept = grown;
		m->kept_cap = need;
	}
	memcpy(m->kept, msg->topic.data, msg->topic.len);
	msg->topic.data = m->kept;
	if (msg->payload.len && msg->payload.data) {
		memcpy(m->kept + msg->topic.len, msg->payload.data, msg->payload.len);
		msg->payload.data = m->kept + msg->topic.len;
	}
	return 0;
}

static bool step(struct sim *m, struct sclient *c)
{
	bool moved = false;
	if (c->orphan && drain_orphan(m, c))
		moved = true;
	if (!c->s) {
		/* Down, until its restart: what its orphan moved is progress all
		 * the same. Its end at the broker may send others a will, or the
		 * messages it brought: their clients step again in this instant,
		 * not at some later event (found by speeding up the simulator:
		 * explore seed 300's will waited 133 ms for an unrelated timer). */
		if (m->now < c->restart_at)
			return moved;
		tracef(m, "%s: restart%s", c->cfg->name, c->has_store ? " (adopting its store)" : "");
		chart_mark(m, "client", c, "restart", "restart%s",
		           c->has_store ? " (adopting its store)" : "");
		m->last_trouble = m->now;
		c->restart_at = UINT64_MAX;
		/* A new process was never told to disconnect: its connections
		 * end as any client's (a crash of it sends the will), whatever
		 * the process before it was told (found by a hand-written
		 * scenario: the restarted process's crash was blamed on a
		 * DISCONNECT it never wrote). */
		c->disconnected = false;
		c->closed_noted = false;
		if (session_start(m, c, true) != 0)
			return false;
		c->adopted = c->has_store;
		moved = true;
	}
	if (!c->link) {
		if (mqtt_session_state(c->s) == MQTT_STATE_CLOSED || !mqtt_session_should_dial(c->s, m->now))
			return moved;
		oracle_dialled(m->o, c->index, m->now);
		if (mqtt_fault_link_new(&c->link, c->run, m->now) != 0)
			return moved;
		c->bc = peer_open(m, c, mqtt_fault_link_number(c->link));
		c->bjudged = 0;
		c->b2c_fin = false;
		mqtt_session_connected(c->s, m->now);
		c->connects++;
		c->pcap_conn = ++m->pcap_conns;
		wire_connection(c->wire, c->adopted);
		wire_connection(c->bwire, false);
		tracef(m, "%s: connection %u", c->cfg->name, mqtt_fault_link_number(c->link));
		if (m->chart)
			chart_note_connection(m->chart, m->now, c->index, mqtt_fault_link_number(c->link));
		oracle_connect_attempt(m->o, c->index, c->first_connect);
		moved = true;
	}
	struct mqtt_fault_link *l = c->link;
	const uint8_t *d;
	size_t n;
	/* What is due now (a keep-alive PINGREQ, a timeout) goes now, not at
	 * the next wake-up, which may come after the broker gave up on it. */
	mqtt_session_tick(c->s, m->now);
	if (send_output(m, c))
		moved = true;
	uint32_t conn = mqtt_fault_link_number(l);
	while ((n = peer_output(m, c, c->bc, conn, &d)) > 0) {
		/* In as many writes as the link takes, judged once (send_output). */
		size_t done = 0, room;
		bool tried = false;
		while (done < n && (room = mqtt_fault_link_room(l, MQTT_B2C, m->now, n - done)) > 0) {
			done += mqtt_fault_link_write(l, MQTT_B2C, m->now, d + done, room);
			tried = true;
		}
		moved = moved || tried;
		if (!done)
			break;
		broker_sent(m, c, false, d, done, &c->bjudged);
		peer_wrote(m, c, c->bc, done);
		if (done < n)
			break;
	}
	if (check_crash(m, c))
		return true;
	while ((n = mqtt_fault_link_peek(l, MQTT_C2B, m->now, &d)) > 0) {
		size_t used = peer_receive(m, c, c->bc, conn, d, n);
		broker_took(m, c, false, d, used);
		if (m->pcap && used)
			mqtt_pcap_write(m->pcap, c->pcap_conn, MQTT_PCAP_TO_BROKER, m->now * 1000, d, used);
		mqtt_fault_link_consume(l, MQTT_C2B, used);
		if (used)
			moved = true; /* a broker that reads nothing more (closing) holds the rest */
		if (used < n)
			break;
	}
	if (c->reading && m->now >= c->read_at) {
		/* The slow application asks for the next message: that acknowledges the last. */
		c->reading = false;
		size_t none;
		struct mqtt_message msg;
		mqtt_session_receive(c->s, m->now, NULL, 0, &none, &msg);
		send_output(m, c); /* the acknowledgement leaves before the next read goes on */
		if (check_crash(m, c))
			return true;
		moved = true;
	}
	while (!c->reading && (n = mqtt_fault_link_peek(l, MQTT_B2C, m->now, &d)) > 0) {
		size_t used = 0, queued_before = 0, queued_after = 0;
		struct mqtt_message msg = {0};
		struct iovec piece;
		mqtt_session_output_iov(c->s, &piece, 1, &queued_before);
		struct mqtt_error e = mqtt_session_receive(c->s, m->now, d, n, &used, &msg);
		mqtt_session_output_iov(c->s, &piece, 1, &queued_after);
		moved = true;
		/* Short of a QoS 2 PUBLISH, for what it queued ahead of it. */
		bool stopped = !e.cls && !msg.topic.data && used < n;
		bool big = e.cls == MQTT_BIG_MESSAGE && msg.topic.data;
		if (big) {
			/* Above the read buffer: the application claims it whole into a
			 * buffer of its own (as mqtt_client_read_all() does); it comes
			 * back from a later receive as a message. */
			free(c->big);
			c->big = malloc(e.code > 0 ? (size_t)e.code : 1);
			if (!c->big || !mqtt_session_claim(c->s, c->big))
				m->broken = true;
			msg.topic.data = NULL;
			e.cls = MQTT_SUCCESS;
		}
		/* Received before anything the client sends in answer. */
		wire_bytes(c->wire, false, false, d, used, c->cfg->name, &m->wire);
		if (msg.topic.data) {
			/* The message borrows the link's bytes, which a fault acting on
			 * the write below may free (a reset drops what is in flight):
			 * it is kept aside first (found by mqttsim explore under ASan). */
			if (keep_message(m, &msg) != 0)
				return false;
			/* Whatever the read queued leaves before the read returns (a client
			 * that acknowledged here would be caught by a crash at that ack).
			 * Only when it queued something: output that waited before is
			 * the driver's to write, not the read's, and a crash at its write
			 * inside the read was a loss the client could not help (the
			 * QoS 2 identifier saved, the message not yet handed over;
			 * found by mqttsim explore, seed 5689). */
			if (queued_after > queued_before) {
				send_output(m, c);
				if (check_crash(m, c))
					return true; /* the message died with the process, unread */
			}
			/* The read returned it: delivered (it borrows the link's bytes). */
			on_message(m, c, &msg);
			if (c->cfg->read_delay_ms) {
				/* The application takes its time before it asks for the next one. */
				c->reading = true;
				c->read_at = m->now + c->cfg->read_delay_ms;
			} else {
				size_t none;
				mqtt_session_receive(c->s, m->now, NULL, 0, &none, &msg); /* the next read */
				send_output(m, c); /* its acknowledgement leaves before it goes on */
				if (check_crash(m, c))
					return true;
			}
		}
		/* As the client received them (before consume frees the bytes). */
		if (m->pcap && used)
			mqtt_pcap_write(m->pcap, c->pcap_conn, MQTT_PCAP_TO_CLIENT, m->now * 1000, d, used);
		mqtt_fault_link_consume(l, MQTT_B2C, used);
		if (e.cls && !msg.topic.data)
			break;
		if (stopped) {
			/* What the read queued ahead of that PUBLISH leaves first (as
			 * the client's driver does), or the reading waits for the link
			 * to take it. */
			if (!send_output(m, c))
				break;
			if (check_crash(m, c))
				return true;
		}
	}
	struct mqtt_event ev;
	while (mqtt_session_next_event(c->s, &ev)) {
		c->events++;
		int late = -1;
		if (ev.type == MQTT_EVENT_SUBSCRIBED || ev.type == MQTT_EVENT_UNSUBSCRIBED)
			late = late_request_done(m, c, ev.id, ev.type == MQTT_EVENT_SUBSCRIBED);
		if (ev.type == MQTT_EVENT_FAILED && ev.id)
			request_failed(m, c, ev.id);
		if (ev.type == MQTT_EVENT_SUBSCRIBED && ev.ncodes_all)
			granted(m, c, (uint16_t)ev.id, ev.codes_all[0], late);
		if (ev.type == MQTT_EVENT_SUBSCRIBED && c->sub_pending > 0 && --c->sub_pending == 0)
			c->subscribed = true;
		if (ev.type == MQTT_EVENT_PUBLISHED && ev.id < 65536 && id_msg(&c->ids, (uint16_t)ev.id)) {
			/* Its identifier's last message (none is reused in flight). */
			oracle_completed(m->o, id_msg(&c->ids, (uint16_t)ev.id) - 1, m->now);
		}
		if (ev.type == MQTT_EVENT_ONLINE) {
			c->online_here = true;
			oracle_connected(m->o, c->index, c->first_connect, ev.session_present, m->now);
			c->first_connect = false;
		}
		if (ev.type == MQTT_EVENT_ONLINE && !ev.session_present && c->subscribed) {
			/* The broker forgot us: subscribe again, as an application does. */
			for (int i = 0; i < m->sc->nsteps; i++) {
				const struct scn_step *st = &m->sc->steps[i];
				if (st->kind == SCN_SUBSCRIBE && !st->late && st->client == c->index) {
					struct mqtt_topic f = {mqtt_slice_str(st->topic), st->qos};
					if (mqtt_session_subscribe(c->s, m->now, &f, 1, &c->sub_ids[i]).cls)
						continue;
					/* A new subscription, not the old one: retained messages
					 * come with it, RETAIN set [MQTT-3.3.1-6]. It stands from
					 * its SUBACK (granted()): what is published before may
					 * come as retained (found by mqttsim explore). */
					oracle_unsubscribed(m->o, c->index, st->topic, m->now);
					oracle_subscribed(m->o, c->index, st->topic, st->qos, true, m->now, UINT64_MAX);
					oracle_subscribe_request(m->o, c->index, st->topic);
				}
			}
			oracle_session_lost(m->o, c->index);
		}
	}
	if (mqtt_fault_link_state(l, MQTT_B2C, m->now) != MQTT_LINK_OPEN)
		drop_connection(m, c, "closed toward the client");
	else if (mqtt_fault_link_state(l, MQTT_C2B, m->now) != MQTT_LINK_OPEN)
		drop_connection(m, c, "closed toward the broker");
	else if (mqtt_session_should_close(c->s))
		let_go(m, c, mqtt_session_state(c->s) == MQTT_STATE_CLOSED || c->disconnected ? "it is done"
		                                                            : "it gave up on it");
	else if (!c->b2c_fin && peer_wants_close(m, c, c->bc, conn)) {
		/* The broker's side closes: its last bytes still reach the client,
		 * then the FIN, which ends the connection as it arrives. */
		tracef(m, "%s: connection %u: the broker closes it: %s", c->cfg->name, conn,
		       c->script ? "the script says so" : mqtt_bconn_close_reason(c->bc));
		chart_mark(m, "broker", c, "close", "closes connection %u of %s: %s", conn, c->cfg->name,
		           c->script ? "the script says so" : mqtt_bconn_close_reason(c->bc));
		mqtt_fault_link_shutdown(l, MQTT_B2C, m->now, false);
		c->b2c_fin = true;
		c->broker_closed_at = m->now;
	} else
		return moved;
	return true;
}

/* The payload of step's message seq into m->payload (its identity, then
 * 'x' up to the step's size; a clear has none). 0, or -1 out of memory. */
static int make_payload(struct sim *m, int step, uint32_t seq)
{
	const struct scn_step *st = &m->sc->steps[step];
	if (m->payload && m->payload_step == step && m->payload_seq == seq)
		return 0;
	char identity[64];
	int len = st->clear ? 0 : scn_identity(identity, st->client, step, seq);
	size_t size = st->size > (size_t)len ? st->size : (size_t)len;
	if (size + 1 > m->payload_cap) {
		uint8_t *grown = realloc(m->payload, size + 1);
		if (!grown)
			return -1;
		m->payload = grown;
		m->payload_cap = size + 1;
	}
	memcpy(m->payload, identity, (size_t)len);
	memset(m->payload + len, 'x', size - (size_t)len);
	m->payload_len = size;
	m->payload_step = step;
	m->payload_seq = seq;
	return 0;
}

/* The application: subscriptions first, then the workload. */
static bool schedule(struct sim *m)
{
	bool moved = false;
	const struct scenario *sc = m->sc;
	if (!m->started) {
		bool all = true;
		for (int i = 0; i < sc->nsteps; i++) {
			const struct scn_step *st = &sc->steps[i];
			if (st->kind != SCN_SUBSCRIBE || st->late)
				continue;
			struct sclient *c = &m->c[st->client];
			if (c->subscribed)
				continue;
			all = false;
			if (c->s && mqtt_session_state(c->s) == MQTT_STATE_ONLINE && !c->sub_pending) {
				for (int j = 0; j < sc->nsteps; j++) {
					const struct scn_step *s2 = &sc->steps[j];
					if (s2->kind != SCN_SUBSCRIBE || s2->late || s2->client != st->client)
						continue;
					struct mqtt_topic f = {mqtt_slice_str(s2->topic), s2->qos};
					if (mqtt_session_subscribe(c->s, m->now, &f, 1, &c->sub_ids[j]).cls ==
					    MQTT_SUCCESS) {
						c->sub_pending++;
						/* Allowed from now, owed from its SUBACK; asked again
						 * after its clean session ended, a new one. */
						oracle_subscribed(m->o, s2->client, s2->topic, s2->qos, false, m->now,
						                  UINT64_MAX);
						oracle_subscribe_request(m->o, s2->client, s2->topic);
					}
				}
				moved = true;
			}
		}
		if (!all)
			return moved;
		m->started = true;
		m->start = m->now;
		tracef(m, "workload starts");
		chart_mark(m, "all", NULL, "note", "workload starts");
		for (int i = 0; i < sc->nsteps; i++) {
			const struct scn_step *st = &sc->steps[i];
			m->pub[i].next_at = m->start + st->at_ms;
			bool before = (st->kind == SCN_SUBSCRIBE || st->kind == SCN_UNSUBSCRIBE) && !st->late;
			if (!before && !(st->kind == SCN_CRASH && st->after.type) &&
			    st->kind != SCN_BROKER_DOWN)
				m->acting[m->nacting++] = i;
		}
	}
	for (int k = 0; k < m->nacting; k++) {
		int i = m->acting[k];
		const struct scn_step *st = &sc->steps[i];
		struct pubstate *ps = &m->pub[i];
		struct sclient *c = &m->c[st->client];
		if (m->now < ps->next_at || ps->next == UINT32_MAX)
			continue;
		if (c->s && mqtt_session_state(c->s) == MQTT_STATE_CLOSED &&
		    (st->kind == SCN_PUBLISH || st->late)) {
			/* Closed for good (DISCONNECT): it publishes and asks nothing
			 * more; what the line had left is never published, so not owed
			 * (a closed session refuses it), and the workload does not
			 * wait for it. */
			if (st->kind == SCN_PUBLISH)
				tracef(m, "line %u: %s is closed: %u of %u not published", st->line,
				       c->cfg->name, st->count - ps->next, st->count);
			ps->next = UINT32_MAX;
			moved = true;
			continue;
		}
		if (st->kind == SCN_CRASH && !st->after.type) {
			ps->next = UINT32_MAX;
			if (c->s)
				crash(m, c, st->restart_ms, st->damage);
			moved = true;
			continue;
		}
		if (st->kind == SCN_DISK) {
			/* Full from at= for for= (or for good); the sender sees ENOSPC. */
			bool full = ps->next == 0;
			if (c->disk)
				simdisk_set_full(c->disk, full);
			tracef(m, "%s: disk %s", c->cfg->name, full ? "full" : "has room again");
			chart_mark(m, "client", c, "disk", "disk %s", full ? "full" : "has room again");
			m->last_trouble = m->now;
			ps->next = full && st->for_ms ? 1 : UINT32_MAX;
			ps->next_at += st->for_ms;
			moved = true;
			continue;
		}
		if ((st->kind == SCN_SUBSCRIBE || st->kind == SCN_UNSUBSCRIBE) && st->late) {
			/* Made during the workload, once online; done at its SUBACK/UNSUBACK. */
			if (ps->requested || !c->s || mqtt_session_state(c->s) != MQTT_STATE_ONLINE)
				continue;
			struct mqtt_topic f = {mqtt_slice_str(st->topic), st->qos};
			struct mqtt_error e = st->kind == SCN_SUBSCRIBE
			        ? mqtt_session_subscribe(c->s, m->now, &f, 1, &ps->req)
			        : mqtt_session_unsubscribe(c->s, m->now, &f, 1, &ps->req);
			if (e.cls == MQTT_SUCCESS) {
				ps->requested = true;
				ps->sent_at = m->now;
				if (st->kind == SCN_SUBSCRIBE) {
					oracle_subscribe_sent(m->o, st->client, st->topic, st->qos, m->now);
					oracle_subscribe_request(m->o, st->client, st->topic);
				} else
					oracle_unsubscribe_sent(m->o, st->client, st->topic, m->now);
				moved = true;
			}
			continue;
		}
		if (st->kind == SCN_DISCONNECT) {
			ps->next = UINT32_MAX;
			c->disconnected = true; /* its connection ends cleanly: no will */
			if (c->s)
				mqtt_session_disconnect(c->s, m->now);
			note_closed(m, c); /* at once when it was not connected */
			moved = true;
			continue;
		}
		if (st->kind != SCN_PUBLISH)
			continue;
		while (ps->next < st->count && m->now >= ps->next_at && c->s &&
		       mqtt_session_state(c->s) != MQTT_STATE_CLOSED) {
			/* Tried at every step of every instant while a window stays
			 * full, each refused call validated the message again for
			 * nothing (about 2% of a run's instructions). */
			if (ps->full && ps->full_events == c->events && ps->full_incarnation == c->incarnation)
				break;
			if (make_payload(m, i, ps->next) != 0)
				break;
			uint16_t id = 0;
			struct mqtt_error e = mqtt_session_publish(c->s, m->now, st->qos, st->retain,
			                                           mqtt_slice_str(st->topic),
			                                           (struct mqtt_slice){m->payload,
			                                                               m->payload_len}, &id);
			ps->full = e.cls == MQTT_MAX;
			ps->full_events = c->events;
			ps->full_incarnation = c->incarnation;
			if (e.cls == MQTT_MAX || e.cls == MQTT_DOWN)
				break; /* the window is full, or offline at QoS 0: try again later */
			if (e.cls)
				tracef(m, "%s: publish %s #%u refused: class %d code %d", c->cfg->name,
				       st->topic, ps->next, e.cls, e.code);
			uint32_t index = oracle_published(m->o, st->client, i, ps->next, st->topic, st->qos,
			                                  e.cls == MQTT_SUCCESS, m->now);
			struct id_page *page;
			if (e.cls == MQTT_SUCCESS && st->qos && (page = id_page(&c->ids, id, true))) {
				page->msg[id % ID_PAGE] = index + 1;
				if (page->lost[id % ID_PAGE]) {
					/* Its vanished record's identifier again: the broker
					 * may take this message for that one. */
					page->lost[id % ID_PAGE] = 0;
					oracle_damaged(m->o, index, false);
				}
			} else if (e.cls == MQTT_SUCCESS && st->qos) {
				m->broken = true; /* out of memory: no judgement without it */
			}
			ps->next++;
			ps->next_at = st->every_ms ? ps->next_at + st->every_ms : ps->next_at;
			m->last_trouble = m->now;
			moved = true;
		}
		if (ps->next == st->count)
			ps->next = UINT32_MAX;
	}
	if (moved) {
		/* A step done (next UINT32_MAX) is done for good: out of the list. */
		int kept = 0;
		for (int k = 0; k < m->nacting; k++)
			if (m->pub[m->acting[k]].next != UINT32_MAX)
				m->acting[kept++] = m->acting[k];
		m->nacting = kept;
	}
	return moved;
}

static bool workload_done(struct sim *m)
{
	if (!m->started)
		return false;
	for (int i = 0; i < m->sc->nsteps; i++) {
		const struct scn_step *st = &m->sc->steps[i];
		/* A crash at a packet happens when the packet passes, or never. */
		bool waits = (st->kind != SCN_SUBSCRIBE || st->late) &&
		             !(st->kind == SCN_CRASH && st->after.type);
		if (waits && m->pub[i].next != UINT32_MAX)
			return false;
	}
	for (int i = 0; i < m->sc->nclients; i++) {
		struct sclient *c = &m->c[i];
		if (c->script && pscript_failure(c->script))
			return true; /* the client left the script: nothing more to see */
		if (c->restart_at != UINT64_MAX || c->reading || (c->script && !pscript_done(c->script)))
			return false;
		/* A closed session's exchanges never finish (note_closed). */
		if (c->s && mqtt_session_inflight(c->s) && mqtt_session_state(c->s) != MQTT_STATE_CLOSED)
			return false;
		/* Nothing on the way either, QoS 0 included. */
		const uint8_t *d;
		if (c->orphan)
			return false; /* its last bytes are still on the way */
		if (c->link && (mqtt_fault_link_queued(c->link, MQTT_C2B) ||
		                mqtt_fault_link_queued(c->link, MQTT_B2C) ||
		                mqtt_session_output(c->s, &d) ||
		                peer_output(m, c, c->bc, mqtt_fault_link_number(c->link), &d)))
			return false;
	}
	return oracle_all_delivered(m->o);
}

/*
 * How many exchanges either side started are unfinished, over the
 * clients that are online (one down, closed or away cannot finish
 * anything, by design): in each client's session, and at both ends of
 * its connection as seen on the wire. why gets the first, explained.
 */
static uint32_t unfinished(struct sim *m, char *why, size_t cap)
{
	uint32_t n = 0;
	for (int i = 0; i < m->sc->nclients; i++) {
		struct sclient *c = &m->c[i];
		/* One between connections or connecting counts too: it goes on, and what
		 * it and the broker owe each other goes on then (found by mqttsim
		 * explore, seed 11110: the run ended while the client waited to
		 * dial, with a retained message the broker was still sending). */
		if (!c->s || mqtt_session_state(c->s) == MQTT_STATE_CLOSED)
			continue;
		size_t in_session = mqtt_session_inflight(c->s);
		if (in_session && !n)
			snprintf(why, cap, "%s's session has %zu exchange%s in flight", c->cfg->name,
			         in_session, in_session == 1 ? "" : "s");
		n += (uint32_t)in_session;
		n += wire_unfinished(c->bwire, c->cfg->name, n ? NULL : why, n ? 0 : cap);
		n += wire_unfinished(c->wire, c->cfg->name, n ? NULL : why, n ? 0 : cap);
	}
	return n;
}

static uint64_t next_time(struct sim *m)
{
	uint64_t next = mqtt_broker_tick(m->b, m->now);
	for (int i = 0; i < m->sc->nclients; i++) {
		struct sclient *c = &m->c[i];
		if (c->script) {
			uint64_t u = pscript_tick(c->script, m->now);
			if (u < next)
				next = u;
		}
		uint64_t t = c->restart_at;
		if (c->reading && c->read_at < t)
			t = c->read_at;
		if (c->orphan) {
			uint64_t u = mqtt_fault_link_next(c->orphan, m->now);
			if (u < t)
				t = u;
		}
		if (c->s) {
			uint64_t u = mqtt_session_tick(c->s, m->now);
			if (u < t)
				t = u;
			/* A closed session never dials: its backoff's end, long past,
			 * once woke every millisecond until the run ended (two thirds
			 * of a generated run's instants, each stepping every client). */
			if (c->link)
				u = mqtt_fault_link_next(c->link, m->now);
			else
				u = mqtt_session_state(c->s) == MQTT_STATE_CLOSED ? UINT64_MAX
				                                                  : mqtt_session_dial_at(c->s);
			if (u < t)
				t = u;
		}
		if (t < next)
			next = t;
	}
	/* A step due already waits for something else (a window, a
	 * connection), which another event brings: only future ones wake. */
	for (int i = 0; m->started && i < m->sc->nsteps; i++)
		if (m->pub[i].next != UINT32_MAX && m->pub[i].next_at > m->now && m->pub[i].next_at < next)
			next = m->pub[i].next_at;
	/* The run's own deadlines, when something is still to come (else it
	 * ends here, idle for ever): the quiet bound once the workload is
	 * done, and the scenario's limit. Instants where nothing happens are
	 * skipped, so the run ends at these, not at the next event past them. */
	if (next != UINT64_MAX && m->done) {
		uint64_t quiet = m->last_trouble + m->sc->quiet_within_ms;
		if (quiet > m->now && quiet < next)
			next = quiet;
	}
	if (next != UINT64_MAX && next > m->sc->limit_ms + 1 && m->now <= m->sc->limit_ms)
		next = m->sc->limit_ms + 1;
	return next > m->now ? next : m->now + 1;
}

static int build_client(struct sim *m, int i, uint64_t seed)
{
	struct sclient *c = &m->c[i];
	const struct scenario *sc = m->sc;
	c->cfg = &sc->clients[i];
	c->sim = m;
	c->index = i;
	c->restart_at = UINT64_MAX;
	c->prng = scn_client_prng(seed, i);
	c->wire = wire_take(WIRE_CLIENT);
	c->bwire = wire_take(WIRE_BROKER);
	if (!c->wire || !c->bwire)
		return -1;
	wire_pair(c->bwire, c->wire);
	if (m->chart) {
		wire_watch(c->wire, chart_client_end, c);
		wire_watch(c->bwire, chart_broker_end, c);
	}
	if (scn_client_plan(sc, i, &c->plan) != 0)
		return -1;
	if (mqtt_fault_run_new(&c->run, &c->plan, scn_fault_seed(seed, i)) != 0)
		return -1;
	if (sc->scripted[i] && !(c->script = pscript_new(sc->pkts, sc->npkts, i)))
		return -1;
	if (c->cfg->store == SCN_STORE_FS) {
		if (!(c->disk = simdisk_new()) || simdisk_store(c->disk, &c->store) != 0)
			return -1;
		c->has_store = true;
	}
	return session_start(m, c, false);
}

int scenario_simulate(const struct scenario *sc, uint64_t seed, struct scn_result *r, FILE *trace,
                      const char *pcap)
{
	return scenario_simulate_charted(sc, seed, r, trace, pcap, NULL);
}

int scenario_simulate_charted(const struct scenario *sc, uint64_t seed, struct scn_result *r,
                              FILE *trace, const char *pcap, FILE *chart)
{
	memset(r, 0, sizeof *r);
	r->failed_expect = -1;
	struct sim *m = calloc(1, sizeof *m);
	if (!m)
		return -1;
	m->sc = sc;
	m->trace = trace;
	m->chart = chart;
	chart_note_run(chart, sc, seed);
	m->now = 0;
	struct mqtt_broker_config bcfg = {.queue_max = sc->queue_max, .inflight_max = sc->inflight_max,
	                                  .record = trace != NULL};
	int rc = -1;
	char err[256];
	if (mqtt_broker_new(&m->b, &bcfg) != 0 || !(m->o = oracle_new(sc)))
		goto out;
	oracle_clock(m->o, &m->now);
	if (pcap && mqtt_pcap_open(&m->pcap, pcap, err, sizeof err) != 0) {
		fprintf(stderr, "mqttsim: %s\n", err);
		goto out;
	}
	for (int i = 0; i < sc->nrules; i++)
		if (mqtt_broker_rule(m->b, sc->broker_rules[i], err, sizeof err) < 0)
			goto out;
	for (int i = 0; i < sc->nclients; i++)
		if (build_client(m, i, seed) != 0)
			goto out;
	/* The workload done (live), the run goes on until every exchange is
	 * finished (quiescent), or its bound after the last trouble passed. */
	uint64_t done_at = 0, trouble_at_done = 0;
	while (m->now <= sc->limit_ms) {
		bool moved = true;
		uint64_t spins = 0;
		/* The broker's timers first: what it releases now (a delayed
		 * packet) goes out in this instant's steps, not never (found by
		 * mqttsim explore: a delayed SUBACK with no other event to come). */
		mqtt_broker_tick(m->b, m->now);
		while (moved) {
			if (++spins > 1000000) {
				/* Something claims progress for ever at one instant: a
				 * livelock of a core or of this simulator; said, not hung. */
				snprintf(r->why, sizeof r->why, "the simulation livelocked at t=%llums "
				         "(no progress in virtual time)", (unsigned long long)m->now);
				tracef(m, "%s", r->why);
				m->livelock = true;
				goto out;
			}
			moved = false;
			for (int i = 0; i < sc->nclients; i++)
				if (step(m, &m->c[i]))
					moved = true;
			if (schedule(m))
				moved = true;
			m->events++;
		}
		if (m->trace)
			trace_packets(m);
		if (!m->done && workload_done(m)) {
			m->done = true;
			done_at = m->now;
			trouble_at_done = m->last_trouble;
		}
		/* Done and quiet; and nothing owed since (a will of a connection
		 * lost after the workload completed goes to a session that gets
		 * it when its client is back: found by mqttsim explore, seed
		 * 505636). */
		if (m->done && ((!unfinished(m, NULL, 0) && oracle_all_delivered(m->o)) ||
		             m->now >= m->last_trouble + sc->quiet_within_ms))
			break;
		uint64_t next = next_time(m);
		if (next == UINT64_MAX) {
			/* No timer and no byte on its way: nothing will ever happen
			 * again. The run ends here, not at the end of time (which a
			 * quiescent verdict once quoted as 2^64 ms; explore seed 7165). */
			m->idle_for_ever = true;
			tracef(m, "nothing is left to happen: no timer is set and no byte is on its way");
			break;
		}
		m->now = next;
	}
	r->virtual_ms = m->now;
	r->events = m->events;
	for (int i = 0; i < sc->nclients; i++)
		if (m->c[i].s)
			tracef(m, "%s: end: %s, %zu in flight", m->c[i].cfg->name,
			       mqtt_session_state(m->c[i].s) == MQTT_STATE_ONLINE ? "online" : "not online",
			       mqtt_session_inflight(m->c[i].s));
	for (int i = 0; i < sc->nsteps; i++)
		if (sc->steps[i].kind == SCN_PUBLISH && m->pub[i].next != UINT32_MAX)
			tracef(m, "line %u: published %u of %u", sc->steps[i].line, m->pub[i].next,
			       sc->steps[i].count);
	for (int i = 0; i < sc->nclients; i++)
		r->reconnects[i] = m->c[i].connects ? (uint32_t)m->c[i].connects - 1 : 0;
	for (int i = 0; i < sc->nclients; i++) {
		struct sclient *c = &m->c[i];
		if (!c->link && c->s && mqtt_session_state(c->s) != MQTT_STATE_CLOSED)
			oracle_undialled(m->o, i, m->now); /* still waiting to dial */
	}
	for (int i = 0; i < sc->nclients; i++) {
		/* The broker closed its side (a protocol error, a rule) and the
		 * client had not seen the end when the run ended (its link held
		 * the FIN): an end without DISCONNECT, so the will may have gone
		 * [MQTT-3.1.2-8]; allowed, not owed, as the run may have ended
		 * before it could arrive (found by mqttsim explore, seed 1805022:
		 * a corrupted PINGREQ closed at the broker, the link to the client
		 * stalled). */
		struct sclient *c = &m->c[i];
		if (c->link && c->b2c_fin && !c->disconnected)
			oracle_connection_maybe_lost(m->o, i, m->now);
	}
	for (int i = 0; i < sc->nclients; i++) {
		char why[400];
		if (m->c[i].script && pscript_violated(m->c[i].script, why, sizeof why))
			oracle_wire_violation(m->o, SCN_SCRIPT, why);
	}
	if (m->wire.dup_violation)
		oracle_wire_violation(m->o, SCN_DUP_FLAG, m->wire.dup_why);
	if (m->wire.id_violation)
		oracle_wire_violation(m->o, SCN_PACKET_IDS, m->wire.id_why);
	if (m->bwire.dup_violation)
		oracle_wire_violation(m->o, SCN_BROKER_DUP_FLAG, m->bwire.dup_why);
	if (m->bwire.id_violation)
		oracle_wire_violation(m->o, SCN_BROKER_PACKET_IDS, m->bwire.id_why);
	if (m->done && done_at - trouble_at_done > sc->live_within_ms) {
		char why[200];
		snprintf(why, sizeof why, "the workload completed %llu ms after the last fault or publish, "
		         "beyond the bound of %llu ms", (unsigned long long)(done_at - trouble_at_done),
		         (unsigned long long)sc->live_within_ms);
		oracle_wire_violation(m->o, SCN_LIVE, why);
	}
	char quiet_why[400] = "";
	if (unfinished(m, quiet_why, sizeof quiet_why)) {
		char why[520];
		if (m->idle_for_ever)
			snprintf(why, sizeof why, "%s, and nothing was left to happen at t=%llums (no timer "
			         "set, no byte on its way)", quiet_why, (unsigned long long)m->now);
		else
			snprintf(why, sizeof why, "%s, %llu ms after the last fault or publish (bound %llu ms)",
			         quiet_why, (unsigned long long)(m->now - m->last_trouble),
			         (unsigned long long)sc->quiet_within_ms);
		oracle_wire_violation(m->o, SCN_QUIESCENT, why);
	}
	for (int i = 0; i < sc->nexpects; i++) {
		const struct scn_expect *e = &sc->expects[i];
		const struct sclient *c = &m->c[e->client];
		if (e->what != SCN_STATE)
			continue;
		enum scn_final now_in = !c->s ? SCN_FINAL_DOWN
		                        : mqtt_session_state(c->s) == MQTT_STATE_ONLINE ? SCN_FINAL_ONLINE
		                        : mqtt_session_state(c->s) == MQTT_STATE_CLOSED ? SCN_FINAL_CLOSED
		                                                                       : SCN_FINAL_OFFLINE;
		size_t inflight = c->s ? mqtt_session_inflight(c->s) : 0;
		if (now_in != e->state || (e->inflight >= 0 && (long)inflight != e->inflight))
			r->state_wrong[i] = true, r->state_inflight[i] = (long)inflight, r->state_was[i] = now_in;
	}
	oracle_judge(m->o, sc, m->done, r);
	rc = m->broken ? -1 : 0;
out:
	if (m->chart && (rc == 0 || m->livelock))
		chart_note_verdict(m->chart, sc, r);
	for (int i = 0; i < SCN_MAX_CLIENTS; i++) {
		struct sclient *c = &m->c[i];
		mqtt_fault_link_free(c->link);
		mqtt_fault_link_free(c->orphan);
		pscript_free(c->script);
		mqtt_fault_run_free(c->run);
		mqtt_fault_plan_free(&c->plan);
		mqtt_session_free(c->s);
		if (c->has_store)
			mqtt_store_close(&c->store);
		simdisk_free(c->disk);
		id_clear(&c->ids);
		free(c->big);
		wire_release(c->wire);
		wire_release(c->bwire);
	}
	if (m->pcap)
		mqtt_pcap_close(m->pcap);
	mqtt_broker_free(m->b);
	oracle_free(m->o);
	free(m->kept);
	free(m->payload);
	free(m);
	return rc;
}
