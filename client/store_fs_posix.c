/*
 * store_fs_posix.c - the file-system store on a real directory: the
 * POSIX calls behind the file operations of store_fs.c, relative to one
 * directory descriptor.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* renameat */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mqttsim/store.h"
#include "store_internal.h"

/* The directory every name is relative to. */
struct posix_dir {
	int fd;
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
	close(d->fd);
	free(d);
}

int mqtt_store_fs(struct mqtt_store *out, const char *dir)
{
	if (!out || !dir)
		return -EINVAL;
	struct posix_dir *d = malloc(sizeof *d);
	if (!d)
		return -ENOMEM;
	d->fd = open(*dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0) {
		int e = errno;
		free(d);
		return -e;
	}
	struct store_fs_vfs vfs = {
		.ctx = d, .open_read = px_open_read, .open_spool = px_open_spool, .size = px_size,
		.read = px_read, .writev = px_writev, .fsync = px_fsync, .close = px_close,
		.rename = px_rename, .unlink = px_unlink, .list = px_list, .release = px_release,
	};
	int rc = store_fs_over(out, &vfs);
	if (rc)
		px_release(d);
	return rc;
}
