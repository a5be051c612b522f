"""Faults, locally: each way a handler can fail, behind each front door and the Invoke API.

A handler that raises, calls ``os._exit``, segfaults, runs past its timeout or allocates
without bound gets its format's AWS error response; every fault but the exception (which
Lambda survives, keeping the environment warm) replaces the replica's process, and the next
request is served. One ``smyth run`` serves the whole matrix: one handler per event format,
each test a fault on one of them, checked against the replica's pid in ``/__/status``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from conftest import SmythRun, wait_for, write_project

FAULTS = """
import ctypes, json, os, threading, time
from concurrent.futures import ThreadPoolExecutor

STATE = {"calls": 0}


def handler(event, context):
    STATE["calls"] += 1
    do = event.get("do") or (event.get("queryStringParameters") or {}).get("do", "ok")
    if do == "raise":
        raise ValueError("boom")
    if do == "exit":
        os._exit(3)
    if do == "segfault":
        ctypes.string_at(0)
    if do == "timeout":
        while True:
            pass
    if do == "oom":  # without bound, each block touched: resident, not just reserved
        blocks = []
        while True:
            blocks.append(b"x" * (16 << 20))
    if do.startswith("hold"):  # hold N MB at once
        block = b"x" * (int(do[4:]) << 20)
        return respond({"held_mb": len(block) >> 20})
    if do == "threads":  # as boto3's S3 transfers do: a pool of threads, each allocating
        def task(_):
            block = bytearray(1 << 20)
            time.sleep(0.02)  # work that takes a while: the pool runs all its threads
            return len(block), threading.active_count()

        with ThreadPoolExecutor(16) as pool:
            done = list(pool.map(task, range(64)))
        return respond({"threads_ran": len(done), "most_alive": max(n for _, n in done)})
    return respond({})


