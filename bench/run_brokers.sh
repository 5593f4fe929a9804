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

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
    i=0
    while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "$2 did not start" >&2; exit 1; }
        sleep 0.05
    done
}

mport=$(free_port)
cat > "$tmp/mosquitto.conf" <<CONF
listener $mport 127.0.0.1
allow_anonymous true
max_inflight_messages 0
max_queued_messages 1000000
persistence false
sys_interval 0
CONF
mosquitto -c "$tmp/mosquitto.conf" > "$tmp/mosquitto.log" 2>&1 &
pids="$pids $!"
wait_port "$mport" mosquitto

# A fakebroker prints its port first: wait for that line and read it.
listening_port() {
    i=0
    while ! grep -q '^listening tcp' "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "fakebroker did not start" >&2; cat "$2" >&2; exit 1; }
        sleep 0.05
    done
    sed -n 's/^listening tcp 127.0.0.1://p' "$1"
}
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
