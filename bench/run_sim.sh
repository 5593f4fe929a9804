#!/bin/sh
# run_sim.sh - simulated runs per second on one core: the scenario
# bench/sim-qos2-drop-restart.scn (100 QoS 2 messages, a drop and a
# publisher restart) with RUNS seeds (default 2000), REPS times.
#
# usage: run_sim.sh BUILD_DIR [REPS]
# Prints "op=simulate scenario=... runs=N seconds=S runs_per_s=R" lines.
set -eu
build=$1
reps=${2:-1}
runs=${BENCH_SIM_RUNS:-2000}
scn=$(dirname "$0")/sim-qos2-drop-restart.scn
for rep in $(seq "$reps"); do
    start=$(date +%s.%N)
    out=$(taskset -c 0 "$build/bin/mqttsim" run --quiet --seeds "1..$runs" "$scn" 2>&1) || {
        echo "$out" >&2; exit 1; }
    end=$(date +%s.%N)
    echo "$start $end" | awk -v runs="$runs" -v scn="$(basename "$scn")" \
        '{ s = $2 - $1; printf "op=simulate scenario=%s runs=%d seconds=%.3f runs_per_s=%.0f\n", scn, runs, s, runs / s }'
done
