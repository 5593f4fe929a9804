/*
 * mqttsim - runs scenarios and judges MQTT delivery guarantees; decodes,
 * replays and converts captures. This file only dispatches: each
 * subcommand is a file of its own (run.c here; the capture commands in
 * capture/program/).
 */
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "capture/program/commands.h"
#include "run.h"
#include "scenarios/real/real.h"

int main(int argc, char **argv)
{
#ifdef __GLIBC__
	/* A simulated run opens connections and sessions by the thousand a
	 * second, each with a buffer of up to a megabyte of which it touches
	 * a few pages. glibc would map and unmap each one (a third of the
	 * run's time, in the kernel); from the heap they are reused. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
	if (argc > 1 && !strcmp(argv[1], "decode"))
		return mqttsim_decode(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "replay"))
		return mqttsim_replay(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "convert"))
		return mqttsim_convert(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "explore"))
		return mqttsim_explore(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "coverage"))
		return mqttsim_coverage(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "--version")) {
		puts(mqttsim_version);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "__client"))
		return scenario_real_client(argc, argv); /* a client process of --real */
	if (argc > 1 && !strcmp(argv[1], "__driver"))
		return scenario_driver_client(argc, argv); /* a client process of --client-cmd */
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(mqttsim_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	return mqttsim_run(argc, argv); /* run, check, or an unknown command */
}
