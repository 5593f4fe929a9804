/*
 * simdisk.h - a simulated disk under the library's own file-system store
 * (store_fs.c), for store=fs clients in simulation.
 *
 * It keeps, for one directory, what a power loss would leave: a file's
 * bytes are durable once the file was fsynced, a name (create, rename,
 * unlink) once the directory was. A crash of the simulated machine
 * (simdisk_crash) throws away everything else, so a store that skips a
 * sync loses records here as it would on real hardware. The disk can
 * also be full: writes then fail with ENOSPC.
 */
#ifndef SCENARIOS_SIMDISK_H
#define SCENARIOS_SIMDISK_H

#include <stdbool.h>

#include "mqttsim/store.h"
#include "client/store_vfs.h"

struct simdisk;

struct simdisk *simdisk_new(void);
void simdisk_free(struct simdisk *d);

/*
 * A store over d (the real file-system store's code). d must outlive it;
 * closing the store leaves the disk's contents alone. 0 or -ENOMEM.
 */
int simdisk_store(struct simdisk *d, struct mqtt_store *out);

/* The disk's file operations, for tests that wrap them. */
void simdisk_vfs(struct simdisk *d, struct store_fs_vfs *out);

/* The machine dies: unsynced data and names are lost, open files closed. 0 or -ENOMEM. */
int simdisk_crash(struct simdisk *d);

/* A storage fault beyond a lost unsynced write: what a disk that does
 * not keep its promises leaves. */
enum simdisk_damage {
	SIMDISK_TORN = 1,    /* a record cut at a byte */
	SIMDISK_FLIP,        /* a bit of a record flipped */
	SIMDISK_VANISH,      /* a record's file gone */
	SIMDISK_RENAME_LOST, /* the last directory change to a record undone: its
	                      * previous version back, or a removed one back, or a
	                      * new one gone */
};

/*
 * Damages one record file (pick chooses which, and where), after
 * simdisk_crash(): *key gets the record's key. 0, -ENOENT when there is
 * no record to damage so, or -ENOMEM.
 */
int simdisk_damage(struct simdisk *d, enum simdisk_damage kind, uint64_t pick, uint32_t *key);

/* While full, every write fails with ENOSPC. */
void simdisk_set_full(struct simdisk *d, bool full);

/* How many records (key files) a restart would find; for traces. */
unsigned simdisk_durable_files(const struct simdisk *d);
/* Files that take space (named, durable or open); for tests. */
unsigned simdisk_inodes(struct simdisk *d);
/* Inode slots, held or free; for tests (a long run stays small). */
unsigned simdisk_slots(const struct simdisk *d);

#endif
