"""The README's copy-pasteable example works as written."""
import re

from conftest import ROOT, clean_env, run


def test_codec_example_in_readme(tmp_path):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    assert blocks, "no sh example in README.md"
    script = blocks[0]
    expected = [line[2:] for line in script.splitlines() if line.startswith("# ")]
    env = clean_env(HOME=str(tmp_path), TMPDIR=str(tmp_path))
    out = run(["bash", "-e", "-c", script], cwd=ROOT, env=env, timeout=600).stdout
    assert expected, "the example states no expected output"
    assert out.splitlines()[-len(expected):] == expected
