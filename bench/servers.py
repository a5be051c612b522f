"""Starting, probing and stopping the servers under test, and reading their memory."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PYTHON = sys.executable
BENCH = Path(__file__).resolve().parent
STARTUP_DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes] | None:
    """One GET on a fresh connection; None when nothing answers (yet)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def smyth_command(port: int, *args: str) -> list[str]:
    return [PYTHON, "-m", "smyth", "run", "--port", str(port), *args]


def uvicorn_command(port: int, *args: str, app: str = "baseline:app") -> list[str]:
    # The settings Smyth's gateway gives uvicorn's HTTP path (smyth/server.py); loop and http
    # stay "auto", so both sides get uvloop and httptools when installed. (The gateway also
    # turns websockets off; the baseline keeps uvicorn's default, as a developer runs it.)
    return [PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--lifespan", "off", "--no-server-header", *args]


class Server:
    """A server process in its own session, its output in a log file."""

    def __init__(self, name: str, argv: list[str], cwd: Path, port: int, log_dir: Path) -> None:
        self.name = name
        self.port = port
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed by stop())
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes] | None:
        return get(self.port, path, timeout)

    def wait_ok(self, path: str, deadline: float = STARTUP_DEADLINE, interval: float = 0.002) -> float:
        """Poll until ``path`` answers 200; return seconds since the command started."""
        limit = time.perf_counter() + deadline
        while True:
            answer = get(self.port, path, timeout=deadline)
            if answer is not None and answer[0] == 200:
                return time.perf_counter() - self.started
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.output()}")
            if time.perf_counter() > limit:
                raise RuntimeError(f"{self.name}: no 200 from {path} in {deadline:.0f} s:\n"
                                   f"{self.output()}")
            time.sleep(interval)

    def status(self) -> dict[str, Any]:
        answer = self.get("/__/status")
        if answer is None or answer[0] != 200:
            raise RuntimeError(f"{self.name}: GET /__/status failed: {answer}")
        return json.loads(answer[1])  # type: ignore[no-any-return]

    def stop(self, timeout: float = 15.0) -> None:
        """Ctrl-C as a developer would; the whole session is killed if that fails."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything the server left behind
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self._log.close()

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def load(url: str, **options: float) -> dict[str, Any]:
    """Run the load generator (bench/load.py) in its own process."""
    argv = [PYTHON, str(BENCH / "load.py"), url]
    for key, value in options.items():
        argv += [f"--{key}", str(value)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]
