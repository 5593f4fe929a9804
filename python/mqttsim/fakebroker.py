"""The standalone fakebroker from Python: start it on a free loopback port
with a control socket, script and inspect it, stop it by its own PID."""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

from mqttsim.programs import program, stop_process


class FakeBroker:
    """A running `fakebroker`: host, port (of the first TCP listener),
    listeners (every "listening" line), and control commands."""

    def __init__(self, *args, tmp: pathlib.Path = None, exe=None):
        self.dir = tempfile.mkdtemp(prefix="fakebroker-", dir=tmp)
        self.control_path = os.path.join(self.dir, "control.sock")
        self._socket_dir = None
        if len(self.control_path) > 100:
            # A unix socket's path has at most 107 bytes: deep test folders
            # get the socket in a short folder of its own.
            self._socket_dir = tempfile.mkdtemp(prefix="fb-", dir="/tmp")
            self.control_path = os.path.join(self._socket_dir, "control.sock")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        args = list(args)
        listeners = sum(1 for a in args if a == "--listen" or a.startswith("--listen="))
        if not listeners:
            args = ["--listen", "tcp://127.0.0.1:0"] + args
            listeners = 1
        self.exe = exe or program("fakebroker")
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [self.exe, "--control", "unix:" + self.control_path, "-v", *args],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.listeners = []
        for _ in range(listeners):
            line = self.proc.stdout.readline()
            if not line.startswith("listening "):
                self.stop()
                raise RuntimeError(f"fakebroker said {line!r}; stderr: {self.log()}")
            self.listeners.append(line.split()[1:])
        self.host, self.port = None, None
        for kind, where in self.listeners:
            if kind == "tcp" and not where.startswith("["):
                self.host, port = where.rsplit(":", 1)
                self.port = int(port)
                break
        self._control = None

    def log(self) -> str:
        self.stderr.flush()
        return pathlib.Path(self.stderr_path).read_text()

    def command(self, cmd: str, **fields) -> dict:
        """Sends one control command and returns the reply; raises on an
        error reply (the message says why)."""
        reply = self.command_raw(json.dumps({"cmd": cmd, **fields}))
        if not reply.get("ok"):
            raise RuntimeError(f"{cmd}: {reply.get('error')}")
        return reply

    def command_raw(self, line: str) -> dict:
        if self._control is None:
            deadline = time.monotonic() + 5
            while True:
                try:
                    sock = socket.socket(socket.AF_UNIX)
                    sock.connect(self.control_path)
                    break
                except OSError:
                    sock.close()
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            self._control = sock.makefile("rw")
        self._control.write(line + "\n")
        self._control.flush()
        reply = self._control.readline()
        if not reply:
            raise EOFError("control connection closed")
        return json.loads(reply)

    def rule(self, text: str) -> int:
        return self.command("rule", rule=text)["id"]

    def packets(self, since: int = 0, max: int = 100000, **match) -> list:
        """Recorded packets; match filters on fields (type="PUBLISH", dir="b2c")."""
        got = self.command("packets", since=since, max=max)["packets"]
        return [p for p in got if all(p.get(k) == v for k, v in match.items())]

    def stats(self) -> dict:
        return self.command("stats")

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; log:\n{self.log()}")
            time.sleep(0.02)

    def rss_kib(self) -> int:
        for line in pathlib.Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> int:
        if self._control is not None:
            self._control.close()
            self._control = None
        stop_process(self.proc)
        self.stderr.close()
        if self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        return self.proc.returncode
