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
trap 'kill "$broker" 2>/dev/null; wait "$broker" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
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
broker=$!
i=0
while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "mosquitto did not start" >&2; cat "$tmp/mosquitto.log" >&2; exit 1; }
    sleep 0.05
done
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
