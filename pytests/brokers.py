"""Private brokers for tests: mosquitto on a free loopback port, started by
the test with its own configuration and stopped by its own PID."""
import contextlib
import getpass
import pathlib
import shutil
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"broker not listening on {port}")


@contextlib.contextmanager
def mosquitto(tmp: pathlib.Path, extra: str = ""):
    """Yields (port, log path). max_inflight_messages 0 and a large queue:
    otherwise mosquitto itself drops QoS 0 under load."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = tmp / "mosquitto.conf"
    log = tmp / "mosquitto.log"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\n"
        "max_queued_messages 1000000\npersistence false\nsys_interval 0\n"
        # Run as the test's user: as root, mosquitto would switch to the
        # user "mosquitto", who cannot read the test's private files.
        f"user {getpass.getuser()}\n" + extra)
    with open(log, "w") as out:
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc)
        yield port, log
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_pki(tmp: pathlib.Path) -> dict:
    """A CA, a server certificate for localhost / 127.0.0.1 and a client
    certificate, made with the openssl command."""
    def sh(*args):
        subprocess.run(args, cwd=tmp, check=True, capture_output=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sh("openssl", "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
       "-subj", "/CN=mqttsim test CA")
    for name, cn, san in (("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
                          ("client", "probe-client", "extendedKeyUsage=clientAuth")):
        sh("openssl", "req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
           "-subj", f"/CN={cn}")
        (tmp / f"{name}.ext").write_text(san + "\n")
        sh("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
           "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    return {n: str(tmp / n) for n in ("ca.crt", "server.crt", "server.key", "client.crt",
                                      "client.key")}
