#!/bin/sh
# run_sim.sh - simulated runs per second on one core: the scenario
# bench/sim-qos2-drop-restart.scn (100 QoS 2 messages, a drop and a
# publisher restart) with RUNS seeds (default 2000), REPS times.
#
# usage: run_sim.sh BUILD_DIR [REPS]
# Then the same scenario --real, BENCH_REAL_RUNS seeds (default 3).
# Prints "op=simulate scenario=... runs=N seconds=S runs_per_s=R" lines
# one "op=real ..." line and one "op=explore ..." line (generated scenarios).
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
    line=$(echo "$start $end" | awk -v runs="$runs" -v scn="$(basename "$scn")" \
        '{ s = $2 - $1; printf "op=simulate scenario=%s runs=%d seconds=%.3f runs_per_s=%.0f\n", scn, runs, s, runs / s }')
    echo "$line"
    sim_rate=${line##*runs_per_s=}
done
# The same scenario --real (threads, sockets, processes, a real restart
# delay), for the ratio the simulator buys.
real_runs=${BENCH_REAL_RUNS:-3}
start=$(date +%s.%N)
out=$("$build/bin/mqttsim" run --real --quiet --seeds "1..$real_runs" "$scn" 2>&1) || {
    echo "$out" >&2; exit 1; }
end=$(date +%s.%N)
echo "$start $end" | awk -v runs="$real_runs" -v scn="$(basename "$scn")" -v sim="$sim_rate" \
    '{ s = $2 - $1; printf "op=real scenario=%s runs=%d seconds=%.3f runs_per_s=%.3f simulation_x=%.0f\n", scn, runs, s, runs / s, sim / (runs / s) }'
# Generated scenarios (mqttsim explore, one worker on one core, no
# shrinking): the rate exploration runs at.
explore_runs=${BENCH_EXPLORE_RUNS:-1000}
start=$(date +%s.%N)
taskset -c 0 "$build/bin/mqttsim" explore --seeds "1..$explore_runs" --jobs 1 --no-shrink -q \
    --artifacts "${TMPDIR:-/tmp}/mqttsim-bench-explore.$$" > /dev/null 2>&1 || true
end=$(date +%s.%N)
rm -rf "${TMPDIR:-/tmp}/mqttsim-bench-explore.$$"
echo "$start $end" | awk -v runs="$explore_runs" \
    '{ s = $2 - $1; printf "op=explore scenario=generated runs=%d seconds=%.3f runs_per_s=%.0f\n", runs, s, runs / s }'
