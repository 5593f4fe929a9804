/*
 * session_output.c - the session core's output: a queue of pieces that
 * stay where they are until written, so that a driver can hand them to
 * writev(2) outside its lock while more output is queued, and nothing is
 * copied on the way to the wire.
 *
 * A piece is either a run of a chunk (control packets and QoS 0 PUBLISH,
 * encoded straight into it) or a QoS 1/2 PUBLISH's own packet, the one
 * the exchange keeps for resends: a payload is copied once, into the
 * session, and never again. Chunks are appended to, never moved or
 * grown; a written chunk is reused, so steady traffic allocates nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "session_internal.h"

#define CHUNK_SIZE (16u * 1024u)
#define SPARE_CHUNKS 2

struct out_chunk {
	struct out_chunk *next;
	size_t cap, len, done; /* bytes appended; bytes of them written */
	uint8_t data[];
};

struct out_piece {
	const uint8_t *data;
	size_t len;
	struct out_chunk *chunk; /* whose bytes these are; NULL: a packet's */
	uint8_t *owned;          /* freed once written (session_release_packet) */
};

static struct out_piece *piece_at(struct session_output *o, size_t i)
{
	return &o->pieces[(o->head + i) % o->cap];
}

static struct out_chunk *chunk_new(struct session_output *o, size_t need)
{
	struct out_chunk *k = NULL;
	if (need <= CHUNK_SIZE && o->spare) {
		k = o->spare;
		o->spare = k->next;
		o->nspare--;
	} else {
		size_t cap = need > CHUNK_SIZE ? need : CHUNK_SIZE;
		k = malloc(sizeof *k + cap);
		if (!k)
			return NULL;
		k->cap = cap;
	}
	k->next = NULL;
	k->len = k->done = 0;
	return k;
}

/* A chunk no piece refers to any more: kept for reuse, or freed. */
static void chunk_retire(struct session_output *o, struct out_chunk *k)
{
	if (k->cap == CHUNK_SIZE && o->nspare < SPARE_CHUNKS) {
		k->next = o->spare;
		o->spare = k;
		o->nspare++;
	} else {
		free(k);
	}
}

static bool push_piece(struct session_output *o, const uint8_t *data, size_t len,
                       struct out_chunk *chunk)
{
	if (o->count == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		struct out_piece *p = malloc(cap * sizeof *p);
		if (!p)
			return false;
		for (size_t i = 0; i < o->count; i++)
			p[i] = *piece_at(o, i);
		free(o->pieces);
		o->pieces = p;
		o->cap = cap;
		o->head = 0;
	}
	struct out_piece *p = piece_at(o, o->count++);
	p->data = data;
	p->len = len;
	p->chunk = chunk;
	p->owned = NULL;
	o->bytes += len;
	return true;
}

/* Room for n contiguous bytes at the end of the tail chunk. */
static uint8_t *reserve(struct session_output *o, size_t n)
{
	struct out_chunk *t = o->tail;
	if (t && t->cap - t->len >= n)
		return t->data + t->len;
	struct out_chunk *k = chunk_new(o, n);
	if (!k)
		return NULL;
	if (t)
		t->next = k;
	else
		o->first = k;
	o->tail = k;
	return k->data;
}

/* The n bytes written at reserve() are output: the last piece grows when
 * they follow it in the same chunk. */
static bool commit(struct session_output *o, size_t n)
{
	struct out_chunk *t = o->tail;
	const uint8_t *at = t->data + t->len;
	struct out_piece *last = o->count ? piece_at(o, o->count - 1) : NULL;
	if (last && last->chunk == t && last->data + last->len == at) {
		last->len += n;
		o->bytes += n;
	} else if (!push_piece(o, at, n, t)) {
		return false;
	}
	t->len += n;
	return true;
}

struct mqtt_error session_queue_bytes(struct mqtt_session *s, const uint8_t *b, size_t n)
{
	uint8_t *at = reserve(&s->out, n);
	if (!at)
		return err_of(MQTT_PERSISTENCE, ENOMEM);
	memcpy(at, b, n);
	if (!commit(&s->out, n))
		return err_of(MQTT_PERSISTENCE, ENOMEM);
	s->queued_total += n;
	return ok();
}

/* Encodes p straight into the output: the QoS 0 path allocates nothing. */
struct mqtt_error session_queue(struct mqtt_session *s, const struct mqtt_packet *p)
{
	size_t n = mqtt_encoded_size(p);
	if (n == 0)
		return err_of(MQTT_DENY, p->type == MQTT_PUBLISH && p->publish.topic.len > MQTT_STRING_MAX
		                             ? MQTT_ERR_STRING_LENGTH
		                             : MQTT_ERR_PACKET_SIZE);
	uint8_t *at = reserve(&s->out, n);
	if (!at)
		return err_of(MQTT_PERSISTENCE, ENOMEM);
	enum mqtt_err e = mqtt_encode(at, n, p, MQTT_STRICT, &n);
	if (e)
		return err_of(MQTT_DENY, e);
	if (!commit(&s->out, n))
		return err_of(MQTT_PERSISTENCE, ENOMEM);
	s->queued_total += n;
	return ok();
}

