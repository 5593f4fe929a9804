/*
 * client.c - the threaded driver: the blocking, thread-safe API over the
 * session core. It only dials, reads, writes, waits and sleeps; every
 * protocol decision is the core's.
 *
 * One mutex guards the core and this driver's state. The read routine's
 * thread owns the connection: it alone dials, reads and closes. Writes
 * happen from whichever thread queued bytes, outside the lock, one
 * writer at a time; a writer flushes everything queued meanwhile, so
 * concurrent publishers share system calls (group commit). It writes
 * the core's output where it lies (mqtt_session_output_iov(): pieces
 * that stay put while others queue more), so no payload is copied on
 * the way to the wire.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/client.h"

#define EXCHANGE_SLOTS (2 * MQTT_WINDOW_MAX)
#define REQUEST_SLOTS 8192u
#define CANCEL_POLL_MS 50
#define WRITE_PIECES 64 /* pieces gathered into one writev(2) */
/* A blocked write returns after this part of the pause timeout, so that
 * a stall is seen within pause_timeout_ms plus one part (write_all()). */
#define PAUSE_SLICES 4u

/*
 * Input in batches under load (see mqtt_client_read()). With at least
 * BATCH_MIN_INFLIGHT exchanges in flight, each owing an acknowledgement
 * of 4 bytes or more, poll waits for half of what is owed (at most
 * BATCH_MAX_BYTES), but never longer than BATCH_WAIT_MS. Waking at each
 * acknowledgement costs a context switch per message; worse, the woken
 * reader is put on the core of the broker that woke it and preempts the
 * broker it waits for (measured: mosquitto then idled a quarter of the
 * time, and QoS 2 ran at 0.8 of the rate libmosquitto gets, whose slower
 * reader always finds input waiting and never sleeps).
 *
 * In the same state the output goes in batches too (write_batch: TCP
 * with Nagle's algorithm on): a PUBLISH or PUBREL written while earlier
 * output is unacknowledged waits for that acknowledgement, which the
 * broker's next PUBACK carries, and goes out with the others written
 * meanwhile. One segment per system call costs the sender the whole
 * loopback receive path each time (measured: QoS 1 client CPU per
 * message 2.4 us with TCP_NODELAY, 0.6 us without).
 */
#define BATCH_MIN_INFLIGHT 64u
/*
 * A burst of writes (BURST_WRITES within BATCH_WAIT_MS: QoS 0 publishes
 * back to back) turns output batching on as well, until the read routine
 * sees BATCH_WAIT_MS pass without a write. With TCP_NODELAY each small
 * write is a segment, and the broker's receive queue fills with them:
 * measured, QoS 0 client CPU per message then ran at 1x to 4x of its
 * batched cost from one run to the next, and throughput fell with it.
 */
#define BURST_WRITES 64u
/*
 * A burst of input (BURST_READS reads within BATCH_WAIT_MS: a stream of
 * inbound messages) takes input in batches of half of what those reads
 * brought (at most READ_BURST_MAX_BYTES), so that a stream that keeps its
 * rate fills at least two batches per BATCH_WAIT_MS, until a batch wait
 * misses. Each wake-up of a sleeping reader is paid for by the broker, in
 * the write that wakes it (measured: QoS 2 end to end, broker CPU per
 * message fell by a third, and the rate rose by as much).
 */
#define BURST_READS 16u
#define READ_BURST_MAX_BYTES 16384u
#define BATCH_MAX_BYTES 1024u
#define BATCH_WAIT_MS 2

enum slot_state { SLOT_FREE, SLOT_WAITING, SLOT_DONE, SLOT_ABANDONED };

struct slot {
	uint8_t state;
	struct mqtt_error result;
	uint8_t *codes;   /* a waiting subscribe's caller's SUBACK codes, or NULL */
	size_t ncodes;
};

struct mqtt_exchange {
	struct mqtt_client *c;
	uint16_t id;
	enum mqtt_exchange_state state;
	int refs; /* the client's table while in flight, and the handle */
};

struct mqtt_client {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct mqtt_session *s;
	struct mqtt_dialer dialer;
	uint32_t pause_ms;

	struct mqtt_conn conn;
	bool have_conn, writing, attempted, online, closed;
	bool progressed;            /* an exchange moved since the read routine last looked */
	int batch;                  /* the connection's input batch (read_batch), bytes */
	bool batch_missed;          /* the last batch wait timed out: take what came */
	bool write_batching;        /* the connection's write_batch() is on */
	bool write_burst;           /* on for a burst of writes (note_write) */
	bool read_burst;            /* on for a burst of input (note_read) */
	int read_burst_mark;        /* its input batch, bytes */
	uint64_t read_burst_start;  /* when the reads counted in read_burst_reads began */
	unsigned read_burst_reads;
	size_t read_burst_bytes;
	uint64_t write_burst_start; /* when the writes counted in write_burst_writes began */
	unsigned write_burst_writes;
	uint64_t last_write_ms;
	uint64_t gen;               /* connection generation */
	struct mqtt_error lost_why; /* why the last connection ended */
	int write_errno;            /* the current connection's write failed */
	struct mqtt_error close_why;
	int wake[2];                /* wakes the read routine's poll */

