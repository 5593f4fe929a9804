/*
 * Stores: one conformance suite run against the in-memory and the
 * file-system store, then what only the file-system store promises.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mqttsim/store.h"
#include "store_testutil.h"
#include "testing/suites.h"

static struct iovec iov_of(const void *p, size_t n)
{
	struct iovec v = {(void *)(uintptr_t)p, n};
	return v;
}

static int save_str(struct mqtt_store *s, uint32_t key, const char *text)
{
	struct iovec v = iov_of(text, strlen(text));
	return s->ops->save(s->self, key, &v, 1);
}

/* The value of key as a string, "<none>" or "<error>". */
static char *load_str(struct mqtt_store *s, uint32_t key)
{
	static char out[256];
	uint8_t *v;
	size_t n;
	if (s->ops->load(s->self, key, &v, &n) != 0)
		return strcpy(out, "<error>");
	if (!v)
		return strcpy(out, "<none>");
	snprintf(out, sizeof out, "%.*s", (int)n, (const char *)v);
	free(v);
	return out;
}

struct keyset {
	uint32_t keys[16];
	size_t n;
	int stop_after;
};

static int collect(void *arg, uint32_t key)
{
	struct keyset *k = arg;
	if (k->n < 16)
		k->keys[k->n] = key;
	k->n++;
	return k->stop_after && (int)k->n >= k->stop_after ? 42 : 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The conformance suite, for any store. */
static void conformance(struct mqtt_store *s)
{
	uint8_t *v = (uint8_t *)1;
	size_t n = 99;
	CU_ASSERT_EQUAL(s->ops->load(s->self, 5, &v, &n), 0);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_EQUAL(n, 0);

	CU_ASSERT_EQUAL(save_str(s, 5, "hello"), 0);
	CU_ASSERT_STRING_EQUAL(load_str(s, 5), "hello");
	CU_ASSERT_EQUAL(save_str(s, 5, "replaced value"), 0);
	CU_ASSERT_STRING_EQUAL(load_str(s, 5), "replaced value");

	/* Gathered buffers are concatenated. */
	struct iovec parts[3] = {iov_of("head-", 5), iov_of("", 0), iov_of("tail", 4)};
	CU_ASSERT_EQUAL(s->ops->save(s->self, 0x8001, parts, 3), 0);
	CU_ASSERT_STRING_EQUAL(load_str(s, 0x8001), "head-tail");

	/* An empty value exists, and is not "no value". */
	CU_ASSERT_EQUAL(s->ops->save(s->self, 0, NULL, 0), 0);
	CU_ASSERT_EQUAL(s->ops->load(s->self, 0, &v, &n), 0);
	CU_ASSERT_PTR_NOT_NULL(v);
	CU_ASSERT_EQUAL(n, 0);
	free(v);

	CU_ASSERT_EQUAL(save_str(s, MQTT_STORE_KEY_MAX, "last key"), 0);
	CU_ASSERT_STRING_EQUAL(load_str(s, MQTT_STORE_KEY_MAX), "last key");

	struct keyset k = {0};
	CU_ASSERT_EQUAL(s->ops->list(s->self, collect, &k), 0);
	CU_ASSERT_EQUAL_FATAL(k.n, 4);
	qsort(k.keys, k.n, sizeof *k.keys, cmp_u32);
	CU_ASSERT(k.keys[0] == 0 && k.keys[1] == 5 && k.keys[2] == 0x8001 &&
	          k.keys[3] == MQTT_STORE_KEY_MAX);
	struct keyset stop = {.stop_after = 2};
	CU_ASSERT_EQUAL(s->ops->list(s->self, collect, &stop), 42);
	CU_ASSERT_EQUAL(stop.n, 2);

	CU_ASSERT_EQUAL(s->ops->remove(s->self, 5), 0);
	CU_ASSERT_STRING_EQUAL(load_str(s, 5), "<none>");
	CU_ASSERT_EQUAL(s->ops->remove(s->self, 5), 0); /* no value: still fine */
	CU_ASSERT_EQUAL(s->ops->remove(s->self, 77), 0);

	/* Keys are 17 bits. */
	CU_ASSERT_EQUAL(save_str(s, MQTT_STORE_KEY_MAX + 1, "x"), -EINVAL);
	CU_ASSERT_EQUAL(s->ops->load(s->self, 0x20000, &v, &n), -EINVAL);
	CU_ASSERT_EQUAL(s->ops->remove(s->self, 0xffffffffu), -EINVAL);
	struct iovec nodata = {NULL, 3};
	CU_ASSERT_EQUAL(s->ops->save(s->self, 1, &nodata, 1), -EINVAL);

	/* A large value, byte for byte. */
	size_t big = 3u << 20;
	uint8_t *b = malloc(big);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (size_t i = 0; i < big; i++)
		b[i] = (uint8_t)(i * 31 + (i >> 13));
	struct iovec bv = iov_of(b, big);
	CU_ASSERT_EQUAL(s->ops->save(s->self, 0x4242, &bv, 1), 0);
	CU_ASSERT_EQUAL(s->ops->load(s->self, 0x4242, &v, &n), 0);
	CU_ASSERT(n == big && v && memcmp(v, b, big) == 0);
	free(v);
	free(b);
}

static void test_mem_conformance(void)
{
	struct mqtt_store s;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_mem(&s), 0);
	conformance(&s);
	mqtt_store_close(&s);
	CU_ASSERT_PTR_NULL(s.ops);
	mqtt_store_close(&s); /* twice: harmless */
}

