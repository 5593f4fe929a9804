"""Shared fixtures of the pytest suites: where the source and build trees are,
and how to run a command with a clear failure message."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def build_dir() -> pathlib.Path:
    """The build tree under test: the one `make` passes in, else build/."""
    return pathlib.Path(os.environ.get("MQTTSIM_BUILD", ROOT / "build"))


PARENT_MAKE_VARIABLES = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "CC", "CXX",
                         "CFLAGS", "CPPFLAGS", "LDFLAGS", "LDLIBS", "BUILD", "PREFIX", "DESTDIR",
                         "MQTTSIM_LTO"}


def clean_env(**extra) -> dict:
    """The environment without the variables a parent make passes down, so
    that a nested make builds as a user's would (no sanitizer flags)."""
    # make exports command-line variables (CC, CFLAGS, BUILD, ...) to the
    # recipes' environment: a `make san` must not leak its flags into the
    # library a test installs.
    env = {k: v for k, v in os.environ.items() if k not in PARENT_MAKE_VARIABLES}
    env.update(extra)
    return env


def run(cmd, *, env=None, cwd=None, timeout=300, check=True):
    """Runs cmd, capturing output; on failure the assertion shows it."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check:
        assert proc.returncode == 0, (
            f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def root() -> pathlib.Path:
    return ROOT


# The fixtures of the mqttsim pytest plugin (python/mqttsim), on this
# tree's build: our suites use the package as downstream tests do.
sys.path.insert(0, str(ROOT / "python"))
for _name in ("fakebroker", "faultproxy"):
    os.environ.setdefault("MQTTSIM_" + _name.upper(), str(build_dir() / "bin" / _name))
from mqttsim.pytest_plugin import fakebroker, fakebroker_factory, faultproxy  # noqa: E402,F401
