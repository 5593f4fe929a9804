#!/bin/sh
# run_brokers.sh - the fake broker against mosquitto: the peer benchmark
# programs (libmosquitto, Paho C) in e2e mode through each broker, in one
# run, interleaved. Brokers: mosquitto, fakebroker with recording off
# (--no-record), fakebroker with recording on (every packet kept in
# memory and written to a pcap file). Each runs on a free loopback port
# and is stopped by its PID on exit.
#
# usage: run_brokers.sh BUILD_DIR [REPS]
# Prints each result line prefixed with "broker=NAME" (N = 100,000 at
# QoS 0, 50,000 at QoS 1 and 2; BENCH_CLIENT_N overrides both).
set -eu
build=$1
reps=${2:-1}
tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT INT TERM

. "$(dirname "$0")/lib.sh"
start_mosquitto "$tmp"
mport=$mosquitto_port

# Started here, not in a $(...) subshell, so that the trap knows their PIDs.
"$build/bin/fakebroker" --no-record > "$tmp/fake.out" 2> "$tmp/fake.err" &
pids="$pids $!"
"$build/bin/fakebroker" --record "$tmp/rec.pcap" --record-max 100000 --queue-max 1000000 \
    > "$tmp/rec.out" 2> "$tmp/rec.err" &
pids="$pids $!"
fport=$(listening_port "$tmp/fake.out" "$tmp/fake.err")
rport=$(listening_port "$tmp/rec.out" "$tmp/rec.err")
echo "# brokers: $(mosquitto -h 2>/dev/null | head -1) on $mport; fakebroker --no-record on $fport; fakebroker recording on $rport"
for rep in $(seq "$reps"); do
    for qos in 0 1 2; do
        n=${BENCH_CLIENT_N:-$([ "$qos" = 0 ] && echo 100000 || echo 50000)}
        for prog in "$build/bench/peer_mosq" "$build/bench/peer_paho"; do
            for b in "mosquitto $mport" "fakebroker $fport" "fakebroker-recording $rport"; do
                set -- $b
                printf 'broker=%s ' "$1"
                "$prog" 127.0.0.1 "$2" "$qos" 64 "$n" e2e
            done
        done
    done
done
