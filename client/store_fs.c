/*
 * store_fs.c - the file-system store: one file per key in a directory,
 * named by the key in five lower-case hexadecimal digits.
 *
 * A save must never leave a half-written value where a restart would
 * find it, and must be on disk when it returns: write a spool file,
 * fsync it, rename it over the key's file (atomic), then fsync the
 * directory so that the rename itself survives a power loss. The Go
 * seed skips that last step; without it a crash can undo a save that
 * had already been reported as done. A delete fsyncs the directory for
 * the same reason: a completed exchange must not come back.
 *
 * The file operations go through a table (store_internal.h): POSIX calls
 * on a directory here (store_fs_posix.c), a simulated disk that forgets
 * unsynced writes in the scenario simulator.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttsim/store.h"
#include "store_internal.h"

struct fs_store {
	struct store_fs_vfs vfs;
};

#define NAME_LEN 5
#define SPOOL_SUFFIX ".spool"

/* "%05x" and the suffix, without printf: it runs for every record. */
static void key_name(char name[NAME_LEN + sizeof SPOOL_SUFFIX], uint32_t key, bool spool)
{
	static const char hex[] = "0123456789abcdef";
	for (int i = NAME_LEN - 1; i >= 0; i--, key >>= 4)
		name[i] = hex[key & 15];
	if (spool)
		memcpy(name + NAME_LEN, SPOOL_SUFFIX, sizeof SPOOL_SUFFIX);
	else
		name[NAME_LEN] = '\0';
}

/* The key a file name stands for, or -1 when it names none. */
static long name_key(const char *name)
{
	if (strlen(name) != NAME_LEN)
		return -1;
	long key = 0;
	for (int i = 0; i < NAME_LEN; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		key = key << 4 | d;
	}
	return key <= (long)MQTT_STORE_KEY_MAX ? key : -1;
}

static int fs_load(void *self, uint32_t key, uint8_t **value, size_t *len)
{
	struct fs_store *s = self;
	const struct store_fs_vfs *v = &s->vfs;
	if (key > MQTT_STORE_KEY_MAX || !value || !len)
		return -EINVAL;
	*value = NULL;
	*len = 0;
	char name[NAME_LEN + sizeof SPOOL_SUFFIX];
	key_name(name, key, false);
	int fd = v->open_read(v->ctx, name);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	size_t want = 0;
	uint8_t *buf = NULL;
	int rc = v->size(v->ctx, fd, &want);
	if (rc) {
		/* rc says why */
	} else if (want > MQTT_STORE_VALUE_MAX) {
		rc = -EFBIG;
	} else if (!(buf = malloc(want ? want : 1))) {
		rc = -ENOMEM;
	} else {
		size_t got = 0;
		while (got < want) {
			ssize_t n = v->read(v->ctx, fd, buf + got, want - got);
			if (n == -EINTR)
				continue;
			if (n < 0) {
				rc = (int)n;
				break;
			}
			if (n == 0)
				break; /* shrank under us: return what is there */
			got += (size_t)n;
		}
		if (!rc) {
			*value = buf;
			*len = got;
			buf = NULL;
		}
	}
	free(buf);
	v->close(v->ctx, fd);
	return rc;
}

/* Writes all of iov to fd, through short writes and EINTR. */
static int write_all(const struct store_fs_vfs *vfs, int fd, const struct iovec *iov, int iovcnt)
{
	struct iovec local[16], *v = local;
	if (iovcnt > 16 && !(v = malloc((size_t)iovcnt * sizeof *v)))
		return -ENOMEM;
	if (iovcnt) /* iov may be NULL for an empty value */
		memcpy(v, iov, (size_t)iovcnt * sizeof *v);
	int rc = 0, at = 0;
	while (at < iovcnt) {
		if (v[at].iov_len == 0) {
			at++;
			continue;
		}
		int batch = iovcnt - at < 1024 ? iovcnt - at : 1024; /* IOV_MAX */
		ssize_t n = vfs->writev(vfs->ctx, fd, v + at, batch);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			rc = (int)n;
			break;
		}
		size_t done = (size_t)n;
		while (at < iovcnt && done >= v[at].iov_len)
			done -= v[at++].iov_len;
		if (done) {
			v[at].iov_base = (uint8_t *)v[at].iov_base + done;
			v[at].iov_len -= done;
		}
	}
	if (v != local)
		free(v);
	return rc;
}

static int fs_save(void *self, uint32_t key, const struct iovec *iov, int iovcnt)
{
	struct fs_store *s = self;
	const struct store_fs_vfs *v = &s->vfs;
	size_t total;
	int rc = store_iov_total(key, iov, iovcnt, &total);
	if (rc)
		return rc;
	char spool[NAME_LEN + sizeof SPOOL_SUFFIX], name[NAME_LEN + sizeof SPOOL_SUFFIX];
	key_name(spool, key, true);
	key_name(name, key, false);
	int fd = v->open_spool(v->ctx, spool);
	if (fd < 0)
		return fd;
	rc = write_all(v, fd, iov, iovcnt);
	if (!rc)
		rc = v->fsync(v->ctx, fd);
	int closed = v->close(v->ctx, fd);
	if (!rc)
		rc = closed;
	if (!rc)
		rc = v->rename(v->ctx, spool, name);
	if (rc) {
		v->unlink(v->ctx, spool);
		return rc;
	}
	/* The rename is durable only once the directory is. */
	return v->fsync(v->ctx, STORE_FS_DIR);
}

static int fs_remove(void *self, uint32_t key)
{
	struct fs_store *s = self;
	const struct store_fs_vfs *v = &s->vfs;
	if (key > MQTT_STORE_KEY_MAX)
		return -EINVAL;
	char name[NAME_LEN + sizeof SPOOL_SUFFIX];
	key_name(name, key, false);
	int rc = v->unlink(v->ctx, name);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	/* A completed exchange must not come back after a power loss. */
	return v->fsync(v->ctx, STORE_FS_DIR);
}

struct list_arg {
	int (*each)(void *arg, uint32_t key);
	void *arg;
};

static int list_name(void *arg, const char *name)
{
	struct list_arg *l = arg;
	long key = name_key(name);
	return key >= 0 ? l->each(l->arg, (uint32_t)key) : 0;
}

static int fs_list(void *self, int (*each)(void *arg, uint32_t key), void *arg)
{
	struct fs_store *s = self;
	if (!each)
		return -EINVAL;
	struct list_arg l = {each, arg};
	return s->vfs.list(s->vfs.ctx, list_name, &l);
}

static void fs_close(void *self)
{
	struct fs_store *s = self;
	if (s->vfs.release)
		s->vfs.release(s->vfs.ctx);
	free(s);
}

static const struct mqtt_store_ops fs_ops = {
	.load = fs_load,
	.save = fs_save,
	.remove = fs_remove,
	.list = fs_list,
	.close = fs_close,
};

int store_fs_over(struct mqtt_store *out, const struct store_fs_vfs *vfs)
{
	if (!out || !vfs || !vfs->open_read || !vfs->open_spool || !vfs->size || !vfs->read ||
	    !vfs->writev || !vfs->fsync || !vfs->close || !vfs->rename || !vfs->unlink || !vfs->list)
		return -EINVAL;
	struct fs_store *s = malloc(sizeof *s);
	if (!s)
		return -ENOMEM;
	s->vfs = *vfs;
	out->ops = &fs_ops;
	out->self = s;
	return 0;
}
