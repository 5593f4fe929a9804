/*
 * Sessions on a store: INIT, ADOPT after a restart (resend in order,
 * inbound deduplication kept), damaged records, failing stores, and a
 * client killed with SIGKILL at each step of a QoS 2 exchange whose
 * message must still reach the broker exactly once.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "session_testutil.h"
#include "store_testutil.h"
#include "testing/suites.h"

static struct mqtt_session_config stored_config(void)
{
	struct mqtt_session_config c = test_config();
	c.client_id = mqtt_slice_str("durable-1");
	c.clean_session = false;
	return c;
}

struct count_keys {
	size_t n;
};

static int count_key(void *arg, uint32_t key)
{
	(void)key;
	((struct count_keys *)arg)->n++;
	return 0;
}

static size_t keys_in(struct mqtt_store *st)
{
	struct count_keys k = {0};
	st->ops->list(st->self, count_key, &k);
	return k.n;
}

static void test_init_and_adopt(void)
{
	char dir[64];
	CU_ASSERT_FATAL(temp_dir(dir, sizeof dir));
	struct mqtt_store st;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&st, dir), 0);
	struct mqtt_session_config c = stored_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_INIT, &st);
	CU_ASSERT_EQUAL(keys_in(&st), 1); /* the client identifier */
	go_online(&h);
	uint16_t q1, q2, q2b;
	CU_ASSERT_EQUAL(mqtt_session_publish(h.s, h.now, 2, false, mqtt_slice_str("t"),
	                                     mqtt_slice_str("two"), &q2).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(mqtt_session_publish(h.s, h.now, 1, true, mqtt_slice_str("t"),
	                                     mqtt_slice_str("one"), &q1).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(mqtt_session_publish(h.s, h.now, 2, false, mqtt_slice_str("t"),
	                                     mqtt_slice_str("three"), &q2b).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(keys_in(&st), 4);
	for (int i = 0; i < 3; i++)
		expect(&h, MQTT_PUBLISH);
	feed_ack(&h, MQTT_PUBREC, q2);
	expect(&h, MQTT_PUBREL);
	/* An inbound QoS 2 message held until its release. */
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = 2;
	m.publish.packet_id = 5;
	m.publish.topic = mqtt_slice_str("in");
	m.publish.payload = mqtt_slice_str("inbound");
	CU_ASSERT(feed(&h, &m));
	CU_ASSERT_EQUAL(keys_in(&st), 5);
	harness_free(&h); /* the process dies: no disconnect */
	mqtt_store_close(&st);

	/* INIT refuses a store that holds a session. */
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&st, dir), 0);
	struct mqtt_session *other;
	struct mqtt_error e = mqtt_session_new(&other, &c, MQTT_SESSION_INIT, &st, NULL, NULL);
	CU_ASSERT_EQUAL(e.cls, MQTT_PERSISTENCE);
	CU_ASSERT_EQUAL(e.code, EEXIST);

	/* ADOPT: the stored identifier wins over the configured one. */
	c.client_id = mqtt_slice_str("someone-else");
	harness_new(&h, &c, MQTT_SESSION_ADOPT, &st);
	CU_ASSERT_PTR_NOT_NULL(strstr(h.warnings, "stored client identifier used"));
	CU_ASSERT_EQUAL(mqtt_session_inflight(h.s), 3);
	mqtt_session_connected(h.s, h.now);
	struct mqtt_packet p = expect(&h, MQTT_CONNECT);
	CU_ASSERT(p.connect.client_id.len == 9 && !memcmp(p.connect.client_id.data, "durable-1", 9));
	CU_ASSERT_FALSE(p.connect.clean_session);
	feed_connack(&h, 0, true);
	expect_event(&h, MQTT_EVENT_ONLINE);
	/* Save order: q1 and q2b as PUBLISH with DUP, then q2's PUBREL. */
	p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT(p.publish.dup && p.publish.packet_id == q1 && p.publish.retain);
	CU_ASSERT(p.publish.payload.len == 3 && !memcmp(p.publish.payload.data, "one", 3));
	p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT(p.publish.dup && p.publish.packet_id == q2b);
	p = expect(&h, MQTT_PUBREL);
	CU_ASSERT_EQUAL(p.ack.packet_id, q2);
	CU_ASSERT(quiet(&h));
	/* The inbound identifier survived: the resend is not delivered. */
	m.publish.dup = true;
	CU_ASSERT_FALSE(feed(&h, &m));
	expect(&h, MQTT_PUBREC);
	feed_ack(&h, MQTT_PUBREL, 5);
	expect(&h, MQTT_PUBCOMP);
	/* Complete everything: only the client identifier remains. */
	feed_ack(&h, MQTT_PUBACK, q1);
	feed_ack(&h, MQTT_PUBREC, q2b);
	expect(&h, MQTT_PUBREL);
	feed_ack(&h, MQTT_PUBCOMP, q2b);
	feed_ack(&h, MQTT_PUBCOMP, q2);
	CU_ASSERT_EQUAL(h.last.cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(mqtt_session_inflight(h.s), 0);
	CU_ASSERT_EQUAL(keys_in(&st), 1);
	harness_free(&h);
	mqtt_store_close(&st);
	CU_ASSERT(remove_tree(dir));
}

/*
 * A session configured clean connects clean the first time only; adopted
 * from its store after a crash it goes on, and connects without clean
 * session, so the broker keeps its half (found by mqttsim explore).
 */
static void test_adopted_never_clean(void)
{
	struct mqtt_store st;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_mem(&st), 0);
	struct mqtt_session_config c = stored_config();
	c.clean_session = true;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_INIT, &st);
	mqtt_session_connected(h.s, h.now);
	struct mqtt_packet p = expect(&h, MQTT_CONNECT);
	CU_ASSERT_TRUE(p.connect.clean_session);
	feed_connack(&h, 0, false);
	expect_event(&h, MQTT_EVENT_ONLINE);
	uint16_t id;
	CU_ASSERT_EQUAL(mqtt_session_publish(h.s, h.now, 2, false, mqtt_slice_str("t"),
	                                     mqtt_slice_str("kept"), &id).cls, MQTT_SUCCESS);
	expect(&h, MQTT_PUBLISH);
	harness_free(&h); /* the process dies */
	harness_new(&h, &c, MQTT_SESSION_ADOPT, &st);
	mqtt_session_connected(h.s, h.now);
	p = expect(&h, MQTT_CONNECT);
	CU_ASSERT_FALSE(p.connect.clean_session);
	harness_free(&h);
	mqtt_store_close(&st);
}

