/*
 * store_checked.c - the integrity layer over any store.
 *
 * Each value is stored as: data || sequence number (8 bytes, big
 * endian) || CRC-32C (4 bytes, big endian) of key (4 bytes, big endian)
 * || data || sequence number. The key inside the checksum catches a
 * record found under the wrong key; the sequence number gives the order
 * of saves, which the session needs to resend in publish order after a
 * restart (packet identifiers wrap, so they cannot give it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/store.h"
#include "store_internal.h"

#define MAX_IOV 15

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t record_crc(uint32_t key, const struct iovec *iov, int iovcnt, const uint8_t seq[8])
{
	uint8_t k[4];
	put_be32(k, key);
	uint32_t crc = mqtt_crc32c(0, k, 4);
	for (int i = 0; i < iovcnt; i++)
		crc = mqtt_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	return mqtt_crc32c(crc, seq, 8);
}

void mqtt_checked_init(struct mqtt_checked *c, struct mqtt_store store)
{
	c->store = store;
	c->next_seq = 1;
}

int mqtt_checked_save(struct mqtt_checked *c, uint32_t key, const struct iovec *iov, int iovcnt,
                      uint64_t *seq)
{
	if (!c || !c->store.ops || iovcnt < 0 || iovcnt > MAX_IOV)
		return -EINVAL;
	size_t total;
	int rc = store_iov_total(key, iov, iovcnt, &total);
	if (rc)
		return rc;
	if (total > MQTT_STORE_VALUE_MAX - MQTT_CHECKED_TRAILER)
		return -EFBIG;
	uint8_t trailer[MQTT_CHECKED_TRAILER];
	uint64_t s = c->next_seq;
	put_be64(trailer, s);
	put_be32(trailer + 8, record_crc(key, iov, iovcnt, trailer));
	struct iovec all[MAX_IOV + 1];
	if (iovcnt)
		memcpy(all, iov, (size_t)iovcnt * sizeof *iov);
	all[iovcnt].iov_base = trailer;
	all[iovcnt].iov_len = sizeof trailer;
	rc = c->store.ops->save(c->store.self, key, all, iovcnt + 1);
	if (rc)
		return rc;
	/* A number is spent only on success, so that numbers stay dense
	 * enough to read; gaps would be harmless all the same. */
	c->next_seq = s + 1;
	if (seq)
		*seq = s;
	return 0;
}

/* Verifies a raw record; on success *len is the data length. */
static const char *verify(uint32_t key, const uint8_t *raw, size_t raw_len, size_t *len,
                          uint64_t *seq)
{
	if (raw_len < MQTT_CHECKED_TRAILER)
		return "record shorter than its 12-byte trailer";
	size_t n = raw_len - MQTT_CHECKED_TRAILER;
	struct iovec data = {(void *)(uintptr_t)raw, n};
	uint32_t want = get_be32(raw + n + 8);
	if (record_crc(key, &data, 1, raw + n) != want)
		return "record checksum mismatch (damaged, truncated or misplaced)";
	*len = n;
	*seq = get_be64(raw + n);
	return NULL;
}

int mqtt_checked_load(struct mqtt_checked *c, uint32_t key, uint8_t **value, size_t *len,
                      uint64_t *seq, const char **why)
{
	if (!c || !c->store.ops || !value || !len)
		return -EINVAL;
	uint8_t *raw;
	size_t raw_len;
	int rc = c->store.ops->load(c->store.self, key, &raw, &raw_len);
	*value = NULL;
	*len = 0;
	if (rc || !raw)
		return rc;
	uint64_t s;
	const char *bad = verify(key, raw, raw_len, len, &s);
	if (bad) {
		free(raw);
		*len = 0;
		if (why)
			*why = bad;
		return -EBADMSG;
	}
	*value = raw;
	if (seq)
		*seq = s;
	return 0;
}

int mqtt_checked_remove(struct mqtt_checked *c, uint32_t key)
{
	if (!c || !c->store.ops)
		return -EINVAL;
	return c->store.ops->remove(c->store.self, key);
}

struct key_list {
	uint32_t *keys;
	size_t n, cap;
};

static int collect_key(void *arg, uint32_t key)
{
	struct key_list *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		uint32_t *k = realloc(l->keys, cap * sizeof *k);
		if (!k)
			return -ENOMEM;
		l->keys = k;
		l->cap = cap;
	}
	l->keys[l->n++] = key;
	return 0;
}

struct loaded {
	struct mqtt_checked_record r;
	uint8_t *raw;
};

static int by_sequence(const void *a, const void *b)
{
	const struct loaded *x = a, *y = b;
	if (x->r.seq != y->r.seq)
		return x->r.seq < y->r.seq ? -1 : 1;
	return x->r.key < y->r.key ? -1 : x->r.key > y->r.key;
}

int mqtt_checked_scan(struct mqtt_checked *c,
                      int (*record)(void *arg, const struct mqtt_checked_record *r),
                      void (*damaged)(void *arg, uint32_t key, const char *why), void *arg)
{
	if (!c || !c->store.ops || !record)
		return -EINVAL;
	struct key_list keys = {0};
	int rc = c->store.ops->list(c->store.self, collect_key, &keys);
	struct loaded *found = NULL;
	size_t nfound = 0;
	struct {
		uint32_t key;
		const char *why;
	} *bad = NULL;
	size_t nbad = 0;
	if (!rc && keys.n) {
		found = calloc(keys.n, sizeof *found);
		bad = calloc(keys.n, sizeof *bad);
		if (!found || !bad)
			rc = -ENOMEM;
	}
	/* Load everything first: report nothing when the store fails. */
	for (size_t i = 0; i < keys.n && !rc; i++) {
		uint8_t *raw;
		size_t raw_len;
		rc = c->store.ops->load(c->store.self, keys.keys[i], &raw, &raw_len);
		if (rc || !raw)
			continue; /* an error ends the loop; a key gone since list() is skipped */
		struct loaded *l = &found[nfound];
		const char *why = verify(keys.keys[i], raw, raw_len, &l->r.len, &l->r.seq);
		if (why) {
			bad[nbad].key = keys.keys[i];
			bad[nbad++].why = why;
			free(raw);
			continue;
		}
		l->raw = raw;
		l->r.key = keys.keys[i];
		l->r.value = raw;
		nfound++;
	}
	if (!rc) {
		if (nfound) /* found is NULL for an empty store */
			qsort(found, nfound, sizeof *found, by_sequence);
		for (size_t i = 0; i < nfound; i++)
			if (found[i].r.seq >= c->next_seq)
				c->next_seq = found[i].r.seq + 1;
		if (damaged)
			for (size_t i = 0; i < nbad; i++)
				damaged(arg, bad[i].key, bad[i].why);
		for (size_t i = 0; i < nfound && !rc; i++)
			rc = record(arg, &found[i].r);
	}
	for (size_t i = 0; i < nfound; i++)
		free(found[i].raw);
	free(found);
	free(bad);
	free(keys.keys);
	return rc;
}
