"""mqttsim explore: generated scenarios, failures shrunk and deduplicated into
minimal scenarios that fail under plain mqttsim run, progress, JSON for
campaigns, and one clear line for every bad argument."""
import hashlib
import json
import os
import pathlib
import pty
import re
import select
import subprocess
import time

from conftest import build_dir

MQTTSIM = build_dir() / "bin" / "mqttsim"

# What --print gives for these seeds, with the generator of this tree
# (mqttsim --version says which: bump EXPLORE_GENERATOR in gen.h, and this,
# whenever a seed's scenario changes on purpose). The same bytes on every
# machine and build: make san and the clang build run this test too.
GOLDEN_SEEDS = ["1", "2", "3", "17", "34", "41", "42", "470", "1000", "18446744073709551615"]
GOLDEN_SHA256 = "ec16c2c8bf1d5caa4e1c8533a124a3a6773bedc97860486837ecbc8743a824fc"

# A broker that acknowledges the 2nd PUBLISH of each connection and never
# delivers it: exploration must catch it, whatever the workload.
LOSING_RULE = "drop PUBLISH#2 count=1"


def explore(*args, timeout=300, cwd=None):
    return subprocess.run([str(MQTTSIM), "explore", *map(str, args)], cwd=cwd, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_print_is_the_same_bytes_everywhere():
    digest = hashlib.sha256()
    for seed in GOLDEN_SEEDS:
        proc = explore("--print", seed)
        assert proc.returncode == 0, proc.stderr
        again = explore("--print", seed)
        assert again.stdout == proc.stdout
        digest.update(proc.stdout.encode())
    assert digest.hexdigest() == GOLDEN_SHA256
    version = subprocess.run([str(MQTTSIM), "--version"], stdout=subprocess.PIPE, text=True)
    assert re.fullmatch(r"mqttsim \d+\.\d+\.\d+ \(generator \d+\)\n", version.stdout)


def test_printed_scenario_runs_as_explore_runs_it(tmp_path):
    """--print's text is a scenario mqttsim run takes, and its verdict is
    explore's for that seed."""
    text = explore("--print", 7).stdout
    assert text.startswith("# explore seed 7: ")
    assert "\nexpect " in text
    path = tmp_path / "seed7.scn"
    path.write_text(text)
    run = subprocess.run([str(MQTTSIM), "run", "--seeds", "7", "-q", str(path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    one = explore("--seeds", "7", "--jobs", "1", "--artifacts", tmp_path / "a", "-q")
    assert (run.returncode == 0) == (one.returncode == 0), run.stdout + one.stdout


def test_a_losing_broker_is_found_shrunk_and_deduplicated(tmp_path):
    art = tmp_path / "found"
    proc = explore("--seeds", "1..40", "--jobs", "2", "--rule", LOSING_RULE, "--artifacts", art,
                   "-q")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    m = re.match(r"explore: seeds 1\.\.40: 40 runs in [\d.]+ s \(\d+ runs/s\), (\d+) failed, "
                 r"(\d+) distinct failures?$", summary)
    assert m, summary
    failed, distinct = int(m.group(1)), int(m.group(2))
    fails = re.findall(r"^FAIL ([0-9a-f]{8}): (\d+) seeds?, the smallest (\d+): (.*)$", proc.stdout,
                       re.M)
    assert len(fails) == distinct >= 1
    assert sum(int(count) for _, count, _, _ in fails) == failed
    assert len({h for h, _, _, _ in fails}) == distinct  # each listed once
    assert any("at-least-once" in why for _, _, _, why in fails)
    files = sorted(art.glob("explore-*-seed*.min.scn"))
    assert len(files) == distinct
    # The loss is among them (what else exploration finds is listed too).
    assert any("rule drop PUBLISH#2 count=1" in p.read_text() for p in files)
    for path in files:
        text = path.read_text()
        seed = re.search(r"seed(\d+)\.min\.scn$", path.name).group(1)
        again = subprocess.run([str(MQTTSIM), "run", "--seeds", seed, "--artifacts",
                                tmp_path / "rerun", str(path)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120)
        assert again.returncode == 1, f"{path} passes under mqttsim run:\n{again.stdout}"
        # Shrunk: the expectation it breaks and few directives besides.
        directives = [l for l in text.splitlines() if l.strip() and not l.startswith("#")]
        assert sum(l.startswith("expect") for l in directives) == 1, text
        assert len(directives) < 12, text


def test_unshrunk_failure_is_written_with_its_rule(tmp_path):
    # --no-shrink writes the generated scenario: with the --rule that made
    # it fail (it was written without, and passed under mqttsim run).
    out = tmp_path / "found"
    proc = explore("--seeds", "16..20", "--rule", LOSING_RULE, "--no-shrink", "--artifacts", out,
                   "--json", "-q")
    assert proc.returncode == 1, proc.stderr
    failure = json.loads(proc.stdout)["failures"][0]
    assert failure["file"].endswith(f"-seed{failure['seed']}.scn")
    assert LOSING_RULE in pathlib.Path(failure["file"]).read_text()
    again = subprocess.run([str(MQTTSIM), "run", "-q", "--seeds", str(failure["seed"]),
                            "--artifacts", str(tmp_path / "runs"), failure["file"]],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert again.returncode == 1, again.stdout


def test_first_stops_at_the_smallest_failing_seed(tmp_path):
    every = explore("--seeds", "1..30", "--jobs", "2", "--rule", LOSING_RULE, "--no-shrink",
                    "--artifacts", tmp_path / "all", "-q")
    smallest = min(int(s) for s in re.findall(r"the smallest (\d+):", every.stdout))
    first = explore("--seeds", "1..30", "--jobs", "2", "--rule", LOSING_RULE, "--first",
                    "--no-shrink", "--artifacts", tmp_path / "first", "-q")
    assert first.returncode == 1
    assert re.search(rf"^FAIL [0-9a-f]{{8}}: 1 seed, the smallest {smallest}:", first.stdout, re.M)
    assert f"seeds 1..30: {smallest} runs" in first.stdout


def test_json_for_campaigns(tmp_path):
    proc = explore("--seeds", "5..24", "--jobs", "2", "--rule", LOSING_RULE, "--json",
                   "--artifacts", tmp_path / "j", "-q")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["mqttsim"].startswith("mqttsim ")
    assert (doc["first"], doc["last"], doc["runs"]) == (5, 24, 20)
    assert doc["failed_seeds"] == sum(f["count"] for f in doc["failures"])
    for f in doc["failures"]:
        assert re.fullmatch(r"[0-9a-f]{8}", f["hash"])
        assert 5 <= f["seed"] <= 24 and f["why"] and f["signature"]
        assert pathlib.Path(f["file"]).is_file()


def test_budget_ends_on_time_and_shows_progress(tmp_path):
    """On a terminal: runs, runs/s, distinct failures and the time left;
    the run ends when the budget is spent."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(str(MQTTSIM), [str(MQTTSIM), "explore", "--budget", "3s", "--jobs", "2",
                                "--artifacts", str(tmp_path / "b")])
    out, start = b"", time.monotonic()
    while time.monotonic() - start < 60:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    took = time.monotonic() - start
    text = out.decode(errors="replace")
    assert took < 3 + 20, text  # a shrink begun in time may finish late
    assert re.search(r"explore: \d+ runs, \d+ runs/s, \d+ distinct failures?, \d+s left", text), text
    assert re.search(r"explore: seeds 1\.\.\d+: \d+ runs in [\d.]+ s", text), text
    assert os.WEXITSTATUS(status) in (0, 1)


def test_bad_arguments_one_line_and_exit_2(tmp_path):
    locked = tmp_path / "a-file"  # no folder can be made below a file, even by root
    locked.write_text("")
    cases = [
        (["--seeds", ""], "empty range"),
        (["--seeds", "9..3"], "reversed"),
        (["--seeds", "1..18446744073709551616"], "last seed is not a number"),
        (["--seeds", "-5"], "first seed is not a number"),
        (["--budget", "-3s"], "--budget takes a duration"),
        (["--budget", "10y"], "--budget takes a duration"),
        (["--budget", "99999h"], "at most 30 days"),
        (["--budget", "0s"], "above 0"),
        (["--jobs", "0"], "--jobs takes 1 to 256"),
        (["--seeds", "5.."], "needs --budget"),
        (["--rule", "explode PUBACK"], "unknown action"),
        (["--print", "x"], "--print takes a seed"),
        (["--artifacts", locked / "deeper"], "cannot write there"),
        (["--frobnicate"], "unknown option"),
        (["some.scn"], "takes no file"),
    ]
    for args, said in cases:
        proc = explore(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert said in proc.stderr, (args, proc.stderr)
        assert proc.stdout == "", (args, proc.stdout)
        first = proc.stderr.splitlines()[0]
        assert first.startswith("mqttsim explore: "), proc.stderr
    # Nothing half-written: no artifacts folder for a usage error.
    assert not (tmp_path / "mqttsim-explore").exists()
    assert locked.read_text() == ""
