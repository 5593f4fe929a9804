/*
 * mqttsim/fault_engine.h - fault plans and the sans-I/O fault engine,
 * without the client's transport: what sans-I/O code (the simulator,
 * the fault proxy's core) includes. The whole interface, with the plan
 * language and the engine's rules, is documented in mqttsim/faults.h,
 * which includes this header.
 */
#ifndef MQTTSIM_FAULT_ENGINE_H
#define MQTTSIM_FAULT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttsim/api.h"
#include "mqttsim/trigger.h"

#ifdef __cplusplus
extern "C" {
#endif

enum mqtt_fault_action {
	MQTT_FAULT_DROP = 1,
	MQTT_FAULT_RESET,
	MQTT_FAULT_HALF_CLOSE,
	MQTT_FAULT_STALL,
	MQTT_FAULT_LATENCY,
	MQTT_FAULT_BANDWIDTH,
	MQTT_FAULT_PARTIAL_WRITE,
	MQTT_FAULT_PARTIAL_READ,
	MQTT_FAULT_CORRUPT,
	MQTT_FAULT_TRUNCATE,
	MQTT_FAULT_DISCARD,
	MQTT_FAULT_EINTR,
	MQTT_FAULT_EAGAIN,
};

enum mqtt_fault_when {
	MQTT_WHEN_START = 0, /* no trigger */
	MQTT_WHEN_BYTE,
	MQTT_WHEN_BEFORE,
	MQTT_WHEN_AFTER,
	MQTT_WHEN_TIME,
	MQTT_WHEN_P_PACKET,
	MQTT_WHEN_P_BYTE,
};

struct mqtt_fault {
	unsigned dirs;                /* MQTT_C2B | MQTT_B2C */
	enum mqtt_fault_when when;
	uint64_t byte;                /* MQTT_WHEN_BYTE */
	struct mqtt_trigger packet;   /* BEFORE, AFTER; P_PACKET narrows by packet.type */
	uint64_t time_ms;             /* MQTT_WHEN_TIME */
	double p;                     /* P_PACKET, P_BYTE */
	enum mqtt_fault_action action;
	uint32_t size;                /* partial-*, corrupt, truncate; 0: the default */
	uint8_t bits;                 /* corrupt: the bits of a byte that may flip; 0: all */
	uint32_t ms, jitter_ms;       /* stall, latency */
	uint64_t rate;                /* bandwidth, bytes per second */
	uint32_t conn;                /* 0: every connection */
	uint32_t count;               /* 0: no limit */
	uint64_t for_ms;              /* 0: for ever */
	unsigned line;                /* where it was written, for reports; 0 when built */
};

struct mqtt_fault_plan {
	struct mqtt_fault *faults;
	size_t n;
};

/*
 * Parses text (lines separated by '\n') into *plan, which the caller
 * frees with mqtt_fault_plan_free(). Returns 0, or -1 with err naming
 * "line L, column C:" and what was expected. Plans that cannot work are
 * refused too: a zero or negative duration, a probability outside
 * (0, 1], a trigger that can never fire (c2b after=CONNACK), an action
 * that needs a key it lacks.
 */
MQTTSIM_API int mqtt_fault_plan_parse(struct mqtt_fault_plan *plan, const char *text, char *err,
                                      size_t errcap);
/* One line; the same errors, with "column C:". */
MQTTSIM_API int mqtt_fault_parse(struct mqtt_fault *f, const char *line, size_t len, char *err,
                                 size_t errcap);
/* Checks a fault built in C as the parser would; 0 or -1 with err. */
MQTTSIM_API int mqtt_fault_check(const struct mqtt_fault *f, char *err, size_t errcap);
/* Writes f in the plan syntax (as snprintf); the text parses back to f. */
MQTTSIM_API int mqtt_fault_format(const struct mqtt_fault *f, char *buf, size_t cap);
/* The whole plan, a line a fault. */
MQTTSIM_API int mqtt_fault_plan_format(const struct mqtt_fault_plan *plan, char *buf, size_t cap);
/* Adds a copy of f (checked) to plan; 0, -1 with err, or ENOMEM as -1. */
MQTTSIM_API int mqtt_fault_plan_add(struct mqtt_fault_plan *plan, const struct mqtt_fault *f,
                                    char *err, size_t errcap);
MQTTSIM_API void mqtt_fault_plan_free(struct mqtt_fault_plan *plan);

MQTTSIM_API const char *mqtt_fault_action_name(enum mqtt_fault_action a);

/* A run: a plan (copied), a seed, and how often each fault acted. */
struct mqtt_fault_run;
MQTTSIM_API int mqtt_fault_run_new(struct mqtt_fault_run **out, const struct mqtt_fault_plan *plan,
                                   uint64_t seed);
MQTTSIM_API void mqtt_fault_run_free(struct mqtt_fault_run *r);

/* A connection of a run, numbered from 1 in the order made; opened at now. */
struct mqtt_fault_link;
MQTTSIM_API int mqtt_fault_link_new(struct mqtt_fault_link **out, struct mqtt_fault_run *r,
                                    uint64_t now);
MQTTSIM_API void mqtt_fault_link_free(struct mqtt_fault_link *l);
MQTTSIM_API uint32_t mqtt_fault_link_number(const struct mqtt_fault_link *l);

enum mqtt_fault_state {
	MQTT_LINK_OPEN = 0,
	MQTT_LINK_EOF,   /* the reader of this direction has read everything; it ended cleanly */
	MQTT_LINK_RESET, /* the connection was reset: an error for both sides */
};

/*
 * How many of want bytes the writer of dir may hand over now: want, or
 * fewer under partial-write; 0 when the direction no longer takes data
 * (then mqtt_fault_link_state() says why: a writer gets EPIPE or
 * ECONNRESET).
 */
MQTTSIM_API size_t mqtt_fault_link_room(struct mqtt_fault_link *l, unsigned dir, uint64_t now,
                                        size_t want);
/*
 * Bytes written in dir at now; returns how many were taken (all, or 0
 * when the direction no longer takes data). The link copies them.
 */
MQTTSIM_API size_t mqtt_fault_link_write(struct mqtt_fault_link *l, unsigned dir, uint64_t now,
                                         const void *data, size_t len);
/* The writer of dir ended its stream (EOF, or an error when reset). */
MQTTSIM_API void mqtt_fault_link_shutdown(struct mqtt_fault_link *l, unsigned dir, uint64_t now,
                                          bool reset);
/*
 * The bytes the reader of dir may take at now (under partial-read, at
 * most that many): *data points into the link until the next call on
 * it. 0 when none is due; then mqtt_fault_link_state() tells whether
 * the stream ended.
 */
MQTTSIM_API size_t mqtt_fault_link_peek(struct mqtt_fault_link *l, unsigned dir, uint64_t now,
                                        const uint8_t **data);
MQTTSIM_API void mqtt_fault_link_consume(struct mqtt_fault_link *l, unsigned dir, size_t n);
/* Whether the reader of dir is at the end of its stream (see above). */
MQTTSIM_API enum mqtt_fault_state mqtt_fault_link_state(const struct mqtt_fault_link *l,
                                                        unsigned dir, uint64_t now);
/*
 * For real transports: the errno (EINTR or EAGAIN) the next read
 * (write false) or write call in dir must fail with, or 0.
 */
MQTTSIM_API int mqtt_fault_link_inject(struct mqtt_fault_link *l, unsigned dir, uint64_t now,
                                       bool write);
/*
 * What a writer may have waiting in a link, as a socket's send buffer
 * holds: beyond it a stalled or slow link stalls the writer too (the
 * fault transport's writes fail with EAGAIN, the simulator's client
 * keeps the rest in its output), so a pause timeout on writes can see it.
 */
#define MQTT_FAULT_SEND_BUFFER (256u * 1024u)

/* Data bytes of dir waiting in the link (due or not): for back-pressure. */
MQTTSIM_API size_t mqtt_fault_link_queued(const struct mqtt_fault_link *l, unsigned dir);
/* The next time something becomes due; UINT64_MAX when nothing waits. */
MQTTSIM_API uint64_t mqtt_fault_link_next(const struct mqtt_fault_link *l, uint64_t now);

/* A fault that acted. */
struct mqtt_fault_report {
	uint64_t time;            /* the now of the call */
	uint32_t conn;            /* the link's number */
	unsigned dir;
	uint64_t offset;          /* stream byte where it acted */
	uint8_t packet_type;      /* the packet it acted on or in; 0 when none */
	uint32_t packet_no;       /* that packet's ordinal in its direction, from 1 */
	enum mqtt_fault_action action;
	unsigned line;            /* of the plan */
	size_t fault;             /* index in the plan */
	uint64_t read_offset;     /* where offset lies in what the reader gets: the
	                           * bytes discarded or cut off before it are not
	                           * there (a corrupt after a discard hits the
	                           * reader's byte read_offset, not offset);
	                           * UINT64_MAX: a corrupted byte a discard or
	                           * truncate took, which reaches nobody */
};
/* The next report, oldest first; false when none is left. */
MQTTSIM_API bool mqtt_fault_link_report(struct mqtt_fault_link *l, struct mqtt_fault_report *out);
/* "t=1234ms conn=1 c2b byte=57 packet=PUBREC#2 action=drop line=3" (as snprintf). */
MQTTSIM_API int mqtt_fault_report_format(const struct mqtt_fault_report *r, char *buf,
                                         size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_FAULT_ENGINE_H */
