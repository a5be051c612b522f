"""Load, nothing lost (issue 7, item 1): many concurrent clients through a real ``smyth run``.

Every request carries a unique id that the handler echoes, and each handler process also
writes down every id it was invoked with: each id must come back exactly once, to its own
request, and have run exactly once. Memory is the RSS of the gateway and its handler
processes, read from /proc after a warm-up and at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from pathlib import Path

import httpx
from conftest import descendants, stress_size, write_project

CLIENTS = 32
CONCURRENCY = 4
# Every request body carries this much unique padding: a gateway or handler that kept each
# request (its body, its event, its result) would grow by at least this much per request.
PADDING = 16 * 1024

APP = """
import json, os

# One log per process, outside the project (no reload watcher noise): every id invoked.
_seen = open(os.path.join(os.environ["SEEN_DIR"], f"seen-{os.getpid()}.log"), "a",
             buffering=1)

def handler(event, context):
    body = json.loads(event["body"])
    _seen.write(body["id"] + "\\n")
    return {"id": body["id"], "query_id": event["queryStringParameters"]["id"],
            "padding": len(body["padding"]), "pid": os.getpid()}
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def tree_rss(root: int) -> tuple[int, dict[int, int]]:
    """RSS in KiB of ``root`` and of each of its live descendants."""
    return rss_kib(root), {pid: rss_kib(pid) for pid in sorted(descendants(root))}


class Outcome:
    def __init__(self) -> None:
        self.answers: dict[str, list[dict]] = {}  # sent id -> every 200 body it got back
        self.errors: list[str] = []


async def _blast(url: str, ids: list[str], clients: int, outcome: Outcome) -> None:
    todo = iter(ids)  # shared: each id is taken by exactly one client
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def one_client() -> None:
            for request_id in todo:
                body = json.dumps({"id": request_id, "padding": os.urandom(PADDING // 2).hex()})
                try:
                    response = await client.post("/load", params={"id": request_id}, content=body,
                                                 headers={"content-type": "application/json"})
                except httpx.HTTPError as exc:
                    outcome.errors.append(f"{request_id}: {exc!r}")
                    continue
                if response.status_code != 200:
                    outcome.errors.append(f"{request_id}: {response.status_code} "
                                          f"{response.text[:200]}")
                    continue
                outcome.answers.setdefault(request_id, []).append(response.json())

        await asyncio.gather(*(one_client() for _ in range(clients)))


def blast(url: str, ids: list[str], clients: int, outcome: Outcome) -> None:
    asyncio.run(_blast(url, ids, clients, outcome))


def test_load_every_request_answered_once_memory_flat(tmp_path, smyth_run, report):
    total = stress_size(short=1000, full=10000)
    warmup = total // 5
    seen_dir = tmp_path / "seen"
    seen_dir.mkdir()
    project = write_project(tmp_path / "p", f"""
        [tool.smyth.handlers.load]
        handler_path = "app.handler"
        url_path = "/load"
        concurrency = {CONCURRENCY}
        # {CLIENTS} clients, {CONCURRENCY} of them served: at most {CLIENTS - CONCURRENCY} wait
        max_queue = {CLIENTS}
        environment = {{ SEEN_DIR = "{seen_dir}" }}
        """, {"app.py": APP})
    run = smyth_run(project)
    ids = [f"{n:05d}-{uuid.uuid4().hex}" for n in range(total)]
    outcome = Outcome()

    blast(run.url, ids[:warmup], CLIENTS, outcome)
    gateway_before, handlers_before = tree_rss(run.proc.pid)
    blast(run.url, ids[warmup:], CLIENTS, outcome)
    gateway_after, handlers_after = tree_rss(run.proc.pid)

    answered = sum(1 for request_id in ids if len(outcome.answers.get(request_id, [])) == 1)
    lost = sum(1 for request_id in ids if request_id not in outcome.answers)
    wrong = [(request_id, body) for request_id, bodies in outcome.answers.items()
             for body in bodies
             if (body["id"], body["query_id"], body["padding"]) != (request_id, request_id,
                                                                     PADDING)]
    invoked = Counter(line for log in seen_dir.glob("seen-*.log")
                      for line in log.read_text().splitlines())
    before = gateway_before + sum(handlers_before.values())
    after = gateway_after + sum(handlers_after.values())
    measured = total - warmup
    # Half of what keeping each measured request's padding alone would cost: a leak of even
    # one request body per request breaks it, allocator noise (a few MiB) does not.
    bound = measured * PADDING // 2 // 1024
    report(f"load: sent {total} from {CLIENTS} clients to concurrency {CONCURRENCY}, "
           f"answered {answered}, lost {lost}, errors {len(outcome.errors)}, "
           f"wrong id {len(wrong)}; RSS gateway+{len(handlers_after)} handlers after "
           f"{warmup} warm-up requests {before / 1024:.1f} MiB, after {total} "
           f"{after / 1024:.1f} MiB: growth {(after - before) / 1024:+.1f} MiB (gateway "
           f"{(gateway_after - gateway_before) / 1024:+.1f}), "
           f"{(after - before) * 1024 // measured:+d} B/request; bound {bound / 1024:.1f} MiB, "
           f"{PADDING // 2 // 1024} KiB/request")

    assert outcome.errors == [], outcome.errors[:10]
    assert wrong == [], wrong[:10]
    assert (answered, lost) == (total, 0)
    assert invoked == Counter(ids), "some id was invoked twice or never"
    assert len({body["pid"] for bodies in outcome.answers.values() for body in bodies}) \
        == CONCURRENCY  # every replica served, and none was replaced
    assert set(handlers_after) == set(handlers_before), "a handler process was replaced"
    assert after - before < bound, f"RSS grew {after - before} KiB over {measured} requests"
    status = run.status()["handlers"]["load"]
    assert status["queued"] == 0
