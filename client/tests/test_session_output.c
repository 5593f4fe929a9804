/*
 * The session core's output queue: pieces that stay in place while more
 * is queued (a driver writes them with its lock released), a QoS 1/2
 * PUBLISH written from the exchange's own packet, and memory that
 * outlives an early acknowledgement or a close while a writer holds it.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "client/session_internal.h"
#include "session_testutil.h"
#include "testing/suites.h"

#define MAX_PIECES 256

struct held {
	struct iovec v[MAX_PIECES];
	uint8_t *copy[MAX_PIECES];
	size_t n, total;
};

/* Takes the output's pieces as a writer would, with a copy of each. */
static void hold(struct harness *h, struct held *w)
{
	w->n = mqtt_session_output_iov(h->s, w->v, MAX_PIECES, &w->total);
	CU_ASSERT_FATAL(w->n > 0 && w->n < MAX_PIECES);
	for (size_t i = 0; i < w->n; i++) {
		w->copy[i] = malloc(w->v[i].iov_len);
		CU_ASSERT_FATAL(w->copy[i] != NULL);
		memcpy(w->copy[i], w->v[i].iov_base, w->v[i].iov_len);
	}
}

/* Whether the held pieces still hold what they held. */
static bool intact(const struct held *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (memcmp(w->copy[i], w->v[i].iov_base, w->v[i].iov_len) != 0)
			return false;
	return true;
}

static void release(struct held *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->copy[i]);
	w->n = 0;
}

/* Allocates and scribbles over memory of about size bytes, so that
 * anything freed too early gets overwritten (ASan reports it anyway). */
static void churn(void **blocks, size_t n, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		blocks[i] = malloc(size);
		if (blocks[i])
			memset(blocks[i], 0x55, size);
	}
}

static void unchurn(void **blocks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(blocks[i]);
}

static struct mqtt_error publish(struct harness *h, uint8_t qos, const char *payload, size_t len,
                                 uint16_t *id)
{
	struct mqtt_slice p = {(const uint8_t *)payload, len};
	return mqtt_session_publish(h->s, h->now, qos, false, mqtt_slice_str("out/q"), p, id);
}

