"""The worker server and the remote replica, spoken over real HTTP on loopback, without
Docker: the wire protocol the gateway container and worker containers use."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stackkit import wait_for, write_project

from smyth.runtime import wire
from smyth.runtime.remote import RemoteReplica
from smyth.types import Invocation

HANDLER = """
import os, time
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    print("invoked", COUNT)
    if event.get("fail"):
        raise KeyError("missing")
    time.sleep(event.get("sleep", 0))
    cc = context.client_context
    return {"count": COUNT, "version": 1, "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn, "tenant": getattr(context, "tenant", None),
            "custom": cc.custom if cc else None,
            "left_ms": context.get_remaining_time_in_millis(),
            "memory": context.memory_limit_in_mb}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Worker:
    def __init__(self, root: Path, handler_path: str = "app.handler", *,
                 ports: tuple[int, int] | None = None, **env: str) -> None:
        self.port, self.channel_port = ports or (free_port(), free_port())
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(root / "worker.log", "w+")  # noqa: SIM115  (closed by stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smyth.runtime.worker"], cwd=root, stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "AWS_LAMBDA_FUNCTION_HANDLER": handler_path,
                 "AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                 "LAMBDA_TASK_ROOT": str(root), "SMYTH_PORT": str(self.port),
                 "SMYTH_CHANNEL_PORT": str(self.channel_port), **env})

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(15)
        finally:
            self.log.close()


@pytest.fixture
def worker(tmp_path) -> Iterator[Worker]:
    root = write_project(tmp_path / "p", "", {"app.py": HANDLER})
    started = Worker(root)
    yield started
    if started.proc.poll() is None:
        assert started.stop() == 0
    assert started.proc.returncode == 0


def invocation(body: bytes = b"{}", **kwargs) -> Invocation:
    fields = {"request_id": f"req-{time.monotonic_ns()}", "timeout": None,
              "function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:fn:live"}
    return Invocation(body=body, **{**fields, **kwargs})


def test_remote_replica_round_trip(worker):
    async def scenario():
        replica = RemoteReplica("fn", 0, worker.url)
        assert await replica.start() is None
        assert replica.state == "cold"
        first = await replica.invoke(invocation(
            client_context={"custom": {"k": "v"}}, context={"tenant": "acme"}, log_tail=True,
            timeout=5.0, request_id="abc"))
        second = await replica.invoke(invocation(b'{"fail": true}'))
        state = replica.state
        status = replica.status()
        await replica.stop()
        return first, second, state, status

    first, second, state, status = asyncio.run(scenario())
    data = json.loads(first.payload)
    assert first.error is None and first.request_id == "abc" and data["request_id"] == "abc"
    assert data["arn"].endswith("function:fn:live") and data["custom"] == {"k": "v"}
    assert data["tenant"] == "acme" and data["memory"] == "256"
    assert 0 < data["left_ms"] <= 5000
    assert first.init_ms is not None and first.duration_ms > 0 and first.max_memory_mb > 0
    assert "START RequestId: abc" in first.log and "invoked 1" in first.log
    assert second.error["errorType"] == "KeyError" and second.payload == b""
    assert second.init_ms is None  # warm
    assert state == "warm" and status["invocations"] == 2 and status["container"]


def test_a_bare_rie_request_works_and_errors_carry_the_function_error_header(worker):
    wait_for(lambda: _health(worker.url) == 200, message="the worker to be ready")
    ok = httpx.post(worker.url + wire.INVOKE_PATH, content=b'{"x": 1}', timeout=30)
    assert ok.status_code == 200 and ok.json()["count"] == 1
    assert "x-amz-function-error" not in ok.headers
    failed = httpx.post(worker.url + wire.INVOKE_PATH, content=b'{"fail": 1}', timeout=30)
    assert failed.status_code == 200 and failed.headers["x-amz-function-error"] == "Unhandled"
    assert failed.json()["errorType"] == "KeyError"


