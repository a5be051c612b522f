"""API Gateway's integration timeouts: the gateway in-process under a real uvicorn on a
loopback port, real handler processes.

The real limits are 29 s (REST) and 30 s (HTTP API); the tests shorten them on the format
instance so that they run in a second, and check everything else for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from conftest import write_project

from smyth.config import load_config
from smyth.runtime.local import local_replicas
from smyth.server import build_gateway

APP = """
import os, time

def handler(event, context):
    name = event.get("rawPath", event.get("path", "")).strip("/").split("/")[-1]
    while name == "slow" and not os.path.exists("release"):
        time.sleep(0.01)
    return {"statusCode": 200, "body": name}
"""


@contextlib.asynccontextmanager
async def serving(app) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` under uvicorn on a free loopback port, and a client for it. (An in-process
    ASGI transport would not do: it returns a response only once the app returns, while a
    server sends it as soon as it is complete, as an integration timeout needs.)"""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    serve = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serve.done():
                serve.result()
            await asyncio.sleep(0.01)
        port = sock.getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await serve


@pytest.mark.parametrize("fmt, status, body", [
    ("rest-api", 504, {"message": "Endpoint request timed out"}),
    ("http-api", 503, {"message": "Service Unavailable"}),
])
def test_integration_timeout_answers_and_the_invocation_goes_on(tmp_path, fmt, status, body):
    project = write_project(tmp_path / "p", f"""
        [tool.smyth.handlers.f]
        handler_path = "app.handler"
        url_path = "/f/{{name}}"
        event_format = "{fmt}"
        """, {"app.py": APP})
    config = load_config(project)
    gateway = build_gateway(config, lambda handler, position: local_replicas(config, handler))
    handler = gateway.handlers["f"]
    assert handler.event_format.integration_timeout in (29.0, 30.0)
    handler.event_format.integration_timeout = 0.5  # type: ignore[misc]

    async def scenario() -> None:
        await gateway.start()
        try:
            async with serving(gateway.app()) as client:
                timed_out = await client.get("/f/slow")
                assert (timed_out.status_code, timed_out.json()) == (status, body)
                replica = handler.replicas[0]
                assert replica.status()["state"] == "busy"  # Lambda is still running it
                (project / "release").write_text("")
                for _ in range(1000):  # bounded wait for the detached invocation to end
                    if replica.status()["invocations"] == 1:
                        break
                    await asyncio.sleep(0.01)
                assert replica.status()["invocations"] == 1
                fast = await client.get("/f/fast")
                assert (fast.status_code, fast.text) == (200, "fast")
        finally:
            await gateway.stop()

    asyncio.run(scenario())


def test_no_integration_timeout_when_the_function_times_out_first(tmp_path):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.f]
        handler_path = "app.handler"
        url_path = "/f/{name}"
        event_format = "rest-api"
        timeout = 0.5
        """, {"app.py": APP})
    config = load_config(project)
    gateway = build_gateway(config, lambda handler, position: local_replicas(config, handler))
    gateway.handlers["f"].event_format.integration_timeout = 1.0  # type: ignore[misc]

    async def scenario() -> httpx.Response:
        await gateway.start()
        try:
            async with serving(gateway.app()) as client:
                return await client.get("/f/slow")
        finally:
            await gateway.stop()

    response = asyncio.run(scenario())
    # The function's own timeout is a function error: 502, not the gateway's 504.
    assert (response.status_code, response.json()) == (502, {"message": "Internal server error"})
