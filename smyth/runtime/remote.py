"""Replicas in worker containers: the placement ``smyth up`` uses.

A ``RemoteReplica`` is the gateway's handle on one worker server. It has the same interface
as the local ``Supervisor``, so the gateway cannot tell them apart. Health and reload are HTTP
requests; invocations, the hot path, go over the worker's invocation channel: one TCP
connection carrying the same frames a supervisor sends its handler process (see ``wire``).
The worker enforces the deadline itself, so an invocation here has no read timeout: a
debugger may hold it as long as the developer likes, and a dead worker closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from smyth.runtime import wire
from smyth.runtime.channel import Channel
from smyth.runtime.supervisor import failure_result
from smyth.types import Invocation, InvocationResult, ReplicaState

logger = logging.getLogger("smyth.runtime")

READY_TIMEOUT = 120.0  # the container's start, the interpreter's, then the handler's init
POLL_INTERVAL = 0.1
CONNECT_TIMEOUT = 5.0


class RemoteReplica:
    def __init__(self, handler_name: str, index: int, url: str, *,
                 ready_timeout: float = READY_TIMEOUT, debug_port: int | None = None,
                 debug_remote_root: str | None = None) -> None:
        self.handler_name = handler_name
        # Where an IDE on the host attaches to this replica's debugpy, and where the
        # project is mounted in its container: what `smyth debug` needs to know.
        self.debug_port = debug_port
        self.debug_remote_root = debug_remote_root
        self.index = index
        self.url = url.rstrip("/")
        self.busy = False
        self.invocations = 0
        self.last_duration_ms: float | None = None
        self.ready_timeout = ready_timeout
        self._state: ReplicaState = "starting"
        self._worker: dict[str, Any] = {}
        self._client: httpx.AsyncClient | None = None
        self._host = urlsplit(self.url).hostname or "127.0.0.1"
        self._channel: Channel | None = None

    @property
    def name(self) -> str:
        return f"{self.handler_name}[{self.index}]"

    @property
    def warm(self) -> bool:
        return self._state == "warm"

    @property
    def state(self) -> ReplicaState:
        return "busy" if self.busy and self._state != "stopped" else self._state

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(None, connect=CONNECT_TIMEOUT)
            self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout)
        return self._client

    def _track(self, worker: dict[str, Any]) -> None:
        self._worker = worker
        state = worker.get("state")
        if state in ("starting", "cold", "warm", "failed"):
            self._state = state

    async def start(self) -> dict[str, Any] | None:
        """Wait until the worker has imported its handler; return its init error, if any."""
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            try:
                response = await self._http().get(wire.HEALTH_PATH, timeout=CONNECT_TIMEOUT)
                self._track(response.json())
                if self._state == "failed":
                    error: dict[str, Any] = self._worker.get("init_error") or {}
                    return error
                if response.status_code == 200:
                    return None
                last = f"state {self._state}"
            except (httpx.TransportError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"  # the container may still be starting
            await asyncio.sleep(POLL_INTERVAL)
        self._state = "failed"
        return {"errorType": "Runtime.Unavailable", "requestId": "", "stackTrace": [],
                "errorMessage": f"worker {self.name} at {self.url} was not ready within "
                                f"{self.ready_timeout:.0f} s ({last})"}

    async def invoke(self, invocation: Invocation) -> InvocationResult:
        try:
            channel = await self._open_channel()
            channel.send(*wire.invocation_frame(invocation))
            header, body = await channel.receive()
        except (OSError, asyncio.TimeoutError, httpx.TransportError, ValueError) as exc:
            self._close_channel()
            logger.error("%s: worker %s unreachable: %s", self.name, self.url, exc)
            return failure_result(invocation.request_id, "ServiceException",
                                  f"worker {self.name} at {self.url} is unreachable: {exc}")
        except BaseException:
            # Cancelled while the worker runs it: its answer must not be taken for the next
            # invocation's, so this connection is done with.
            self._close_channel()
            raise
        if header.get("type") == "refused":
            return failure_result(invocation.request_id, "ServiceException",
                                  f"worker {self.name} refused the invocation: "
                                  f"{header.get('errorType')}: {header.get('errorMessage')}")
        if header.get("type") != "result" or header.get("request_id") != invocation.request_id:
            self._close_channel()
            return failure_result(invocation.request_id, "ServiceException",
                                  f"worker {self.name} answered out of turn: {header!r:.200}")
        result = wire.read_result_frame(header, body)
        self._track({**self._worker, "state": header.get("state"), "container": result.replica})
        self.invocations += 1
        self.last_duration_ms = result.duration_ms
        return result

    async def _open_channel(self) -> Channel:
        """The connection to the worker's invocation channel, opened on first use and again
        after it closed (the worker restarted, or an invocation was abandoned)."""
        if self._channel is not None and not self._channel.closed:
            return self._channel
        port = self._worker.get(wire.CHANNEL_PORT_KEY)
        if not isinstance(port, int):  # never heard from the worker yet: ask it
            response = await self._http().get(wire.HEALTH_PATH, timeout=CONNECT_TIMEOUT)
            self._track(response.json())
            port = self._worker.get(wire.CHANNEL_PORT_KEY)
            if not isinstance(port, int):
                raise ConnectionError("its health answer names no invocation channel port")
        loop = asyncio.get_running_loop()
        _, channel = await asyncio.wait_for(
            loop.create_connection(Channel, self._host, port), CONNECT_TIMEOUT)
        self._channel = channel
        return channel

    def _close_channel(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    async def reload(self) -> None:
        try:
            response = await self._http().post(wire.RELOAD_PATH)
            self._track(response.json())
        except (httpx.TransportError, ValueError) as exc:
            logger.error("%s: reload of worker %s failed: %s", self.name, self.url, exc)

    def watches(self, changed: set[str]) -> bool:
        return False  # each worker watches its own mount of the project

    def abandon_debugged(self) -> None:
        """The worker container's own shutdown ends what its debugger holds."""

    async def stop(self) -> None:
        self._state = "stopped"
        self._close_channel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def status(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "url": self.url,
            "container": self._worker.get("container"),
            "pid": self._worker.get("pid"),
            "state": self.state,
            "invocations": self.invocations,
            "last_duration_ms": self.last_duration_ms,
            "generation": self._worker.get("generation"),
            "init_error": self._worker.get("init_error"),
            "debug_port": self.debug_port,
            "debug_remote_root": self.debug_remote_root,
        }
