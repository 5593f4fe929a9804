/*
 * target.h - a broker under test (mqttsim run --broker, --broker-cmd):
 * reaching it, running it by its command (started, crashed, restarted,
 * stopped by its PID), and clearing what a run left on it.
 */
#ifndef SCENARIOS_REAL_TARGET_H
#define SCENARIOS_REAL_TARGET_H

#include <stddef.h>
#include <sys/types.h>

#include "scenarios/lang/scenario.h"

/*
 * A connected blocking socket to address ("tcp://HOST:PORT", IPv6 as
 * [ADDR], or "unix:PATH") within timeout_ms, or -1 with the reason in
 * err ("connection refused", "no answer within 3 s", ...).
 */
int target_dial(const char *address, unsigned timeout_ms, char *err, size_t errcap);

/* A connection to a broker under test, TLS or not. */
struct target_conn {
	int fd;
	struct ssl_st *ssl;
	struct ssl_ctx_st *ctx;
};
/*
 * Connects c to address as target_dial does, and for "tls://HOST:PORT"
 * makes the TLS handshake, verifying the broker's chain (against
 * ca_file, PEM, or the system's trust store when NULL) and HOST, as the
 * threaded client does. Returns 0, or -1 with err ("certificate
 * verification failed: ...").
 */
int target_connect(struct target_conn *c, const char *address, const char *ca_file,
                   unsigned timeout_ms, char *err, size_t errcap);
void target_close(struct target_conn *c);

/* A broker that a command runs. */
struct broker_proc {
	char cmd[2048];      /* the command, {port} and {dir} filled in */
	char dir[600];       /* its folder, kept over restarts */
	char address[64];    /* tcp://127.0.0.1:PORT */
	char log[700];       /* its standard output and error */
	pid_t pid;           /* 0: not running */
	unsigned starts;
};

/*
 * Fills {port} (a free loopback port) and {dir} (dir, which must exist)
 * into templ, runs it with /bin/sh -c in a process group of its own,
 * output to dir/broker.log, and waits until the port takes connections.
 * Returns 0, or -1 with err naming what went wrong: the command exited
 * (its status and its last output), or did not listen within wait_ms.
 */
int broker_proc_start(struct broker_proc *b, const char *templ, const char *dir, unsigned wait_ms,
                      char *err, size_t errcap);
/* Runs the same command again (same port, same folder) and waits as above. */
int broker_proc_restart(struct broker_proc *b, unsigned wait_ms, char *err, size_t errcap);
/* SIGKILL to its process group, and reaps it. */
void broker_proc_kill(struct broker_proc *b);
/* SIGTERM to its process group; SIGKILL after wait_ms. Reaps it. */
void broker_proc_stop(struct broker_proc *b, unsigned wait_ms);

/*
 * Leaves the broker at address as the run found it: each of sc's client
 * identifiers connects with a clean session (dropping the session the
 * run left) and clears the retained messages its publishes and will may
 * have left (zero-length retained PUBLISH [MQTT-3.3.1-10]). Returns 0,
 * or -1 with err.
 */
int target_clear(const char *address, const char *ca_file, const struct scenario *sc, char *err,
                 size_t errcap);

#endif
