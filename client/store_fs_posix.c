/*
 * store_fs_posix.c - the file-system store on a real directory: the
 * POSIX calls behind the file operations of store_fs.c, relative to one
 * directory descriptor.
 *
 * One store, one owner: the store holds an exclusive flock(2) on the
 * file LOCK_NAME in its directory for as long as it is open, and writes
 * its process id there, so that a second opener (another process, or
 * the same one twice) is refused with the holder named, before anything
 * in the directory is touched. The kernel releases the lock when the
 * holder dies, crash included.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* renameat */
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mqttsim/store.h"
#include "store_internal.h"

#define LOCK_NAME "mqttsim.lock" /* not five hexadecimal digits: no key's */

/* The directory every name is relative to, and its lock. */
struct posix_dir {
	int fd;
	int lock_fd;
};

static int neg_errno(int rc)
{
	return rc < 0 ? -errno : rc;
}

static int px_open_read(void *ctx, const char *name)
{
	struct posix_dir *d = ctx;
	return neg_errno(openat(d->fd, name, O_RDONLY | O_CLOEXEC));
}

static int px_open_spool(void *ctx, const char *name)
{
	struct posix_dir *d = ctx;
	return neg_errno(openat(d->fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
}

static int px_size(void *ctx, int fd, size_t *size)
{
	(void)ctx;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	*size = (size_t)st.st_size;
	return 0;
}

static ssize_t px_read(void *ctx, int fd, void *buf, size_t n)
{
	(void)ctx;
	ssize_t r = read(fd, buf, n);
	return r < 0 ? -errno : r;
}

static ssize_t px_writev(void *ctx, int fd, const struct iovec *v, int n)
{
	(void)ctx;
	ssize_t r = writev(fd, v, n);
	return r < 0 ? -errno : r;
}

static int px_fsync(void *ctx, int fd)
{
	struct posix_dir *d = ctx;
	return neg_errno(fsync(fd == STORE_FS_DIR ? d->fd : fd));
}

static int px_close(void *ctx, int fd)
{
	(void)ctx;
	return neg_errno(close(fd));
}

static int px_rename(void *ctx, const char *from, const char *to)
{
	struct posix_dir *d = ctx;
	return neg_errno(renameat(d->fd, from, d->fd, to));
}

static int px_unlink(void *ctx, const char *name)
{
	struct posix_dir *d = ctx;
	return neg_errno(unlinkat(d->fd, name, 0));
}

static int px_list(void *ctx, int (*each)(void *arg, const char *name), void *arg)
{
	struct posix_dir *pd = ctx;
	/* fdopendir takes over the descriptor: give it a copy. */
	int fd = openat(pd->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
		if ((rc = each(arg, e->d_name)) != 0)
			break;
	}
	closedir(d);
	return rc;
}

static void px_release(void *ctx)
{
	struct posix_dir *d = ctx;
	if (d->lock_fd >= 0)
		close(d->lock_fd); /* the lock goes with it */
	close(d->fd);
	free(d);
}

/* Says why dir cannot be opened in err (when not NULL); returns rc. */
static int refuse(int rc, const char *dir, char *err, size_t errcap, const char *why)
{
	if (err && errcap)
		snprintf(err, errcap, "%s: %s", *dir ? dir : ".", why ? why : strerror(-rc));
	return rc;
}

/* Takes the store's lock, or says who holds it (-EBUSY). */
static int take_lock(struct posix_dir *d, const char *dir, char *err, size_t errcap)
{
	/* Created if missing, never truncated: a refused opener changes nothing. */
	d->lock_fd = openat(d->fd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0)
		return refuse(-errno, dir, err, errcap, NULL);
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		if (e != EWOULDBLOCK)
			return refuse(-e, dir, err, errcap, NULL);
		char pid[24] = "", why[80];
		ssize_t n = pread(d->lock_fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		long holder = strtol(pid, NULL, 10);
		if (holder > 0)
			snprintf(why, sizeof why, "the store is in use by process %ld", holder);
		else
			snprintf(why, sizeof why, "the store is in use by another process");
		return refuse(-EBUSY, dir, err, errcap, why);
	}
	char pid[24];
	int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(d->lock_fd, 0) != 0 || pwrite(d->lock_fd, pid, (size_t)len, 0) != len)
		return refuse(-errno, dir, err, errcap, NULL);
	return 0;
}

int mqtt_store_fs(struct mqtt_store *out, const char *dir)
{
	return mqtt_store_fs_open(out, dir, NULL, 0);
}

int mqtt_store_fs_open(struct mqtt_store *out, const char *dir, char *err, size_t errcap)
{
	if (!out || !dir)
		return refuse(-EINVAL, dir ? dir : "(null)", err, errcap, NULL);
	struct posix_dir *d = malloc(sizeof *d);
	if (!d)
		return refuse(-ENOMEM, dir, err, errcap, NULL);
	d->lock_fd = -1;
	d->fd = open(*dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0) {
		int e = errno;
		free(d);
		return refuse(-e, dir, err, errcap, NULL);
	}
	int lrc = take_lock(d, dir, err, errcap);
	if (lrc) {
		px_release(d);
		return lrc;
	}
	struct store_fs_vfs vfs = {
		.ctx = d, .open_read = px_open_read, .open_spool = px_open_spool, .size = px_size,
		.read = px_read, .writev = px_writev, .fsync = px_fsync, .close = px_close,
		.rename = px_rename, .unlink = px_unlink, .list = px_list, .release = px_release,
	};
	int rc = store_fs_over(out, &vfs);
	if (rc) {
		px_release(d);
		refuse(rc, dir, err, errcap, NULL);
	}
	return rc;
}
