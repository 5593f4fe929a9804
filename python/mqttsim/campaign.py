"""python3 -m mqttsim.campaign: `mqttsim explore` over a seed range too big
for one run, cut into chunks that run on every core of this machine or on
the workers of a Dask distributed scheduler.

Each chunk is one `mqttsim explore --seeds A..B --json` on whichever
machine runs it; its result (runs, failures, the minimal scenarios' text)
comes back as JSON. The campaign merges the results, counts each failure
once by its signature across chunks (its smallest seed names it, so the
outcome does not depend on which chunk finished first), writes the minimal
scenarios, and appends each finished chunk to the checkpoint: a campaign
run again with the same checkpoint skips what it holds, so no chunk's
result is counted twice, even when a worker died mid-chunk and Dask ran
the chunk again elsewhere. A worker whose mqttsim is not the version this
machine runs is refused, with a line naming it: it gets no chunk.

See `python3 -m mqttsim.campaign --help` and docs/explore.md."""
import argparse
import concurrent.futures
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from mqttsim.programs import program

UINT64_MAX = (1 << 64) - 1
CHECKPOINT_FORMAT = 1
PROG = "mqttsim.campaign"

USAGE_EPILOG = """\
Each chunk runs `mqttsim explore --seeds A..B --json` (one process per
chunk; on Dask one per worker thread, so `dask worker --nthreads N` sets
how many run at once on that machine). The mqttsim program is found on
PATH, or through MQTTSIM_MQTTSIM, on this machine and on each worker.

The checkpoint is a JSON-lines file: a header naming the campaign (seed
range, chunk size, mqttsim version, explore options), then one line per
finished chunk with its results. It is synced after every chunk. Run the
same command again to resume: finished chunks are not run again; a
checkpoint of another campaign is refused.

Failures are written to DIR as explore-HASH-seedS.min.scn (S: the
smallest seed across the campaign that failed this way); each fails under
`mqttsim run --seeds S FILE`.

Examples:
  python3 -m mqttsim.campaign --seeds 1..1000000 --checkpoint run1.ckpt
  dask scheduler --host 10.0.0.1 &          # then on each machine:
  dask worker tcp://10.0.0.1:8786 --nthreads 8
  python3 -m mqttsim.campaign --seeds 1..100000000 --chunk 20000 \\
      --scheduler tcp://10.0.0.1:8786 --checkpoint big.ckpt

Exit status: 0 when every seed passed, 1 when one failed or a chunk could
not be run (the checkpoint keeps what finished), 2 for bad usage
(a bad seed range or chunk, a checkpoint of another campaign or corrupt,
an artifacts folder that cannot be written, a scheduler that cannot be
reached, no worker with this mqttsim version), 130 when interrupted (the
checkpoint keeps what finished)."""


class UsageError(Exception):
    """Bad input: one line on standard error, exit status 2."""


class VersionRefused(Exception):
    """A worker runs another mqttsim than the campaign's."""

    def __init__(self, worker: str, have: str, want: str):
        super().__init__(worker, have, want)
        self.worker, self.have, self.want = worker, have, want

    def __str__(self):
        return (f"refusing worker {self.worker}: it runs {self.have!r}, "
                f"this campaign runs {self.want!r}")


class ChunkFailed(Exception):
    """mqttsim explore did not finish a chunk (killed, bad usage)."""


def parse_seeds(text: str) -> tuple:
    """A..B, inclusive, 0 <= A <= B < 2^64."""
    m = re.fullmatch(r"(\d+)\.\.(\d+)", text or "")
    if not m:
        raise UsageError(f"--seeds {text!r}: expected A..B, two whole numbers (for example 1..1000000)")
    first, last = int(m.group(1)), int(m.group(2))
    if first > UINT64_MAX or last > UINT64_MAX:
        raise UsageError(f"--seeds {text}: a seed is a 64-bit number (at most {UINT64_MAX})")
    if first > last:
        raise UsageError(f"--seeds {text}: reversed range (the first seed is after the last)")
    return first, last


def parse_positive(name: str, text: str) -> int:
    if not re.fullmatch(r"\d+", text or "") or int(text) == 0:
        raise UsageError(f"{name} {text!r}: expected a whole number above 0")
    return int(text)


def parse_duration(name: str, text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text or "")
    if not m or float(m.group(1)) <= 0:
        raise UsageError(f"{name} {text!r}: expected a duration above 0 with its unit (500ms, 10s, 2m)")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