def respond(data):
    data.update(pid=os.getpid(), calls=STATE["calls"])
    # statusCode and a JSON string body: a valid response for every format.
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(data)}
"""

FORMATS = ("http-api", "rest-api", "function-url", "alb")
KINDS = ("raise", "exit", "segfault", "timeout", "oom")

CONFIG = "".join(f"""
[tool.smyth.handlers.{fmt.replace("-", "_")}]
handler_path = "app.handler"
url_path = "/{fmt}"
event_format = "{fmt}"
timeout = 1
""" for fmt in FORMATS)

# The front door's answer to a failed function: (status, content type, exact body).
ALB_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
           b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")
ERROR_RESPONSES = {
    "http-api": (500, "application/json", b'{"message":"Internal Server Error"}'),
    "rest-api": (502, "application/json", b'{"message": "Internal server error"}'),
    "function-url": (502, "text/plain; charset=utf-8", b"Internal Server Error"),
    "alb": (502, "text/html", ALB_502),
}
# What the log says of each fault, and the Invoke API's error type and message for it.
LOGGED = {
    "raise": "[ERROR] ValueError: boom",
    "exit": "Runtime exited with error: exit status 3",
    "segfault": "Runtime exited with error: signal: segmentation fault",
    "timeout": "Task timed out after 1.00 seconds",
    "oom": "[ERROR] Runtime.OutOfMemory: MemoryError: the handler went past its memory size",
}
INVOKE_ERRORS = {
    "exit": ("Runtime.ExitError", "Runtime exited with error: exit status 3"),
    "segfault": ("Runtime.ExitError", "Runtime exited with error: signal: segmentation fault"),
    "timeout": ("Sandbox.Timedout", "Task timed out after 1.00 seconds"),
    "oom": ("Runtime.OutOfMemory", "Runtime exited with error: signal: killed"),
}
REPORT_ERROR = {"exit": "Status: error\tError Type: Runtime.ExitError",
                "segfault": "Status: error\tError Type: Runtime.ExitError",
                "timeout": "Status: timeout",
                "oom": "Status: error\tError Type: Runtime.OutOfMemory"}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Iterator[SmythRun]:
    project = write_project(tmp_path_factory.mktemp("faults") / "p", CONFIG, {"app.py": FAULTS})
    started = SmythRun(project)
    try:
        yield started.wait_ready()
    finally:
        started.kill_tree()


def handler_name(fmt: str) -> str:
    return fmt.replace("-", "_")


def replica_pid(run: SmythRun, fmt: str) -> int | None:
    [replica] = run.status()["handlers"][handler_name(fmt)]["replicas"]
    return replica["pid"]


def ok(run: SmythRun, fmt: str) -> dict:
    response = httpx.get(f"{run.url}/{fmt}", params={"do": "ok"}, timeout=30)
    assert response.status_code == 200, response.text
    return json.loads(response.text)


def check_replaced(run: SmythRun, fmt: str, kind: str, before: dict, after: dict) -> None:
    if kind == "raise":  # Lambda keeps the environment: same process, its state intact
        assert after["pid"] == before["pid"]
        assert after["calls"] == before["calls"] + 2
    else:
        assert after["pid"] != before["pid"]
        assert after["calls"] == 1  # a fresh process: its state starts over
        wait_for(lambda: before["pid"] not in run.children(), timeout=10,
                 message="the old process to be gone")
    assert replica_pid(run, fmt) == after["pid"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_fault_answers_as_the_front_door_and_the_next_request_succeeds(run, fmt, kind):
    before = ok(run, fmt)
    assert replica_pid(run, fmt) == before["pid"]
    mark = len(run.output)
    response = httpx.get(f"{run.url}/{fmt}", params={"do": kind}, timeout=30)
    status, content_type, body = ERROR_RESPONSES[fmt]
    assert (response.status_code, response.headers["content-type"], response.content) == \
        (status, content_type, body)
    if fmt == "alb":
        assert response.headers["server"] == "awselb/2.0"
    after = ok(run, fmt)
    check_replaced(run, fmt, kind, before, after)
    wait_for(lambda: LOGGED[kind] in run.output[mark:], timeout=10, message=LOGGED[kind])
    if kind in REPORT_ERROR:
        wait_for(lambda: REPORT_ERROR[kind] in run.output[mark:], timeout=10,
                 message="the REPORT line of the failed invocation")
    assert run.proc.poll() is None  # the gateway lives on


def invoke(run: SmythRun, fmt: str, kind: str) -> httpx.Response:
    return httpx.post(f"{run.url}/2015-03-31/functions/{handler_name(fmt)}/invocations",
                      json={"do": kind}, timeout=30)


@pytest.mark.parametrize("kind", KINDS)
def test_fault_through_the_invoke_api(run, kind):
    fmt = "http-api"
    before = ok(run, fmt)
    response = invoke(run, fmt, kind)
    assert response.status_code == 200  # a function error is not a service error
    assert response.headers["x-amz-function-error"] == "Unhandled"
    error = response.json()
    request_id = response.headers["x-amzn-requestid"]
    assert error["requestId"] == request_id
    if kind == "raise":
        assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom")
        assert 'app.py", line' in "".join(error["stackTrace"])
    else:
        error_type, message = INVOKE_ERRORS[kind]
        assert error == {"errorType": error_type, "requestId": request_id, "stackTrace": [],
                         "errorMessage": f"RequestId: {request_id} Error: {message}"}
    after = ok(run, fmt)
    check_replaced(run, fmt, kind, before, after)


# -- memory, locally: the address-space limit ----------------------------------------------

MEMORY = """
[tool.smyth.handlers.small]
handler_path = "app.handler"
url_path = "/small"
memory = 128
timeout = 60

