"""mqttsim decode: captures made here (the fake broker's recording, and
tcpdump on loopback around mosquitto), and the public MQTT 3.1 capture
when ../shared/pcaps-public is there, decoded and compared with tshark
field by field; exit statuses for gaps and bad files."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from brokers import mosquitto
from conftest import ROOT, build_dir, run

PUBLIC = ROOT.parent / "shared" / "pcaps-public"
FIELDS = ["frame.number", "tcp.stream", "tcp.srcport", "tcp.dstport", "mqtt.msgtype",
          "mqtt.dupflag", "mqtt.qos", "mqtt.retain", "mqtt.len", "mqtt.msgid", "mqtt.topic"]


def decode(path, *args, check=True):
    return run([str(build_dir() / "bin/mqttsim"), "decode", *map(str, args), str(path)],
               check=check)


def ours(path):
    """Our TSV, grouped by frame: {frame: [row dicts]}."""
    lines = decode(path, "--format", "tsv").stdout.splitlines()
    head = lines[0].split("\t")
    assert head[:14] == ["frame", "pdu_in_frame", "tcp_stream", "srcport", "dstport", "msgtype",
                         "msgtype_name", "dup", "qos", "retain", "remaining_len", "msgid",
                         "topic", "payload_len"]
    frames = {}
    for line in lines[1:]:
        row = dict(zip(head, line.split("\t")))
        frames.setdefault(int(row["frame"]), []).append(row)
    return frames


def theirs(path, port=None):
    """tshark's fields, by frame; per-PDU values come comma-separated. A
    port other than 1883 needs tshark told (we find it by its CONNECT)."""
    decode_as = ["-d", f"tcp.port=={port},mqtt"] if port else []
    out = run(["tshark", "-r", str(path), "-o", "tcp.reassemble_out_of_order:TRUE", *decode_as,
               "-Y", "mqtt", "-T", "fields", "-E", "separator=/t",
               *sum((["-e", f] for f in FIELDS), [])]).stdout
    frames = {}
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        frames[int(v["frame.number"])] = v
    return frames


def split(value):
    return [x for x in value.split(",") if x != ""] if value else []


def compare(path, port=None):
    mine, tshark = ours(path), theirs(path, port)
    assert sorted(mine) == sorted(tshark), (sorted(mine), sorted(tshark))
    for frame, rows in mine.items():
        t = tshark[frame]
        why = f"frame {frame} of {path}: ours {rows}, tshark {t}"
        assert [r["msgtype"] for r in rows] == split(t["mqtt.msgtype"]), why
        assert [r["remaining_len"] for r in rows] == split(t["mqtt.len"]), why
        assert [r["pdu_in_frame"] for r in rows] == [str(i + 1) for i in range(len(rows))], why
        assert {r["tcp_stream"] for r in rows} == {t["tcp.stream"]}, why
        assert rows[0]["srcport"] == t["tcp.srcport"] and rows[0]["dstport"] == t["tcp.dstport"]
        assert [r["msgid"] for r in rows if r["msgid"]] == split(t["mqtt.msgid"]), why
        pubs = [r for r in rows if r["msgtype"] == "3"]
        # tshark gives dup/qos/retain for PUBLISH (and, on 3.1, the packets that carry them).
        assert [r["qos"] for r in rows if r["qos"]] == split(t["mqtt.qos"]), why
        assert [r["dup"] for r in rows if r["dup"]] == split(t["mqtt.dupflag"]), why
        assert [r["retain"] for r in pubs] == split(t["mqtt.retain"]), why
        topics = [r["topic"] for r in pubs]
        assert all(topic in split(t["mqtt.topic"]) for topic in topics), why
    return mine


def test_the_fake_brokers_recording(fakebroker_factory, tmp_path):
    pcap = tmp_path / "rec.pcap"
    fb = fakebroker_factory("--record", str(pcap))
    sub = subprocess.Popen(["mosquitto_sub", "-h", fb.host, "-p", str(fb.port), "-t", "a/#",
                            "-q", "2", "-C", "4", "-W", "20"], stdout=subprocess.PIPE)
    fb.wait_for(lambda: fb.packets(type="SUBACK"), what="SUBACK")
    for q in (0, 1, 2):
        run(["mosquitto_pub", "-h", fb.host, "-p", str(fb.port), "-t", f"a/{q}", "-m", f"m{q}",
             "-q", str(q)])
    big = tmp_path / "big"
    big.write_bytes(b"x" * 200_000)  # many segments
    run(["mosquitto_pub", "-h", fb.host, "-p", str(fb.port), "-t", "a/big", "-f", str(big),
         "-q", "1", "-r"])
    sub.communicate(timeout=30)
    fb.stop()
    frames = compare(pcap)
    sizes = [int(r["payload_len"]) for rows in frames.values() for r in rows if r["topic"] == "a/big"]
    assert 200_000 in sizes


def test_tcpdump_around_mosquitto(tmp_path):
    if os.geteuid() != 0 or not shutil.which("tcpdump"):
        pytest.skip("tcpdump on loopback needs root")
    with mosquitto(tmp_path) as (port, _log):
        pcap = tmp_path / "lo.pcap"
        # -Z root: as user tcpdump it could not write into the test's private folder;
        # --immediate-mode: else what is in the kernel's buffer at SIGINT is lost.
        dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-Z", "root", "-w", str(pcap), "tcp", "port",
                                 str(port)], stderr=subprocess.PIPE)
        time.sleep(1.0)  # tcpdump is listening once it says so; give it the time
        try:
            run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "w/x", "-m", "kept",
                 "-q", "1", "-r"])
            run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "w/#", "-C", "1",
                 "-W", "10", "-q", "2"])
            run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "w/x", "-n", "-r"])
            time.sleep(0.5)
        finally:
            dump.send_signal(signal.SIGINT)
            dump.wait(10)
        frames = compare(pcap, port)
        types = [r["msgtype"] for rows in frames.values() for r in rows]
        assert types.count("1") == 3 and "8" in types and "4" in types


@pytest.mark.skipif(not PUBLIC.is_dir(), reason="../shared/pcaps-public is not here")
@pytest.mark.parametrize("name", ["peafowl_mqtt-2.pcap", "peafowl_mqtt-1.pcapng"])
def test_public_mqtt31_capture(name):
    path = PUBLIC / name
    compare(path)
    # The expected columns that come with it, exactly.
    want = [line.split("\t")[:14] for line in (PUBLIC / "peafowl_mqtt-2.pdus.tsv").read_text().splitlines()]
    got = [line.split("\t")[:14] for line in decode(path, "--format", "tsv").stdout.splitlines()]
    assert got == want
    text = decode(path).stdout
    assert "(MQTT 3.1)" in text and "SUBSCRIBE qos=1 id=1" in text


def write_pcap(path, segments):
    """A classic pcap of Ethernet/IPv4/TCP segments: (src port, dst port, seq, flags, payload)."""
    import struct
    out = [struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
    for n, (sport, dport, seq, flags, payload) in enumerate(segments):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0,
                         bytes([10, 0, 0, 2 if sport != 1883 else 1]),
                         bytes([10, 0, 0, 1 if sport != 1883 else 2])) + tcp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        out.append(struct.pack("<IIII", n + 1, 0, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


CONNECT = bytes([0x10, 0x0d, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 1]) + b"c"


def test_gap_is_named_and_the_rest_decoded(tmp_path):
    pcap = tmp_path / "gap.pcap"
    write_pcap(pcap, [
        (50000, 1883, 1000, 0x18, CONNECT[:5]),        # frame 1
        (50000, 1883, 1010, 0x18, CONNECT[10:]),       # frame 2: bytes 1005..1009 never seen
        (50001, 1883, 7000, 0x18, CONNECT),            # frame 3: another connection, whole
    ])
    p = decode(pcap, "--format", "tsv", check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "frame 2, stream 0: 5 bytes missing" in p.stderr, p.stderr
    rows = [line.split("\t") for line in p.stdout.splitlines()[1:]]
    assert rows == [["3", "1", "1", "50001", "1883", "1", "CONNECT", "", "", "", "13", "", "", ""]]


def test_any_port_with_a_connect_and_named_ports(tmp_path):
    pcap = tmp_path / "port.pcap"
    write_pcap(pcap, [(40000, 9999, 1, 0x18, CONNECT), (40001, 9998, 1, 0x18, b"GET / HTTP/1.0\r\n")])
    p = decode(pcap, "--format", "json")
    import json
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [(r["tcp_stream"], r["msgtype_name"], r["client_id"]) for r in rows] == [(0, "CONNECT", "c")]
    assert "password" not in p.stdout
    # A stream that is not MQTT is no error; named as MQTT with --port, its bytes are.
    q = decode(pcap, "--port", "9998", check=False)
    assert q.returncode == 1 and "stream 1" in q.stderr


def test_bad_files_and_usage(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_text("not a capture")
    p = decode(bad, check=False)
    assert p.returncode == 2 and "bad.pcap" in p.stderr
    p = decode(tmp_path / "missing.pcap", check=False)
    assert p.returncode == 2 and "missing.pcap" in p.stderr
    p = decode(bad, "--format", "xml", check=False)
    assert p.returncode == 2 and "--format is text, tsv, json or html" in p.stderr
    p = run([str(build_dir() / "bin/mqttsim"), "decode"], check=False)
    assert p.returncode == 2 and "needs a capture file" in p.stderr
    # Cut in the middle of a record: what came before is read and decoded, exit 1.
    good = tmp_path / "good.pcap"
    write_pcap(good, [(50000, 1883, 1, 0x18, CONNECT), (50000, 1883, 16, 0x18, CONNECT)])
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(good.read_bytes()[:-7])
    p = decode(cut, "--format", "tsv", check=False)
    assert p.returncode == 1 and "what came before is read" in p.stderr
    assert len(p.stdout.splitlines()) == 2  # the header and the first CONNECT
