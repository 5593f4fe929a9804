/*
 * The threaded client over socketpairs: a scripted broker thread answers
 * like a broker would (or refuses, or stays silent), a read-routine
 * thread runs mqtt_client_read(), and the test calls the API.
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/client.h"
#include "mqttsim/fakebroker.h"
#include "mqttsim/faults.h"
#include "testing/suites.h"
#include "client/transport.h"

#define MAX_LOG 256

static void sleep_us(long us)
{
	struct timespec t = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&t, NULL);
}

struct logged {
	enum mqtt_type type;
	uint16_t id;
	bool dup;
	uint8_t qos;
	char payload[32];
};

struct fake {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int pending_fd;      /* a new connection for the broker thread, or -1 */
	int fd;              /* the connection served */
	int dials, refuse_dials;
	uint8_t connack_code;
	bool silent_suback;  /* never answer SUBSCRIBE */
	bool ack_publish;    /* answer PUBLISH QoS 1/2 */
	bool deaf;           /* read and log, never answer (after CONNACK) */
	bool mute;           /* never answer anything, CONNECT included */
	const uint8_t *after_connack; /* sent right after CONNACK */
	size_t after_len;
	bool stop;
	struct logged log[MAX_LOG];
	int nlog;
	int publishes;       /* PUBLISH packets received, all of them */
	int client_fd;       /* the client's end of the last TCP dial */
	pthread_t thread;
};

static void fake_send(struct fake *f, const uint8_t *b, size_t n)
{
	if (f->fd >= 0 && write(f->fd, b, n) != (ssize_t)n)
		fprintf(stderr, "fake broker: write failed\n");
}

static void fake_packet(struct fake *f, const struct mqtt_packet *p)
{
	uint8_t buf[256];
	size_t n;
	if (mqtt_encode(buf, sizeof buf, p, MQTT_STRICT, &n) == MQTT_OK)
		fake_send(f, buf, n);
}

/* The broker sends the client a PUBLISH. */
static void fake_publish(struct fake *f, uint8_t qos, uint16_t id, const char *topic,
                         const char *payload)
{
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = qos;
	m.publish.packet_id = id;
	m.publish.topic = mqtt_slice_str(topic);
	m.publish.payload = mqtt_slice_str(payload);
	pthread_mutex_lock(&f->m);
	fake_packet(f, &m);
	pthread_mutex_unlock(&f->m);
}

static void respond(struct fake *f, const struct mqtt_packet *p)
{
	uint8_t r[4] = {0, 2, 0, 0};
	uint16_t id = 0;
	if (f->mute || (f->deaf && p->type != MQTT_CONNECT))
		return;
	switch (p->type) {
	case MQTT_CONNECT:
		r[0] = 0x20;
		r[3] = f->connack_code;
		fake_send(f, r, 4);
		if (f->after_len)
			fake_send(f, f->after_connack, f->after_len);
		return;
	case MQTT_PUBLISH:
		if (!p->publish.qos || !f->ack_publish)
			return;
		r[0] = p->publish.qos == 1 ? 0x40 : 0x50;
		id = p->publish.packet_id;
		break;
	case MQTT_PUBREL:
		r[0] = 0x70;
		id = p->ack.packet_id;
		break;
	case MQTT_SUBSCRIBE: {
		if (f->silent_suback)
			return;
		uint8_t codes[16] = {0};
		struct mqtt_packet a = {.type = MQTT_SUBACK};
		a.suback.packet_id = p->subscribe.packet_id;
		a.suback.return_codes.data = codes;
		a.suback.return_codes.len = p->subscribe.count;
		fake_packet(f, &a);
		return;
	}
	case MQTT_UNSUBSCRIBE:
		r[0] = 0xb0;
		id = p->subscribe.packet_id;
		break;
	case MQTT_PINGREQ:
		r[0] = 0xd0;
		r[1] = 0;
		fake_send(f, r, 2);
		return;
	default:
		return;
	}
	r[2] = (uint8_t)(id >> 8);
	r[3] = id ? (uint8_t)id : r[3];
	fake_send(f, r, 4);
}

static void *broker_main(void *arg)
{
	struct fake *f = arg;
	uint8_t fbuf[4096], in[4096];
	struct mqtt_framer fr;
	pthread_mutex_lock(&f->m);
	while (!f->stop) {
		if (f->pending_fd >= 0) {
			if (f->fd >= 0)
				close(f->fd);
			f->fd = f->pending_fd;
			f->pending_fd = -1;
			mqtt_framer_init(&fr, fbuf, sizeof fbuf);
		}
		int fd = f->fd;
		pthread_mutex_unlock(&f->m);
		struct pollfd p = {fd, POLLIN, 0};
		int n = fd >= 0 ? poll(&p, 1, 10) : (sleep_us(10000), 0);
		ssize_t got = n > 0 ? read(fd, in, sizeof in) : -1;
		pthread_mutex_lock(&f->m);
		if (n > 0 && got <= 0 && fd == f->fd) {
			close(f->fd);
			f->fd = -1;
			continue;
		}
		for (size_t off = 0; got > 0 && off < (size_t)got;) {
			size_t used;
			struct mqtt_frame frame;
			if (mqtt_framer_feed(&fr, in + off, (size_t)got - off, &used, &frame))
				break;
			off += used;
			struct mqtt_packet pk;
			if (!frame.len || mqtt_decode(&pk, frame.data, frame.len, MQTT_STRICT, NULL))
				continue;
			f->publishes += pk.type == MQTT_PUBLISH;
			if (f->nlog < MAX_LOG) {
				struct logged *l = &f->log[f->nlog++];
				l->type = pk.type;
				l->id = pk.type == MQTT_PUBLISH ? pk.publish.packet_id
				        : pk.type == MQTT_SUBSCRIBE || pk.type == MQTT_UNSUBSCRIBE ? pk.subscribe.packet_id
				                                                                  : pk.ack.packet_id;
				l->dup = pk.type == MQTT_PUBLISH && pk.publish.dup;
				l->qos = pk.type == MQTT_PUBLISH ? pk.publish.qos : 0;
				if (pk.type == MQTT_PUBLISH)
					snprintf(l->payload, sizeof l->payload, "%.*s", (int)pk.publish.payload.len,
					         (const char *)pk.publish.payload.data);
			}
			respond(f, &pk);
		}
		pthread_cond_broadcast(&f->cv);
	}
	if (f->fd >= 0)
		close(f->fd);
	pthread_mutex_unlock(&f->m);
	return NULL;
}

static int fake_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms);

static void fake_start(struct fake *f)
{
	memset(f, 0, sizeof *f);
	pthread_mutex_init(&f->m, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->pending_fd = f->fd = -1;
	f->ack_publish = true;
	pthread_create(&f->thread, NULL, broker_main, f);
}

static void fake_stop(struct fake *f)
{
	pthread_mutex_lock(&f->m);
	f->stop = true;
	pthread_mutex_unlock(&f->m);
	pthread_join(f->thread, NULL);
	if (f->pending_fd >= 0)
		close(f->pending_fd);
}

/* Waits (up to 5 s) until the broker logged n packets. */
static bool fake_wait_log(struct fake *f, int n)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&f->m);
	while (f->nlog < n)
		if (pthread_cond_timedwait(&f->cv, &f->m, &deadline) == ETIMEDOUT)
			break;
	bool ok = f->nlog >= n;
	pthread_mutex_unlock(&f->m);
	return ok;
}

/* A dialer that makes a socketpair per dial and hands one end to the broker. */
static int fake_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	(void)timeout_ms;
	struct fake *f = arg;
	pthread_mutex_lock(&f->m);
	f->dials++;
	if (f->refuse_dials > 0) {
		f->refuse_dials--;
		pthread_mutex_unlock(&f->m);
		return -ECONNREFUSED;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		pthread_mutex_unlock(&f->m);
		return -errno;
	}
	if (f->pending_fd >= 0)
		close(f->pending_fd);
	f->pending_fd = sv[0];
	pthread_mutex_unlock(&f->m);
	transport_fd_conn(out, sv[1]); /* the library's own plain connection */
	return 0;
}

/* The read routine, in a thread of its own; messages and errors logged. */
struct reader {
	struct mqtt_client *c;
	pthread_t thread;
	pthread_mutex_t m;
	char messages[16][64];
	int nmessages;
	enum mqtt_class errors[64];
	int nerrors;
	int hold; /* messages to keep unacknowledged (stop reading after) */
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	for (;;) {
		struct mqtt_message msg;
		struct mqtt_error e = mqtt_client_read(r->c, &msg);
		pthread_mutex_lock(&r->m);
		if (e.cls == MQTT_SUCCESS && r->nmessages < 16) {
			snprintf(r->messages[r->nmessages++], 64, "%.*s=%.*s", (int)msg.topic.len,
			         (const char *)msg.topic.data, (int)msg.payload.len,
			         (const char *)msg.payload.data);
		} else if (e.cls && r->nerrors < 64) {
			r->errors[r->nerrors++] = e.cls;
		}
		bool holding = r->hold && r->nmessages >= r->hold;
		pthread_mutex_unlock(&r->m);
		while (holding) { /* the application sits on the message */
			sleep_us(5000);
			pthread_mutex_lock(&r->m);
			holding = r->hold && r->nmessages >= r->hold;
			pthread_mutex_unlock(&r->m);
		}
		if (e.cls == MQTT_CLOSED)
			return NULL;
		if (e.cls != MQTT_SUCCESS)
			mqtt_client_backoff(r->c, NULL);
	}
}

/* A volatile client dialing through dial(arg). */
static struct mqtt_client *client_via(int (*dial)(void *, struct mqtt_conn *, uint32_t), void *arg,
                                      struct mqtt_session_config sc)
{
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.session = sc;
	cfg.dialer.dial = dial;
	cfg.dialer.arg = arg;
	struct mqtt_client *c = NULL;
	struct mqtt_error e = mqtt_client_new(&c, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL);
	CU_ASSERT_EQUAL(e.cls, MQTT_SUCCESS);
	return c;
}

