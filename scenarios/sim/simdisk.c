/*
 * simdisk.c - the simulated disk (simdisk.h): one directory of files, in
 * two versions, what the running system sees and what survives a power
 * loss.
 *
 * The model is the weakest that POSIX allows and ext4 and XFS show in
 * practice: written bytes live in the page cache until fsync of the
 * file; a directory entry change (create, rename, unlink) is in memory
 * until fsync of the directory. Files are few (one per message in
 * flight), so lists are arrays searched in order.
 *
 * An inode is free once no name in the three directories and no
 * descriptor holds it. That is found out when a new one is wanted and no
 * slot is known free (collect()), not counted as names come and go: a
 * directory fsync copies the whole directory, and counting each of its
 * names in and out was a tenth of a simulated run.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "simdisk.h"
#include "client/store_vfs.h"

struct inode {
	uint8_t *data, *synced; /* what is seen; what survives a crash */
	size_t len, cap, synced_len, synced_cap;
	bool synced_valid;      /* synced holds the file's durable bytes */
	bool used;              /* not known to be free (collect()) */
	bool held;              /* collect()'s mark */
};

/* A name zero-padded to 16 bytes, compared as two words: a directory is
 * searched on every store operation, several times. */
struct key {
	uint64_t w[2];
};

struct entry {
	struct key key;
	int ino;
};

struct dir {
	struct entry *e;
	size_t n, cap;
};

struct fd {
	int ino;     /* -1: free */
	size_t pos;
	bool write;
};

struct simdisk {
	struct inode *ino;
	size_t nino;
	int *free_ino;          /* slots collect() found free, to take */
	size_t nfree;
	struct dir live, durable;
	struct dir before;      /* the durable directory before its last fsync (a lost rename) */
	struct fd fds[8];
	bool full;
};

struct simdisk *simdisk_new(void)
{
	struct simdisk *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	for (size_t i = 0; i < sizeof d->fds / sizeof d->fds[0]; i++)
		d->fds[i].ino = -1;
	return d;
}

void simdisk_free(struct simdisk *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nino; i++) {
		free(d->ino[i].data);
		free(d->ino[i].synced);
	}
	free(d->ino);
	free(d->free_ino);
	free(d->live.e);
	free(d->durable.e);
	free(d->before.e);
	free(d);
}

/* name as a key; false when it is too long. */
static bool key_of(struct key *out, const char *name)
{
	size_t len = strnlen(name, 16);
	if (len >= 16)
		return false;
	char padded[16] = {0};
	memcpy(padded, name, len);
	memcpy(out->w, padded, sizeof padded);
	return true;
}

static const char *key_name(const struct key *k)
{
	return (const char *)k->w;
}

static struct entry *dir_at(const struct dir *dir, const struct key *k)
{
	for (size_t i = 0; i < dir->n; i++)
		if (dir->e[i].key.w[0] == k->w[0] && dir->e[i].key.w[1] == k->w[1])
			return &dir->e[i];
	return NULL;
}

static struct entry *dir_find(const struct dir *dir, const char *name)
{
	struct key k;
	return key_of(&k, name) ? dir_at(dir, &k) : NULL;
}

/* Adds k, a name dir does not have (the caller searched it already). */
static int dir_append(struct dir *dir, const struct key *k, int ino)
{
	struct entry *e;
	if (dir->n == dir->cap) {
		size_t cap = dir->cap ? dir->cap * 2 : 16;
		struct entry *ne = realloc(dir->e, cap * sizeof *ne);
		if (!ne)
			return -ENOMEM;
		dir->e = ne;
		dir->cap = cap;
	}
	e = &dir->e[dir->n++];
	e->key = *k;
	e->ino = ino;
	return 0;
}

static int dir_set(struct dir *dir, const char *name, int ino)
{
	struct key k;
	if (!key_of(&k, name))
		return -ENAMETOOLONG;
	struct entry *e = dir_at(dir, &k);
	if (e) {
		e->ino = ino;
		return 0;
	}
	return dir_append(dir, &k, ino);
}

/* Removes e, an entry of dir: the last one takes its place. */
static void dir_drop(struct dir *dir, struct entry *e)
{
	*e = dir->e[--dir->n];
}

static void dir_remove(struct dir *dir, const char *name)
{
	struct entry *e = dir_find(dir, name);
	if (e)
		dir_drop(dir, e);
}

/* Room in to for from's entries. */
static int dir_room(struct dir *to, const struct dir *from)
{
	if (to->cap >= from->n)
		return 0;
	struct entry *ne = realloc(to->e, from->cap * sizeof *ne);
	if (!ne)
		return -ENOMEM;
	to->e = ne;
	to->cap = from->cap;
	return 0;
}

