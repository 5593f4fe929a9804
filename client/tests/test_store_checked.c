/*
 * The integrity layer: CRC-32C, sealed records, detection of damage,
 * scans in save order, and a file-system store killed mid-save.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mqttsim/store.h"
#include "store_testutil.h"
#include "testing/suites.h"

uint32_t crc32c_portable(uint32_t crc, const void *data, size_t len);

static struct iovec iov_of(const void *p, size_t n)
{
	struct iovec v = {(void *)(uintptr_t)p, n};
	return v;
}

static void test_crc32c(void)
{
	/* The check value of CRC-32C (RFC 3720, appendix B.4). */
	CU_ASSERT_EQUAL(mqtt_crc32c(0, "123456789", 9), 0xe3069283u);
	CU_ASSERT_EQUAL(crc32c_portable(0, "123456789", 9), 0xe3069283u);
	CU_ASSERT_EQUAL(mqtt_crc32c(0, "", 0), 0);
	static uint8_t zeros[32], ones[32];
	memset(ones, 0xff, sizeof ones);
	CU_ASSERT_EQUAL(mqtt_crc32c(0, zeros, 32), 0x8a9136aau); /* RFC 3720 B.4 */
	CU_ASSERT_EQUAL(mqtt_crc32c(0, ones, 32), 0x62a8ab43u);
	/* Hardware and table paths agree, in pieces as in one go. */
	uint8_t buf[1000];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t cut = 0; cut <= sizeof buf; cut += 37) {
		uint32_t whole = crc32c_portable(0, buf, sizeof buf);
		uint32_t pieces = mqtt_crc32c(mqtt_crc32c(0, buf, cut), buf + cut, sizeof buf - cut);
		CU_ASSERT_EQUAL(whole, pieces);
	}
}

static void test_save_load(void)
{
	struct mqtt_store s;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_mem(&s), 0);
	struct mqtt_checked c;
	mqtt_checked_init(&c, s);
	struct iovec parts[2] = {iov_of("abc", 3), iov_of("def", 3)};
	uint64_t seq = 0;
	CU_ASSERT_EQUAL(mqtt_checked_save(&c, 0x8001, parts, 2, &seq), 0);
	CU_ASSERT_EQUAL(seq, 1);
	CU_ASSERT_EQUAL(mqtt_checked_save(&c, 0x8002, parts, 1, &seq), 0);
	CU_ASSERT_EQUAL(seq, 2);

	/* The raw record is the data plus 12 bytes. */
	uint8_t *raw;
	size_t raw_len;
	CU_ASSERT_EQUAL(s.ops->load(s.self, 0x8001, &raw, &raw_len), 0);
	CU_ASSERT_EQUAL(raw_len, 6 + MQTT_CHECKED_TRAILER);
	free(raw);

	uint8_t *v;
	size_t n;
	const char *why = NULL;
	CU_ASSERT_EQUAL(mqtt_checked_load(&c, 0x8001, &v, &n, &seq, &why), 0);
	CU_ASSERT(n == 6 && memcmp(v, "abcdef", 6) == 0);
	CU_ASSERT_EQUAL(seq, 1);
	free(v);
	CU_ASSERT_EQUAL(mqtt_checked_load(&c, 0x9999, &v, &n, &seq, &why), 0);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_EQUAL(mqtt_checked_remove(&c, 0x8001), 0);
	CU_ASSERT_EQUAL(mqtt_checked_load(&c, 0x8001, &v, &n, NULL, NULL), 0);
	CU_ASSERT_PTR_NULL(v);

	struct iovec many[16];
	for (int i = 0; i < 16; i++)
		many[i] = iov_of("x", 1);
	CU_ASSERT_EQUAL(mqtt_checked_save(&c, 1, many, 16, NULL), -EINVAL);
	CU_ASSERT_EQUAL(mqtt_checked_save(&c, 1, many, 15, NULL), 0);
	CU_ASSERT_EQUAL(mqtt_checked_save(&c, 0x20000, many, 1, NULL), -EINVAL);
	mqtt_store_close(&s);
}

/* Writes raw bytes under key, bypassing the integrity layer. */
static void put_raw(struct mqtt_store *s, uint32_t key, const uint8_t *b, size_t n)
{
	struct iovec v = iov_of(b, n);
	CU_ASSERT_EQUAL_FATAL(s->ops->save(s->self, key, &v, 1), 0);
}