static struct mqtt_client *client_for(struct fake *f, struct mqtt_session_config sc)
{
	return client_via(fake_dial, f, sc);
}

static struct mqtt_session_config quick_config(void)
{
	struct mqtt_session_config sc;
	memset(&sc, 0, sizeof sc);
	sc.client_id = mqtt_slice_str("threaded");
	sc.clean_session = true;
	sc.at_least_once_max = 16;
	sc.exactly_once_max = 16;
	sc.reconnect_wait_min_ms = 20;
	sc.reconnect_wait_max_ms = 40;
	return sc;
}

static void reader_start(struct reader *r, struct mqtt_client *c)
{
	memset(r, 0, sizeof *r);
	r->c = c;
	pthread_mutex_init(&r->m, NULL);
	pthread_create(&r->thread, NULL, reader_main, r);
}

static bool reader_saw(struct reader *r, enum mqtt_class cls, int wait_ms)
{
	for (int waited = 0; waited <= wait_ms; waited += 10) {
		pthread_mutex_lock(&r->m);
		bool seen = false;
		for (int i = 0; i < r->nerrors; i++)
			seen |= r->errors[i] == cls;
		pthread_mutex_unlock(&r->m);
		if (seen)
			return true;
		sleep_us(10000);
	}
	return false;
}

static void test_round_trips(void)
{
	struct fake f;
	fake_start(&f);
	struct mqtt_client *c = client_for(&f, quick_config());
	CU_ASSERT_FATAL(c != NULL);
	struct reader r;
	reader_start(&r, c);
	struct mqtt_cancel timeout = MQTT_CANCEL_INIT;
	CU_ASSERT(mqtt_client_wait_online(c, NULL));

	struct mqtt_topic filters[2] = {{mqtt_slice_str("a/#"), 1}, {mqtt_slice_str("b"), 2}};
	CU_ASSERT_EQUAL(mqtt_client_subscribe(c, &timeout, filters, 2).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(mqtt_client_ping(c, NULL).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 0, false, mqtt_slice_str("t"), mqtt_slice_str("zero"), NULL).cls,
	                MQTT_SUCCESS);
	int efd = mqtt_client_event_fd(c);
	CU_ASSERT(efd >= 0);
	struct mqtt_exchange *x1, *x2;
	CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 1, false, mqtt_slice_str("t"), mqtt_slice_str("one"), &x1).cls,
	                MQTT_SUCCESS);
	CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 2, true, mqtt_slice_str("t"), mqtt_slice_str("two"), &x2).cls,
	                MQTT_SUCCESS);
	CU_ASSERT_FATAL(x1 && x2);
	CU_ASSERT_EQUAL(mqtt_exchange_wait(x1, MQTT_EXCHANGE_DONE, NULL), MQTT_EXCHANGE_DONE);
	CU_ASSERT_EQUAL(mqtt_exchange_wait(x2, MQTT_EXCHANGE_DONE, NULL), MQTT_EXCHANGE_DONE);
	struct pollfd p = {efd, POLLIN, 0};
	CU_ASSERT_EQUAL(poll(&p, 1, 0), 1); /* the descriptor tells of progress */
	mqtt_exchange_release(x1);
	mqtt_exchange_release(x2);
	CU_ASSERT_EQUAL(mqtt_client_unsubscribe(c, NULL, filters, 1).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 1, false, mqtt_slice_str("a/+"), mqtt_slice_str("x"), NULL).cls,
	                MQTT_DENY);
	CU_ASSERT_EQUAL(mqtt_client_disconnect(c, NULL).cls, MQTT_SUCCESS);
	pthread_join(r.thread, NULL);
	CU_ASSERT(fake_wait_log(&f, 9));
	static const enum mqtt_type want[] = {
		MQTT_CONNECT, MQTT_SUBSCRIBE, MQTT_PINGREQ, MQTT_PUBLISH, MQTT_PUBLISH,
		MQTT_PUBLISH, MQTT_PUBREL, MQTT_UNSUBSCRIBE, MQTT_DISCONNECT,
	};
	pthread_mutex_lock(&f.m);
	CU_ASSERT_EQUAL(f.nlog, 9);
	for (int i = 0; i < 9 && i < f.nlog; i++)
		CU_ASSERT_EQUAL(f.log[i].type, want[i]);
	pthread_mutex_unlock(&f.m);
	CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 0, false, mqtt_slice_str("t"), mqtt_slice_str("x"), NULL).cls,
	                MQTT_CLOSED);
	mqtt_client_free(c);
	fake_stop(&f);
}

static void test_inbound_ack_after_read(void)
{
	struct fake f;
	fake_start(&f);
	struct mqtt_client *c = client_for(&f, quick_config());
	struct reader r;
	reader_start(&r, c);
	r.hold = 1;
	CU_ASSERT(mqtt_client_wait_online(c, NULL));
	fake_publish(&f, 1, 42, "in", "hello");
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&r.m);
		int n = r.nmessages;
		pthread_mutex_unlock(&r.m);
		if (n)
			break;
		sleep_us(2000);
	}
	pthread_mutex_lock(&r.m);
	CU_ASSERT_EQUAL(r.nmessages, 1);
	CU_ASSERT_STRING_EQUAL(r.messages[0], "in=hello");
	pthread_mutex_unlock(&r.m);
	sleep_us(50000);
	pthread_mutex_lock(&f.m);
	int before = f.nlog; /* CONNECT only: no PUBACK while the app holds it */
	pthread_mutex_unlock(&f.m);
	CU_ASSERT_EQUAL(before, 1);
	pthread_mutex_lock(&r.m);
	r.hold = 0; /* the application reads on */
	pthread_mutex_unlock(&r.m);
	CU_ASSERT(fake_wait_log(&f, 2));
	pthread_mutex_lock(&f.m);
	CU_ASSERT(f.log[1].type == MQTT_PUBACK && f.log[1].id == 42);
	pthread_mutex_unlock(&f.m);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
}

static void test_refused_and_reconnect_resends(void)
{
	struct fake f;
	fake_start(&f);
	f.connack_code = MQTT_CONNACK_NOT_AUTHORIZED;
	struct mqtt_client *c = client_for(&f, quick_config());
	/* Before any connection: QoS 1 is accepted and waits. */
	struct mqtt_exchange *x;
	CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 1, false, mqtt_slice_str("t"), mqtt_slice_str("kept"), &x).cls,
	                MQTT_SUCCESS);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT(fake_wait_log(&f, 1));
	CU_ASSERT(reader_saw(&r, MQTT_REFUSED, 5000));
	/* Let it in, but drop acknowledgements: then cut the connection. */
	pthread_mutex_lock(&f.m);
	f.connack_code = 0;
	f.ack_publish = false;
	pthread_mutex_unlock(&f.m);
	CU_ASSERT(mqtt_client_wait_online(c, NULL));
	CU_ASSERT(fake_wait_log(&f, 3)); /* CONNECT refused, CONNECT, PUBLISH */
	pthread_mutex_lock(&f.m);
	shutdown(f.fd, SHUT_RDWR);
	f.ack_publish = true;
	pthread_mutex_unlock(&f.m);
	CU_ASSERT_EQUAL(mqtt_exchange_wait(x, MQTT_EXCHANGE_DONE, NULL), MQTT_EXCHANGE_DONE);
	mqtt_exchange_release(x);
	pthread_mutex_lock(&f.m);
	int publishes = 0, dups = 0;
	for (int i = 0; i < f.nlog; i++) {
		if (f.log[i].type == MQTT_PUBLISH) {
			publishes++;
			dups += f.log[i].dup;
			CU_ASSERT_STRING_EQUAL(f.log[i].payload, "kept");
		}
	}
	pthread_mutex_unlock(&f.m);
	CU_ASSERT(publishes >= 2);
	CU_ASSERT_EQUAL(dups, publishes - 1); /* every resend carries DUP */
	pthread_mutex_lock(&r.m);
	bool saw_io = false;
	for (int i = 0; i < r.nerrors; i++)
		saw_io |= r.errors[i] == MQTT_IO;
	pthread_mutex_unlock(&r.m);
	CU_ASSERT(saw_io);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
}

static void *fire_later(void *arg)
{
	sleep_us(100000);
	mqtt_cancel_fire(arg);
	return NULL;
}

static void test_cancel(void)
{
	struct fake f;
	fake_start(&f);
	f.silent_suback = true;
	struct mqtt_client *c = client_for(&f, quick_config());
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT(mqtt_client_wait_online(c, NULL));
	struct mqtt_cancel cancel = MQTT_CANCEL_INIT;
	mqtt_cancel_fire(&cancel);
	struct mqtt_topic t = {mqtt_slice_str("x"), 0};
	/* Fired before: the request is not sent. */
	CU_ASSERT_EQUAL(mqtt_client_subscribe(c, &cancel, &t, 1).cls, MQTT_CANCELED);
	CU_ASSERT_EQUAL(mqtt_client_publish(c, &cancel, 0, false, mqtt_slice_str("t"), mqtt_slice_str("x"), NULL).cls,
	                MQTT_CANCELED);
	/* Fired while the SUBACK is awaited: sent, outcome unknown. */
	struct mqtt_cancel later = MQTT_CANCEL_INIT;
	pthread_t firer;
	pthread_create(&firer, NULL, fire_later, &later);
	CU_ASSERT_EQUAL(mqtt_client_subscribe(c, &later, &t, 1).cls, MQTT_ABANDONED);
	pthread_join(firer, NULL);
	CU_ASSERT(fake_wait_log(&f, 2));
	pthread_mutex_lock(&f.m);
	CU_ASSERT_EQUAL(f.nlog, 2); /* CONNECT and the one SUBSCRIBE */
	CU_ASSERT_EQUAL(f.log[1].type, MQTT_SUBSCRIBE);
	pthread_mutex_unlock(&f.m);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	CU_ASSERT_EQUAL(mqtt_client_subscribe(c, NULL, &t, 1).cls, MQTT_CLOSED);
	mqtt_client_free(c);
	fake_stop(&f);
}