def test_rie_requests_carry_smyth_headers_both_ways(worker):
    """What the README documents of the worker's HTTP protocol beyond RIE, as curl uses it."""
    wait_for(lambda: _health(worker.url) == 200, message="the worker to be ready")
    b64 = lambda value: base64.b64encode(json.dumps(value).encode()).decode()
    answer = httpx.post(worker.url + wire.INVOKE_PATH, content=b"{}", timeout=30, headers={
        "x-smyth-request-id": "from-curl", "x-smyth-timeout": "5",
        "x-smyth-function-arn": "arn:aws:lambda:eu-west-1:123456789012:function:fn:v2",
        "x-amz-client-context": b64({"custom": {"k": "v"}}),
        "x-smyth-context": b64({"tenant": "acme"}), "x-amz-log-type": "Tail"})
    assert answer.status_code == 200
    data = answer.json()
    assert data["request_id"] == "from-curl" and data["arn"].endswith("function:fn:v2")
    assert data["custom"] == {"k": "v"} and data["tenant"] == "acme"
    assert 0 < data["left_ms"] <= 5000
    assert answer.headers["x-smyth-request-id"] == "from-curl"
    assert float(answer.headers["x-smyth-duration-ms"]) > 0
    assert "x-smyth-init-duration-ms" in answer.headers  # the first invocation: cold
    log = base64.b64decode(answer.headers["x-amz-log-result"]).decode()
    assert "START RequestId: from-curl" in log and "invoked 1" in log


def test_the_deadline_header_times_out_the_handler_and_the_worker_recovers(worker):
    async def scenario():
        replica = RemoteReplica("fn", 0, worker.url)
        await replica.start()
        timed_out = await replica.invoke(invocation(b'{"sleep": 5}', timeout=0.5))
        after = await replica.invoke(invocation())
        await replica.stop()
        return timed_out, after

    timed_out, after = asyncio.run(scenario())
    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 0.50 seconds" in timed_out.error["errorMessage"]
    assert after.error is None and json.loads(after.payload)["count"] == 1


def test_one_invocation_at_a_time(worker):
    wait_for(lambda: _health(worker.url) == 200, message="the worker to be ready")

    async def scenario():
        async with httpx.AsyncClient(base_url=worker.url, timeout=30) as client:
            slow = asyncio.ensure_future(client.post(wire.INVOKE_PATH, content=b'{"sleep": 1}'))
            await asyncio.sleep(0.3)
            second = await client.post(wire.INVOKE_PATH, content=b"{}")
            return (await slow), second

    slow, second = asyncio.run(scenario())
    assert slow.status_code == 200
    assert second.status_code == 429 and second.json()["errorType"] == "TooManyRequestsException"


def test_an_edit_replaces_the_handler_process(worker, tmp_path):
    wait_for(lambda: _health(worker.url) == 200, message="the worker to be ready")
    first = httpx.post(worker.url + wire.INVOKE_PATH, content=b"{}", timeout=30).json()
    assert first["version"] == 1
    source = tmp_path / "p" / "app.py"
    source.write_text(source.read_text().replace('"version": 1', '"version": 2'))
    wait_for(lambda: httpx.post(worker.url + wire.INVOKE_PATH, content=b"{}",
                                timeout=30).json()["version"] == 2,
             message="the new code to answer")
    # Fresh process, fresh state.
    assert httpx.post(worker.url + wire.INVOKE_PATH, content=b"{}", timeout=30).json()["count"] == 2