static void test_damage_detected(void)
{
	struct mqtt_store s;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_mem(&s), 0);
	struct mqtt_checked c;
	mqtt_checked_init(&c, s);
	struct iovec data = iov_of("payload of a message", 20);
	CU_ASSERT_EQUAL_FATAL(mqtt_checked_save(&c, 0xc005, &data, 1, NULL), 0);
	uint8_t *raw;
	size_t raw_len;
	CU_ASSERT_EQUAL_FATAL(s.ops->load(s.self, 0xc005, &raw, &raw_len), 0);

	uint8_t *v = (uint8_t *)1;
	size_t n;
	const char *why = NULL;
	/* Every single-bit flip anywhere in the record is caught. */
	for (size_t byte = 0; byte < raw_len; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			raw[byte] ^= (uint8_t)(1u << bit);
			put_raw(&s, 0xc005, raw, raw_len);
			CU_ASSERT_EQUAL(mqtt_checked_load(&c, 0xc005, &v, &n, NULL, &why), -EBADMSG);
			CU_ASSERT_PTR_NULL(v);
			raw[byte] ^= (uint8_t)(1u << bit);
		}
	}
	/* Every truncation too. */
	for (size_t len = 0; len < raw_len; len++) {
		put_raw(&s, 0xc005, raw, len);
		why = NULL;
		CU_ASSERT_EQUAL(mqtt_checked_load(&c, 0xc005, &v, &n, NULL, &why), -EBADMSG);
		CU_ASSERT_PTR_NOT_NULL(why);
	}
	/* An intact record under another key is misplaced. */
	put_raw(&s, 0xc006, raw, raw_len);
	CU_ASSERT_EQUAL(mqtt_checked_load(&c, 0xc006, &v, &n, NULL, &why), -EBADMSG);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "checksum"));
	/* And put back, it reads again. */
	put_raw(&s, 0xc005, raw, raw_len);
	CU_ASSERT_EQUAL(mqtt_checked_load(&c, 0xc005, &v, &n, NULL, NULL), 0);
	free(v);
	free(raw);
	mqtt_store_close(&s);
}

struct scan_log {
	uint32_t keys[32];
	uint64_t seqs[32];
	size_t n;
	uint32_t damaged[32];
	size_t ndamaged;
	size_t stop_at;
};

static int on_record(void *arg, const struct mqtt_checked_record *r)
{
	struct scan_log *l = arg;
	char want[16];
	snprintf(want, sizeof want, "v%05x", (unsigned)r->key);
	CU_ASSERT(r->len == strlen(want) && memcmp(r->value, want, r->len) == 0);
	l->keys[l->n] = r->key;
	l->seqs[l->n++] = r->seq;
	return l->stop_at && l->n == l->stop_at ? 7 : 0;
}

static void on_damaged(void *arg, uint32_t key, const char *why)
{
	struct scan_log *l = arg;
	CU_ASSERT_PTR_NOT_NULL(why);
	l->damaged[l->ndamaged++] = key;
}

