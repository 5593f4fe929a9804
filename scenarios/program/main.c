/*
 * mqttsim - runs scenarios and judges MQTT delivery guarantees; decodes,
 * replays and converts captures. This file only dispatches: each
 * subcommand is a file of its own (run.c here; the capture commands in
 * capture/program/).
 */
#include <stdio.h>
#include <string.h>

#include "capture/program/commands.h"
#include "run.h"
#include "scenarios/real/real.h"

static const char usage_text[] =
"Usage: mqttsim run [OPTION]... FILE.scn...\n"
"       mqttsim check FILE.scn...\n"
"       mqttsim decode [--format text|tsv|json] [--port N]... FILE.pcap\n"
"       mqttsim replay --as-client --against ADDRESS | --as-broker --listen ADDRESS\n"
"                      [OPTION]... FILE.pcap\n"
"       mqttsim convert [--port N]... FILE.pcap > NAME.scn\n"
"Runs MQTT scenarios in deterministic simulation - the client's session core,\n"
"the fake broker's core and fault links in virtual time - and judges each run\n"
"with the guarantee oracle: QoS 0 at most once, QoS 1 at least once, QoS 2\n"
"exactly once, order, no phantom messages, liveness. A scenario passes when\n"
"every seed meets its expectations. 'check' only parses the files. For\n"
"captures: 'decode' prints their MQTT packets, 'replay' plays one side of them\n"
"against a live peer and reports the differences, 'convert' turns one into a\n"
"packet-level scenario (each has its own --help).\n"
"With --real the same scenario runs over real sockets in real time: the fake\n"
"broker in this process on a free loopback port, each client a process of\n"
"its own (the threaded client, the fault-injecting transport, a file-system\n"
"store in a temporary folder), a crash a SIGKILL of that process.\n"
"\n"
"Options:\n"
"  --seeds A..B      the seeds to run, inclusive (default 1..200, with --real\n"
"                    1..3); A alone: one\n"
"  --real            real sockets, threads and processes instead of simulation;\n"
"                    a seed fixes the fault decisions, not the interleaving\n"
"  --trace           print every run's trace (connections, faults, crashes)\n"
"  --artifacts DIR   where a failing run's trace and pcap go\n"
"                    (default ./mqttsim-failures)\n"
"  --shrink          also reduce a failing run to a smallest scenario that still\n"
"                    fails with its seed: only the failed expectation, every\n"
"                    fault, step and client it can do without left out, counts\n"
"                    and sizes halved; written as NAME-seedS.min.scn beside\n"
"                    the trace\n"
"  -q, --quiet       only the summary and failures\n"
"  --jobs N          run scenarios in N processes at once (output stays in order)\n"
"  --table           end with a table: each scenario, its verdict and the\n"
"                    guarantees it proved (make demo)\n"
"  -h, --help        this text\n"
"\n"
"A failing run prints its seed and the command that reproduces it. The last\n"
"line is \"N passed, M failed\", counting scenarios.\n"
"\n"
"Example:\n"
"  mqttsim run --seeds 1..50 scenarios/qos1-drop-puback-sent.scn\n"
"\n"
"Exit status: 0 when every expectation held, 1 when one did not, 2 for bad\n"
"usage or a bad scenario file (file:line:column: message).\n";

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "decode"))
		return mqttsim_decode(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "replay"))
		return mqttsim_replay(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "convert"))
		return mqttsim_convert(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "__client"))
		return scenario_real_client(argc, argv); /* a client process of --real */
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	return mqttsim_run(argc, argv); /* run, check, or an unknown command */
}
