/*
 * test_simdisk.c - the simulated disk keeps exactly what a power loss
 * would leave: synced bytes under names the directory fsync made
 * durable. The library's own file-system store runs on it.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/sim/simdisk.h"
#include "testing/suites.h"

static struct simdisk *disk;
static struct mqtt_store store;

static void open_store(void)
{
	disk = simdisk_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(disk);
	CU_ASSERT_EQUAL_FATAL(simdisk_store(disk, &store), 0);
}

static void close_store(void)
{
	mqtt_store_close(&store);
	simdisk_free(disk);
}

static int save_str(uint32_t key, const char *value)
{
	struct iovec v = {(void *)(uintptr_t)value, strlen(value)};
	return store.ops->save(store.self, key, &v, 1);
}

/* The value of key as a string ("" when absent), in a static buffer. */
static const char *load_str(uint32_t key)
{
	static char text[256];
	uint8_t *value = NULL;
	size_t len = 0;
	int rc = store.ops->load(store.self, key, &value, &len);
	CU_ASSERT_EQUAL(rc, 0);
	snprintf(text, sizeof text, "%.*s", (int)len, value ? (char *)value : "");
	free(value);
	return text;
}

static int count_key(void *arg, uint32_t key)
{
	(void)key;
	++*(int *)arg;
	return 0;
}

static int keys(void)
{
	int n = 0;
	CU_ASSERT_EQUAL(store.ops->list(store.self, count_key, &n), 0);
	return n;
}

static void test_store_round_trip(void)
{
	open_store();
	CU_ASSERT_EQUAL(save_str(0x8001, "first"), 0);
	CU_ASSERT_EQUAL(save_str(0x8002, "second"), 0);
	CU_ASSERT_EQUAL(save_str(0x8001, "replaced"), 0);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "replaced");
	CU_ASSERT_STRING_EQUAL(load_str(0x8002), "second");
	CU_ASSERT_STRING_EQUAL(load_str(0x8003), "");
	CU_ASSERT_EQUAL(keys(), 2);
	CU_ASSERT_EQUAL(store.ops->remove(store.self, 0x8002), 0);
	CU_ASSERT_EQUAL(store.ops->remove(store.self, 0x8002), 0); /* absent: no error */
	CU_ASSERT_EQUAL(keys(), 1);
	close_store();
}

static void test_synced_saves_survive_a_crash(void)
{
	open_store();
	CU_ASSERT_EQUAL(save_str(0x8001, "kept"), 0);
	CU_ASSERT_EQUAL(save_str(0x8002, "removed"), 0);
	CU_ASSERT_EQUAL(store.ops->remove(store.self, 0x8002), 0);
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "kept");
	CU_ASSERT_STRING_EQUAL(load_str(0x8002), "");
	CU_ASSERT_EQUAL(keys(), 1);
	CU_ASSERT_EQUAL(simdisk_durable_files(disk), 1);
	close_store();
}

/* The simulated disk's operations, with the directory fsync or the file
 * fsync left out: what the Go seed's store (and a careless one) does. */
static struct store_fs_vfs inner;
static bool skip_dir_sync, skip_file_sync;

static int lossy_fsync(void *ctx, int fd)
{
	if ((fd == STORE_FS_DIR && skip_dir_sync) || (fd != STORE_FS_DIR && skip_file_sync))
		return 0;
	return inner.fsync(ctx, fd);
}

/* The store over the same disk again, now with those fsyncs left out. */
static void reopen_lossy(bool dir, bool file)
{
	mqtt_store_close(&store);
	simdisk_vfs(disk, &inner);
	struct store_fs_vfs v = inner;
	v.fsync = lossy_fsync;
	skip_dir_sync = dir;
	skip_file_sync = file;
	CU_ASSERT_EQUAL_FATAL(store_fs_over(&store, &v), 0);
}

static void open_lossy_store(bool dir, bool file)
{
	open_store();
	reopen_lossy(dir, file);
}

static void test_unsynced_rename_is_lost(void)
{
	open_lossy_store(true, false);
	CU_ASSERT_EQUAL(save_str(0x8001, "never durable"), 0);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "never durable"); /* the running system sees it */
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "");
	CU_ASSERT_EQUAL(keys(), 0);
	close_store();
}

static void test_unsynced_replace_comes_back_old(void)
{
	open_store();
	CU_ASSERT_EQUAL(save_str(0x8001, "old"), 0);
	reopen_lossy(true, false);
	CU_ASSERT_EQUAL(save_str(0x8001, "new"), 0);
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "old");
	close_store();
}

static void test_unsynced_data_is_lost(void)
{
	open_lossy_store(false, true);
	CU_ASSERT_EQUAL(save_str(0x8001, "bytes never synced"), 0);
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	/* The name survived (the directory was synced), its bytes did not. */
	CU_ASSERT_EQUAL(keys(), 1);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "");
	close_store();
}

static void test_unsynced_remove_comes_back(void)
{
	open_store();
	CU_ASSERT_EQUAL(save_str(0x8001, "done"), 0);
	reopen_lossy(true, false);
	CU_ASSERT_EQUAL(store.ops->remove(store.self, 0x8001), 0);
	CU_ASSERT_EQUAL(keys(), 0);
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "done");
	close_store();
}

static void test_full_disk_refuses_and_keeps_the_old_value(void)
{
	open_store();
	CU_ASSERT_EQUAL(save_str(0x8001, "before"), 0);
	simdisk_set_full(disk, true);
	CU_ASSERT_EQUAL(save_str(0x8001, "during"), -ENOSPC);
	CU_ASSERT_EQUAL(save_str(0x8002, "during"), -ENOSPC);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "before");
	CU_ASSERT_EQUAL(keys(), 1); /* no spool file left behind */
	CU_ASSERT_EQUAL(store.ops->remove(store.self, 0x8001), 0); /* a remove needs no room */
	simdisk_set_full(disk, false);
	CU_ASSERT_EQUAL(save_str(0x8002, "after"), 0);
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	CU_ASSERT_STRING_EQUAL(load_str(0x8002), "after");
	CU_ASSERT_EQUAL(keys(), 1);
	close_store();
}

