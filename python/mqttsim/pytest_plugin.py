"""pytest fixtures for tests that need an MQTT broker to script, or faults
between a client and a broker:

    fakebroker          a fakebroker on a free loopback port: .host, .port,
                        .rule("refuse 5"), .packets(type="PUBLISH"),
                        .stats(), .command(...), .wait_for(predicate)
    fakebroker_factory  starts more, with command-line options:
                        fakebroker_factory("--users", path)
    faultproxy          a factory: faultproxy(upstream_port, "c2b latency ms=50", seed=1)
                        gives a proxy with .host, .port, .faults_applied()

Each process is stopped by its PID at teardown. Turn the plugin on with
`-p mqttsim.pytest_plugin` or `pytest_plugins = ["mqttsim.pytest_plugin"]`.
"""
import pytest

from mqttsim.fakebroker import FakeBroker
from mqttsim.faultproxy import FaultProxy


@pytest.fixture
def fakebroker_factory(tmp_path):
    """Starts fakebrokers with the given command-line options; each is
    stopped (SIGTERM, by its PID) at teardown."""
    started = []

    def start(*args):
        fb = FakeBroker(*args, tmp=tmp_path)
        started.append(fb)
        return fb
    yield start
    for fb in started:
        fb.stop()


@pytest.fixture
def fakebroker(fakebroker_factory):
    """A fakebroker on a free loopback port: .host, .port, and control
    commands (.rule(), .packets(), .stats(), .command())."""
    return fakebroker_factory()


@pytest.fixture
def faultproxy(tmp_path):
    """Starts faultproxy processes: call with the upstream port and the
    faults (each a plan line); yields a factory of FaultProxy objects
    (.host, .port, .log()). Each is stopped by its PID at teardown."""
    started = []

    def start(upstream_port, *faults, seed=1, extra=()):
        fp = FaultProxy(upstream_port, faults, seed=seed, extra=extra, tmp=tmp_path)
        started.append(fp)
        return fp
    yield start
    for fp in started:
        fp.stop()
