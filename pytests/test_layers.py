"""scripts/check_layers.py: the tree's arrows point down, and each kind of
wrong arrow planted in a copy of the tree is caught and named."""
import shutil

import pytest

from conftest import ROOT, run

CHECKER = ROOT / "scripts" / "check_layers.py"
PYTHON = "/usr/bin/python3"
SOURCE_DIRS = ["include", "codec", "client", "fakebroker", "faults", "capture", "scenarios",
               "testing", "bench", "fuzz", "examples"]


def check(tree):
    return run([PYTHON, str(CHECKER), str(tree)], check=False)


def test_the_tree_passes():
    proc = check(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "every include points down" in proc.stdout


@pytest.fixture
def tree(tmp_path):
    """A copy of the C sources, to plant defects in."""
    for d in SOURCE_DIRS:
        shutil.copytree(ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns("*.pcap", "*.scn"))
    return tmp_path


def plant(tree, path, line):
    """Adds an include line after the first line of path."""
    f = tree / path
    text = f.read_text().splitlines(keepends=True)
    f.write_text(text[0] + line + "\n" + "".join(text[1:]))


@pytest.mark.parametrize("path, line, message", [
    # The codec includes nothing above it.
    ("codec/codec_decode.c", '#include "mqttsim/session.h"', "a codec (codec) includes a core"),
    # A core includes no driver.
    ("client/session.c", '#include "mqttsim/client.h"', "a core (client) includes a driver"),
    ("scenarios/oracle/oracle.c", '#include "scenarios/sim/sim.h"',
     "a core (scenarios) includes a driver"),
    ("fakebroker/broker.c", '#include "mqttsim/fakebroker.h"', "includes a driver"),
    # A driver includes no program.
    ("scenarios/sim/sim.c", '#include "scenarios/program/run.h"', "a driver (scenarios) includes a program"),
    # Another part's internal header, even one layer down.
    ("fakebroker/server.c", '#include "client/session_internal.h"', "is internal to client/"),
    ("fuzz/fuzz_decode.c", '#include "codec/codec_internal.h"', "is internal to codec/"),
    # The sans-I/O rule, as far as includes show it.
    ("client/session_receive.c", "#include <pthread.h>", "a core includes <pthread.h>"),
    ("codec/codec_framer.c", "#include <sys/socket.h>", "a codec includes <sys/socket.h>"),
    # An include the compiler would only find through a -I of a folder.
    ("scenarios/sim/sim.c", '#include "oracle.h"', '"oracle.h" is no file of the tree'),
])
def test_a_planted_wrong_arrow_fails(tree, path, line, message):
    assert check(tree).returncode == 0
    plant(tree, path, line)
    proc = check(tree)
    assert proc.returncode == 1, proc.stdout
    assert f"{path}:2: " in proc.stdout and message in proc.stdout, proc.stdout


def test_a_file_in_no_layer_fails(tree):
    (tree / "scenarios" / "campaign").mkdir()
    (tree / "scenarios" / "campaign" / "plan.c").write_text("int x;\n")
    proc = check(tree)
    assert proc.returncode == 1
    assert "scenarios/campaign/plan.c: in no layer" in proc.stdout


def test_allowed_arrows_pass(tree):
    # Down a layer across parts, through an interface that is not internal;
    # a part's own tests into its internals.
    plant(tree, "scenarios/sim/simdisk.c", '#include "client/store_vfs.h"')
    plant(tree, "client/tests/test_store.c", '#include "client/store_internal.h"')
    plant(tree, "capture/program/decode.c", '#include "mqttsim/client.h"')
    proc = check(tree)
    assert proc.returncode == 0, proc.stdout


def test_usage():
    assert run([PYTHON, str(CHECKER), "--help"]).stdout.startswith("check_layers.py")
    proc = run([PYTHON, str(CHECKER), "a", "b"], check=False)
    assert proc.returncode == 2
    proc = run([PYTHON, str(CHECKER), "/nonexistent"], check=False)
    assert proc.returncode == 2 and "not an mqttsim source tree" in proc.stderr
