"""Every section-3 manual page has an EXAMPLE: a whole program that
compiles as the page says (C, gnu11, warnings as errors) against the
library, runs, and prints what the page says it prints."""
import re

import pytest

from conftest import ROOT, clean_env, run

PAGES = sorted((ROOT / "docs/man").glob("*.3"))
LIB_DEPS = ["-lssl", "-lcrypto", "-lpcap", "-lm", "-pthread"]


def unroff(text):
    """The text of a .EX block as a reader of the page sees it."""
    lines = []
    for line in text.split("\n"):
        line = line.replace("\\e", "\x00").replace("\\-", "-").replace("\\&", "")
        lines.append(line.replace("\x00", "\\"))
    return "\n".join(lines)


def example_of(page):
    section = re.search(r"^\.SH EXAMPLE\n(.*?)(?=^\.SH )", page.read_text(), re.S | re.M)
    assert section, f"{page.name} has no EXAMPLE section"
    blocks = [unroff(b) for b in re.findall(r"^\.EX\n(.*?)^\.EE\n", section.group(1), re.S | re.M)]
    assert len(blocks) == 3, f"{page.name}: want the build line, the program and its output"
    build, program, output = blocks
    assert build.startswith("cc -std=gnu11 -o example example.c $(pkg-config --cflags --libs mqttsim)")
    assert "It prints:" in section.group(1)
    return program, output


@pytest.fixture(scope="module")
def library():
    # The normal build's library, as test_install uses (a sanitizer build's
    # objects would need its runtime): made if missing.
    run(["make", "-C", str(ROOT), "--no-print-directory", "BUILD=build", "lib"], env=clean_env(),
        timeout=600)
    return ROOT / "build/lib/libmqttsim.a"


def test_every_section_3_page_is_covered():
    names = {p.name for p in PAGES}
    for header in sorted((ROOT / "include/mqttsim").glob("*.h")):
        text = header.read_text()
        # Each header with functions is on some page's SYNOPSIS (api.h has none).
        if re.search(r"^MQTTSIM_API ", text, re.M):
            assert any(f"#include <mqttsim/{header.name}>" in p.read_text() for p in PAGES), header.name
    for page in ("mqttsim_error.3", "mqttsim_faults.3", "mqttsim_pcap.3"):
        assert page in names


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_example_compiles_runs_and_prints_what_the_page_says(page, library, tmp_path):
    program, output = example_of(page)
    src = tmp_path / "example.c"
    src.write_text(program)
    exe = tmp_path / "example"
    run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", f"-I{ROOT}/include", "-o", str(exe),
         str(src), str(library), *LIB_DEPS])
    out = run([str(exe)], cwd=tmp_path, timeout=60).stdout
    assert out == output, out
