"""mqttsim(1) documents every option that `mqttsim ... --help` names, and
the examples of the help texts name files that exist."""
import re

import pytest

from conftest import ROOT, build_dir, run


def options(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))


def test_manual_has_every_option():
    manual = (ROOT / "docs/man/mqttsim.1").read_text().replace("\\-", "-")
    exe = str(build_dir() / "bin/mqttsim")
    seen = set()
    for args in (["--help"], ["replay", "--help"], ["convert", "--help"], ["decode", "--help"]):
        seen |= options(run([exe, *args]).stdout)
    seen -= {"--help"}
    assert {"--real", "--shrink", "--as-client", "--as-broker", "--fast", "--port"} <= seen
    missing = sorted(o for o in seen if o not in manual)
    assert not missing, f"mqttsim.1 lacks {missing}"


@pytest.mark.parametrize("sub", ["run", "check", "decode", "replay", "convert"])
def test_every_subcommand_help_exits_0(sub):
    # Each subcommand's --help prints its page on standard output, exit 0.
    p = run([str(build_dir() / "bin/mqttsim"), sub, "--help"])
    assert p.stdout.startswith("Usage: mqttsim"), p.stdout
    assert f"mqttsim {sub}" in p.stdout
    assert not p.stderr


def test_help_example_exists():
    out = run([str(build_dir() / "bin/mqttsim"), "--help"]).stdout
    for path in re.findall(r"(scenarios/[\w.-]+\.scn)", out):
        assert (ROOT / path).exists(), path
