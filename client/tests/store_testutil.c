#include "store_testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool temp_dir(char *dir, size_t cap)
{
	const char *base = getenv("TMPDIR");
	int n = snprintf(dir, cap, "%s/mqttsim-store-XXXXXX", base && *base ? base : "/tmp");
	return n > 0 && (size_t)n < cap && mkdtemp(dir) != NULL;
}

static bool remove_dir(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool ok = true;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && depth < 2)
			ok = remove_dir(path, depth + 1) && ok;
		else
			ok = unlink(path) == 0 && ok;
	}
	closedir(d);
	return rmdir(dir) == 0 && ok;
}

bool remove_tree(const char *dir)
{
	return remove_dir(dir, 0);
}

bool write_file(const char *dir, const char *name, const char *text)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	bool ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok;
}
