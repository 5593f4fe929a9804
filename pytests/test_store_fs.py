"""The file-system store's durability protocol, seen from the system calls
it makes (strace): write a spool file, fsync it, rename it over the key's
file, fsync the directory; and fsync the directory after a delete. The Go
seed omits the directory fsyncs, so a crash could undo a completed save."""
import re
import shutil

import pytest

from conftest import build_dir, run


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed (make deps)")
def test_save_and_remove_are_durable(tmp_path):
    trace = tmp_path / "trace"
    store = tmp_path / "store"
    store.mkdir()
    runner = build_dir() / "tests/client_tests"
    run(["strace", "-f", "-o", str(trace), "-e",
         "trace=openat,write,writev,fsync,fdatasync,close,rename,renameat,renameat2,unlinkat",
         str(runner), "store", "file-system store traced save"],
        # LeakSanitizer cannot run under ptrace: off, for the `make san` build.
        env={"MQTTSIM_STORE_TRACE_DIR": str(store), "PATH": "/usr/bin:/bin",
             "ASAN_OPTIONS": "detect_leaks=0"})
    lines = [re.sub(r"^\d+\s+", "", line) for line in trace.read_text().splitlines()]

    dirfd = next(int(m.group(1)) for line in lines
                 if (m := re.match(rf'openat\(AT_FDCWD, "{re.escape(str(store))}", '
                                   r'O_RDONLY[^)]*O_DIRECTORY[^)]*\) = (\d+)', line)))
    start = next(i for i, line in enumerate(lines)
                 if line.startswith(f'openat({dirfd}, "0abcd.spool"'))
    spool = int(re.search(r"= (\d+)$", lines[start]).group(1))
    calls = [line for line in lines[start + 1:] if not line.startswith(("+++", "---"))]
    wanted = [
        rf"writev\({spool}, ",
        rf"fsync\({spool}\)",
        rf"close\({spool}\)",
        rf'renameat2?\({dirfd}, "0abcd.spool", {dirfd}, "0abcd"',
        rf"fsync\({dirfd}\)",
        rf'unlinkat\({dirfd}, "0abcd", 0\)',
        rf"fsync\({dirfd}\)",
    ]
    at = 0
    for pattern in wanted:
        while at < len(calls) and not re.match(pattern, calls[at]):
            at += 1
        assert at < len(calls), f"{pattern} not found in order in:\n" + "\n".join(calls)
        assert "= 0" in calls[at] or "writev" in calls[at], calls[at]
        at += 1
    assert not (store / "0abcd").exists() and not (store / "0abcd.spool").exists()
