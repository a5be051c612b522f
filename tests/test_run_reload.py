"""Reload: a saved file gives fresh processes for the handlers that import it, and only those."""

from __future__ import annotations

import asyncio

import httpx
from conftest import wait_for, write_project

COUNTER = """
import os
from shared import VERSION

COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    return {"version": VERSION, "count": COUNT, "pid": os.getpid()}
"""

OTHER = """
import os

COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    return {"count": COUNT, "pid": os.getpid()}
"""


def project(tmp_path):
    return write_project(tmp_path / "p", """
        [tool.smyth.handlers.counter]
        handler_path = "counter.handler"
        url_path = "/counter"
        [tool.smyth.handlers.other]
        handler_path = "other.handler"
        url_path = "/other"
        """, {"counter.py": COUNTER, "other.py": OTHER, "shared.py": "VERSION = 1\n"})


def get(run, path: str) -> dict:
    return httpx.get(run.url + path, timeout=30).json()


def test_reload_resets_state_of_affected_handlers_only(tmp_path, smyth_run):
    root = project(tmp_path)
    run = smyth_run(root)
    gateway_pid = run.proc.pid
    get(run, "/counter")
    before = get(run, "/counter")
    other_before = get(run, "/other")
    assert before["count"] == 2

    (root / "shared.py").write_text("VERSION = 2\n")
    after = wait_for(lambda: (r := get(run, "/counter"))["version"] == 2 and r,
                     message="the new code to answer")
    assert after["count"] == 1 and after["pid"] != before["pid"]
    other_after = get(run, "/other")
    assert other_after["pid"] == other_before["pid"] and other_after["count"] == 2
    assert run.proc.poll() is None and run.proc.pid == gateway_pid
    wait_for(lambda: before["pid"] not in run.children(), message="the old process to retire")


def test_syntax_error_answers_with_the_error_until_fixed(tmp_path, smyth_run):
    root = project(tmp_path)
    run = smyth_run(root)
    assert get(run, "/counter")["version"] == 1
    (root / "counter.py").write_text(COUNTER + "\ndef broken(:\n")

    def error_named() -> httpx.Response | None:
        response = httpx.get(run.url + "/counter", timeout=30)
        return response if response.status_code == 500 else None

    response = wait_for(error_named, message="the syntax error to show")
    body = response.json()
    assert body["message"] == "Internal Server Error"
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert "counter" in body["errorMessage"] and "line" in body["errorMessage"]
    assert get(run, "/other")["count"] == 1  # the gateway and other handlers are fine

    (root / "counter.py").write_text(COUNTER.replace("COUNT = 0", "COUNT = 100"))
    fixed = wait_for(lambda: (r := httpx.get(run.url + "/counter", timeout=30)).status_code == 200
                     and r.json(), message="the fix to be served")
    assert fixed["count"] == 101


def test_requests_during_reload_do_not_fail(tmp_path, smyth_run):
    root = project(tmp_path)
    run = smyth_run(root)

    async def hammer() -> list[int]:
        statuses: list[int] = []
        async with httpx.AsyncClient(base_url=run.url, timeout=30) as client:
            for version in range(2, 6):
                (root / "shared.py").write_text(f"VERSION = {version}\n")
                for _ in range(15):
                    statuses.append((await client.get("/counter")).status_code)
                    await asyncio.sleep(0.01)
        return statuses

    statuses = asyncio.run(hammer())
    assert statuses and set(statuses) == {200}
    wait_for(lambda: get(run, "/counter")["version"] == 5, message="the last version")