static void test_pieces_stay_while_more_is_queued(void)
{
	struct harness h;
	struct mqtt_session_config cfg = test_config();
	harness_new(&h, &cfg, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	char small[16], big[1000];
	memset(big, 'b', sizeof big);
	for (int i = 0; i < 4; i++) {
		snprintf(small, sizeof small, "m%d", i);
		CU_ASSERT_EQUAL(publish(&h, 1, small, strlen(small), NULL).cls, MQTT_SUCCESS);
	}
	struct held w;
	hold(&h, &w);
	/* 40 KB more: new chunks, more pieces; nothing held moves. */
	for (int i = 0; i < 40; i++) {
		big[0] = (char)('A' + i % 26);
		CU_ASSERT_EQUAL(publish(&h, 0, big, sizeof big, NULL).cls, MQTT_SUCCESS);
	}
	CU_ASSERT(intact(&w));
	size_t total;
	mqtt_session_output_iov(h.s, NULL, 0, &total);
	CU_ASSERT_EQUAL(total, w.total + 40 * (2 + 2 + 5 + sizeof big + 1));
	/* Written a few bytes at a time, it is the packets in order. */
	struct mqtt_framer f;
	static uint8_t fbuf[4096];
	mqtt_framer_init(&f, fbuf, sizeof fbuf);
	int seen = 0;
	for (;;) {
		struct iovec v[4];
		size_t n = mqtt_session_output_iov(h.s, v, 4, NULL);
		if (!n)
			break;
		size_t take = v[0].iov_len < 7 ? v[0].iov_len : 7;
		const uint8_t *b = v[0].iov_base;
		for (size_t off = 0; off < take;) {
			size_t used;
			struct mqtt_frame fr;
			CU_ASSERT_EQUAL_FATAL(mqtt_framer_feed(&f, b + off, take - off, &used, &fr), MQTT_OK);
			off += used;
			if (!fr.len)
				continue;
			struct mqtt_packet p;
			CU_ASSERT_EQUAL_FATAL(mqtt_decode(&p, fr.data, fr.len, MQTT_STRICT, NULL), MQTT_OK);
			CU_ASSERT_EQUAL(p.type, MQTT_PUBLISH);
			if (seen < 4) {
				snprintf(small, sizeof small, "m%d", seen);
				CU_ASSERT(p.publish.qos == 1 && p.publish.payload.len == strlen(small) &&
				          !memcmp(p.publish.payload.data, small, strlen(small)));
			} else {
				CU_ASSERT(p.publish.qos == 0 && p.publish.payload.len == sizeof big &&
				          p.publish.payload.data[0] == 'A' + (seen - 4) % 26);
			}
			seen++;
		}
		mqtt_session_wrote(h.s, h.now, take);
	}
	CU_ASSERT_EQUAL(seen, 44);
	release(&w);
	harness_free(&h);
}

static void test_qos1_written_from_the_exchange_packet(void)
{
	struct harness h;
	struct mqtt_session_config cfg = test_config();
	harness_new(&h, &cfg, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	uint16_t id1, id2;
	static char payload[100000]; /* larger than a chunk */
	memset(payload, 'p', sizeof payload);
	CU_ASSERT_EQUAL(publish(&h, 1, payload, sizeof payload, &id1).cls, MQTT_SUCCESS);
	CU_ASSERT_EQUAL(publish(&h, 2, "two", 3, &id2).cls, MQTT_SUCCESS);
	struct iovec v[4];
	CU_ASSERT_EQUAL(mqtt_session_output_iov(h.s, v, 4, NULL), 2);
	struct out_entry *e1 = session_entry(h.s, session_node(h.s, &h.s->qos1, id1));
	struct out_entry *e2 = session_entry(h.s, session_node(h.s, &h.s->qos2, id2));
	CU_ASSERT(v[0].iov_base == e1->packet && v[0].iov_len == e1->len);
	CU_ASSERT(v[1].iov_base == e2->packet && v[1].iov_len == e2->len);
	harness_free(&h);
}

static void test_early_ack_keeps_bytes_until_written(void)
{
	struct harness h;
	struct mqtt_session_config cfg = test_config();
	harness_new(&h, &cfg, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	uint16_t id;
	static const char payload[] = "written after its PUBACK";
	CU_ASSERT_EQUAL(publish(&h, 1, payload, sizeof payload - 1, &id).cls, MQTT_SUCCESS);
	struct held w;
	hold(&h, &w);
	/* A broker cannot have it yet; the exchange ends all the same, and
	 * the writer that holds the bytes is not left reading freed memory. */
	feed_ack(&h, MQTT_PUBACK, id);
	expect_event(&h, MQTT_EVENT_PUBLISHED);
	void *blocks[64];
	churn(blocks, 64, w.v[0].iov_len);
	CU_ASSERT(intact(&w));
	mqtt_session_wrote(h.s, h.now, w.total);
	CU_ASSERT(quiet(&h));
	unchurn(blocks, 64);
	release(&w);
	harness_free(&h);
}

static void test_close_leaves_held_pieces_alone(void)
{
	struct harness h;
	struct mqtt_session_config cfg = test_config();
	harness_new(&h, &cfg, MQTT_SESSION_VOLATILE, NULL);
	go_online(&h);
	char big[3000];
	memset(big, 'c', sizeof big);
	for (int i = 0; i < 12; i++)
		CU_ASSERT_EQUAL(publish(&h, 0, big, sizeof big, NULL).cls, MQTT_SUCCESS);
	uint16_t id;
	CU_ASSERT_EQUAL(publish(&h, 1, big, sizeof big, &id).cls, MQTT_SUCCESS);
	struct held w;
	hold(&h, &w);
	CU_ASSERT(w.n >= 3); /* more than one chunk, and the QoS 1 packet */
	feed_ack(&h, MQTT_PUBACK, id); /* its packet is the output's now */
	expect_event(&h, MQTT_EVENT_PUBLISHED);
	mqtt_session_close(h.s, h.now);
	size_t left;
	CU_ASSERT_EQUAL(mqtt_session_output_iov(h.s, w.v + w.n, 1, &left), 0); /* nothing more goes out */
	CU_ASSERT_EQUAL(left, 0);
	void *blocks[64];
	void *small[64];
	churn(blocks, 64, 16 * 1024 + 64);
	churn(small, 64, w.v[w.n - 1].iov_len);
	CU_ASSERT(intact(&w));
	mqtt_session_wrote(h.s, h.now, w.total); /* the writer comes back */
	unchurn(blocks, 64);
	unchurn(small, 64);
	release(&w);
	harness_free(&h);
}

const struct test_def session_output_tests[] = {
	{"pieces stay in place while more is queued", test_pieces_stay_while_more_is_queued},
	{"a QoS 1/2 PUBLISH is written from the exchange's packet", test_qos1_written_from_the_exchange_packet},
	{"an early acknowledgement keeps the bytes until written", test_early_ack_keeps_bytes_until_written},
	{"closing leaves the pieces a writer holds alone", test_close_leaves_held_pieces_alone},
	{NULL, NULL},
};