def test_an_init_error_is_reported_and_the_worker_keeps_serving(tmp_path):
    root = write_project(tmp_path / "p", "", {"app.py": "import nowhere_to_be_found\n"})
    broken = Worker(root)
    try:
        async def scenario():
            replica = RemoteReplica("fn", 0, broken.url)
            error = await replica.start()
            result = await replica.invoke(invocation())
            await replica.stop()
            return error, result, replica.status()

        error, result, status = asyncio.run(scenario())
        assert error["errorType"] == "Runtime.ImportModuleError"
        assert "nowhere_to_be_found" in error["errorMessage"]
        assert result.error["errorType"] == "Runtime.ImportModuleError"
        assert status["init_error"]["errorType"] == "Runtime.ImportModuleError"
        assert _health(broken.url) == 503
    finally:
        assert broken.stop() == 0


def test_an_unreachable_worker_is_a_service_error_not_an_exception():
    async def scenario():
        replica = RemoteReplica("fn", 0, f"http://127.0.0.1:{free_port()}", ready_timeout=0.5)
        error = await replica.start()
        result = await replica.invoke(invocation())
        await replica.stop()
        return error, result

    error, result = asyncio.run(scenario())
    assert error["errorType"] == "Runtime.Unavailable" and "not ready within" in error["errorMessage"]
    assert result.error["errorType"] == "ServiceException"


def _health(url: str) -> int | None:
    try:
        return httpx.get(url + wire.HEALTH_PATH, timeout=5).status_code
    except httpx.TransportError:
        return None


def test_reload_off_keeps_the_process(tmp_path):
    root = write_project(tmp_path / "p", "", {"app.py": HANDLER})
    frozen, watching = Worker(root, SMYTH_RELOAD="0"), Worker(root)  # watching: the yardstick
    try:
        for worker in (frozen, watching):
            wait_for(lambda w=worker: _health(w.url) == 200, message="the worker to be ready")

        def version(worker: Worker) -> int:
            return httpx.post(worker.url + wire.INVOKE_PATH, content=b"{}",
                              timeout=30).json()["version"]

        assert version(frozen) == version(watching) == 1
        (root / "app.py").write_text(HANDLER.replace('"version": 1', '"version": 2'))
        wait_for(lambda: version(watching) == 2, message="the watching worker to reload")
        assert version(frozen) == 1
    finally:
        assert frozen.stop() == 0 and watching.stop() == 0


def test_the_channel_reconnects_to_a_restarted_worker(tmp_path):
    root = write_project(tmp_path / "p", "", {"app.py": HANDLER})
    first = Worker(root)

    async def scenario():
        replica = RemoteReplica("fn", 0, first.url)
        assert await replica.start() is None
        before = await replica.invoke(invocation())
        assert first.stop() == 0  # the container went away under the gateway
        gone = await replica.invoke(invocation())
        second = Worker(root, ports=(first.port, first.channel_port))  # ... and came back
        try:
            await asyncio.to_thread(wait_for, lambda: _health(second.url) == 200,
                                    message="the restarted worker to be ready")
            after = await replica.invoke(invocation())
        finally:
            await replica.stop()
            assert second.stop() == 0
        return before, gone, after

    before, gone, after = asyncio.run(scenario())
    assert json.loads(before.payload)["count"] == 1
    assert gone.error["errorType"] == "ServiceException" and "unreachable" in gone.error["errorMessage"]
    assert after.error is None and json.loads(after.payload)["count"] == 1  # a fresh process


def test_an_abandoned_invocation_never_answers_the_next_one(worker):
    async def scenario():
        replica = RemoteReplica("fn", 0, worker.url)
        await replica.start()
        with pytest.raises(asyncio.TimeoutError):  # the gateway gave up on it (a client left)
            await asyncio.wait_for(replica.invoke(invocation(b'{"sleep": 1}')), 0.3)

        async def free() -> bool:
            result = await replica.invoke(invocation(request_id="probe"))
            return result.error is None
        while not await free():  # refused while the abandoned one still runs
            await asyncio.sleep(0.05)
        last = await replica.invoke(invocation(request_id="last"))
        await replica.stop()
        return last

    last = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert last.error is None and last.request_id == "last"
    assert json.loads(last.payload)["request_id"] == "last"


