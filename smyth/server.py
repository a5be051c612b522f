"""Serving a gateway with uvicorn: startup, signals, graceful shutdown, terminal hygiene."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import uvicorn

from smyth.config import Config, HandlerConfig
from smyth.gateway.access import AccessLog
from smyth.gateway.app import Gateway
from smyth.gateway.handler import build_handler
from smyth.loop import Shutdown, run_loop, terminal_preserved  # noqa: F401 (part of this module's API)
from smyth.reload import watch
from smyth.serving import GatewayServer, bind_socket, log_config
from smyth.startup import interrupted
from smyth.types import Replica

logger = logging.getLogger("smyth")

GRACE_SECONDS = 5
ReplicaFactory = Callable[[HandlerConfig, int], Sequence[Replica]]


def build_gateway(config: Config, replicas_for: ReplicaFactory) -> Gateway:
    """A gateway whose replicas come from ``replicas_for(handler, position)``."""
    # Custom generators and strategies live in the project, as the handlers do.
    if str(config.root) not in sys.path:
        sys.path.insert(0, str(config.root))
    handlers = {
        name: build_handler(config, handler, replicas_for(handler, position))
        for position, (name, handler) in enumerate(config.handlers.items())
    }
    return Gateway(config, handlers)


async def serve(gateway: Gateway, host: str, port: int, *, log_level: str, reload: bool,
                banner: Callable[[str, int], None] | None = None,
                started: Awaitable[dict[str, dict[str, Any]]] | None = None,
                shutdown: Shutdown | None = None) -> int:
    """Start replicas (unless ``started`` already does: their init errors by handler name),
    serve until a signal, then shut down in order. Returns an exit code.

    A signal at any point, startup included, ends in the same order — stop accepting, let
    in-flight invocations finish within the grace period, stop every handler process — and
    exit 0."""
    config = gateway.config
    shutdown = shutdown or Shutdown()
    shutdown.attach()
    starting = asyncio.ensure_future(started if started is not None else gateway.start())
    try:
        failed = await shutdown.unless_stopped(starting)
        if failed and any(interrupted(error) for error in failed.values()):
            # A handler process that died of SIGINT while importing got the terminal's Ctrl-C
            # (the group's) before it could ignore it: ours is on its way, or already here.
            shutdown.trigger(signal.SIGINT)
        if failed is None or shutdown.requested:
            return 0
        if failed:
            for name, error in failed.items():
                print(f"smyth: error: {config.path}, key 'tool.smyth.handlers.{name}.handler_path': "
                      f"{error['errorType']}: {error['errorMessage']}", file=sys.stderr)
            return 2
        try:
            sock = bind_socket(host, port)
        except OSError as exc:
            print(f"smyth: error: cannot listen on {host}:{port}: {exc.strerror}. "
                  "Pick another port with --port (0 picks a free one).", file=sys.stderr)
            return 1
        port = sock.getsockname()[1]
        server = GatewayServer(uvicorn.Config(
            gateway.app(AccessLog(log_level)), log_config=log_config(log_level),
            log_level=log_level.lower(),
            access_log=False,  # the gateway writes it, after each response: gateway/access.py
            lifespan="off", timeout_graceful_shutdown=GRACE_SECONDS, server_header=False,
            ws="none",  # Lambda proxy integrations are HTTP only: no websockets import at startup
        ), on_exit=gateway.abandon_debugged, shutdown=shutdown)
        if banner is not None:
            banner(host, port)
        stop = asyncio.Event()
        watcher = asyncio.ensure_future(watch(config.root, gateway.reload_changed, stop)) if reload else None
        try:
            await server.serve(sockets=[sock])
        finally:
            stop.set()
            if watcher is not None:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(watcher, 2)
    finally:
        await gateway.stop()
        if not starting.done():  # stopped during startup: the spawns have been stopped too
            starting.cancel()
        with contextlib.suppress(BaseException):
            await starting
    return 0
