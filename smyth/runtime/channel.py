"""One end of a connection that carries frames (``smyth.runtime.protocol``) on the loop.

The supervisor talks to its handler process through one, over a socket pair; the gateway
talks to a worker container through one, over TCP (the invocation channel), and the worker
answers through one. A bare ``asyncio.Protocol`` decodes whole frames as bytes arrive and
hands them to the one waiting reader, so a frame costs one write and one wake-up on each
side: no stream reader tasks, no per-read futures, no timeout task per wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections import deque
from typing import Any

from smyth.runtime import protocol

logger = logging.getLogger("smyth.runtime")

PREFIX = protocol.PREFIX
HEAD = PREFIX.size


class ChannelClosed(ConnectionError):
    """The other end closed the connection (a handler process exited or crashed, a worker
    or the gateway went away)."""


class Channel(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._frames: deque[tuple[dict[str, Any], bytes]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    # -- asyncio.Protocol ------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        size = len(buffer)
        start = 0
        while size - start >= HEAD:
            head_len, body_len = PREFIX.unpack_from(buffer, start)
            end = start + HEAD + head_len + body_len
            if size < end:
                break
            with memoryview(buffer) as view:
                head = bytes(view[start + HEAD:start + HEAD + head_len])
                body = bytes(view[end - body_len:end]) if body_len else b""
            try:
                header = json.loads(head)
            except ValueError:
                header = None
            if not isinstance(header, dict):
                # Not our protocol (a stray client on a worker's channel port, a broken
                # peer): this connection is over, and only this one.
                logger.warning("closing a connection that sent a frame which is not ours "
                               "(header %r)", head[:60])
                buffer.clear()
                if self.transport is not None:
                    self.transport.close()
                return
            self._frames.append((header, body))
            start = end
        if start:
            del buffer[:start]
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the owner's side -----------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed or self.transport is None or self.transport.is_closing()

    def send(self, header: dict[str, Any], body: bytes = b"") -> None:
        """Queue one frame. The transport buffers what the socket cannot take yet; a
        replica has one invocation in flight, so that is at most one payload."""
        if self.closed:
            raise ChannelClosed("the other end is gone")
        assert self.transport is not None
        self.transport.write(protocol.encode(header, body))

    async def receive(self, timeout: float | None = None) -> tuple[dict[str, Any], bytes]:
        """The next frame; TimeoutError after ``timeout`` s, ChannelClosed at EOF."""
        if not self._frames:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
            try:
                await waiter  # woken by a frame or by EOF
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not self._frames:
                raise ChannelClosed("the other end closed the connection")
        return self._frames.popleft()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(asyncio.TimeoutError())


async def open_channel(sock: socket.socket) -> Channel:
    _, channel = await asyncio.get_running_loop().create_connection(Channel, sock=sock)
    return channel
