"""python3 -m mqttsim.campaign: exploration in chunks, on this machine's
cores and on a real Dask scheduler with real workers (Debian's
python3-distributed, installed by make deps), checkpointed, resumed,
with a worker killed mid-campaign and a worker of another version."""
import json
import os
import pathlib
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from conftest import ROOT, build_dir, run

MQTTSIM = build_dir() / "bin" / "mqttsim"
SEEDS = "1..400"
# A broker that loses a message: failures in many seeds, whatever the
# unmodified code does. Not shrunk, so that one run and any cut into
# chunks name the same failures (shrinking is bounded per run).
OPTS = ["--rule", "drop PUBLISH#3 count=1", "--no-shrink"]


def env(**extra):
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT / "python")
    e["MQTTSIM_MQTTSIM"] = str(MQTTSIM)
    e.update(extra)
    return e


def campaign(*args, environ=None, timeout=300, check=False):
    return run([sys.executable, "-m", "mqttsim.campaign", *map(str, args)],
               env=environ or env(), timeout=timeout, check=check)


def results(text):
    """A campaign's or an explore's distinct failures, comparable."""
    doc = json.loads(text)
    return doc, sorted((f["signature"], f["hash"], f["seed"], f["count"]) for f in doc["failures"])


@pytest.fixture(scope="module")
def local_explore(tmp_path_factory):
    """The same seeds in one plain mqttsim explore run: the reference."""
    folder = tmp_path_factory.mktemp("explore")
    proc = run([MQTTSIM, "explore", "--seeds", SEEDS, "--jobs", "2", "--artifacts", folder,
                "--json", "-q", *OPTS], check=False)
    assert proc.returncode in (0, 1), proc.stderr
    doc, distinct = results(proc.stdout)
    assert doc["runs"] == 400
    # The comparison below means something only if there is something to
    # compare: the losing broker fails these seeds in many ways.
    assert len(distinct) >= 10, distinct
    return distinct


def chunk_records(path):
    lines = pathlib.Path(path).read_text().splitlines()
    header = json.loads(lines[0])
    return header, [tuple(json.loads(line)["chunk"]) for line in lines[1:]]


def assert_each_chunk_once(path, first, last, size):
    header, chunks = chunk_records(path)
    assert header["first"] == first and header["last"] == last and header["chunk"] == size
    assert len(chunks) == len(set(chunks)), f"a chunk recorded twice: {chunks}"
    expected = {(a, min(last, a + size - 1)) for a in range(first, last + 1, size)}
    assert set(chunks) == expected


def test_local_campaign_equals_one_explore(tmp_path, local_explore):
    ckpt, out = tmp_path / "c.ckpt", tmp_path / "found"
    proc = campaign("--seeds", SEEDS, "--chunk", 100, "--checkpoint", ckpt, "--artifacts", out,
                    "--json", "-q", *OPTS)
    assert proc.returncode == 1, proc.stderr
    doc, distinct = results(proc.stdout)
    assert distinct == local_explore
    assert doc["runs"] == 400 and doc["chunks"] == 4 and not doc["interrupted"]
    assert_each_chunk_once(ckpt, 1, 400, 100)
    # Each failure is written once, and fails under plain mqttsim run.
    files = sorted(out.iterdir())
    assert len(files) == len(distinct)
    for f in doc["failures"]:
        assert pathlib.Path(f["file"]).name == f"explore-{f['hash']}-seed{f['seed']}.scn"
    first = doc["failures"][0]
    rerun = run([MQTTSIM, "run", "-q", "--seeds", str(first["seed"]), "--artifacts", tmp_path / "t",
                 first["file"]], check=False)
    assert rerun.returncode == 1, rerun.stdout
    assert "found by mqttsim.campaign" in pathlib.Path(first["file"]).read_text()