/* to becomes a copy of from, entries in from's order. */
static int dir_copy(struct dir *to, const struct dir *from)
{
	if (dir_room(to, from))
		return -ENOMEM;
	if (from->n)
		memcpy(to->e, from->e, from->n * sizeof *to->e);
	to->n = from->n;
	return 0;
}

static void mark(struct simdisk *d, const struct dir *dir)
{
	for (size_t i = 0; i < dir->n; i++)
		d->ino[dir->e[i].ino].held = true;
}

/* Marks the inodes a name or a descriptor holds; returns how many. */
static size_t mark_held(struct simdisk *d)
{
	for (size_t i = 0; i < d->nino; i++)
		d->ino[i].held = false;
	mark(d, &d->live);
	mark(d, &d->durable);
	mark(d, &d->before);
	for (size_t i = 0; i < sizeof d->fds / sizeof d->fds[0]; i++)
		if (d->fds[i].ino >= 0)
			d->ino[d->fds[i].ino].held = true;
	size_t held = 0;
	for (size_t i = 0; i < d->nino; i++)
		held += d->ino[i].held;
	return held;
}

/* Frees every inode nothing holds, into free_ino; returns how many are free. */
static size_t collect(struct simdisk *d)
{
	mark_held(d);
	d->nfree = 0;
	for (size_t i = d->nino; i-- > 0;) {
		struct inode *n = &d->ino[i];
		if (n->held)
			continue;
		/* Its buffers stay for the next file that takes the slot: a
		 * store makes and removes a file per message. */
		*n = (struct inode){.data = n->data, .cap = n->cap, .synced = n->synced,
		                    .synced_cap = n->synced_cap};
		d->free_ino[d->nfree++] = (int)i;
	}
	return d->nfree;
}

static int new_inode(struct simdisk *d)
{
	/* Collected when no slot is known free; the table doubles when that
	 * frees less than a quarter of it, so that collecting costs O(1) a
	 * file. Not sooner: each new slot costs its file's buffers anew (a
	 * store's file is replaced on every save, and the one it replaced
	 * is held until the second directory fsync after). */
	if (!d->nfree && (!d->nino || collect(d) * 4 < d->nino)) {
		size_t cap = d->nino ? d->nino * 2 : 16;
		struct inode *ni = realloc(d->ino, cap * sizeof *ni);
		if (!ni)
			return -ENOMEM;
		d->ino = ni;
		int *nf = realloc(d->free_ino, cap * sizeof *nf);
		if (!nf)
			return -ENOMEM;
		d->free_ino = nf;
		memset(&ni[d->nino], 0, (cap - d->nino) * sizeof *ni);
		for (size_t i = cap; i-- > d->nino;)
			d->free_ino[d->nfree++] = (int)i;
		d->nino = cap;
	}
	int ino = d->free_ino[--d->nfree];
	d->ino[ino].used = true;
	return ino;
}

static int new_fd(struct simdisk *d, int ino, bool write)
{
	for (size_t i = 0; i < sizeof d->fds / sizeof d->fds[0]; i++)
		if (d->fds[i].ino < 0) {
			d->fds[i] = (struct fd){ino, 0, write};
			return (int)i;
		}
	return -EMFILE;
}

static struct fd *get_fd(struct simdisk *d, int fd)
{
	if (fd < 0 || (size_t)fd >= sizeof d->fds / sizeof d->fds[0] || d->fds[fd].ino < 0)
		return NULL;
	return &d->fds[fd];
}

static int sd_open_read(void *ctx, const char *name)
{
	struct simdisk *d = ctx;
	struct entry *e = dir_find(&d->live, name);
	return e ? new_fd(d, e->ino, false) : -ENOENT;
}

static int sd_open_spool(void *ctx, const char *name)
{
	struct simdisk *d = ctx;
	struct key k;
	if (!key_of(&k, name))
		return -ENAMETOOLONG;
	struct entry *e = dir_at(&d->live, &k);
	int ino;
	if (e) {
		ino = e->ino;
		d->ino[ino].len = 0; /* O_TRUNC: in the page cache only */
	} else {
		if ((ino = new_inode(d)) < 0)
			return ino;
		int rc = dir_append(&d->live, &k, ino);
		if (rc)
			return rc; /* the inode nothing holds is collected later */
	}
	return new_fd(d, ino, true);
}

static int sd_size(void *ctx, int fd, size_t *size)
{
	struct simdisk *d = ctx;
	struct fd *f = get_fd(d, fd);
	if (!f)
		return -EBADF;
	*size = d->ino[f->ino].len;
	return 0;
}