struct mqtt_error session_queue_packet(struct mqtt_session *s, const uint8_t *packet, size_t n)
{
	if (!push_piece(&s->out, packet, n, NULL))
		return err_of(MQTT_PERSISTENCE, ENOMEM);
	s->queued_total += n;
	return ok();
}

/* Removes the first piece, all of it written or dropped. */
static void pop_piece(struct session_output *o)
{
	struct out_piece *p = piece_at(o, 0);
	free(p->owned);
	o->head = (o->head + 1) % o->cap;
	o->count--;
}

/* What may still be sent: nothing once closed. */
static bool giving_out(const struct mqtt_session *s)
{
	return s->transport_up && s->state != MQTT_STATE_CLOSED;
}

/* Chunks wholly written are retired from the front; the tail, once
 * wholly written, starts over in place. */
static void retire_written(struct session_output *o)
{
	while (o->first && o->first->done == o->first->len) {
		struct out_chunk *k = o->first;
		if (k == o->tail) {
			k->len = k->done = 0;
			return;
		}
		o->first = k->next;
		chunk_retire(o, k);
	}
}

void session_output_drop(struct mqtt_session *s)
{
	struct session_output *o = &s->out;
	while (o->count)
		pop_piece(o);
	o->bytes = 0;
	/* No writer holds them (the caller's promise): kept or freed. */
	while (o->first) {
		struct out_chunk *k = o->first;
		o->first = k->next;
		chunk_retire(o, k);
	}
	o->tail = NULL;
}

bool session_output_pending(const struct mqtt_session *s)
{
	return s->out.count != 0;
}

/*
 * An exchange is done with its PUBLISH. A broker cannot acknowledge what
 * it has not received whole, but one that does must not make the writer
 * read freed memory: a packet still queued is freed once written. Only
 * then is the queue searched, so an acknowledgement costs nothing more.
 */
void session_release_packet(struct mqtt_session *s, struct out_entry *e)
{
	uint8_t *packet = e->packet;
	e->packet = NULL;
	if (!packet)
		return;
	struct session_output *o = &s->out;
	if (e->queued_at + e->len > s->written_total) {
		for (size_t i = 0; i < o->count; i++) {
			struct out_piece *p = piece_at(o, i);
			if (!p->chunk && !p->owned && p->data >= packet && p->data < packet + e->len) {
				p->owned = packet;
				return;
			}
		}
	}
	free(packet);
}

void session_output_free(struct mqtt_session *s)
{
	struct session_output *o = &s->out;
	session_output_drop(s);
	free(o->pieces);
	for (struct out_chunk *k = o->first, *next; k; k = next) {
		next = k->next;
		free(k);
	}
	for (struct out_chunk *k = o->spare, *next; k; k = next) {
		next = k->next;
		free(k);
	}
	free(o->flat);
	memset(o, 0, sizeof *o);
}

size_t mqtt_session_output_iov(struct mqtt_session *s, struct iovec *v, size_t max, size_t *total)
{
	struct session_output *o = &s->out;
	size_t n = 0;
	for (; giving_out(s) && n < o->count && n < max; n++) {
		struct out_piece *p = piece_at(o, n);
		v[n].iov_base = (void *)(uintptr_t)p->data;
		v[n].iov_len = p->len;
	}
	if (total)
		*total = giving_out(s) ? o->bytes : 0;
	return n;
}

size_t mqtt_session_output(struct mqtt_session *s, const uint8_t **data)
{
	static const uint8_t none[1];
	struct session_output *o = &s->out;
	*data = none;
	if (!giving_out(s) || !o->count)
		return 0;
	if (o->count == 1) {
		*data = o->pieces[o->head].data;
		return o->pieces[o->head].len;
	}
	/* Pieces laid end to end, for drivers that write one buffer. */
	size_t bytes = o->bytes;
	if (bytes > o->flat_cap) {
		uint8_t *f = realloc(o->flat, bytes);
		if (!f) {
			/* The first piece alone, then: still in order. */
			*data = o->pieces[o->head].data;
			return o->pieces[o->head].len;
		}
		o->flat = f;
		o->flat_cap = bytes;
	}
	size_t at = 0;
	for (size_t i = 0; i < o->count; i++) {
		struct out_piece *p = piece_at(o, i);
		memcpy(o->flat + at, p->data, p->len);
		at += p->len;
	}
	*data = o->flat;
	return bytes;
}

void mqtt_session_wrote(struct mqtt_session *s, uint64_t now, size_t n)
{
	struct session_output *o = &s->out;
	size_t took = 0;
	while (n && o->count) {
		struct out_piece *p = piece_at(o, 0);
		size_t k = n < p->len ? n : p->len;
		p->data += k;
		p->len -= k;
		if (p->chunk)
			p->chunk->done += k;
		n -= k;
		took += k;
		o->bytes -= k;
		if (p->len == 0)
			pop_piece(o);
	}
	retire_written(o);
	s->written_total += took;
	if (took)
		s->last_write = now;
	/* DISCONNECT is out: the transport can go [MQTT-3.14.4-1]. */
	if (!o->count && s->closing) {
		MQTT_CONFORMS("MQTT-3.14.4-1");
		s->close_wanted = true;
	}
}
