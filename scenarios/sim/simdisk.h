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

/* While full, every write fails with ENOSPC. */
void simdisk_set_full(struct simdisk *d, bool full);

/* How many records (key files) a restart would find; for traces. */
unsigned simdisk_durable_files(const struct simdisk *d);
/* Files that take space (named, durable or open); for tests. */
unsigned simdisk_inodes(const struct simdisk *d);

#endif