/* A session INIT on a new in-memory store, online. */
static void online_on_mem_store(struct harness *h, const struct mqtt_session_config *c,
                                struct mqtt_store *st)
{
	CU_ASSERT_EQUAL_FATAL(mqtt_store_mem(st), 0);
	harness_new(h, c, MQTT_SESSION_INIT, st);
	go_online(h);
}

/* Damages the stored record of key: a bit of its middle byte flips. */
static void flip_stored(struct mqtt_store *st, uint32_t key)
{
	uint8_t *raw;
	size_t len;
	CU_ASSERT_EQUAL_FATAL(st->ops->load(st->self, key, &raw, &len), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(raw);
	raw[len / 2] ^= 0x10;
	struct iovec v = {raw, len};
	CU_ASSERT_EQUAL(st->ops->save(st->self, key, &v, 1), 0);
	free(raw);
}

static void test_adopt_with_damage(void)
{
	struct mqtt_store st;
	struct mqtt_session_config c = stored_config();
	struct harness h;
	online_on_mem_store(&h, &c, &st);
	uint16_t a, b;
	mqtt_session_publish(h.s, h.now, 1, false, mqtt_slice_str("t"), mqtt_slice_str("a"), &a);
	mqtt_session_publish(h.s, h.now, 1, false, mqtt_slice_str("t"), mqtt_slice_str("b"), &b);
	harness_free(&h);
	/* Damage a's record; put junk under an unknown key and a record
	 * that passes its checksum but holds no packet. */
	flip_stored(&st, a);
	struct mqtt_checked ck;
	mqtt_checked_init(&ck, st);
	ck.next_seq = 1000;
	struct iovec junk = {(void *)"junk", 4};
	mqtt_checked_save(&ck, 0x1234, &junk, 1, NULL);
	mqtt_checked_save(&ck, 0x8005, &junk, 1, NULL);

	harness_new(&h, &c, MQTT_SESSION_ADOPT, &st);
	CU_ASSERT_PTR_NOT_NULL(strstr(h.warnings, "checksum"));
	CU_ASSERT_PTR_NOT_NULL(strstr(h.warnings, "unknown key"));
	CU_ASSERT_PTR_NOT_NULL(strstr(h.warnings, "0x8005"));
	CU_ASSERT_EQUAL(mqtt_session_inflight(h.s), 1);
	go_online(&h);
	struct mqtt_packet p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT_EQUAL(p.publish.packet_id, b);
	/* New publishes do not reuse an identifier held in the store. */
	uint16_t n;
	for (int i = 0; i < 6; i++) {
		CU_ASSERT_EQUAL(mqtt_session_publish(h.s, h.now, 1, false, mqtt_slice_str("t"),
		                                     mqtt_slice_str("n"), &n).cls, MQTT_SUCCESS);
		CU_ASSERT_NOT_EQUAL(n, b);
	}
	harness_free(&h);

	/* Without any client identifier, ADOPT needs one configured. */
	struct mqtt_store empty;
	mqtt_store_mem(&empty);
	struct mqtt_session *s;
	c.client_id = mqtt_slice_str("");
	c.clean_session = true;
	struct mqtt_error e = mqtt_session_new(&s, &c, MQTT_SESSION_ADOPT, &empty, NULL, NULL);
	CU_ASSERT_EQUAL(e.cls, MQTT_PERSISTENCE);
	CU_ASSERT_EQUAL(e.code, ENOENT);
	mqtt_store_close(&empty);
	mqtt_store_close(&st);
}

/*
 * The policy for damaged records: a QoS 2 message is not sent again and
 * its identifier is released (PUBREL) before it carries another; an
 * inbound identifier stays held, so the broker's resend is acknowledged,
 * not delivered again; every one is reported.
 */
static void test_damaged_records_policy(void)
{
	struct mqtt_store st;
	struct mqtt_session_config c = stored_config();
	struct harness h;
	online_on_mem_store(&h, &c, &st);
	uint16_t out;
	mqtt_session_publish(h.s, h.now, 2, false, mqtt_slice_str("t"), mqtt_slice_str("two"), &out);
	expect(&h, MQTT_PUBLISH);
	struct mqtt_packet in = {.type = MQTT_PUBLISH};
	in.publish.qos = 2;
	in.publish.packet_id = 77;
	in.publish.topic = mqtt_slice_str("in");
	in.publish.payload = mqtt_slice_str("once");
	CU_ASSERT(feed(&h, &in));
	harness_free(&h);
	flip_stored(&st, out);
	flip_stored(&st, MQTT_KEY_INBOUND | 77);

	harness_new(&h, &c, MQTT_SESSION_ADOPT, &st);
	CU_ASSERT_PTR_NOT_NULL(strstr(h.warnings, "inbound identifier 77 stays held"));
	CU_ASSERT_PTR_NOT_NULL(strstr(h.warnings, "released (PUBREL)"));
	go_online_with(&h, true); /* the broker has the session */
	struct mqtt_packet p = expect(&h, MQTT_PUBREL);
	CU_ASSERT_EQUAL(p.ack.packet_id, out);
	CU_ASSERT(quiet(&h)); /* the damaged message itself is never sent */
	/* The identifier is not given to a new message before PUBCOMP. */
	uint16_t n;
	CU_ASSERT_EQUAL(mqtt_session_publish(h.s, h.now, 2, false, mqtt_slice_str("t"),
	                                     mqtt_slice_str("new"), &n).cls, MQTT_SUCCESS);
	CU_ASSERT_NOT_EQUAL(n, out);
	expect(&h, MQTT_PUBLISH);
	/* The broker resends the inbound message: not delivered again. */
	in.publish.dup = true;
	CU_ASSERT_FALSE(feed(&h, &in));
	CU_ASSERT_EQUAL(expect(&h, MQTT_PUBREC).ack.packet_id, 77);
	feed_ack(&h, MQTT_PUBCOMP, out);
	expect_event(&h, MQTT_EVENT_PUBLISHED);
	harness_free(&h);
	mqtt_store_close(&st);
}

/* A store whose saves fail after a number of successes. */
struct failing {
	struct mqtt_store inner;
	int saves_left;
};

static int f_load(void *self, uint32_t key, uint8_t **v, size_t *n)
{
	struct failing *f = self;
	return f->inner.ops->load(f->inner.self, key, v, n);
}
static int f_save(void *self, uint32_t key, const struct iovec *iov, int cnt)
{
	struct failing *f = self;
	if (f->saves_left-- <= 0)
		return -ENOSPC;
	return f->inner.ops->save(f->inner.self, key, iov, cnt);
}
static int f_remove(void *self, uint32_t key)
{
	struct failing *f = self;
	return f->inner.ops->remove(f->inner.self, key);
}
static int f_list(void *self, int (*each)(void *, uint32_t), void *arg)
{
	struct failing *f = self;
	return f->inner.ops->list(f->inner.self, each, arg);
}
static void f_close(void *self)
{
	struct failing *f = self;
	mqtt_store_close(&f->inner);
}
static const struct mqtt_store_ops failing_ops = {f_load, f_save, f_remove, f_list, f_close};

static void test_failing_store(void)
{
	struct failing f = {.saves_left = 1}; /* the client identifier only */
	mqtt_store_mem(&f.inner);
	struct mqtt_store st = {&failing_ops, &f};
	struct mqtt_session_config c = stored_config();
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_INIT, &st);
	go_online(&h);
	struct mqtt_error e = mqtt_session_publish(h.s, h.now, 1, false, mqtt_slice_str("t"),
	                                           mqtt_slice_str("x"), NULL);
	CU_ASSERT_EQUAL(e.cls, MQTT_PERSISTENCE);
	CU_ASSERT_EQUAL(e.code, ENOSPC);
	CU_ASSERT(mqtt_error_not_sent(e));
	CU_ASSERT(quiet(&h)); /* nothing half-sent */
	CU_ASSERT_EQUAL(mqtt_session_inflight(h.s), 0);
	/* Inbound QoS 2 cannot be acknowledged unsaved: the connection goes. */
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = 2;
	m.publish.packet_id = 3;
	m.publish.topic = mqtt_slice_str("in");
	CU_ASSERT_FALSE(feed(&h, &m));
	CU_ASSERT_EQUAL(h.last.cls, MQTT_PERSISTENCE);
	CU_ASSERT(mqtt_session_should_close(h.s));
	harness_free(&h);
	mqtt_store_close(&st);
}