static void test_dial_failures_back_off(void)
{
	struct fake f;
	fake_start(&f);
	f.refuse_dials = 3;
	struct mqtt_client *c = client_for(&f, quick_config());
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT(mqtt_client_wait_online(c, NULL));
	pthread_mutex_lock(&f.m);
	CU_ASSERT_EQUAL(f.dials, 4);
	pthread_mutex_unlock(&f.m);
	pthread_mutex_lock(&r.m);
	int io = 0;
	for (int i = 0; i < r.nerrors; i++)
		io += r.errors[i] == MQTT_IO;
	pthread_mutex_unlock(&r.m);
	CU_ASSERT_EQUAL(io, 3);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
}

/* A broker that closes while the client writes: EPIPE, never SIGPIPE
 * (whose default action would end this test program). */
static void test_no_sigpipe(void)
{
	int sv[2];
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.session = quick_config();
	CU_ASSERT_EQUAL_FATAL(mqtt_dialer_fd(&cfg.dialer, sv[1]), 0);
	struct mqtt_client *c = NULL;
	CU_ASSERT_EQUAL_FATAL(mqtt_client_new(&c, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls,
	                      MQTT_SUCCESS);
	struct reader r;
	reader_start(&r, c);
	uint8_t connect[64];
	CU_ASSERT(read(sv[0], connect, sizeof connect) > 0);
	static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
	CU_ASSERT_EQUAL(write(sv[0], connack, sizeof connack), (ssize_t)sizeof connack);
	CU_ASSERT(mqtt_client_wait_online(c, NULL));
	close(sv[0]);
	static uint8_t big[65536];
	struct mqtt_error e = {MQTT_SUCCESS, 0};
	for (int i = 0; i < 50 && e.cls == MQTT_SUCCESS; i++) {
		struct mqtt_slice p = {big, sizeof big};
		e = mqtt_client_publish(c, NULL, 0, false, mqtt_slice_str("t"), p, NULL);
	}
	CU_ASSERT(e.cls == MQTT_BREAK || e.cls == MQTT_DOWN);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
}

/* Keep-alive through the driver: a PINGREQ when idle; a broker that
 * stops answering is given up (MQTT_TIMEOUT) and the client reconnects. */
static void test_keep_alive_gives_up_on_silence(void)
{
	struct fake f;
	fake_start(&f);
	struct mqtt_session_config sc = quick_config();
	sc.keep_alive = 1;
	struct mqtt_client *c = client_for(&f, sc);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT(mqtt_client_wait_online(c, NULL));
	CU_ASSERT(fake_wait_log(&f, 2)); /* CONNECT, then a PINGREQ after ~1 s */
	pthread_mutex_lock(&f.m);
	CU_ASSERT_EQUAL(f.log[1].type, MQTT_PINGREQ);
	f.deaf = true;
	pthread_mutex_unlock(&f.m);
	CU_ASSERT(reader_saw(&r, MQTT_TIMEOUT, 5000));
	CU_ASSERT(mqtt_client_wait_online(c, NULL)); /* and back */
	pthread_mutex_lock(&f.m);
	CU_ASSERT(f.dials >= 2);
	pthread_mutex_unlock(&f.m);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
}

/* PauseTimeout: a broker that accepts the connection but never answers
 * CONNECT is given up after the pause timeout, and redialed. */
static void test_pause_timeout_on_stalled_broker(void)
{
	struct fake f;
	fake_start(&f);
	f.mute = true;
	struct mqtt_session_config sc = quick_config();
	sc.pause_timeout_ms = 300;
	struct mqtt_client *c = client_for(&f, sc);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT(reader_saw(&r, MQTT_TIMEOUT, 3000));
	CU_ASSERT_FALSE(mqtt_client_online(c));
	CU_ASSERT(fake_wait_log(&f, 2)); /* a second CONNECT: it redialed */
	pthread_mutex_lock(&f.m);
	CU_ASSERT_EQUAL(f.log[0].type, MQTT_CONNECT);
	CU_ASSERT_EQUAL(f.log[1].type, MQTT_CONNECT);
	pthread_mutex_unlock(&f.m);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
}

/* Big messages through the driver: one read whole (read_all), one
 * skipped; both acknowledged; the stream goes on after them. */
static void test_big_message_read_all(void)
{
	static uint8_t wire[2 * 100100 + 64];
	static uint8_t payload[100000];
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 13 + 1);
	size_t n = 0, k;
	for (uint16_t id = 1; id <= 2; id++) {
		struct mqtt_packet m = {.type = MQTT_PUBLISH};
		m.publish.qos = 1;
		m.publish.packet_id = id;
		m.publish.topic = mqtt_slice_str(id == 1 ? "big/1" : "big/2");
		m.publish.payload.data = payload;
		m.publish.payload.len = sizeof payload;
		CU_ASSERT_EQUAL_FATAL(mqtt_encode(wire + n, sizeof wire - n, &m, 0, &k), MQTT_OK);
		n += k;
	}
	struct mqtt_packet small = {.type = MQTT_PUBLISH};
	small.publish.topic = mqtt_slice_str("small");
	small.publish.payload = mqtt_slice_str("after");
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(wire + n, sizeof wire - n, &small, 0, &k), MQTT_OK);
	n += k;

	struct fake f;
	fake_start(&f);
	f.after_connack = wire;
	f.after_len = n;
	struct mqtt_session_config sc = quick_config();
	sc.read_buffer_size = 4096;
	struct mqtt_client *c = client_for(&f, sc);
	struct mqtt_message msg;
	struct mqtt_error e = mqtt_client_read(c, &msg);
	CU_ASSERT_EQUAL_FATAL(e.cls, MQTT_BIG_MESSAGE);
	CU_ASSERT_EQUAL(e.code, (int)sizeof payload);
	CU_ASSERT(msg.topic.len == 5 && !memcmp(msg.topic.data, "big/1", 5));
	uint8_t *all = NULL;
	e = mqtt_client_read_all(c, &msg, &all);
	CU_ASSERT_EQUAL_FATAL(e.cls, MQTT_SUCCESS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(all);
	CU_ASSERT(msg.payload.len == sizeof payload && !memcmp(all, payload, sizeof payload));
	free(all);
	e = mqtt_client_read(c, &msg); /* acknowledges big/1; reports big/2 */
	CU_ASSERT_EQUAL(e.cls, MQTT_BIG_MESSAGE);
	CU_ASSERT(msg.topic.len == 5 && !memcmp(msg.topic.data, "big/2", 5));
	e = mqtt_client_read(c, &msg); /* skips big/2 */
	CU_ASSERT_EQUAL(e.cls, MQTT_SUCCESS);
	CU_ASSERT(msg.topic.len == 5 && !memcmp(msg.topic.data, "small", 5));
	CU_ASSERT_EQUAL(mqtt_client_read_all(c, &msg, &all).cls, MQTT_DENY); /* nothing to claim */
	CU_ASSERT(fake_wait_log(&f, 3));
	pthread_mutex_lock(&f.m);
	CU_ASSERT(f.log[1].type == MQTT_PUBACK && f.log[1].id == 1);
	CU_ASSERT(f.log[2].type == MQTT_PUBACK && f.log[2].id == 2);
	pthread_mutex_unlock(&f.m);
	mqtt_client_close(c);
	CU_ASSERT_EQUAL(mqtt_client_read(c, &msg).cls, MQTT_CLOSED);
	mqtt_client_free(c);
	fake_stop(&f);
}

/* The in-flight window through the driver: a broker that does not
 * acknowledge fills it; MQTT_MAX then, never blocking. */
static void test_window_full(void)
{
	struct fake f;
	fake_start(&f);
	f.ack_publish = false;
	struct mqtt_session_config sc = quick_config();
	sc.at_least_once_max = 3;
	struct mqtt_client *c = client_for(&f, sc);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT(mqtt_client_wait_online(c, NULL));
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 1, false, mqtt_slice_str("t"), mqtt_slice_str("w"),
		                                    NULL).cls, MQTT_SUCCESS);
	struct mqtt_error e = mqtt_client_publish(c, NULL, 1, false, mqtt_slice_str("t"), mqtt_slice_str("w"), NULL);
	CU_ASSERT_EQUAL(e.cls, MQTT_MAX);
	CU_ASSERT(mqtt_error_not_sent(e));
	CU_ASSERT(fake_wait_log(&f, 4)); /* CONNECT and three PUBLISH, no fourth */
	sleep_us(50000);
	pthread_mutex_lock(&f.m);
	CU_ASSERT_EQUAL(f.nlog, 4);
	pthread_mutex_unlock(&f.m);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
}

/* The test transports below start with their descriptor: these serve them all. */
static ssize_t fd_conn_read(void *self, void *buf, size_t len)
{
	return read(*(int *)self, buf, len);
}

static ssize_t fd_conn_send(void *self, const struct iovec *iov, int n)
{
	struct msghdr m;
	memset(&m, 0, sizeof m);
	m.msg_iov = (struct iovec *)(uintptr_t)iov;
	m.msg_iovlen = (size_t)n;
	return sendmsg(*(int *)self, &m, MSG_NOSIGNAL);
}

static void fd_conn_close(void *self)
{
	close(*(int *)self);
}

/* A transport that counts its writes and the pieces of each, and that
 * can hold a writer inside its write until the test lets it go: what
 * others queue meanwhile is then known, not a matter of timing. */
struct gated_conn {
	int fd;
	pthread_mutex_t m;
	pthread_cond_t cond;
	bool hold, holding;
	int writes, last_pieces;
};

static ssize_t gated_writev(void *self, const struct iovec *iov, int n)
{
	struct gated_conn *gc = self;
	pthread_mutex_lock(&gc->m);
	gc->writes++;
	gc->last_pieces = n;
	while (gc->hold) {
		gc->holding = true;
		pthread_cond_broadcast(&gc->cond);
		pthread_cond_wait(&gc->cond, &gc->m);
	}
	gc->holding = false;
	pthread_mutex_unlock(&gc->m);
	return fd_conn_send(self, iov, n);
}

