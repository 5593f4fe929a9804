/*
 * The fault-injecting transport over a socketpair: the test holds the
 * broker's end and checks the exact bytes and errors on both sides.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/faults.h"
#include "testing/suites.h"

struct tx {
	struct mqtt_dialer dialer;
	struct mqtt_conn conn;
	int broker; /* the far end */
	char reports[8][128];
	int nreports;
};

static void on_report(void *arg, const struct mqtt_fault_report *r)
{
	struct tx *t = arg;
	if (t->nreports < 8)
		mqtt_fault_report_format(r, t->reports[t->nreports++], sizeof t->reports[0]);
}

static void tx_open(struct tx *t, const char *plan_text)
{
	memset(t, 0, sizeof *t);
	int sv[2];
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	t->broker = sv[1];
	struct mqtt_dialer inner;
	CU_ASSERT_FATAL(mqtt_dialer_fd(&inner, sv[0]) == 0);
	struct mqtt_fault_plan plan;
	char err[256];
	CU_ASSERT_FATAL(mqtt_fault_plan_parse(&plan, plan_text, err, sizeof err) == 0);
	CU_ASSERT_FATAL(mqtt_dialer_faulty(&t->dialer, inner, &plan, 1, on_report, t) == 0);
	mqtt_fault_plan_free(&plan);
	CU_ASSERT_FATAL(t->dialer.dial(t->dialer.arg, &t->conn, 1000) == 0);
}

static void tx_close(struct tx *t)
{
	t->conn.ops->close(t->conn.self);
	t->dialer.free(t->dialer.arg);
	close(t->broker);
}

/* The client's read, after waiting for the descriptor as the client does. */
static ssize_t client_read(struct tx *t, void *buf, size_t len, int timeout_ms)
{
	struct pollfd p = {t->conn.fd, POLLIN, 0};
	if (!t->conn.ops->pending(t->conn.self) && poll(&p, 1, timeout_ms) != 1) {
		errno = ETIMEDOUT;
		return -1;
	}
	return t->conn.ops->read(t->conn.self, buf, len);
}

/* Reads until got bytes arrived or the time is up; returns the count. */
static size_t client_read_n(struct tx *t, uint8_t *buf, size_t want, int timeout_ms)
{
	size_t got = 0;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (got < want) {
		ssize_t n = client_read(t, buf + got, want - got, 50);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			break;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > timeout_ms)
			break;
	}
	return got;
}

static ssize_t client_write(struct tx *t, const void *b, size_t n)
{
	struct iovec v = {(void *)(uintptr_t)b, n};
	return t->conn.ops->writev(t->conn.self, &v, 1);
}

static const uint8_t PUBACK1[] = {0x40, 0x02, 0x00, 0x01};
static const uint8_t PUBACK2[] = {0x40, 0x02, 0x00, 0x02};
static const uint8_t PUB[] = {0x30, 0x05, 0x00, 0x01, 't', 'h', 'i'};

static void clean_link_passes_bytes(void)
{
	struct tx t;
	tx_open(&t, "");
	CU_ASSERT_EQUAL(client_write(&t, PUB, sizeof PUB), (ssize_t)sizeof PUB);
	uint8_t buf[64];
	CU_ASSERT_EQUAL(read(t.broker, buf, sizeof buf), (ssize_t)sizeof PUB);
	CU_ASSERT(memcmp(buf, PUB, sizeof PUB) == 0);
	CU_ASSERT_EQUAL(write(t.broker, PUBACK1, 4), 4);
	CU_ASSERT_EQUAL(client_read_n(&t, buf, 4, 1000), 4);
	CU_ASSERT(memcmp(buf, PUBACK1, 4) == 0);
	close(t.broker); /* the broker closes: the client reads the end */
	t.broker = -1;
	CU_ASSERT_EQUAL(client_read(&t, buf, sizeof buf, 1000), 0);
	CU_ASSERT_EQUAL(t.nreports, 0);
	tx_close(&t);
}

