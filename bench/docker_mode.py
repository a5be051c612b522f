"""The Docker-mode figures (``--docker``): ``smyth up`` with a cached image, warm latency
through the gateway container, and reload through the bind mount.

It needs a running engine and a base image: ``$SMYTH_BASE_IMAGE``, else the test suite's
offline ``smyth-test-base:bookworm`` (``tests/docker/build-base-image.sh`` builds it).
The stack is always named ``smythbench``, so its image (a hash of what went into it, never
the code) is built by the first run on a machine and reused by every later one. Every
container and the network are removed at the end, by ``smyth down`` and then by label.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from figures import Settings, interleaved, merged_latency, time_reloads
from project import handler_source, write_handlers
from report import Report, Row
from servers import PYTHON, Server, free_port, get, load, uvicorn_command

PROJECT = "smythbench"
BASE_IMAGE = os.environ.get("SMYTH_BASE_IMAGE", "smyth-test-base:bookworm")

# Lambda's CPU share for 128 MB is 7% of a core: the figures here are about the gateway and
# the transport, so every worker gets one full CPU, as a 1,769 MB function would.
CONFIG = f"""\
[tool.smyth]
host = "127.0.0.1"

[tool.smyth.docker]
project_name = "{PROJECT}"
base_image = "{BASE_IMAGE}"

[tool.smyth.handlers.c1]
handler_path = "handlers.one.handler"
url_path = "/c1"
cpus = 1.0

[tool.smyth.handlers.c4]
handler_path = "handlers.four.handler"
url_path = "/c4"
concurrency = 4
cpus = 1.0

[tool.smyth.handlers.edit]
handler_path = "handlers.edit.handler"
url_path = "/edit"
cpus = 1.0
"""


def smyth(root: Path, *args: str, timeout: float = 900) -> tuple[float, str]:
    """Run the smyth CLI; seconds it took and its output. Raises on a non-zero exit."""
    started = time.perf_counter()
    done = subprocess.run([PYTHON, "-m", "smyth", *args], cwd=root, text=True, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"smyth {' '.join(args)} exited {done.returncode}:\n{done.stdout}")
    return time.perf_counter() - started, done.stdout


def gateway_port() -> int:
    import docker

    client = docker.from_env()
    try:
        [gateway] = client.containers.list(filters={"label": [f"dev.smyth.project={PROJECT}",
                                                              "dev.smyth.role=gateway"]})
        return int(gateway.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])
    finally:
        client.close()


def sweep() -> None:
    """Whatever still carries the project's label: containers, then the network."""
    import docker

    client = docker.from_env()
    try:
        label = {"label": f"dev.smyth.project={PROJECT}"}
        for container in client.containers.list(all=True, filters=label):
            container.remove(force=True)
        for network in client.networks.list(filters=label):
            network.remove()
    finally:
        client.close()


def up(root: Path) -> float:
    """``smyth up -d`` until the command returns and every handler answers 200."""
    started = time.perf_counter()
    smyth(root, "up", "-d", "-p", "0")
    port = gateway_port()
    for path in ("/c1", "/c4", "/edit"):
        while (answer := get(port, path)) is None or answer[0] != 200:
            if time.perf_counter() - started > 300:
                raise RuntimeError(f"smyth up: {path} does not answer 200: {answer}")
            time.sleep(0.01)
    return time.perf_counter() - started


