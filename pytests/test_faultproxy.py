"""faultproxy between real clients and brokers: faults that must not cost a
QoS 1/2 message only slow things down; a drop forces a reconnect that our
client survives without loss; corrupted header bytes are reported as
protocol violations and recovered from; bad plans are refused."""
import subprocess
import time

import pytest

from brokers import mosquitto
from conftest import build_dir, run

N = 200


def pub_lines(port, qos, n=N, host="127.0.0.1", client_id=None):
    args = ["mosquitto_pub", "-h", host, "-p", str(port), "-t", "seq/x", "-q", str(qos), "-l"]
    if client_id:
        args += ["-i", client_id]
    try:
        return subprocess.run(args, input="".join(f"{i}\n" for i in range(n)), text=True,
                              capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        # mosquitto_pub -l can hang at the end of its input after sending
        # everything (its own race: eclipse-mosquitto/mosquitto#1448, #2739).
        # Killed then; the callers judge by what the subscriber received.
        return subprocess.CompletedProcess(args, 0, "", "mosquitto_pub -l hung at its end")


@pytest.mark.parametrize("fault", [
    "both stall ms=300",
    "c2b partial-write size=1",
    "both partial-write size=1",
    "both latency ms=20 jitter=10",
    "c2b bandwidth rate=20000",
    "b2c partial-read size=3",
])
def test_slow_faults_lose_nothing_mosquitto(tmp_path, faultproxy, fault):
    """mosquitto_pub through the proxy to a mosquitto broker, mosquitto_sub
    direct: every QoS 1 message arrives, in order."""
    with mosquitto(tmp_path) as (port, _):
        proxy = faultproxy(port, fault)
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t",
                                "seq/#", "-q", "1", "-C", str(N), "-W", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        start = time.monotonic()
        pub = pub_lines(proxy.port, 1, host=proxy.host)
        assert pub.returncode == 0, pub.stderr
        out, err = sub.communicate(timeout=90)
        assert [int(x) for x in out.split()] == list(range(N)), err
        assert proxy.faults_applied(), proxy.log()
        if "stall" in fault:
            assert time.monotonic() - start >= 0.3


def test_drop_after_second_puback_our_client(fakebroker, faultproxy):
    """Our client through the proxy to the fake broker: the drop after the
    2nd PUBACK forces a reconnect, and no QoS 1 message is lost."""
    proxy = faultproxy(fakebroker.port, "b2c after=PUBACK#2 drop")
    out = run([str(build_dir() / "tests/probe"), "--client", "dropped", "--clean", "0",
               "--seq", "seq/t:1:100", "--timeout", "30000", proxy.host, str(proxy.port)],
              timeout=60).stdout
    assert "sequence 100 lost=0" in out, out
    applied = proxy.faults_applied()
    assert len(applied) == 1 and "packet=PUBACK#2 action=drop" in applied[0], proxy.log()
    got = {p["payload"] for p in fakebroker.packets(type="PUBLISH", dir="c2b")}
    assert got == {str(i) for i in range(100)}
    assert fakebroker.stats()["connections_total"] >= 2
    assert "reconnects=0" not in out


def test_drop_and_resend_qos2_mosquitto_clients(tmp_path, faultproxy):
    """QoS 2 between mosquitto_pub and mosquitto through a proxy that cuts
    the first connection right after the 2nd PUBREC. mosquitto_pub comes
    back with a clean session, so by 3.1.1 what was in flight may be gone
    (mosquitto delivers a QoS 2 message on PUBREL); but nothing arrives
    twice, and what was published after the reconnect arrives."""
    with mosquitto(tmp_path) as (port, _):
        proxy = faultproxy(port, "b2c after=PUBREC#2 drop conn=1")
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t",
                                "seq/#", "-q", "2", "-W", "5", "-v"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        pub_lines(proxy.port, 2, n=10, host=proxy.host)
        out, _ = sub.communicate(timeout=30)
        got = [line.split()[1] for line in out.splitlines()]
        assert len(got) == len(set(got)), got  # never twice
        assert {str(i) for i in range(2, 10)} <= set(got)
        assert len(proxy.faults_applied()) == 1


def test_corrupt_length_byte_is_a_protocol_violation(fakebroker, faultproxy):
    """A corrupted fixed-header byte from the client (the PUBLISH's first)
    makes the broker close that connection as malformed; the next
    connection is served. (A length made larger instead holds the packet
    until more bytes come: the connect timeout or keep-alive ends that.)"""
    proxy = faultproxy(fakebroker.port, "c2b before=PUBLISH#1 corrupt conn=1")
    first = run(["mosquitto_pub", "-h", proxy.host, "-p", str(proxy.port), "-t", "t", "-m", "x",
                 "-q", "1"], check=False)
    assert first.returncode != 0
    fakebroker.wait_for(lambda: fakebroker.stats()["protocol_errors"] == 1, what="violation")
    run(["mosquitto_pub", "-h", proxy.host, "-p", str(proxy.port), "-t", "t", "-m", "ok",
         "-q", "1"])
    assert [p["payload"] for p in fakebroker.packets(type="PUBLISH")] == ["ok"]


def test_corrupt_header_toward_our_client_recovers(fakebroker, faultproxy):
    """A corrupted fixed-header byte from the broker: our client reports a
    protocol violation, reconnects, and still loses nothing."""
    proxy = faultproxy(fakebroker.port, "b2c before=PUBACK#3 corrupt conn=1")
    out = run([str(build_dir() / "tests/probe"), "--client", "victim", "--clean", "0",
               "--seq", "seq/c:1:20", "--timeout", "30000", proxy.host, str(proxy.port)],
              timeout=60).stdout
    assert "sequence 20 lost=0" in out
    assert "reconnects=0" not in out
    got = {p["payload"] for p in fakebroker.packets(type="PUBLISH", dir="c2b")}
    assert got == {str(i) for i in range(20)}


def test_bad_plans_are_refused(tmp_path):
    exe = str(build_dir() / "bin/faultproxy")
    plan = tmp_path / "plan"
    plan.write_text("# ok\nc2b drop\nb2c  after=PUBAK drop\n")
    p = run([exe, "--upstream", "tcp://127.0.0.1:1", "--plan", str(plan)], check=False)
    assert p.returncode == 2
    assert f"{plan}: line 3, column 12: expected a packet type" in p.stderr
    for spec, msg in (("c2b after=CONNACK drop", "CONNACK never travels c2b"),
                      ("c2b stall ms=0", "ms= needs a number above 0"),
                      ("c2b time=-1s drop", "time= needs a duration"),
                      ("sideways drop", "column 1: expected a direction")):
        p = run([exe, "--upstream", "tcp://127.0.0.1:1", "--fault", spec], check=False)
        assert p.returncode == 2 and msg in p.stderr, (spec, p.stderr)
    p = run([exe], check=False)
    assert p.returncode == 2 and "--upstream" in p.stderr
    assert "Fault syntax" in run([exe, "--help"]).stdout


def test_same_seed_same_faults(fakebroker, faultproxy):
    """A probabilistic plan applies the same faults for the same seed."""
    lines = []
    for _ in range(2):
        proxy = faultproxy(fakebroker.port, "c2b p=0.3 packet=PUBLISH stall ms=1", seed=42)
        pub = pub_lines(proxy.port, 0, n=50, host=proxy.host, client_id="seeded")
        assert pub.returncode == 0
        time.sleep(0.2)
        lines.append([line.split(" ", 1)[1] for line in proxy.faults_applied()])  # without time
        proxy.stop()
    assert lines[0] and lines[0] == lines[1]


def test_empty_plan_passes_and_records(tmp_path, fakebroker, faultproxy):
    """No faults: everything passes (the direct path), and --record writes
    what passed as a pcap that tshark decodes as MQTT."""
    import shutil
    pcap = tmp_path / "proxy.pcap"
    proxy = faultproxy(fakebroker.port, extra=("--record", str(pcap)))
    pub = pub_lines(proxy.port, 1, n=50, host=proxy.host)
    assert pub.returncode == 0, pub.stderr
    assert [p["payload"] for p in fakebroker.packets(type="PUBLISH")] == [str(i) for i in range(50)]
    assert proxy.faults_applied() == []
    proxy.stop()
    out = run([shutil.which("tshark"), "-r", str(pcap), "-Y", "mqtt.msgtype == 3", "-T", "fields",
               "-e", "mqtt.msg"]).stdout.split()
    # A segment may carry several PUBLISHes: tshark joins their fields with ','.
    payloads = [bytes.fromhex(m.replace(":", "")).decode() for f in out for m in f.split(",")]
    assert payloads == [str(i) for i in range(50)]
