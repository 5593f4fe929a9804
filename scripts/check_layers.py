#!/usr/bin/python3
"""check_layers.py - the arrows between mqttsim's parts stay one way.

Reads the #include lines of every C file under the source folders and
fails (exit 1, one line per problem) when:

  - a file is in no layer of LAYERS below (a new folder or file must be
    placed on purpose: docs/architecture.md says where things go);
  - a quoted include does not resolve, as the compiler resolves it with
    -Iinclude -I., to a file of the tree (the folder of the including
    file first, then the root, then include/);
  - an include goes up a layer: codec (0) < cores (1) < drivers (2) <
    programs, tests and tools (3). So the codec includes nothing of
    ours but the codec, and a core includes no driver;
  - a file includes another part's *_internal.h (a part offers others
    only its public headers in include/mqttsim/ and the documented
    headers in its own folder that are not named *_internal.h);
  - a core or the codec includes a system header of I/O, threads or
    clocks (the sans-I/O rule, as far as includes can show it).

usage: check_layers.py [ROOT]     (default: the folder above this script)
Exit status: 0 when every arrow points down, 1 when one does not, 2 for
bad usage.
"""
import fnmatch
import os
import re
import sys

CODEC, CORE, DRIVER, PROGRAM = 0, 1, 2, 3
LEVEL_NAMES = {CODEC: "codec", CORE: "core", DRIVER: "driver", PROGRAM: "program"}

# (pattern, part, level), the first match wins. Patterns are fnmatch
# globs on the path from the root ('*' also matches '/').
LAYERS = [
    # Public headers, by the part that implements them.
    ("include/mqttsim/api.h", "codec", CODEC),
    ("include/mqttsim/codec.h", "codec", CODEC),
    ("include/mqttsim/error.h", "client", CORE),
    ("include/mqttsim/store.h", "client", CORE),
    ("include/mqttsim/session.h", "client", CORE),
    ("include/mqttsim/client.h", "client", DRIVER),
    ("include/mqttsim/mqtttest.h", "client", DRIVER),
    ("include/mqttsim/broker.h", "fakebroker", CORE),
    ("include/mqttsim/trigger.h", "fakebroker", CORE),
    ("include/mqttsim/fakebroker.h", "fakebroker", DRIVER),
    ("include/mqttsim/fault_engine.h", "faults", CORE),
    ("include/mqttsim/faults.h", "faults", DRIVER),
    ("include/mqttsim/pcap.h", "capture", DRIVER),
    # Programs, tests and tools: anything below them.
    ("*/program/*", None, PROGRAM),
    ("*/tests/*", None, PROGRAM),
    ("testing/*", "testing", PROGRAM),
    ("bench/*", "bench", PROGRAM),
    ("fuzz/*", "fuzz", PROGRAM),
    ("examples/*", "examples", PROGRAM),
    ("drivers/*", "drivers", PROGRAM),
    # The codec: bytes to packets and back, topic matching.
    ("codec/*", "codec", CODEC),
    # The client: the session core and the pure stores; the threaded
    # driver, transports, stubs and the stores that lock or touch disks.
    ("client/session*", "client", CORE),
    ("client/store_checked.c", "client", CORE),
    ("client/store_fs.c", "client", CORE),
    ("client/store_internal.h", "client", CORE),
    ("client/store_vfs.h", "client", CORE),
    ("client/crc32c.c", "client", CORE),
    ("client/*", "client", DRIVER),
    # The fake broker: its core; the serving thread.
    ("fakebroker/server.c", "fakebroker", DRIVER),
    ("fakebroker/*", "fakebroker", CORE),
    # Faults: plans and the engine; the fault-injecting transport.
    ("faults/plan.c", "faults", CORE),
    ("faults/link.c", "faults", CORE),
    ("faults/fastmod.h", "faults", CORE),
    ("faults/*", "faults", DRIVER),
    # Captures: the replay core and the model it plays; loading and the
    # pcap reader and writer.
    ("capture/replay/replay.[ch]", "capture", CORE),
    ("capture/replay/captured.h", "capture", CORE),
    ("capture/*", "capture", DRIVER),
    # Scenarios: the language and the oracle are cores; the simulator,
    # the real-time runner and the shrinker drive them.
    ("scenarios/lang/*", "scenarios", CORE),
    ("scenarios/oracle/*", "scenarios", CORE),
    ("scenarios/sim/*", "scenarios", DRIVER),
    ("scenarios/real/*", "scenarios", DRIVER),
    ("scenarios/shrink/*", "scenarios", DRIVER),
    ("scenarios/explore/*", "scenarios", DRIVER),
    # Reports: results as JSON and JUnit, charts and the HTML page.
    ("scenarios/report/*", "scenarios", DRIVER),
]

