"""The client against mosquitto, feature by feature: retained messages, the
will after a cut connection, a persistent session receiving what was queued
while it was away, a refused CONNACK for a bad password, and TLS (a CA and
certificates made at test time, a client certificate required by the
broker, a wrong host name rejected)."""
import subprocess

import pytest

from brokers import make_pki, mosquitto
from conftest import build_dir, run

CLASS_REFUSED = 8      # enum mqtt_class: MQTT_REFUSED
CLASS_IO = 12          # MQTT_IO


def probe(port, *args, check=True, timeout=30, host="127.0.0.1"):
    return run([str(build_dir() / "tests/probe"), *args, host, str(port)], check=check,
               timeout=timeout)


def messages(out: str):
    return [line for line in out.splitlines() if line.startswith("msg ")]


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with mosquitto(tmp_path_factory.mktemp("mosquitto")) as (port, _):
        yield port


def test_publish_subscribe_each_qos(broker):
    out = probe(broker, "--client", "each-qos", "--sub", "e/#:2", "--pub", "e/0:zero:0",
                "--pub", "e/1:one:1", "--pub", "e/2:two:2", "--read", "3").stdout
    assert messages(out) == ["msg e/0 zero qos=0 retain=0", "msg e/1 one qos=1 retain=0",
                             "msg e/2 two qos=2 retain=0"]


def test_retained(broker):
    probe(broker, "--client", "retainer", "--pub", "r/state:on:1:r")
    out = probe(broker, "--client", "late", "--sub", "r/#:1", "--read", "1").stdout
    assert messages(out) == ["msg r/state on qos=1 retain=1"]
    probe(broker, "--client", "retainer", "--pub", "r/state::1:r")  # clear it
    out = probe(broker, "--client", "later", "--sub", "r/#:1", "--read", "1", "--timeout", "500",
                check=False)
    assert out.returncode != 0 and not messages(out.stdout)


def test_will_after_cut_connection(broker):
    watcher = subprocess.Popen([str(build_dir() / "tests/probe"), "--client", "watcher",
                                "--sub", "will/#:1", "--read", "1", "127.0.0.1", str(broker)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout.readline().strip() == "online"
        assert watcher.stdout.readline().strip() == "subscribed"
        probe(broker, "--client", "doomed", "--will", "will/doomed:gone:1:0", "--abort")
        out, _ = watcher.communicate(timeout=15)
    finally:
        watcher.kill()
    assert messages(out) == ["msg will/doomed gone qos=1 retain=0"]


def test_no_will_after_disconnect(broker):
    watcher = subprocess.Popen([str(build_dir() / "tests/probe"), "--client", "watcher2",
                                "--sub", "will2/#:1", "--read", "1", "--timeout", "1500",
                                "127.0.0.1", str(broker)], stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout.readline().strip() == "online"
        assert watcher.stdout.readline().strip() == "subscribed"
        probe(broker, "--client", "polite", "--will", "will2/polite:gone:1:0")
        out, _ = watcher.communicate(timeout=15)
    finally:
        watcher.kill()
    assert messages(out) == []


def test_persistent_session_receives_queued_messages(broker):
    probe(broker, "--client", "durable", "--clean", "0", "--sub", "p/#:1")
    for i in range(3):
        probe(broker, "--client", f"sender{i}", "--pub", f"p/x:m{i}:1")
    out = probe(broker, "--client", "durable", "--clean", "0", "--read", "3").stdout
    assert messages(out) == [f"msg p/x m{i} qos=1 retain=0" for i in range(3)]


def test_bad_password_refused(tmp_path):
    pwfile = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), "alice", "right"], check=True,
                   capture_output=True)
    with mosquitto(tmp_path, f"allow_anonymous false\npassword_file {pwfile}\n") as (port, _):
        ok = probe(port, "--client", "alice", "--user", "alice", "--pass", "right")
        assert "online" in ok.stdout
        bad = probe(port, "--client", "mallory", "--user", "alice", "--pass", "wrong",
                    check=False)
        assert bad.returncode == 10 + CLASS_REFUSED, bad.stdout + bad.stderr
        code = int(bad.stdout.split()[2].rstrip(":"))
        assert code in (4, 5)  # bad user name or password / not authorized


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls")
    pki = make_pki(tmp)
    extra = (f"cafile {pki['ca.crt']}\ncertfile {pki['server.crt']}\n"
             f"keyfile {pki['server.key']}\nrequire_certificate true\n")
    with mosquitto(tmp, extra) as (port, _):
        yield port, pki


def test_tls_with_client_certificate(tls_broker):
    port, pki = tls_broker
    out = probe(port, "--tls", "--ca", pki["ca.crt"], "--cert", pki["client.crt"], "--key",
                pki["client.key"], "--sub", "s/#:1", "--pub", "s/t:secret:1", "--read", "1",
                host="localhost").stdout
    assert messages(out) == ["msg s/t secret qos=1 retain=0"]


def test_tls_many_pieces_in_one_write(tls_broker):
    # 64 QoS 2 messages published before the connection is up go out in
    # one write of 64 pieces, which TLS gathers into few records; every
    # one completes, and a TLS subscriber receives each once, in order.
    port, pki = tls_broker
    creds = ["--tls", "--ca", pki["ca.crt"], "--cert", pki["client.crt"], "--key", pki["client.key"]]
    n = 64
    watcher = subprocess.Popen([str(build_dir() / "tests/probe"), *creds, "--client", "tls-watcher",
                                "--sub", "tls/early:2", "--read", str(n), "--timeout", "20000",
                                "localhost", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout.readline().strip() == "online"
        assert watcher.stdout.readline().strip() == "subscribed"
        out = probe(port, *creds, "--client", "tls-sender", "--early", f"tls/early:2:{n}",
                    host="localhost").stdout
        assert f"early {n} lost=0 reconnects=0" in out, out
        got, _ = watcher.communicate(timeout=30)
    finally:
        watcher.kill()
    assert messages(got) == [f"msg tls/early {k} qos=2 retain=0" for k in range(n)]


def test_tls_client_certificate_required(tls_broker):
    port, pki = tls_broker
    out = probe(port, "--tls", "--ca", pki["ca.crt"], host="localhost", check=False)
    assert out.returncode == 10 + CLASS_IO, out.stdout + out.stderr


def test_tls_wrong_host_name_rejected(tls_broker):
    port, pki = tls_broker
    out = probe(port, "--tls", "--ca", pki["ca.crt"], "--cert", pki["client.crt"], "--key",
                pki["client.key"], "--server-name", "wrong.example", check=False)
    assert out.returncode == 10 + CLASS_IO, out.stdout + out.stderr
    assert "verification failed" in out.stderr, out.stderr


def test_tls_unknown_ca_rejected(tls_broker):
    port, pki = tls_broker
    out = probe(port, "--tls", "--cert", pki["client.crt"], "--key", pki["client.key"],
                host="localhost", check=False)
    assert out.returncode == 10 + CLASS_IO, out.stdout + out.stderr
    assert "verification failed" in out.stderr, out.stderr


def test_tls_bad_key_file(tls_broker, tmp_path):
    port, pki = tls_broker
    bogus = tmp_path / "bogus.key"
    bogus.write_text("not a key\n")
    out = probe(port, "--tls", "--ca", pki["ca.crt"], "--cert", pki["client.crt"], "--key",
                str(bogus), host="localhost", check=False)
    assert out.returncode == 2
    assert "key" in out.stdout
