/*
 * store_vfs.h - the file-system store over a set of file operations:
 * the client's interface to the simulator's disk (scenarios/sim/simdisk.c).
 * Not installed; part of the client's interface to the other parts of
 * mqttsim (docs/architecture.md).
 */
#ifndef MQTTSIM_STORE_VFS_H
#define MQTTSIM_STORE_VFS_H

#include <sys/types.h>
#include <sys/uio.h>

#include "mqttsim/store.h"

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
