"""faultproxy from Python: between a client and a broker on free loopback
ports, stopped by its own PID."""
import os
import pathlib
import subprocess
import tempfile

from mqttsim.programs import program, stop_process


class FaultProxy:
    """A running `faultproxy` in front of upstream_port: .host, .port (where
    clients connect), .log(), .faults_applied() (one line per fault)."""

    def __init__(self, upstream_port, faults, seed=1, extra=(), tmp=None, host="127.0.0.1",
                 exe=None):
        self.dir = tempfile.mkdtemp(prefix="faultproxy-", dir=tmp)
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        args = [exe or program("faultproxy"), "--upstream",
                f"tcp://{host}:{upstream_port}", "--seed", str(seed), *extra]
        for f in faults:
            args += ["--fault", f]
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening tcp "):
            self.stop()
            raise RuntimeError(f"faultproxy said {line!r}; stderr: {self.log()}")
        self.host, port = line.split()[2].rsplit(":", 1)
        self.port = int(port)

    def log(self) -> str:
        self.stderr.flush()
        return pathlib.Path(self.stderr_path).read_text()

    def faults_applied(self) -> list:
        return [line for line in self.log().splitlines() if line.startswith("t=")]

    def stop(self) -> int:
        stop_process(self.proc)
        self.stderr.close()
        return self.proc.returncode
