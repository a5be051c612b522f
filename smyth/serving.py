"""uvicorn's server as Smyth runs it, for the gateway and the worker server alike: signals
that end serving without being raised again, a pre-bound socket, Smyth's loggers."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Generator
from types import FrameType
from typing import Any

import uvicorn

from smyth.loop import Shutdown


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
