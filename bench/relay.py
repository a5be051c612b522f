"""The floor of any process-per-handler design: a bare ASGI app that relays each request to
one child process over a socket pair and answers with what the child sends back.

No framework, no event format, no logs, no dispatch: only the hop Smyth cannot avoid (one
write to the child, the child's JSON decode and encode, one write back). Served by plain
uvicorn with the baseline's settings, it shows how much of Smyth's latency the extra process
costs on this machine by itself. Not a Smyth component: the benchmark copies it next to the
baseline app and runs it as ``relay:app``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from typing import Any

PREFIX = struct.Struct("!I")
ANSWER = {"message": "hello", "version": 1}
# About the size of the HTTP API event Smyth builds for the benchmark's GET.
EVENT = json.dumps({"version": "2.0", "routeKey": "ANY /c1", "rawPath": "/c1",
                    "headers": {"host": "127.0.0.1", "user-agent": "smyth-bench"},
                    "requestContext": {"padding": "x" * 600}}).encode()


def child(sock: socket.socket) -> None:
    reader = sock.makefile("rb")
    while True:
        head = reader.read(PREFIX.size)
        if len(head) < PREFIX.size:
            os._exit(0)
        json.loads(reader.read(PREFIX.unpack(head)[0]))
        body = json.dumps(ANSWER).encode()
        sock.sendall(PREFIX.pack(len(body)) + body)


def spawn() -> socket.socket:
    parent_sock, child_sock = socket.socketpair()
    if os.fork() == 0:
        parent_sock.close()
        child(child_sock)
    child_sock.close()
    return parent_sock


class Relay(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= PREFIX.size:
            size = PREFIX.unpack_from(self.buffer)[0]
            if len(self.buffer) >= PREFIX.size + size and self.waiter is not None:
                body = bytes(self.buffer[PREFIX.size:PREFIX.size + size])
                del self.buffer[:PREFIX.size + size]
                self.waiter.set_result(body)


class Pool:
    """Children that serve one request at a time each; a request waits for a free one."""

    def __init__(self, size: int) -> None:
        self.socks = [spawn() for _ in range(size)]
        self.free: asyncio.Queue[Relay] | None = None

    async def relay(self, event: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        if self.free is None:
            self.free = asyncio.Queue()
            for sock in self.socks:
                self.free.put_nowait((await loop.create_connection(Relay, sock=sock))[1])
        relay = await self.free.get()
        try:
            assert relay.transport is not None
            relay.waiter = loop.create_future()
            relay.transport.write(PREFIX.pack(len(event)) + event)
            return await relay.waiter
        finally:
            self.free.put_nowait(relay)


# The benchmark's two handlers: /c1 with one child, /c4 with four.
POOLS = {"/c1": Pool(1), "/c4": Pool(4)}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = await POOLS[scope["path"]].relay(EVENT)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