/* A big QoS 2 message is held (its identifier saved) once it has come
 * whole; when that save fails, it is not delivered, nor acknowledged, and
 * the connection goes, as for one that fits the read buffer. */
static void test_failing_store_big_qos2(void)
{
	struct failing f = {.saves_left = 1}; /* the client identifier only */
	mqtt_store_mem(&f.inner);
	struct mqtt_store st = {&failing_ops, &f};
	struct mqtt_session_config c = stored_config();
	c.read_buffer_size = 64;
	struct harness h;
	harness_new(&h, &c, MQTT_SESSION_INIT, &st);
	go_online(&h);
	static uint8_t payload[400], got[400], wire[500];
	struct mqtt_packet m = {.type = MQTT_PUBLISH};
	m.publish.qos = 2;
	m.publish.packet_id = 9;
	m.publish.topic = mqtt_slice_str("big/one");
	m.publish.payload = (struct mqtt_slice){payload, sizeof payload};
	size_t n, off = 0, used;
	CU_ASSERT_EQUAL_FATAL(mqtt_encode(wire, sizeof wire, &m, 0, &n), MQTT_OK);
	bool claimed = false;
	while (off < n) {
		size_t chunk = n - off < 100 ? n - off : 100;
		h.last = mqtt_session_receive(h.s, h.now, wire + off, chunk, &used, &h.msg);
		off += used;
		if (h.last.cls == MQTT_BIG_MESSAGE) {
			claimed = mqtt_session_claim(h.s, got);
			continue;
		}
		if (h.last.cls || h.msg.topic.data)
			break;
	}
	CU_ASSERT(claimed);
	CU_ASSERT_EQUAL(off, n);
	CU_ASSERT_EQUAL(h.last.cls, MQTT_PERSISTENCE);
	CU_ASSERT_PTR_NULL(h.msg.topic.data); /* not delivered */
	CU_ASSERT(mqtt_session_should_close(h.s));
	CU_ASSERT(quiet(&h)); /* no PUBREC for what is not held */
	harness_free(&h);
	mqtt_store_close(&st);
}

