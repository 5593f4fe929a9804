/*
 * mqttsim/faults.h - fault plans and the sans-I/O fault engine that
 * applies them to a connection's two byte streams.
 *
 * NAME
 *	mqtt_fault_plan_parse, mqtt_fault_plan_format, mqtt_fault_plan_free,
 *	mqtt_fault_run_new, mqtt_fault_run_free, mqtt_fault_link_new,
 *	mqtt_fault_link_free, mqtt_fault_link_room, mqtt_fault_link_write,
 *	mqtt_fault_link_shutdown, mqtt_fault_link_peek,
 *	mqtt_fault_link_consume, mqtt_fault_link_state,
 *	mqtt_fault_link_inject, mqtt_fault_link_next,
 *	mqtt_fault_link_report, mqtt_dialer_faulty - faults as data, applied
 *	the same way to real connections, a proxy and simulated links
 *
 * PLANS
 *	A plan is text, one fault a line ('#' starts a comment):
 *
 *	    DIR [TRIGGER] ACTION [key=value]...
 *
 *	DIR is c2b (client to broker), b2c (broker to client) or both.
 *	TRIGGER, at most one (none: from the start of the connection):
 *	    byte=N           when the N-th byte (from 0) of the stream passes
 *	    before=PACKET    as the packet starts; PACKET is the trigger
 *	    after=PACKET     syntax of mqttsim/trigger.h: TYPE, TYPE#K, TYPE#K+
 *	    time=DUR         DUR after the connection opened (N, Nms, Ns, Nm)
 *	    p=X              each packet with probability X (0 < X <= 1);
 *	                     packet=TYPE narrows it to one type
 *	    pbyte=X          each byte with probability X
 *	ACTION and its keys:
 *	    drop             close the connection cleanly, both ways (FIN)
 *	    reset            reset it (RST): both sides see an error at once
 *	    half-close       end this direction only (FIN one way)
 *	    stall ms=N       hold the stream N milliseconds
 *	    latency ms=N [jitter=J]   delay each write by N (+-J) ms, in order
 *	    bandwidth rate=B deliver at most B bytes a second
 *	    partial-write [size=K]    accept writes K bytes at a time (without
 *	                     size, a random 1-16 each time)
 *	    partial-read [size=K]     deliver reads K bytes at a time
 *	    corrupt [size=N] [bits=M]  flip N bytes (default 1) from the trigger
 *	                     on; with bits=, only bits of the mask M (1-255,
 *	                     decimal or 0x hex) flip: bits=0x0f on a packet's
 *	                     first byte breaks its flags and keeps its type
 *	    truncate [size=K] keep K bytes (default half) of the packet,
 *	                     lose the rest, and go on (the stream desyncs)
 *	    discard          lose the whole packet while the link stays up
 *	    eintr | eagain   fail the next read or write call with EINTR or
 *	                     EAGAIN (real transports only)
 *	Common keys: conn=K (only the K-th connection of the run, from 1);
 *	count=N (act at most N times over the whole run; the default is 1
 *	for the one-shot triggers byte=, time= and before=/after= TYPE#K,
 *	and no limit for the others); for=DUR (how long latency, bandwidth,
 *	partial-write and partial-read last once triggered; default: for
 *	the rest of the connection).
 *
 *	Packet ordinals, byte offsets and times count per connection; count=
 *	counts over the whole run, so "b2c after=PUBACK#2 drop" cuts one
 *	connection once, not every connection at its second PUBACK.
 *
 * DETERMINISM
 *	Random choices (p=, pbyte=, random sizes, jitter, corrupt values)
 *	come from a PRNG seeded with the run's seed and the connection's
 *	number: the same plan, seed and traffic always give the same faults.
 *
 * THE ENGINE
 *	A run holds a plan, a seed and per-fault counts; each connection is
 *	a link of the run. Bytes written in a direction go in with
 *	mqtt_fault_link_write() (at most mqtt_fault_link_room() at a time);
 *	what the other side may read now comes out with
 *	mqtt_fault_link_peek() and mqtt_fault_link_consume(); the time of
 *	the next change comes from mqtt_fault_link_next(). No I/O, clock or
 *	randomness of its own: the fault transport, the fault proxy and the
 *	simulator drive it.
 *
 * THREADS
 *	None inside; a run and its links are used by one thread at a time.
 *
 * HEADERS
 *	Plans and the engine are declared in mqttsim/fault_engine.h, which
 *	needs nothing of the client (the simulator and other sans-I/O code
 *	include only that); this header adds the fault-injecting transport
 *	of the threaded client, mqtt_dialer_faulty().
 */
#ifndef MQTTSIM_FAULTS_H
#define MQTTSIM_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttsim/api.h"
#include "mqttsim/client.h"
#include "mqttsim/fault_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The fault-injecting transport: a dialer around inner (which it owns
 * from then on) whose connections pass through links of one run of
 * plan (copied) with seed. The client's reads and writes see the
 * faults as real I/O: short reads and writes, EINTR and EAGAIN, late
 * bytes, a closed or reset connection, damaged bytes; the real
 * connection is closed (FIN) or reset (RST) when the link is. Closing a
 * connection returns at once, as close(2) does: what the link still
 * holds and is due within a second goes out from a thread of its own,
 * then the FIN; the dialer's free waits for those threads. report (may
 * be NULL) is called for each fault applied, from the thread that made
 * the call on the connection or that drains a closed one, one call at a
 * time. Returns 0 or ENOMEM.
 */
MQTTSIM_API int mqtt_dialer_faulty(struct mqtt_dialer *out, struct mqtt_dialer inner,
                                   const struct mqtt_fault_plan *plan, uint64_t seed,
                                   void (*report)(void *arg, const struct mqtt_fault_report *r),
                                   void *arg);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_FAULTS_H */
