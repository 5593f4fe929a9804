#!/bin/sh
# run_targets.sh - what the fault link in front of a broker under test
# costs: bench/target-qos1-10k.scn (10,000 QoS 1 messages, no faults)
# against a private mosquitto (scripts/mosquitto-target) through the
# fault link, and with the clients connected to it directly (--no-link),
# alternately, REPS times each. The target: link/direct at most 1.3.
#
# usage: run_targets.sh BUILD_DIR [REPS]
# Prints one "op=target-link ..." and one "op=target-direct ..." line per
# rep (seconds of the whole run: broker start, clients, 10,000 messages),
# then "op=target-ratio link_s=... direct_s=... ratio=R" with the medians.
set -eu
build=$1
reps=${2:-3}
here=$(dirname "$0")
scn=$here/target-qos1-10k.scn
cmd="$(cd "$here/.." && pwd)/scripts/mosquitto-target {port} {dir}"
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    echo "run_targets.sh: mosquitto is not installed (make deps)" >&2
    exit 1
fi
one() {
    start=$(date +%s.%N)
    out=$("$build/bin/mqttsim" run --quiet --seeds 1 --broker-cmd "$cmd" "$@" "$scn" 2>&1) || {
        echo "$out" >&2; exit 1; }
    end=$(date +%s.%N)
    echo "$start $end" | awk '{ printf "%.3f", $2 - $1 }'
}
links=""
directs=""
for rep in $(seq "$reps"); do
    l=$(one)
    d=$(one --no-link)
    echo "op=target-link scenario=$(basename "$scn") messages=10000 seconds=$l"
    echo "op=target-direct scenario=$(basename "$scn") messages=10000 seconds=$d"
    links="$links $l"
    directs="$directs $d"
done
median() { echo "$@" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ml=$(median $links)
md=$(median $directs)
echo "$ml $md" | awk '{ printf "op=target-ratio link_s=%s direct_s=%s ratio=%.2f target=1.30\n", $1, $2, $1 / $2 }'