static const struct mqtt_conn_ops gated_ops = {fd_conn_read, gated_writev, NULL, fd_conn_close, NULL, NULL};

struct gated_dialer {
	struct fake *f;
	struct gated_conn conn;
};

static int gated_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	struct gated_dialer *d = arg;
	struct mqtt_conn inner;
	int rc = fake_dial(d->f, &inner, timeout_ms);
	if (rc)
		return rc;
	d->conn.fd = inner.fd;
	out->ops = &gated_ops;
	out->self = &d->conn;
	out->fd = inner.fd;
	return 0;
}

static int gated_writes(struct gated_conn *gc, int *last_pieces)
{
	pthread_mutex_lock(&gc->m);
	int n = gc->writes;
	if (last_pieces)
		*last_pieces = gc->last_pieces;
	pthread_mutex_unlock(&gc->m);
	return n;
}

/* What reached the wire and what reached the store, in one order: a
 * transport and a store that note each packet written and each save. */
struct order_log {
	int fd; /* first: fd_conn_read and fd_conn_close serve it */
	pthread_mutex_t m;
	char what[128][16];
	int n;
	struct fake *f;
	struct mqtt_store inner;
};

static void order_note(struct order_log *l, const char *what)
{
	pthread_mutex_lock(&l->m);
	if (l->n < 128)
		snprintf(l->what[l->n++], sizeof l->what[0], "%s", what);
	pthread_mutex_unlock(&l->m);
}

/* The position of the first note what, or -1. */
static int order_at(struct order_log *l, const char *what)
{
	pthread_mutex_lock(&l->m);
	int at = -1;
	for (int i = 0; i < l->n && at < 0; i++)
		if (!strcmp(l->what[i], what))
			at = i;
	pthread_mutex_unlock(&l->m);
	return at;
}

static ssize_t ordered_writev(void *self, const struct iovec *iov, int n)
{
	struct order_log *l = self;
	uint8_t flat[4096];
	size_t len = 0;
	for (int i = 0; i < n && len + iov[i].iov_len <= sizeof flat; i++) {
		memcpy(flat + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	/* The packets written (all short here: one length byte). */
	for (size_t at = 0; at + 1 < len; at += 2 + (size_t)flat[at + 1]) {
		char note[16];
		snprintf(note, sizeof note, "write %s", mqtt_type_name((enum mqtt_type)(flat[at] >> 4)));
		order_note(l, note);
	}
	return fd_conn_send(self, iov, n);
}

static const struct mqtt_conn_ops ordered_ops = {fd_conn_read, ordered_writev, NULL, fd_conn_close,
                                                 NULL, NULL};

static int ordered_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	struct order_log *l = arg;
	struct mqtt_conn inner;
	int rc = fake_dial(l->f, &inner, timeout_ms);
	if (rc)
		return rc;
	l->fd = inner.fd;
	*out = (struct mqtt_conn){&ordered_ops, l, inner.fd};
	return 0;
}

static int ordered_load(void *self, uint32_t key, uint8_t **value, size_t *len)
{
	struct order_log *l = self;
	return l->inner.ops->load(l->inner.self, key, value, len);
}

static int ordered_save(void *self, uint32_t key, const struct iovec *iov, int iovcnt)
{
	struct order_log *l = self;
	char note[16];
	snprintf(note, sizeof note, "save %05x", (unsigned)key);
	order_note(l, note);
	return l->inner.ops->save(l->inner.self, key, iov, iovcnt);
}

static int ordered_remove(void *self, uint32_t key)
{
	struct order_log *l = self;
	return l->inner.ops->remove(l->inner.self, key);
}

static int ordered_list(void *self, int (*each)(void *arg, uint32_t key), void *arg)
{
	struct order_log *l = self;
	return l->inner.ops->list(l->inner.self, each, arg);
}

static void ordered_store_close(void *self)
{
	struct order_log *l = self;
	mqtt_store_close(&l->inner);
}

static const struct mqtt_store_ops ordered_store_ops = {ordered_load, ordered_save, ordered_remove,
                                                        ordered_list, ordered_store_close};

/*
 * A PUBREL and the next QoS 2 PUBLISH in one read: the PUBCOMP goes out
 * before that message's identifier is saved. Before, the client saved it
 * and then wrote the PUBCOMP inside the read that returned the message: a
 * process killed in that write had lost the message for good (its resend
 * refused as a duplicate).
 */
static void test_qos2_identifier_saved_after_the_read_wrote(void)
{
	struct fake f;
	fake_start(&f);
	struct order_log l;
	memset(&l, 0, sizeof l);
	pthread_mutex_init(&l.m, NULL);
	l.f = &f;
	CU_ASSERT_FATAL(mqtt_store_mem(&l.inner) == 0);
	struct mqtt_store store = {&ordered_store_ops, &l};
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.session = quick_config();
	cfg.session.clean_session = false;
	cfg.dialer.dial = ordered_dial;
	cfg.dialer.arg = &l;
	struct mqtt_client *c = NULL;
	CU_ASSERT_EQUAL_FATAL(mqtt_client_new(&c, &cfg, MQTT_SESSION_INIT, &store, NULL, NULL).cls,
	                      MQTT_SUCCESS);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT(mqtt_client_wait_online(c, NULL));
	fake_publish(&f, 2, 1, "in", "one");
	CU_ASSERT_FATAL(fake_wait_log(&f, 2)); /* CONNECT, the PUBREC of the first */
	/* Its PUBREL and the next message in one write, so in one read. */
	uint8_t both[64];
	size_t n1, n2;
	struct mqtt_packet rel = {.type = MQTT_PUBREL};
	rel.ack.packet_id = 1;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(both, sizeof both, &rel, MQTT_STRICT, &n1), MQTT_OK);
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = 2;
	m.publish.packet_id = 2;
	m.publish.topic = mqtt_slice_str("in");
	m.publish.payload = mqtt_slice_str("two");
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(both + n1, sizeof both - n1, &m, MQTT_STRICT, &n2), MQTT_OK);
	pthread_mutex_lock(&f.m);
	fake_send(&f, both, n1 + n2);
	pthread_mutex_unlock(&f.m);
	CU_ASSERT(fake_wait_log(&f, 4)); /* the PUBCOMP of the first, the PUBREC of the second */
	pthread_mutex_lock(&r.m);
	CU_ASSERT_EQUAL(r.nmessages, 2);
	pthread_mutex_unlock(&r.m);
	char saved2[16];
	snprintf(saved2, sizeof saved2, "save %05x", (unsigned)(MQTT_KEY_INBOUND | 2));
	int comp = order_at(&l, "write PUBCOMP"), save = order_at(&l, saved2);
	CU_ASSERT(comp >= 0 && save >= 0);
	CU_ASSERT(comp < save);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
	mqtt_store_close(&store);
}

static bool fake_wait_publishes(struct fake *f, int n)
{
	for (int waited = 0; waited < 5000; waited += 10) {
		pthread_mutex_lock(&f->m);
		int got = f->publishes;
		pthread_mutex_unlock(&f->m);
		if (got >= n)
			return got == n;
		sleep_us(10000);
	}
	return false;
}

/* A thread's run of n QoS 0 publishes; its result is NULL when all
 * succeeded. */
struct qos0_run {
	struct mqtt_client *c;
	int n;
};

static void *publish_qos0_run(void *arg)
{
	struct qos0_run *run = arg;
	for (int i = 0; i < run->n; i++)
		if (mqtt_client_publish(run->c, NULL, 0, false, mqtt_slice_str("g"), mqtt_slice_str("q0"), NULL).cls)
			return (void *)1;
	return NULL;
}

#define QUEUED_WHILE_WRITING 10

/* Group commit: while one thread is inside a write, others only queue,
 * and the writer, once done, takes all of it in the next write. */
static void test_group_commit(void)
{
	struct fake f;
	fake_start(&f);
	struct gated_dialer d = {.f = &f};
	pthread_mutex_init(&d.conn.m, NULL);
	pthread_cond_init(&d.conn.cond, NULL);
	struct mqtt_client *c = client_via(gated_dial, &d, quick_config());
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT(mqtt_client_wait_online(c, NULL));
	int before = gated_writes(&d.conn, NULL);

	pthread_mutex_lock(&d.conn.m);
	d.conn.hold = true;
	pthread_mutex_unlock(&d.conn.m);
	pthread_t writer;
	struct qos0_run one = {c, 1};
	pthread_create(&writer, NULL, publish_qos0_run, &one);
	pthread_mutex_lock(&d.conn.m);
	while (!d.conn.holding)
		pthread_cond_wait(&d.conn.cond, &d.conn.m);
	pthread_mutex_unlock(&d.conn.m);
	/* A QoS 1 publish returns once queued: with a write under way it
	 * must neither write nor wait for the writer. */
	for (int i = 0; i < QUEUED_WHILE_WRITING; i++)
		CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 1, false, mqtt_slice_str("g"), mqtt_slice_str("queued"), NULL).cls,
		                MQTT_SUCCESS);
	CU_ASSERT_EQUAL(gated_writes(&d.conn, NULL), before + 1);
	pthread_mutex_lock(&d.conn.m);
	d.conn.hold = false;
	pthread_cond_broadcast(&d.conn.cond);
	pthread_mutex_unlock(&d.conn.m);
	void *res;
	pthread_join(writer, &res);
	CU_ASSERT_PTR_NULL(res);
	CU_ASSERT(fake_wait_publishes(&f, 1 + QUEUED_WHILE_WRITING));
	int pieces = 0;
	CU_ASSERT_EQUAL(gated_writes(&d.conn, &pieces), before + 2);
	CU_ASSERT_EQUAL(pieces, QUEUED_WHILE_WRITING); /* each PUBLISH in place, one write */
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
	pthread_cond_destroy(&d.conn.cond);
	pthread_mutex_destroy(&d.conn.m);
}

