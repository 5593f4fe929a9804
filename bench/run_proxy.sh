#!/bin/sh
# run_proxy.sh - throughput through faultproxy with an empty plan against a
# direct connection, in one run: mqttbench and the libmosquitto peer in
# e2e mode (publisher and subscriber both through the proxy, or both
# direct) to a private mosquitto, QoS 0 and 1, 64-byte messages,
# interleaved REPS times.
#
# usage: run_proxy.sh BUILD_DIR [REPS]
# Prints result lines prefixed "via=direct" or "via=faultproxy"
# (N = 100,000 at QoS 0, 50,000 at QoS 1; BENCH_CLIENT_N overrides both).
set -eu
build=$1
reps=${2:-1}
tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT INT TERM
. "$(dirname "$0")/lib.sh"
start_mosquitto "$tmp"
port=$mosquitto_port
"$build/bin/faultproxy" --upstream "tcp://127.0.0.1:$port" > "$tmp/proxy.out" 2> "$tmp/proxy.err" &
pids="$pids $!"
pport=$(listening_port "$tmp/proxy.out" "$tmp/proxy.err")
echo "# mosquitto on $port; faultproxy (empty plan) on $pport"
for rep in $(seq "$reps"); do
    for qos in 0 1; do
        n=${BENCH_CLIENT_N:-$([ "$qos" = 0 ] && echo 100000 || echo 50000)}
        for prog in "$build/bin/mqttbench" "$build/bench/peer_mosq"; do
            for via in "direct $port" "faultproxy $pport"; do
                set -- $via
                printf 'via=%s ' "$1"
                "$prog" 127.0.0.1 "$2" "$qos" 64 "$n" e2e
            done
        done
    done
done
