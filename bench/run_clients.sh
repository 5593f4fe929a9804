#!/bin/sh
# run_clients.sh - client benchmarks, ours and the peers', side by side
# against one private mosquitto broker started here on a free loopback
# port (stopped by its PID on exit).
#
# usage: run_clients.sh BUILD_DIR [REPS]
# Runs every program with QOS 0/1/2, SIZE 64, pub and e2e (N = 100,000
# at QoS 0, 50,000 at QoS 1 and 2; BENCH_CLIENT_N overrides both),
# interleaved, REPS times (default 1). Each prints its result line.
set -eu
build=$1
reps=${2:-1}
tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT INT TERM
. "$(dirname "$0")/lib.sh"
start_mosquitto "$tmp"
port=$mosquitto_port
echo "# broker: $(mosquitto -h 2>/dev/null | head -1), port $port"
for rep in $(seq "$reps"); do
    for qos in 0 1 2; do
        n=${BENCH_CLIENT_N:-$([ "$qos" = 0 ] && echo 100000 || echo 50000)}
        for mode in pub e2e; do
            for prog in "$build/bin/mqttbench" "$build/bench/peer_mosq" "$build/bench/peer_paho"; do
                "$prog" 127.0.0.1 "$port" "$qos" 64 "$n" "$mode"
            done
        done
    done
done
