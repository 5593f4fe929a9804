/* store_testutil.h - temporary directories and files for store tests. */
#ifndef STORE_TESTUTIL_H
#define STORE_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Makes a new directory under $TMPDIR (or /tmp); its path into dir. */
bool temp_dir(char *dir, size_t cap);
/* Removes dir and everything in it (one level of subdirectories). */
bool remove_tree(const char *dir);
/* Writes text to dir/name. */
bool write_file(const char *dir, const char *name, const char *text);

#endif
