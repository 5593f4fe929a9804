#!/bin/sh
# mutants.sh - the client is really checked: each named defect in
# scenarios/mutants/*.sed is applied to a copy of the sources, the scenario
# runner is built with it, and the scenario library must fail. Prints one
# line per mutant and exits 1 when a mutant survives (no scenario caught it).
#
# usage: mutants.sh [SEEDS]   (default 1..20; MUTANTS="a b" runs only those)
set -eu
seeds=${1:-1..20}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/build/mutants
mkdir -p "$work"
survivors=0
for m in "$root"/scenarios/mutants/*.sed; do
    name=$(basename "$m" .sed)
    case " ${MUTANTS:-$name} " in *" $name "*) ;; *) continue ;; esac
    file=$(sed -n 's/^# file: //p' "$m")
    what=$(sed -n 's/^# defect: //p' "$m")
    tree=$work/$name
    rm -rf "$tree"
    mkdir -p "$tree"
    # The whole source tree but build output, so that a new part comes along.
    (cd "$root" && tar cf - --exclude=./build --exclude=./.git .) |
        (cd "$tree" && tar xf -)
    sed -i -f "$m" "$tree/$file"
    if cmp -s "$root/$file" "$tree/$file"; then
        echo "mutant $name: did not apply to $file" >&2
        exit 2
    fi
    if ! make -s -C "$tree" BUILD=build build/bin/mqttsim > "$tree/build.log" 2>&1; then
        echo "mutant $name: does not build (see $tree/build.log)" >&2
        exit 2
    fi
    out=$("$tree/build/bin/mqttsim" run --quiet --jobs "$(nproc)" --artifacts "$tree/failures" \
        --seeds "$seeds" "$root"/scenarios/*.scn 2>&1) && rc=0 || rc=$?
    caught=$(printf '%s\n' "$out" | grep -c '^FAIL' || true)
    first=$(printf '%s\n' "$out" | grep -m1 '^FAIL' | sed 's/^FAIL //' | cut -c1-150)
    if [ "$rc" -eq 1 ] && [ "$caught" -gt 0 ]; then
        echo "caught   $name ($what): $caught scenarios fail, e.g. $first"
    else
        echo "SURVIVED $name ($what): exit $rc"
        survivors=$((survivors + 1))
    fi
done
[ "$survivors" -eq 0 ]