/* --- the restart test --- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int write_all(int fd, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The client process: a minimal blocking driver around the core on fd.
 * INIT publishes the message once online; ADOPT only resumes. Exits 0
 * when the exchange completed, 1 on any failure.
 */
static void client_process(int fd, const char *dir, bool adopt)
{
	struct mqtt_store st;
	if (mqtt_store_fs(&st, dir) != 0)
		_exit(1);
	struct mqtt_session_config c = stored_config();
	struct mqtt_session *s;
	if (mqtt_session_new(&s, &c, adopt ? MQTT_SESSION_ADOPT : MQTT_SESSION_INIT, &st, NULL, NULL).cls)
		_exit(1);
	mqtt_session_connected(s, now_ms());
	bool published = false;
	for (;;) {
		const uint8_t *out;
		size_t n = mqtt_session_output(s, &out);
		if (n) {
			if (write_all(fd, out, n))
				_exit(1);
			mqtt_session_wrote(s, now_ms(), n);
		}
		if (mqtt_session_should_close(s))
			_exit(1);
		struct mqtt_event ev;
		while (mqtt_session_next_event(s, &ev)) {
			if (ev.type == MQTT_EVENT_ONLINE && !adopt && !published) {
				if (mqtt_session_publish(s, now_ms(), 2, false, mqtt_slice_str("exactly/once"),
				                         mqtt_slice_str("the message"), NULL).cls)
					_exit(1);
				published = true;
			}
			/* Done once nothing is in flight: after the exchange,
			 * or at once when a killed client had finished it. */
			if ((ev.type == MQTT_EVENT_PUBLISHED || (ev.type == MQTT_EVENT_ONLINE && adopt)) &&
			    mqtt_session_inflight(s) == 0)
				_exit(0);
		}
		if (mqtt_session_output(s, &out))
			continue;
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 5000) <= 0)
			_exit(1);
		uint8_t buf[4096];
		ssize_t r = read(fd, buf, sizeof buf);
		if (r <= 0)
			_exit(1);
		size_t off = 0;
		while (off < (size_t)r) {
			size_t used;
			struct mqtt_message msg;
			if (mqtt_session_receive(s, now_ms(), buf + off, (size_t)r - off, &used, &msg).cls)
				_exit(1);
			off += used;
		}
	}
}

