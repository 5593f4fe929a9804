"""The README's copy-pasteable examples work as written: each ```sh block runs
in a fresh HOME, and its last output lines are the `# ` lines it ends with."""
import re

import pytest

from conftest import ROOT, clean_env, run

BLOCKS = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.parametrize("script", BLOCKS, ids=[f"example{i + 1}" for i in range(len(BLOCKS))])
def test_example_in_readme(tmp_path, script):
    expected = [line[2:] for line in script.splitlines() if line.startswith("# ")]
    env = clean_env(HOME=str(tmp_path), TMPDIR=str(tmp_path))
    out = run(["bash", "-e", "-c", script], cwd=ROOT, env=env, timeout=600).stdout
    assert expected, "the example states no expected output"
    assert out.splitlines()[-len(expected):] == expected
