"""The copy-pasteable examples of README.md and of the guides in docs/ work
as written: each ```sh block runs in a fresh HOME, and its last output lines
are the `# ` lines it ends with."""
import re

import pytest

from conftest import ROOT, clean_env, run

PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
EXAMPLES = [(page, block) for page in PAGES
            for block in re.findall(r"```sh\n(.*?)```", page.read_text(), re.S)]


def example_id(page, index):
    return f"{page.relative_to(ROOT)}-example{index}"


IDS = []
for _page in PAGES:
    _n = len(re.findall(r"```sh\n", _page.read_text()))
    IDS += [example_id(_page, i + 1) for i in range(_n)]


@pytest.mark.parametrize("page, script", EXAMPLES, ids=IDS)
def test_example(tmp_path, page, script):
    expected = [line[2:] for line in script.splitlines() if line.startswith("# ")]
    env = clean_env(HOME=str(tmp_path), TMPDIR=str(tmp_path))
    out = run(["bash", "-e", "-c", script], cwd=ROOT, env=env, timeout=600).stdout
    assert expected, f"the example of {page.name} states no expected output"
    assert out.splitlines()[-len(expected):] == expected


def test_every_guide_and_page_has_examples():
    # The README's tour shows each part at work, and the guides that took
    # its reference text keep their examples.
    counts = {p.name: len(re.findall(r"```sh\n", p.read_text())) for p in PAGES}
    assert counts["README.md"] >= 7
    for guide in ("codec.md", "client.md", "mqtttest.md", "fakebroker.md", "faults.md",
                  "scenarios.md", "captures.md", "control.md"):
        assert counts.get(guide, 0) >= 1, f"docs/{guide} has no example"


def test_readme_is_a_tour():
    # The newcomer's page stays short; the reference lives in docs/.
    assert len((ROOT / "README.md").read_bytes()) <= 12 * 1024
    text = (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\((docs/[\w.-]+\.md)\)", text):
        assert (ROOT / link).is_file(), link
