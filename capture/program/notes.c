/*
 * notes.c - the sidecar's lines (notes.h): {"frame":N,...,"source":"..",
 * "event":"..","text":".."}, as mqtt_pcap_note() writes them.
 */
#define _DEFAULT_SOURCE
#include "notes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The string value of key in line into out (JSON escapes undone; \u00XX
 * as its byte). 0, or -1 when the key or a well-formed string is missing. */
static int string_of(const char *line, const char *key, char *out, size_t cap)
{
	char pat[40];
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	const char *p = strstr(line, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	size_t n = 0;
	for (; *p && *p != '"'; p++) {
		char c = *p;
		if (c == '\\') {
			p++;
			if (*p == 'u' && strlen(p) >= 5) {
				c = (char)strtol((char[]){p[3], p[4], 0}, NULL, 16);
				p += 4;
			} else if (*p == 'n') {
				c = '\n';
			} else if (*p) {
				c = *p;
			} else {
				return -1;
			}
		}
		if (n + 1 < cap)
			out[n++] = c;
	}
	out[n] = 0;
	return *p == '"' ? 0 : -1;
}

int notes_load(struct notes *ns, const char *capture_path)
{
	memset(ns, 0, sizeof *ns);
	size_t len = strlen(capture_path);
	char *path = malloc(len + sizeof ".jsonl");
	if (!path)
		return -1;
	memcpy(path, capture_path, len);
	memcpy(path + len, ".jsonl", sizeof ".jsonl");
	FILE *f = fopen(path, "r");
	free(path);
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0, vcap = 0;
	int rc = 1;
	while (getline(&line, &cap, f) > 0) {
		struct note nt;
		const char *fr = strstr(line, "\"frame\":");
		if (!fr || string_of(line, "source", nt.source, sizeof nt.source) ||
		    string_of(line, "text", nt.text, sizeof nt.text)) {
			ns->bad++;
			continue;
		}
		nt.frame = strtoull(fr + 8, NULL, 10);
		if (ns->n == vcap) {
			size_t c = vcap ? vcap * 2 : 64;
			struct note *v = realloc(ns->v, c * sizeof *v);
			if (!v) {
				rc = -1;
				break;
			}
			ns->v = v;
			vcap = c;
		}
		ns->v[ns->n++] = nt;
	}
	free(line);
	fclose(f);
	return rc;
}

void notes_free(struct notes *ns)
{
	free(ns->v);
	memset(ns, 0, sizeof *ns);
}