	uint64_t written;           /* output bytes written on any connection */
	struct iovec wv[WRITE_PIECES]; /* the writer's (writing) */

	uint64_t jitter_state;      /* the reconnect jitter's, when the configuration gives no source */

	uint8_t *rbuf;
	size_t rcap, roff, rlen;
	bool ack_due;               /* the last message is to be acknowledged */
	size_t big_size;            /* payload size of the big message reported */

	struct mqtt_exchange **ex;  /* EXCHANGE_SLOTS */
	struct slot sub[REQUEST_SLOTS], unsub[REQUEST_SLOTS], ping;
	int event_fd;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct mqtt_error err_of(enum mqtt_class cls, int code)
{
	struct mqtt_error e = {cls, code};
	return e;
}

void mqtt_cancel_fire(struct mqtt_cancel *c)
{
	if (c)
		__atomic_store_n(&c->fired, 1, __ATOMIC_RELEASE);
}

bool mqtt_cancel_fired(const struct mqtt_cancel *c)
{
	return __atomic_load_n(&c->fired, __ATOMIC_ACQUIRE) != 0;
}

static bool fired(const struct mqtt_cancel *c)
{
	return c && mqtt_cancel_fired(c);
}

/* Waits on the client's condition; with a token, in short slices so a
 * cancel is seen. Returns false when the token fired. */
static bool wait_cond(struct mqtt_client *c, struct mqtt_cancel *cancel)
{
	if (fired(cancel))
		return false;
	if (!cancel) {
		pthread_cond_wait(&c->cond, &c->lock);
		return true;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += CANCEL_POLL_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	return !fired(cancel);
}

static void wake_reader(struct mqtt_client *c)
{
	ssize_t r;
	do
		r = write(c->wake[1], "", 1);
	while (r < 0 && errno == EINTR);
}

static void signal_event_fd(struct mqtt_client *c)
{
	if (c->event_fd >= 0) {
		uint64_t one = 1;
		ssize_t r = write(c->event_fd, &one, sizeof one);
		(void)r; /* a full counter still polls readable */
	}
}

static size_t exchange_index(uint16_t id)
{
	return ((id >> 14) & 1) * MQTT_WINDOW_MAX + (id & (MQTT_WINDOW_MAX - 1));
}

static void exchange_unref(struct mqtt_exchange *x)
{
	if (--x->refs == 0)
		free(x);
}

static void exchange_progress(struct mqtt_client *c, uint16_t id, enum mqtt_exchange_state st)
{
	struct mqtt_exchange **slot = &c->ex[exchange_index(id)];
	struct mqtt_exchange *x = *slot;
	if (!x || x->id != id)
		return;
	x->state = st;
	if (st == MQTT_EXCHANGE_DONE) {
		*slot = NULL;
		exchange_unref(x);
	}
	signal_event_fd(c);
}

static struct slot *request_slot(struct mqtt_client *c, uint32_t id)
{
	if (id == 0)
		return &c->ping;
	if ((id & 0xe000) == MQTT_SPACE_SUBSCRIBE)
		return &c->sub[id & (REQUEST_SLOTS - 1)];
	if ((id & 0xe000) == MQTT_SPACE_UNSUBSCRIBE)
		return &c->unsub[id & (REQUEST_SLOTS - 1)];
	return NULL;
}

static void finish_request(struct slot *sl, struct mqtt_error result)
{
	if (!sl)
		return;
	if (sl->state == SLOT_ABANDONED) {
		sl->state = SLOT_FREE; /* nobody waits any more */
	} else if (sl->state == SLOT_WAITING) {
		sl->state = SLOT_DONE;
		sl->result = result;
	}
}

/* Turns the core's events into the driver's state; lock held. */
static void dispatch(struct mqtt_client *c)
{
	struct mqtt_event ev;
	bool any = false;
	while (mqtt_session_next_event(c->s, &ev)) {
		any = true;
		switch (ev.type) {
		case MQTT_EVENT_ONLINE:
			c->attempted = c->online = true;
			break;
		case MQTT_EVENT_REFUSED:
			c->attempted = true;
			break;
		case MQTT_EVENT_OFFLINE:
			c->online = false;
			break;
		case MQTT_EVENT_CLOSED:
			c->closed = true;
			c->online = false;
			for (size_t i = 0; i < EXCHANGE_SLOTS; i++) {
				if (c->ex[i]) {
					c->ex[i]->state = MQTT_EXCHANGE_CLOSED;
					exchange_unref(c->ex[i]);
					c->ex[i] = NULL;
				}
			}
			signal_event_fd(c);
			break;
		case MQTT_EVENT_PUBLISHED:
			exchange_progress(c, (uint16_t)ev.id, MQTT_EXCHANGE_DONE);
			c->progressed = true;
			break;
		case MQTT_EVENT_RELEASED:
			exchange_progress(c, (uint16_t)ev.id, MQTT_EXCHANGE_RELEASED);
			c->progressed = true;
			break;
		case MQTT_EVENT_SUBSCRIBED: {
			struct slot *sl = request_slot(c, ev.id);
			if (sl && sl->state == SLOT_WAITING && sl->codes && ev.codes_all)
				memcpy(sl->codes, ev.codes_all, ev.ncodes_all < sl->ncodes ? ev.ncodes_all : sl->ncodes);
			finish_request(sl, ev.err);
			break;
		}
		case MQTT_EVENT_UNSUBSCRIBED:
		case MQTT_EVENT_FAILED:
			finish_request(request_slot(c, ev.id), ev.err);
			break;
		case MQTT_EVENT_PONG:
			finish_request(&c->ping, err_of(MQTT_SUCCESS, 0));
			break;
		case MQTT_EVENT_NONE:
			break;
		}
	}
	if (any)
		pthread_cond_broadcast(&c->cond);
}

/*
 * Writes the n pieces of v (which it advances); *done gets how much was
 * written, also on failure. With a pause timeout the socket's send
 * timeout is a slice of it (PAUSE_SLICES, set at dial), and the pause is
 * judged here over all the calls: a write fails with EAGAIN once no
 * byte went for pause_ms, within one slice of it - not after a whole
 * pause per call, which a call that moved a few bytes before it blocked
 * would restart. EAGAIN before that (a slice ran out, a transport's
 * passing refusal) is tried again.
 */
static int write_all(struct mqtt_conn *conn, struct iovec *v, int n, size_t *done, uint32_t pause_ms)
{
	*done = 0;
	uint64_t slice = pause_ms / PAUSE_SLICES ? pause_ms / PAUSE_SLICES : 1;
	/* One clock read per call: a call starts when the one before it ended. */
	uint64_t start = now_ms();
	uint64_t progress = start; /* the last time bytes are known to have gone */
	for (uint64_t end; n > 0; start = end) {
		ssize_t w = conn->ops->writev(conn->self, v, n);
		end = now_ms();
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (pause_ms && end - progress >= pause_ms)
				return EAGAIN; /* the pause timeout on writes */
			if (end - start < slice) {
				struct timespec ts = {0, 1000000}; /* no busy loop on a refusing transport */
				nanosleep(&ts, NULL);
				end = now_ms();
			}
			continue;
		}
		if (w <= 0)
			return w < 0 ? errno : EPIPE;
		/* Bytes went before the call returned: at its end, or, when it ran
		 * out its slice, up to a slice earlier. */
		progress = pause_ms && end - start >= slice ? end - slice : end;
		*done += (size_t)w;
		size_t left = (size_t)w;
		while (n > 0 && left >= v->iov_len) {
			left -= v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (uint8_t *)v->iov_base + left;
			v->iov_len -= left;
		}
	}
	return 0;
}

/* Counts a write towards a burst, and starts batching output at one
 * (the read routine ends it); lock held, connection current. */
static void note_write(struct mqtt_client *c, uint64_t now)
{
	if (!c->conn.ops->write_batch)
		return;
	c->last_write_ms = now;
	if (now - c->write_burst_start > BATCH_WAIT_MS) {
		c->write_burst_start = now;
		c->write_burst_writes = 0;
	}
	if (++c->write_burst_writes < BURST_WRITES || c->write_burst)
		return;
	c->write_burst = true;
	if (!c->write_batching && c->conn.ops->write_batch(c->conn.self, true) == 0)
		c->write_batching = true;
	wake_reader(c); /* to watch for the end of the burst */
}

/*
 * Writes out what the core queued, unless another thread is writing
 * (it will take these bytes too). Lock held; released during writes.
 */
static void flush(struct mqtt_client *c)
{
	while (!c->writing && c->have_conn && !c->write_errno) {
		/* The bytes stay in the core's output until they are written: the
		 * core decides DUP by what reached the wire, and a PUBLISH whose
		 * write failed before its first byte is sent again as a first
		 * send [MQTT-3.3.1-1]. Others only append meanwhile (writing). */
		int n = (int)mqtt_session_output_iov(c->s, c->wv, WRITE_PIECES, NULL);
		if (!n)
			return;
		c->writing = true;
		struct mqtt_conn conn = c->conn;
		uint64_t gen = c->gen;
		pthread_mutex_unlock(&c->lock);
		size_t done;
		int rc = write_all(&conn, c->wv, n, &done, c->pause_ms);
		pthread_mutex_lock(&c->lock);
		c->writing = false;
		if (gen == c->gen) {
			uint64_t now = now_ms();
			mqtt_session_wrote(c->s, now, done);
			note_write(c, now);
			c->written += done;
			if (rc) {
				c->write_errno = rc;
				wake_reader(c);
			}
		}
		pthread_cond_broadcast(&c->cond);
	}
}

/* Waits until the first connection attempt has an outcome (the seed). */
static struct mqtt_error await_attempt(struct mqtt_client *c, struct mqtt_cancel *cancel)
{
	while (!c->attempted && !c->closed)
		if (!wait_cond(c, cancel))
			return err_of(MQTT_CANCELED, 0);
	return err_of(c->closed ? MQTT_CLOSED : MQTT_SUCCESS, 0);
}

/* --- the read routine --- */

static void drop_connection(struct mqtt_client *c, struct mqtt_error why)
{
	while (c->writing)
		pthread_cond_wait(&c->cond, &c->lock);
	c->conn.ops->close(c->conn.self);
	c->have_conn = false;
	c->gen++;
	c->lost_why = why;
	c->write_errno = 0;
	c->roff = c->rlen = 0;
	c->ack_due = false;
	mqtt_session_lost(c->s, now_ms(), why);
	dispatch(c);
	pthread_cond_broadcast(&c->cond);
}

static void drain_wake(struct mqtt_client *c)
{
	uint8_t buf[64];
	while (read(c->wake[0], buf, sizeof buf) > 0)
		;
}

/* The input batch for the next poll, in bytes; lock held. */
static int batch_bytes(struct mqtt_client *c)
{
	if (!c->conn.ops->read_batch || c->batch_missed)
		return 1;
	int batch = c->read_burst ? c->read_burst_mark : 1;
	size_t inflight = mqtt_session_inflight(c->s);
	if (inflight < BATCH_MIN_INFLIGHT)
		return batch;
	size_t half_owed = inflight * 4 / 2;
	int owed = half_owed > BATCH_MAX_BYTES ? (int)BATCH_MAX_BYTES : (int)half_owed;
	return owed > batch ? owed : batch;
}

/* Counts a read towards a burst of input, which lasts until a batch wait
 * misses; lock held. */
static void note_read(struct mqtt_client *c, uint64_t now, size_t got)
{
	if (!c->conn.ops->read_batch || c->read_burst)
		return;
	if (now - c->read_burst_start > BATCH_WAIT_MS) {
		c->read_burst_start = now;
		c->read_burst_reads = 0;
		c->read_burst_bytes = 0;
	}
	c->read_burst_bytes += got;
	if (++c->read_burst_reads < BURST_READS)
		return;
	size_t half = c->read_burst_bytes / 2;
	c->read_burst_mark = half < 2 ? 2 : half > READ_BURST_MAX_BYTES ? (int)READ_BURST_MAX_BYTES : (int)half;
	c->read_burst = true;
}

/* The read routine; with wait, it also returns MQTT_CANCELED once an
 * exchange progressed or at the deadline (UINT64_MAX: none). */
static struct mqtt_error read_routine(struct mqtt_client *c, struct mqtt_message *msg, bool wait,
                                      uint64_t deadline_ms)
{
	memset(msg, 0, sizeof *msg);
	pthread_mutex_lock(&c->lock);
	struct mqtt_error result = err_of(MQTT_SUCCESS, 0);
	if (wait)
		c->progressed = false;
	for (;;) {
		uint64_t now = now_ms();
		if (c->closed || mqtt_session_state(c->s) == MQTT_STATE_CLOSED) {
			if (c->have_conn) {
				flush(c); /* a DISCONNECT may be waiting */
				drop_connection(c, err_of(MQTT_CLOSED, 0));
			}
			result = err_of(MQTT_CLOSED, 0);
			break;
		}
		if (c->have_conn && !mqtt_session_should_close(c->s) && !c->write_errno) {
			/* Acknowledge the message returned before; go on with
			 * the input left over. */
			while (c->ack_due || c->roff < c->rlen) {
				size_t used = 0;
				c->ack_due = false;
				struct mqtt_error e = mqtt_session_receive(c->s, now, c->rbuf + c->roff,
				                                           c->rlen - c->roff, &used, msg);
				c->roff += used;
				dispatch(c);
				if (!used && !e.cls && !msg->topic.data) {
					/* The last message's acknowledgement, alone: out it
					 * goes before the next input is taken. */
					flush(c);
					if (!c->have_conn || c->write_errno)
						break;
					continue;
				}
				if (e.cls == MQTT_BIG_MESSAGE && msg->topic.data) {
					/* Reported, not a failure: the application
					 * reads it whole or skips it. */
					c->big_size = (size_t)e.code;
					flush(c);
					pthread_mutex_unlock(&c->lock);
					return e;
				}
				if (e.cls) {
					c->close_why = e;
					break;
				}
				if (msg->topic.data) {
					c->ack_due = true;
					flush(c);
					pthread_mutex_unlock(&c->lock);
					return err_of(MQTT_SUCCESS, 0);
				}
				if (c->roff < c->rlen) {
					/* Stopped short (before a QoS 2 PUBLISH): what it
					 * queued leaves before that message is taken. */
					flush(c);
					if (!c->have_conn || c->write_errno)
						break;
				}
			}
			flush(c);
		}
		if (c->have_conn && (mqtt_session_should_close(c->s) || c->write_errno)) {
			struct mqtt_error why = c->write_errno ? err_of(c->write_errno == EAGAIN ? MQTT_TIMEOUT : MQTT_IO, c->write_errno)
			                                       : c->close_why;
			if (why.cls == MQTT_SUCCESS)
				why = err_of(MQTT_TIMEOUT, 0);
			drop_connection(c, why);
			c->close_why = err_of(MQTT_SUCCESS, 0);
			result = why;
			break;
		}
		if (!c->have_conn) {
			if (!mqtt_session_should_dial(c->s, now)) {
				result = err_of(MQTT_DOWN, 0);
				break;
			}
			struct mqtt_conn conn;
			pthread_mutex_unlock(&c->lock);
			int rc = c->dialer.dial(c->dialer.arg, &conn, c->pause_ms);
			pthread_mutex_lock(&c->lock);
			now = now_ms();
			if (rc == 0 && c->closed) {
				conn.ops->close(conn.self);
				continue;
			}
			if (rc) {
				c->attempted = true;
				result = err_of(MQTT_IO, -rc);
				mqtt_session_lost(c->s, now, result);
				dispatch(c);
				pthread_cond_broadcast(&c->cond);
				break;
			}
			if (c->pause_ms) {
				/* PauseTimeout on writes: a blocked write comes back after
				 * a slice of it, and write_all() judges the pause. */
				uint32_t slice = c->pause_ms / PAUSE_SLICES ? c->pause_ms / PAUSE_SLICES : 1;
				struct timeval tv = {slice / 1000, (slice % 1000) * 1000};
				setsockopt(conn.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
			}
			c->conn = conn;
			c->batch = 1; /* a new socket's */
			c->batch_missed = false;
			c->write_batching = c->write_burst = c->read_burst = false;
			c->write_burst_writes = c->read_burst_reads = 0;
			c->have_conn = true;
			mqtt_session_connected(c->s, now);
			flush(c);
			continue;
		}
		/* The flushes above let go of the lock, and other threads may
		 * have given the core later times meanwhile. */
		now = now_ms();
		uint64_t deadline = mqtt_session_tick(c->s, now);
		dispatch(c);
		if (mqtt_session_should_close(c->s)) {
			if (c->close_why.cls == MQTT_SUCCESS)
				c->close_why = err_of(MQTT_TIMEOUT, 0);
			continue;
		}
		flush(c);
		if (mqtt_session_should_close(c->s) || c->write_errno || c->closed)
			continue;
		if (wait && (c->progressed || now >= deadline_ms)) {
			result = err_of(MQTT_CANCELED, 0); /* nothing read, nothing lost */
			break;
		}
		if (wait && deadline_ms < deadline)
			deadline = deadline_ms;
		int timeout = deadline == UINT64_MAX ? -1
		              : deadline <= now    ? 0
		              : deadline - now > 60000 ? 60000 : (int)(deadline - now);
		struct mqtt_conn conn = c->conn;
		bool buffered = conn.ops->pending && conn.ops->pending(conn.self) > 0;
		int batch = batch_bytes(c);
		if (batch != c->batch && conn.ops->read_batch(conn.self, batch) == 0)
			c->batch = batch;
		bool batching = c->batch > 1;
		if (c->write_burst && now >= c->last_write_ms + BATCH_WAIT_MS)
			c->write_burst = false;
		/* Output waits for acknowledgements only while they keep coming
		 * or more output follows: off again (which sends what is held)
		 * as the window empties, the broker goes quiet for a batch wait
		 * or a burst of writes ends. */
		bool write_batching = batching || c->write_burst;
		if (write_batching != c->write_batching && conn.ops->write_batch &&
		    conn.ops->write_batch(conn.self, write_batching) == 0)
			c->write_batching = write_batching;
		if ((batching || c->write_batching) && (timeout < 0 || timeout > BATCH_WAIT_MS))
			timeout = BATCH_WAIT_MS;
		pthread_mutex_unlock(&c->lock);
		struct pollfd p[2] = {{conn.fd, POLLIN, 0}, {c->wake[0], POLLIN, 0}};
		int n = buffered ? 1 : poll(p, 2, timeout);
		bool readable = buffered || (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)));
		if (n > 0 && (p[1].revents & POLLIN))
			drain_wake(c);
		ssize_t got = 0;
		int read_errno = 0;
		if (readable) {
			got = conn.ops->read(conn.self, c->rbuf, c->rcap);
			read_errno = errno;
		}
		pthread_mutex_lock(&c->lock);
		if (n == 0 && batching) {
			c->batch_missed = true; /* the broker went quiet: no batch now */
			c->read_burst = false;
			c->read_burst_reads = 0;
		} else if (readable) {
			c->batch_missed = false;
		}
		if (!readable || (got < 0 && (read_errno == EINTR || read_errno == EAGAIN)))
			continue;
		if (got <= 0) {
			c->close_why = err_of(MQTT_IO, got == 0 ? ECONNRESET : read_errno);
			drop_connection(c, c->close_why);
			/* After mqtt_client_close() the end of the connection is its
			 * doing: the read reports the close, not the reset it caused. */
			result = c->closed ? err_of(MQTT_CLOSED, 0) : c->close_why;
			c->close_why = err_of(MQTT_SUCCESS, 0);
			break;
		}
		c->roff = 0;
		c->rlen = (size_t)got;
		c->ack_due = false;
		note_read(c, now_ms(), (size_t)got);
	}
	pthread_mutex_unlock(&c->lock);
	return result;
}