static void test_scan_in_save_order(void)
{
	char dir[64];
	CU_ASSERT_FATAL(temp_dir(dir, sizeof dir));
	struct mqtt_store s;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&s, dir), 0);
	struct mqtt_checked c;
	mqtt_checked_init(&c, s);
	/* Saved in descending key order, with one key saved twice. */
	static const uint32_t order[] = {0xc003, 0xc002, 0x8009, 0xc001, 0x8001, 0xc002};
	for (size_t i = 0; i < 6; i++) {
		char v[16];
		snprintf(v, sizeof v, "v%05x", (unsigned)order[i]);
		struct iovec iv = iov_of(v, strlen(v));
		CU_ASSERT_EQUAL_FATAL(mqtt_checked_save(&c, order[i], &iv, 1, NULL), 0);
	}
	/* One damaged record. */
	uint8_t junk[20] = {1, 2, 3};
	put_raw(&s, 0x10005, junk, sizeof junk);
	mqtt_store_close(&s);

	/* A new process would start from a fresh layer: scan restores order. */
	CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&s, dir), 0);
	mqtt_checked_init(&c, s);
	struct scan_log log = {0};
	CU_ASSERT_EQUAL(mqtt_checked_scan(&c, on_record, on_damaged, &log), 0);
	static const uint32_t want[] = {0xc003, 0x8009, 0xc001, 0x8001, 0xc002};
	CU_ASSERT_EQUAL_FATAL(log.n, 5);
	for (size_t i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(log.keys[i], want[i]);
	for (size_t i = 1; i < 5; i++)
		CU_ASSERT(log.seqs[i] > log.seqs[i - 1]);
	CU_ASSERT_EQUAL(log.ndamaged, 1);
	CU_ASSERT_EQUAL(log.damaged[0], 0x10005);
	CU_ASSERT_EQUAL(c.next_seq, 7); /* past the last save, 6 */

	/* record() can stop the scan. */
	struct scan_log stop = {.stop_at = 2};
	CU_ASSERT_EQUAL(mqtt_checked_scan(&c, on_record, NULL, &stop), 7);
	CU_ASSERT_EQUAL(stop.n, 2);
	mqtt_store_close(&s);
	CU_ASSERT(remove_tree(dir));
}

/*
 * A child saves ever-new values under one key, through the integrity
 * layer on the file-system store, until SIGKILL strikes at a random
 * moment. Whatever the moment, the key then holds a whole value: never
 * a damaged or half-written one.
 */
static void test_killed_mid_save(void)
{
	char dir[64];
	CU_ASSERT_FATAL(temp_dir(dir, sizeof dir));
	srand((unsigned)time(NULL));
	int damaged = 0, whole = 0;
	for (int round = 0; round < 25; round++) {
		pid_t pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			struct mqtt_store s;
			if (mqtt_store_fs(&s, dir) != 0)
				_exit(3);
			struct mqtt_checked c;
			mqtt_checked_init(&c, s);
			static uint8_t value[64 * 1024];
			for (uint32_t i = 0;; i++) {
				size_t len = 1000 + (i * 7919) % (sizeof value - 1000);
				memset(value, (int)(i & 0xff), len);
				struct iovec v = iov_of(value, len);
				if (mqtt_checked_save(&c, 0xc0de, &v, 1, NULL) != 0)
					_exit(4);
			}
		}
		struct timespec pause = {0, (rand() % 20000) * 1000L};
		nanosleep(&pause, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

		struct mqtt_store s;
		CU_ASSERT_EQUAL_FATAL(mqtt_store_fs(&s, dir), 0);
		struct mqtt_checked c;
		mqtt_checked_init(&c, s);
		uint8_t *v;
		size_t n;
		int rc = mqtt_checked_load(&c, 0xc0de, &v, &n, NULL, NULL);
		if (rc == -EBADMSG)
			damaged++;
		if (rc == 0 && v) {
			whole++;
			int same = 1;
			for (size_t i = 1; i < n; i++)
				same &= v[i] == v[0];
			CU_ASSERT(same);
			free(v);
		}
		mqtt_store_close(&s);
	}
	CU_ASSERT_EQUAL(damaged, 0);
	CU_ASSERT(whole > 0);
	CU_ASSERT(remove_tree(dir));
}

static void test_scan_empty_store(void)
{
	struct mqtt_store s;
	CU_ASSERT_EQUAL_FATAL(mqtt_store_mem(&s), 0);
	struct mqtt_checked c;
	mqtt_checked_init(&c, s);
	struct scan_log log = {0};
	CU_ASSERT_EQUAL(mqtt_checked_scan(&c, on_record, on_damaged, &log), 0);
	CU_ASSERT_EQUAL(log.n, 0);
	CU_ASSERT_EQUAL(log.ndamaged, 0);
	CU_ASSERT_EQUAL(c.next_seq, 1);
	mqtt_store_close(&s);
}

const struct test_def store_checked_tests[] = {
	{"scan of an empty store", test_scan_empty_store},
	{"CRC-32C check values", test_crc32c},
	{"save and load through the integrity layer", test_save_load},
	{"every bit flip and truncation is detected", test_damage_detected},
	{"scan reports records in save order and damage", test_scan_in_save_order},
	{"SIGKILL mid-save never leaves a damaged value", test_killed_mid_save},
	{NULL, NULL},
};
