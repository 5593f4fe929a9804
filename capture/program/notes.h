/*
 * notes.h - reading the JSON-lines sidecar beside a capture
 * (FILE.pcap.jsonl, mqtt_pcap_note(3)), for `mqttsim decode` to show the
 * annotations among the packets. Only the fields decode shows are read;
 * a line that does not parse is skipped and counted.
 */
#ifndef SCENARIOS_NOTES_H
#define SCENARIOS_NOTES_H

#include <stddef.h>
#include <stdint.h>

struct note {
	uint64_t frame;   /* the records written when it happened */
	char source[32];
	char text[400];
};

struct notes {
	struct note *v;
	size_t n, next;   /* next: the first not shown yet */
	size_t bad;       /* lines that did not parse */
};

/* Loads capture_path's sidecar, if there is one: 1 loaded, 0 none, -1 out of memory. */
int notes_load(struct notes *ns, const char *capture_path);
void notes_free(struct notes *ns);

#endif
