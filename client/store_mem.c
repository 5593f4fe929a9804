/*
 * store_mem.c - the in-memory store: values in a two-level table of
 * 17-bit keys (128 pages of 1,024 slots, pages made on first use), under
 * one mutex.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/store.h"
#include "store_internal.h"

#define PAGE_BITS 10
#define PAGE_SLOTS (1u << PAGE_BITS)
#define PAGES ((MQTT_STORE_KEY_MAX + 1) / PAGE_SLOTS)

struct slot {
	uint8_t *data; /* NULL: no value */
	size_t len;
};

struct mem_store {
	pthread_mutex_t lock;
	struct slot *pages[PAGES];
};

static struct slot *slot_of(struct mem_store *m, uint32_t key, bool create)
{
	struct slot **page = &m->pages[key >> PAGE_BITS];
	if (!*page) {
		if (!create)
			return NULL;
		*page = calloc(PAGE_SLOTS, sizeof **page);
		if (!*page)
			return NULL;
	}
	return &(*page)[key & (PAGE_SLOTS - 1)];
}

static int mem_load(void *self, uint32_t key, uint8_t **value, size_t *len)
{
	struct mem_store *m = self;
	if (key > MQTT_STORE_KEY_MAX || !value || !len)
		return -EINVAL;
	*value = NULL;
	*len = 0;
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	struct slot *s = slot_of(m, key, false);
	if (s && s->data) {
		uint8_t *copy = malloc(s->len ? s->len : 1);
		if (!copy) {
			rc = -ENOMEM;
		} else {
			memcpy(copy, s->data, s->len);
			*value = copy;
			*len = s->len;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mem_save(void *self, uint32_t key, const struct iovec *iov, int iovcnt)
{
	struct mem_store *m = self;
	size_t total;
	int rc = store_iov_total(key, iov, iovcnt, &total);
	if (rc)
		return rc;
	/* Gather outside the lock; swap in under it. */
	uint8_t *data = malloc(total ? total : 1);
	if (!data)
		return -ENOMEM;
	store_iov_gather(data, iov, iovcnt);
	pthread_mutex_lock(&m->lock);
	struct slot *s = slot_of(m, key, true);
	uint8_t *old = NULL;
	if (!s) {
		rc = -ENOMEM;
	} else {
		old = s->data;
		s->data = data;
		s->len = total;
		data = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	free(old);
	free(data);
	return rc;
}

static int mem_remove(void *self, uint32_t key)
{
	struct mem_store *m = self;
	if (key > MQTT_STORE_KEY_MAX)
		return -EINVAL;
	uint8_t *old = NULL;
	pthread_mutex_lock(&m->lock);
	struct slot *s = slot_of(m, key, false);
	if (s) {
		old = s->data;
		s->data = NULL;
		s->len = 0;
	}
	pthread_mutex_unlock(&m->lock);
	free(old);
	return 0;
}

static int mem_list(void *self, int (*each)(void *arg, uint32_t key), void *arg)
{
	struct mem_store *m = self;
	if (!each)
		return -EINVAL;
	/* Collect under the lock, call back without it (each() may be slow). */
	pthread_mutex_lock(&m->lock);
	size_t n = 0;
	for (uint32_t p = 0; p < PAGES; p++)
		if (m->pages[p])
			for (uint32_t i = 0; i < PAGE_SLOTS; i++)
				n += m->pages[p][i].data != NULL;
	uint32_t *keys = malloc((n ? n : 1) * sizeof *keys);
	if (keys) {
		size_t k = 0;
		for (uint32_t p = 0; p < PAGES; p++)
			if (m->pages[p])
				for (uint32_t i = 0; i < PAGE_SLOTS; i++)
					if (m->pages[p][i].data)
						keys[k++] = p << PAGE_BITS | i;
	}
	pthread_mutex_unlock(&m->lock);
	if (!keys)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = each(arg, keys[i]);
	free(keys);
	return rc;
}

static void mem_close(void *self)
{
	struct mem_store *m = self;
	for (uint32_t p = 0; p < PAGES; p++) {
		if (!m->pages[p])
			continue;
		for (uint32_t i = 0; i < PAGE_SLOTS; i++)
			free(m->pages[p][i].data);
		free(m->pages[p]);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static const struct mqtt_store_ops mem_ops = {
	.load = mem_load,
	.save = mem_save,
	.remove = mem_remove,
	.list = mem_list,
	.close = mem_close,
};

int mqtt_store_mem(struct mqtt_store *out)
{
	if (!out)
		return -EINVAL;
	struct mem_store *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return -ENOMEM;
	}
	out->ops = &mem_ops;
	out->self = m;
	return 0;
}

void mqtt_store_close(struct mqtt_store *s)
{
	if (!s || !s->ops)
		return;
	s->ops->close(s->self);
	s->ops = NULL;
	s->self = NULL;
}
