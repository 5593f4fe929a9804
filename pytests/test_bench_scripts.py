"""The benchmark scripts of `make bench` run every combination and leave no
process behind (they once leaked the fake brokers they started)."""
import os
import pathlib
import uuid

import pytest

from conftest import ROOT, build_dir, clean_env, run


def processes_with(mark: str) -> list:
    found = []
    for env in pathlib.Path("/proc").glob("[0-9]*/environ"):
        try:
            if mark.encode() in env.read_bytes():
                found.append(env.parent.name)
        except OSError:
            pass  # gone, or not ours to read
    return found


@pytest.mark.unsanitized
@pytest.mark.parametrize("script,field,values", [
    ("bench/run_brokers.sh", "broker", {"mosquitto", "fakebroker", "fakebroker-recording"}),
    ("bench/run_proxy.sh", "via", {"direct", "faultproxy"}),
])
def test_bench_script(script, field, values):
    mark = f"MQTTSIM_BENCH_TEST={uuid.uuid4()}"
    key, value = mark.split("=")
    env = clean_env(BENCH_CLIENT_N="300", **{key: value})
    out = run(["sh", str(ROOT / script), str(build_dir()), "1"], env=env, timeout=300).stdout
    seen = {line.split()[0].split("=")[1] for line in out.splitlines()
            if line.startswith(field + "=")}
    assert seen == values, out
    assert all("msgs_per_s=" in line for line in out.splitlines() if not line.startswith("#"))
    assert processes_with(mark) == [], f"{script} left processes behind"


def test_sim_bench_script():
    env = clean_env(BENCH_SIM_RUNS="20", BENCH_REAL_RUNS="1", BENCH_EXPLORE_RUNS="30")
    out = run(["sh", str(ROOT / "bench/run_sim.sh"), str(build_dir()), "2"], env=env,
              timeout=120).stdout.splitlines()
    assert len(out) == 4
    explore = dict(f.split("=") for f in out[3].split())
    assert explore["op"] == "explore" and explore["runs"] == "30"
    assert float(explore["runs_per_s"]) > 0
    for line in out[:2]:
        fields = dict(f.split("=") for f in line.split())
        assert fields["op"] == "simulate" and fields["runs"] == "20"
        assert float(fields["runs_per_s"]) > 0
    real = dict(f.split("=") for f in out[2].split())
    assert real["op"] == "real" and real["runs"] == "1"
    # The scenario restarts its publisher after 1 s: a real run takes longer.
    assert float(real["seconds"]) >= 1.0
    assert float(real["simulation_x"]) > 1


def test_sim_bench_script_beside_a_baseline():
    # make bench passes the old simulator (bench/baseline.sh); here this
    # build stands in for it: each measure gets its baseline line after it.
    env = clean_env(BENCH_SIM_RUNS="20", BENCH_REAL_RUNS="1", BENCH_EXPLORE_RUNS="30",
                    BENCH_SIM_BASELINE=str(build_dir() / "bin" / "mqttsim"))
    out = run(["sh", str(ROOT / "bench/run_sim.sh"), str(build_dir()), "1"], env=env,
              timeout=120).stdout.splitlines()
    ops = [dict(f.split("=") for f in line.split()) for line in out]
    assert [o["op"] for o in ops] == ["simulate", "simulate-baseline", "real", "explore",
                                      "explore-baseline"]
    for new, old in ((ops[0], ops[1]), (ops[3], ops[4])):
        assert old["runs"] == new["runs"] and float(old["runs_per_s"]) > 0
        ratio = float(new["runs_per_s"]) / float(old["runs_per_s"])
        assert abs(float(old["speedup_x"]) - ratio) <= 0.051 * ratio + 0.05


def test_baseline_script_refuses_what_is_not_history(tmp_path):
    proc = run(["sh", str(ROOT / "bench/baseline.sh"), str(tmp_path), "0" * 40], check=False)
    assert proc.returncode == 1 and proc.stdout == "" and not list(tmp_path.iterdir())


@pytest.mark.unsanitized
def test_decode_bench_script():
    """The capture it makes decodes to the same packets tshark finds (the
    script checks the counts and fails otherwise)."""
    env = clean_env(BENCH_DECODE_MB="2")
    out = run(["sh", str(ROOT / "bench/run_decode.sh"), str(build_dir()), "1"], env=env,
              timeout=120).stdout.splitlines()
    assert [line.split()[1] for line in out] == ["tool=mqttsim", "tool=tshark", "ratio=" +
                                                 out[2].split("ratio=")[1].split()[0]]
    ours = dict(f.split("=") for f in out[0].split())
    assert int(ours["bytes"]) >= 2_000_000 and float(ours["mb_per_s"]) > 0
    ratio = dict(f.split("=") for f in out[2].split())
    assert int(ratio["packets"]) > 1000


@pytest.mark.unsanitized
def test_targets_bench_script():
    """bench/run_targets.sh: the fault link against a direct connection to a
    private mosquitto, 10,000 QoS 1 messages each (each run passed its
    scenario, or the script fails), the ratio of their medians, and no
    mosquitto left behind."""
    mark = f"MQTTSIM_BENCH_TEST={uuid.uuid4()}"
    key, value = mark.split("=")
    out = run(["sh", str(ROOT / "bench/run_targets.sh"), str(build_dir()), "1"],
              env=clean_env(**{key: value}), timeout=300).stdout
    lines = out.splitlines()
    assert any(line.startswith("op=target-link ") and "messages=10000" in line for line in lines)
    assert any(line.startswith("op=target-direct ") for line in lines)
    ratio = [line for line in lines if line.startswith("op=target-ratio ")]
    assert len(ratio) == 1 and float(ratio[0].split("ratio=")[1].split()[0]) > 0
    assert processes_with(mark) == [], "run_targets.sh left processes behind"
