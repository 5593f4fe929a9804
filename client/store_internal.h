/*
 * store_internal.h - helpers shared by the stores, private to client/.
 */
#ifndef MQTTSIM_STORE_INTERNAL_H
#define MQTTSIM_STORE_INTERNAL_H

#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include "mqttsim/store.h"
#include "store_vfs.h"

/* Checks key and the iovecs of a save, and sums their lengths. */
static inline int store_iov_total(uint32_t key, const struct iovec *iov, int iovcnt, size_t *total)
{
	if (key > MQTT_STORE_KEY_MAX || iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	size_t sum = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len && !iov[i].iov_base)
			return -EINVAL;
		if (iov[i].iov_len > MQTT_STORE_VALUE_MAX - sum)
			return -EFBIG;
		sum += iov[i].iov_len;
	}
	*total = sum;
	return 0;
}

/* Copies the iovecs, one after the other, to dst. */
static inline void store_iov_gather(uint8_t *dst, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
}

#endif
