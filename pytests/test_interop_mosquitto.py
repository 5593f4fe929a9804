"""The client against a real broker (mosquitto, started here on a free
loopback port): 10,000 sequence-numbered messages end to end at each QoS,
checked by mqttbench's subscriber for length, QoS and order, so that a lost
(QoS 1/2), duplicated (QoS 2) or reordered message fails the test."""
import re

import pytest

from brokers import mosquitto
from conftest import build_dir, run

# mqttbench is a program of the normal build only.
pytestmark = pytest.mark.unsanitized

LINE = re.compile(r"^lib=mqttsim qos=(\d) size=(\d+) n=(\d+) seconds=[\d.]+ msgs_per_s=\d+ "
                  r"mode=(pub|e2e) cpu_s=[\d.]+$")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with mosquitto(tmp_path_factory.mktemp("mosquitto")) as (port, _):
        yield port


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("mode", ["e2e", "pub"])
def test_ten_thousand_messages(broker, qos, mode):
    out = run([str(build_dir() / "bin/mqttbench"), "127.0.0.1", str(broker), str(qos), "64",
               "10000", mode], timeout=120).stdout
    m = LINE.match(out.strip())
    assert m, out
    assert m.groups() == (str(qos), "64", "10000", mode)


def test_large_payloads(broker):
    out = run([str(build_dir() / "bin/mqttbench"), "127.0.0.1", str(broker), "2", "100000",
               "200", "e2e"], timeout=120).stdout
    assert LINE.match(out.strip()), out


def test_bad_arguments_exit_2():
    exe = str(build_dir() / "bin/mqttbench")
    for args in ([], ["h", "1883", "3", "64", "10"], ["h", "0", "1", "64", "10"],
                 ["h", "1883", "1", "64", "10", "both"], ["h", "1883", "1", "-1", "10"]):
        proc = run([exe, *args], check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.strip(), args


def test_unreachable_broker_exits_1():
    from brokers import free_port
    proc = run([str(build_dir() / "bin/mqttbench"), "127.0.0.1", str(free_port()), "1", "64",
                "10"], check=False, timeout=60)
    assert proc.returncode == 1
    assert "connect" in proc.stderr or "connection" in proc.stderr, proc.stderr


PEER_LINE = re.compile(r"^lib=(mosquitto|paho) qos=(\d) size=64 n=2000 seconds=[\d.]+ "
                       r"msgs_per_s=\d+ mode=(pub|e2e) cpu_s=[\d.]+$")


@pytest.mark.parametrize("peer", ["peer_mosq", "peer_paho"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_peer_programs_share_the_method(broker, peer, qos):
    """The project's own peer programs (for `make bench`) print the same
    line and pass the same end-to-end checks."""
    out = run([str(build_dir() / "bench" / peer), "127.0.0.1", str(broker), str(qos), "64",
               "2000", "e2e"], timeout=120).stdout
    assert PEER_LINE.match(out.strip()), out
