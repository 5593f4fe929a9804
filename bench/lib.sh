# lib.sh - helpers of the benchmark scripts (sourced): a free loopback
# port, a private mosquitto, waiting for a program's "listening" line.
# The caller keeps PIDs in $pids and kills them in its EXIT trap.

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_mosquitto DIR: a broker on a free port with the settings every
# benchmark needs (no in-flight limit, a large queue: otherwise mosquitto
# itself drops QoS 0 under load); sets $mosquitto_port.
start_mosquitto() {
    mosquitto_port=$(free_port)
    cat > "$1/mosquitto.conf" <<CONF
listener $mosquitto_port 127.0.0.1
allow_anonymous true
max_inflight_messages 0
max_queued_messages 1000000
persistence false
sys_interval 0
CONF
    mosquitto -c "$1/mosquitto.conf" > "$1/mosquitto.log" 2>&1 &
    pids="$pids $!"
    i=0
    while ! /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $mosquitto_port), 0.2)" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "mosquitto did not start" >&2; cat "$1/mosquitto.log" >&2; exit 1; }
        sleep 0.05
    done
}

# listening_port OUT ERR: waits for "listening tcp 127.0.0.1:PORT" in OUT; prints PORT.
listening_port() {
    i=0
    while ! grep -q '^listening tcp' "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "no listening line in $1" >&2; cat "$2" >&2; exit 1; }
        sleep 0.05
    done
    sed -n 's/^listening tcp 127.0.0.1://p' "$1"
}