static void partial_writes_reads_and_eintr(void)
{
	struct tx t;
	tx_open(&t, "c2b partial-write size=3\nb2c partial-read size=2\nc2b before=PINGREQ eintr");
	CU_ASSERT_EQUAL(client_write(&t, PUB, sizeof PUB), 3); /* a short write */
	CU_ASSERT_EQUAL(client_write(&t, PUB + 3, 4), 3);
	CU_ASSERT_EQUAL(client_write(&t, PUB + 6, 1), 1);
	uint8_t buf[64];
	nanosleep(&(struct timespec){0, 10000000}, NULL);
	CU_ASSERT_EQUAL(read(t.broker, buf, sizeof buf), (ssize_t)sizeof PUB);
	CU_ASSERT(memcmp(buf, PUB, sizeof PUB) == 0);
	CU_ASSERT_EQUAL(write(t.broker, PUBACK1, 4), 4);
	CU_ASSERT_EQUAL(client_read(&t, buf, sizeof buf, 1000), 2); /* a short read */
	CU_ASSERT_EQUAL(client_read(&t, buf + 2, sizeof buf, 1000), 2);
	CU_ASSERT(memcmp(buf, PUBACK1, 4) == 0);
	/* The PINGREQ passes the link, then the next write call fails with EINTR. */
	const uint8_t ping[] = {0xc0, 0x00};
	CU_ASSERT_EQUAL(client_write(&t, ping, 2), 2);
	errno = 0;
	CU_ASSERT_EQUAL(client_write(&t, ping, 2), -1);
	CU_ASSERT_EQUAL(errno, EINTR);
	CU_ASSERT_EQUAL(client_write(&t, ping, 2), 2);
	CU_ASSERT(t.nreports >= 1);
	tx_close(&t);
}

static void latency_delays_both_ways(void)
{
	struct tx t;
	tx_open(&t, "both latency ms=80");
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	CU_ASSERT_EQUAL(client_write(&t, PUB, sizeof PUB), (ssize_t)sizeof PUB);
	uint8_t buf[64];
	struct pollfd p = {t.broker, POLLIN, 0};
	CU_ASSERT_EQUAL(poll(&p, 1, 30), 0); /* not yet */
	/* Delayed outgoing bytes leave when the client's poll wakes it. */
	CU_ASSERT_EQUAL(client_read(&t, buf, sizeof buf, 200), -1);
	CU_ASSERT_EQUAL(errno, EAGAIN);
	CU_ASSERT_EQUAL(read(t.broker, buf, sizeof buf), (ssize_t)sizeof PUB);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	CU_ASSERT(ms >= 75);
	CU_ASSERT_EQUAL(write(t.broker, PUBACK1, 4), 4);
	clock_gettime(CLOCK_MONOTONIC, &a);
	CU_ASSERT_EQUAL(client_read_n(&t, buf, 4, 1000), 4);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	CU_ASSERT(ms >= 75);
	tx_close(&t);
}

/* Closing the connection still sends what the latency holds, then the FIN,
 * as a kernel does: a DISCONNECT written last reaches the broker (found by
 * the scenario will-not-after-disconnect in --real: the will went out). */
