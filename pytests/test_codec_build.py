"""Properties of the built codec that no unit test can see from inside."""
import subprocess

import pytest

from conftest import build_dir, run

ALLOCATORS = {"malloc", "calloc", "realloc", "free", "aligned_alloc", "posix_memalign"}


def test_codec_objects_never_allocate():
    """The codec's encode and decode paths allocate nothing: its objects do
    not even reference an allocator."""
    objects = sorted((build_dir() / "obj/codec").glob("codec_*.o"))
    assert len(objects) >= 5, f"codec objects not found under {build_dir()}"
    for obj in objects:
        undefined = run(["nm", "-u", str(obj)]).stdout.split()
        assert not ALLOCATORS & set(undefined), f"{obj.name} references {ALLOCATORS & set(undefined)}"


def test_unit_runner_reports_failures_by_exit_status(tmp_path):
    """The CUnit runner exits non-zero when asked for a suite that does not
    exist (no test ran), so a broken registration cannot pass silently."""
    runner = build_dir() / "tests/client_tests"
    proc = subprocess.run([str(runner), "no_such_suite"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "no test ran" in proc.stderr


@pytest.mark.unsanitized
def test_bench_prints_the_result_line():
    bench = build_dir() / "bench/bench_codec"
    out = run([str(bench), "20000"]).stdout.splitlines()
    ops = {(dict(kv.split("=", 1) for kv in line.split())["op"],
            dict(kv.split("=", 1) for kv in line.split())["size"]) for line in out}
    for size in ("64", "1024"):
        for op in ("encode", "encode-iov", "decode", "frame-decode"):
            assert (op, size) in ops
    for line in out:
        fields = dict(kv.split("=", 1) for kv in line.split())
        assert fields["allocs"] == "0"
        assert float(fields["pkts_per_s"]) > 0
