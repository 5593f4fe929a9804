"""`make deps` is idempotent: with every package present it touches nothing.
A fake apt-get and sudo first on PATH record any call."""
import os

from conftest import ROOT, clean_env, run


def test_deps_does_nothing_when_everything_is_installed(tmp_path):
    calls = tmp_path / "calls"
    for tool in ("apt-get", "sudo", "debconf-set-selections"):
        fake = tmp_path / tool
        fake.write_text(f"#!/bin/sh\necho {tool} \"$@\" >> {calls}\nexit 97\n")
        fake.chmod(0o755)
    env = clean_env(PATH=f"{tmp_path}:{os.environ['PATH']}")
    proc = run(["sh", str(ROOT / "scripts/deps.sh")], env=env)
    assert "all packages present" in proc.stdout
    assert not calls.exists(), calls.read_text()


def test_deps_lists_the_packages_the_issue_names():
    text = (ROOT / "scripts/deps.sh").read_text()
    for pkg in ("libssl-dev", "libcunit1-dev", "libpcap-dev", "python3-pytest", "mosquitto",
                "mosquitto-clients", "python3-paho-mqtt", "tshark", "tcpdump", "iproute2",
                "libmosquitto-dev", "libpaho-mqtt-dev"):
        assert pkg in text.split(), pkg