# Folders whose C files are checked (build output and the rest are not).
SOURCE_DIRS = ["include", "codec", "client", "fakebroker", "faults", "capture", "scenarios",
               "testing", "bench", "fuzz", "examples"]

# System headers a core (or the codec) must not include: sockets, polling,
# threads, clocks, files, processes, TLS and captures belong to drivers.
IO_HEADERS = re.compile(r"^(pthread\.h|threads\.h|time\.h|sys/time\.h|unistd\.h|fcntl\.h|dirent\.h|"
                        r"poll\.h|signal\.h|netdb\.h|sys/socket\.h|sys/epoll\.h|sys/stat\.h|"
                        r"netinet/.*|arpa/.*|openssl/(ssl|bio)\.h|pcap\.h|pcap/.*)$")

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def classify(path):
    for pattern, part, level in LAYERS:
        if fnmatch.fnmatchcase(path, pattern):
            return (part or path.split("/")[0]), level
    return None


def resolve(root, path, name):
    for base in (os.path.dirname(path), "", "include"):
        candidate = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(os.path.join(root, candidate)):
            return candidate
    return None


def sources(root):
    for top in SOURCE_DIRS:
        for folder, dirs, files in os.walk(os.path.join(root, top)):
            dirs.sort()
            for f in sorted(files):
                if f.endswith((".c", ".h", ".cpp", ".hpp")):
                    yield os.path.relpath(os.path.join(folder, f), root)


def check(root):
    problems = []
    for path in sources(root):
        where = classify(path)
        if where is None:
            problems.append(f"{path}: in no layer: add it to LAYERS in scripts/check_layers.py "
                            "(docs/architecture.md says where a new piece goes)")
            continue
        part, level = where
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        for number, line in enumerate(lines, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            kind, name = m.groups()
            at = f"{path}:{number}"
            if kind == "<":
                if level <= CORE and IO_HEADERS.match(name):
                    problems.append(f"{at}: a {LEVEL_NAMES[level]} includes <{name}>: I/O, threads "
                                    "and clocks belong to drivers")
                continue
            target = resolve(root, path, name)
            if target is None:
                problems.append(f'{at}: "{name}" is no file of the tree (includes name their part: '
                                '"mqttsim/x.h", "part/x.h" from the root, or "x.h" in the same folder)')
                continue
            twhere = classify(target)
            if twhere is None:
                continue  # reported as a file of its own
            tpart, tlevel = twhere
            if tlevel > level:
                problems.append(f'{at}: "{name}" goes up: a {LEVEL_NAMES[level]} ({part}) includes '
                                f"a {LEVEL_NAMES[tlevel]} ({target})")
            if target.endswith("_internal.h") and tpart != part:
                problems.append(f'{at}: "{name}" is internal to {tpart}/: use its public or '
                                "documented interface")
    return problems


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__.strip(), file=sys.stdout if len(argv) == 2 else sys.stderr)
        return 0 if len(argv) == 2 else 2
    root = argv[1] if len(argv) == 2 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.isdir(os.path.join(root, "include", "mqttsim")):
        print(f"check_layers: {root}: not an mqttsim source tree", file=sys.stderr)
        return 2
    problems = check(root)
    for p in problems:
        print(p)
    files = sum(1 for _ in sources(root))
    if problems:
        print(f"check_layers: {len(problems)} problem{'s' if len(problems) != 1 else ''} "
              f"in {files} files", file=sys.stderr)
        return 1
    print(f"check_layers: {files} files, every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