static void test_fs_conformance(void)
{
	char dir[64];
	CU_ASSERT_FATAL(temp_dir(dir, sizeof dir));
	struct mqtt_store s;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&s, dir), 0);
	conformance(&s);
	mqtt_store_close(&s);
	CU_ASSERT(remove_tree(dir));
}

static void test_fs_survives_reopen(void)
{
	char dir[64];
	CU_ASSERT_FATAL(temp_dir(dir, sizeof dir));
	struct mqtt_store s;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&s, dir), 0);
	CU_ASSERT_EQUAL(save_str(&s, 0xc001, "exactly once"), 0);
	mqtt_store_close(&s);
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&s, dir), 0);
	CU_ASSERT_STRING_EQUAL(load_str(&s, 0xc001), "exactly once");
	mqtt_store_close(&s);
	/* The file is named by the key, and no spool file is left. */
	char path[128];
	snprintf(path, sizeof path, "%s/0c001", dir);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	snprintf(path, sizeof path, "%s/0c001.spool", dir);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
	CU_ASSERT(remove_tree(dir));
}

static void test_fs_ignores_foreign_files(void)
{
	char dir[64];
	CU_ASSERT_FATAL(temp_dir(dir, sizeof dir));
	static const char *foreign[] = {"README", "0000g", "123456", "0000", "00001.spool", "2ffff", "ABCDE"};
	for (size_t i = 0; i < sizeof foreign / sizeof *foreign; i++)
		CU_ASSERT(write_file(dir, foreign[i], "junk"));
	struct mqtt_store s;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&s, dir), 0);
	CU_ASSERT_EQUAL(save_str(&s, 1, "one"), 0);
	struct keyset k = {0};
	CU_ASSERT_EQUAL(s.ops->list(s.self, collect, &k), 0);
	CU_ASSERT_EQUAL(k.n, 1);
	CU_ASSERT_EQUAL(k.keys[0], 1);
	/* A stale spool file of a key is overwritten by its next save. */
	CU_ASSERT_EQUAL(save_str(&s, 1, "uno"), 0);
	CU_ASSERT_STRING_EQUAL(load_str(&s, 1), "uno");
	mqtt_store_close(&s);
	CU_ASSERT(remove_tree(dir));
}

static void test_fs_failed_save_keeps_old_value(void)
{
	char dir[64], path[128];
	CU_ASSERT_FATAL(temp_dir(dir, sizeof dir));
	struct mqtt_store s;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&s, dir), 0);
	/* A non-empty directory where key 7's file would go: rename fails. */
	snprintf(path, sizeof path, "%s/00007", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
	CU_ASSERT(write_file(path, "inside", "x"));
	int rc = save_str(&s, 7, "value");
	CU_ASSERT(rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST);
	snprintf(path, sizeof path, "%s/00007.spool", dir);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0); /* spool cleaned up */
	/* And a key with a value keeps it when a save fails. */
	CU_ASSERT_EQUAL(save_str(&s, 8, "old"), 0);
	snprintf(path, sizeof path, "%s/00008.spool", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0); /* the spool cannot be opened */
	CU_ASSERT_EQUAL(save_str(&s, 8, "new"), -EISDIR);
	CU_ASSERT_STRING_EQUAL(load_str(&s, 8), "old");
	mqtt_store_close(&s);
	CU_ASSERT(remove_tree(dir));
}

static void test_fs_open_errors(void)
{
	struct mqtt_store s;
	CU_ASSERT_EQUAL(mqtt_store_fs(&s, "/nonexistent/mqttsim-store"), -ENOENT);
	CU_ASSERT_EQUAL(mqtt_store_fs(&s, "/etc/hostname"), -ENOTDIR);
	CU_ASSERT_EQUAL(mqtt_store_fs(NULL, "/tmp"), -EINVAL);
	CU_ASSERT_EQUAL(mqtt_store_fs(&s, NULL), -EINVAL);
}

