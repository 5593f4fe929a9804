"""The pytest plugin of the mqttsim package, as a downstream project uses
it: installed by make install into a prefix, turned on with pytest_plugins,
run from a folder of its own with the installed programs on PATH."""
import os
import re
import shutil
import pathlib
import sys

from conftest import ROOT, build_dir, clean_env, run

DOWNSTREAM = '''
import socket
import subprocess

pytest_plugins = ["mqttsim.pytest_plugin"]


def test_broker_scripted_and_inspected(fakebroker):
    # Refuse the first connect (bad credentials), then see a publish arrive.
    fakebroker.rule("refuse 4 count=1")
    refused = subprocess.run(["mosquitto_pub", "-h", fakebroker.host, "-p", str(fakebroker.port),
                              "-t", "a/b", "-m", "one"], capture_output=True)
    assert refused.returncode != 0
    subprocess.run(["mosquitto_pub", "-h", fakebroker.host, "-p", str(fakebroker.port),
                    "-t", "a/b", "-m", "two", "-q", "1"], check=True)
    got = fakebroker.wait_for(lambda: fakebroker.packets(type="PUBLISH", dir="c2b"))
    assert got[0]["topic"] == "a/b" and got[0]["payload"] == "two"
    assert fakebroker.stats()["messages_in"] == 1


def test_faults_between(fakebroker, faultproxy):
    proxy = faultproxy(fakebroker.port, "c2b latency ms=100")
    subprocess.run(["mosquitto_pub", "-h", proxy.host, "-p", str(proxy.port), "-t", "slow",
                    "-m", "x", "-q", "1"], check=True, timeout=20)
    assert fakebroker.packets(type="PUBLISH", topic="slow")
'''


def installed(tmp_path: pathlib.Path):
    prefix = tmp_path / "prefix"
    run(["make", "-s", "-C", str(ROOT), f"PREFIX={prefix}", "install"], env=clean_env(),
        timeout=600)
    ver = "%d.%d" % sys.version_info[:2]
    site = prefix / f"lib/python{ver}/dist-packages"
    assert (site / "mqttsim/pytest_plugin.py").exists()
    return prefix, site


def test_downstream_project_uses_the_installed_plugin(tmp_path):
    prefix, site = installed(tmp_path)
    project = tmp_path / "downstream"
    project.mkdir()
    (project / "test_with_broker.py").write_text(DOWNSTREAM)
    env = {k: v for k, v in clean_env().items() if not k.startswith("MQTTSIM_")}
    env.update(PATH=f"{prefix}/bin:/usr/bin:/bin", PYTHONPATH=str(site))
    p = run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "test_with_broker.py"], cwd=project, env=env, timeout=120)
    assert "2 passed" in p.stdout, p.stdout
    # The same with -p instead of pytest_plugins, and a program through its variable.
    (project / "test_with_broker.py").write_text(DOWNSTREAM.replace(
        'pytest_plugins = ["mqttsim.pytest_plugin"]', ""))
    env2 = dict(env, PATH="/usr/bin:/bin", MQTTSIM_FAKEBROKER=f"{prefix}/bin/fakebroker",
                MQTTSIM_FAULTPROXY=f"{prefix}/bin/faultproxy")
    p = run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
             "mqttsim.pytest_plugin", "test_with_broker.py"], cwd=project, env=env2, timeout=120)
    assert "2 passed" in p.stdout, p.stdout