/* The broker: persistent session state across the client's deaths. */
struct broker {
	bool held[65536]; /* QoS 2 identifiers received, awaiting PUBREL */
	int delivered;    /* messages passed on to subscribers */
	int packets;      /* packets received from the client, all connections */
};

enum kill_point {
	KILL_ON_PUBLISH,    /* PUBLISH in, before PUBREC out */
	KILL_AFTER_PUBREC,  /* PUBREC out */
	KILL_ON_PUBREL,     /* PUBREL in, before PUBCOMP out */
	KILL_AFTER_PUBCOMP, /* PUBCOMP out */
	KILL_NEVER,
};

/* Serves one connection; returns when the client dies or completes, or
 * after killing it at the point. */
static void serve(struct broker *b, int fd, pid_t pid, enum kill_point kill_at)
{
	uint8_t fbuf[4096];
	struct mqtt_framer f;
	mqtt_framer_init(&f, fbuf, sizeof fbuf);
	uint8_t in[4096];
	for (;;) {
		ssize_t r = read(fd, in, sizeof in);
		if (r <= 0)
			return;
		size_t off = 0;
		while (off < (size_t)r) {
			size_t used;
			struct mqtt_frame fr;
			if (mqtt_framer_feed(&f, in + off, (size_t)r - off, &used, &fr))
				return;
			off += used;
			if (!fr.len)
				continue;
			struct mqtt_packet p;
			if (mqtt_decode(&p, fr.data, fr.len, MQTT_STRICT, NULL))
				return;
			b->packets++;
			uint8_t reply[4] = {0, 2, 0, 0};
			if (p.type == MQTT_CONNECT) {
				reply[0] = 0x20;
				reply[2] = 1; /* session present */
			} else if (p.type == MQTT_PUBLISH && p.publish.qos == 2) {
				if (!b->held[p.publish.packet_id]) {
					b->held[p.publish.packet_id] = true;
					b->delivered++;
				}
				if (kill_at == KILL_ON_PUBLISH) {
					kill(pid, SIGKILL);
					return;
				}
				reply[0] = 0x50;
				reply[2] = (uint8_t)(p.publish.packet_id >> 8);
				reply[3] = (uint8_t)p.publish.packet_id;
			} else if (p.type == MQTT_PUBREL) {
				b->held[p.ack.packet_id] = false;
				if (kill_at == KILL_ON_PUBREL) {
					kill(pid, SIGKILL);
					return;
				}
				reply[0] = 0x70;
				reply[2] = (uint8_t)(p.ack.packet_id >> 8);
				reply[3] = (uint8_t)p.ack.packet_id;
			} else {
				continue;
			}
			if (write_all(fd, reply, sizeof reply))
				return;
			if ((kill_at == KILL_AFTER_PUBREC && reply[0] == 0x50) ||
			    (kill_at == KILL_AFTER_PUBCOMP && reply[0] == 0x70)) {
				/* Give the client a moment to act on it, or not. */
				struct timespec t = {0, (rand() % 3000) * 1000L};
				nanosleep(&t, NULL);
				kill(pid, SIGKILL);
				return;
			}
		}
	}
}

