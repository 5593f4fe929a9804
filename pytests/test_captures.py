"""Captured sessions end to end: tcpdump on loopback around mosquitto and
our client (mqttc) or mosquitto's, for QoS 0/1/2, a retained message, a
will, a persistent session, a 200 KB payload and an authentication
refusal, plus one capture edited to reorder and duplicate segments. Each
is decoded and compared with tshark field by field, replayed as the
client against the fake broker and mosquitto and as the broker to the
same clients, and converted to a scenario that passes in simulation and
with --real."""
import os
import re
import shutil
import signal
import struct
import subprocess
import time

import pytest

from brokers import free_port, mosquitto, wait_port
from conftest import ROOT, build_dir, run
from test_decode import compare

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump"),
                                reason="tcpdump on loopback needs root")

MQTTC = str(build_dir() / "bin/mqttc")
PASSWORDS = "user:secret\n"


def mqttsim(*args, check=False, timeout=120):
    return run([str(build_dir() / "bin/mqttsim"), *map(str, args)], check=check,
               timeout=timeout)


def sub(port, *args):
    return subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-W", "20",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_subscribed(port, seconds=0.5):
    time.sleep(seconds)  # mosquitto_sub has subscribed once its SUBACK came; a moment is plenty


def pub_mqttc(port, topic, payload, qos, client):
    p = subprocess.run([MQTTC, "-publish", topic, "-qos", str(qos), "-client", client,
                        f"127.0.0.1:{port}"], input=payload, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr


# Each session runs its clients against a broker on port; it must be
# repeatable, as replay --as-broker runs it again against the replay.
def session_qos(port):
    s = sub(port, "-t", "q/#", "-q", "2", "-C", "3", "-i", "qsub")
    wait_subscribed(port)
    for q in (0, 1, 2):
        pub_mqttc(port, f"q/{q}", f"message {q}".encode(), q, f"qpub{q}")
    out, _ = s.communicate(timeout=30)
    assert out.split() == [b"message", b"0", b"message", b"1", b"message", b"2"], out


def session_retained(port):
    run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "r/x", "-m", "kept", "-q",
         "1", "-r", "-i", "rset"])
    s = sub(port, "-t", "r/#", "-C", "1", "-q", "1", "-i", "rget", "-v")
    out, _ = s.communicate(timeout=30)
    assert out == b"r/x kept\n", out
    run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "r/x", "-n", "-r", "-i",
         "rclear"])


def session_will(port):
    s = sub(port, "-t", "w/#", "-C", "1", "-q", "1", "-i", "wsub")
    wait_subscribed(port)
    doomed = sub(port, "-t", "nothing", "-i", "wdoomed", "--will-topic", "w/gone",
                 "--will-payload", "bye", "--will-qos", "1")
    time.sleep(0.5)
    doomed.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker publishes the will
    doomed.wait()
    out, _ = s.communicate(timeout=30)
    assert out == b"bye\n", out


def session_persistent(port):
    run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "p/#", "-q", "1", "-c",
         "-i", "keeper", "-E"])
    pub_mqttc(port, "p/x", b"while away", 1, "ppub")
    s = sub(port, "-t", "p/#", "-q", "1", "-c", "-i", "keeper", "-C", "1")
    out, _ = s.communicate(timeout=30)
    assert out == b"while away\n", out


def session_big(port):
    s = sub(port, "-t", "b/#", "-q", "1", "-C", "1", "-i", "bsub")
    wait_subscribed(port)
    pub_mqttc(port, "b/big", b"x" * 200_000, 1, "bpub")
    out, _ = s.communicate(timeout=30)
    assert len(out) == 200_001, len(out)


def session_auth(port):
    p = run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "a/x", "-m", "no",
             "-u", "user", "-P", "wrong", "-i", "intruder"], check=False)
    assert p.returncode != 0


SESSIONS = {"qos": session_qos, "retained": session_retained, "will": session_will,
            "persistent": session_persistent, "big": session_big, "auth": session_auth}


def mosquitto_auth_conf(tmp):
    pw = tmp / "passwd"
    pw.write_text("")
    run(["mosquitto_passwd", "-b", str(pw), "user", "secret"])
    os.chmod(pw, 0o644)
    return f"password_file {pw}\nallow_anonymous false\n"


