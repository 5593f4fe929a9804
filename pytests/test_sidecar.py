"""The JSON-lines sidecar beside every pcap (FILE.pcap.jsonl): the fault
proxy's fault events, the fake broker's log (rule actions, closes), a
scenario run's trace; each line keyed by the frame after which it came,
a frame the capture has."""
import json
import subprocess
import time

from conftest import ROOT, build_dir, run


def frames_in(pcap):
    out = run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "frame.number"]).stdout.split()
    return len(out)


def notes(pcap):
    side = pcap.with_name(pcap.name + ".jsonl")
    assert side.exists(), f"no sidecar beside {pcap}"
    lines = [json.loads(line) for line in side.read_text().splitlines()]
    total = frames_in(pcap)
    for n in lines:
        assert 0 <= n["frame"] <= total, (n, total)
        assert {"time_us", "source", "event", "text"} <= set(n), n
    assert [n["frame"] for n in lines] == sorted(n["frame"] for n in lines), "in frame order"
    return lines


def test_faultproxy_faults_beside_its_capture(tmp_path, fakebroker, faultproxy):
    pcap = tmp_path / "proxy.pcap"
    proxy = faultproxy(fakebroker.port, "b2c after=PUBACK#2 drop", extra=("--record", str(pcap)))
    run([str(build_dir() / "tests/probe"), "--client", "dropped", "--clean", "0",
         "--seq", "seq/t:1:20", "--timeout", "30000", proxy.host, str(proxy.port)], timeout=60)
    proxy.stop()
    faults = [n for n in notes(pcap) if n["source"] == "faultproxy"]
    assert len(faults) == 1 and "action=drop" in faults[0]["text"], faults
    assert faults[0]["event"] == "fault" and faults[0]["conn"] >= 0
    # decode shows it where it happened: after its frame's packets (the
    # broker's 2nd PUBACK among them; a frame may hold several packets, as
    # the proxy forwards what came at one instant at once), before the next.
    mqttsim = str(build_dir() / "bin/mqttsim")
    lines = run([mqttsim, "decode", str(pcap)]).stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("note after frame"))
    assert sum("PUBACK" in line for line in lines[:at]) >= 2, lines[:at]
    assert faults[0]["frame"] >= 7, faults  # 3 of the handshake, CONNECT, CONNACK, PUBLISH, PUBACK
    assert "[faultproxy]" in lines[at] and "action=drop" in lines[at], lines[at]
    frame = faults[0]["frame"]
    before = [int(line.split()[1]) for line in lines[:at] if line.startswith("frame ")]
    after = [int(line.split()[1]) for line in lines[at + 1:] if line.startswith("frame ")]
    assert before and max(before) <= frame and (not after or min(after) > frame), lines
    assert "note" not in run([mqttsim, "decode", "--no-notes", str(pcap)]).stdout
    # A line that is not an annotation is skipped and said.
    side = pcap.with_name(pcap.name + ".jsonl")
    side.write_text(side.read_text() + "not json\n")
    p = run([mqttsim, "decode", str(pcap)])
    assert "1 lines that are not annotations, skipped" in p.stderr and "[faultproxy]" in p.stdout


def test_fakebroker_rule_actions_beside_its_capture(fakebroker_factory, tmp_path):
    pcap = tmp_path / "rec.pcap"
    fb = fakebroker_factory("--record", str(pcap), "--rule", "refuse 5 client=intruder")
    p = subprocess.run(["mosquitto_pub", "-h", fb.host, "-p", str(fb.port), "-t", "t", "-m", "x",
                        "-i", "intruder"], capture_output=True, timeout=30)
    assert p.returncode != 0
    run(["mosquitto_pub", "-h", fb.host, "-p", str(fb.port), "-t", "t", "-m", "x", "-i", "ok"])
    time.sleep(0.2)
    fb.stop()
    lines = [n for n in notes(pcap) if n["source"] == "fakebroker"]
    assert any("refuse" in n["text"] or "5" in n["text"] for n in lines if n.get("conn") == 1), lines
    assert all("secret" not in n["text"] for n in lines)


def test_failed_scenario_run_has_its_trace_beside_the_pcap(tmp_path):
    scn = tmp_path / "bad.scn"
    scn.write_text("# a script the client does not follow\nclient pub clean=no\n"
                   "publish pub t/a qos=1 count=1\nexpect CONNECT clean=0 client=pub\n"
                   "send CONNACK\nexpect PUBLISH qos=1 dup=1\n")
    mqttsim = str(build_dir() / "bin/mqttsim")
    for mode in ([], ["--real"]):
        out = tmp_path / ("real" if mode else "sim")
        p = run([mqttsim, "run", *mode, "--seeds", "1", "--artifacts", str(out), str(scn)],
                check=False)
        assert p.returncode == 1, p.stdout + p.stderr
        pcap = next(out.glob("*.pcap"))
        lines = notes(pcap)
        assert any(n["source"] == "scenario" and "pub" in n["text"] for n in lines), lines
