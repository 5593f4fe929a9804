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
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqttsim/store.h"
#include "store_internal.h"

struct fs_store {
	int dirfd;
};

#define NAME_LEN 5
#define SPOOL_SUFFIX ".spool"

static void key_name(char name[NAME_LEN + sizeof SPOOL_SUFFIX], uint32_t key, bool spool)
{
	snprintf(name, NAME_LEN + sizeof SPOOL_SUFFIX, "%05x%s", (unsigned)key, spool ? SPOOL_SUFFIX : "");
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
	if (key > MQTT_STORE_KEY_MAX || !value || !len)
		return -EINVAL;
	*value = NULL;
	*len = 0;
	char name[NAME_LEN + sizeof SPOOL_SUFFIX];
	key_name(name, key, false);
	int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	int rc = 0;
	struct stat st;
	uint8_t *buf = NULL;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
	} else if ((uint64_t)st.st_size > MQTT_STORE_VALUE_MAX) {
		rc = -EFBIG;
	} else if (!(buf = malloc(st.st_size ? (size_t)st.st_size : 1))) {
		rc = -ENOMEM;
	} else {
		size_t got = 0, want = (size_t)st.st_size;
		while (got < want) {
			ssize_t n = read(fd, buf + got, want - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = -errno;
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
	close(fd);
	return rc;
}

/* Writes all of iov to fd, through short writes and EINTR. */
static int write_all(int fd, const struct iovec *iov, int iovcnt)
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
		ssize_t n = writev(fd, v + at, batch);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
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
	size_t total;
	int rc = store_iov_total(key, iov, iovcnt, &total);
	if (rc)
		return rc;
	char spool[NAME_LEN + sizeof SPOOL_SUFFIX], name[NAME_LEN + sizeof SPOOL_SUFFIX];
	key_name(spool, key, true);
	key_name(name, key, false);
	int fd = openat(s->dirfd, spool, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, iov, iovcnt);
	if (!rc && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && !rc)
		rc = -errno;
	if (!rc && renameat(s->dirfd, spool, s->dirfd, name) != 0)
		rc = -errno;
	if (rc) {
		unlinkat(s->dirfd, spool, 0);
		return rc;
	}
	/* The rename is durable only once the directory is. */
	if (fsync(s->dirfd) != 0)
		return -errno;
	return 0;
}

static int fs_remove(void *self, uint32_t key)
{
	struct fs_store *s = self;
	if (key > MQTT_STORE_KEY_MAX)
		return -EINVAL;
	char name[NAME_LEN + sizeof SPOOL_SUFFIX];
	key_name(name, key, false);
	if (unlinkat(s->dirfd, name, 0) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (fsync(s->dirfd) != 0)
		return -errno;
	return 0;
}

static int fs_list(void *self, int (*each)(void *arg, uint32_t key), void *arg)
{
	struct fs_store *s = self;
	if (!each)
		return -EINVAL;
	/* fdopendir takes over the descriptor: give it a copy. */
	int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	int rc = 0;
	for (;;) {
		errno = 0;
		struct dirent *e = readdir(d);
		if (!e) {
			rc = errno ? -errno : 0;
			break;
		}
		long key = name_key(e->d_name);
		if (key >= 0 && (rc = each(arg, (uint32_t)key)) != 0)
			break;
	}
	closedir(d);
	return rc;
}

static void fs_close(void *self)
{
	struct fs_store *s = self;
	close(s->dirfd);
	free(s);
}

static const struct mqtt_store_ops fs_ops = {
	.load = fs_load,
	.save = fs_save,
	.remove = fs_remove,
	.list = fs_list,
	.close = fs_close,
};

int mqtt_store_fs(struct mqtt_store *out, const char *dir)
{
	if (!out || !dir)
		return -EINVAL;
	struct fs_store *s = malloc(sizeof *s);
	if (!s)
		return -ENOMEM;
	s->dirfd = open(*dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		int e = errno;
		free(s);
		return -e;
	}
	out->ops = &fs_ops;
	out->self = s;
	return 0;
}
