#!/usr/bin/python3
"""compare.py - the scenario library against every shipped target, into
docs/compare.md (make compare).

Targets: each shipped client driver over the embedded fake broker, and a
private mosquitto (scripts/mosquitto-target) with mqttsim's own client.
Each scenario gets a verdict per target: pass, fail (the guarantee the
oracle found broken, in its words) or skipped (why). Every failure of a
third-party target is run again with its seed; only a failure that
happens again is reported as one, with its trace and captures kept under
BUILD/compare/. Nothing here is tuned to a target: the scenarios run as
they are, and what they find is written as found.

usage: compare.py BUILD_DIR [--seeds A..B] [--jobs N] [--max-time DUR] [--only NAME...] [--out FILE]
(--only runs those targets again and keeps the others' results from the
last run, BUILD_DIR/compare/results.json; --render only writes the page
again from them, with scripts/compare-notes.txt as it is now)
Exit status: 0 when the page was written, 1 when a target could not be
run at all (its error is printed), 2 for bad usage.
"""
import argparse
import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINE = re.compile(r"^(PASS|FAIL|SKIP|ERROR) (\S+)(.*)$")


def targets(build: pathlib.Path):
    drivers = build / "drivers"
    mosq = f"{ROOT}/scripts/mosquitto-target {{port}} {{dir}}"
    return [
        ("mqttsim (C)", "mqttsim's threaded client, its driver", ["--client-cmd", str(drivers / "mqttsim_client")], False),
        ("libmosquitto (C)", "libmosquitto, its driver", ["--client-cmd", str(drivers / "mosquitto_client")], True),
        ("Paho C", "Paho C MQTTAsync with file persistence, its driver", ["--client-cmd", str(drivers / "paho_c_client")], True),
        ("paho-mqtt (Python)", "paho-mqtt for Python, its driver", ["--client-cmd", f"/usr/bin/python3 {ROOT}/drivers/paho_python.py"], True),
        ("mosquitto (broker)", "a private mosquitto, with mqttsim's client through the fault link", ["--broker-cmd", mosq], True),
    ]


