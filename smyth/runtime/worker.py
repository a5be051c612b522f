"""The worker server: the entrypoint of each worker container (``python -m smyth.runtime.worker``).

An HTTP server around ONE supervisor, so a container runs the same handler runtime as
``smyth run``. It speaks the Runtime Interface Emulator's invoke protocol (see
``smyth.runtime.wire``), serves one invocation at a time as a Lambda execution environment
does, watches the read-only project mount and replaces its handler process when an imported
file changes — the container itself never restarts for a code change.

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

import uvicorn

from smyth.asgi import Receive, Scope, Send, read_body
from smyth.loop import run_loop
from smyth.reload import watch
from smyth.runtime import wire
from smyth.runtime.launch import ProcessSpec
from smyth.runtime.supervisor import Supervisor
from smyth.serving import GatewayServer, bind_socket, log_config

Answer = tuple[int, dict[str, str], bytes]

logger = logging.getLogger("smyth.worker")

PORT = 8080
# Settings of the worker itself; the handler process does not need to see them.
OWN_SETTINGS = ("SMYTH_HANDLER_PYTHON", "SMYTH_RUNTIME_PATH", "SMYTH_RELOAD", "SMYTH_PORT",
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
        )
        return cls(
            spec=spec,
            function_arn=f"arn:aws:lambda:{region}:123456789012:function:{name}",
            default_timeout=float(timeout) if timeout else None,
            port=int(env.get("SMYTH_PORT", PORT)),
            reload=_flag(env, "SMYTH_RELOAD", True),
            replica=env.get("SMYTH_REPLICA") or socket.gethostname(),
        )


class Worker:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.supervisor = Supervisor(settings.spec, index=0)
        self.starting: asyncio.Task[None] | None = None

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
        """Status, headers and body of the answer to one invocation request; None when the
        client left before sending all of its body."""
        supervisor = self.supervisor
        if supervisor.busy:
            # One invocation per execution environment; the gateway never sends two.
            return _json(429, {"errorType": "TooManyRequestsException",
                               "errorMessage": "this worker is serving another invocation"})
        supervisor.busy = True
        try:
            if self.starting is not None and not self.starting.done():
                await asyncio.shield(self.starting)  # one process, not a second one for us
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
            result = await supervisor.invoke(invocation)
        finally:
            supervisor.busy = False
        result.replica = self.settings.replica
        return 200, wire.result_headers(result, supervisor.state), wire.result_body(result)

    def health(self) -> tuple[int, dict[str, object]]:
        status = self.supervisor.status()
        ready = status["state"] in ("cold", "warm", "busy")
        return (200 if ready else 503), {**status, "handler": self.supervisor.handler_name,
                                         "container": self.settings.replica}

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
        lifespan="off", timeout_graceful_shutdown=5, server_header=False,
    ), on_exit=lambda: asyncio.get_running_loop().call_soon(worker.supervisor.abandon_debugged))
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
        if watcher is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(watcher, 2)
        starting.cancel()
        await worker.supervisor.stop()
    return 0


def main() -> None:
    settings = WorkerSettings.from_env(os.environ)
    raise SystemExit(run_loop(serve(settings)))


if __name__ == "__main__":
    main()

