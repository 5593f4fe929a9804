/*
 * scenario.h - the scenario language: a scenario's parsed form, and the
 * parser that makes it from a .scn file (docs/scenarios.md). The
 * simulator (scenarios/sim/sim.h), the real-time runner
 * (scenarios/real/real.h) and the oracle (scenarios/oracle/oracle.h)
 * take this form.
 */
#ifndef SCENARIOS_SCENARIO_H
#define SCENARIOS_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttsim/fault_engine.h"
#include "script.h"

#define SCN_MAX_CLIENTS 8
#define SCN_MAX_STEPS 64
#define SCN_NAME_MAX 32
#define SCN_MAX_EXPECTS 32

enum scn_store { SCN_STORE_MEMORY, SCN_STORE_FS };

struct scn_client {
	char name[SCN_NAME_MAX];
	char id[64];
	bool clean;
	enum scn_store store;
	unsigned window;
	uint16_t keep_alive;
	uint32_t pause_ms, ack_timeout_ms;
	uint32_t read_delay_ms;      /* the application takes this long to read a message */
	uint32_t read_buffer;        /* the session's read buffer; 0: its default (256 KiB) */
	char will_topic[128];        /* "": no will; its message is "w:INDEX:" */
	char user[64], password[64]; /* its CONNECT's user name and password (has_*: given) */
	bool has_user, has_password;
	uint8_t will_qos;
	bool will_retain;
	struct mqtt_fault_plan plan; /* faults on this client's link */
	unsigned line;
};

/* What a crash does to a store=fs client's disk besides losing what
 * was not synced: one record, chosen by the seed, is damaged. */
enum scn_damage {
	SCN_DAMAGE_NONE,
	SCN_DAMAGE_TORN,    /* the record is cut at a byte */
	SCN_DAMAGE_FLIP,    /* a bit of the record flips */
	SCN_DAMAGE_VANISH,  /* the record's file is gone */
	SCN_DAMAGE_RENAME,  /* the last directory change to the record is lost */
};

enum scn_step_kind { SCN_SUBSCRIBE, SCN_PUBLISH, SCN_CRASH, SCN_DISCONNECT, SCN_DISK,
                     SCN_UNSUBSCRIBE,
                     SCN_BROKER_DOWN /* crash broker / restart broker: a broker by its command only */ };

struct scn_step {
	enum scn_step_kind kind;
	int client;
	char topic[128];     /* filter for subscribe */
	uint8_t qos;
	uint32_t count;      /* publish */
	uint32_t size;       /* payload bytes, at least the identity */
	bool retain;
	bool clear;          /* publish: a zero-length retained message (clear CLIENT TOPIC) */
	uint64_t at_ms;      /* from the start of the workload */
	uint64_t every_ms;   /* publish spacing; 0: as fast as the window allows */
	struct mqtt_trigger after; /* crash: after this packet (type 0: use at_ms) */
	unsigned after_dirs;
	uint64_t restart_ms; /* crash: restart this long after; 0: never (a broker: at once) */
	bool graceful;       /* broker down: a clean stop (SIGTERM), not a crash */
	enum scn_damage damage; /* crash: a record of the disk damaged */
	uint64_t for_ms;     /* disk full: this long; 0: for good */
	bool late;           /* subscribe with at=: during the workload */
	unsigned line;
};

enum scn_invariant {
	SCN_AT_MOST_ONCE = 1,
	SCN_AT_LEAST_ONCE,
	SCN_EXACTLY_ONCE,
	SCN_ORDER,
	SCN_NO_PHANTOM,
	SCN_LIVE,
	SCN_RECONNECTS,
	SCN_DUP_FLAG,
	SCN_PACKET_IDS,
	SCN_WILL,
	SCN_RETAINED,
	SCN_SESSION,
	SCN_SCRIPT,
	SCN_STATE,
	SCN_BROKER_DUP_FLAG,
	SCN_BROKER_PACKET_IDS,
	SCN_DELIVERY_QOS,
	SCN_QUIESCENT,
	SCN_STORAGE,
	SCN_BACKOFF,
	SCN_INVARIANT_COUNT
};

/* Where a client ends (expect state). */
enum scn_final { SCN_FINAL_ONLINE = 1, SCN_FINAL_OFFLINE, SCN_FINAL_CLOSED, SCN_FINAL_DOWN };

struct scn_expect {
	enum scn_invariant what;
	bool violation;      /* expect violation WHAT: the oracle must find it */
	int client;          /* reconnects, state */
	uint32_t min, max;   /* reconnects */
	enum scn_final state;
	long inflight;       /* state: exchanges left in flight; -1: any */
	unsigned line;
};

struct scenario {
	char path[512];
	char description[256]; /* the first comment line */
	struct scn_client clients[SCN_MAX_CLIENTS];
	int nclients;
	struct scn_step steps[SCN_MAX_STEPS];
	int nsteps;
	char broker_rules[8][256];
	int nrules;
	size_t queue_max;
	uint16_t inflight_max;
	uint32_t jitter_ms;      /* network: random extra delay per write */
	uint32_t latency_ms;
	uint64_t limit_ms;       /* virtual time a run may take; default 600 s */
	uint64_t live_within_ms; /* liveness bound after the last fault */
	uint64_t quiet_within_ms; /* quiescence bound after the last fault */
	struct scn_expect expects[SCN_MAX_EXPECTS];
	int nexpects;
	/* The packet-level form: the broker side of scripted clients. */
	struct scn_pkt *pkts;
	int npkts, pkts_cap;
	int script_client;           /* whose the next packet lines are */
	bool scripted[SCN_MAX_CLIENTS];
};

/*
 * Parses the scenario text (from path, for messages). Returns 0, or -1
 * with err "PATH:LINE:COLUMN: message".
 */
int scenario_parse(struct scenario *s, const char *path, const char *text, char *err,
                   size_t errcap);
int scenario_load(struct scenario *s, const char *path, char *err, size_t errcap);
void scenario_free(struct scenario *s);
const char *scn_invariant_name(enum scn_invariant i);
/* Whether s crashes or restarts the broker (only a broker run by a command can). */
bool scn_downs_broker(const struct scenario *s);

#endif
