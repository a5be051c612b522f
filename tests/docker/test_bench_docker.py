"""The benchmark's Docker section in short mode runs to the end, so that it cannot rot.

As in ``tests/test_bench_short.py``, only completion is checked: every Docker figure is
printed with a measured value and no request failed. Whether it meets its target is the
benchmark's report to make.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from stackkit import base_image, docker_client  # noqa: F401  (fixtures)

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
FIGURES = (
    "docker: smyth up, cached image, 3 handlers",
    "docker: warm latency p50",
    "  floor: bare relay in one container, p50",
    "docker: reload median",
    "docker: reload max",
)


def test_short_benchmark_prints_every_docker_figure(base_image):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--short", "--only", "docker"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, check=False,
        env={**os.environ, "SMYTH_BASE_IMAGE": base_image})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for figure in FIGURES:
        lines = [line for line in output.splitlines() if line.startswith(figure)]
        assert lines, f"{figure!r} missing from:\n{output}"
        measured = lines[0][44:58].strip()  # the smyth column (bench/report.py COLUMNS)
        assert measured and measured != "-", lines[0]
    assert "request errors: 0" in output, output