static void test_many_saves_reuse_space(void)
{
	/* Every replaced value frees its file; a long run stays small. */
	open_store();
	char value[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(value, sizeof value, "value %d", i);
		CU_ASSERT_EQUAL_FATAL(save_str(0x8000 | (uint32_t)(i % 7), value), 0);
		if (i % 3 == 0)
			CU_ASSERT_EQUAL_FATAL(store.ops->remove(store.self, 0x8000 | (uint32_t)(i % 7)), 0);
	}
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	CU_ASSERT_STRING_EQUAL(load_str(0x8000 | (4999 % 7)), "value 4999");
	CU_ASSERT(simdisk_durable_files(disk) <= 7);
	CU_ASSERT(simdisk_inodes(disk) <= 8);
	CU_ASSERT(simdisk_slots(disk) <= 32); /* freed slots are taken again */
	close_store();
}

/* POSIX: renaming a name to itself changes nothing (the directory once
 * added the name again and then removed it, losing the file). */
static void test_rename_to_itself(void)
{
	open_store();
	struct store_fs_vfs v;
	simdisk_vfs(disk, &v);
	CU_ASSERT_EQUAL(save_str(0x8001, "kept"), 0);
	CU_ASSERT_EQUAL(v.rename(v.ctx, "08001", "08001"), 0);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "kept");
	CU_ASSERT_EQUAL(keys(), 1);
	CU_ASSERT_EQUAL(v.rename(v.ctx, "0800x", "08001"), -ENOENT);
	CU_ASSERT_EQUAL(v.rename(v.ctx, "08001", "a name far too long"), -ENAMETOOLONG);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "kept");
	close_store();
}

/* A torn record keeps a prefix; a flipped one differs in one bit. */
static void test_damage_torn_and_flipped(void)
{
	open_store();
	CU_ASSERT_EQUAL(save_str(0x8001, "a record"), 0);
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	uint32_t key = 0;
	CU_ASSERT_EQUAL(simdisk_damage(disk, SIMDISK_TORN, 5, &key), 0);
	CU_ASSERT_EQUAL(key, 0x8001);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "a rec");
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0); /* the damage is durable */
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "a rec");
	CU_ASSERT_EQUAL(simdisk_damage(disk, SIMDISK_FLIP, 0 + 5 * 5, &key), 0); /* byte 0, bit 5 */
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "A rec");
	close_store();
}

static void test_damage_vanish(void)
{
	open_store();
	CU_ASSERT_EQUAL(save_str(0x8001, "one"), 0);
	CU_ASSERT_EQUAL(save_str(0x8002, "two"), 0);
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	uint32_t key = 0;
	CU_ASSERT_EQUAL(simdisk_damage(disk, SIMDISK_VANISH, 1, &key), 0);
	CU_ASSERT_STRING_EQUAL(load_str(key), "");
	CU_ASSERT_EQUAL(keys(), 1);
	CU_ASSERT_EQUAL(simdisk_damage(disk, SIMDISK_VANISH, 0, &key), 0);
	CU_ASSERT_EQUAL(simdisk_damage(disk, SIMDISK_VANISH, 0, &key), -ENOENT);
	close_store();
}

/* The last directory change undone: a replaced record comes back old, a
 * removed one comes back, a new one is gone. */
static void test_damage_rename_lost(void)
{
	open_store();
	uint32_t key = 0;
	CU_ASSERT_EQUAL(save_str(0x8001, "old"), 0);
	CU_ASSERT_EQUAL(save_str(0x8001, "new"), 0);
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	CU_ASSERT_EQUAL(simdisk_damage(disk, SIMDISK_RENAME_LOST, 0, &key), 0);
	CU_ASSERT_EQUAL(key, 0x8001);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "old");
	CU_ASSERT_EQUAL(store.ops->remove(store.self, 0x8001), 0);
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	CU_ASSERT_EQUAL(simdisk_damage(disk, SIMDISK_RENAME_LOST, 0, &key), 0);
	CU_ASSERT_STRING_EQUAL(load_str(0x8001), "old");
	CU_ASSERT_EQUAL(save_str(0x8002, "fresh"), 0);
	CU_ASSERT_EQUAL(simdisk_crash(disk), 0);
	CU_ASSERT_EQUAL(simdisk_damage(disk, SIMDISK_RENAME_LOST, 0, &key), 0);
	CU_ASSERT_EQUAL(key, 0x8002);
	CU_ASSERT_STRING_EQUAL(load_str(0x8002), "");
	close_store();
}

const struct test_def simdisk_tests[] = {
	{"a rename to itself keeps the file", test_rename_to_itself},
	{"a torn or flipped record", test_damage_torn_and_flipped},
	{"a record that vanishes", test_damage_vanish},
	{"a lost rename", test_damage_rename_lost},
	{"store round trip", test_store_round_trip},
	{"synced saves survive a crash", test_synced_saves_survive_a_crash},
	{"an unsynced rename is lost", test_unsynced_rename_is_lost},
	{"an unsynced replace comes back old", test_unsynced_replace_comes_back_old},
	{"unsynced data is lost", test_unsynced_data_is_lost},
	{"an unsynced remove comes back", test_unsynced_remove_comes_back},
	{"a full disk refuses, keeps the old value", test_full_disk_refuses_and_keeps_the_old_value},
	{"many saves reuse space", test_many_saves_reuse_space},
	{NULL, NULL},
};
