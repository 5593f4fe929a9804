#!/usr/bin/python3
"""Summarize mqttbench-style result lines as a markdown table.

usage: summarize.py [FILE]   (default: standard input)

Reads lines "lib=L qos=Q size=S n=N seconds=T msgs_per_s=R mode=M cpu_s=C"
(others are ignored) and prints, per library, mode, QoS and size: the
number of repetitions, the median msgs/s, its ratio to libmosquitto's
median for the same mode, QoS and size ("x mosq"), the median client CPU
per message in microseconds and its ratio to libmosquitto's.
"""
import statistics
import sys

FIELDS = ("lib", "qos", "size", "n", "seconds", "msgs_per_s", "mode", "cpu_s")


def parse(lines):
    for line in lines:
        parts = dict(p.split("=", 1) for p in line.split() if "=" in p)
        if not all(k in parts for k in FIELDS):
            continue
        yield parts


def summarize(lines):
    groups = {}
    for r in parse(lines):
        key = (r["mode"], int(r["qos"]), int(r["size"]), r["lib"])
        rate = float(r["msgs_per_s"])
        cpu_us = float(r["cpu_s"]) / int(r["n"]) * 1e6
        groups.setdefault(key, []).append((rate, cpu_us))
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v), len(v))
           for k, v in groups.items()}
    out = ["| lib | mode | qos | size | reps | msgs/s median | x mosq | CPU us/msg | CPU x mosq |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (mode, qos, size, lib) in sorted(med, key=lambda k: (k[1], k[0] != "pub", k[2], k[3])):
        rate, cpu, reps = med[(mode, qos, size, lib)]
        ref = med.get((mode, qos, size, "mosquitto"))
        ratio = f"{rate / ref[0]:.2f}" if ref and ref[0] else "-"
        cpu_ratio = f"{cpu / ref[1]:.2f}" if ref and ref[1] else "-"
        out.append(f"| {lib} | {mode} | {qos} | {size} | {reps} | {rate:.0f} | {ratio} | "
                   f"{cpu:.2f} | {cpu_ratio} |")
    return "\n".join(out)


def summarize_by(lines, field, reference, title):
    """Lines prefixed "FIELD=VALUE": per client library, mode and QoS, the
    median msgs/s of each value and its ratio to the reference value's."""
    groups = {}
    for r in parse(lines):
        if field not in r:
            continue
        key = (r["lib"], int(r["qos"]), r["mode"], r[field])
        groups.setdefault(key, []).append(float(r["msgs_per_s"]))
    if not groups:
        return ""
    med = {k: (statistics.median(v), len(v)) for k, v in groups.items()}
    out = [f"| client | mode | qos | {field} | reps | msgs/s median | {title} |",
           "|---|---|---:|---|---:|---:|---:|"]
    for key in sorted(med, key=lambda k: (k[1], k[0], k[2], k[3] != reference, k[3])):
        lib, qos, mode, value = key
        rate, reps = med[key]
        ref = med.get((lib, qos, mode, reference))
        ratio = f"{rate / ref[0]:.2f}" if ref and ref[0] else "-"
        out.append(f"| {lib} | {mode} | {qos} | {value} | {reps} | {rate:.0f} | {ratio} |")
    return "\n".join(out)


def summarize_brokers(lines):
    return summarize_by(lines, "broker", "mosquitto", "x mosquitto broker")


def summarize_proxy(lines):
    return summarize_by(lines, "via", "direct", "x direct")


if __name__ == "__main__":
    src = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    lines = src.read().splitlines()
    if any(line.startswith("broker=") for line in lines):
        print(summarize_brokers(lines))
    elif any(line.startswith("via=") for line in lines):
        print(summarize_proxy(lines))
    else:
        print(summarize(lines))
