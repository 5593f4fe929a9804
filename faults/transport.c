/*
 * transport.c - the fault-injecting transport: a dialer around any
 * dialer, whose connections pass every byte through a fault link (see
 * mqttsim/faults.h and mqtt_dialer_faulty() in mqttsim/client.h).
 *
 * The client sees the link: its reads get what the link delivers (in
 * pieces under partial-read, late under latency, EINTR or EAGAIN when
 * injected) and its writes are taken as the link allows (short under
 * partial-write). The connection's descriptor is an epoll set of the
 * real socket and a timer armed for the link's next due time, so that
 * the client's poll wakes for real input and for delayed bytes alike;
 * delayed outgoing bytes are sent on the next call after they are due.
 *
 * Like a socket's send buffer, the link holds at most SEND_BUFFER bytes
 * the client wrote and the link has not delivered (stalled, slowed):
 * beyond that a write takes what fits, or fails with EAGAIN as a
 * blocking socket's write does when its send timeout runs out, so that a
 * stalled link stalls the writer and the pause timeout sees it.
 *
 * Closing a connection returns at once, as close(2) does: what the link
 * still holds goes out from a thread of its own (drain_out), and freeing
 * the dialer waits for those threads.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/client.h"
#include "mqttsim/faults.h"

#define INGEST_MAX 8 /* reads of the real socket per call */
#define SEND_BUFFER MQTT_FAULT_SEND_BUFFER

struct faulty_dialer {
	struct mqtt_dialer inner;
	struct mqtt_fault_plan plan;
	struct mqtt_fault_run *run;
	/* The run and every link of it: links are made from dialing threads,
	 * and a closed connection drains from a thread of its own while the
	 * next one is used (a fault's count is the run's). */
	pthread_mutex_t lock;
	void (*report)(void *arg, const struct mqtt_fault_report *r);
	void *report_arg;
	pthread_mutex_t drain_lock;
	pthread_cond_t drained;
	unsigned draining; /* connections closed and still draining */
};

