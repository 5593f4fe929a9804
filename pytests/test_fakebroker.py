"""The standalone fakebroker with real third-party clients (mosquitto_pub,
mosquitto_sub, Debian's paho-mqtt): QoS round trips, retained messages,
wills, persistent sessions, authentication, TLS, and the pcap it records."""
import os
import shutil
import signal
import subprocess
import threading
import time

import paho.mqtt.client as paho
import pytest

from brokers import make_pki
from conftest import run

N = 300  # messages per QoS round trip


def sub_proc(fb, *args, count, qos=0, topic="seq/#", extra=()):
    return subprocess.Popen(
        ["mosquitto_sub", "-h", fb.host, "-p", str(fb.port), "-t", topic, "-q", str(qos),
         "-C", str(count), "-W", "30", *extra, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_subscribed(fb, client_prefix=None, n=1):
    fb.wait_for(lambda: len(fb.packets(type="SUBACK")) >= n, what="SUBACK")


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_clients_round_trip(fakebroker, qos):
    fb = fakebroker
    sub = sub_proc(fb, count=N, qos=qos)
    wait_subscribed(fb)
    lines = "".join(f"{i}\n" for i in range(N))
    try:
        pub = subprocess.run(["mosquitto_pub", "-h", fb.host, "-p", str(fb.port), "-t", "seq/a",
                              "-q", str(qos), "-l"], input=lines, text=True, capture_output=True,
                             timeout=20)
        assert pub.returncode == 0, pub.stderr
    except subprocess.TimeoutExpired:
        # mosquitto_pub -l can hang at the end of its input after sending
        # everything (a race of its own: eclipse-mosquitto/mosquitto#1448,
        # #2739; seen once in CI). Killed then; the broker must still have
        # received every message, which is what this test is about.
        stats = fb.stats()
        assert stats["messages_in"] == N, (
            f"mosquitto_pub hung before sending everything; broker stats {stats}; last packets "
            f"{[(p['conn'], p['dir'], p['type']) for p in fb.packets()][-40:]}; log:\n{fb.log()}")
    out, err = sub.communicate(timeout=60)
    assert sub.returncode == 0, err
    got = [int(x) for x in out.split()]
    # None lost (loopback does not lose QoS 0 either), in order, and for
    # QoS 2 none duplicated.
    assert got == list(range(N))
    stats = fb.stats()
    assert stats["messages_in"] == N and stats["protocol_errors"] == 0


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_round_trip(fakebroker, qos):
    fb = fakebroker
    got, subscribed, done = [], threading.Event(), threading.Event()

    def on_message(client, userdata, msg):
        got.append(int(msg.payload))
        if len(got) == N:
            done.set()
    sub = paho.Client(client_id=f"paho-sub-{qos}", clean_session=True)
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect(fb.host, fb.port)
    sub.subscribe("seq/#", qos)
    sub.loop_start()
    pub = paho.Client(client_id=f"paho-pub-{qos}", clean_session=True)
    pub.connect(fb.host, fb.port)
    pub.loop_start()
    try:
        assert subscribed.wait(10)
        infos = [pub.publish("seq/p", str(i), qos) for i in range(N)]
        for info in infos:
            info.wait_for_publish(10)
        assert done.wait(30), f"got {len(got)} of {N}"
        time.sleep(0.2)  # a duplicate would arrive now
        assert sorted(got) == list(range(N))
        assert len(got) == N
    finally:
        pub.loop_stop()
        sub.loop_stop()
        pub.disconnect()
        sub.disconnect()


def test_retained(fakebroker):
    fb = fakebroker
    base = ["mosquitto_pub", "-h", fb.host, "-p", str(fb.port)]
    run(base + ["-t", "r/1", "-m", "old", "-r", "-q", "1"])
    run(base + ["-t", "r/1", "-m", "new", "-r", "-q", "1"])
    run(base + ["-t", "r/2", "-m", "gone", "-r"])
    run(base + ["-t", "r/2", "-n", "-r"])  # an empty payload clears it
    out = run(["mosquitto_sub", "-h", fb.host, "-p", str(fb.port), "-t", "r/#", "-C", "1",
               "-W", "5", "-F", "%r %t %p"]).stdout
    assert out.split("\n")[0] == "1 r/1 new"
    assert fb.stats()["retained"] == 1


def test_will_after_kill(fakebroker):
    fb = fakebroker
    watcher = sub_proc(fb, count=1, topic="will/#", extra=("-v",))
    wait_subscribed(fb)
    victim = subprocess.Popen(
        ["mosquitto_sub", "-h", fb.host, "-p", str(fb.port), "-t", "x", "-i", "victim",
         "--will-topic", "will/victim", "--will-payload", "gone", "--will-qos", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fb.wait_for(lambda: fb.packets(type="CONNACK", client="victim"), what="victim connected")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    out, _ = watcher.communicate(timeout=10)
    assert out.strip() == "will/victim gone"
    # A DISCONNECT discards it.
    polite = subprocess.Popen(
        ["mosquitto_sub", "-h", fb.host, "-p", str(fb.port), "-t", "x", "-i", "polite",
         "--will-topic", "will/polite", "--will-payload", "no", "-C", "1", "-W", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    polite.wait(10)
    assert not fb.packets(type="PUBLISH", topic="will/polite")


def test_persistent_session(fakebroker):
    fb = fakebroker
    got = []
    c = paho.Client(client_id="durable", clean_session=False)
    c.on_message = lambda cl, u, m: got.append(m.payload.decode())
    c.connect(fb.host, fb.port)
    c.subscribe("p/#", 1)
    c.loop_start()
    fb.wait_for(lambda: fb.packets(type="SUBACK", client="durable"), what="SUBACK")
    c.disconnect()
    c.loop_stop()
    for i in range(5):
        run(["mosquitto_pub", "-h", fb.host, "-p", str(fb.port), "-t", f"p/{i}", "-m", str(i),
             "-q", "1"])
    flags = {}
    c2 = paho.Client(client_id="durable", clean_session=False)
    c2.on_connect = lambda cl, u, f, rc: flags.update(f)
    c2.on_message = lambda cl, u, m: got.append(m.payload.decode())
    c2.connect(fb.host, fb.port)
    c2.loop_start()
    try:
        fb.wait_for(lambda: len(got) >= 5, what="queued messages")
        assert got == ["0", "1", "2", "3", "4"]
        assert flags.get("session present") == 1
    finally:
        c2.disconnect()
        c2.loop_stop()


def connack_code(fb, **kw):
    codes = []
    done = threading.Event()
    c = paho.Client(client_id="auth", clean_session=True)
    if "user" in kw:
        c.username_pw_set(kw["user"], kw.get("password"))
    c.on_connect = lambda cl, u, f, rc: (codes.append(rc), done.set())
    c.connect(fb.host, fb.port)
    c.loop_start()
    try:
        assert done.wait(10)
    finally:
        c.loop_stop()
        c.disconnect()
    return codes[0]


def test_authentication(fakebroker_factory, tmp_path):
    users = tmp_path / "users"
    users.write_text("# plain\nalice:secret\n")
    hashed = tmp_path / "passwd"
    run(["mosquitto_passwd", "-c", "-b", str(hashed), "bob", "hunter2"])
    combined = tmp_path / "combined"
    combined.write_text(users.read_text() + hashed.read_text())
    fb = fakebroker_factory("--users", str(combined))
    assert connack_code(fb) == 5                                     # no user name
    assert connack_code(fb, user="alice", password="wrong") == 4
    assert connack_code(fb, user="eve", password="secret") == 4
    assert connack_code(fb, user="alice", password="secret") == 0
    assert connack_code(fb, user="bob", password="hunter2") == 0     # $7$ from mosquitto_passwd
    assert connack_code(fb, user="bob", password="hunter3") == 4
    # mosquitto_pub reports the refusal and fails.
    p = run(["mosquitto_pub", "-h", fb.host, "-p", str(fb.port), "-t", "t", "-m", "x",
             "-u", "alice", "-P", "nope"], check=False)
    assert p.returncode != 0 and "bad user name or password" in p.stderr.lower()
    assert "secret" not in fb.log() and "hunter2" not in fb.log()


def test_users_file_errors(fakebroker_factory, tmp_path, root):
    from conftest import build_dir
    bad = tmp_path / "bad"
    bad.write_text("alice:secret\nnocolon\n")
    p = run([str(build_dir() / "bin/fakebroker"), "--users", str(bad)], check=False)
    assert p.returncode == 2 and f"{bad}:2: expected user:password" in p.stderr
    bad.write_text("bob:$7$101$!!!$xx\n")
    p = run([str(build_dir() / "bin/fakebroker"), "--users", str(bad)], check=False)
    assert p.returncode == 2 and f"{bad}:1:" in p.stderr


def test_tls(fakebroker_factory, tmp_path):
    pki = make_pki(tmp_path)
    fb = fakebroker_factory("--listen", "tls://127.0.0.1:0", "--listen", "tcp://127.0.0.1:0",
                            "--tls-cert", pki["server.crt"], "--tls-key", pki["server.key"])
    kind, where = fb.listeners[0]
    assert kind == "tls"
    tls_port = where.rsplit(":", 1)[1]
    sub = subprocess.Popen(["mosquitto_sub", "-h", "localhost", "-p", tls_port, "--cafile",
                            pki["ca.crt"], "-t", "s", "-C", "1", "-W", "10"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_subscribed(fb)
    run(["mosquitto_pub", "-h", "localhost", "-p", tls_port, "--cafile", pki["ca.crt"],
         "-t", "s", "-m", "over tls", "-q", "1"])
    out, err = sub.communicate(timeout=10)
    assert out.strip() == "over tls", err
    # Client certificates required with --tls-ca.
    fb2 = fakebroker_factory("--listen", "tls://127.0.0.1:0", "--tls-cert", pki["server.crt"],
                             "--tls-key", pki["server.key"], "--tls-ca", pki["ca.crt"])
    port2 = fb2.listeners[0][1].rsplit(":", 1)[1]
    base = ["mosquitto_pub", "-h", "localhost", "-p", port2, "--cafile", pki["ca.crt"],
            "-t", "s", "-m", "x"]
    assert run(base, check=False).returncode != 0
    run(base + ["--cert", pki["client.crt"], "--key", pki["client.key"]])


def test_listeners_and_usage(fakebroker_factory, tmp_path):
    sock = tmp_path / "b.sock"
    fb = fakebroker_factory("--listen", "tcp://[::1]:0", "--listen", f"unix:{sock}",
                            "--listen", "tcp://127.0.0.1:0")
    assert fb.listeners[0][0] == "tcp" and fb.listeners[0][1].startswith("[::1]:")
    assert fb.listeners[1] == ["unix", str(sock)]
    v6port = fb.listeners[0][1].rsplit(":", 1)[1]
    run(["mosquitto_pub", "-h", "::1", "-p", v6port, "-t", "t", "-m", "v6"])
    from conftest import build_dir
    exe = str(build_dir() / "bin/fakebroker")
    helptext = run([exe, "--help"]).stdout
    for word in ("--listen", "--control", "--record", "--users", "--connect-timeout", "Exit status"):
        assert word in helptext
    for args, msg in ((["--listen", "http://x"], "expected tcp://"),
                      (["--listen", "tcp://127.0.0.1"], "HOST:PORT"),
                      (["--connect-timeout", "5h"], "unknown unit"),
                      (["--rule", "explode"], "unknown action"),
                      (["--control", "tcp:1"], "unix:PATH or stdio"),
                      (["--bogus"], "unrecognized option")):
        p = run([exe, *args], check=False)
        assert p.returncode == 2 and msg in p.stderr, (args, p.stderr)


def test_sigterm_and_control_stdio(tmp_path):
    from conftest import build_dir
    exe = str(build_dir() / "bin/fakebroker")
    p = subprocess.Popen([exe, "--control", "stdio"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith("listening tcp 127.0.0.1:")
    p.stdin.write('{"cmd":"ping","tag":7}\n')
    p.stdin.flush()
    assert p.stdout.readline().strip() == '{"ok":true,"tag":7}'
    p.stdin.close()  # end of control input stops it
    assert p.wait(10) == 0
    p = subprocess.Popen([exe], stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    p.send_signal(signal.SIGINT)
    assert p.wait(10) == 0


def test_pcap_record_decoded_by_tshark(fakebroker_factory, tmp_path):
    pcap = tmp_path / "rec.pcap"
    fb = fakebroker_factory("--record", str(pcap))
    run(["mosquitto_pub", "-h", fb.host, "-p", str(fb.port), "-t", "cap/t", "-m", "captured",
         "-q", "2", "-i", "capclient"])
    fb.wait_for(lambda: fb.stats()["connections"] == 0, what="disconnect")
    fb.stop()
    tshark = shutil.which("tshark")
    out = run([tshark, "-r", str(pcap), "-Y", "mqtt", "-T", "fields", "-e", "mqtt.msgtype",
               "-e", "mqtt.topic", "-e", "mqtt.msg", "-e", "mqtt.clientid"]).stdout
    rows = [line.split("\t") for line in out.strip().splitlines()]
    types = [r[0] for r in rows]
    # CONNECT, CONNACK, PUBLISH, PUBREC, PUBREL, PUBCOMP, DISCONNECT
    assert types == ["1", "2", "3", "5", "6", "7", "14"], out
    assert rows[0][3] == "capclient"
    assert rows[2][1] == "cap/t" and bytes.fromhex(rows[2][2].replace(":", "")) == b"captured"
