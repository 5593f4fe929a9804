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
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
max_inflight_messages 0
max_queued_messages 1000000
persistence false
sys_interval 0
CONF
mosquitto -c "$tmp/mosquitto.conf" > "$tmp/mosquitto.log" 2>&1 &
pids="$pids $!"
i=0
while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "mosquitto did not start" >&2; exit 1; }
    sleep 0.05
done
"$build/bin/faultproxy" --upstream "tcp://127.0.0.1:$port" > "$tmp/proxy.out" 2> "$tmp/proxy.err" &
pids="$pids $!"
i=0
while ! grep -q '^listening tcp' "$tmp/proxy.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "faultproxy did not start" >&2; cat "$tmp/proxy.err" >&2; exit 1; }
    sleep 0.05
done
pport=$(sed -n 's/^listening tcp 127.0.0.1://p' "$tmp/proxy.out")
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