static ssize_t sd_read(void *ctx, int fd, void *buf, size_t n)
{
	struct simdisk *d = ctx;
	struct fd *f = get_fd(d, fd);
	if (!f)
		return -EBADF;
	struct inode *in = &d->ino[f->ino];
	size_t avail = f->pos < in->len ? in->len - f->pos : 0;
	if (n > avail)
		n = avail;
	if (n)
		memcpy(buf, in->data + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

static ssize_t sd_writev(void *ctx, int fd, const struct iovec *v, int n)
{
	struct simdisk *d = ctx;
	struct fd *f = get_fd(d, fd);
	if (!f || !f->write)
		return -EBADF;
	if (d->full)
		return -ENOSPC;
	struct inode *in = &d->ino[f->ino];
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += v[i].iov_len;
	if (f->pos + total > in->cap) {
		size_t cap = (f->pos + total) * 2;
		uint8_t *nd = realloc(in->data, cap);
		if (!nd)
			return -ENOMEM;
		in->data = nd;
		in->cap = cap;
	}
	for (int i = 0; i < n; i++) {
		if (v[i].iov_len)
			memcpy(in->data + f->pos, v[i].iov_base, v[i].iov_len);
		f->pos += v[i].iov_len;
	}
	if (f->pos > in->len)
		in->len = f->pos;
	return (ssize_t)total;
}

static int sd_fsync(void *ctx, int fd)
{
	struct simdisk *d = ctx;
	if (fd == STORE_FS_DIR) {
		/* before := durable, durable := live. */
		if (dir_room(&d->before, &d->live))
			return -ENOMEM; /* its array becomes the durable directory */
		struct dir gone = d->before;
		d->before = d->durable;
		d->durable = gone;
		if (d->live.n)
			memcpy(d->durable.e, d->live.e, d->live.n * sizeof *d->durable.e);
		d->durable.n = d->live.n;
		return 0;
	}
	struct fd *f = get_fd(d, fd);
	if (!f)
		return -EBADF;
	struct inode *in = &d->ino[f->ino];
	if (in->len > in->synced_cap || !in->synced) {
		uint8_t *grown = realloc(in->synced, in->len ? in->len : 1);
		if (!grown)
			return -ENOMEM;
		in->synced = grown;
		in->synced_cap = in->len ? in->len : 1;
	}
	if (in->len)
		memcpy(in->synced, in->data, in->len);
	in->synced_len = in->len;
	in->synced_valid = true;
	return 0;
}

static int sd_close(void *ctx, int fd)
{
	struct simdisk *d = ctx;
	struct fd *f = get_fd(d, fd);
	if (!f)
		return -EBADF;
	f->ino = -1;
	return 0;
}

static int sd_rename(void *ctx, const char *from, const char *to)
{
	struct simdisk *d = ctx;
	struct key kfrom, kto;
	if (!key_of(&kfrom, from) || !key_of(&kto, to))
		return -ENAMETOOLONG;
	/* Both names in one pass: a rename is on every store save. Indices,
	 * not pointers: the array may move when the new name is added. */
	size_t from_at = SIZE_MAX, to_at = SIZE_MAX;
	for (size_t i = 0; i < d->live.n && (from_at == SIZE_MAX || to_at == SIZE_MAX); i++) {
		const struct key *k = &d->live.e[i].key;
		if (k->w[0] == kfrom.w[0] && k->w[1] == kfrom.w[1])
			from_at = i;
		if (k->w[0] == kto.w[0] && k->w[1] == kto.w[1])
			to_at = i;
	}
	if (from_at == SIZE_MAX)
		return -ENOENT;
	int ino = d->live.e[from_at].ino;
	if (to_at != SIZE_MAX) {
		d->live.e[to_at].ino = ino;
	} else {
		int rc = dir_append(&d->live, &kto, ino);
		if (rc)
			return rc;
	}
	struct entry *e = &d->live.e[from_at];
	if (e->key.w[0] != kto.w[0] || e->key.w[1] != kto.w[1])
		dir_drop(&d->live, e);
	return 0;
}

static int sd_unlink(void *ctx, const char *name)
{
	struct simdisk *d = ctx;
	struct entry *e = dir_find(&d->live, name);
	if (!e)
		return -ENOENT;
	dir_drop(&d->live, e);
	return 0;
}

static int sd_list(void *ctx, int (*each)(void *arg, const char *name), void *arg)
{
	struct simdisk *d = ctx;
	for (size_t i = 0; i < d->live.n; i++) {
		int rc = each(arg, key_name(&d->live.e[i].key));
		if (rc)
			return rc;
	}
	return 0;
}

void simdisk_vfs(struct simdisk *d, struct store_fs_vfs *out)
{
	*out = (struct store_fs_vfs){
		.ctx = d, .open_read = sd_open_read, .open_spool = sd_open_spool, .size = sd_size,
		.read = sd_read, .writev = sd_writev, .fsync = sd_fsync, .close = sd_close,
		.rename = sd_rename, .unlink = sd_unlink, .list = sd_list, .release = NULL,
	};
}

int simdisk_store(struct simdisk *d, struct mqtt_store *out)
{
	struct store_fs_vfs vfs;
	simdisk_vfs(d, &vfs);
	return store_fs_over(out, &vfs);
}

int simdisk_crash(struct simdisk *d)
{
	for (size_t i = 0; i < sizeof d->fds / sizeof d->fds[0]; i++)
		d->fds[i].ino = -1;
	int rc = dir_copy(&d->live, &d->durable);
	if (rc)
		return rc;
	for (size_t i = 0; i < d->nino; i++) {
		struct inode *in = &d->ino[i];
		if (!in->used)
			continue;
		/* What was never synced is gone: a file that never was, is empty. */
		if (in->synced_valid && in->synced_len) {
			if (in->cap < in->synced_len) {
				uint8_t *nd = realloc(in->data, in->synced_len);
				if (!nd)
					return -ENOMEM;
				in->data = nd;
				in->cap = in->synced_len;
			}
			memcpy(in->data, in->synced, in->synced_len);
		}
		in->len = in->synced_valid ? in->synced_len : 0;
	}
	return 0;
}

/* The key a record file's name stands for (five hex digits), or -1. */
static long record_key(const char *name)
{
	if (strlen(name) != 5)
		return -1;
	long key = 0;
	for (int i = 0; i < 5; i++) {
		char c = name[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		key = key * 16 + v;
	}
	return key;
}

/* Candidates for damage: record names, and for a lost rename those the
 * last directory fsync changed. Returns how many; names[k] the k-th. */
static size_t candidates(const struct simdisk *d, enum simdisk_damage kind, const char **names,
                         size_t cap)
{
	size_t n = 0;
	if (kind != SIMDISK_RENAME_LOST) {
		for (size_t i = 0; i < d->durable.n && n < cap; i++) {
			const struct entry *e = &d->durable.e[i];
			if (record_key(key_name(&e->key)) >= 0 && (kind == SIMDISK_VANISH || d->ino[e->ino].len))
				names[n++] = key_name(&e->key);
		}
		return n;
	}
	for (int pass = 0; pass < 2; pass++) {
		const struct dir *a = pass ? &d->before : &d->durable;
		const struct dir *b = pass ? &d->durable : &d->before;
		for (size_t i = 0; i < a->n && n < cap; i++) {
			const struct entry *e = &a->e[i];
			const struct entry *o = dir_at(b, &e->key);
			if (record_key(key_name(&e->key)) < 0 || (o && o->ino == e->ino) || (pass && o))
				continue; /* the same; or, the second time, seen already */
			names[n++] = key_name(&e->key);
		}
	}
	return n;
}

int simdisk_damage(struct simdisk *d, enum simdisk_damage kind, uint64_t pick, uint32_t *key)
{
	const char *names[256];
	size_t n = candidates(d, kind, names, sizeof names / sizeof names[0]);
	if (!n)
		return -ENOENT;
	char name[16];
	strcpy(name, names[pick % n]);
	pick /= n;
	*key = (uint32_t)record_key(name);
	struct entry *e = dir_find(&d->durable, name);
	if (kind == SIMDISK_TORN || kind == SIMDISK_FLIP) {
		struct inode *in = &d->ino[e->ino];
		if (kind == SIMDISK_TORN) {
			in->len = (size_t)(pick % in->len); /* cut at any byte, the first included */
		} else {
			size_t at = (size_t)(pick % in->len);
			in->data[at] ^= (uint8_t)(1u << (pick / in->len % 8));
		}
		/* The damage is what the disk holds now, crash or not. */
		if (in->synced_valid && in->synced_len >= in->len && in->len)
			memcpy(in->synced, in->data, in->len);
		in->synced_len = in->len;
		return 0;
	}
	struct entry *was = kind == SIMDISK_RENAME_LOST ? dir_find(&d->before, name) : NULL;
	if (was) {
		int rc = dir_set(&d->durable, name, was->ino);
		if (!rc)
			rc = dir_set(&d->live, name, was->ino);
		if (rc)
			return rc;
	} else {
		dir_remove(&d->durable, name);
		dir_remove(&d->live, name);
	}
	return 0;
}

void simdisk_set_full(struct simdisk *d, bool full)
{
	d->full = full;
}

unsigned simdisk_durable_files(const struct simdisk *d)
{
	return (unsigned)d->durable.n;
}

unsigned simdisk_inodes(struct simdisk *d)
{
	return (unsigned)mark_held(d);
}

unsigned simdisk_slots(const struct simdisk *d)
{
	return (unsigned)d->nino;
}