struct faulty_conn {
	struct faulty_dialer *d;
	struct mqtt_conn inner;
	bool inner_open;
	bool fin_sent;
	uint64_t drain_until; /* once closed: how long what is due still goes out */
	struct mqtt_fault_link *link;
	int epfd, timerfd;
	pthread_mutex_t *lock; /* the dialer's: the client reads and writes from different threads */
	uint8_t buf[16384];
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void reports(struct faulty_conn *c)
{
	struct mqtt_fault_report r;
	while (mqtt_fault_link_report(c->link, &r))
		if (c->d->report)
			c->d->report(c->d->report_arg, &r);
}

/* Arms the timer for the link's next due time (the descriptor polls readable then). */
static void arm(struct faulty_conn *c, uint64_t now)
{
	uint64_t next = mqtt_fault_link_next(c->link, now);
	struct itimerspec its = {0};
	if (next != UINT64_MAX) {
		uint64_t in = next > now ? next - now : 1;
		its.it_value.tv_sec = (time_t)(in / 1000);
		its.it_value.tv_nsec = (long)(in % 1000) * 1000000L;
	}
	timerfd_settime(c->timerfd, 0, &its, NULL);
}

static void close_inner(struct faulty_conn *c, bool reset)
{
	if (!c->inner_open)
		return;
	if (reset) {
		/* A zero linger makes close(2) send RST. */
		struct linger lg = {1, 0};
		setsockopt(c->inner.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->inner.fd, NULL);
	c->inner.ops->close(c->inner.self);
	c->inner_open = false;
}

/* Sends the client's bytes that are due to the real connection. */
static int flush_out(struct faulty_conn *c, uint64_t now)
{
	if (mqtt_fault_link_state(c->link, MQTT_C2B, now) == MQTT_LINK_RESET) {
		close_inner(c, true);
		return ECONNRESET;
	}
	const uint8_t *p;
	size_t n;
	while (c->inner_open && (n = mqtt_fault_link_peek(c->link, MQTT_C2B, now, &p)) > 0) {
		struct iovec v = {(void *)(uintptr_t)p, n};
		ssize_t w = c->inner.ops->writev(c->inner.self, &v, 1);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EPIPE;
		mqtt_fault_link_consume(c->link, MQTT_C2B, (size_t)w);
	}
	if (c->inner_open && !c->fin_sent &&
	    mqtt_fault_link_state(c->link, MQTT_C2B, now) == MQTT_LINK_EOF) {
		/* The link closed this way: so does the real connection. */
		shutdown(c->inner.fd, SHUT_WR);
		c->fin_sent = true;
	}
	return 0;
}

/* Moves what the real connection has into the link (the broker's writes). */
static void ingest(struct faulty_conn *c, uint64_t now)
{
	for (int i = 0; i < INGEST_MAX && c->inner_open; i++) {
		bool pending = c->inner.ops->pending && c->inner.ops->pending(c->inner.self) > 0;
		struct pollfd pfd = {c->inner.fd, POLLIN, 0};
		if (!pending && poll(&pfd, 1, 0) != 1)
			return;
		ssize_t n = c->inner.ops->read(c->inner.self, c->buf, sizeof c->buf);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			mqtt_fault_link_shutdown(c->link, MQTT_B2C, now, n < 0);
			close_inner(c, false);
			return;
		}
		/* The broker's writes, as the link takes them (partial-write splits them). */
		size_t off = 0;
		while (off < (size_t)n) {
			size_t room = mqtt_fault_link_room(c->link, MQTT_B2C, now, (size_t)n - off);
			if (!room)
				break; /* the link dropped this way: the bytes are lost */
			off += mqtt_fault_link_write(c->link, MQTT_B2C, now, c->buf + off, room);
		}
	}
}

static ssize_t faulty_read(void *self, void *buf, size_t len)
{
	struct faulty_conn *c = self;
	uint64_t expirations;
	pthread_mutex_lock(c->lock);
	ssize_t r = read(c->timerfd, &expirations, sizeof expirations); /* clears it */
	(void)r;
	uint64_t now = now_ms();
	int e = mqtt_fault_link_inject(c->link, MQTT_B2C, now, false);
	if (!e)
		e = flush_out(c, now);
	if (e == ECONNRESET || (e && e != EINTR && e != EAGAIN)) {
		reports(c);
		pthread_mutex_unlock(c->lock);
		errno = e;
		return -1;
	}
	if (!e) {
		ingest(c, now);
		/* A trigger in what just arrived fails this read, before its packet. */
		e = mqtt_fault_link_inject(c->link, MQTT_B2C, now, false);
	}
	const uint8_t *p;
	size_t n = e ? 0 : mqtt_fault_link_peek(c->link, MQTT_B2C, now, &p);
	ssize_t result;
	if (n) {
		if (n > len)
			n = len;
		memcpy(buf, p, n);
		mqtt_fault_link_consume(c->link, MQTT_B2C, n);
		result = (ssize_t)n;
	} else if (e) {
		result = -1;
	} else {
		enum mqtt_fault_state st = mqtt_fault_link_state(c->link, MQTT_B2C, now);
		result = st == MQTT_LINK_EOF ? 0 : -1;
		e = st == MQTT_LINK_RESET ? ECONNRESET : EAGAIN;
	}
	arm(c, now);
	reports(c);
	pthread_mutex_unlock(c->lock);
	if (result < 0)
		errno = e;
	return result;
}

static ssize_t faulty_writev(void *self, const struct iovec *iov, int iovcnt)
{
	struct faulty_conn *c = self;
	pthread_mutex_lock(c->lock);
	uint64_t now = now_ms();
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	int e = mqtt_fault_link_inject(c->link, MQTT_C2B, now, true);
	size_t room = 0;
	if (!e) {
		room = mqtt_fault_link_room(c->link, MQTT_C2B, now, total);
		if (!room && total)
			e = mqtt_fault_link_state(c->link, MQTT_C2B, now) == MQTT_LINK_RESET ? ECONNRESET
			                                                                      : EPIPE;
	}
	if (!e && total) {
		flush_out(c, now); /* what is due makes room */
		size_t queued = mqtt_fault_link_queued(c->link, MQTT_C2B);
		if (queued >= SEND_BUFFER) {
			e = EAGAIN;
			room = 0; /* a failed write takes nothing */
		} else if (room > SEND_BUFFER - queued)
			room = SEND_BUFFER - queued;
	}
	size_t taken = 0;
	for (int i = 0; i < iovcnt && taken < room; i++) {
		size_t n = iov[i].iov_len < room - taken ? iov[i].iov_len : room - taken;
		mqtt_fault_link_write(c->link, MQTT_C2B, now, iov[i].iov_base, n);
		taken += n;
	}
	int fe = flush_out(c, now);
	if (!e && fe && !taken)
		e = fe;
	arm(c, now);
	reports(c);
	pthread_mutex_unlock(c->lock);
	if (e) {
		errno = e;
		return -1;
	}
	return (ssize_t)taken;
}

static int faulty_pending(void *self)
{
	struct faulty_conn *c = self;
	pthread_mutex_lock(c->lock);
	const uint8_t *p;
	uint64_t now = now_ms();
	int n = mqtt_fault_link_peek(c->link, MQTT_B2C, now, &p) > 0 ||
	        mqtt_fault_link_state(c->link, MQTT_B2C, now) != MQTT_LINK_OPEN;
	pthread_mutex_unlock(c->lock);
	return n;
}

/*
 * As a kernel does after close(2): what the client wrote still goes out,
 * after the delay its link gives it, then the FIN (a DISCONNECT written
 * last must reach the broker, or the broker publishes the will). For at
 * most a second: a stalled link keeps the rest.
 */
static void drain_out(struct faulty_conn *c, uint64_t deadline)
{
	for (;;) {
		pthread_mutex_lock(c->lock);
		uint64_t now = now_ms(), next = UINT64_MAX;
		if (c->inner_open && flush_out(c, now) == 0 && now < deadline &&
		    mqtt_fault_link_queued(c->link, MQTT_C2B) &&
		    mqtt_fault_link_state(c->link, MQTT_C2B, now) == MQTT_LINK_OPEN)
			next = mqtt_fault_link_next(c->link, now);
		reports(c);
		pthread_mutex_unlock(c->lock);
		if (next == UINT64_MAX || next >= deadline)
			return; /* nothing more goes out within the second: do not wait for it */
		uint64_t wait = next > now ? next - now : 1;
		struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L + 100000L};
		nanosleep(&ts, NULL); /* unlocked: the next connection goes on meanwhile */
	}
}

