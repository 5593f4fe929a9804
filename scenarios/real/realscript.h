/*
 * realscript.h - the packet-level form over real sockets (`--real`): a
 * scripted client's broker side is a listener of its own on a free
 * loopback port, its connections driven by the same script engine
 * (script.h) the simulator uses, in real time.
 */
#ifndef SCENARIOS_REALSCRIPT_H
#define SCENARIOS_REALSCRIPT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenarios/lang/script.h"

struct rscript;

/* A listener on 127.0.0.1 for client's script (its steps of all n); its
 * port in port. NULL with why when it cannot be made. */
struct rscript *rscript_new(const struct scn_pkt *steps, int n, int client, char *port,
                            size_t portcap, char *why, size_t whycap);
void rscript_free(struct rscript *s);

/* Told of the bytes the script's side reads (sent false) and writes
 * (sent true) on its connection conn (from 1), as they pass: the runner
 * judges the broker's end by them. */
typedef void rscript_bytes_fn(void *arg, uint32_t conn, bool sent, const uint8_t *data, size_t len);
/* fn (NULL: nobody) is told from now on, with arg. */
void rscript_watch(struct rscript *s, rscript_bytes_fn *fn, void *arg);

/* The descriptors to poll (at most 2), with the events wanted. */
int rscript_pollfds(const struct rscript *s, struct pollfd *p);
/* After poll: accepts, reads, writes and closes as the script says; now in ms. */
void rscript_step(struct rscript *s, uint64_t now);
const struct script_run *rscript_run(const struct rscript *s);

#endif