static int run_client(struct broker *b, const char *dir, bool adopt, enum kill_point kill_at)
{
	int sv[2];
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		client_process(sv[1], dir, adopt);
	}
	close(sv[1]);
	serve(b, sv[0], pid, kill_at);
	close(sv[0]);
	int status;
	waitpid(pid, &status, 0);
	return status;
}

static void test_killed_at_each_step_of_qos2(void)
{
	srand((unsigned)time(NULL));
	for (int point = KILL_ON_PUBLISH; point < KILL_NEVER; point++) {
		for (int round = 0; round < 4; round++) {
			char dir[64];
			CU_ASSERT_FATAL(temp_dir(dir, sizeof dir));
			struct broker *b = calloc(1, sizeof *b);
			int status = run_client(b, dir, false, (enum kill_point)point);
			/* Killed; or, killed after PUBCOMP, perhaps done just before. */
			CU_ASSERT((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
			          (point == KILL_AFTER_PUBCOMP && WIFEXITED(status) && WEXITSTATUS(status) == 0));
			/* A new client adopts the store and finishes the exchange. */
			status = run_client(b, dir, true, KILL_NEVER);
			CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			if (b->delivered != 1)
				fprintf(stderr, "\n  kill point %d: delivered %d times\n", point, b->delivered);
			CU_ASSERT_EQUAL(b->delivered, 1);
			bool held = false;
			for (int i = 0; i < 65536; i++)
				held |= b->held[i];
			CU_ASSERT_FALSE(held); /* released at the broker too */
			struct mqtt_store st;
			CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&st, dir), 0);
			CU_ASSERT_EQUAL(keys_in(&st), 1); /* only the client identifier */
			mqtt_store_close(&st);
			free(b);
			CU_ASSERT(remove_tree(dir));
		}
	}
}