struct mqtt_error mqtt_client_read(struct mqtt_client *c, struct mqtt_message *msg)
{
	return read_routine(c, msg, false, UINT64_MAX);
}

struct mqtt_error mqtt_client_read_wait(struct mqtt_client *c, struct mqtt_message *msg,
                                        uint32_t wait_ms)
{
	return read_routine(c, msg, true, now_ms() + wait_ms);
}

struct mqtt_error mqtt_client_read_all(struct mqtt_client *c, struct mqtt_message *msg,
                                       uint8_t **payload)
{
	*payload = NULL;
	pthread_mutex_lock(&c->lock);
	size_t size = c->big_size;
	uint8_t *buf = malloc(size ? size : 1);
	bool claimed = buf && mqtt_session_claim(c->s, buf);
	pthread_mutex_unlock(&c->lock);
	if (!claimed) {
		free(buf);
		return err_of(buf ? MQTT_DENY : MQTT_PERSISTENCE, buf ? MQTT_ERR_ARGUMENT : ENOMEM);
	}
	/* The stream's next message is this one. */
	struct mqtt_error e = mqtt_client_read(c, msg);
	if (e.cls == MQTT_SUCCESS && msg->payload.data == buf) {
		*payload = buf;
		return e;
	}
	free(buf);
	return e.cls == MQTT_SUCCESS ? err_of(MQTT_PROTOCOL, MQTT_V_UNKNOWN_PACKET_ID) : e;
}

