/*
 * libFuzzer target: any text as a scenario file. It parses or it is
 * refused with "file:line:column: message"; never a crash or a leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/lang/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0; /* a NUL inside ends the text early, as in a file read */
	struct scenario *s = malloc(sizeof *s);
	char err[600];
	if (s && scenario_parse(s, "fuzz.scn", text, err, sizeof err) == 0)
		scenario_free(s);
	else if (s && strncmp(err, "fuzz.scn:", 9) != 0)
		abort(); /* every refusal names the file, line and column */
	free(s);
	free(text);
	return 0;
}