#define PUBLISHERS 4
#define EACH 200

/* Publishers on several threads at once: each call succeeds, every
 * message arrives once (TSan watches the sharing of the writer). */
static void test_concurrent_publishers(void)
{
	struct fake f;
	fake_start(&f);
	struct gated_dialer d = {.f = &f};
	pthread_mutex_init(&d.conn.m, NULL);
	pthread_cond_init(&d.conn.cond, NULL);
	struct mqtt_client *c = client_via(gated_dial, &d, quick_config());
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT(mqtt_client_wait_online(c, NULL));
	struct qos0_run each = {c, EACH};
	pthread_t t[PUBLISHERS];
	for (int i = 0; i < PUBLISHERS; i++)
		pthread_create(&t[i], NULL, publish_qos0_run, &each);
	bool failed = false;
	for (int i = 0; i < PUBLISHERS; i++) {
		void *res;
		pthread_join(t[i], &res);
		failed |= res != NULL;
	}
	CU_ASSERT_FALSE(failed);
	CU_ASSERT(fake_wait_publishes(&f, PUBLISHERS * EACH));
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
	pthread_cond_destroy(&d.conn.cond);
	pthread_mutex_destroy(&d.conn.m);
}

/* A transport whose first connection breaks on its second write: the
 * CONNECT goes out, the next write fails with nothing written. */
struct breaking_conn {
	int fd;
	int writes;
	bool breaks;
};

static ssize_t breaking_writev(void *self, const struct iovec *iov, int n)
{
	struct breaking_conn *bc = self;
	if (bc->breaks && bc->writes++ >= 1) {
		shutdown(bc->fd, SHUT_RDWR);
		errno = EPIPE;
		return -1;
	}
	return fd_conn_send(self, iov, n);
}

static const struct mqtt_conn_ops breaking_ops = {fd_conn_read, breaking_writev, NULL, fd_conn_close, NULL, NULL};

struct breaking_dialer {
	struct fake *f;
	struct breaking_conn conn[4];
	int dials;
};

static int breaking_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	struct breaking_dialer *d = arg;
	struct mqtt_conn inner;
	int rc = fake_dial(d->f, &inner, timeout_ms);
	if (rc || d->dials == 4)
		return rc ? rc : -EMFILE;
	struct breaking_conn *bc = &d->conn[d->dials];
	*bc = (struct breaking_conn){inner.fd, 0, d->dials == 0};
	d->dials++;
	*out = (struct mqtt_conn){&breaking_ops, bc, inner.fd};
	return 0;
}

/* A PUBLISH whose write failed with not a byte written was never on the
 * wire: its next send is its first, DUP clear [MQTT-3.3.1-1]. (Found by
 * mqttsim run --real: the driver counted bytes as written when it took
 * them from the core, before the write.) */
static void test_unwritten_publish_resent_without_dup(void)
{
	struct fake f;
	fake_start(&f);
	struct breaking_dialer d = {.f = &f};
	struct mqtt_client *c = client_via(breaking_dial, &d, quick_config());
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT(mqtt_client_wait_online(c, NULL));
	struct mqtt_exchange *x = NULL;
	CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 1, false, mqtt_slice_str("t"), mqtt_slice_str("once"), &x).cls,
	                MQTT_SUCCESS);
	CU_ASSERT_EQUAL(mqtt_exchange_wait(x, MQTT_EXCHANGE_DONE, NULL), MQTT_EXCHANGE_DONE);
	mqtt_exchange_release(x);
	CU_ASSERT(d.dials >= 2);
	pthread_mutex_lock(&f.m);
	int publishes = 0, dups = 0;
	for (int i = 0; i < f.nlog; i++)
		if (f.log[i].type == MQTT_PUBLISH) {
			publishes++;
			dups += f.log[i].dup;
		}
	pthread_mutex_unlock(&f.m);
	CU_ASSERT_EQUAL(publishes, 1);
	CU_ASSERT_EQUAL(dups, 0);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
}

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* One thread connects, publishes and reads: mqtt_client_read_wait()
 * returns at each exchange's progress, at its deadline, or with a message. */
static void test_read_wait_drives_from_one_thread(void)
{
	struct fake f;
	fake_start(&f);
	struct mqtt_client *c = client_for(&f, quick_config());
	CU_ASSERT_FATAL(c != NULL);
	struct mqtt_message msg;
	struct mqtt_error e;
	for (int i = 0; i < 100 && !mqtt_client_online(c); i++) {
		e = mqtt_client_read_wait(c, &msg, 20);
		CU_ASSERT(e.cls == MQTT_CANCELED || e.cls == MQTT_SUCCESS);
	}
	CU_ASSERT_FATAL(mqtt_client_online(c));
	/* Nothing to do: back at the deadline, nothing read. */
	uint64_t t0 = mono_ms();
	e = mqtt_client_read_wait(c, &msg, 30);
	CU_ASSERT_EQUAL(e.cls, MQTT_CANCELED);
	CU_ASSERT(mono_ms() - t0 >= 29);
	CU_ASSERT_PTR_NULL(msg.topic.data);
	/* A QoS 2 exchange: back as it moves (PUBREC, then PUBCOMP), long
	 * before the deadline. */
	struct mqtt_exchange *x;
	CU_ASSERT_EQUAL_FATAL(mqtt_client_publish(c, NULL, 2, false, mqtt_slice_str("t"),
	                                          mqtt_slice_str("two"), &x).cls, MQTT_SUCCESS);
	t0 = mono_ms();
	int calls = 0;
	while (mqtt_exchange_state(x) != MQTT_EXCHANGE_DONE && calls < 10) {
		e = mqtt_client_read_wait(c, &msg, 10000);
		CU_ASSERT_EQUAL(e.cls, MQTT_CANCELED);
		calls++;
	}
	CU_ASSERT_EQUAL(mqtt_exchange_state(x), MQTT_EXCHANGE_DONE);
	CU_ASSERT(calls >= 1 && calls <= 3);
	CU_ASSERT(mono_ms() - t0 < 5000);
	mqtt_exchange_release(x);
	/* A message from the broker comes back as from mqtt_client_read(). */
	fake_publish(&f, 0, 0, "in", "hello");
	for (int i = 0; i < 100; i++) {
		e = mqtt_client_read_wait(c, &msg, 50);
		if (e.cls != MQTT_CANCELED)
			break;
	}
	CU_ASSERT_EQUAL(e.cls, MQTT_SUCCESS);
	CU_ASSERT(msg.topic.len == 2 && !memcmp(msg.topic.data, "in", 2));
	CU_ASSERT(fake_wait_log(&f, 3));
	pthread_mutex_lock(&f.m);
	CU_ASSERT(f.nlog == 3 && f.log[0].type == MQTT_CONNECT && f.log[1].type == MQTT_PUBLISH &&
	          f.log[2].type == MQTT_PUBREL);
	pthread_mutex_unlock(&f.m);
	mqtt_client_close(c);
	CU_ASSERT_EQUAL(mqtt_client_read_wait(c, &msg, 10).cls, MQTT_CLOSED);
	mqtt_client_free(c);
	fake_stop(&f);
}

/* A dialer over loopback TCP, the library's own TCP connection on the
 * client's end (the one that takes input in batches). */
static int fake_dial_tcp(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	(void)timeout_ms;
	struct fake *f = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int peer = -1;
	if (l >= 0 && fd >= 0 && bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 1) == 0 &&
	    getsockname(l, (struct sockaddr *)&a, &alen) == 0 &&
	    connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
		peer = accept(l, NULL, NULL);
	if (l >= 0)
		close(l);
	if (peer < 0) {
		if (fd >= 0)
			close(fd);
		return -ECONNREFUSED;
	}
	pthread_mutex_lock(&f->m);
	f->dials++;
	if (f->pending_fd >= 0)
		close(f->pending_fd);
	f->pending_fd = peer;
	f->client_fd = fd;
	pthread_mutex_unlock(&f->m);
	transport_tcp_conn(out, fd);
	return 0;
}

static int rcvlowat_of(int fd)
{
	int v = -1;
	socklen_t len = sizeof v;
	return getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, &len) == 0 ? v : -1;
}

static int nodelay_of(int fd)
{
	int v = -1;
	socklen_t len = sizeof v;
	return getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 ? v : -1;
}

/* The library's TCP connection, with each input batch it asks for
 * logged (bytes), and each switch of output batching (WRITES_*). */
enum { WRITES_BATCHED = -1, WRITES_AT_ONCE = -2 };

struct batch_log {
	struct mqtt_conn tcp;
	pthread_mutex_t m;
	int asked[8192];
	int n;
};

static ssize_t logged_read(void *self, void *buf, size_t len)
{
	struct batch_log *b = self;
	return b->tcp.ops->read(b->tcp.self, buf, len);
}

static ssize_t logged_writev(void *self, const struct iovec *iov, int n)
{
	struct batch_log *b = self;
	return b->tcp.ops->writev(b->tcp.self, iov, n);
}

static void logged_close(void *self)
{
	struct batch_log *b = self;
	b->tcp.ops->close(b->tcp.self);
}

static int logged_read_batch(void *self, int bytes)
{
	struct batch_log *b = self;
	pthread_mutex_lock(&b->m);
	if (b->n < 8192)
		b->asked[b->n++] = bytes;
	pthread_mutex_unlock(&b->m);
	return b->tcp.ops->read_batch(b->tcp.self, bytes);
}

static int logged_write_batch(void *self, bool on)
{
	struct batch_log *b = self;
	pthread_mutex_lock(&b->m);
	if (b->n < 8192)
		b->asked[b->n++] = on ? WRITES_BATCHED : WRITES_AT_ONCE;
	pthread_mutex_unlock(&b->m);
	return b->tcp.ops->write_batch(b->tcp.self, on);
}

static const struct mqtt_conn_ops logged_ops = {logged_read, logged_writev, NULL, logged_close,
                                                logged_read_batch, logged_write_batch};

