"""Smyth's benchmark: every figure of issue 6 beside plain uvicorn serving the same JSON.

    python bench/run.py            # full mode, under 2 minutes
    python bench/run.py --short    # CI mode, about 30 s: the same figures, fewer samples
    python bench/run.py --docker   # adds the Docker-mode section (needs `smyth up`)

Ratios are Smyth / uvicorn, measured side by side in this one run. Exit status 1 when a
request failed (or the run could not finish), 0 otherwise: targets are reported, not
enforced, because a shared machine's timings are not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures
from project import Projects, write_projects
from report import Report
from servers import Server, free_port, smyth_command, uvicorn_command


def installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def compile_smyth(report: Report) -> None:
    """Byte-compile Smyth's modules, as ``pip install`` does for uvicorn's and Starlette's.

    An editable install leaves that to the first import, and under PYTHONDONTWRITEBYTECODE
    (set on these machines) it never happens: every start, and every handler process, would
    compile Smyth from source while the baseline loads compiled bytecode."""
    import compileall

    import smyth

    package = Path(smyth.__file__).resolve().parent
    compileall.compile_dir(str(package), quiet=1)
    report.print(f"Smyth's modules byte-compiled in {package}, as an installed package's are.")


def describe(report: Report, mode: str) -> None:
    report.print(f"Smyth benchmark ({mode} mode): Python {platform.python_version()}, "
                 f"uvicorn {installed('uvicorn')}, uvloop {installed('uvloop')}, "
                 f"httptools {installed('httptools')}, {os.cpu_count()} CPUs, "
                 f"load average {os.getloadavg()[0]:.2f}")
    report.print("Baseline: plain uvicorn serving the same JSON from a bare ASGI app, with the "
                 "gateway's uvicorn settings. Ratio = smyth / uvicorn.")


SECTIONS = ("startup", "latency", "throughput", "memory", "reload")


def request_path(report: Report, projects: Projects, settings: figures.Settings, logs: Path,
                 sections: set[str]) -> None:
    """Latency, throughput, memory and reload on one long-running pair of servers."""
    smyth_port, uvicorn_port, relay_port = free_port(), free_port(), free_port()
    with Server("smyth", smyth_command(smyth_port), projects.smyth, smyth_port, logs) as smyth, \
            Server("uvicorn", uvicorn_command(uvicorn_port), projects.baseline, uvicorn_port,
                   logs) as uvicorn, \
            Server("relay", uvicorn_command(relay_port, app="relay:app"), projects.baseline,
                   relay_port, logs) as relay:
        smyth.wait_ok("/c4")
        uvicorn.wait_ok("/c1")
        relay.wait_ok("/c4")
        figures.warm_up(smyth, uvicorn, relay)
        if "latency" in sections:
            figures.latency(report, smyth, uvicorn, relay, settings)
        if "throughput" in sections:
            figures.throughput(report, smyth, uvicorn, relay, settings)
        if "memory" in sections:
            figures.memory(report, smyth, uvicorn, projects)
        if "reload" in sections:
            report.section("reload: file saved → first response showing the new code")
            ours, errors = figures.reload_smyth(smyth, projects, settings)
            base = figures.reload_uvicorn(projects, settings, logs)
            figures.reload_rows(report, ours, errors, base)
            figures.scope(report, smyth, projects, version=2 + settings.reloads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="fewer samples, for CI")
    parser.add_argument("--docker", action="store_true", help="add the Docker-mode figures")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument("--only", action="append", choices=(*SECTIONS, "docker"), default=[],
                        help="measure only this section (repeatable); for profiling")
    args = parser.parse_args(argv)
    settings = figures.SHORT if args.short else figures.FULL
    report = Report()
    started = time.perf_counter()
    describe(report, "short" if args.short else "full")
    compile_smyth(report)
    work = Path(tempfile.mkdtemp(prefix="smyth-bench-"))
    logs = work / "logs"
    logs.mkdir()
    projects = write_projects(work)
    try:
        sections = set(args.only or SECTIONS) | ({"docker"} if args.docker else set())
        if "startup" in sections:
            figures.startup(report, projects, settings, logs)
        if sections - {"startup", "docker"}:
            request_path(report, projects, settings, logs, sections)
        if "docker" in sections:
            from docker_mode import docker_section

            docker_section(report, work, settings, logs)
    except Exception as exc:  # noqa: BLE001 (any failure ends the run with its reason)
        report.print(f"\nbenchmark failed: {exc}\n(logs in {logs})")
        return 1
    report.summary()
    report.print(f"benchmark time: {time.perf_counter() - started:.0f} s"
                 + (f"; work directory {work}" if args.keep else ""))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