static void conn_free(struct faulty_conn *c)
{
	close_inner(c, false);
	mqtt_fault_link_free(c->link);
	close(c->timerfd);
	close(c->epfd);
	free(c);
}

static void *drain_main(void *arg)
{
	struct faulty_conn *c = arg;
	struct faulty_dialer *d = c->d;
	drain_out(c, c->drain_until);
	conn_free(c);
	pthread_mutex_lock(&d->drain_lock);
	if (--d->draining == 0)
		pthread_cond_broadcast(&d->drained);
	pthread_mutex_unlock(&d->drain_lock);
	return NULL;
}

/* Whether the link holds bytes that go out within drain_out's second. */
static bool holds_more(struct faulty_conn *c)
{
	pthread_mutex_lock(c->lock);
	uint64_t now = now_ms();
	bool more = c->inner_open && flush_out(c, now) == 0 &&
	            mqtt_fault_link_queued(c->link, MQTT_C2B) &&
	            mqtt_fault_link_state(c->link, MQTT_C2B, now) == MQTT_LINK_OPEN &&
	            mqtt_fault_link_next(c->link, now) < c->drain_until;
	pthread_mutex_unlock(c->lock);
	return more;
}

/*
 * Returns at once, as close(2) does, while a thread drains what is due:
 * a client that closed a slow link dials its next connection as soon as
 * it would over a kernel's socket (and as in simulation), not a second
 * later. When no thread can be made, the drain happens here.
 */