def docker_section(report: Report, work: Path, settings: Settings, logs: Path) -> None:
    report.section("Docker mode (smyth up): gateway container → worker containers")
    root = work / "docker"
    write_handlers(root, CONFIG, with_shared=True)
    sweep()
    try:
        first = up(root)  # builds the image unless an earlier run did
        smyth(root, "down")
        ups = []
        for _ in range(max(1, settings.startups // 2)):
            ups.append(up(root))
            if len(ups) < max(1, settings.startups // 2):
                smyth(root, "down")
        row = Row("docker: smyth up, cached image, 3 handlers", statistics.median(ups) * 1000,
                  "ms", target="≤ 5000 ms",
                  note=f"6 workers + gateway, until every handler answers 200; runs {' '.join(f'{t:.1f}' for t in ups)}"
                       f" s; the first up of this run took {first:.1f} s")
        row.passed = statistics.median(ups) <= 5.0
        report.add(row)
        latency(report, gateway_port(), settings, logs, work)
        reload(report, root, gateway_port(), settings)
    finally:
        try:
            smyth(root, "down", timeout=300)
        finally:
            sweep()


def latency(report: Report, port: int, settings: Settings, logs: Path, work: Path) -> None:
    n = settings.latency_requests
    uv_port = free_port()
    with Server("uvicorn-docker", uvicorn_command(uv_port), work / "baseline", uv_port,
                logs) as uvicorn, relay_containers(work / "baseline") as (floor_port, two_port):
        uvicorn.wait_ok("/c1")
        for warm in (port, floor_port, two_port):
            load(f"http://127.0.0.1:{warm}/c1", clients=4, seconds=0.5)
        runs = interleaved({"uvicorn": f"http://127.0.0.1:{uv_port}/c1",
                            "smyth": f"http://127.0.0.1:{port}/c1",
                            "floor": f"http://127.0.0.1:{floor_port}/c1",
                            "two": f"http://127.0.0.1:{two_port}/c1"},
                           settings.rounds, requests=n // settings.rounds)
        base, ours = merged_latency(runs["uvicorn"]), merged_latency(runs["smyth"])
        floor, two = merged_latency(runs["floor"]), merged_latency(runs["two"])
    row = Row("docker: warm latency p50", ours["p50_us"], "us", base["p50_us"],
              errors=int(ours["errors"]), note=f"p99 {ours['p99_us']:,.0f} µs vs uvicorn "
                                          f"{base['p99_us']:,.0f} µs; errors {ours['errors']}")
    row.target, row.passed = "≤ 3.0x", row.ratio is not None and row.ratio <= 3.0
    report.add(row)
    report.add(Row("  floor: bare relay in one container, p50", floor["p50_us"], "us",
                   base["p50_us"], note="bench/relay.py in a container of the stack's image, "
                                        "published on 127.0.0.1: one hop where Smyth has two"))
    report.add(Row("  floor: bare relay, two containers, p50", two["p50_us"], "us",
                   base["p50_us"], note="the same relay forwarding over the stack's network to a "
                                        "second container that relays to its child: Smyth's hops"))


@contextlib.contextmanager
def relay_containers(baseline: Path) -> Iterator[tuple[int, int]]:
    """bench/relay.py served by uvicorn in containers of the stack's own image, published
    like the gateway: what container hops cost before any Smyth code runs. Yields the port
    of a one-container relay and of one that forwards to a second container (two hops)."""
    import docker

    client = docker.from_env()
    started = []
    try:
        [gateway] = client.containers.list(filters={"label": [f"dev.smyth.project={PROJECT}",
                                                              "dev.smyth.role=gateway"]})
        [network] = gateway.attrs["NetworkSettings"]["Networks"]
        python = "/opt/smyth/venv/bin/python"
        common = {"image": gateway.image.id, "detach": True, "working_dir": "/srv",
                  "user": "65534:65534", "network": network,
                  "volumes": {str(baseline): {"bind": "/srv", "mode": "ro"}},
                  "labels": {"dev.smyth.project": PROJECT, "dev.smyth.role": "bench-floor"}}
        uvicorn = [python, "-m", "uvicorn", "relay:app", "--host", "0.0.0.0", "--port", "8080",
                   "--lifespan", "off", "--no-server-header", "--no-access-log"]
        upstream = f"{PROJECT}-bench-upstream"
        started.append(client.containers.run(command=[python, "relay.py", "serve", "9000"],
                                              name=upstream, **common))
        ports = []
        for env in ({}, {"RELAY_UPSTREAM": f"{upstream}:9000"}):
            host_port = free_port()
            started.append(client.containers.run(command=uvicorn, environment=env,
                                                  ports={"8080/tcp": ("127.0.0.1", host_port)},
                                                  **common))
            ports.append(host_port)
        deadline = time.perf_counter() + 60
        for host_port in ports:
            while (answer := get(host_port, "/c1")) is None or answer[0] != 200:
                if time.perf_counter() > deadline:
                    logs = b"".join(c.logs() for c in started)
                    raise RuntimeError(f"relay containers do not answer: {logs!r}")
                time.sleep(0.05)
        yield ports[0], ports[1]
    finally:
        for container in started:
            container.remove(force=True)
        client.close()


def reload(report: Report, root: Path, port: int, settings: Settings) -> None:
    class Gateway:  # what time_reloads needs of a server
        name = "smyth up"

        @staticmethod
        def get(path: str) -> tuple[int, bytes] | None:
            return get(port, path)

    def write(version: int) -> None:
        (root / "handlers" / "edit.py").write_text(handler_source(version, "Edited by the bench."))

    times, errors = time_reloads(Gateway(), "/edit", write, 2, settings.reloads,  # type: ignore[arg-type]
                                 count_refused=True)
    median = statistics.median(times)
    row = Row("docker: reload median", median * 1000, "ms", target="≤ 1500 ms", errors=errors,
              note=f"{len(times)} edits: {' '.join(f'{t * 1000:.0f}' for t in times)} ms; "
                   f"failed requests while reloading: {errors}")
    row.passed = median <= 1.5 and errors == 0
    report.add(row)
    # Issue 4's bound on the edit loop in containers, judged here rather than in a test.
    worst = max(times)
    row = Row("docker: reload max", worst * 1000, "ms", target="≤ 2000 ms", errors=errors)
    row.passed = worst <= 2.0 and errors == 0
    report.add(row)
