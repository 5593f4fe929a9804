#!/bin/sh
# run_sim.sh - simulated runs per second on one core: the scenario
# bench/sim-qos2-drop-restart.scn (100 QoS 2 messages, a drop and a
# publisher restart) with RUNS seeds (default 2000), REPS times.
#
# usage: run_sim.sh BUILD_DIR [REPS]
# Then the same scenario --real, BENCH_REAL_RUNS seeds (default 3).
# Prints "op=simulate scenario=... runs=N seconds=S runs_per_s=R" lines
# one "op=real ..." line and one "op=explore ..." line (generated scenarios).
# With BENCH_SIM_BASELINE=PROGRAM (an older mqttsim: bench/baseline.sh
# builds one), each simulate and the explore line is followed by the same
# measure of PROGRAM, "op=simulate-baseline ... speedup_x=X" (X: how many
# times faster this build is), and "op=explore-baseline ... speedup_x=X".
set -eu
build=$1
reps=${2:-1}
runs=${BENCH_SIM_RUNS:-2000}
scn=$(dirname "$0")/sim-qos2-drop-restart.scn
baseline=${BENCH_SIM_BASELINE:-}
# simulate PROGRAM OP: one measure, its line on stdout.
simulate() {
    start=$(date +%s.%N)
    out=$(taskset -c 0 "$1" run --quiet --seeds "1..$runs" "$scn" 2>&1) || {
        echo "$out" >&2; exit 1; }
    end=$(date +%s.%N)
    echo "$start $end" | awk -v runs="$runs" -v scn="$(basename "$scn")" -v op="$2" \
        '{ s = $2 - $1; printf "op=%s scenario=%s runs=%d seconds=%.3f runs_per_s=%.0f", op, scn, runs, s, runs / s }'
}
for rep in $(seq "$reps"); do
    line=$(simulate "$build/bin/mqttsim" simulate)
    echo "$line"
    sim_rate=${line##*runs_per_s=}
    if [ -n "$baseline" ]; then
        old=$(simulate "$baseline" simulate-baseline)
        echo "$old" | awk -v new="$sim_rate" '{ split($NF, r, "="); printf "%s speedup_x=%.1f\n", $0, new / r[2] }'
    fi
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
explore() {
    start=$(date +%s.%N)
    taskset -c 0 "$1" explore --seeds "1..$explore_runs" --jobs 1 --no-shrink -q \
        --artifacts "${TMPDIR:-/tmp}/mqttsim-bench-explore.$$" > /dev/null 2>&1 || true
    end=$(date +%s.%N)
    rm -rf "${TMPDIR:-/tmp}/mqttsim-bench-explore.$$"
    echo "$start $end" | awk -v runs="$explore_runs" -v op="$2" \
        '{ s = $2 - $1; printf "op=%s scenario=generated runs=%d seconds=%.3f runs_per_s=%.0f", op, runs, s, runs / s }'
}
line=$(explore "$build/bin/mqttsim" explore)
echo "$line"
if [ -n "$baseline" ]; then
    old=$(explore "$baseline" explore-baseline)
    echo "$old" | awk -v new="${line##*runs_per_s=}" '{ split($NF, r, "="); printf "%s speedup_x=%.1f\n", $0, new / r[2] }'
fi