static int log_length(struct batch_log *b)
{
	pthread_mutex_lock(&b->m);
	int n = b->n;
	pthread_mutex_unlock(&b->m);
	return n;
}

/* Whether an input batch above one byte was asked for at index from or
 * later, and then (then_one) one byte again. */
static bool batch_asked_since(struct batch_log *b, int from, bool then_one)
{
	pthread_mutex_lock(&b->m);
	int i = from;
	while (i < b->n && b->asked[i] <= 1)
		i++;
	bool found = i < b->n;
	if (found && then_one) {
		while (i < b->n && b->asked[i] != 1)
			i++;
		found = i < b->n;
	}
	pthread_mutex_unlock(&b->m);
	return found;
}

/* Whether the log holds seq[0..n) in this order (others between). */
static bool logged_in_order(struct batch_log *b, const int *seq, int n)
{
	pthread_mutex_lock(&b->m);
	int k = 0;
	for (int i = 0; i < b->n && k < n; i++)
		k += b->asked[i] == seq[k];
	pthread_mutex_unlock(&b->m);
	return k == n;
}

struct logged_dialer {
	struct fake *f;
	struct batch_log log;
};

static int logged_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	struct logged_dialer *d = arg;
	int rc = fake_dial_tcp(d->f, &d->log.tcp, timeout_ms);
	if (rc)
		return rc;
	out->ops = &logged_ops;
	out->self = &d->log;
	out->fd = d->log.tcp.fd;
	return 0;
}


/* Polls (up to a second) for an exchange's end. */
static bool done_soon(struct mqtt_exchange *x)
{
	for (int i = 0; i < 1000; i++) {
		if (mqtt_exchange_state(x) == MQTT_EXCHANGE_DONE)
			return true;
		sleep_us(1000);
	}
	return false;
}

static void send_puback(struct fake *f, uint16_t id)
{
	uint8_t b[4] = {0x40, 2, (uint8_t)(id >> 8), (uint8_t)id};
	pthread_mutex_lock(&f->m);
	fake_send(f, b, sizeof b);
	pthread_mutex_unlock(&f->m);
}

/* A busy window's acknowledgements are taken in batches (poll waits for
 * half of what the exchanges in flight owe); a broker that then sends
 * less is still heard within the batch wait, and an idle window reads
 * every byte at once again. */
static void test_input_batches_under_load(void)
{
	enum { N = 100 };
	struct fake f;
	fake_start(&f);
	f.deaf = true; /* the test acknowledges, one by one */
	struct mqtt_session_config sc = quick_config();
	sc.at_least_once_max = 128;
	struct logged_dialer d = {.f = &f};
	pthread_mutex_init(&d.log.m, NULL);
	struct mqtt_client *c = client_via(logged_dial, &d, sc);
	CU_ASSERT_FATAL(c != NULL);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT_FATAL(mqtt_client_wait_online(c, NULL));
	static struct mqtt_exchange *x[N];
	for (int i = 0; i < N; i++)
		CU_ASSERT_EQUAL_FATAL(mqtt_client_publish(c, NULL, 1, false, mqtt_slice_str("b"),
		                                          mqtt_slice_str("batch"), &x[i]).cls, MQTT_SUCCESS);
	CU_ASSERT_FATAL(fake_wait_log(&f, 1 + N));
	pthread_mutex_lock(&f.m);
	int fd = f.client_fd;
	uint16_t ids[N];
	for (int i = 0; i < N; i++)
		ids[i] = f.log[1 + i].id;
	pthread_mutex_unlock(&f.m);
	const int mark = (N - 1) * 4 / 2;
	/* One acknowledgement wakes it; then 99 owe at least 396 bytes, and
	 * poll waits for half of them, on the socket itself. */
	send_puback(&f, ids[0]);
	CU_ASSERT(done_soon(x[0]));
	/* Four bytes, under the mark: heard after the batch wait, not never
	 * (no keep-alive here, nothing else would end the poll), with the
	 * mark back at one byte after the wait. */
	send_puback(&f, ids[1]);
	CU_ASSERT(done_soon(x[1]));
	/* Output was batched (with the input, or since the burst of writes
	 * above), and went back to going at once (sending what was held)
	 * with the wait that missed. */
	const int course[] = {mark, 1, WRITES_AT_ONCE, WRITES_BATCHED};
	CU_ASSERT(logged_in_order(&d.log, course, 3));
	CU_ASSERT(logged_in_order(&d.log, course + 3, 1));
	CU_ASSERT(mqtt_exchange_state(x[2]) == MQTT_EXCHANGE_PENDING);
	for (int i = 2; i < N; i++)
		send_puback(&f, ids[i]);
	for (int i = 2; i < N; i++)
		CU_ASSERT(done_soon(x[i]));
	/* Nothing in flight: every byte wakes the reader again. */
	for (int i = 0; i < 1000 && rcvlowat_of(fd) != 1; i++)
		sleep_us(1000);
	CU_ASSERT_EQUAL(rcvlowat_of(fd), 1);
	CU_ASSERT_EQUAL(nodelay_of(fd), 1);
	for (int i = 0; i < N; i++)
		mqtt_exchange_release(x[i]);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
	pthread_mutex_destroy(&d.log.m);
}

/* QoS 0 publishes back to back go out in batches (Nagle's algorithm),
 * which end, sending what was held, once the writes stop; every message
 * arrives. */
static void test_output_batches_in_a_burst(void)
{
	struct fake f;
	fake_start(&f);
	struct logged_dialer d = {.f = &f};
	pthread_mutex_init(&d.log.m, NULL);
	struct mqtt_client *c = client_via(logged_dial, &d, quick_config());
	CU_ASSERT_FATAL(c != NULL);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT_FATAL(mqtt_client_wait_online(c, NULL));
	pthread_mutex_lock(&f.m);
	int fd = f.client_fd;
	pthread_mutex_unlock(&f.m);
	CU_ASSERT_EQUAL(nodelay_of(fd), 1);
	/* A few, slowly: no burst. */
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 0, false, mqtt_slice_str("slow"), mqtt_slice_str("q0"), NULL).cls,
		                MQTT_SUCCESS);
		sleep_us(5000);
	}
	const int on = WRITES_BATCHED, on_off[] = {WRITES_BATCHED, WRITES_AT_ONCE};
	CU_ASSERT(!logged_in_order(&d.log, &on, 1));
	pthread_t t;
	struct qos0_run burst = {c, 2000};
	pthread_create(&t, NULL, publish_qos0_run, &burst);
	void *res;
	pthread_join(t, &res);
	CU_ASSERT_PTR_NULL(res);
	CU_ASSERT(fake_wait_publishes(&f, 3 + 2000));
	for (int i = 0; i < 1000 && !logged_in_order(&d.log, on_off, 2); i++)
		sleep_us(1000);
	CU_ASSERT(logged_in_order(&d.log, on_off, 2));
	CU_ASSERT_EQUAL(nodelay_of(fd), 1);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
	pthread_mutex_destroy(&d.log.m);
}

/* Reads every message, checking that payload i is the number i. */
struct counting_reader {
	struct mqtt_client *c;
	pthread_t thread;
	pthread_mutex_t m;
	int got;
	bool in_order;
};

static void *counting_main(void *arg)
{
	struct counting_reader *r = arg;
	for (;;) {
		struct mqtt_message msg;
		struct mqtt_error e = mqtt_client_read(r->c, &msg);
		if (e.cls == MQTT_CLOSED)
			return NULL;
		if (e.cls != MQTT_SUCCESS) {
			mqtt_client_backoff(r->c, NULL);
			continue;
		}
		char text[16];
		snprintf(text, sizeof text, "%.*s", (int)msg.payload.len, (const char *)msg.payload.data);
		pthread_mutex_lock(&r->m);
		r->in_order &= atoi(text) == r->got;
		r->got++;
		pthread_mutex_unlock(&r->m);
	}
}

static bool counted_soon(struct counting_reader *r, int n)
{
	for (int i = 0; i < 5000; i++) {
		pthread_mutex_lock(&r->m);
		int got = r->got;
		pthread_mutex_unlock(&r->m);
		if (got >= n)
			return got == n;
		sleep_us(1000);
	}
	return false;
}

static void send_numbered(struct fake *f, int i)
{
	char text[16];
	int len = snprintf(text, sizeof text, "%d", i);
	struct mqtt_packet p = {.type = MQTT_PUBLISH};
	p.publish.topic = mqtt_slice_str("stream");
	p.publish.payload = (struct mqtt_slice){(const uint8_t *)text, (size_t)len};
	pthread_mutex_lock(&f->m);
	fake_packet(f, &p);
	pthread_mutex_unlock(&f->m);
}

/* A stream of inbound messages is taken in batches (poll waits for half
 * of what came in a burst), which end with the stream: a last lone
 * message is still read, and starts no batch. */
static void test_input_batches_in_a_stream(void)
{
	enum { N = 3000 };
	struct fake f;
	fake_start(&f);
	struct logged_dialer d = {.f = &f};
	pthread_mutex_init(&d.log.m, NULL);
	struct mqtt_client *c = client_via(logged_dial, &d, quick_config());
	CU_ASSERT_FATAL(c != NULL);
	struct counting_reader r = {.c = c, .in_order = true};
	pthread_mutex_init(&r.m, NULL);
	pthread_create(&r.thread, NULL, counting_main, &r);
	CU_ASSERT_FATAL(mqtt_client_wait_online(c, NULL));
	pthread_mutex_lock(&f.m);
	int fd = f.client_fd;
	pthread_mutex_unlock(&f.m);
	CU_ASSERT(!batch_asked_since(&d.log, 0, false));
	for (int i = 0; i < N; i++) {
		send_numbered(&f, i);
		sleep_us(20);
	}
	CU_ASSERT(counted_soon(&r, N));
	CU_ASSERT(batch_asked_since(&d.log, 0, true));
	sleep_us(20000); /* the reader's last batch wait is over */
	for (int i = 0; i < 1000 && rcvlowat_of(fd) != 1; i++)
		sleep_us(1000);
	int before = log_length(&d.log);
	send_numbered(&f, N); /* alone: under no mark, and no stream again */
	CU_ASSERT(counted_soon(&r, N + 1));
	sleep_us(20000);
	CU_ASSERT(!batch_asked_since(&d.log, before, false));
	CU_ASSERT_EQUAL(rcvlowat_of(fd), 1);
	pthread_mutex_lock(&r.m);
	CU_ASSERT(r.in_order);
	pthread_mutex_unlock(&r.m);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
	pthread_mutex_destroy(&r.m);
	pthread_mutex_destroy(&d.log.m);
}

