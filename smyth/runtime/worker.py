"""The worker server: the entrypoint of each worker container (``python -m smyth.runtime.worker``).

A server around ONE supervisor, so a container runs the same handler runtime as
``smyth run``. It takes invocations two ways (see ``smyth.runtime.wire``): over HTTP in the
Runtime Interface Emulator's invoke protocol, and over the invocation channel the gateway
uses. It serves one invocation at a time as a Lambda execution environment does, watches
the read-only project mount and replaces its handler process when an imported file
changes — the container itself never restarts for a code change.

Configured by environment, as RIE is: ``AWS_LAMBDA_FUNCTION_HANDLER``, ``..._NAME``,
``..._MEMORY_SIZE``, ``..._TIMEOUT`` and ``LAMBDA_TASK_ROOT``, plus the ``SMYTH_*`` settings
read in ``WorkerSettings.from_env``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from smyth.asgi import Receive, Scope, Send, read_body
from smyth.batched import batch_standard_streams
from smyth.loop import run_loop
from smyth.reload import watch
from smyth.runtime import wire
from smyth.runtime.channel import Channel, ChannelClosed
from smyth.runtime.launch import ProcessSpec
from smyth.runtime.supervisor import Supervisor
from smyth.serving import GatewayServer, bind_socket, log_config
from smyth.types import Invocation, InvocationResult

Answer = tuple[int, dict[str, str], bytes]

# One invocation per execution environment; the gateway never sends two.
BUSY = {"errorType": "TooManyRequestsException",
        "errorMessage": "this worker is serving another invocation"}

logger = logging.getLogger("smyth.worker")

PORT = 8080
SHUTDOWN_GRACE = 5
# Settings of the worker itself; the handler process does not need to see them.
OWN_SETTINGS = ("SMYTH_HANDLER_PYTHON", "SMYTH_RUNTIME_PATH", "SMYTH_RELOAD", "SMYTH_PORT",
                "SMYTH_CHANNEL_PORT",
                "SMYTH_LOG_LEVEL", "SMYTH_FAKE_COLDSTART", "SMYTH_INIT_TIMEOUT",
                "SMYTH_DEBUG_PORT", "SMYTH_DEBUG_WAIT", "SMYTH_REPLICA")


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    value = env.get(key)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


@dataclass
class WorkerSettings:
    spec: ProcessSpec
    function_arn: str
    default_timeout: float | None
    port: int = PORT
    channel_port: int = PORT + 1
    reload: bool = True
    replica: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerSettings:
        try:
            handler_path = env["AWS_LAMBDA_FUNCTION_HANDLER"]
        except KeyError:
            raise SystemExit("smyth worker: AWS_LAMBDA_FUNCTION_HANDLER is not set "
                             "(e.g. app.handlers.handler)") from None
        name = env.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        root = env.get("LAMBDA_TASK_ROOT", "/var/task")
        handler_env = {k: v for k, v in env.items() if k not in OWN_SETTINGS}
        runtime_path = env.get("SMYTH_RUNTIME_PATH")
        if runtime_path:
            # The handler runs on its own interpreter and site-packages; only Smyth's
            # standard-library runtime is added, as Lambda adds /var/runtime.
            handler_env["PYTHONPATH"] = os.pathsep.join(
                p for p in (runtime_path, handler_env.get("PYTHONPATH")) if p)
        timeout = env.get("AWS_LAMBDA_FUNCTION_TIMEOUT")
        init_timeout = env.get("SMYTH_INIT_TIMEOUT")
        debug_port = env.get("SMYTH_DEBUG_PORT")
        debug_wait = _flag(env, "SMYTH_DEBUG_WAIT", False)
        region = env.get("AWS_REGION", "us-east-1")
        spec = ProcessSpec(
            handler_name=name, handler_path=handler_path, project_root=root,
            environment=handler_env,
            memory=int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
            fake_coldstart=_flag(env, "SMYTH_FAKE_COLDSTART", False),
            log_level=env.get("SMYTH_LOG_LEVEL", "INFO"),
            init_timeout=None if debug_wait else float(init_timeout or 30.0),
            debug_port=int(debug_port) if debug_port else None,
            # Inside a container the debugger must listen beyond loopback to be published.
            debug_host="0.0.0.0", debug_wait=debug_wait,
            python=env.get("SMYTH_HANDLER_PYTHON") or sys.executable,
            pipe_output=True,  # passed on by us, in batches: see main()
        )
        port = int(env.get("SMYTH_PORT", PORT))
        return cls(
            spec=spec,
            function_arn=f"arn:aws:lambda:{region}:123456789012:function:{name}",
            default_timeout=float(timeout) if timeout else None,
            port=port,
            channel_port=int(env.get("SMYTH_CHANNEL_PORT", port + 1)),
            reload=_flag(env, "SMYTH_RELOAD", True),
            replica=env.get("SMYTH_REPLICA") or socket.gethostname(),
        )


class Worker:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.supervisor = Supervisor(settings.spec, index=0)
        self.starting: asyncio.Task[None] | None = None
        self._channels: dict[Channel, asyncio.Task[None]] = {}
        self._answering: set[Channel] = set()
        self._closing = False

    def begin(self) -> asyncio.Task[None]:
        """Start the handler process in the background; invocations wait for it."""
        self.starting = asyncio.ensure_future(self._start())
        return self.starting

    async def _start(self) -> None:
        error = await self.supervisor.start()
        if error is not None:
            # Keep serving: each invocation retries the init (as Lambda does) and a fix to
            # the code reloads it; the health endpoint reports the failure meanwhile.
            logger.error("%s: %s: %s", self.settings.spec.handler_name,
                         error.get("errorType"), error.get("errorMessage"))

    async def invoke(self, scope: Scope, receive: Receive) -> Answer | None:
        """Status, headers and body of the answer to one HTTP invocation request; None when
        the client left before sending all of its body."""
        if self.supervisor.busy:
            return _json(429, BUSY)
        self.supervisor.busy = True
        try:
            body = await read_body(receive)
            if body is None:
                return None
            try:
                invocation = wire.read_invocation(
                    header_map(scope), body, default_timeout=self.settings.default_timeout,
                    default_arn=self.settings.function_arn)
            except (ValueError, TypeError) as exc:
                return _json(400, {"errorType": "InvalidRequestContentException",
                                   "errorMessage": f"bad invocation header: {exc}"})
            result = await self._run(invocation)
        finally:
            self.supervisor.busy = False
        return 200, wire.result_headers(result, self.supervisor.state), wire.result_body(result)

    # -- the invocation channel -------------------------------------------------------
    def accept(self) -> Channel:
        """A new connection of the invocation channel (the server's protocol factory)."""
        channel = Channel()
        self._channels[channel] = asyncio.ensure_future(self._serve_channel(channel))
        return channel

    async def _serve_channel(self, channel: Channel) -> None:
        try:
            while not self._closing:
                header, body = await channel.receive()
                self._answering.add(channel)
                try:
                    reply = await self._invoke_frame(header, body)
                finally:
                    self._answering.discard(channel)
                channel.send(*reply)
        except ChannelClosed:
            pass  # the gateway closed it, or went away: nobody left to answer
        finally:
            channel.close()
            self._channels.pop(channel, None)

    async def close_channels(self, grace: float) -> None:
        """Stop taking invocations; let one that runs finish within ``grace`` seconds and
        send its answer, as uvicorn does for a request in flight."""
        self._closing = True
        for channel in self._channels:
            if channel not in self._answering:
                channel.close()
        tasks = list(self._channels.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()

    async def _invoke_frame(self, header: dict[str, Any], body: bytes
                            ) -> tuple[dict[str, Any], bytes]:
        if self.supervisor.busy:
            return wire.refusal_frame(BUSY["errorType"], BUSY["errorMessage"])
        try:
            invocation = wire.read_invocation_frame(header, body)
        except (KeyError, ValueError, TypeError) as exc:
            return wire.refusal_frame("InvalidRequestContentException",
                                      f"bad invocation frame: {exc!r}")
        self.supervisor.busy = True
        try:
            result = await self._run(invocation)
        finally:
            self.supervisor.busy = False
        return wire.result_frame(result, self.supervisor.state)

    async def _run(self, invocation: Invocation) -> InvocationResult:
        """Run one invocation; the caller has marked the supervisor busy."""
        if self.starting is not None and not self.starting.done():
            await asyncio.shield(self.starting)  # one process, not a second one for us
        result = await self.supervisor.invoke(invocation)
        result.replica = self.settings.replica
        return result

    def health(self) -> tuple[int, dict[str, object]]:
        status = self.supervisor.status()
        ready = status["state"] in ("cold", "warm", "busy")
        return (200 if ready else 503), {**status, "handler": self.supervisor.handler_name,
                                         "container": self.settings.replica,
                                         wire.CHANNEL_PORT_KEY: self.settings.channel_port}

    async def reload_changed(self, changed: set[str]) -> None:
        if self.supervisor.watches(changed):
            logger.info("Reloading %s (changed: %s)", self.supervisor.handler_name,
                        ", ".join(sorted(changed)[:3]))
            await self.supervisor.reload()

    async def reload(self) -> Answer:
        await self.supervisor.reload()
        return _json(200, self.health()[1])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The worker's ASGI app: invoke, health and reload (lifespan is off)."""
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        answer: Answer | None
        if path == wire.INVOKE_PATH and method == "POST":
            answer = await self.invoke(scope, receive)
        elif path == wire.HEALTH_PATH and method in ("GET", "HEAD"):
            answer = _json(*self.health())
        elif path == wire.RELOAD_PATH and method == "POST":
            answer = await self.reload()
        elif path in (wire.INVOKE_PATH, wire.HEALTH_PATH, wire.RELOAD_PATH):
            answer = _json(405, {"errorType": "MethodNotAllowed",
                                 "errorMessage": f"{method} is not allowed on {path}"})
        else:
            answer = _json(404, {"errorType": "NotFound",
                                 "errorMessage": f"no such worker endpoint: {path}"})
        if answer is None:  # the client is gone: nobody to answer
            return
        status, headers, body = answer
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        raw += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def header_map(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case, as ASGI gives them) name; the first of repeats."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers


def _json(status: int, data: Mapping[str, object]) -> Answer:
    # Compact, as Starlette's JSONResponse wrote it: what `smyth up` quotes from a replica's
    # health when it is not ready.
    return status, {}, json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


async def serve(settings: WorkerSettings, host: str = "0.0.0.0") -> int:
    worker = Worker(settings)
    server = GatewayServer(uvicorn.Config(  # configures logging, so it comes first
        worker, log_config=log_config("INFO"), log_level="warning", access_log=False,
        lifespan="off", timeout_graceful_shutdown=SHUTDOWN_GRACE, server_header=False,
    ), on_exit=lambda: asyncio.get_running_loop().call_soon(worker.supervisor.abandon_debugged))
    channel_server = await asyncio.get_running_loop().create_server(
        worker.accept, sock=bind_socket(host, settings.channel_port))
    # Serve while the handler imports, so health can say "starting" rather than nothing.
    starting = worker.begin()
    stop = asyncio.Event()
    watcher = None
    if settings.reload:
        root = Path(settings.spec.project_root)
        watcher = asyncio.ensure_future(watch(root, worker.reload_changed, stop))
    try:
        await server.serve(sockets=[bind_socket(host, settings.port)])
    finally:
        stop.set()
        channel_server.close()
        await worker.close_channels(SHUTDOWN_GRACE)
        if watcher is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(watcher, 2)
        starting.cancel()
        await worker.supervisor.stop()
    return 0


def main() -> None:
    settings = WorkerSettings.from_env(os.environ)
    # The container's log: the handler process's output (through a pipe), START, END and
    # REPORT, and our own lines, in the order they were written, as one stream as CloudWatch
    # has it, leaving in batches (smyth/batched.py).
    batch_standard_streams(merge=True)
    raise SystemExit(run_loop(serve(settings)))


if __name__ == "__main__":
    main()

