/*
 * realscript.h - the packet-level form over real sockets (`--real`): a
 * scripted client's broker side is a listener of its own on a free
 * loopback port, its connections driven by the same script engine
 * (script.h) the simulator uses, in real time.
 */
#ifndef SCENARIOS_REALSCRIPT_H
#define SCENARIOS_REALSCRIPT_H

#include <poll.h>
#include <stdint.h>

#include "scenarios/lang/script.h"

struct rscript;

/* A listener on 127.0.0.1 for client's script (its steps of all n); its
 * port in port. NULL with why when it cannot be made. */
struct rscript *rscript_new(const struct scn_pkt *steps, int n, int client, char *port,
                            size_t portcap, char *why, size_t whycap);
void rscript_free(struct rscript *s);

/* The descriptors to poll (at most 2), with the events wanted. */
int rscript_pollfds(const struct rscript *s, struct pollfd *p);
/* After poll: accepts, reads, writes and closes as the script says; now in ms. */
void rscript_step(struct rscript *s, uint64_t now);
const struct script_run *rscript_run(const struct rscript *s);

#endif