void mqtt_client_backoff(struct mqtt_client *c, struct mqtt_cancel *cancel)
{
	pthread_mutex_lock(&c->lock);
	for (;;) {
		uint64_t now = now_ms(), at = mqtt_session_dial_at(c->s);
		if (c->closed || c->have_conn || now >= at || fired(cancel))
			break;
		uint64_t wait = at - now;
		if (cancel && wait > CANCEL_POLL_MS)
			wait = CANCEL_POLL_MS;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait / 1000);
		ts.tv_nsec += (long)(wait % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
}

/* --- requests --- */

struct mqtt_error mqtt_client_publish(struct mqtt_client *c, struct mqtt_cancel *cancel, uint8_t qos,
                                      bool retain, struct mqtt_slice topic, struct mqtt_slice payload,
                                      struct mqtt_exchange **ex)
{
	if (ex)
		*ex = NULL;
	pthread_mutex_lock(&c->lock);
	struct mqtt_error e = fired(cancel) ? err_of(MQTT_CANCELED, 0)
	                      : qos ? err_of(c->closed ? MQTT_CLOSED : MQTT_SUCCESS, 0)
	                            : await_attempt(c, cancel);
	uint16_t id = 0;
	if (!e.cls) /* QoS 0 starts no timer: no clock read for it (session.h) */
		e = mqtt_session_publish(c->s, qos ? now_ms() : 0, qos, retain, topic, payload, &id);
	if (e.cls) {
		pthread_mutex_unlock(&c->lock);
		return e;
	}
	if (qos) {
		if (ex) {
			struct mqtt_exchange *x = malloc(sizeof *x);
			if (x) {
				x->c = c;
				x->id = id;
				x->state = MQTT_EXCHANGE_PENDING;
				x->refs = 2;
				c->ex[exchange_index(id)] = x;
				*ex = x;
			}
		}
		flush(c);
		pthread_mutex_unlock(&c->lock);
		return err_of(MQTT_SUCCESS, 0);
	}
	size_t queued;
	mqtt_session_output_iov(c->s, NULL, 0, &queued);
	uint64_t target = c->written + queued, gen = c->gen;
	flush(c);
	while (c->written < target && c->gen == gen && !c->closed && !c->write_errno) {
		if (!wait_cond(c, cancel)) {
			e = err_of(MQTT_CANCELED, 0);
			break;
		}
	}
	/* Cut off: by the pause timeout, MQTT_TIMEOUT (the seed's net.Error
	 * with Timeout true); else MQTT_BREAK. Both leave it unknown. */
	if (!e.cls && c->written < target) {
		/* The write failed on this connection (its drop may still be under
		 * way), or the connection is gone. */
		bool timeout = c->gen == gen ? c->write_errno == EAGAIN : c->lost_why.cls == MQTT_TIMEOUT;
		e = err_of(c->closed ? MQTT_CLOSED : timeout ? MQTT_TIMEOUT : MQTT_BREAK, 0);
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}

enum mqtt_exchange_state mqtt_exchange_wait(struct mqtt_exchange *x, enum mqtt_exchange_state want,
                                            struct mqtt_cancel *cancel)
{
	struct mqtt_client *c = x->c;
	pthread_mutex_lock(&c->lock);
	while (x->state < want && x->state != MQTT_EXCHANGE_CLOSED)
		if (!wait_cond(c, cancel))
			break;
	enum mqtt_exchange_state st = x->state;
	pthread_mutex_unlock(&c->lock);
	return st;
}

enum mqtt_exchange_state mqtt_exchange_state(struct mqtt_exchange *x)
{
	pthread_mutex_lock(&x->c->lock);
	enum mqtt_exchange_state st = x->state;
	pthread_mutex_unlock(&x->c->lock);
	return st;
}

uint16_t mqtt_exchange_id(const struct mqtt_exchange *x)
{
	return x->id;
}

void mqtt_exchange_release(struct mqtt_exchange *x)
{
	if (!x)
		return;
	struct mqtt_client *c = x->c;
	pthread_mutex_lock(&c->lock);
	exchange_unref(x);
	pthread_mutex_unlock(&c->lock);
}

int mqtt_client_event_fd(struct mqtt_client *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->event_fd < 0)
		c->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int fd = c->event_fd;
	pthread_mutex_unlock(&c->lock);
	return fd;
}

/* Submits a subscribe, unsubscribe or ping, then waits for its outcome. */
static struct mqtt_error round_trip(struct mqtt_client *c, struct mqtt_cancel *cancel,
                                    enum mqtt_type type, const struct mqtt_topic *filters, size_t n,
                                    uint8_t *codes)
{
	pthread_mutex_lock(&c->lock);
	struct mqtt_error e = fired(cancel) ? err_of(MQTT_CANCELED, 0) : await_attempt(c, cancel);
	uint16_t id = 0;
	if (!e.cls) {
		uint64_t now = now_ms();
		if (type == MQTT_SUBSCRIBE)
			e = mqtt_session_subscribe(c->s, now, filters, n, &id);
		else if (type == MQTT_UNSUBSCRIBE)
			e = mqtt_session_unsubscribe(c->s, now, filters, n, &id);
		else
			e = mqtt_session_ping(c->s, now);
	}
	if (e.cls) {
		pthread_mutex_unlock(&c->lock);
		return e;
	}
	struct slot *sl = request_slot(c, id);
	sl->state = SLOT_WAITING;
	sl->codes = codes;
	sl->ncodes = n;
	flush(c);
	while (sl->state == SLOT_WAITING) {
		if (!wait_cond(c, cancel)) {
			sl->state = SLOT_ABANDONED;
			sl->codes = NULL; /* the caller and its buffer are gone */
			pthread_mutex_unlock(&c->lock);
			return err_of(MQTT_ABANDONED, 0);
		}
	}
	e = sl->result;
	sl->state = SLOT_FREE;
	sl->codes = NULL;
	pthread_mutex_unlock(&c->lock);
	return e;
}

struct mqtt_error mqtt_client_subscribe(struct mqtt_client *c, struct mqtt_cancel *cancel,
                                        const struct mqtt_topic *filters, size_t n)
{
	return round_trip(c, cancel, MQTT_SUBSCRIBE, filters, n, NULL);
}

struct mqtt_error mqtt_client_subscribe_codes(struct mqtt_client *c, struct mqtt_cancel *cancel,
                                              const struct mqtt_topic *filters, size_t n,
                                              uint8_t *codes)
{
	return round_trip(c, cancel, MQTT_SUBSCRIBE, filters, n, codes);
}

struct mqtt_error mqtt_client_unsubscribe(struct mqtt_client *c, struct mqtt_cancel *cancel,
                                          const struct mqtt_topic *filters, size_t n)
{
	return round_trip(c, cancel, MQTT_UNSUBSCRIBE, filters, n, NULL);
}

struct mqtt_error mqtt_client_ping(struct mqtt_client *c, struct mqtt_cancel *cancel)
{
	return round_trip(c, cancel, MQTT_PINGREQ, NULL, 0, NULL);
}

/* Closes the session and the connection (the read routine sees it and
 * closes its end); with c->lock held. */
static void close_locked(struct mqtt_client *c)
{
	mqtt_session_close(c->s, now_ms());
	dispatch(c);
	c->closed = true;
	if (c->have_conn)
		shutdown(c->conn.fd, SHUT_RDWR);
	wake_reader(c);
	pthread_cond_broadcast(&c->cond);
}

/* As the seed: a fired cancel is MQTT_CANCELED and an offline client
 * MQTT_DOWN, both "not sent", and the client is closed either way. */
struct mqtt_error mqtt_client_disconnect(struct mqtt_client *c, struct mqtt_cancel *cancel)
{
	pthread_mutex_lock(&c->lock);
	struct mqtt_error e;
	if (c->closed) {
		e = err_of(MQTT_CLOSED, 0);
	} else if (fired(cancel)) {
		e = err_of(MQTT_CANCELED, 0);
	} else if (!c->online) {
		e = err_of(MQTT_DOWN, 0);
	} else {
		e = mqtt_session_disconnect(c->s, now_ms());
		if (!e.cls) {
			uint64_t gen = c->gen;
			flush(c);
			while (c->writing && c->gen == gen && wait_cond(c, cancel))
				;
			if (c->writing && c->gen == gen)
				e = err_of(MQTT_CANCELED, 0); /* the DISCONNECT may be cut short */
			else if (c->write_errno)
				e = err_of(MQTT_IO, c->write_errno);
		}
	}
	if (!c->closed || e.cls != MQTT_CLOSED)
		close_locked(c);
	pthread_mutex_unlock(&c->lock);
	return e;
}

void mqtt_client_close(struct mqtt_client *c)
{
	pthread_mutex_lock(&c->lock);
	close_locked(c);
	pthread_mutex_unlock(&c->lock);
}

bool mqtt_client_online(struct mqtt_client *c)
{
	pthread_mutex_lock(&c->lock);
	bool on = c->online;
	pthread_mutex_unlock(&c->lock);
	return on;
}

size_t mqtt_client_inflight(struct mqtt_client *c)
{
	pthread_mutex_lock(&c->lock);
	size_t n = mqtt_session_inflight(c->s);
	pthread_mutex_unlock(&c->lock);
	return n;
}

static bool wait_state(struct mqtt_client *c, struct mqtt_cancel *cancel, bool online)
{
	pthread_mutex_lock(&c->lock);
	bool ok = true;
	while (c->online != online && !(online && c->closed))
		if (!(ok = wait_cond(c, cancel)))
			break;
	ok = ok && c->online == online;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

bool mqtt_client_wait_online(struct mqtt_client *c, struct mqtt_cancel *cancel)
{
	return wait_state(c, cancel, true);
}

bool mqtt_client_wait_offline(struct mqtt_client *c, struct mqtt_cancel *cancel)
{
	return wait_state(c, cancel, false);
}

/* --- creation --- */

static int make_wake_pipe(int fds[2])
{
	if (pipe(fds) != 0)
		return -1;
	for (int i = 0; i < 2; i++)
		if (fcntl(fds[i], F_SETFL, O_NONBLOCK) != 0 || fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0)
			return -1;
	return 0;
}

/* splitmix64 over the client's own state: the reconnect jitter's source
 * when the configuration gives none. Called by the core under c->lock. */
static uint64_t jitter_random(void *arg)
{
	uint64_t *state = arg;
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A seed of the client's own, so that a fleet of clients started
 * together does not redial in step after a broker restart: the kernel's
 * randomness, else the time, the process and the client's address. */
static uint64_t jitter_seed(const struct mqtt_client *c)
{
	uint64_t seed;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
		return seed;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 32) ^
	       (uint64_t)(uintptr_t)c;
}

struct mqtt_error mqtt_client_new(struct mqtt_client **out, const struct mqtt_client_config *cfg,
                                  enum mqtt_session_mode mode, struct mqtt_store *store,
                                  void (*warn)(void *arg, const char *text), void *warn_arg)
{
	*out = NULL;
	struct mqtt_client *c = calloc(1, sizeof *c);
	if (!c) {
		if (cfg->dialer.free)
			cfg->dialer.free(cfg->dialer.arg);
		return err_of(MQTT_PERSISTENCE, ENOMEM);
	}
	c->dialer = cfg->dialer;
	c->event_fd = -1;
	c->wake[0] = c->wake[1] = -1;
	c->pause_ms = cfg->session.pause_timeout_ms;
	struct mqtt_session_config session = cfg->session;
	if (!session.random) {
		/* Reconnect waits always have jitter (half to all of the backoff). */
		c->jitter_state = jitter_seed(c);
		session.random = jitter_random;
		session.random_arg = &c->jitter_state;
	}
	struct mqtt_error e = mqtt_session_new(&c->s, &session, mode, store, warn, warn_arg);
	if (!e.cls) {
		c->rcap = 64 * 1024;
		c->rbuf = malloc(c->rcap);
		c->ex = calloc(EXCHANGE_SLOTS, sizeof *c->ex);
		if (!c->rbuf || !c->ex || make_wake_pipe(c->wake) != 0)
			e = err_of(MQTT_PERSISTENCE, errno ? errno : ENOMEM);
	}
	if (!e.cls) {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->cond, &ca);
		pthread_condattr_destroy(&ca);
		pthread_mutex_init(&c->lock, NULL);
		*out = c;
		return e;
	}
	mqtt_session_free(c->s);
	free(c->rbuf);
	free(c->ex);
	if (c->wake[0] >= 0) {
		close(c->wake[0]);
		close(c->wake[1]);
	}
	if (c->dialer.free)
		c->dialer.free(c->dialer.arg);
	free(c);
	return e;
}

void mqtt_client_free(struct mqtt_client *c)
{
	if (!c)
		return;
	mqtt_client_close(c);
	pthread_mutex_lock(&c->lock);
	if (c->have_conn)
		drop_connection(c, err_of(MQTT_CLOSED, 0));
	dispatch(c);
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < EXCHANGE_SLOTS; i++)
		if (c->ex[i])
			exchange_unref(c->ex[i]);
	mqtt_session_free(c->s);
	if (c->dialer.free)
		c->dialer.free(c->dialer.arg);
	if (c->event_fd >= 0)
		close(c->event_fd);
	close(c->wake[0]);
	close(c->wake[1]);
	free(c->rbuf);
	free(c->ex);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