def test_a_busy_worker_refuses_a_second_channel_invocation(worker):
    async def scenario():
        slow_side, other_side = RemoteReplica("fn", 0, worker.url), RemoteReplica("fn", 1, worker.url)
        await slow_side.start()
        await other_side.start()
        slow = asyncio.ensure_future(slow_side.invoke(invocation(b'{"sleep": 1}')))
        await asyncio.to_thread(wait_for, lambda: "invoked 1" in worker.output(),
                                message="the slow invocation to start")
        refused = await other_side.invoke(invocation())
        done = await slow
        await slow_side.stop()
        await other_side.stop()
        return refused, done

    refused, done = asyncio.run(scenario())
    assert refused.error["errorType"] == "ServiceException"
    assert "TooManyRequestsException" in refused.error["errorMessage"]
    assert done.error is None and json.loads(done.payload)["count"] == 1


def test_garbage_on_the_channel_port_costs_only_that_connection(worker):
    wait_for(lambda: _health(worker.url) == 200, message="the worker to be ready")
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # someone's curl on the wrong port
                 b"\x00\x00\x00\x05\x00\x00\x00\x00not{}",  # a frame whose header is not JSON
                 b"\x00\x00\x00\x02\x00\x00\x00\x00[]",  # JSON, but not a header
                 b"\x00\x00\x00\x0f\x00\x00\x00\x00{\"type\":\"stop\"}"):  # not an invocation
        with socket.create_connection(("127.0.0.1", worker.channel_port), timeout=10) as sock:
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(10)
            try:
                while sock.recv(65536):  # an answer (a refusal) or nothing, then the close
                    pass
            except ConnectionResetError:
                pass

    async def scenario():
        replica = RemoteReplica("fn", 0, worker.url)
        await replica.start()
        result = await replica.invoke(invocation())
        await replica.stop()
        return result

    result = asyncio.run(scenario())
    assert result.error is None and json.loads(result.payload)["count"] == 1
    assert worker.proc.poll() is None
    assert "Traceback" not in worker.output()  # a line about each, not a stack trace


ORDERED = """
import sys, time
def handler(event, context):
    print("one")
    print("two", file=sys.stderr)
    print("three")
    time.sleep(event.get("sleep", 0))
    raise ValueError("four")
"""


def test_the_log_keeps_the_order_things_were_written_in(tmp_path):
    """The worker passes on its handler process's output (stdout and stderr through one
    pipe) in batches, with its own lines: nothing may change places, not even when it ends
    the invocation itself (a timeout)."""
    root = write_project(tmp_path / "p", "", {"app.py": ORDERED})
    ordered = Worker(root)
    try:
        async def scenario():
            replica = RemoteReplica("fn", 0, ordered.url)
            await replica.start()
            raised = await replica.invoke(invocation(request_id="raised"))
            timed_out = await replica.invoke(invocation(b'{"sleep": 5}', timeout=0.5,
                                                        request_id="slow"))
            await replica.stop()
            return raised, timed_out

        raised, timed_out = asyncio.run(scenario())
        assert raised.error["errorType"] == "ValueError"
        assert timed_out.error["errorType"] == "Sandbox.Timedout"
        log = wait_for(lambda: (text := ordered.output()).count("REPORT RequestId") == 2 and text,
                       message="both REPORT lines")
    finally:
        assert ordered.stop() == 0

    def positions(*markers: str) -> list[int]:
        found, at = [], 0
        for marker in markers:
            at = log.index(marker, at)
            found.append(at)
        return found

    # index() from the previous marker on: each is found after the one before, or fails.
    positions("START RequestId: raised", "one\n", "two\n", "three\n", "[ERROR] ValueError: four",
              "END RequestId: raised", "REPORT RequestId: raised",
              "START RequestId: slow", "one\n", "two\n", "three\n",
              "RequestId: slow Task timed out after 0.50 seconds",
              "END RequestId: slow", "REPORT RequestId: slow")