def chunks_of(first: int, last: int, size: int):
    """The chunks (a, b) of first..last, in order, each size seeds or fewer."""
    a = first
    while a <= last:
        b = min(last, a + size - 1)
        yield a, b
        a = b + 1


def mqttsim_version(path: str) -> str:
    proc = subprocess.run([path, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ChunkFailed(f"{path} --version exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _worker_name() -> str:
    """The Dask worker's address inside a task, else this host's name."""
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return socket.gethostname()


def _die_with_parent():
    # Runs in the child between fork and exec: a chunk must not outlive
    # the worker that runs it (a killed Dask worker leaves no explore
    # behind). PR_SET_PDEATHSIG is 1.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def worker_version() -> tuple:
    """(worker, version or an error text): run on every worker up front."""
    try:
        return _worker_name(), mqttsim_version(program("mqttsim"))
    except (OSError, ChunkFailed, subprocess.SubprocessError) as e:
        return _worker_name(), f"no usable mqttsim: {e}"


def run_chunk(first: int, last: int, version: str, options: list) -> dict:
    """One chunk: mqttsim explore over first..last on this machine. Returns
    its JSON results with each failure's minimal scenario as text
    ("scenario"); raises VersionRefused when this machine's mqttsim is not
    version, ChunkFailed when explore did not finish."""
    path = program("mqttsim")
    have = mqttsim_version(path)
    if have != version:
        raise VersionRefused(_worker_name(), have, version)
    with tempfile.TemporaryDirectory(prefix="mqttsim-chunk-") as folder:
        cmd = [path, "explore", "--seeds", f"{first}..{last}", "--jobs", "1", "--artifacts",
               folder, "--json", "-q"] + list(options)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=_die_with_parent)
        try:
            result = json.loads(proc.stdout) if proc.returncode in (0, 1) else None
        except ValueError:
            result = None
        if result is None or result.get("interrupted") or result.get("runs") != last - first + 1:
            raise ChunkFailed(f"seeds {first}..{last} on {_worker_name()}: mqttsim explore exited "
                              f"{proc.returncode}: {proc.stderr.strip()[-400:]}")
        for failure in result["failures"]:
            text = None
            if failure.get("file"):
                with open(failure["file"], encoding="utf-8") as f:
                    text = f.read()
            failure["scenario"] = strip_found_note(text) if text is not None else None
            # As explore names it: shrunk (.min.scn) or as generated (.scn).
            failure["suffix"] = ("min.scn" if (failure.get("file") or "").endswith(".min.scn")
                                 else "scn")
            failure.pop("file", None)
            failure.pop("minimal", None)
    result["chunk"] = [first, last]
    result["worker"] = _worker_name()
    return result


def strip_found_note(text: str) -> str:
    """The scenario without the lines explore appends about where it was
    found (the campaign writes its own, with the campaign's count)."""
    lines = text.splitlines(keepends=True)
    while lines and (lines[-1].startswith("# found by mqttsim explore")
                     or lines[-1].startswith("# shrunk:")
                     or lines[-1].startswith("# as generated:")):
        lines.pop()
    return "".join(lines)


def fsync_folder(path: str):
    fd = os.open(path or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str, text: str):
    """Whole or not at all: a temporary file beside it, synced, renamed,
    the folder synced."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    fsync_folder(folder)


class Checkpoint:
    """The header and one line per finished chunk, appended and synced."""

    def __init__(self, path: str, header: dict):
        self.path, self.header, self.done = path, header, {}
        self.file = None
        self.unfinished = 0  # where an unfinished last line starts, if any

    def load(self):
        """Loads what an earlier run finished, refusing another campaign's
        checkpoint or a corrupt one; writes nothing."""
        if self.path and os.path.exists(self.path):
            self._load()

    def open(self):
        """Creates the file, or cuts off a line a crash left unfinished;
        then appends."""
        if not self.path:
            return
        if not os.path.exists(self.path):
            write_atomically(self.path, json.dumps(self.header, sort_keys=True) + "\n")
        elif self.unfinished:
            # A line cut by a crash mid-append: that chunk runs again.
            with open(self.path, "r+b") as f:
                f.truncate(self.unfinished)
                os.fsync(f.fileno())
        self.file = open(self.path, "a", encoding="utf-8")

    def _load(self):
        with open(self.path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        complete = len(lines) - 1  # the part after the last newline is unfinished
        if complete < 1:
            raise UsageError(f"{self.path}: not a campaign checkpoint (no header line)")
        try:
            header = json.loads(lines[0])
        except ValueError:
            raise UsageError(f"{self.path}: not a campaign checkpoint (line 1 is not JSON)")
        if not isinstance(header, dict) or header.get("campaign") != CHECKPOINT_FORMAT:
            raise UsageError(f"{self.path}: not a campaign checkpoint of this format")
        if header != self.header:
            diff = ", ".join(f"{k} {header.get(k)!r} (now {self.header.get(k)!r})"
                             for k in sorted(set(header) | set(self.header))
                             if header.get(k) != self.header.get(k))
            raise UsageError(f"{self.path}: the checkpoint of another campaign: {diff}; "
                             f"give the same options to resume it, or another file")
        for number in range(1, complete):
            try:
                record = json.loads(lines[number])
                key = tuple(record["chunk"])
                record["runs"], record["failures"]  # noqa: B018 (must be there)
            except (ValueError, KeyError, TypeError):
                raise UsageError(f"{self.path}:{number + 1}: corrupt chunk record; "
                                 f"move the file aside to start again")
            if key in self.done:
                raise UsageError(f"{self.path}:{number + 1}: chunk {key[0]}..{key[1]} twice")
            self.done[key] = record
        if lines[-1]:
            self.unfinished = len(data) - len(lines[-1])

    def record(self, result: dict):
        key = tuple(result["chunk"])
        self.done[key] = result
        if self.file:
            self.file.write(json.dumps(result, sort_keys=True) + "\n")
            self.file.flush()
            os.fsync(self.file.fileno())

    def close(self):
        if self.file:
            self.file.close()


class Merged:
    """Results across chunks: each failure once, by signature; its
    representative is its smallest seed."""

    def __init__(self):
        self.runs = self.failed_seeds = 0
        self.seconds = 0.0
        self.failures = {}

    def add(self, result: dict) -> list:
        """Adds a chunk; returns the signatures whose representative changed."""
        self.runs += result["runs"]
        self.failed_seeds += result["failed_seeds"]
        self.seconds += result.get("seconds", 0.0)
        changed = []
        for f in result["failures"]:
            known = self.failures.get(f["signature"])
            if known is None:
                self.failures[f["signature"]] = dict(f)
                changed.append(f["signature"])
            else:
                count = known["count"] + f["count"]
                if f["seed"] < known["seed"]:
                    known.update(f)
                    changed.append(f["signature"])
                known["count"] = count
        return changed

    def ordered(self) -> list:
        return sorted(self.failures.values(), key=lambda f: f["seed"])


def failure_path(folder: str, f: dict) -> str:
    return os.path.join(folder, f"explore-{f['hash']}-seed{f['seed']}.{f.get('suffix', 'scn')}")


def write_failures(folder: str, merged: Merged, written: dict):
    """Writes each failure's scenario with the campaign's count; a file of
    an earlier representative (a larger seed) is removed."""
    for f in merged.ordered():
        path = failure_path(folder, f)
        if f.get("scenario") is None:
            continue
        text = (f["scenario"] + f"# found by mqttsim.campaign with seed {f['seed']} "
                f"({f['count']} seed{'s' if f['count'] != 1 else ''} failed this way): {f['why']}\n"
                f"# the generated scenario: mqttsim explore --print {f['seed']}\n")
        old = written.get(f["signature"])
        if old == (path, text):
            continue
        os.makedirs(folder, exist_ok=True)
        write_atomically(path, text)
        if old and old[0] != path and os.path.exists(old[0]):
            os.unlink(old[0])
        written[f["signature"]] = (path, text)


class Progress:
    """One line on a terminal, rewritten; elsewhere a line every 30 s."""

    def __init__(self, total_chunks: int, total_seeds: int, quiet: bool):
        self.total_chunks, self.total_seeds = total_chunks, total_seeds
        self.tty = sys.stderr.isatty()
        self.quiet = quiet
        self.start = self.last = time.monotonic()
        self.session_runs = 0

    def show(self, chunks: int, runs: int, distinct: int, workers: str, final=False):
        if self.quiet:
            return
        now = time.monotonic()
        if not final and not self.tty and now - self.last < 30:
            return
        self.last = now
        rate = self.session_runs / max(now - self.start, 1e-9)
        left = self.total_seeds - runs
        eta = "0s" if left <= 0 else _duration(left / rate) if rate > 0 else "?"
        line = (f"{PROG}: chunks {chunks}/{self.total_chunks}, {runs} runs, {rate:.0f} runs/s, "
                f"{distinct} distinct failure{'s' if distinct != 1 else ''}, {workers}, ETA {eta}")
        if self.tty:
            sys.stderr.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class LocalPool:
    """Chunks in processes on this machine: one `mqttsim explore` per core."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)

    def describe(self) -> str:
        return f"{self.jobs} local job{'s' if self.jobs != 1 else ''}"

    def slots(self) -> int:
        return self.jobs

    def submit(self, first, last, version, options):
        return self.executor.submit(run_chunk, first, last, version, options)

    def wait(self, futures):
        done, _ = concurrent.futures.wait(futures, timeout=1.0,
                                          return_when=concurrent.futures.FIRST_COMPLETED)
        return done

    def stranded(self, futures) -> list:
        return []

    def refuse(self, worker):
        raise UsageError(f"this machine's mqttsim changed during the campaign ({worker})")

    def close(self, cancel=False):
        self.executor.shutdown(wait=not cancel, cancel_futures=cancel)


class DaskPool:
    """Chunks as tasks on a Dask distributed scheduler's workers. Each
    worker is asked for its mqttsim version when it is first seen; one that
    differs is refused: it gets no chunk (it is left running: it is the
    user's). A chunk that reaches one anyway refuses to run there and is
    given to another."""

    def __init__(self, address: str, connect_timeout: float, version: str):
        try:
            import distributed
        except ImportError:
            raise UsageError("--scheduler needs Dask distributed for this Python "
                             "(Debian: apt-get install python3-distributed)")
        self.distributed = distributed
        try:
            self.client = distributed.Client(address, timeout=connect_timeout)
        except (OSError, TimeoutError, ValueError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UsageError(f"cannot reach the Dask scheduler at {address}: {reason}")
        self.good, self.refused = set(), set()
        self.allowed = {}  # future key: the workers it may run on
        self.version = version
        self.discover()

    def discover(self):
        """Asks the workers not seen before for their version."""
        present = set(self.client.scheduler_info().get("workers", {}))
        new = present - self.good - self.refused
        self.good &= present
        if not new:
            return
        try:
            answers = self.client.run(worker_version, workers=sorted(new), on_error="return")
        except OSError:
            return  # one left while asked: the next round asks again
        for address, answer in answers.items():
            if isinstance(answer, BaseException):
                continue
            _, have = answer
            if have == self.version:
                self.good.add(address)
            else:
                self.refuse_worker(address, have)

    def describe(self) -> str:
        n = len(self.good)
        return f"{n} worker{'s' if n != 1 else ''}" + (f", {len(self.refused)} refused"
                                                       if self.refused else "")

    def slots(self) -> int:
        info = self.client.scheduler_info().get("workers", {})
        return max(2, 2 * sum(w.get("nthreads", 1) for a, w in info.items() if a in self.good))

    def submit(self, first, last, version, options):
        # Only the workers that answered with this version get chunks.
        # Should one be refused later anyway, run_chunk refuses the chunk
        # and it is given to another.
        # Before any worker answered, a chunk goes to whichever comes.
        where = {"workers": sorted(self.good)} if self.good else {}
        future = self.client.submit(run_chunk, first, last, version, options, pure=False,
                                    key=f"mqttsim-chunk-{first}-{last}-{os.getpid()}-{time.time_ns()}",
                                    **where)
        self.allowed[future.key] = set(self.good)
        return future

    def wait(self, futures):
        try:
            done, _ = self.distributed.wait(list(futures), timeout=1.0, return_when="FIRST_COMPLETED")
        except (TimeoutError, getattr(self.distributed, "TimeoutError", TimeoutError)):
            done = set()
        self.discover()
        for future in done:
            self.allowed.pop(future.key, None)
        return set(done)

    def stranded(self, futures) -> list:
        """The chunks waiting for workers that are all gone, while good
        ones joined since: they must be given again."""
        return [f for f in futures if f.status == "pending" and self.good
                and self.allowed.get(f.key) and not self.allowed[f.key] & self.good]

    def refuse_worker(self, worker, have):
        self.good.discard(worker)
        if worker in self.refused:
            return
        self.refused.add(worker)
        print(f"{PROG}: refusing worker {worker}: it runs {have!r}, this campaign runs "
              f"{self.version!r}; it gets no chunk", file=sys.stderr)

    def refuse(self, worker):
        self.refuse_worker(worker.worker, worker.have)

    def close(self, cancel=False):
        self.client.close()


class OneLineParser(argparse.ArgumentParser):
    """Bad usage is one line (and --help the full text)."""

    def error(self, message):
        raise UsageError(f"{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=f"python3 -m {PROG}",
        description="Runs mqttsim explore over a seed range in chunks, on this machine's cores "
                    "or on a Dask distributed cluster, and merges what fails: each distinct "
                    "failure once, with its count of seeds and its smallest failing seed.",
        epilog=USAGE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", required=True, metavar="A..B", help="the seeds, inclusive")
    p.add_argument("--chunk", default="20000", metavar="N",
                   help="seeds per chunk: per task, per checkpoint line (default 20000)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a Dask scheduler (tcp://HOST:8786); without it, this machine's cores")
    p.add_argument("--connect-timeout", default="10s", metavar="DUR",
                   help="how long to try to reach the scheduler (default 10s)")
    p.add_argument("--jobs", metavar="N", help="without --scheduler: chunks at once (default: cores)")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="record finished chunks here; the same command resumes from it")
    p.add_argument("--artifacts", default="mqttsim-campaign", metavar="DIR",
                   help="where minimal scenarios go (default ./mqttsim-campaign)")
    p.add_argument("--rule", action="append", default=[], metavar="RULE",
                   help="passed to mqttsim explore: a broker rule in every scenario (repeatable)")
    p.add_argument("--shrink-max", metavar="N", help="passed to mqttsim explore, per chunk")
    p.add_argument("--no-shrink", action="store_true", help="passed to mqttsim explore")
    p.add_argument("--json", action="store_true", help="the merged results as JSON on standard output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    return p


def explore_options(args) -> list:
    options = []
    for rule in args.rule:
        options += ["--rule", rule]
    if args.shrink_max is not None:
        options += ["--shrink-max", str(parse_positive("--shrink-max", args.shrink_max))]
    if args.no_shrink:
        options.append("--no-shrink")
    return options


def preflight(path: str, first: int, options: list):
    """The options, tried on one seed here: bad ones fail now, not per chunk."""
    with tempfile.TemporaryDirectory(prefix="mqttsim-preflight-") as folder:
        proc = subprocess.run([path, "explore", "--seeds", str(first), "--jobs", "1", "--artifacts",
                               folder, "--json", "-q", "--no-shrink"] + options,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode == 2:
        raise UsageError(proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else
                         "mqttsim explore refused the options")


def probe_folder(folder: str) -> bool:
    """Whether folder was made here (so an early exit removes it)."""
    made = not os.path.isdir(folder)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise UsageError(f"--artifacts {folder}: cannot write there: {e.strerror or e}")
    return made


def summary(merged: Merged, first, last, version, seconds, interrupted, chunks, total) -> dict:
    return {"mqttsim": version, "first": first, "last": last, "chunks": chunks,
            "chunks_total": total, "runs": merged.runs, "failed_seeds": merged.failed_seeds,
            "seconds": round(seconds, 3), "interrupted": interrupted,
            "failures": [{k: f.get(k) for k in ("signature", "hash", "seed", "count", "why",
                                                "generator_error")} | {"file": f.get("path")}
                         for f in merged.ordered()]}


def run_campaign(args) -> int:
    first, last = parse_seeds(args.seeds)
    chunk = parse_positive("--chunk", args.chunk)
    jobs = parse_positive("--jobs", args.jobs) if args.jobs else (os.cpu_count() or 1)
    timeout = parse_duration("--connect-timeout", args.connect_timeout)
    if args.scheduler and args.jobs:
        raise UsageError("--jobs is for this machine; with --scheduler the workers' threads decide")
    options = explore_options(args)
    try:
        path = program("mqttsim")
        version = mqttsim_version(path)
    except (OSError, ChunkFailed) as e:
        raise UsageError(str(e))
    preflight(path, first, options)
    header = {"campaign": CHECKPOINT_FORMAT, "first": first, "last": last, "chunk": chunk,
              "mqttsim": version, "options": options}
    checkpoint = Checkpoint(args.checkpoint, header)
    checkpoint.load()
    # Nothing is written before the scheduler answers: a campaign that
    # never started leaves no checkpoint and no folder behind.
    pool = DaskPool(args.scheduler, timeout, version) if args.scheduler else LocalPool(jobs)
    made = False
    try:
        if args.scheduler and not pool.good and pool.refused:
            raise UsageError(f"no worker of {args.scheduler} runs {version!r}")
        made = probe_folder(args.artifacts)
        try:
            checkpoint.open()
        except OSError as e:
            raise UsageError(f"--checkpoint {args.checkpoint}: {e.strerror or e}")
    except UsageError:
        pool.close()
        if made:
            os.rmdir(args.artifacts)
        raise

    merged, written = Merged(), {}
    for record in checkpoint.done.values():
        merged.add(record)
    total_chunks = (last - first) // chunk + 1
    progress = Progress(total_chunks, last - first + 1, args.quiet)
    if checkpoint.done and not args.quiet:
        print(f"{PROG}: resuming {args.checkpoint}: {len(checkpoint.done)} of {total_chunks} "
              f"chunks done, {merged.runs} runs", file=sys.stderr)
    write_failures(args.artifacts, merged, written)
    pending = (c for c in chunks_of(first, last, chunk) if c not in checkpoint.done)
    inflight = {}
    started = time.monotonic()
    interrupted = False
    status = 0
    try:
        while True:
            while len(inflight) < pool.slots():
                c = next(pending, None)
                if c is None:
                    break
                inflight[pool.submit(c[0], c[1], version, options)] = c
            if not inflight:
                break
            for future in pool.wait(inflight):
                c = inflight.pop(future)
                try:
                    result = future.result()
                except VersionRefused as e:
                    pool.refuse(e)
                    inflight[pool.submit(c[0], c[1], version, options)] = c
                    continue
                except Exception as e:  # ChunkFailed, or Dask's KilledWorker
                    print(f"{PROG}: chunk {c[0]}..{c[1]} failed: {e}", file=sys.stderr)
                    status = 1
                    break
                if c in checkpoint.done:
                    continue  # a repeat of a chunk already counted: never twice
                checkpoint.record(result)
                merged.add(result)
                progress.session_runs += result["runs"]
                write_failures(args.artifacts, merged, written)
            if status:
                break
            for future in pool.stranded(list(inflight)):
                c = inflight.pop(future)
                future.cancel()
                inflight[pool.submit(c[0], c[1], version, options)] = c
            progress.show(len(checkpoint.done), merged.runs, len(merged.failures), pool.describe())
    except KeyboardInterrupt:
        interrupted = True
        status = 130
    finally:
        pool.close(cancel=True)
        checkpoint.close()
    progress.show(len(checkpoint.done), merged.runs, len(merged.failures), pool.describe(), final=True)
    for f in merged.ordered():
        f["path"] = written.get(f["signature"], (None,))[0]
    seconds = time.monotonic() - started
    if args.json:
        print(json.dumps(summary(merged, first, last, version, seconds, interrupted,
                                 len(checkpoint.done), total_chunks)))
    else:
        for f in merged.ordered():
            print(f"FAIL {f['hash']}: {f['count']} seed{'s' if f['count'] != 1 else ''}, "
                  f"the smallest {f['seed']}: {f['why']}")
            print(f"  shape: {f['signature']}")
            if f.get("path"):
                print(f"  reproduce: mqttsim run --seeds {f['seed']} --trace {f['path']}")
        print(f"{PROG}: seeds {first}..{last}: {len(checkpoint.done)} of {total_chunks} chunks, "
              f"{merged.runs} runs, {merged.failed_seeds} failed, {len(merged.failures)} distinct "
              f"failure{'s' if len(merged.failures) != 1 else ''}"
              + (" (interrupted: the same command resumes)" if interrupted and args.checkpoint else
                 " (interrupted)" if interrupted else ""))
    if not merged.failures and not any(os.scandir(args.artifacts)):
        os.rmdir(args.artifacts)
    if status:
        return status
    return 1 if merged.failures else 0


def main(argv=None) -> int:
    parser = build_parser()
    try:
        return run_campaign(parser.parse_args(argv))
    except UsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
