#!/bin/sh
# run_decode.sh - decode throughput on one core: a synthesised capture of
# BENCH_DECODE_MB megabytes (default 100, made by make_capture with the
# library's pcap writer) read by `mqttsim decode --format tsv` and by
# `tshark -T fields` with the same columns, in the same run, REPS times.
#
# usage: run_decode.sh BUILD_DIR [REPS]
# Prints "op=decode tool=T bytes=N seconds=S mb_per_s=R" lines and one
# "op=decode ratio=R" line (mqttsim's rate over tshark's).
set -eu
build=$1
reps=${2:-1}
mb=${BENCH_DECODE_MB:-100}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cap=$dir/bench.pcap
"$build/bench/make_capture" "$cap" "$mb" > "$dir/made"
bytes=$(stat -c %s "$cap")
rate() { # TOOL START END
    echo "$2 $3" | awk -v tool="$1" -v bytes="$bytes" \
        '{ s = $2 - $1; printf "op=decode tool=%s bytes=%d seconds=%.3f mb_per_s=%.1f\n", tool, bytes, s, bytes / s / 1e6 }'
}
for rep in $(seq "$reps"); do
    start=$(date +%s.%N)
    taskset -c 0 "$build/bin/mqttsim" decode --format tsv "$cap" > "$dir/ours.tsv"
    end=$(date +%s.%N)
    ours=$(rate mqttsim "$start" "$end"); echo "$ours"
    start=$(date +%s.%N)
    taskset -c 0 tshark -r "$cap" -o tcp.reassemble_out_of_order:TRUE -Y mqtt -T fields \
        -e frame.number -e tcp.stream -e tcp.srcport -e tcp.dstport -e mqtt.msgtype \
        -e mqtt.dupflag -e mqtt.qos -e mqtt.retain -e mqtt.len -e mqtt.msgid -e mqtt.topic \
        > "$dir/theirs.tsv" 2> "$dir/tshark.err" || { cat "$dir/tshark.err" >&2; exit 1; }
    end=$(date +%s.%N)
    theirs=$(rate tshark "$start" "$end"); echo "$theirs"
    # Both saw the same packets: one row a packet for us, one a frame for tshark.
    ours_n=$(($(wc -l < "$dir/ours.tsv") - 1))
    theirs_n=$(awk -F'\t' '{ n += split($5, types, ",") } END { print n }' "$dir/theirs.tsv")
    [ "$ours_n" -eq "$theirs_n" ] || { echo "decode: $ours_n packets, tshark $theirs_n" >&2; exit 1; }
    echo "${ours##*mb_per_s=} ${theirs##*mb_per_s=}" | awk '{ printf "op=decode ratio=%.1f packets=%d\n", $1 / $2, '"$ours_n"' }'
done