def test_installed_campaign_runs_the_installed_mqttsim(tmp_path):
    # A user outside the source tree: the package and mqttsim from make
    # install, found through PATH only.
    prefix, site = installed(tmp_path)
    env = {k: v for k, v in clean_env().items() if not k.startswith("MQTTSIM_")}
    env.update(PATH=f"{prefix}/bin:/usr/bin:/bin", PYTHONPATH=str(site))
    p = run(["/usr/bin/python3", "-m", "mqttsim.campaign", "--seeds", "1..40", "--chunk", "10",
             "--rule", "drop PUBLISH#2 count=1", "--artifacts", str(tmp_path / "found"),
             "--checkpoint", str(tmp_path / "c.ckpt"), "--json", "-q"], cwd=tmp_path, env=env,
            check=False, timeout=300)
    assert p.returncode == 1, p.stderr
    import json
    doc = json.loads(p.stdout)
    assert doc["runs"] == 40 and doc["chunks"] == 4 and doc["failures"]
    assert all(pathlib.Path(f["file"]).is_file() for f in doc["failures"])


def test_missing_program_is_a_clear_error(tmp_path):
    env = {k: v for k, v in clean_env().items() if not k.startswith("MQTTSIM_")}
    env.update(PATH="/usr/bin:/bin", PYTHONPATH=str(ROOT / "python"))
    p = run(["/usr/bin/python3", "-c", "from mqttsim import FakeBroker; FakeBroker()"],
            env=env, check=False)
    assert p.returncode != 0
    assert "fakebroker not found: put mqttsim's bin folder on PATH" in p.stderr, p.stderr
    env["MQTTSIM_FAKEBROKER"] = "/nonexistent/fakebroker"
    p = run(["/usr/bin/python3", "-c", "from mqttsim import FakeBroker; FakeBroker()"],
            env=env, check=False)
    assert "MQTTSIM_FAKEBROKER=/nonexistent/fakebroker is not an executable program" in p.stderr


def test_deep_test_folders_still_get_a_control_socket(tmp_path):
    # A unix socket path has at most 107 bytes; pytest's folders can be deeper
    # (found running the README's plugin example inside a test).
    from mqttsim import FakeBroker
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    fb = FakeBroker(tmp=deep)
    try:
        assert len(fb.control_path) <= 107
        assert fb.stats()["connections"] == 0
    finally:
        fb.stop()
    assert not os.path.exists(fb.control_path)  # the short folder goes with it


def test_pip_install_registers_the_plugin(tmp_path):
    # pip install ./python, no network (Debian's setuptools builds it): the
    # package and its pytest11 entry point, so a downstream project's
    # tests get the fixtures without naming the plugin.
    src = tmp_path / "src"
    shutil.copytree(ROOT / "python", src, ignore=shutil.ignore_patterns("__pycache__", "build",
                                                                         "*.egg-info"))
    site = tmp_path / "site"
    env = {k: v for k, v in clean_env().items() if not k.startswith("MQTTSIM_")}
    run(["/usr/bin/python3", "-m", "pip", "install", "--no-build-isolation", "--no-deps",
         "--no-index", "--target", str(site), str(src)], env=env, timeout=300)
    assert (site / "mqttsim/pytest_plugin.py").is_file()
    env.update(PYTHONPATH=str(site))
    eps = run(["/usr/bin/python3", "-c", "from importlib.metadata import entry_points; "
               "print([e.value for e in entry_points(group='pytest11') if e.name == 'mqttsim'])"],
              env=env).stdout
    assert "['mqttsim.pytest_plugin']" in eps, eps
    version = re.search(r'^version = "([^"]+)"', (ROOT / "python/pyproject.toml").read_text(), re.M)
    assert version and f"VERSION  := {version.group(1)}" in (ROOT / "Makefile").read_text()
    project = tmp_path / "downstream"
    project.mkdir()
    (project / "test_with_broker.py").write_text(DOWNSTREAM.replace(
        'pytest_plugins = ["mqttsim.pytest_plugin"]', ""))
    env.update(PATH="/usr/bin:/bin", MQTTSIM_FAKEBROKER=str(build_dir() / "bin/fakebroker"),
               MQTTSIM_FAULTPROXY=str(build_dir() / "bin/faultproxy"))
    p = run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "test_with_broker.py"], cwd=project, env=env, timeout=120)
    assert "2 passed" in p.stdout, p.stdout