static void close_sends_what_is_delayed(void)
{
	struct tx t;
	tx_open(&t, "c2b latency ms=60");
	static const uint8_t DISCONNECT[] = {0xe0, 0x00};
	CU_ASSERT_EQUAL(client_write(&t, DISCONNECT, sizeof DISCONNECT), (ssize_t)sizeof DISCONNECT);
	int broker = dup(t.broker);
	tx_close(&t); /* the dialer and the broker's first descriptor go */
	uint8_t buf[8];
	struct pollfd p = {broker, POLLIN, 0};
	CU_ASSERT_EQUAL(poll(&p, 1, 1000), 1);
	CU_ASSERT_EQUAL(read(broker, buf, sizeof buf), (ssize_t)sizeof DISCONNECT);
	CU_ASSERT_EQUAL(buf[0], 0xe0);
	CU_ASSERT_EQUAL(read(broker, buf, sizeof buf), 0); /* then the end */
	close(broker);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Closing returns at once, as close(2) does; what the latency holds
 * goes out later all the same, then the FIN; freeing the dialer waits
 * for it. (The close once waited out the latency: under --real, a
 * client closing a slow link dialled again up to a second later than in
 * simulation.) */
static void close_returns_while_draining(void)
{
	struct tx t;
	tx_open(&t, "c2b latency ms=400");
	static const uint8_t DISCONNECT[] = {0xe0, 0x00};
	CU_ASSERT_EQUAL(client_write(&t, DISCONNECT, sizeof DISCONNECT), (ssize_t)sizeof DISCONNECT);
	uint64_t start = mono_ms();
	t.conn.ops->close(t.conn.self);
	CU_ASSERT(mono_ms() - start < 200);
	uint8_t buf[8];
	struct pollfd p = {t.broker, POLLIN, 0};
	CU_ASSERT_EQUAL(poll(&p, 1, 0), 0); /* not due yet */
	CU_ASSERT_EQUAL(poll(&p, 1, 2000), 1);
	CU_ASSERT(mono_ms() - start >= 390);
	CU_ASSERT_EQUAL(read(t.broker, buf, sizeof buf), (ssize_t)sizeof DISCONNECT);
	CU_ASSERT_EQUAL(read(t.broker, buf, sizeof buf), 0); /* then the end */
	t.dialer.free(t.dialer.arg);
	close(t.broker);
}

/* The next connection of the dialer goes on while the last one drains
 * (they share the run, and so its lock: the drain sleeps unlocked). */
static void next_connection_while_draining(void)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/mqttsim-drain-%d.sock", (int)getpid());
	unlink(path);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	CU_ASSERT_FATAL(ls >= 0 && bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	                listen(ls, 4) == 0);
	struct mqtt_dialer inner, d;
	CU_ASSERT_FATAL(mqtt_dialer_unix(&inner, path) == 0);
	struct mqtt_fault_plan plan;
	char err[256];
	CU_ASSERT_FATAL(mqtt_fault_plan_parse(&plan, "c2b conn=1 latency ms=300", err, sizeof err) == 0);
	CU_ASSERT_FATAL(mqtt_dialer_faulty(&d, inner, &plan, 1, NULL, NULL) == 0);
	mqtt_fault_plan_free(&plan);
	struct mqtt_conn c1, c2;
	CU_ASSERT_FATAL(d.dial(d.arg, &c1, 1000) == 0);
	int b1 = accept(ls, NULL, NULL);
	static const uint8_t DISCONNECT[] = {0xe0, 0x00}, PINGREQ[] = {0xc0, 0x00};
	struct iovec v = {(void *)(uintptr_t)DISCONNECT, 2};
	CU_ASSERT_EQUAL(c1.ops->writev(c1.self, &v, 1), 2);
	c1.ops->close(c1.self);
	CU_ASSERT_FATAL(d.dial(d.arg, &c2, 1000) == 0);
	int b2 = accept(ls, NULL, NULL);
	v.iov_base = (void *)(uintptr_t)PINGREQ;
	CU_ASSERT_EQUAL(c2.ops->writev(c2.self, &v, 1), 2);
	uint8_t buf[8];
	struct pollfd p2 = {b2, POLLIN, 0}, p1 = {b1, POLLIN, 0};
	CU_ASSERT_EQUAL(poll(&p2, 1, 1000), 1);
	CU_ASSERT_EQUAL(read(b2, buf, sizeof buf), 2);
	CU_ASSERT_EQUAL(buf[0], 0xc0);
	CU_ASSERT_EQUAL(poll(&p1, 1, 0), 0); /* the first one's DISCONNECT is still on its way */
	CU_ASSERT_EQUAL(poll(&p1, 1, 2000), 1);
	CU_ASSERT_EQUAL(read(b1, buf, sizeof buf), 2);
	CU_ASSERT_EQUAL(buf[0], 0xe0);
	c2.ops->close(c2.self);
	d.free(d.arg);
	close(b1);
	close(b2);
	close(ls);
	unlink(path);
}

