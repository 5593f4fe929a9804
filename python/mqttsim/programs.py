"""Where the mqttsim programs are: MQTTSIM_<NAME> in the environment (a
path), else the PATH."""
import os
import shutil
import subprocess


def program(name: str) -> str:
    """The path of program name ("fakebroker", "faultproxy", ...)."""
    variable = "MQTTSIM_" + name.upper()
    path = os.environ.get(variable)
    if path:
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"{variable}={path} is not an executable program")
        return path
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: put mqttsim's bin folder on PATH "
                                f"(make install) or set {variable} to the program")
    return found


def stop_process(proc: subprocess.Popen) -> int:
    """Stops proc (SIGTERM, then SIGKILL after 10 s) by its own PID and
    closes its standard output; returns its exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()
    return proc.returncode