def captured_once(folder, name):
    extra = mosquitto_auth_conf(folder) if name == "auth" else ""
    with mosquitto(folder, extra) as (port, _log):
        pcap = folder / f"{name}.pcap"
        # -Z root: as user tcpdump it could not write into the private folder;
        # --immediate-mode: else what is in the kernel's buffer at SIGINT is lost;
        # -B: a 32 MiB buffer, so that a busy machine does not make it drop.
        dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-Z", "root",
                                 "-B", "32768", "-w", str(pcap), "tcp", "port", str(port)],
                                stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        try:
            SESSIONS[name](port)
            time.sleep(0.5)
        finally:
            dump.send_signal(signal.SIGINT)
            _, err = dump.communicate(timeout=10)
    m = re.search(r"(\d+) packets? dropped by kernel", err)
    return pcap, port, int(m.group(1)) if m else 0


def captured(tmp, name):
    """Runs session name around a private mosquitto with tcpdump on lo; a
    capture in which tcpdump dropped packets is taken again."""
    for attempt in range(3):
        folder = tmp / f"{name}{attempt or ''}"
        folder.mkdir()
        pcap, port, dropped = captured_once(folder, name)
        if not dropped:
            break
    assert not dropped, f"tcpdump dropped {dropped} packets in each of 3 captures of {name}"
    return pcap, port


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("captures")
    return {name: captured(tmp, name) for name in SESSIONS}


def start_fakebroker(tmp, *args):
    out = tmp / f"fb{time.monotonic_ns()}.out"
    with open(out, "w") as o:
        proc = subprocess.Popen([str(build_dir() / "bin/fakebroker"), *args], stdout=o,
                                stderr=subprocess.DEVNULL)
    for _ in range(200):
        text = out.read_text()
        if "listening tcp" in text:
            return proc, int(text.split(":")[-1])
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("fakebroker did not start")


@pytest.mark.parametrize("name", list(SESSIONS))
def test_decode_agrees_with_tshark(captures, name):
    pcap, port = captures[name]
    frames = compare(pcap, port)
    types = [r["msgtype"] for rows in frames.values() for r in rows]
    assert "1" in types and "2" in types, types
    if name == "auth":
        codes = mqttsim("decode", "--format", "json", pcap, check=True).stdout
        assert '"return_code":5' in codes or '"return_code":4' in codes, codes
    if name == "big":
        sizes = [r["payload_len"] for rows in frames.values() for r in rows if r["msgtype"] == "3"]
        assert sizes.count("200000") == 2, sizes  # to the broker and to the subscriber


@pytest.mark.parametrize("name", list(SESSIONS))
@pytest.mark.parametrize("against", ["fakebroker", "mosquitto"])
def test_replay_as_client(captures, name, against, tmp_path):
    pcap, port = captures[name]
    if against == "mosquitto":
        extra = mosquitto_auth_conf(tmp_path) if name == "auth" else ""
        with mosquitto(tmp_path, extra) as (live, _log):
            p = mqttsim("replay", "--as-client", "--against", f"tcp://127.0.0.1:{live}",
                        "--fast", "--port", port, pcap)
    else:
        args = []
        if name == "auth":
            users = tmp_path / "users"
            users.write_text(PASSWORDS)
            args = ["--users", str(users)]
        proc, live = start_fakebroker(tmp_path, *args)
        try:
            p = mqttsim("replay", "--as-client", "--against", f"tcp://127.0.0.1:{live}",
                        "--fast", "--port", port, pcap)
        finally:
            proc.terminate()
            proc.wait(5)
    summary = p.stdout.splitlines()[-1]
    # The fake broker refuses a bad password with 4 where mosquitto says 5.
    if name == "auth" and against == "fakebroker" and "return code 5 captured, 4 live" in p.stdout:
        assert p.returncode == 1 and "1 difference" in summary, p.stdout
        return
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 differences" in summary and "connections made" in summary, summary


REPLAYABLE_AS_BROKER = ["qos", "retained", "persistent", "big"]