static void drop_after_second_puback(void)
{
	struct tx t;
	tx_open(&t, "b2c after=PUBACK#2 drop");
	uint8_t two[8], buf[64];
	memcpy(two, PUBACK1, 4);
	memcpy(two + 4, PUBACK2, 4);
	CU_ASSERT_EQUAL(write(t.broker, two, 8), 8);
	CU_ASSERT_EQUAL(write(t.broker, PUBACK1, 4), 4); /* lost: after the drop */
	CU_ASSERT_EQUAL(client_read_n(&t, buf, 12, 300), 8);
	CU_ASSERT(memcmp(buf, two, 8) == 0);
	CU_ASSERT_EQUAL(client_read(&t, buf, sizeof buf, 1000), 0); /* the end */
	errno = 0;
	CU_ASSERT_EQUAL(client_write(&t, PUB, sizeof PUB), -1);
	CU_ASSERT_EQUAL(errno, EPIPE);
	/* The broker sees the connection end too. */
	CU_ASSERT_EQUAL(read(t.broker, buf, sizeof buf), 0);
	CU_ASSERT_EQUAL(t.nreports, 1);
	CU_ASSERT_STRING_EQUAL(t.reports[0] + strcspn(t.reports[0], " ") + 1,
	                       "conn=1 b2c byte=7 packet=PUBACK#2 action=drop line=1");
	tx_close(&t);
}

static void reset_reaches_both_sides(void)
{
	struct tx t;
	tx_open(&t, "c2b before=PUBLISH#1 reset");
	errno = 0;
	CU_ASSERT_EQUAL(client_write(&t, PUB, sizeof PUB), (ssize_t)sizeof PUB); /* taken, lost */
	uint8_t buf[64];
	CU_ASSERT_EQUAL(client_read(&t, buf, sizeof buf, 1000), -1);
	CU_ASSERT_EQUAL(errno, ECONNRESET);
	/* The far end sees an error or the end, never the PUBLISH. */
	ssize_t n = read(t.broker, buf, sizeof buf);
	CU_ASSERT(n <= 0);
	tx_close(&t);
}

static void corrupt_damages_exact_bytes(void)
{
	struct tx t;
	tx_open(&t, "c2b byte=1 corrupt");
	CU_ASSERT_EQUAL(client_write(&t, PUB, sizeof PUB), (ssize_t)sizeof PUB);
	uint8_t buf[64];
	CU_ASSERT_EQUAL(read(t.broker, buf, sizeof buf), (ssize_t)sizeof PUB);
	CU_ASSERT_EQUAL(buf[0], PUB[0]);
	CU_ASSERT_NOT_EQUAL(buf[1], PUB[1]); /* the length byte: a detectable violation */
	CU_ASSERT(memcmp(buf + 2, PUB + 2, sizeof PUB - 2) == 0);
	tx_close(&t);
}