/* What a directory holds: each name and its bytes, sorted by name. */
static void snapshot(const char *dir, char *out, size_t cap)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "cd '%s' && for f in $(ls -A | sort); do echo \"$f\"; od -c \"$f\"; done", dir);
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, cap - 1, p) : 0;
	out[n] = 0;
	if (p)
		pclose(p);
}

/* One store, one owner: while a process holds a store, opening its
 * directory again - from another process, or from the same one - fails
 * with -EBUSY, names the directory and the holder's process id, and
 * changes nothing in it; once the holder is gone (killed, even), the
 * store opens again with its records. */
static void test_fs_one_owner(void)
{
	char dir[64];
	CU_ASSERT_FATAL(temp_dir(dir, sizeof dir));
	struct mqtt_store s;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&s, dir), 0);
	CU_ASSERT_EQUAL(save_str(&s, 0x8001, "in flight"), 0);
	struct mqtt_store twice;
	char err[256] = "";
	CU_ASSERT_EQUAL(mqtt_store_fs_open(&twice, dir, err, sizeof err), -EBUSY);
	char want[128];
	snprintf(want, sizeof want, "%s: the store is in use by process %ld", dir, (long)getpid());
	CU_ASSERT_STRING_EQUAL(err, want);
	mqtt_store_close(&s);

	int held[2], done[2];
	CU_ASSERT_FATAL(pipe(held) == 0 && pipe(done) == 0);
	pid_t child = fork();
	CU_ASSERT_FATAL(child >= 0);
	if (child == 0) {
		close(held[0]);
		close(done[1]); /* or its own copy would keep the pipe open */
		struct mqtt_store mine;
		char ok = mqtt_store_fs(&mine, dir) == 0 ? 'y' : 'n';
		if (write(held[1], &ok, 1) != 1)
			_exit(1);
		char c;
		while (read(done[0], &c, 1) > 0) /* until the parent says so: hold */
			;
		_exit(0);            /* no close: the kernel drops the lock */
	}
	close(held[1]);
	close(done[0]);
	char ok = 0;
	CU_ASSERT_EQUAL(read(held[0], &ok, 1), 1);
	CU_ASSERT_EQUAL(ok, 'y');
	static char before[8192], after[8192];
	snapshot(dir, before, sizeof before);
	CU_ASSERT_PTR_NOT_NULL(strstr(before, "08001"));
	err[0] = 0;
	CU_ASSERT_EQUAL(mqtt_store_fs_open(&twice, dir, err, sizeof err), -EBUSY);
	snprintf(want, sizeof want, "%s: the store is in use by process %ld", dir, (long)child);
	CU_ASSERT_STRING_EQUAL(err, want);
	snapshot(dir, after, sizeof after);
	CU_ASSERT_STRING_EQUAL(before, after); /* nothing touched */
	close(done[1]);
	int status;
	CU_ASSERT_EQUAL(waitpid(child, &status, 0), child);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(held[0]);
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&s, dir), 0);
	CU_ASSERT_STRING_EQUAL(load_str(&s, 0x8001), "in flight");
	struct keyset k = {0};
	CU_ASSERT_EQUAL(s.ops->list(s.self, collect, &k), 0);
	CU_ASSERT_EQUAL(k.n, 1); /* the lock file is no record */
	mqtt_store_close(&s);
	CU_ASSERT(remove_tree(dir));
}

/* One save and one remove in the directory named by
 * MQTTSIM_STORE_TRACE_DIR: pytest runs this under strace to see the
 * order of system calls. Without the variable it runs in a temporary
 * directory and checks the results only. */
static void test_fs_traced_save(void)
{
	char dir[256];
	const char *env = getenv("MQTTSIM_STORE_TRACE_DIR");
	if (env)
		snprintf(dir, sizeof dir, "%s", env);
	else
		CU_ASSERT_FATAL(temp_dir(dir, sizeof dir));
	struct mqtt_store s;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&s, dir), 0);
	CU_ASSERT_EQUAL(save_str(&s, 0xabcd, "traced"), 0);
	CU_ASSERT_EQUAL(s.ops->remove(s.self, 0xabcd), 0);
	mqtt_store_close(&s);
	if (!env)
		CU_ASSERT(remove_tree(dir));
}

const struct test_def store_tests[] = {
	{"file-system store: one owner at a time, across processes", test_fs_one_owner},
	{"in-memory store conformance", test_mem_conformance},
	{"file-system store conformance", test_fs_conformance},
	{"file-system store survives reopen", test_fs_survives_reopen},
	{"file-system store ignores foreign files", test_fs_ignores_foreign_files},
	{"file-system store: failed save keeps the old value", test_fs_failed_save_keeps_old_value},
	{"file-system store open errors", test_fs_open_errors},
	{"file-system store traced save", test_fs_traced_save},
	{NULL, NULL},
};
