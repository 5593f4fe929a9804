"""mqttc, the seed's command-line client: publish and subscribe against the
fake broker and mosquitto, -topic, -quote, -prefix/-suffix, TLS with a
generated CA and client certificate, every exit status (the fake broker
refuses with each CONNACK code), signals, and bad arguments."""
import signal
import subprocess
import time

import pytest

from brokers import make_pki, mosquitto
from conftest import ROOT, build_dir, run


def mqttc_path() -> str:
    return str(build_dir() / "bin" / "mqttc")


def mqttc(*args, input=None, timeout=30):
    return subprocess.run([mqttc_path(), *map(str, args)], input=input, capture_output=True,
                          timeout=timeout)


def subscriber(*args):
    return subprocess.Popen([mqttc_path(), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def wait_suback(fb, n=1):
    fb.wait_for(lambda: len(fb.packets(type="SUBACK")) >= n, what="SUBACK")


def stop(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    return proc.returncode, out, err


def test_publish_and_subscribe_fake_broker(fakebroker):
    fb = fakebroker
    addr = f"{fb.host}:{fb.port}"
    sub = subscriber("-client", "sub1", "-subscribe", "news/#", "-subscribe", "other", addr)
    wait_suback(fb)
    p = mqttc("-publish", "news/today", addr, input=b"hello\n")
    assert p.returncode == 0, p.stderr
    p = mqttc("-publish", "other", addr, input=b"bytes \x00\xff")
    assert p.returncode == 0, p.stderr
    fb.wait_for(lambda: len(fb.packets(type="PUBLISH", dir="b2c")) >= 2, what="deliveries")
    time.sleep(0.2)
    status, out, err = stop(sub)
    assert status == 143, err
    # The default suffix is a newline; the payload is printed as it came.
    assert out == b"hello\n\nbytes \x00\xff\n", out
    # SIGTERM disconnects first: the broker saw a DISCONNECT from the subscriber.
    assert fb.packets(type="DISCONNECT", client="sub1")


def test_topic_quote_prefix_suffix(fakebroker):
    fb = fakebroker
    addr = f"{fb.host}:{fb.port}"
    sub = subscriber("-client", "sub2", "-subscribe", "t/#", "-topic", "-quote", "-prefix", "[",
                     "-suffix", "]\n", addr)
    wait_suback(fb)
    assert mqttc("-publish", "t/ä", addr, input='say "hi"\n\t\x01é'.encode()).returncode == 0
    fb.wait_for(lambda: fb.packets(type="PUBLISH", dir="b2c"), what="delivery")
    time.sleep(0.2)
    status, out, err = stop(sub, signal.SIGINT)
    assert status == 130, err
    assert out.decode() == '["t/ä"\t"say \\"hi\\"\\n\\t\\x01é"]\n', out
    # SIGINT closes without DISCONNECT.
    fb.wait_for(lambda: fb.stats()["connections"] == 0, what="the close")
    assert not fb.packets(type="DISCONNECT", client="sub2")


def test_qos_extension_waits_for_the_acknowledgement(fakebroker):
    fb = fakebroker
    addr = f"{fb.host}:{fb.port}"
    for qos in (1, 2):
        p = mqttc("-publish", f"q/{qos}", "-qos", qos, addr, input=b"x")
        assert p.returncode == 0, p.stderr
    acks = [p["type"] for p in fb.packets(dir="b2c")]
    assert "PUBACK" in acks and "PUBCOMP" in acks
    # A broker that withholds the PUBACK: no acknowledgement within -timeout.
    fb.rule("withhold b2c:PUBACK#1")
    p = mqttc("-publish", "q/1", "-qos", 1, "-timeout", "300ms", addr, input=b"x")
    assert p.returncode == 1
    assert b"no acknowledgement within 300 ms" in p.stderr


def test_mosquitto_round_trip(tmp_path):
    with mosquitto(tmp_path) as (port, _log):
        addr = f"127.0.0.1:{port}"
        sub = subscriber("-subscribe", "m/#", "-topic", addr)
        time.sleep(0.5)  # mosquitto has no control socket: give the SUBSCRIBE time
        for i in range(3):
            assert mqttc("-publish", f"m/{i}", addr, input=f"msg {i}".encode()).returncode == 0
        time.sleep(0.5)
        status, out, err = stop(sub)
        assert status == 143, err
        assert out.decode().splitlines() == [f"m/{i}\tmsg {i}" for i in range(3)]
        # A health check: connect, disconnect, exit 0.
        assert mqttc(addr).returncode == 0


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5])
def test_refusal_exit_status(fakebroker, code):
    fakebroker.rule(f"refuse {code}")
    p = mqttc(f"{fakebroker.host}:{fakebroker.port}")
    assert p.returncode == 4 + code, p.stderr
    assert b"refused" in p.stderr.lower() or b"connection" in p.stderr.lower(), p.stderr
    # -quiet: the exit status alone.
    fakebroker.rule(f"refuse {code}")
    q = mqttc("-quiet", f"{fakebroker.host}:{fakebroker.port}")
    assert q.returncode == 4 + code and q.stderr == b""


def test_operational_errors_exit_1(fakebroker, tmp_path):
    # Nobody listens: one attempt, no reconnect.
    from brokers import free_port
    start = time.time()
    p = mqttc(f"127.0.0.1:{free_port()}")
    assert p.returncode == 1 and b"refused" in p.stderr.lower(), p.stderr
    assert time.time() - start < 3
    # A broker that never answers the CONNECT: -timeout.
    fakebroker.rule("withhold b2c:CONNACK#1")
    start = time.time()
    p = mqttc("-timeout", "500ms", f"{fakebroker.host}:{fakebroker.port}")
    assert p.returncode == 1, p.stderr
    assert time.time() - start < 5


def test_subscription_refused_exit_1(fakebroker_factory):
    fb = fakebroker_factory()
    fb.rule("refuse-subscribe secret/#")
    p = mqttc("-subscribe", "secret/#", f"{fb.host}:{fb.port}")
    assert p.returncode == 1
    assert b"subscribe secret/#: refused by the broker" in p.stderr
    # Every refused filter is named, as the seed's SubscribeError lists them.
    fb.rule("refuse-subscribe private")
    p = mqttc("-subscribe", "secret/#", "-subscribe", "open", "-subscribe", "private",
              f"{fb.host}:{fb.port}")
    assert p.returncode == 1
    assert p.stderr.splitlines() == [b"mqttc: subscribe secret/#: refused by the broker",
                                     b"mqttc: subscribe private: refused by the broker"], p.stderr


def test_connection_lost_while_subscribed_exit_1(fakebroker):
    fb = fakebroker
    sub = subscriber("-subscribe", "x", f"{fb.host}:{fb.port}")
    wait_suback(fb)
    client_id = next(p["client"] for p in fb.packets(type="SUBSCRIBE"))
    fb.command("kick", client=client_id)
    out, err = sub.communicate(timeout=10)
    assert sub.returncode == 1, err


def test_credentials_and_password_file(fakebroker_factory, tmp_path):
    users = tmp_path / "users"
    users.write_text("alice:s3cret\n")
    fb = fakebroker_factory("--users", str(users))
    addr = f"{fb.host}:{fb.port}"
    pw = tmp_path / "pw"
    pw.write_text("s3cret")
    assert mqttc("-user", "alice", "-pass", pw, addr).returncode == 0
    pw.write_text("wrong")
    assert mqttc("-user", "alice", "-pass", pw, addr).returncode == 8
    assert mqttc(addr).returncode == 9  # no user name: not authorized
    p = mqttc("-user", "alice", "-pass", tmp_path / "missing", addr)
    assert p.returncode == 2 and b"missing" in p.stderr


def test_tls_with_client_certificate(fakebroker_factory, tmp_path):
    pki = make_pki(tmp_path)
    fb = fakebroker_factory("--listen", "tls://127.0.0.1:0", "--tls-cert", pki["server.crt"],
                            "--tls-key", pki["server.key"], "--tls-ca", pki["ca.crt"])
    port = fb.listeners[0][1].rsplit(":", 1)[1]
    base = ["-tls", "-ca", pki["ca.crt"]]
    ok = mqttc(*base, "-cert", pki["client.crt"], "-key", pki["client.key"], f"localhost:{port}")
    assert ok.returncode == 0, ok.stderr
    # Without a client certificate the broker refuses the connection, and
    # mqttc says so with OpenSSL's reason (TLS 1.3 refuses after the handshake).
    nocert = mqttc(*base, f"localhost:{port}")
    assert nocert.returncode == 1
    assert b"the broker asked for a client certificate and none was given" in nocert.stderr, \
        nocert.stderr
    assert b"certificate required" in nocert.stderr, nocert.stderr
    assert len(nocert.stderr.splitlines()) == 1, nocert.stderr
    # The certificate is for localhost: another name fails verification.
    bad = mqttc(*base, "-cert", pki["client.crt"], "-key", pki["client.key"], "-server",
                "wrong.example", f"127.0.0.1:{port}")
    assert bad.returncode == 1, bad.stderr
    assert b"hostname mismatch" in bad.stderr, bad.stderr
    # An unknown CA (no -ca): the system's store does not know it.
    assert mqttc("-tls", "-cert", pki["client.crt"], "-key", pki["client.key"],
                 f"localhost:{port}").returncode == 1


def test_unix_socket(fakebroker_factory, tmp_path):
    path = tmp_path / "b.sock"
    fb = fakebroker_factory("--listen", f"unix:{path}")
    p = mqttc("-net", "unix", "-publish", "u", path, input=b"over unix")
    assert p.returncode == 0, p.stderr
    assert any(x["type"] == "PUBLISH" for x in fb.packets(dir="c2b"))


@pytest.mark.parametrize("args,message", [
    ([], b"an address argument is needed"),
    (["a:1", "b:2"], b"one address argument, not 2"),
    (["-bogus", "x:1"], b"flag provided but not defined: -bogus"),
    (["-timeout", "4", "x:1"], b"invalid value \"4\" for flag -timeout"),
    (["-timeout", "fast", "x:1"], b"invalid value \"fast\" for flag -timeout"),
    (["-qos", "3", "x:1"], b"invalid value \"3\" for flag -qos"),
    (["-net", "udp", "x:1"], b"unknown network udp"),
    (["-cert", "c.pem", "x:1"], b"-cert and -key go together"),
    (["-publish"], b"flag needs an argument: -publish"),
    (["-tls=maybe", "x:1"], b"invalid boolean value \"maybe\" for -tls"),
    (["[::1:1883"], b"malformed address"),
    # A port is a number from 1 to 65535: anything else is the invocation's fault.
    (["localhost:abc"], b"bad port in address localhost:abc"),
    (["localhost:70000"], b"bad port in address localhost:70000"),
    (["[::1]:0"], b"bad port in address [::1]:0"),
    (["-publish", "a/+", "127.0.0.1:9"], None),
])
def test_bad_arguments_exit_2(args, message):
    p = mqttc(*args, input=b"")
    if message is None:
        # A bad topic is refused only once connected; nobody listens on port 9.
        assert p.returncode == 1
        return
    assert p.returncode == 2, (args, p.stderr)
    assert message in p.stderr, p.stderr


def test_unresolvable_host_is_named():
    # RFC 6761: .invalid never resolves. One line naming the host, not "No
    # route to host"; an operational error (exit 1), not a usage error.
    p = mqttc("-publish", "t", "nosuchhost.invalid:1883", input=b"x")
    assert p.returncode == 1, p.stderr
    lines = p.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mqttc: nosuchhost.invalid: "), lines
    assert "route" not in lines[0], lines


def test_bad_topic_is_illegal_invocation(fakebroker):
    addr = f"{fakebroker.host}:{fakebroker.port}"
    p = mqttc("-publish", "a/+", addr, input=b"x")
    assert p.returncode == 2 and b"-publish" in p.stderr, p.stderr
    p = mqttc("-subscribe", "a/#/b", addr)
    assert p.returncode == 2 and b"-subscribe" in p.stderr, p.stderr


def test_durations():
    for d in ("4s", "250ms", "1m30s", "1.5s", "2h"):
        assert mqttc("-timeout", d, "-h").returncode == 0, d


def test_help_matches_the_manual_page():
    p = mqttc("-h")
    assert p.returncode == 0 and p.stdout.startswith(b"Usage: mqttc [options] address")
    help_words = " ".join(p.stdout.decode().split())
    man = (ROOT / "docs/man/mqttc.1").read_text()
    # Every option's sentence of the manual is in the help text, word for word.
    import re
    for m in re.finditer(r"^\.TP\n\.BI? \\-(\w+)[^\n]*\n((?:[^.\n][^\n]*\n)+)", man, re.M):
        sentence = " ".join(m.group(2).replace("\\-", "-").replace("\\(dq", "\"").replace("\\e", "\\").split())
        assert sentence in help_words, (m.group(1), sentence)
    for code in (0, 1, 2, 5, 6, 7, 8, 9, 130, 143):
        assert f" {code} " in help_words


def test_addresses_and_networks(fakebroker_factory):
    fb = fakebroker_factory("--listen", "tcp://127.0.0.1:0", "--listen", "tcp://[::1]:0")
    v4 = fb.listeners[0][1].rsplit(":", 1)[1]
    v6 = fb.listeners[1][1].rsplit(":", 1)[1]
    assert mqttc(f"127.0.0.1:{v4}").returncode == 0
    assert mqttc(f"[::1]:{v6}").returncode == 0
    assert mqttc("-net", "tcp4", f"localhost:{v4}").returncode == 0
    assert mqttc("-net", "tcp6", f"[::1]:{v6}").returncode == 0
    # tcp6 takes no IPv4 address, tcp4 no IPv6 one: operational errors.
    assert mqttc("-net", "tcp6", f"127.0.0.1:{v4}").returncode == 1
    assert mqttc("-net", "tcp4", f"[::1]:{v6}").returncode == 1
    assert mqttc(f":{v4}").returncode == 0  # this machine
    assert mqttc("-timeout", "1s", "no-such-host.invalid:1883").returncode == 1
