#!/bin/sh
# baseline.sh BUILD_DIR REV - builds mqttsim as it was at commit REV (the
# simulator before a speed-up) into BUILD_DIR/bench/baseline-REV and
# prints the program's path, so that make bench measures the old
# simulator beside the new one, same machine, same run. Prints nothing
# and exits 1 outside a git checkout or when REV is not in its history
# (a release tarball has no old simulator to compare with).
set -eu
build=$1
rev=$2
src=$(cd "$(dirname "$0")/.." && pwd)
command -v git >/dev/null 2>&1 || exit 1
git -C "$src" rev-parse --verify -q "$rev^{commit}" >/dev/null 2>&1 || exit 1
dir=$build/bench/baseline-$rev
if [ ! -x "$dir/build/bin/mqttsim" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    git -C "$src" archive "$rev" | tar -x -C "$dir"
    make -s -C "$dir" build/bin/mqttsim >/dev/null 2>&1 || { rm -rf "$dir"; exit 1; }
fi
echo "$dir/build/bin/mqttsim"
