"""Load, nothing lost, in Docker mode (issue 7, item 1): concurrent clients through the
gateway container of ``smyth up`` to worker containers, every id answered once, to its own
request, and invoked once (each worker prints every id it serves)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
import pytest
from conftest import stress_size
from stackkit import (  # noqa: F401  (fixtures)
    base_image,
    docker_client,
    gateway_url,
    labelled,
    project_name,
    smyth,
    stack_config,
    sweep,
    wait_for,
    workers,
    write_project,
)

pytestmark = pytest.mark.docker

CLIENTS = 16
CONCURRENCY = 2

HANDLERS = f"""
[tool.smyth.handlers.load]
handler_path = "app.handler"
url_path = "/load"
concurrency = {CONCURRENCY}
max_queue = {CLIENTS}
"""

APP = """
import os
def handler(event, context):
    request_id = event["queryStringParameters"]["id"]
    print("seen", request_id, flush=True)
    return {"id": request_id, "container": os.environ["HOSTNAME"]}
"""


async def _blast(url: str, ids: list[str]) -> tuple[dict[str, list[dict]], list[str]]:
    todo = iter(ids)  # shared: each id is taken by exactly one client
    answers: dict[str, list[dict]] = {}
    errors: list[str] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def one_client() -> None:
            for request_id in todo:
                try:
                    response = await client.get("/load", params={"id": request_id})
                except httpx.HTTPError as exc:
                    errors.append(f"{request_id}: {exc!r}")
                    continue
                if response.status_code != 200:
                    errors.append(f"{request_id}: {response.status_code} {response.text[:200]}")
                    continue
                answers.setdefault(request_id, []).append(response.json())

        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
    return answers, errors


def test_load_through_smyth_up_every_request_answered_once(tmp_path, docker_client,
                                                          base_image, report):
    project = project_name("load")
    root = write_project(tmp_path / "load", stack_config(project, HANDLERS, "load-example"),
                         {"app.py": APP})
    try:
        smyth(root, "up", "-d", "--base-image", base_image)
        url = gateway_url(docker_client, project)
        total = stress_size(short=500, full=2000)
        ids = [f"{n:05d}-{uuid.uuid4().hex}" for n in range(total)]
        answers, errors = asyncio.run(_blast(url, ids))

        def invocations() -> Counter[str]:
            logs = "".join(container.logs().decode(errors="replace")
                           for container in workers(docker_client, project, "load"))
            return Counter(line.split()[-1] for line in logs.splitlines()
                           if line.startswith("seen "))

        # Workers write their logs in batches, a few ms after the answers: wait for them.
        invoked = wait_for(lambda: (seen := invocations()).total() >= total and seen,
                           timeout=30, message="every invocation in the workers' logs")
        answered = sum(1 for request_id in ids if len(answers.get(request_id, [])) == 1)
        lost = sum(1 for request_id in ids if request_id not in answers)
        wrong = [(request_id, body) for request_id, bodies in answers.items() for body in bodies
                 if body["id"] != request_id]
        report(f"load (docker): sent {total} from {CLIENTS} clients to concurrency "
               f"{CONCURRENCY}, answered {answered}, lost {lost}, errors {len(errors)}, "
               f"wrong id {len(wrong)}")
        assert errors == [], errors[:10]
        assert wrong == [], wrong[:10]
        assert (answered, lost) == (total, 0)
        assert invoked == Counter(ids), "some id was invoked twice or never"
        assert len({body["container"] for bodies in answers.values() for body in bodies}) \
            == CONCURRENCY
        smyth(root, "down")
        assert labelled(docker_client, project) == ([], [])
    finally:
        sweep(docker_client, project)
