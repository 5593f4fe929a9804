/*
 * commands.h - the capture subcommands of mqttsim(1), for its
 * dispatcher (scenarios/program/main.c). Each takes mqttsim's argc and
 * argv (argv[1] is the subcommand's name) and returns the exit status.
 */
#ifndef CAPTURE_COMMANDS_H
#define CAPTURE_COMMANDS_H

/* mqttsim decode (decode.c), replay (replay_main.c), convert (convert.c). */
int mqttsim_decode(int argc, char **argv);
int mqttsim_replay(int argc, char **argv);
int mqttsim_convert(int argc, char **argv);

#endif