static void faulty_close(void *self)
{
	struct faulty_conn *c = self;
	struct faulty_dialer *d = c->d;
	c->drain_until = now_ms() + 1000;
	if (holds_more(c)) {
		pthread_attr_t attr;
		pthread_t t;
		pthread_mutex_lock(&d->drain_lock);
		d->draining++;
		pthread_mutex_unlock(&d->drain_lock);
		bool started = pthread_attr_init(&attr) == 0;
		if (started) {
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			started = pthread_create(&t, &attr, drain_main, c) == 0;
			pthread_attr_destroy(&attr);
		}
		if (started)
			return;
		pthread_mutex_lock(&d->drain_lock);
		d->draining--;
		pthread_mutex_unlock(&d->drain_lock);
	}
	drain_out(c, c->drain_until);
	conn_free(c);
}

static const struct mqtt_conn_ops faulty_ops = {faulty_read, faulty_writev, faulty_pending,
                                                faulty_close, NULL, NULL};

static int faulty_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	struct faulty_dialer *d = arg;
	struct faulty_conn *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	int rc = d->inner.dial(d->inner.arg, &c->inner, timeout_ms);
	if (rc) {
		free(c);
		return rc;
	}
	c->d = d;
	c->lock = &d->lock;
	c->inner_open = true;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	pthread_mutex_lock(&d->lock);
	int lrc = mqtt_fault_link_new(&c->link, d->run, now_ms());
	pthread_mutex_unlock(&d->lock);
	struct epoll_event in = {.events = EPOLLIN, .data.fd = c->inner.fd};
	struct epoll_event tm = {.events = EPOLLIN, .data.fd = c->timerfd};
	if (c->epfd < 0 || c->timerfd < 0 || lrc ||
	    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->inner.fd, &in) != 0 ||
	    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->timerfd, &tm) != 0) {
		rc = lrc ? -lrc : -errno;
		c->inner.ops->close(c->inner.self);
		if (c->epfd >= 0)
			close(c->epfd);
		if (c->timerfd >= 0)
			close(c->timerfd);
		mqtt_fault_link_free(c->link);
		free(c);
		return rc ? rc : -ENOMEM;
	}
	/* Faults due at once (a trigger-less drop, a stall from the start) apply now. */
	arm(c, now_ms());
	out->ops = &faulty_ops;
	out->self = c;
	out->fd = c->epfd;
	return 0;
}

static void faulty_free(void *arg)
{
	struct faulty_dialer *d = arg;
	/* Closed connections still draining use the dialer (its report). */
	pthread_mutex_lock(&d->drain_lock);
	while (d->draining)
		pthread_cond_wait(&d->drained, &d->drain_lock);
	pthread_mutex_unlock(&d->drain_lock);
	pthread_cond_destroy(&d->drained);
	pthread_mutex_destroy(&d->drain_lock);
	if (d->inner.free)
		d->inner.free(d->inner.arg);
	mqtt_fault_run_free(d->run);
	mqtt_fault_plan_free(&d->plan);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

int mqtt_dialer_faulty(struct mqtt_dialer *out, struct mqtt_dialer inner,
                       const struct mqtt_fault_plan *plan, uint64_t seed,
                       void (*report)(void *arg, const struct mqtt_fault_report *r), void *arg)
{
	struct faulty_dialer *d = calloc(1, sizeof *d);
	if (!d)
		return ENOMEM;
	d->plan.faults = plan->n ? malloc(plan->n * sizeof *plan->faults) : NULL;
	if (plan->n && !d->plan.faults) {
		free(d);
		return ENOMEM;
	}
	if (plan->n)
		memcpy(d->plan.faults, plan->faults, plan->n * sizeof *plan->faults);
	d->plan.n = plan->n;
	int rc = mqtt_fault_run_new(&d->run, &d->plan, seed);
	if (rc) {
		mqtt_fault_plan_free(&d->plan);
		free(d);
		return rc;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->drain_lock, NULL);
	pthread_cond_init(&d->drained, NULL);
	d->inner = inner;
	d->report = report;
	d->report_arg = arg;
	*out = (struct mqtt_dialer){.dial = faulty_dial, .free = faulty_free, .arg = d};
	return 0;
}
