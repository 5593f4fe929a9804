/*
 * broker_record.c - the packet recording: a ring of the newest
 * record_max packets, each one allocation (header, client id, bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"

void record_packet(struct bconn *c, unsigned dir, uint8_t type, const uint8_t *bytes, size_t len)
{
	struct mqtt_broker *b = c->b;
	if (!b->records) {
		b->records = calloc(b->cfg.record_max, sizeof *b->records);
		if (!b->records)
			return;
	}
	const char *client = mqtt_bconn_client_id((struct mqtt_bconn *)c);
	size_t client_len = strlen(client);
	struct brecord *r = malloc(sizeof *r + len + client_len + 1);
	if (!r)
		return; /* recording is best effort; the broker goes on */
	r->seq = ++b->rec_seq;
	r->time = b->now;
	r->conn = c->id;
	r->dir = (uint8_t)dir;
	r->type = type;
	r->len = len;
	memcpy(r->bytes, bytes, len);
	r->client_id = (char *)r->bytes + len;
	memcpy(r->client_id, client, client_len + 1);
	size_t slot;
	if (b->rec_len == b->cfg.record_max) {
		slot = b->rec_head;
		free(b->records[slot]);
		b->rec_head = (b->rec_head + 1) % b->cfg.record_max;
	} else {
		slot = (b->rec_head + b->rec_len++) % b->cfg.record_max;
	}
	b->records[slot] = r;
}

void record_free(struct mqtt_broker *b)
{
	for (size_t i = 0; i < b->rec_len; i++)
		free(b->records[(b->rec_head + i) % b->cfg.record_max]);
	free(b->records);
	b->records = NULL;
	b->rec_len = 0;
}

size_t mqtt_broker_records(struct mqtt_broker *b, uint64_t since, struct mqtt_broker_record *out,
                           size_t max)
{
	if (!b->rec_len)
		return 0;
	/* Sequence numbers are consecutive: the first wanted is found by arithmetic. */
	uint64_t oldest = b->records[b->rec_head]->seq;
	size_t skip = since >= oldest ? (size_t)(since - oldest + 1) : 0;
	size_t n = 0;
	for (size_t i = skip; i < b->rec_len && n < max; i++, n++) {
		const struct brecord *r = b->records[(b->rec_head + i) % b->cfg.record_max];
		out[n] = (struct mqtt_broker_record){
			.seq = r->seq, .time = r->time, .conn = r->conn, .dir = r->dir,
			.type = r->type, .client_id = r->client_id, .bytes = r->bytes, .len = r->len,
		};
	}
	return n;
}