/* Bad input from the application: denied, nothing sent, nothing saved. */
static void test_deny_sends_and_saves_nothing(void)
{
	struct mqtt_store st;
	struct mqtt_session_config c = stored_config();
	struct harness h;
	online_on_mem_store(&h, &c, &st);
	static const uint8_t small[8];
	struct mqtt_slice huge = {small, (size_t)MQTT_REMAINING_LENGTH_MAX}; /* never read */
	static const char *bad_topics[] = {"a/+", "#", "", "nul\0x", "bad\xff"};
	for (uint8_t qos = 0; qos <= 2; qos++) {
		struct mqtt_error e = mqtt_session_publish(h.s, h.now, qos, false, mqtt_slice_str("t"), huge, NULL);
		CU_ASSERT_EQUAL(e.cls, MQTT_DENY);
		CU_ASSERT_EQUAL(e.code, MQTT_ERR_PACKET_SIZE);
		for (size_t i = 0; i < 5; i++) {
			struct mqtt_slice t = {(const uint8_t *)bad_topics[i], i == 3 ? 5 : strlen(bad_topics[i])};
			e = mqtt_session_publish(h.s, h.now, qos, false, t, mqtt_slice_str("x"), NULL);
			CU_ASSERT_EQUAL(e.cls, MQTT_DENY);
			CU_ASSERT(mqtt_error_not_sent(e));
		}
	}
	CU_ASSERT(quiet(&h));
	CU_ASSERT_EQUAL(mqtt_session_inflight(h.s), 0);
	CU_ASSERT_EQUAL(keys_in(&st), 1); /* the client identifier only */
	harness_free(&h);
	mqtt_store_close(&st);
}

/* Garbage from the broker ends the connection; what was in flight is
 * resent after the reconnect: nothing lost. */
static void test_garbage_loses_nothing(void)
{
	struct mqtt_store st;
	struct mqtt_session_config c = stored_config();
	struct harness h;
	online_on_mem_store(&h, &c, &st);
	uint16_t a, b;
	mqtt_session_publish(h.s, h.now, 1, false, mqtt_slice_str("t"), mqtt_slice_str("one"), &a);
	mqtt_session_publish(h.s, h.now, 2, false, mqtt_slice_str("t"), mqtt_slice_str("two"), &b);
	expect(&h, MQTT_PUBLISH);
	expect(&h, MQTT_PUBLISH);
	static const uint8_t garbage[] = {0xf0, 0x00, 0x12, 0x34};
	feed_bytes(&h, garbage, sizeof garbage);
	CU_ASSERT_EQUAL(h.last.cls, MQTT_PROTOCOL);
	CU_ASSERT_EQUAL(h.last.code, MQTT_ERR_PACKET_TYPE);
	CU_ASSERT(mqtt_session_should_close(h.s));
	mqtt_session_lost(h.s, h.now, h.last);
	expect_event(&h, MQTT_EVENT_OFFLINE);
	CU_ASSERT_EQUAL(keys_in(&st), 3); /* still saved */
	h.now = mqtt_session_dial_at(h.s);
	go_online(&h);
	struct mqtt_packet p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT(p.publish.dup && p.publish.packet_id == a);
	p = expect(&h, MQTT_PUBLISH);
	CU_ASSERT(p.publish.dup && p.publish.packet_id == b);
	harness_free(&h);
	mqtt_store_close(&st);
}

const struct test_def session_store_tests[] = {
	{"denied requests send and save nothing", test_deny_sends_and_saves_nothing},
	{"garbage from the broker loses nothing in flight", test_garbage_loses_nothing},
	{"INIT, then ADOPT after a crash resends and deduplicates", test_init_and_adopt},
	{"an adopted session never connects clean", test_adopted_never_clean},
	{"ADOPT warns about damaged and unusable records", test_adopt_with_damage},
	{"damaged records: never sent, QoS 2 identifiers released, inbound held", test_damaged_records_policy},
	{"a failing store refuses requests, sends nothing", test_failing_store},
	{"a failing store: a big QoS 2 message is neither delivered nor acknowledged", test_failing_store_big_qos2},
	{"SIGKILL at each step of QoS 2: delivered exactly once", test_killed_at_each_step_of_qos2},
	{NULL, NULL},
};