static long elapsed_ms(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static void half_close_ends_one_way(void)
{
	struct tx t;
	tx_open(&t, "c2b after=PUBLISH#1 half-close");
	CU_ASSERT_EQUAL(client_write(&t, PUB, sizeof PUB), (ssize_t)sizeof PUB);
	uint8_t buf[64];
	CU_ASSERT_EQUAL(read(t.broker, buf, sizeof buf), (ssize_t)sizeof PUB);
	CU_ASSERT_EQUAL(read(t.broker, buf, sizeof buf), 0); /* the broker sees the end */
	errno = 0;
	CU_ASSERT_EQUAL(client_write(&t, PUB, sizeof PUB), -1);
	CU_ASSERT_EQUAL(errno, EPIPE);
	/* The broker's way still works. */
	CU_ASSERT_EQUAL(write(t.broker, PUBACK1, 4), 4);
	CU_ASSERT_EQUAL(client_read_n(&t, buf, 4, 1000), 4);
	CU_ASSERT(memcmp(buf, PUBACK1, 4) == 0);
	tx_close(&t);
}

static void stall_and_bandwidth_slow_down(void)
{
	struct tx t;
	tx_open(&t, "b2c before=PUBACK#2 stall ms=150");
	uint8_t two[8], buf[64];
	memcpy(two, PUBACK1, 4);
	memcpy(two + 4, PUBACK2, 4);
	struct timespec a;
	clock_gettime(CLOCK_MONOTONIC, &a);
	CU_ASSERT_EQUAL(write(t.broker, two, 8), 8);
	size_t first = client_read_n(&t, buf, 8, 60);
	if (first != 4)
		fprintf(stderr, "\nstall: first read got %zu\n", first);
	CU_ASSERT_EQUAL(first, 4); /* the first at once */
	CU_ASSERT_EQUAL(client_read_n(&t, buf + 4, 4, 1000), 4);
	CU_ASSERT(elapsed_ms(&a) >= 140);
	CU_ASSERT(memcmp(buf, two, 8) == 0);
	tx_close(&t);

	tx_open(&t, "c2b bandwidth rate=400");
	uint8_t big[40] = {0x30, 38, 0, 1, 't'};
	clock_gettime(CLOCK_MONOTONIC, &a);
	CU_ASSERT_EQUAL(client_write(&t, big, sizeof big), (ssize_t)sizeof big);
	size_t got = 0;
	while (got < sizeof big && elapsed_ms(&a) < 2000) {
		client_read(&t, buf, sizeof buf, 20); /* lets delayed bytes out */
		struct pollfd p = {t.broker, POLLIN, 0};
		if (poll(&p, 1, 0) == 1)
			got += (size_t)read(t.broker, buf, sizeof buf);
	}
	CU_ASSERT_EQUAL(got, sizeof big);
	CU_ASSERT(elapsed_ms(&a) >= 80); /* 40 bytes at 400 B/s: 100 ms, in 10 ms ticks */
	tx_close(&t);
}

static void truncate_and_discard_packets(void)
{
	struct tx t;
	tx_open(&t, "c2b before=PUBLISH#1 truncate size=3\nc2b before=PUBLISH#2 discard");
	uint8_t three[3 * sizeof PUB], buf[64];
	for (int i = 0; i < 3; i++)
		memcpy(three + i * sizeof PUB, PUB, sizeof PUB);
	CU_ASSERT_EQUAL(client_write(&t, three, sizeof three), (ssize_t)sizeof three);
	nanosleep(&(struct timespec){0, 10000000}, NULL);
	/* 3 bytes of the first, nothing of the second, all of the third. */
	CU_ASSERT_EQUAL(read(t.broker, buf, sizeof buf), (ssize_t)(3 + sizeof PUB));
	CU_ASSERT(memcmp(buf, PUB, 3) == 0 && memcmp(buf + 3, PUB, sizeof PUB) == 0);
	tx_close(&t);
}

struct drain {
	int fd;
	size_t want, got;
	bool in_order;
	int done;
};

/* Reads want bytes from fd (expecting byte k to be k mod 256). */
static void *drain_main(void *arg)
{
	struct drain *d = arg;
	static uint8_t buf[65536];
	while (d->got < d->want) {
		ssize_t n = read(d->fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (ssize_t k = 0; k < n; k++)
			d->in_order &= buf[k] == (uint8_t)(d->got + (size_t)k);
		d->got += (size_t)n;
	}
	__atomic_store_n(&d->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A stalled link holds at most a socket's send buffer (256 KiB) of the
 * client's bytes: a write takes what fits, then fails with EAGAIN and
 * takes nothing, so a stall stalls the writer (and its pause timeout
 * sees it). Once the stall ends, every byte taken - and no other - comes
 * out, in order. */
static void stalled_link_fills_like_a_send_buffer(void)
{
	struct tx t;
	tx_open(&t, "c2b stall ms=300");
	static uint8_t chunk[100000];
	size_t taken = 0;
	ssize_t w;
	for (int i = 0; i < 10; i++) {
		for (size_t k = 0; k < sizeof chunk; k++)
			chunk[k] = (uint8_t)(taken + k);
		struct iovec v = {chunk, sizeof chunk};
		if ((w = t.conn.ops->writev(t.conn.self, &v, 1)) < 0)
			break;
		taken += (size_t)w;
	}
	CU_ASSERT_EQUAL(w, -1);
	CU_ASSERT_EQUAL(errno, EAGAIN);
	CU_ASSERT_EQUAL(taken, 256u * 1024u);
	struct iovec v = {chunk, 1};
	CU_ASSERT_EQUAL(t.conn.ops->writev(t.conn.self, &v, 1), -1); /* still full */
	/* After the stall the bytes go out (on the writer's next calls), read
	 * by the broker's side in a thread of its own: the real connection's
	 * writes block when its buffer is full. */
	struct drain dr = {t.broker, taken, 0, true, 0};
	pthread_t th;
	CU_ASSERT_FATAL(pthread_create(&th, NULL, drain_main, &dr) == 0);
	struct timespec a;
	clock_gettime(CLOCK_MONOTONIC, &a);
	while (!__atomic_load_n(&dr.done, __ATOMIC_ACQUIRE) && elapsed_ms(&a) < 5000) {
		struct iovec none = {chunk, 0};
		t.conn.ops->writev(t.conn.self, &none, 1); /* sends what is due */
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	shutdown(t.broker, SHUT_RD);
	pthread_join(th, NULL);
	size_t got = dr.got;
	bool in_order = dr.in_order;
	CU_ASSERT_EQUAL(got, taken);
	CU_ASSERT(in_order);
	tx_close(&t);
}

static void eagain_time_and_probability(void)
{
	struct tx t;
	tx_open(&t, "b2c before=PUBACK#1 eagain\nc2b time=100 drop");
	uint8_t buf[64];
	CU_ASSERT_EQUAL(write(t.broker, PUBACK1, 4), 4);
	struct pollfd p = {t.conn.fd, POLLIN, 0};
	CU_ASSERT_EQUAL(poll(&p, 1, 1000), 1);
	errno = 0;
	CU_ASSERT_EQUAL(t.conn.ops->read(t.conn.self, buf, sizeof buf), -1);
	CU_ASSERT_EQUAL(errno, EAGAIN); /* injected once */
	CU_ASSERT_EQUAL(client_read_n(&t, buf, 4, 1000), 4);
	/* At 100 ms the connection drops: the client reads the end. */
	struct timespec a;
	clock_gettime(CLOCK_MONOTONIC, &a);
	ssize_t n;
	while ((n = client_read(&t, buf, sizeof buf, 50)) < 0 && elapsed_ms(&a) < 2000)
		;
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(read(t.broker, buf, sizeof buf), 0);
	tx_close(&t);

	/* p=: the same seed, the same PUBLISHes lost, over real sockets. */
	uint8_t runs[2][64];
	for (int r = 0; r < 2; r++) {
		tx_open(&t, "c2b p=0.5 packet=PUBLISH discard");
		for (int i = 0; i < 40; i++) {
			uint8_t pub[sizeof PUB];
			memcpy(pub, PUB, sizeof PUB);
			pub[6] = (uint8_t)('0' + i % 64);
			CU_ASSERT_EQUAL(client_write(&t, pub, sizeof pub), (ssize_t)sizeof pub);
		}
		nanosleep(&(struct timespec){0, 20000000}, NULL);
		memset(runs[r], 0, sizeof runs[r]);
		ssize_t got = read(t.broker, buf, sizeof buf);
		uint8_t all[512];
		size_t total = 0;
		while (got > 0) {
			memcpy(all + total, buf, (size_t)got);
			total += (size_t)got;
			struct pollfd q = {t.broker, POLLIN, 0};
			got = poll(&q, 1, 20) == 1 ? read(t.broker, buf, sizeof buf) : 0;
		}
		CU_ASSERT(total % sizeof PUB == 0);
		for (size_t k = 0; k < total; k += sizeof PUB)
			runs[r][all[k + 6] - '0'] = 1;
		CU_ASSERT(total > 5 * sizeof PUB && total < 35 * sizeof PUB);
		tx_close(&t);
	}
	CU_ASSERT(memcmp(runs[0], runs[1], sizeof runs[0]) == 0);
}

const struct test_def fault_transport_tests[] = {
	{"half-close ends one way", half_close_ends_one_way},
	{"stall and bandwidth slow down", stall_and_bandwidth_slow_down},
	{"truncate and discard packets", truncate_and_discard_packets},
	{"EAGAIN, time and probability", eagain_time_and_probability},
	{"a stalled link fills like a send buffer", stalled_link_fills_like_a_send_buffer},
	{"a clean link passes bytes", clean_link_passes_bytes},
	{"partial writes, reads and EINTR", partial_writes_reads_and_eintr},
	{"latency delays both ways", latency_delays_both_ways},
	{"close sends what is delayed, then FIN", close_sends_what_is_delayed},
	{"close returns at once; what is delayed drains after", close_returns_while_draining},
	{"the next connection goes on while the last one drains", next_connection_while_draining},
	{"drop after the second PUBACK", drop_after_second_puback},
	{"reset reaches both sides", reset_reaches_both_sides},
	{"corrupt damages exact bytes", corrupt_damages_exact_bytes},
	{NULL, NULL},
};