def logging_mqttsim(tmp_path, log, sleep=0.0, version=None):
    """An mqttsim that notes each explore's seeds (and may be slow, or
    claim another version), then runs the real one."""
    script = tmp_path / f"mqttsim-{os.urandom(4).hex()}"
    claim = (f'if [ "$1" = --version ]; then echo "{version}"; exit 0; fi\n' if version else "")
    script.write_text("#!/bin/sh\n" + claim +
                      f'if [ "$1" = explore ]; then echo "$3" >> {log}; sleep {sleep}; fi\n'
                      f'exec {MQTTSIM} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_resume_runs_only_what_is_missing(tmp_path, local_explore):
    ckpt, out, log = tmp_path / "c.ckpt", tmp_path / "found", tmp_path / "log"
    proc = campaign("--seeds", SEEDS, "--chunk", 100, "--checkpoint", ckpt, "--artifacts", out, "-q",
                    *OPTS)
    assert proc.returncode == 1, proc.stderr
    # As a crash would leave it: two chunks recorded, a third cut mid-line.
    # (Chunks are recorded as they finish, in any order: those two are
    # whichever came first.)
    lines = ckpt.read_text().splitlines(keepends=True)
    kept = {"%d..%d" % tuple(json.loads(line)["chunk"]) for line in lines[1:3]}
    ckpt.write_text("".join(lines[:3]) + lines[3][:40])
    wrapper = logging_mqttsim(tmp_path, log)
    proc = campaign("--seeds", SEEDS, "--chunk", 100, "--checkpoint", ckpt, "--artifacts", out,
                    "--json", *OPTS, environ=env(MQTTSIM_MQTTSIM=str(wrapper)))
    assert proc.returncode == 1, proc.stderr
    assert "resuming" in proc.stderr and "2 of 4 chunks done" in proc.stderr
    ran = [line for line in log.read_text().split() if ".." in line]
    missing = sorted({"1..100", "101..200", "201..300", "301..400"} - kept)
    assert len(missing) == 2 and sorted(ran) == missing, (ran, kept)
    doc, distinct = results(proc.stdout)
    assert distinct == local_explore and doc["runs"] == 400
    assert_each_chunk_once(ckpt, 1, 400, 100)
    # Everything done: running it again runs nothing.
    log.write_text("")
    again = campaign("--seeds", SEEDS, "--chunk", 100, "--checkpoint", ckpt, "--artifacts", out,
                     "--json", *OPTS, environ=env(MQTTSIM_MQTTSIM=str(wrapper)))
    assert again.returncode == 1 and results(again.stdout)[1] == local_explore
    assert [line for line in log.read_text().split() if ".." in line] == []


def test_checkpoint_of_another_campaign_is_refused(tmp_path):
    ckpt = tmp_path / "c.ckpt"
    proc = campaign("--seeds", "1..50", "--chunk", 25, "--checkpoint", ckpt, "--artifacts",
                    tmp_path / "a", "-q")
    assert proc.returncode in (0, 1), proc.stderr
    before = ckpt.read_bytes()
    proc = campaign("--seeds", "1..50", "--chunk", 10, "--checkpoint", ckpt, "--artifacts",
                    tmp_path / "b", "-q")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "another campaign" in proc.stderr and "chunk 25" in proc.stderr
    assert ckpt.read_bytes() == before and not (tmp_path / "b").exists()
    ckpt.write_text(before.decode().splitlines()[0] + "\n{not json\n" + "\n")
    proc = campaign("--seeds", "1..50", "--chunk", 25, "--checkpoint", ckpt, "--artifacts",
                    tmp_path / "c", "-q")
    assert proc.returncode == 2 and "corrupt" in proc.stderr, proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--seeds", ""], "expected A..B"),
    (["--seeds", "9..3"], "reversed"),
    (["--seeds", "1..18446744073709551616"], "64-bit"),
    (["--seeds", "1..10", "--chunk", "0"], "--chunk"),
    (["--seeds", "1..10", "--chunk", "-5"], "--chunk"),
    (["--seeds", "1..10", "--jobs", "0"], "--jobs"),
    (["--seeds", "1..10", "--connect-timeout", "-1s"], "--connect-timeout"),
    (["--seeds", "1..10", "--artifacts", "/proc/no/such"], "cannot write"),
    (["--seeds", "1..10", "--rule", "drop NOTHING#x"], "rule"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    proc = campaign(*args, "--checkpoint", tmp_path / "c.ckpt", environ=env())
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "c.ckpt").exists()


def test_help_exits_0():
    proc = campaign("--help")
    assert proc.returncode == 0 and "--scheduler" in proc.stdout and "Exit status" in proc.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler(tmp_path):
    ckpt, out = tmp_path / "c.ckpt", tmp_path / "found"
    proc = campaign("--seeds", "1..100", "--scheduler", f"tcp://127.0.0.1:{free_port()}",
                    "--connect-timeout", "1s", "--checkpoint", ckpt, "--artifacts", out)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot reach the Dask scheduler" in proc.stderr
    assert not ckpt.exists() and not out.exists()


class Cluster:
    """A dask scheduler and workers on loopback, each in its own process
    group, stopped by their own PIDs."""

    def __init__(self, folder):
        self.folder = folder
        self.procs = []
        info = folder / "scheduler.json"
        self.scheduler = self.start(["dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                                     "--dashboard-address", "127.0.0.1:0",
                                     "--scheduler-file", info], "scheduler")
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip().endswith("}"):
            assert time.monotonic() < deadline, (folder / "scheduler.log").read_text()
            assert self.scheduler.poll() is None, (folder / "scheduler.log").read_text()
            time.sleep(0.1)
        self.address = json.loads(info.read_text())["address"]

    def start(self, cmd, name, environ=None):
        log = open(self.folder / f"{name}.log", "w")
        proc = subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT,
                                env=environ or env(), start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def worker(self, name, mqttsim):
        return self.start(["dask", "worker", self.address, "--nthreads", "1", "--host", "127.0.0.1",
                           "--dashboard-address", "127.0.0.1:0", "--local-directory",
                           self.folder / name], name, env(MQTTSIM_MQTTSIM=str(mqttsim)))

    def wait_for_workers(self, n):
        from distributed import Client
        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(n, timeout=60)
            return list(client.scheduler_info()["workers"])

    def wait_for_count(self, n):
        """Until the scheduler has exactly n workers (one killed has left)."""
        from distributed import Client
        with Client(self.address, timeout=30) as client:
            deadline = time.monotonic() + 60
            while len(client.scheduler_info()["workers"]) != n:
                assert time.monotonic() < deadline
                time.sleep(0.1)

    @staticmethod
    def kill(proc):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.kill(proc)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.stop()


def test_dask_worker_killed_mid_campaign(tmp_path, cluster, local_explore):
    logs = [tmp_path / "explore-1.log", tmp_path / "explore-2.log"]
    doomed = cluster.worker("worker-1", logging_mqttsim(tmp_path, logs[0], sleep=1.0))
    cluster.worker("worker-2", logging_mqttsim(tmp_path, logs[1], sleep=1.0))
    workers = cluster.wait_for_workers(2)
    ckpt, out = tmp_path / "c.ckpt", tmp_path / "found"
    proc = subprocess.Popen([sys.executable, "-m", "mqttsim.campaign", "--seeds", SEEDS, "--chunk",
                             "40", "--scheduler", cluster.address, "--checkpoint", str(ckpt),
                             "--artifacts", str(out), "--json", "-q", *OPTS], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def started(log):
        return [line for line in log.read_text().split() if ".." in line] if log.exists() else []

    try:
        # Mid-campaign: chunks recorded from both workers, and worker 1
        # in the middle of one (its explore started, not recorded).
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the campaign never reached its middle"
            if ckpt.exists():
                lines = ckpt.read_text().splitlines()[1:]
                records = [json.loads(line) for line in lines if line.endswith("}")]
                done = {f"{r['chunk'][0]}..{r['chunk'][1]}" for r in records}
                running = started(logs[0])[-1:] if started(logs[0]) else []
                if (len({r["worker"] for r in records}) == 2 and running
                        and running[0] not in done):
                    break
            time.sleep(0.02)
        cut = running[0]
        cluster.kill(doomed)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, stderr
    assert_each_chunk_once(ckpt, 1, 400, 40)
    doc, distinct = results(stdout)
    assert distinct == local_explore and doc["runs"] == 400
    # The chunk cut short ran again on the other worker, and counts once.
    records = [json.loads(line) for line in ckpt.read_text().splitlines()[1:]]
    redone = [r for r in records if f"{r['chunk'][0]}..{r['chunk'][1]}" == cut]
    assert len(redone) == 1 and redone[0]["worker"] != doomed_address(workers, records, cut)
    assert cut in started(logs[1])


def doomed_address(workers, records, cut):
    """The killed worker's address: the one that recorded chunks and is
    not the one that redid the cut chunk."""
    redoer = next(r["worker"] for r in records if f"{r['chunk'][0]}..{r['chunk'][1]}" == cut)
    others = {r["worker"] for r in records} - {redoer}
    assert len(others) == 1 and others <= set(workers)
    return others.pop()


def test_dask_worker_of_another_version_is_refused(tmp_path, cluster, local_explore):
    good = cluster.worker("good", MQTTSIM)
    old = logging_mqttsim(tmp_path, tmp_path / "old-explore.log", version="mqttsim 0.0.1 (generator 1)")
    cluster.worker("old", old)
    workers = cluster.wait_for_workers(2)
    assert good.poll() is None
    ckpt = tmp_path / "c.ckpt"
    proc = campaign("--seeds", SEEDS, "--chunk", 50, "--scheduler", cluster.address,
                    "--checkpoint", ckpt, "--artifacts", tmp_path / "found", "--json", "-q", *OPTS)
    assert proc.returncode == 1, proc.stderr
    refused = [line for line in proc.stderr.splitlines() if "refusing worker" in line]
    assert len(refused) == 1 and "mqttsim 0.0.1 (generator 1)" in refused[0], proc.stderr
    bad = refused[0].split("refusing worker ")[1].split(":")[0:3]
    bad = ":".join(bad)
    assert bad in workers
    ran_on = {json.loads(line)["worker"] for line in ckpt.read_text().splitlines()[1:]}
    assert bad not in ran_on and len(ran_on) == 1
    assert not (tmp_path / "old-explore.log").exists(), "the refused worker ran an explore"
    assert results(proc.stdout)[1] == local_explore
    # With only workers of another version, nothing starts.
    cluster.kill(good)
    cluster.wait_for_count(1)
    lone = campaign("--seeds", "1..10", "--scheduler", cluster.address, "--checkpoint",
                    tmp_path / "c2.ckpt", "--artifacts", tmp_path / "f2")
    assert lone.returncode == 2 and "no worker" in lone.stderr, lone.stderr
    assert lone.stderr.count("\n") == 2  # the refusal, and why nothing ran
    assert not (tmp_path / "c2.ckpt").exists() and not (tmp_path / "f2").exists()