/* A host or port that does not resolve is said as such: MQTT_IO with a
 * code of its own (not "No route to host"), and a sentence naming it. */
static void unresolved_case(const char *host, const char *port)
{
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.session = quick_config();
	CU_ASSERT_EQUAL_FATAL(mqtt_dialer_tcp(&cfg.dialer, host, port), 0);
	struct mqtt_client *c;
	CU_ASSERT_EQUAL_FATAL(mqtt_client_new(&c, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls,
	                      MQTT_SUCCESS);
	struct mqtt_message msg;
	struct mqtt_error e = mqtt_client_read(c, &msg);
	CU_ASSERT_EQUAL(e.cls, MQTT_IO);
	CU_ASSERT(e.code >= MQTT_IO_RESOLVE);
	CU_ASSERT(MQTT_ERROR_UNRESOLVED(e));
	CU_ASSERT(e.code != EHOSTUNREACH);
	char text[200];
	mqtt_error_text(e, text, sizeof text);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "cannot resolve the broker's address: "));
	mqtt_client_close(c);
	mqtt_client_free(c);
}

static void test_unresolved_address(void)
{
	unresolved_case("127.0.0.1", "no-such-service"); /* a port that is no number */
	unresolved_case("nosuchhost.invalid", "1883");   /* RFC 6761: never resolves */
	/* An errno is not taken for one. */
	struct mqtt_error refused = {MQTT_IO, ECONNREFUSED};
	CU_ASSERT(!MQTT_ERROR_UNRESOLVED(refused));
}

/* Reconnect jitter. A dialer whose broker is down: each dial refused,
 * its time logged. */
#define JITTER_DIALS 10
struct dial_times {
	pthread_mutex_t m;
	uint64_t at[JITTER_DIALS];
	int n;
};

static int refused_dial(void *arg, struct mqtt_conn *out, uint32_t timeout_ms)
{
	(void)out;
	(void)timeout_ms;
	struct dial_times *d = arg;
	pthread_mutex_lock(&d->m);
	if (d->n < JITTER_DIALS)
		d->at[d->n++] = mono_ms();
	pthread_mutex_unlock(&d->m);
	return -ECONNREFUSED;
}

/* Two clients of configuration sc dial a down broker JITTER_DIALS times
 * each, at once, as a fleet does after a broker restart. */
static void fleet_redials(struct mqtt_session_config sc, struct dial_times d[2])
{
	struct mqtt_client *c[2];
	struct reader r[2];
	for (int i = 0; i < 2; i++) {
		memset(&d[i], 0, sizeof d[i]);
		pthread_mutex_init(&d[i].m, NULL);
		c[i] = client_via(refused_dial, &d[i], sc);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c[i]);
	}
	for (int i = 0; i < 2; i++)
		reader_start(&r[i], c[i]);
	for (int waited = 0; waited < 10000; waited += 10) {
		pthread_mutex_lock(&d[0].m);
		pthread_mutex_lock(&d[1].m);
		bool done = d[0].n == JITTER_DIALS && d[1].n == JITTER_DIALS;
		pthread_mutex_unlock(&d[1].m);
		pthread_mutex_unlock(&d[0].m);
		if (done)
			break;
		sleep_us(10000);
	}
	for (int i = 0; i < 2; i++) {
		mqtt_client_close(c[i]);
		pthread_join(r[i].thread, NULL);
		mqtt_client_free(c[i]);
		CU_ASSERT_EQUAL(d[i].n, JITTER_DIALS);
	}
}

/* The backoff without jitter before dial k (from 1): min doubling to max. */
static uint64_t nominal_wait(const struct mqtt_session_config *sc, int k)
{
	uint64_t w = sc->reconnect_wait_min_ms;
	for (int i = 1; i < k && w < sc->reconnect_wait_max_ms; i++)
		w *= 2;
	return w < sc->reconnect_wait_max_ms ? w : sc->reconnect_wait_max_ms;
}

static struct mqtt_session_config jitter_config(void)
{
	struct mqtt_session_config sc = quick_config();
	sc.reconnect_wait_min_ms = 40;
	sc.reconnect_wait_max_ms = 160;
	return sc;
}

/* A default configuration (no random source) still gets jitter, each
 * client its own: the waits are half to all of the backoff, not all of it
 * every time, and two clients do not redial in step. Without jitter the
 * nine waits add up to at least the 1,240 ms of backoff (a timer never
 * fires early) and the two clients' waits match to a millisecond or two;
 * with it they add up to 930 ms on average (s.d. about 60), and two
 * clients' waits of 160 ms differ by over 8 ms four times in five. */
static void test_reconnect_jitter_by_default(void)
{
	struct mqtt_session_config sc = jitter_config();
	CU_ASSERT_PTR_NULL(sc.random);
	struct dial_times d[2];
	fleet_redials(sc, d);
	uint64_t nominal = 0;
	for (int k = 1; k < JITTER_DIALS; k++)
		nominal += nominal_wait(&sc, k);
	for (int i = 0; i < 2; i++) {
		for (int k = 1; k < JITTER_DIALS; k++) /* never less than half the backoff */
			CU_ASSERT(d[i].at[k] - d[i].at[k - 1] + 1 >= nominal_wait(&sc, k) / 2);
		CU_ASSERT(d[i].at[JITTER_DIALS - 1] - d[i].at[0] + 20 < nominal);
	}
	int apart = 0;
	for (int k = 1; k < JITTER_DIALS; k++) {
		uint64_t a = d[0].at[k] - d[0].at[k - 1], b = d[1].at[k] - d[1].at[k - 1];
		apart += (a > b ? a - b : b - a) > 8;
	}
	CU_ASSERT(apart >= 1);
}

static uint64_t always_zero(void *arg)
{
	(void)arg;
	return 0;
}

/* A random source in the configuration is the one used: always 0 makes
 * every wait exactly half the backoff. */
static void test_reconnect_jitter_from_configuration(void)
{
	struct mqtt_session_config sc = jitter_config();
	sc.random = always_zero;
	struct dial_times d[2];
	fleet_redials(sc, d);
	uint64_t half = 0;
	for (int k = 1; k < JITTER_DIALS; k++)
		half += nominal_wait(&sc, k) / 2;
	for (int i = 0; i < 2; i++) {
		uint64_t waited = d[i].at[JITTER_DIALS - 1] - d[i].at[0];
		CU_ASSERT(waited + 1 >= half);
		CU_ASSERT(waited < half * 6 / 5);
	}
}

/* Disconnect as the seed's: a fired cancel is MQTT_CANCELED and sends no
 * DISCONNECT (the broker keeps the will); an offline client is
 * MQTT_DOWN; the client is closed either way. */
static void test_disconnect_canceled_or_down(void)
{
	struct fake f;
	fake_start(&f);
	struct mqtt_client *c = client_for(&f, quick_config());
	CU_ASSERT_FATAL(c != NULL);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT_FATAL(mqtt_client_wait_online(c, NULL));
	struct mqtt_cancel quit = MQTT_CANCEL_INIT;
	mqtt_cancel_fire(&quit);
	struct mqtt_error e = mqtt_client_disconnect(c, &quit);
	CU_ASSERT_EQUAL(e.cls, MQTT_CANCELED);
	CU_ASSERT(mqtt_error_not_sent(e));
	pthread_join(r.thread, NULL);
	CU_ASSERT_EQUAL(mqtt_client_disconnect(c, NULL).cls, MQTT_CLOSED);
	CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 0, false, mqtt_slice_str("t"), mqtt_slice_str("x"), NULL).cls,
	                MQTT_CLOSED);
	CU_ASSERT(fake_wait_log(&f, 1));
	pthread_mutex_lock(&f.m);
	for (int i = 0; i < f.nlog; i++)
		CU_ASSERT_NOT_EQUAL(f.log[i].type, MQTT_DISCONNECT);
	pthread_mutex_unlock(&f.m);
	mqtt_client_free(c);
	fake_stop(&f);

	/* Offline: a broker that refuses every dial. */
	struct dial_times d;
	memset(&d, 0, sizeof d);
	pthread_mutex_init(&d.m, NULL);
	c = client_via(refused_dial, &d, quick_config());
	CU_ASSERT_FATAL(c != NULL);
	reader_start(&r, c);
	CU_ASSERT(reader_saw(&r, MQTT_IO, 2000));
	e = mqtt_client_disconnect(c, NULL);
	CU_ASSERT_EQUAL(e.cls, MQTT_DOWN);
	CU_ASSERT(mqtt_error_not_sent(e));
	pthread_join(r.thread, NULL);
	CU_ASSERT_EQUAL(mqtt_client_publish(c, NULL, 0, false, mqtt_slice_str("t"), mqtt_slice_str("x"), NULL).cls,
	                MQTT_CLOSED);
	mqtt_client_free(c);
}

/* A request cut off by a timeout ends with MQTT_TIMEOUT, as the seed's
 * end with a net.Error whose Timeout is true, not MQTT_BREAK: here the
 * broker goes deaf after CONNACK, so the keep-alive PINGREQ goes
 * unanswered for the pause timeout and the connection is dropped under
 * a waiting subscribe. */
