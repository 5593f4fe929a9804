/*
 * test_proxy.c - the fault proxy's core in a thread of its own, as the
 * scenario runner runs it: bytes pass both ways through a route, the
 * hooks (called from the proxy's thread) see both legs, a fault of the
 * route's plan acts and is reported, and stop/free end it cleanly
 * (make tsan runs these).
 */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "faults/proxy.h"
#include "testing/suites.h"

struct seen {
	pthread_mutex_t lock;
	size_t broker_c2b, broker_b2c, client_c2b, client_b2c;
	unsigned accepted, reports;
};

static void on_report(void *arg, int route, const struct mqtt_fault_report *r)
{
	struct seen *s = arg;
	(void)route;
	(void)r;
	pthread_mutex_lock(&s->lock);
	s->reports++;
	pthread_mutex_unlock(&s->lock);
}

static void on_broker(void *arg, int route, uint32_t conn, unsigned dir, const uint8_t *d, size_t n)
{
	struct seen *s = arg;
	(void)route;
	(void)conn;
	(void)d;
	pthread_mutex_lock(&s->lock);
	*(dir == MQTT_C2B ? &s->broker_c2b : &s->broker_b2c) += n;
	pthread_mutex_unlock(&s->lock);
}

static void on_client(void *arg, int route, uint32_t conn, unsigned dir, const uint8_t *d, size_t n)
{
	struct seen *s = arg;
	(void)route;
	(void)conn;
	(void)d;
	pthread_mutex_lock(&s->lock);
	*(dir == MQTT_C2B ? &s->client_c2b : &s->client_b2c) += n;
	pthread_mutex_unlock(&s->lock);
}

static void on_accepted(void *arg, int route, uint32_t conn)
{
	struct seen *s = arg;
	(void)route;
	(void)conn;
	pthread_mutex_lock(&s->lock);
	s->accepted++;
	pthread_mutex_unlock(&s->lock);
}

/* A loopback listener: the upstream ("broker") that echoes what it reads. */
static int listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static int dial(const char *where)
{
	int port = atoi(strrchr(where, ':') + 1);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads exactly n bytes within 5 s; the count read. */
static size_t read_n(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 5000) <= 0)
			break;
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* An MQTT PINGREQ and a PUBLISH (QoS 0, topic "t", payload "hello"): framed by the link. */
static const uint8_t packets[] = {0xc0, 0x00, 0x30, 0x08, 0x00, 0x01, 't', 'h', 'e', 'l', 'l', 'o'};

static void bytes_pass_both_ways_and_hooks_see_both_legs(void)
{
	struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
	int port = 0, lfd = listener(&port);
	CU_ASSERT_FATAL(lfd >= 0);
	char upstream[64], err[256], where[64];
	snprintf(upstream, sizeof upstream, "tcp://127.0.0.1:%d", port);
	struct fault_proxy_hooks hooks = {.report = on_report, .broker_bytes = on_broker,
	                                  .client_bytes = on_client, .accepted = on_accepted, .arg = &s};
	struct fault_proxy *p;
	CU_ASSERT_FATAL(fault_proxy_new(&p, upstream, &hooks, err, sizeof err) == 0);
	struct mqtt_fault_plan plan = {0};
	struct mqtt_fault f;
	const char *spec = "c2b before=PUBLISH#1 latency ms=1";
	CU_ASSERT_FATAL(mqtt_fault_parse(&f, spec, strlen(spec), err, sizeof err) == 0);
	f.line = 7;
	CU_ASSERT_FATAL(mqtt_fault_plan_add(&plan, &f, err, sizeof err) == 0);
	CU_ASSERT_FATAL(fault_proxy_route(p, "tcp://127.0.0.1:0", &plan, 1, where, sizeof where, err,
	                                  sizeof err) == 0);
	mqtt_fault_plan_free(&plan);
	CU_ASSERT_FATAL(fault_proxy_start(p) == 0);

	int c = dial(where);
	CU_ASSERT_FATAL(c >= 0);
	int u = accept(lfd, NULL, NULL);
	CU_ASSERT_FATAL(u >= 0);
	CU_ASSERT(write(c, packets, sizeof packets) == (ssize_t)sizeof packets);
	uint8_t buf[64];
	CU_ASSERT(read_n(u, buf, sizeof packets) == sizeof packets);
	CU_ASSERT(memcmp(buf, packets, sizeof packets) == 0);
	CU_ASSERT(write(u, packets, sizeof packets) == (ssize_t)sizeof packets);
	CU_ASSERT(read_n(c, buf, sizeof packets) == sizeof packets);
	CU_ASSERT(memcmp(buf, packets, sizeof packets) == 0);
	close(c);
	close(u);
	fault_proxy_stop(p);
	/* The thread is gone: the counts are final. */
	CU_ASSERT_EQUAL(s.accepted, 1);
	CU_ASSERT_EQUAL(s.client_c2b, sizeof packets);
	CU_ASSERT_EQUAL(s.broker_c2b, sizeof packets);
	CU_ASSERT_EQUAL(s.broker_b2c, sizeof packets);
	CU_ASSERT_EQUAL(s.client_b2c, sizeof packets);
	CU_ASSERT_EQUAL(s.reports, 1); /* the latency before the PUBLISH, line 7 */
	fault_proxy_free(p);
	close(lfd);
}

static void bad_addresses_are_refused(void)
{
	struct fault_proxy *p;
	char err[256], where[64];
	CU_ASSERT(fault_proxy_new(&p, "mqtt://x:1", NULL, err, sizeof err) == -1);
	CU_ASSERT(strstr(err, "expected tcp://HOST:PORT") != NULL);
	CU_ASSERT(fault_proxy_new(&p, "tcp://127.0.0.1", NULL, err, sizeof err) == -1);
	CU_ASSERT_FATAL(fault_proxy_new(&p, "tcp://127.0.0.1:1", NULL, err, sizeof err) == 0);
	CU_ASSERT(fault_proxy_tls(p, NULL, err, sizeof err) == -1); /* not tls:// */
	CU_ASSERT(fault_proxy_route(p, "unix:/x", NULL, 1, where, sizeof where, err, sizeof err) == -1);
	fault_proxy_free(p);
}

const struct test_def fault_proxy_tests[] = {
	{"bytes pass both ways, hooks see both legs", bytes_pass_both_ways_and_hooks_see_both_legs},
	{"bad addresses are refused", bad_addresses_are_refused},
	{NULL, NULL},
};
