"""Shared fixtures: projects written to tmp dirs, and ``smyth run`` as a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

STARTUP_DEADLINE = 30.0
T = TypeVar("T")
# Stress tests run a short mode by default (CI) and their full size with SMYTH_STRESS=full.
STRESS_FULL = os.environ.get("SMYTH_STRESS", "").lower() == "full"
FIGURES: list[str] = []  # lines the stress tests report, printed after the session
BANNER = re.compile(r"Smyth serving .* on (http://[^\s]+)")


def write_project(root: Path, config: str, files: dict[str, str]) -> Path:
    """A project: ``pyproject.toml`` holding ``config`` (TOML) and the given source files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(textwrap.dedent(config))
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root


def wait_for(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.02,
             message: str = "condition") -> T:
    """Poll ``condition`` until it returns a truthy value, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def descendants(pid: int) -> set[int]:
    """Live descendant pids of ``pid``, read from /proc (zombies excluded)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class SmythRun:
    """``smyth run`` started in ``project`` as a real process on a free loopback port."""

    def __init__(self, project: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.project = project
        self.log_path = Path(tempfile.mkstemp(prefix="smyth-run-", suffix=".log")[1])
        self._log = open(self.log_path, "w+")  # noqa: SIM115  (closed by stop/kill_tree)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smyth", "run", "--port", "0", *args],
            cwd=project, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
        )
        self.url = ""

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def wait_ready(self, timeout: float = STARTUP_DEADLINE) -> SmythRun:
        def ready() -> str | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"smyth run exited {self.proc.returncode}:\n{self.output}")
            match = BANNER.search(self.output)
            return match.group(1) if match else None

        self.url = wait_for(ready, timeout, message="smyth run to start")

        def answers() -> bool:
            try:
                return httpx.get(f"{self.url}/__/status", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, timeout, message="the gateway to answer")
        return self

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30.0), **kwargs)

    def status(self) -> dict:
        return httpx.get(f"{self.url}/__/status", timeout=10).json()

    def children(self) -> set[int]:
        return descendants(self.proc.pid)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill_tree(self) -> None:
        pids = self.children() if self.proc.poll() is None else set()
        for pid in [self.proc.pid, *pids]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self._log.close()


@pytest.fixture
def smyth_run() -> Iterator:
    """Start ``smyth run`` in a project: ``smyth_run(project, *args)``; cleaned up after."""
    started: list[SmythRun] = []

    def start(project: Path, *args: str, env: dict[str, str] | None = None,
              ready: bool = True) -> SmythRun:
        run = SmythRun(project, *args, env=env)
        started.append(run)
        return run.wait_ready() if ready else run

    yield start
    for run in started:
        if run.proc.poll() is None:
            run.kill_tree()


def stress_size(short: int, full: int) -> int:
    """How many requests, cycles or examples a stress test runs in this mode."""
    return full if STRESS_FULL else short


@pytest.fixture
def report() -> Callable[[str], None]:
    """``report("load: sent 10000, answered 10000, lost 0")``: a figure for the summary."""
    return FIGURES.append


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section(f"stress figures ({'full' if STRESS_FULL else 'short'} mode)")
        for line in FIGURES:
            terminalreporter.write_line(line)
