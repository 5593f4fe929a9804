/*
 * mqttsim/store.h - persistence of client sessions.
 *
 * NAME
 *	struct mqtt_store, mqtt_store_mem, mqtt_store_fs, mqtt_store_close,
 *	struct mqtt_checked, mqtt_checked_save, mqtt_checked_load,
 *	mqtt_checked_scan - key/value stores for session state, and the
 *	integrity layer over them
 *
 * DESCRIPTION
 *	A session that must survive a restart (messages published at least
 *	once or exactly once, inbound exactly-once deduplication) keeps its
 *	state in a store: a key/value interface with 17-bit keys, as the Go
 *	seed's Persistence. Anyone can implement one (struct
 *	mqtt_store_ops); two come with the library:
 *
 *	mqtt_store_mem()  values in memory; for volatile sessions and tests.
 *	mqtt_store_fs()   one file per key in a directory. A save writes a
 *	                  spool file, fsyncs it, renames it over the key's
 *	                  file and fsyncs the directory, so that after a
 *	                  crash a key holds either its old or its new value,
 *	                  and a save that returned is on disk. A delete
 *	                  fsyncs the directory too.
 *
 *	The integrity layer (struct mqtt_checked) works over any store: each
 *	value it saves carries a sequence number and a CRC-32C checksum (of
 *	key, value and sequence number), so that a damaged, truncated or
 *	misplaced record is detected on load instead of being acted on, and
 *	records can be read back in the order they were written.
 *
 * ERRORS
 *	Store operations return 0 or a negative errno value:
 *	-EINVAL  a key above MQTT_STORE_KEY_MAX, or a NULL argument;
 *	-ENOMEM  out of memory;
 *	-EBADMSG (integrity layer) a record failed its checks;
 *	-EFBIG   a value larger than MQTT_STORE_VALUE_MAX;
 *	others   as the underlying system calls report them (-EIO,
 *	         -ENOSPC, -EACCES, ...).
 *
 * THREADS
 *	The stores of this library may be called from several threads at
 *	once for different keys. Calls for the same key must not overlap.
 */
#ifndef MQTTSIM_STORE_H
#define MQTTSIM_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mqttsim/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Keys are 17 bits: 0 to MQTT_STORE_KEY_MAX. */
#define MQTT_STORE_KEY_MAX 0x1ffffu

/* The largest value: a whole PUBLISH packet (256 MiB + 5) plus the
 * integrity trailer (12), as in the seed. */
#define MQTT_STORE_VALUE_MAX ((size_t)268435455u + 5u + 12u)

struct mqtt_store_ops {
	/*
	 * Sets *value to a copy of the value of key, allocated with
	 * malloc(3) (the caller frees it), and *len to its size. When key
	 * has no value, sets *value to NULL and *len to 0 and returns 0.
	 * A value of length 0 is returned as a non-NULL pointer.
	 */
	int (*load)(void *self, uint32_t key, uint8_t **value, size_t *len);
	/*
	 * Replaces the value of key with the concatenation of
	 * iov[0..iovcnt). Returns only when the value is as durable as the
	 * store can make it. On failure the old value, if any, remains.
	 */
	int (*save)(void *self, uint32_t key, const struct iovec *iov, int iovcnt);
	/* Removes the value of key; 0 also when there was none. */
	int (*remove)(void *self, uint32_t key);
	/*
	 * Calls each(arg, key) once for every key that has a value, in any
	 * order. Stops at, and returns, the first non-zero each() returns.
	 * each() must not call back into the store.
	 */
	int (*list)(void *self, int (*each)(void *arg, uint32_t key), void *arg);
	/* Releases the store (not its contents, for a durable store). */
	void (*close)(void *self);
};

/* A store: its operations and their first argument. Copyable. */
struct mqtt_store {
	const struct mqtt_store_ops *ops;
	void *self;
};

/*
 * Creates an empty in-memory store in *out. Returns 0 or -ENOMEM.
 * Release it with mqtt_store_close().
 */
MQTTSIM_API int mqtt_store_mem(struct mqtt_store *out);