[tool.smyth.handlers.large]
handler_path = "app.handler"
url_path = "/large"
memory = 512
timeout = 60
"""


def hold(client: httpx.Client, path: str, mb: int) -> httpx.Response:
    return client.get(path, params={"do": f"hold{mb}"})


def test_memory_is_a_limit_the_handler_can_use_but_not_pass(tmp_path, smyth_run):
    run = smyth_run(write_project(tmp_path / "p", MEMORY, {"app.py": FAULTS}))
    with run.client(timeout=60) as client:
        # Most of its memory size is the handler's to use, in one block or across threads.
        assert json.loads(hold(client, "/small", 100).text)["held_mb"] == 100
        threads = client.get("/small", params={"do": "threads"})
        assert threads.status_code == 200, threads.text
        assert json.loads(threads.text)["threads_ran"] == 64
        assert json.loads(threads.text)["most_alive"] > 16  # the pool's 16 and the main one
        assert json.loads(hold(client, "/large", 450).text)["held_mb"] == 450
        pid = json.loads(client.get("/small").text)["pid"]
        # Twice the memory size is not: Lambda would kill the function, and so do we.
        mark = len(run.output)
        refused = hold(client, "/small", 256)
        assert (refused.status_code, refused.text) == (500, '{"message":"Internal Server Error"}')
        wait_for(lambda: "Error Type: Runtime.OutOfMemory" in run.output[mark:], timeout=10,
                 message="the out-of-memory REPORT line")
        again = json.loads(client.get("/small").text)
        assert again["pid"] != pid and again["calls"] == 1
        # The larger handler's limit is its own: 256 MB fits in its 512.
        assert json.loads(hold(client, "/large", 256).text)["held_mb"] == 256


def test_unbounded_allocation_ends_at_the_limit_not_the_timeout(tmp_path, smyth_run):
    # With a timeout of a minute, only the limit can end this invocation before the client
    # gives up; without one it would take the host's memory.
    run = smyth_run(write_project(tmp_path / "p", MEMORY, {"app.py": FAULTS}))
    with run.client(timeout=50) as client:
        response = client.post("/2015-03-31/functions/large/invocations", json={"do": "oom"})
        assert response.json()["errorType"] == "Runtime.OutOfMemory"
        log = run.output
        limit = re.search(r"the runtime's (\d+) MB address space; limit now (\d+) MB", log)
        assert limit, log
        baseline, cap = int(limit.group(1)), int(limit.group(2))
        assert cap == baseline + 512  # no threads started: exactly memory on top of the runtime
        assert client.post("/2015-03-31/functions/large/invocations",
                           json={"do": "hold64"}).status_code == 200


def test_memory_limit_can_be_turned_off(tmp_path, smyth_run):
    run = smyth_run(write_project(tmp_path / "p", MEMORY, {"app.py": FAULTS}),
                    env={"SMYTH_MEMORY_LIMIT": "off"})
    with run.client(timeout=60) as client:
        held = hold(client, "/small", 256)
    assert held.status_code == 200 and json.loads(held.text)["held_mb"] == 256


# -- a handler that fails to import at start ----------------------------------------------

BROKEN = """
import os

DATABASE = os.environ["DATABASE_URL"]  # not set: a KeyError at import


def handler(event, context):
    return {"database": DATABASE}
"""

GOOD = """
def handler(event, context):
    return {"good": True}
"""


def test_import_failure_at_start_leaves_the_gateway_up_until_the_file_is_fixed(
        tmp_path, smyth_run):
    root = write_project(tmp_path / "p", """
        [tool.smyth.handlers.broken]
        handler_path = "broken.handler"
        url_path = "/broken"
        [tool.smyth.handlers.good]
        handler_path = "good.handler"
        url_path = "/good"
        [tool.smyth.handlers.needs]
        handler_path = "needs.handler"
        url_path = "/needs"
        """, {"broken.py": BROKEN, "good.py": GOOD,
              "needs.py": "import not_installed_dependency\n" + GOOD})
    run = smyth_run(root)  # starts: the gateway never dies of a handler's import
    [replica] = run.status()["handlers"]["broken"]["replicas"]
    assert replica["state"] == "failed"
    # Lambda's runtime reports an exception at import under its own class and message.
    assert replica["init_error"]["errorType"] == "KeyError"

    with run.client() as client:
        response = client.get("/broken")
        assert response.status_code == 500
        body = response.json()
        assert body["message"] == "Internal Server Error"
        assert (body["errorType"], body["errorMessage"]) == ("KeyError", "'DATABASE_URL'")
        # The Invoke API gives the whole error: the exception and the file it came from.
        invoked = client.post("/2015-03-31/functions/broken/invocations", json={})
        assert invoked.headers["x-amz-function-error"] == "Unhandled"
        assert invoked.json()["errorType"] == "KeyError"
        trace = "".join(invoked.json()["stackTrace"])
        assert f'{root / "broken.py"}", line 4' in trace and "bootstrap.py" not in trace
        assert client.get("/good").json() == {"good": True}
        needs = client.get("/needs").json()  # a missing dependency: the code's, not a typo
        assert (needs["errorType"], needs["errorMessage"]) == (
            "Runtime.ImportModuleError",
            "Unable to import module 'needs': No module named 'not_installed_dependency'")

    log = run.output
    assert "KeyError: 'DATABASE_URL'" in log and str(root / "broken.py") in log

    (root / "broken.py").write_text(BROKEN.replace('os.environ["DATABASE_URL"]',
                                                   'os.environ.get("DATABASE_URL", "sqlite://")'))
    fixed = wait_for(lambda: (r := httpx.get(f"{run.url}/broken", timeout=30)).status_code == 200
                     and r.json(), message="the fixed file to be served")
    assert fixed == {"database": "sqlite://"}
    assert httpx.get(f"{run.url}/good", timeout=30).json() == {"good": True}
    assert run.proc.poll() is None
