"""Replicas as real processes: concurrency, strategies, cold starts, timeouts, crashes, queueing."""

from __future__ import annotations

import asyncio
import itertools
import json
import re

import httpx
from conftest import wait_for, write_project

SLEEPY = """
import os, time

def handler(event, context):
    started = time.time()
    time.sleep(float(event.get("queryStringParameters", {}).get("s", "1")))
    return {"pid": os.getpid(), "start": started, "end": time.time()}
"""


async def _gather(url: str, paths: list[str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await asyncio.gather(*(client.get(path) for path in paths))


def gather(url: str, paths: list[str]) -> list[httpx.Response]:
    return asyncio.run(_gather(url, paths))


def test_concurrency_n_runs_n_requests_at_once(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.wide]
        handler_path = "app.handler"
        url_path = "/wide"
        concurrency = 4
        [tool.smyth.handlers.narrow]
        handler_path = "app.handler"
        url_path = "/narrow"
        """, {"app.py": SLEEPY})
    run = smyth_run(project)
    wide = [r.json() for r in gather(run.url, ["/wide?s=1"] * 4)]
    assert len({r["pid"] for r in wide}) == 4
    # Every request started before any finished: they ran side by side, not one by one.
    assert max(r["start"] for r in wide) < min(r["end"] for r in wide)

    narrow = gather(run.url, ["/narrow?s=0.2"] * 4)
    assert all(r.status_code == 200 for r in narrow)  # waiting requests queue, not fail
    spans = sorted((r.json()["start"], r.json()["end"]) for r in narrow)
    assert all(prev_end <= start for (_, prev_end), (start, _) in itertools.pairwise(spans))


def test_round_robin_takes_turns(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.rr]
        handler_path = "app.handler"
        url_path = "/rr"
        concurrency = 3
        """, {"app.py": SLEEPY})
    run = smyth_run(project)
    with run.client() as client:
        pids = [client.get("/rr?s=0").json()["pid"] for _ in range(6)]
    assert len(set(pids[:3])) == 3
    assert pids[3:] == pids[:3]


def test_first_warm_reuses_the_warm_replica(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.fw]
        handler_path = "app.handler"
        url_path = "/fw"
        concurrency = 3
        dispatch_strategy_path = "smyth.dispatcher.strategy.FirstWarmDispatchStrategy"
        """, {"app.py": SLEEPY})
    run = smyth_run(project)
    with run.client() as client:
        pids = [client.get("/fw?s=0").json()["pid"] for _ in range(5)]
    assert len(set(pids)) == 1
    # Two at once: the warm one and one cold start.
    both = gather(run.url, ["/fw?s=0.5"] * 2)
    assert len({r.json()["pid"] for r in both}) == 2
    states = [r["state"] for r in run.status()["handlers"]["fw"]["replicas"]]
    assert sorted(states) == ["cold", "warm", "warm"]


def test_custom_strategy_from_the_project(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.c]
        handler_path = "app.handler"
        url_path = "/c"
        concurrency = 3
        dispatch_strategy_path = "strategies.LastReplica"
        """, {"app.py": SLEEPY, "strategies.py": """
        from smyth.dispatcher.strategy import DispatchStrategy

        class LastReplica(DispatchStrategy):
            def select(self, idle):
                return max(idle, key=lambda replica: replica.index)
        """})
    run = smyth_run(project)
    with run.client() as client:
        pids = {client.get("/c?s=0").json()["pid"] for _ in range(4)}
    replicas = run.status()["handlers"]["c"]["replicas"]
    assert pids == {replicas[2]["pid"]}
    assert [r["invocations"] for r in replicas] == [0, 0, 4]


def test_fake_coldstart_time_on_first_invocation_only(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.slow]
        handler_path = "app.handler"
        url_path = "/slow"
        fake_coldstart_time = true
        [tool.smyth.handlers.fast]
        handler_path = "app.handler"
        url_path = "/fast"
        """, {"app.py": SLEEPY})
    run = smyth_run(project)
    with run.client() as client:
        for path in ("/slow?s=0", "/slow?s=0", "/fast?s=0"):
            assert client.get(path).status_code == 200
    wait_for(lambda: run.output.count("REPORT RequestId") == 3, message="three REPORT lines")
    reports = [line for line in run.output.splitlines() if "REPORT RequestId" in line]
    slow_first, slow_second, fast_first = reports
    def init_ms(report: str) -> float:
        return float(re.search(r"Init Duration: ([\d.]+) ms", report).group(1))

    assert init_ms(slow_first) >= 500  # the pause: 0.5–1.0 s on top of the real init
    assert "Init Duration" not in slow_second
    # No pause for the other handler: its init is the real one, shorter than init + pause
    # (compared with it, not with a fixed bound that a busy machine's real init could pass).
    assert init_ms(fast_first) < init_ms(slow_first)


FAULTS = """
import ctypes, os, time

STATE = {"calls": 0}

def handler(event, context):
    STATE["calls"] += 1
    action = event["pathParameters"]["action"]
    if action == "sleep":
        time.sleep(60)
    if action == "exit":
        os._exit(3)
    if action == "segfault":
        ctypes.string_at(0)
    if action == "raise":
        raise ValueError("bad input")
    if action == "unserialisable":
        return {"when": object()}
    return {"pid": os.getpid(), "calls": STATE["calls"]}
