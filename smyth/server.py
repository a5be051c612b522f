"""Serving a gateway with uvicorn: startup, signals, graceful shutdown, terminal hygiene."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Generator, Sequence
from types import FrameType
from typing import Any

import uvicorn

from smyth.config import Config, HandlerConfig
from smyth.gateway.app import Gateway
from smyth.gateway.handler import build_handler
from smyth.loop import Shutdown, run_loop, terminal_preserved  # noqa: F401 (part of this module's API)
from smyth.reload import watch
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


class GatewayServer(uvicorn.Server):
    """uvicorn's server, but a signal ends serving without being raised again afterwards:
    we still have handler processes to stop, then exit 0."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], object] | None = None,
                 shutdown: Shutdown | None = None) -> None:
        super().__init__(config)
        self.on_exit = on_exit
        self.signals = shutdown
        if shutdown is not None:  # it owns the signals, from before we existed
            shutdown.on_signal(lambda sig: self.handle_exit(sig, None))

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self.on_exit is not None:
            self.on_exit()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if self.signals is not None or threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def log_config(level: str) -> dict[str, Any]:
    config: dict[str, Any] = {**uvicorn.config.LOGGING_CONFIG}
    config["loggers"] = {
        **config["loggers"],
        "smyth": {"handlers": ["default"], "level": level, "propagate": False},
    }
    return config


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
            gateway.app(), log_config=log_config(log_level), log_level=log_level.lower(),
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
