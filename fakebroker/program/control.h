/* control.h - the fakebroker program's JSON-lines control commands. */
#ifndef FAKEBROKER_CONTROL_H
#define FAKEBROKER_CONTROL_H

#include <stdbool.h>

#include "mqttsim/fakebroker.h"

/*
 * Executes one request line and returns the reply line (no newline),
 * malloc'd, NULL only when out of memory. *shutdown is set when the
 * request asks the program to stop.
 */
char *control_exec(struct mqtt_fakebroker *fb, const char *line, bool *shutdown);

#endif