static void test_request_cut_off_by_timeout(void)
{
	struct fake f;
	fake_start(&f);
	f.deaf = true;
	struct mqtt_session_config sc = quick_config();
	sc.keep_alive = 1;
	sc.pause_timeout_ms = 200;
	struct mqtt_client *c = client_for(&f, sc);
	CU_ASSERT_FATAL(c != NULL);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT_FATAL(mqtt_client_wait_online(c, NULL));
	struct mqtt_topic filter = {mqtt_slice_str("a/#"), 1};
	struct mqtt_error e = mqtt_client_subscribe(c, NULL, &filter, 1);
	CU_ASSERT_EQUAL(e.cls, MQTT_TIMEOUT);
	CU_ASSERT(mqtt_error_unknown(e));
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	fake_stop(&f);
}

/* The library's fake broker serving a loopback port from its thread;
 * where gets "tcp 127.0.0.1:PORT". */
static struct mqtt_fakebroker *serving_fakebroker(char *where, size_t cap)
{
	struct mqtt_fakebroker *fb = NULL;
	char err[256];
	CU_ASSERT_FATAL(mqtt_fakebroker_new(&fb, NULL, err, sizeof err) == 0 &&
	                mqtt_fakebroker_listen(fb, "tcp://127.0.0.1:0", where, cap, err, sizeof err) == 0 &&
	                mqtt_fakebroker_start(fb) == 0);
	return fb;
}

/* A stalled write is seen within the pause timeout plus one slice of it
 * (a quarter), not a whole pause per write call: the broker stops
 * reading (or the fault link stalls), QoS 0 publishes of 64 KiB fill the
 * buffers, and the publish that meets the full buffer ends with
 * MQTT_TIMEOUT. Before, a
 * call that moved some bytes and then blocked gave the pause again: two
 * pauses and more. */
static void stalled_write_case(bool through_fault_transport)
{
	struct mqtt_fakebroker *fb;
	char where[128], err[256];
	fb = serving_fakebroker(where, sizeof where);
	const uint32_t pause = 1000;
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.session = quick_config();
	cfg.session.client_id = mqtt_slice_str("stalled");
	cfg.session.pause_timeout_ms = pause;
	cfg.session.reconnect_wait_min_ms = cfg.session.reconnect_wait_max_ms = 60000;
	CU_ASSERT_EQUAL_FATAL(mqtt_dialer_tcp(&cfg.dialer, "127.0.0.1", strrchr(where, ':') + 1), 0);
	if (through_fault_transport) {
		/* The link stalls everything after CONNECT; the broker reads on. */
		struct mqtt_fault_plan plan;
		CU_ASSERT_EQUAL_FATAL(mqtt_fault_plan_parse(&plan, "c2b after=CONNECT stall ms=60000\n", err,
		                                            sizeof err), 0);
		struct mqtt_dialer tcp = cfg.dialer;
		CU_ASSERT_EQUAL_FATAL(mqtt_dialer_faulty(&cfg.dialer, tcp, &plan, 1, NULL, NULL), 0);
		mqtt_fault_plan_free(&plan);
	}
	struct mqtt_client *c;
	CU_ASSERT_EQUAL_FATAL(mqtt_client_new(&c, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls,
	                      MQTT_SUCCESS);
	struct reader r;
	reader_start(&r, c);
	CU_ASSERT_FATAL(mqtt_client_wait_online(c, NULL));
	if (!through_fault_transport) {
		struct mqtt_broker *b = mqtt_fakebroker_lock(fb);
		CU_ASSERT_EQUAL(mqtt_broker_stop_reading(b, "stalled"), 0);
		mqtt_fakebroker_unlock(fb);
	}
	static uint8_t big[65536];
	struct mqtt_slice payload = {big, sizeof big};
	struct mqtt_error e = {MQTT_SUCCESS, 0};
	uint64_t took = 0;
	for (int i = 0; i < 4096 && !e.cls; i++) { /* far more than any socket buffer */
		uint64_t t0 = mono_ms();
		e = mqtt_client_publish(c, NULL, 0, false, mqtt_slice_str("t"), payload, NULL);
		took = mono_ms() - t0;
	}
	CU_ASSERT_EQUAL(e.cls, MQTT_TIMEOUT);
	CU_ASSERT(took + 5 >= pause); /* not before the pause */
	CU_ASSERT(took < pause + pause / 4 + 250); /* within a slice (and scheduling) of it */
	if (took >= pause + pause / 4 + 250)
		fprintf(stderr, "\nstalled write: seen after %llu ms\n", (unsigned long long)took);
	CU_ASSERT(reader_saw(&r, MQTT_TIMEOUT, 2000));
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	mqtt_fakebroker_free(fb);
}

static void test_stalled_write_seen_within_the_pause(void)
{
	stalled_write_case(false); /* a broker that stops reading: socket buffers fill */
	stalled_write_case(true);  /* a fault transport whose link stalls writes */
}

/* Every filter the broker failed is told, as the seed's SubscribeError
 * lists them: mqtt_client_subscribe_codes() gives each filter's code. */
static void test_subscribe_reports_every_failed_filter(void)
{
	struct mqtt_fakebroker *fb;
	char where[128], err[256];
	fb = serving_fakebroker(where, sizeof where);
	struct mqtt_broker *b = mqtt_fakebroker_lock(fb);
	CU_ASSERT(mqtt_broker_rule(b, "refuse-subscribe b/#", err, sizeof err) >= 0);
	CU_ASSERT(mqtt_broker_rule(b, "refuse-subscribe d", err, sizeof err) >= 0);
	mqtt_fakebroker_unlock(fb);
	struct mqtt_client_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.session = quick_config();
	CU_ASSERT_EQUAL_FATAL(mqtt_dialer_tcp(&cfg.dialer, "127.0.0.1", strrchr(where, ':') + 1), 0);
	struct mqtt_client *c;
	CU_ASSERT_EQUAL_FATAL(mqtt_client_new(&c, &cfg, MQTT_SESSION_VOLATILE, NULL, NULL, NULL).cls,
	                      MQTT_SUCCESS);
	struct reader r;
	reader_start(&r, c);
	struct mqtt_topic filters[4] = {{mqtt_slice_str("a"), 1}, {mqtt_slice_str("b/#"), 2},
	                                {mqtt_slice_str("c"), 2}, {mqtt_slice_str("d"), 0}};
	uint8_t codes[4] = {0xee, 0xee, 0xee, 0xee};
	struct mqtt_error e = mqtt_client_subscribe_codes(c, NULL, filters, 4, codes);
	CU_ASSERT_EQUAL(e.cls, MQTT_SUBSCRIBE_FAILED);
	CU_ASSERT_EQUAL(e.code, 1); /* the first failed filter */
	CU_ASSERT_EQUAL(codes[0], 1);
	CU_ASSERT_EQUAL(codes[1], MQTT_SUBACK_FAILURE);
	CU_ASSERT_EQUAL(codes[2], 2);
	CU_ASSERT_EQUAL(codes[3], MQTT_SUBACK_FAILURE);
	/* More filters than the event's first 16 codes. */
	struct mqtt_topic many[20];
	char names[20][16];
	uint8_t got[20];
	for (int i = 0; i < 20; i++) {
		snprintf(names[i], sizeof names[i], "m%d", i);
		many[i] = (struct mqtt_topic){mqtt_slice_str(names[i]), 1};
	}
	many[19].filter = mqtt_slice_str("d");
	e = mqtt_client_subscribe_codes(c, NULL, many, 20, got);
	CU_ASSERT_EQUAL(e.cls, MQTT_SUBSCRIBE_FAILED);
	CU_ASSERT_EQUAL(e.code, 19);
	CU_ASSERT_EQUAL(got[18], 1);
	CU_ASSERT_EQUAL(got[19], MQTT_SUBACK_FAILURE);
	mqtt_client_close(c);
	pthread_join(r.thread, NULL);
	mqtt_client_free(c);
	mqtt_fakebroker_free(fb);
}

const struct test_def client_tests[] = {
	{"input in batches under load; a quiet broker still heard", test_input_batches_under_load},
	{"input in batches in a stream of messages, then at once", test_input_batches_in_a_stream},
	{"output in batches in a burst of writes, then at once", test_output_batches_in_a_burst},
	{"one thread drives the client with read_wait", test_read_wait_drives_from_one_thread},
	{"a PUBLISH never written is resent without DUP", test_unwritten_publish_resent_without_dup},
	{"a writer takes what others queued meanwhile", test_group_commit},
	{"concurrent publishers: every message once", test_concurrent_publishers},
	{"in-flight window full: MQTT_MAX, not blocking", test_window_full},
	{"big messages: read whole or skipped", test_big_message_read_all},
	{"keep-alive pings, and gives up on a silent broker", test_keep_alive_gives_up_on_silence},
	{"pause timeout on a broker that never answers", test_pause_timeout_on_stalled_broker},
	{"a closed peer gives an error, not SIGPIPE", test_no_sigpipe},
	{"subscribe, ping, publish at each QoS, unsubscribe, disconnect", test_round_trips},
	{"inbound message acknowledged after the next read", test_inbound_ack_after_read},
	{"a QoS 2 identifier is saved after what its read queued ahead is written",
	 test_qos2_identifier_saved_after_the_read_wrote},
	{"refused, then reconnect resends with DUP", test_refused_and_reconnect_resends},
	{"cancel tokens", test_cancel},
	{"failed dials back off and retry", test_dial_failures_back_off},
	{"an address that does not resolve is said as such", test_unresolved_address},
	{"disconnect: canceled or down, as the seed's, and closed", test_disconnect_canceled_or_down},
	{"a request cut off by a timeout ends with MQTT_TIMEOUT", test_request_cut_off_by_timeout},
	{"subscribe: every failed filter told, as the seed's SubscribeError", test_subscribe_reports_every_failed_filter},
	{"a stalled write is seen within the pause timeout and a slice", test_stalled_write_seen_within_the_pause},
	{"reconnect jitter by default, each client its own", test_reconnect_jitter_by_default},
	{"reconnect jitter from the configuration's random source", test_reconnect_jitter_from_configuration},
	{NULL, NULL},
};