"""


def faults_project(tmp_path):
    return write_project(tmp_path / "p", """
        [tool.smyth.handlers.f]
        handler_path = "app.handler"
        url_path = "/f/{action}"
        timeout = 1
        """, {"app.py": FAULTS})


def test_timeout_kills_and_replaces_the_process(tmp_path, smyth_run):
    run = smyth_run(faults_project(tmp_path))
    with run.client() as client:
        before = client.get("/f/ok").json()
        timed_out = client.get("/f/sleep")
        after = client.get("/f/ok").json()
    assert timed_out.status_code == 500
    assert timed_out.json() == {"message": "Internal Server Error"}
    assert "Task timed out after 1.00 seconds" in run.output
    assert after["pid"] != before["pid"] and after["calls"] == 1  # fresh process, fresh state
    wait_for(lambda: before["pid"] not in run.children(), message="the old process to be gone")


def test_crashes_fail_the_request_and_the_next_one_succeeds(tmp_path, smyth_run):
    run = smyth_run(faults_project(tmp_path))
    with run.client() as client:
        first = client.get("/f/ok").json()
        crashed = client.get("/f/exit")
        assert crashed.status_code == 500
        second = client.get("/f/ok").json()
        segfault = client.get("/f/segfault")
        assert segfault.status_code == 500
        third = client.get("/f/ok").json()
    assert len({first["pid"], second["pid"], third["pid"]}) == 3
    assert "Runtime exited with error: exit status 3" in run.output
    assert "Runtime exited with error: signal: segmentation fault" in run.output


def test_exception_is_an_error_response_not_a_crash(tmp_path, smyth_run):
    run = smyth_run(faults_project(tmp_path))
    with run.client() as client:
        first = client.get("/f/ok").json()
        failed = client.get("/f/raise")
        unserialisable = client.get("/f/unserialisable")
        second = client.get("/f/ok").json()
    assert failed.status_code == 500
    assert failed.json() == {"message": "Internal Server Error"}
    assert unserialisable.status_code == 500
    assert second["pid"] == first["pid"] and second["calls"] == 4  # same warm process
    assert "[ERROR] ValueError: bad input" in run.output
    assert "Runtime.MarshalError" in run.output


def test_past_max_queue_429_at_once_and_the_gateway_stays_healthy(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.q]
        handler_path = "app.blocked"
        url_path = "/q"
        concurrency = 2
        max_queue = 3
        [tool.smyth.handlers.other]
        handler_path = "app.free"
        url_path = "/other"
        """, {"app.py": """
        import os, time
        def blocked(event, context):
            while not os.path.exists("release"):
                time.sleep(0.01)
            return event["queryStringParameters"]["id"]
        def free(event, context):
            return "free"
        """})
    run = smyth_run(project)
    held = 2 + 3  # both replicas busy, then max_queue requests waiting

    async def scenario() -> tuple[list[httpx.Response], list[httpx.Response],
                                  list[httpx.Response], list[httpx.Response]]:
        async with httpx.AsyncClient(base_url=run.url, timeout=60) as client:
            async def until(predicate) -> None:
                for _ in range(1000):
                    status = (await client.get("/__/status")).json()["handlers"]["q"]
                    if predicate(status):
                        return
                    await asyncio.sleep(0.01)
                raise AssertionError("status never reached the expected state")

            def busy(status: dict) -> int:
                return sum(r["state"] == "busy" for r in status["replicas"])

            first = [asyncio.ensure_future(client.get("/q", params={"id": str(n)}))
                     for n in range(2)]
            await until(lambda s: busy(s) == 2)
            queued = [asyncio.ensure_future(client.get("/q", params={"id": str(n)}))
                      for n in range(2, held)]
            await until(lambda s: s["queued"] == 3)
            # The handler cannot return before "release" exists, which is only written below:
            # these answers came back while every replica was held, none waited for one (a
            # throttled request put in the queue instead would time out, failing the test).
            throttled = list(await asyncio.gather(
                *(client.get("/q", params={"id": f"x{n}"}, timeout=20) for n in range(4))))
            after = (await client.get("/__/status")).json()["handlers"]["q"]
            assert (busy(after), after["queued"]) == (2, 3)  # the throttled ones left no trace
            healthy = [await client.get("/other")]  # another handler is served meanwhile
            (project / "release").write_text("")
            served = list(await asyncio.gather(*first, *queued))
            # Drained: as many new requests at once as replicas plus max_queue all succeed.
            again = list(await asyncio.gather(
                *(client.get("/q", params={"id": f"again{n}"}) for n in range(held))))
            healthy.append(await client.get("/other"))
            return served, throttled, again, healthy

    served, throttled, again, healthy = asyncio.run(scenario())
    for response in throttled:
        assert response.status_code == 429
        assert response.headers["x-amzn-errortype"] == "TooManyRequestsException"
        assert response.headers["content-type"] == "application/json"
        assert json.loads(response.text) == {"message": "Too Many Requests"}
    assert [(r.status_code, r.text) for r in served] == [(200, str(n)) for n in range(held)]
    assert [(r.status_code, r.text) for r in again] == [(200, f"again{n}") for n in range(held)]
    assert [(r.status_code, r.text) for r in healthy] == [(200, "free")] * 2
    assert run.status()["handlers"]["q"]["queued"] == 0
    assert run.proc.poll() is None
    assert "requests are waiting (max_queue)" in run.output
