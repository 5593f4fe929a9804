#!/bin/sh
# mutants.sh - the harness really checks: each named defect in
# scenarios/mutants/*.sed is applied to a copy of the sources, mqttsim is
# built with it, and
#   - the hand-written scenario library runs over SEEDS: does it catch it?
#   - mqttsim explore runs from seed 1 on, up to EXPLORE_SEEDS: after how
#     many generated scenarios is it caught? A seed counts only when it
#     fails with the defect and passes without it (the unmodified build,
#     BUILD/bin/mqttsim), so that what exploration finds in unmodified
#     code is not taken for a catch.
# Prints a line per mutant as it goes, then the table. Exits 1 when a
# mutant survives both.
#
# usage: mutants.sh [SEEDS] [EXPLORE_SEEDS]   (default 1..20 and 1..100000;
#        EXPLORE_SEEDS "none" skips exploration; MUTANTS="a b" runs only those;
#        BUILD the unmodified build, default build)
set -eu
# Byte-wise: a failure's text may quote a damaged payload, not UTF-8.
export LC_ALL=C
seeds=${1:-1..20}
explore_seeds=${2:-1..100000}
root=$(cd "$(dirname "$0")/.." && pwd)
case ${BUILD:-build} in
/*) unmodified=$BUILD/bin/mqttsim ;;
*) unmodified=$root/${BUILD:-build}/bin/mqttsim ;;
esac
work=$root/build/mutants
jobs=$(nproc)
mkdir -p "$work"
table=$work/table.txt
: > "$table"
survivors=0

# The first seed of A..B that fails program and passes the unmodified
# build; "-" when none does.
explore_catch() {
    program=$1 a=${2%%..*} b=${2##*..} out=$3
    while [ "$a" -le "$b" ]; do
        s=$("$program" explore --seeds "$a..$b" --first --no-shrink -q --jobs "$jobs" \
                --artifacts "$out" 2>/dev/null |
            sed -n 's/^FAIL [0-9a-f]*: [0-9]* seeds*, the smallest \([0-9]*\):.*/\1/p' | head -1)
        if [ -z "$s" ]; then
            echo "-"
            return
        fi
        if "$unmodified" explore --seeds "$s" --no-shrink -q --jobs 1 --artifacts "$out.unmodified" \
            > /dev/null 2>&1; then
            echo "$s"
            return
        fi
        a=$((s + 1))
    done
    echo "-"
}

if [ "$explore_seeds" != none ] && [ ! -x "$unmodified" ]; then
    echo "mutants: $unmodified is not built (make)" >&2
    exit 2
fi
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
    # Each of its lines must change the file alone: a line that no longer
    # applies (the code moved on) would weaken the defect unseen.
    # A command is a line, with the lines of its text when it ends in a
    # backslash (a\, i\, c\).
    n=0
    : > "$tree/.one.sed"
    while IFS= read -r line; do
        n=$((n + 1))
        case $line in '#'*|'') continue ;; esac
        printf '%s\n' "$line" >> "$tree/.one.sed"
        case $line in *'\') continue ;; esac
        cp "$root/$file" "$tree/.one.c"
        sed -i -f "$tree/.one.sed" "$tree/.one.c"
        if cmp -s "$root/$file" "$tree/.one.c"; then
            echo "mutant $name: the command ending at line $n does not apply to $file" >&2
            exit 2
        fi
        : > "$tree/.one.sed"
    done < "$m"
    rm -f "$tree/.one.sed" "$tree/.one.c"
    sed -i -f "$m" "$tree/$file"
    if ! make -s -C "$tree" BUILD=build build/bin/mqttsim > "$tree/build.log" 2>&1; then
        echo "mutant $name: does not build (see $tree/build.log)" >&2
        exit 2
    fi
    # A defect that hangs the core is caught too: the library must end.
    out=$(timeout "${MUTANT_TIMEOUT:-900}" "$tree/build/bin/mqttsim" run --quiet --jobs "$jobs" \
        --artifacts "$tree/failures" --seeds "$seeds" "$root"/scenarios/*.scn 2>&1) && rc=0 || rc=$?
    [ "$rc" -eq 124 ] && out="FAIL the library hung (killed after ${MUTANT_TIMEOUT:-900} s)" && rc=1
    caught=$(printf '%s\n' "$out" | grep -c '^FAIL' || true)
    first=$(printf '%s\n' "$out" | grep -m1 '^FAIL' | sed 's/^FAIL //' | cut -c1-150)
    library=no
    [ "$rc" -eq 1 ] && [ "$caught" -gt 0 ] && library="yes ($caught)"
    explored=skipped
    [ "$explore_seeds" != none ] &&
        explored=$(explore_catch "$tree/build/bin/mqttsim" "$explore_seeds" "$tree/explore")
    case $file in
    fakebroker/*) part="fake broker" ;;
    client/store*|client/session_store*) part="persistence" ;;
    client/*|include/mqttsim/session.h) part="client" ;;
    *) part=${file%%/*} ;;
    esac
    if [ "$library" != no ]; then
        echo "caught   $name ($what): $caught scenarios fail, e.g. $first; explore: $explored"
    elif [ "$explored" != "-" ] && [ "$explored" != skipped ]; then
        echo "caught   $name ($what): by explore seed $explored only"
    else
        echo "SURVIVED $name ($what): library exit $rc, explore $explored"
        survivors=$((survivors + 1))
    fi
    printf '| %s | %s | %s | %s |\n' "$name" "$part" "$library" \
        "$( [ "$explored" = "-" ] && echo "not in $explore_seeds" || echo "$explored")" >> "$table"
done
echo
echo "| mutant | part | library catches (scenarios failing, seeds $seeds) | explore: first catching seed |"
echo "|---|---|---|---|"
cat "$table"
[ "$survivors" -eq 0 ]