def run(mqttsim, args, timeout=3600):
    return subprocess.run([str(mqttsim), "run", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, cwd=ROOT)


def parse(out: str):
    """{scenario path: (verdict, detail)}; the FAIL's seed and reason."""
    verdicts = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        verdict, path, rest = m.groups()
        if path.endswith(":"):  # "SKIP FILE: why"
            path, rest = path[:-1], ":" + rest
        rest = rest.strip()
        if verdict == "FAIL":
            seed = re.match(r"seed (\d+)(?: \(real\))?: (.*)", rest)
            verdicts[path] = ("fail", (int(seed.group(1)), seed.group(2)) if seed else (1, rest))
        elif verdict == "SKIP":
            verdicts[path] = ("skipped", rest.lstrip(": "))
        elif verdict == "ERROR":
            verdicts[path] = ("error", rest)
        else:
            verdicts[path] = ("pass", "")
    return verdicts


def version(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=10).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--jobs", default="2")
    ap.add_argument("--max-time", default="90s", help="each run ends by then (mqttsim run --max-time)")
    ap.add_argument("--only", nargs="*", help="target names to run (default: all)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "compare.md"))
    ap.add_argument("--render", action="store_true",
                    help="only write the page again from the last run's results (new notes)")
    opt = ap.parse_args()
    build = pathlib.Path(opt.build).resolve()
    mqttsim = build / "bin" / "mqttsim"
    scenarios = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").glob("*.scn"))
    keep = build / "compare"
    saved = keep / "results.json"
    results, about = {}, {}
    if opt.render:
        old = json.loads(saved.read_text())
        results = {n: normalized({p: (v[0], tuple(v[1]) if isinstance(v[1], list) else v[1])
                                  for p, v in r.items()}) for n, r in old["results"].items()}
        about = {n: tuple(a) for n, a in old["about"].items()}
        opt.seeds, opt.max_time = old.get("seeds", opt.seeds), old.get("max_time", opt.max_time)
        write(opt, scenarios, results, about, build)
        return 0
    if opt.only and saved.exists():
        # The other targets as the last full run found them.
        old = json.loads(saved.read_text())
        results = {n: {p: (v[0], tuple(v[1]) if isinstance(v[1], list) else v[1])
                       for p, v in r.items()} for n, r in old["results"].items()}
        about = {n: tuple(a) for n, a in old["about"].items()}
    else:
        shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True, exist_ok=True)
    for name, what, args, third_party in targets(build):
        if opt.only and name not in opt.only:
            continue
        print(f"compare: {name}: {len(scenarios)} scenarios, seeds {opt.seeds}", file=sys.stderr, flush=True)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        shutil.rmtree(keep / slug, ignore_errors=True)
        proc = run(mqttsim, [*args, "--seeds", opt.seeds, "--jobs", opt.jobs, "--max-time", opt.max_time,
                             "--artifacts", str(keep / slug / "first"), *scenarios])
        if proc.returncode == 2 and not LINE.search(proc.stdout):
            print(f"compare: {name} cannot be run: {proc.stderr.strip()}", file=sys.stderr)
            return 1
        verdicts = parse(proc.stdout)
        first = re.search(r"^driver: (.*)$", proc.stdout, re.M)
        about[name] = (what, first.group(1) if first else version(["mosquitto", "-h"]))
        for path, (verdict, detail) in list(verdicts.items()):
            if verdict != "fail" or not third_party:
                continue
            seed, reason = detail
            # Confirmed only if it fails again with its seed.
            again = run(mqttsim, [*args, "--seeds", str(seed), "--max-time", opt.max_time, "--artifacts",
                                  str(keep / slug), path])
            confirmed = parse(again.stdout).get(path, ("?", None))[0] == "fail"
            base = pathlib.Path(path).name
            files = sorted(str(p.relative_to(build.parent)) for p in (keep / slug).glob(f"{base}-seed{seed}*")
                           if p.suffix in (".trace", ".pcap"))
            verdicts[path] = ("fail" if confirmed else "flaky", (seed, reason, files))
        # A scenario not run (the run stopped at a broken target) is said so.
        for path in scenarios:
            verdicts.setdefault(path, ("not run", proc.stderr.strip().splitlines()[-1:] or ""))
        results[name] = verdicts
        shutil.rmtree(keep / slug / "first", ignore_errors=True)
    order = [t[0] for t in targets(build)]
    results = {n: results[n] for n in order if n in results}
    saved.write_text(json.dumps({"results": results, "about": about, "seeds": opt.seeds,
                                 "max_time": opt.max_time}))
    write(opt, scenarios, results, about, build)
    return 0


def normalized(verdicts):
    """Results saved before "SKIP FILE: why" was parsed right kept the
    colon in the file's name (and a "not run" under the right one)."""
    out = {}
    for path, v in verdicts.items():
        key = path.rstrip(":")
        if key not in out or out[key][0] == "not run":
            out[key] = v
    return out


def explanations():
    """What a target did, where someone looked: scripts/compare-notes.txt,
    'TARGET | SCENARIO | one line' (the oracle's words say what broke; these
    say why, from the trace and captures)."""
    notes = {}
    path = ROOT / "scripts" / "compare-notes.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 3 and not line.startswith("#"):
                notes[(parts[0], parts[1])] = parts[2]
    return notes


def cell(verdict):
    return {"pass": "pass", "fail": "**FAIL**", "skipped": "skipped", "flaky": "flaky",
            "error": "ERROR", "not run": "not run"}.get(verdict[0], verdict[0])


def write(opt, scenarios, results, about, build):
    names = list(results)
    out = []
    out.append("# The scenario library against other clients and brokers\n")
    out.append(f"Made by `make compare` on {datetime.date.today().isoformat()}, seeds "
               f"{opt.seeds}, each run {opt.max_time} at most; regenerate it with `make compare`. Each client library runs through "
               "its driver (docs/drivers.md) against the embedded fake broker; mosquitto runs as a "
               "private broker (scripts/mosquitto-target: its defaults, persistence on) with "
               "mqttsim's client through the fault link. A failure of a third-party target was run "
               "again with its seed and failed again (otherwise: flaky); its trace and captures are "
               f"kept under `{build.name}/compare/`. The scenarios are the library's, unchanged.\n")
    out.append("| target | what | version |\n|---|---|---|")
    for name in names:
        what, ver = about[name]
        out.append(f"| {name} | {what} | {ver} |")
    out.append("")
    counts = {n: {} for n in names}
    for n in names:
        for v, _ in results[n].values():
            counts[n][v] = counts[n].get(v, 0) + 1
    out.append("| target | pass | fail | flaky | skipped |\n|---|---|---|---|---|")
    for n in names:
        c = counts[n]
        out.append(f"| {n} | {c.get('pass', 0)} | {c.get('fail', 0)} | {c.get('flaky', 0)} | "
                   f"{c.get('skipped', 0)} |")
    out.append("\n## Verdicts\n")
    out.append("| scenario | " + " | ".join(names) + " |")
    out.append("|---|" + "---|" * len(names))
    for path in scenarios:
        row = [cell(results[n].get(path, ("not run", ""))) for n in names]
        out.append(f"| {pathlib.Path(path).name} | " + " | ".join(row) + " |")
    out.append("\n## Failures, as the oracle found them\n")
    notes = explanations()
    any_failure = False
    for n in names:
        for path in scenarios:
            verdict, detail = results[n].get(path, ("", None))
            if verdict not in ("fail", "flaky") or not isinstance(detail, tuple) or len(detail) < 3:
                continue
            any_failure = True
            seed, reason, files = detail
            tag = "" if verdict == "fail" else " (did not fail again with its seed: flaky)"
            why = notes.get((n, pathlib.Path(path).name))
            out.append(f"- **{n}**, {pathlib.Path(path).name}, seed {seed}{tag}: {reason}"
                       + (f" ({', '.join(files)})" if files else "")
                       + (f"\n  What it did: {why}" if why else ""))
    if not any_failure:
        out.append("None.")
    out.append("\n## Skipped, and why\n")
    for n in names:
        reasons = {}
        for path in scenarios:
            verdict, detail = results[n].get(path, ("", ""))
            if verdict == "skipped":
                key = re.sub(r"line \d+", "line N", str(detail))
                key = re.sub(r"rule '[^']*'", "rule '...'", key)
                reasons.setdefault(key, []).append(pathlib.Path(path).stem)
        for reason, which in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
            out.append(f"- {n}: {len(which)} — {reason}")
    pathlib.Path(opt.out).write_text("\n".join(out) + "\n")
    print(f"compare: wrote {opt.out}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