/*
 * Opens the directory dir (which must exist and be writable) as a store
 * in *out. Files in it whose names are not five lower-case hexadecimal
 * digits are ignored. One store, one owner: the store holds an exclusive
 * lock (flock(2) on dir/mqttsim.lock, which names the holder's process
 * id) until it is closed or its process dies, and a second open of the
 * same directory, from any process, fails with -EBUSY without touching
 * anything in it. Returns 0, -EBUSY, the negative errno of open(2) of the
 * directory or its lock file (-ENOENT, -ENOTDIR, -EACCES, ...), or
 * -ENOMEM. Release it with mqtt_store_close(); the files stay.
 */
MQTTSIM_API int mqtt_store_fs(struct mqtt_store *out, const char *dir);
/*
 * The same; on failure err (when not NULL, errcap bytes) says why, naming
 * the directory: "DIR: the store is in use by process PID".
 */
MQTTSIM_API int mqtt_store_fs_open(struct mqtt_store *out, const char *dir, char *err, size_t errcap);

/* Releases s (ops->close). s->ops is NULL afterwards; closing twice is harmless. */
MQTTSIM_API void mqtt_store_close(struct mqtt_store *s);

/*
 * The integrity layer. It does not own the store under it.
 * next_seq is the sequence number of the next save: mqtt_checked_scan()
 * sets it past the highest one found, so that numbers keep rising
 * across restarts.
 */
struct mqtt_checked {
	struct mqtt_store store;
	uint64_t next_seq;
};

/* Bytes the integrity layer adds to each value: sequence (8), CRC-32C (4). */
#define MQTT_CHECKED_TRAILER 12

/* Puts c over store, with sequence numbers starting at 1. */
MQTTSIM_API void mqtt_checked_init(struct mqtt_checked *c, struct mqtt_store store);

/*
 * Saves the concatenation of iov[0..iovcnt) under key, with the next
 * sequence number (stored in *seq when seq is not NULL). iovcnt may be
 * at most 15. Errors: those of the store; -EINVAL for iovcnt out of
 * range; -EFBIG over MQTT_STORE_VALUE_MAX.
 */
MQTTSIM_API int mqtt_checked_save(struct mqtt_checked *c, uint32_t key, const struct iovec *iov,
                                  int iovcnt, uint64_t *seq);

/*
 * Loads and verifies the value of key. On success *value (malloc'd; the
 * caller frees it) and *len hold the value without the trailer, and
 * *seq (when not NULL) its sequence number; a key without a value gives
 * *value NULL. A record that fails its checks returns -EBADMSG, with
 * *value NULL; *why (when not NULL) then says what failed.
 */
MQTTSIM_API int mqtt_checked_load(struct mqtt_checked *c, uint32_t key, uint8_t **value,
                                  size_t *len, uint64_t *seq, const char **why);

/* Removes key from the store under c. */
MQTTSIM_API int mqtt_checked_remove(struct mqtt_checked *c, uint32_t key);

/* One record found by mqtt_checked_scan(). The value is borrowed. */
struct mqtt_checked_record {
	uint32_t key;
	uint64_t seq;
	const uint8_t *value;
	size_t len;
};

/*
 * Reads every record of the store, verifies each, and reports them in
 * ascending sequence order (the order they were saved) through
 * record(arg, r), and each record that fails its checks through
 * damaged(arg, key, why) (which may be NULL). Damaged records are left
 * in the store for inspection; the caller decides. Sets c->next_seq past
 * the highest sequence number of the records that passed (a damaged
 * record's number cannot be trusted).
 *
 * Returns 0, a store error (list or load failed; nothing was reported
 * then), -ENOMEM, or the first non-zero return of record().
 */
MQTTSIM_API int mqtt_checked_scan(struct mqtt_checked *c,
                                  int (*record)(void *arg, const struct mqtt_checked_record *r),
                                  void (*damaged)(void *arg, uint32_t key, const char *why),
                                  void *arg);

/* CRC-32C (Castagnoli) of data, continuing from crc (start with 0). */
MQTTSIM_API uint32_t mqtt_crc32c(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MQTTSIM_STORE_H */
