"""The measurements: each takes running servers and adds rows to the report.

Every Smyth figure is measured right next to its uvicorn counterpart, so that both see the
same machine: the ratio is what counts, not the absolute number.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from project import Projects, answer, baseline_source, handler_source, reference_script
from report import Report, Row
from servers import PYTHON, Server, free_port, load, rss_mb, smyth_command, uvicorn_command


@dataclass
class Settings:
    latency_requests: int
    throughput_seconds: float
    reloads: int
    startups: int
    rounds: int  # the sides take turns this many times, so a burst of load elsewhere on
    # the machine lands on both rather than on one


FULL = Settings(latency_requests=4000, throughput_seconds=3.0, reloads=7, startups=5, rounds=3)
SHORT = Settings(latency_requests=800, throughput_seconds=1.0, reloads=3, startups=2, rounds=1)


def interleaved(urls: dict[str, str], rounds: int, **options: float) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    """Run the load generator against each URL in turn, ``rounds`` times."""
    results: dict[str, list[dict]] = {name: [] for name in urls}  # type: ignore[type-arg]
    for _ in range(rounds):
        for name, url in urls.items():
            results[name].append(load(url, **options))
    return results


def merged_latency(runs: list[dict]) -> dict[str, float]:  # type: ignore[type-arg]
    samples = sorted(s for run in runs for s in run["samples"])
    return {"p50_us": percentile(samples, 50), "p99_us": percentile(samples, 99),
            "errors": sum(run["errors"] for run in runs)}


def percentile(samples: list[float], pct: float) -> float:
    return samples[min(len(samples) - 1, round(pct / 100 * (len(samples) - 1)))]


def merged_rps(runs: list[dict]) -> dict[str, float]:  # type: ignore[type-arg]
    errors = sum(run["errors"] for run in runs)
    detail = {k: v for run in runs for k, v in run.items() if k.startswith(("status_", "first_"))}
    return {"rps": statistics.median(run["rps"] for run in runs), "errors": errors, **detail}


def ratio_at_most(row: Row, limit: float) -> Row:
    row.target = f"≤ {limit:.1f}x"
    row.passed = row.ratio is not None and row.ratio <= limit
    return row


# -- startup ------------------------------------------------------------------------
def startup(report: Report, projects: Projects, settings: Settings, logs: Path) -> None:
    """Command → first 200, each run a fresh process with the default options."""
    report.section("startup: command → first 200")
    times: dict[str, list[float]] = {"uvicorn": [], "smyth": [], "smyth3": []}
    for i in range(settings.startups):
        for key, cwd, command, path in (
            ("uvicorn", projects.baseline, uvicorn_command, "/c1"),
            ("smyth", projects.single, smyth_command, "/c1"),
            ("smyth3", projects.smyth, smyth_command, "/c4"),
        ):
            port = free_port()
            with Server(f"startup-{key}-{i}", command(port), cwd, port, logs) as server:
                times[key].append(server.wait_ok(path))
    uvicorn = statistics.median(times["uvicorn"])
    report.add(ratio_at_most(Row("startup, 1 handler (median)", statistics.median(times["smyth"]) * 1000,
                                 "ms", uvicorn * 1000), 1.5))
    report.add(Row("startup, 3 handlers / 6 processes (median)",
                   statistics.median(times["smyth3"]) * 1000, "ms", uvicorn * 1000))


# -- the request path ------------------------------------------------------------------
def latency(report: Report, smyth: Server, uvicorn: Server, relay: Server,
            settings: Settings) -> None:
    report.section("warm latency: sequential requests on one keep-alive connection")
    n = settings.latency_requests
    runs = interleaved({"uvicorn": f"http://127.0.0.1:{uvicorn.port}/c1",
                        "smyth": f"http://127.0.0.1:{smyth.port}/c1",
                        "floor": f"http://127.0.0.1:{relay.port}/c1"},
                       settings.rounds, requests=n // settings.rounds)
    base, ours, floor = (merged_latency(runs[k]) for k in ("uvicorn", "smyth", "floor"))
    errors = int(base["errors"] + ours["errors"])
    note = (f"{n} requests each, in {settings.rounds} turns; errors: smyth {ours['errors']}, "
            f"uvicorn {base['errors']}")
    report.add(ratio_at_most(Row("warm latency p50", ours["p50_us"], "us", base["p50_us"],
                                 errors=errors, note=note), 2.0))
    report.add(ratio_at_most(Row("warm latency p99", ours["p99_us"], "us", base["p99_us"]), 3.0))
    report.add(Row(f"  {FLOOR}, p50", floor["p50_us"], "us", base["p50_us"],
                   note="the least a gateway + handler process can cost here (bench/relay.py)"))
    report.add(Row(f"  {FLOOR}, p99", floor["p99_us"], "us", base["p99_us"]))


FLOOR = "floor: bare relay to a child"
THROUGHPUT_TARGETS = {(1, 4): 0.30, (1, 16): 0.30, (4, 16): 0.40}


def throughput(report: Report, smyth: Server, uvicorn: Server, relay: Server,
               settings: Settings) -> None:
    seconds = settings.throughput_seconds / settings.rounds
    report.section(f"requests/s: N clients, each one request at a time, "
                   f"{settings.rounds} turns of {seconds:.0f} s each (median)")
    for clients in (1, 4, 16):
        urls = {"uvicorn": f"http://127.0.0.1:{uvicorn.port}/c1",
                "c1": f"http://127.0.0.1:{smyth.port}/c1",
                "c4": f"http://127.0.0.1:{smyth.port}/c4"}
        # The relay floor beside each target: what the process hop alone leaves of uvicorn.
        floors = [c for c in (1, 4) if (c, clients) in THROUGHPUT_TARGETS]
        urls.update({f"floor{c}": f"http://127.0.0.1:{relay.port}/c{c}" for c in floors})
        runs = interleaved(urls, settings.rounds, clients=clients, seconds=seconds)
        base = merged_rps(runs["uvicorn"])
        for concurrency in (1, 4):
            ours = merged_rps(runs[f"c{concurrency}"])
            errors = int(ours["errors"] + base["errors"])
            row = Row(f"requests/s, concurrency {concurrency}, {clients} client"
                      + ("s" if clients > 1 else ""), ours["rps"], "rps", base["rps"],
                      errors=errors)
            limit = THROUGHPUT_TARGETS.get((concurrency, clients))
            ratio_ok = limit is None or (row.ratio is not None and row.ratio >= limit)
            row.target = (f"≥ {limit:.2f}x, " if limit else "") + "0 errors"
            row.passed = ratio_ok and errors == 0
            if errors:
                detail = {k: v for k, v in ours.items() if k != "rps"}
                row.note = f"smyth errors: {detail}; uvicorn errors: {base['errors']}"
            report.add(row)
            if concurrency in floors:
                floor = merged_rps(runs[f"floor{concurrency}"])
                report.add(Row(f"  floor: bare relay, c{concurrency}, {clients} clients",
                               floor["rps"], "rps", base["rps"]))


def warm_up(smyth: Server, uvicorn: Server, relay: Server) -> None:
    """Every replica warm and every server past its first requests before measuring."""
    for concurrency in (1, 4):
        load(f"http://127.0.0.1:{smyth.port}/c{concurrency}", clients=8, seconds=0.5)
        load(f"http://127.0.0.1:{relay.port}/c{concurrency}", clients=8, seconds=0.5)
    load(f"http://127.0.0.1:{uvicorn.port}/c1", clients=8, seconds=0.5)


def reference_rss(root: Path, module: str) -> float:
    proc = subprocess.Popen([PYTHON, "-c", reference_script(root, module)], cwd=root,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        return rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def memory(report: Report, smyth: Server, uvicorn: Server, projects: Projects) -> None:
    report.section("memory: resident set size (VmRSS), after the load above")
    status = smyth.status()["handlers"]
    replicas = [rss_mb(r["pid"]) for h in status.values() for r in h["replicas"]]
    c4 = [rss_mb(r["pid"]) for r in status["c4"]["replicas"]]
    bare = reference_rss(projects.smyth, "")
    with_handler = reference_rss(projects.smyth, "handlers.four")
    handler_imports = max(with_handler - bare, 0.0)
    per_replica = statistics.median(c4) - handler_imports
    gateway = rss_mb(smyth.proc.pid)
    base = rss_mb(uvicorn.proc.pid)
    row = Row("memory per extra replica", per_replica, "MB", target="≤ 25 MB",
              note=f"a c4 replica {statistics.median(c4):.1f} MB, minus the handler's own imports "
                   f"{handler_imports:.1f} MB (bare python {bare:.1f} MB, importing the handler "
                   f"{with_handler:.1f} MB)")
    row.passed = per_replica <= 25
    report.add(row)
    report.add(Row("memory, gateway process", gateway, "MB", base))
    report.add(Row(f"memory, gateway + {len(replicas)} handler processes", gateway + sum(replicas),
                   "MB", base))


# -- reload --------------------------------------------------------------------------
def time_reloads(server: Server, path: str, write: Callable[[int], None], first_version: int,
                 count: int, count_refused: bool) -> tuple[list[float], int]:
    """Save a new version, then poll until the response shows it: seconds per edit."""
    times: list[float] = []
    errors = 0
    for version in range(first_version, first_version + count):
        time.sleep(0.4)  # let the previous reload settle, as between two real edits
        expected = answer(version)
        started = time.perf_counter()
        write(version)
        while True:
            reply = server.get(path)
            if reply is not None and reply[0] == 200 and reply[1] == expected:
                times.append(time.perf_counter() - started)
                break
            if (reply is None and count_refused) or (reply is not None and reply[0] != 200):
                errors += 1
            if time.perf_counter() - started > 30:
                raise RuntimeError(f"{server.name}: new code not served after 30 s")
            time.sleep(0.001)
    return times, errors


def reload_smyth(smyth: Server, projects: Projects, settings: Settings) -> tuple[list[float], int]:
    def write(version: int) -> None:
        projects.edit_file.write_text(handler_source(version, "Edited by the bench."))

    return time_reloads(smyth, "/edit", write, 2, settings.reloads, count_refused=True)


def reload_uvicorn(projects: Projects, settings: Settings, logs: Path) -> list[float]:
    port = free_port()
    with Server("uvicorn-reload", uvicorn_command(port, "--reload"), projects.baseline, port,
                logs) as server:
        server.wait_ok("/c1")

        def write(version: int) -> None:
            projects.baseline_file.write_text(baseline_source(version))

        times, _ = time_reloads(server, "/c1", write, 2, settings.reloads, count_refused=False)
    return times


def reload_rows(report: Report, ours: list[float], errors: int, base: list[float]) -> None:
    median, base_median = statistics.median(ours), statistics.median(base)
    row = Row("reload median", median * 1000, "ms", base_median * 1000, errors=errors,
              target="≤ 500 ms and ≤ 1.0x",
              note=f"{len(ours)} edits each; smyth {fmt_ms(ours)}; uvicorn {fmt_ms(base)}; "
                   f"failed requests while reloading: {errors}")
    row.passed = median <= 0.5 and row.ratio is not None and row.ratio <= 1.0 and errors == 0
    report.add(row)
    row = Row("reload max", max(ours) * 1000, "ms", max(base) * 1000, target="≤ 1000 ms")
    row.passed = max(ours) <= 1.0
    report.add(row)


def fmt_ms(times: list[float]) -> str:
    return " ".join(f"{t * 1000:.0f}" for t in times) + " ms"


# -- reload scope ----------------------------------------------------------------------
def replicas(status: dict, name: str) -> list[dict]:  # type: ignore[type-arg]
    return status["handlers"][name]["replicas"]  # type: ignore[no-any-return]


def pids(status: dict, names: tuple[str, ...]) -> dict[str, int]:  # type: ignore[type-arg]
    return {f"{n}[{r['index']}]": r["pid"] for n in names for r in replicas(status, n)}


def wait_generation(smyth: Server, names: tuple[str, ...], before: dict) -> dict:  # type: ignore[type-arg]
    """Wait until every replica of ``names`` runs a newer generation, started and idle."""
    deadline = time.perf_counter() + 15
    while time.perf_counter() < deadline:
        status = smyth.status()
        fresh = all(r["generation"] > old["generation"] and r["pid"] is not None
                    for n in names for r, old in zip(replicas(status, n), replicas(before, n)))
        if fresh:
            return status
        time.sleep(0.02)
    raise RuntimeError(f"{names} were not reloaded within 15 s")


def scope(report: Report, smyth: Server, projects: Projects, version: int) -> None:
    """Editing one handler's file replaces only its processes; a shared module, only its
    importers'. The others keep their pids, generation and warm state."""
    kept_names, edited_names = ("c1", "c4"), ("edit",)
    before = smyth.status()
    projects.edit_file.write_text(handler_source(version, "Edited by the bench."))
    after = wait_generation(smyth, edited_names, before)
    time.sleep(0.3)  # a wrongly reloaded replica would show by now
    after = smyth.status()
    kept = pids(before, kept_names) == pids(after, kept_names) and all(
        r["state"] == "warm" and r["generation"] == old["generation"]
        for n in kept_names for r, old in zip(replicas(after, n), replicas(before, n)))
    replaced = all(pids(before, edited_names)[k] != v for k, v in pids(after, edited_names).items())
    row = Row("reload scope: edit.py changed", None, "ms", target="only 'edit' replaced",
              passed=kept and replaced,
              note=f"edit {'replaced' if replaced else 'NOT replaced'}; c1 + c4 (5 processes) "
                   f"{'kept pid, generation and warm state' if kept else 'DISTURBED'}")
    report.add(row)

    before = after
    projects.shared_file.write_text("SHARED = 2\n")
    after = wait_generation(smyth, kept_names, before)
    time.sleep(0.3)
    after = smyth.status()
    replaced = all(pids(before, kept_names)[k] != v for k, v in pids(after, kept_names).items())
    kept = pids(before, edited_names) == pids(after, edited_names)
    report.add(Row("reload scope: shared.py changed", None, "ms",
                   target="only c1, c4 replaced", passed=kept and replaced,
                   note=f"c1 + c4 (importers of shared.py) {'replaced' if replaced else 'NOT replaced'}; "
                        f"edit {'kept' if kept else 'DISTURBED'}"))
