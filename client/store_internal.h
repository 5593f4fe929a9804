/*
 * store_internal.h - helpers shared by the stores. Not installed.
 */
#ifndef MQTTSIM_STORE_INTERNAL_H
#define MQTTSIM_STORE_INTERNAL_H

#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include "mqttsim/store.h"

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

/*
 * The file operations of the file-system store (store_fs.c). The library
 * uses the POSIX ones on a directory; the simulator hands in a simulated
 * disk that forgets what was not synced when its machine dies, so that
 * the very same store code is judged by the scenarios (a store that
 * skips a sync loses records there, as it would on a real power loss).
 * Every call returns 0 (or a count, or a descriptor) or -errno; names
 * are plain file names inside the one directory.
 */
#define STORE_FS_DIR (-1) /* the descriptor that stands for the directory, for fsync */

struct store_fs_vfs {
	void *ctx;
	int (*open_read)(void *ctx, const char *name);  /* -ENOENT when there is none */
	int (*open_spool)(void *ctx, const char *name); /* created or truncated, for writing */
	int (*size)(void *ctx, int fd, size_t *size);
	ssize_t (*read)(void *ctx, int fd, void *buf, size_t n);
	ssize_t (*writev)(void *ctx, int fd, const struct iovec *v, int n);
	int (*fsync)(void *ctx, int fd);                /* fd: a file, or STORE_FS_DIR */
	int (*close)(void *ctx, int fd);
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*unlink)(void *ctx, const char *name);     /* -ENOENT when there is none */
	int (*list)(void *ctx, int (*each)(void *arg, const char *name), void *arg);
	void (*release)(void *ctx);                     /* when the store closes; may be NULL */
};

/* The file-system store over vfs (copied); 0, or -ENOMEM/-EINVAL. */
int store_fs_over(struct mqtt_store *out, const struct store_fs_vfs *vfs);

#endif
