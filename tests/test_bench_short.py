"""The benchmark's short mode runs to the end, so that it cannot rot.

Only completion is checked: every figure printed, no request failed. Whether a ratio meets
its target is the benchmark's report to make, not a test's (timings on a shared machine
are not a pass/fail matter).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FIGURES = (
    "startup, 1 handler",
    "warm latency p50",
    "warm latency p99",
    *(f"requests/s, concurrency {c}, {n} client" for c in (1, 4) for n in (1, 4, 16)),
    "memory per extra replica",
    "memory, gateway + ",
    "reload median",
    "reload max",
    "reload scope: edit.py changed",
    "reload scope: shared.py changed",
)


def test_short_benchmark_prints_every_figure_without_request_errors() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--short"],
                          capture_output=True, text=True, timeout=240, cwd=ROOT,
                          check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for figure in FIGURES:
        lines = [line for line in output.splitlines() if line.startswith(figure)]
        assert lines, f"{figure!r} missing from:\n{output}"
        measured = lines[0][44:58].strip()  # the smyth column (bench/report.py COLUMNS)
        assert measured and (measured != "-" or "scope" in figure), lines[0]
    assert "request errors: 0" in output, output
    assert "targets met:" in output, output