@pytest.mark.parametrize("name", REPLAYABLE_AS_BROKER)
def test_replay_as_broker(captures, name):
    pcap, port = captures[name]
    rp = subprocess.Popen([str(build_dir() / "bin/mqttsim"), "replay", "--as-broker", "--listen",
                           "tcp://127.0.0.1:0", "--fast", "--wait-first", "10s", "--port",
                           str(port), str(pcap)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    first = rp.stdout.readline()
    assert first.startswith("replay: listening on tcp://127.0.0.1:"), first
    live = int(first.rsplit(":", 1)[1])
    SESSIONS[name](live)  # the same clients, against the captured broker side
    out, err = rp.communicate(timeout=60)
    lines = out.splitlines()
    # mosquitto_sub -C/-E exits with or without a DISCONNECT (its own race):
    # replay rightly reports that client's difference; nothing else may differ.
    races = [line for line in lines[:-1] if " DISCONNECT" in line]
    assert lines[:-1] == races, out + err
    assert rp.returncode == (1 if races else 0), out + err
    assert f"{len(races)} difference" in lines[-1], out


def test_replay_reports_a_broker_that_differs(captures, tmp_path):
    """A broker that withholds a PUBACK and delivers a message twice: each
    difference one line naming the captured frame, exit status 1."""
    pcap, port = captures["qos"]
    proc, live = start_fakebroker(tmp_path, "--rule", "withhold b2c:PUBACK#1", "--rule",
                                  "deliver-twice PUBLISH#2")
    try:
        p = mqttsim("replay", "--as-client", "--against", f"tcp://127.0.0.1:{live}", "--fast",
                    "--timeout", "500ms", "--port", port, pcap)
    finally:
        proc.terminate()
        proc.wait(5)
    assert p.returncode == 1, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert any(line.startswith("frame ") and "missing PUBACK" in line for line in lines), lines
    assert any("extra PUBLISH" in line for line in lines), lines
    assert "2 differences (1 missing, 1 extra, 0 differ)" in lines[-1], lines[-1]


@pytest.mark.parametrize("name", list(SESSIONS))
def test_convert_then_run(captures, name, tmp_path):
    pcap, port = captures[name]
    scn = tmp_path / f"{name}.scn"
    p = mqttsim("convert", "--port", port, pcap)
    assert p.returncode in (0, 1), p.stderr
    scn.write_text(p.stdout)
    assert "script " in p.stdout and "expect CONNECT" in p.stdout, p.stdout
    sim = mqttsim("run", "--seeds", "1..20", "-q", "--artifacts", tmp_path / "sim", scn)
    assert sim.returncode == 0, p.stdout + sim.stdout + sim.stderr
    real = mqttsim("run", "--real", "--seeds", "1", "-q", "--artifacts", tmp_path / "real", scn)
    assert real.returncode == 0, p.stdout + real.stdout + real.stderr


def test_convert_names_clients_apart(tmp_path):
    """Client identifiers that make the same scenario name (a+b and a_b:
    a name keeps letters, digits, - _ and .) get names of their own,
    the second with a suffix; the scenario runs."""
    scn = tmp_path / "two.scn"
    scn.write_text("client c1 id=a+b\nclient c2 id=a_b\nsubscribe c2 t\n"
                   "publish c1 t qos=1 count=2\nexpect reconnects c1 min=5\n")
    # The expectation fails on purpose: a failing run leaves its pcap.
    art = tmp_path / "art"
    p = mqttsim("run", "--seeds", "1", "--artifacts", art, scn)
    assert p.returncode == 1, p.stdout + p.stderr
    conv = mqttsim("convert", art / "two.scn-seed1.pcap")
    assert conv.returncode == 0, conv.stderr
    assert "client a_b id=a+b " in conv.stdout, conv.stdout
    assert "client a_b-2 id=a_b " in conv.stdout, conv.stdout
    out = tmp_path / "converted.scn"
    out.write_text(conv.stdout)
    sim = mqttsim("run", "--seeds", "1..5", "-q", "--artifacts", tmp_path / "sim", out)
    assert sim.returncode == 0, conv.stdout + sim.stdout + sim.stderr


def edit_pcap(src, dst):
    """Swaps two data-bearing records of one direction (the later one first)
    and sends one record twice: a reordering and a duplicate, as tshark's
    out-of-order reassembly handles them."""
    data = src.read_bytes()
    head, at, recs = data[:24], 24, []
    while at + 16 <= len(data):
        incl = struct.unpack_from("<I", data, at + 8)[0]
        recs.append(data[at:at + 16 + incl])
        at += 16 + incl
    def tcp_payload_len(rec):
        frame = rec[16:]
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        tcp = ip[ihl:]
        return total - ihl - (tcp[12] >> 4) * 4, struct.unpack_from("!HH", tcp, 0)
    data_recs = [i for i, r in enumerate(recs) if tcp_payload_len(r)[0] > 0]
    # Two consecutive data records of the same direction: the big message's segments.
    for a, b in zip(data_recs, data_recs[1:]):
        if b == a + 1 and tcp_payload_len(recs[a])[1] == tcp_payload_len(recs[b])[1]:
            break
    else:
        raise AssertionError("no two consecutive segments of one direction")
    recs[a], recs[b] = recs[b], recs[a]
    recs.insert(b + 1, recs[b])
    dst.write_bytes(head + b"".join(recs))


def test_edited_capture_reordered_and_duplicated(captures, tmp_path):
    pcap, port = captures["big"]
    edited = tmp_path / "edited.pcap"
    edit_pcap(pcap, edited)
    mine = compare(edited, port)
    sizes = [r["payload_len"] for rows in mine.values() for r in rows if r["msgtype"] == "3"]
    assert sizes.count("200000") == 2, sizes
    assert mqttsim("decode", "--port", port, edited).returncode == 0
    proc, live = start_fakebroker(tmp_path)
    try:
        p = mqttsim("replay", "--as-client", "--against", f"tcp://127.0.0.1:{live}", "--fast",
                    "--port", port, edited)
    finally:
        proc.terminate()
        proc.wait(5)
    assert p.returncode == 0 and "0 differences" in p.stdout, p.stdout + p.stderr


def test_replay_usage_and_bad_files(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_text("not a capture")
    p = mqttsim("replay", "--as-client", "--against", "tcp://127.0.0.1:1", bad)
    assert p.returncode == 2 and "bad.pcap" in p.stderr
    p = mqttsim("replay", bad)
    assert p.returncode == 2 and "--as-client" in p.stderr
    p = mqttsim("replay", "--as-client", "--against", "tcp://127.0.0.1:1", "--speed", "x", bad)
    assert p.returncode == 2 and "--speed" in p.stderr
    p = mqttsim("convert", bad)
    assert p.returncode == 2 and "bad.pcap" in p.stderr
    assert mqttsim("replay", "--help").returncode == 0
    assert "Exit status" in mqttsim("convert", "--help").stdout


PUBLIC = ROOT.parent / "shared" / "pcaps-public"


@pytest.mark.skipif(not PUBLIC.is_dir(), reason="../shared/pcaps-public is not here")
@pytest.mark.parametrize("name", ["peafowl_mqtt-2.pcap", "peafowl_mqtt-1.pcapng"])
def test_public_mqtt31_capture_replayed_and_converted(name, tmp_path):
    """The public MQTT 3.1 session (its broker held a retained message):
    against a fresh mosquitto the one difference is that message."""
    path = PUBLIC / name
    with mosquitto(tmp_path) as (live, _log):
        p = mqttsim("replay", "--as-client", "--against", f"tcp://127.0.0.1:{live}", "--fast",
                    "--timeout", "1s", path)
    assert p.returncode == 1, p.stdout + p.stderr
    assert p.stdout.splitlines() == [
        'frame 5, stream 0: missing PUBLISH topic "SampleTopic" qos 0 (35 bytes)',
        "replay: 2 of 2 connections made, 10 packets sent, 4 received of 5 expected; "
        "1 difference (1 missing, 0 extra, 0 differ)"], p.stdout
    scn = tmp_path / "public.scn"
    scn.write_text(mqttsim("convert", path, check=True).stdout)
    for mode in ([], ["--real"]):
        r = mqttsim("run", *mode, "--seeds", "1..3", "-q", "--artifacts", tmp_path / "out", scn)
        assert r.returncode == 0, scn.read_text() + r.stdout + r.stderr
