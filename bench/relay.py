"""The floor of any process-per-handler design: a bare ASGI app that relays each request to
one child process over a socket pair and answers with what the child sends back.

No framework, no event format, no logs, no dispatch: only the hop Smyth cannot avoid (one
write to the child, the child's JSON decode and encode, one write back). Served by plain
uvicorn with the baseline's settings, it shows how much of Smyth's latency the extra process
costs on this machine by itself. Not a Smyth component: the benchmark copies it next to the
baseline app and runs it as ``relay:app``.

Two hops, for the Docker floor (``smyth up`` has a gateway container and a worker
container): with ``RELAY_UPSTREAM=host:port`` the app relays over TCP to ``python relay.py
serve PORT`` in another container instead, which relays each frame to a child of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import sys
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
        upstream = os.environ.get("RELAY_UPSTREAM")
        self.upstream = upstream.rsplit(":", 1) if upstream else None
        self.size = size
        self.free: asyncio.Queue[Relay] | None = None

    async def connect(self) -> Relay:
        loop = asyncio.get_running_loop()
        if self.upstream:
            host, port = self.upstream
            return (await loop.create_connection(Relay, host, int(port)))[1]
        return (await loop.create_connection(Relay, sock=spawn()))[1]

    async def relay(self, event: bytes) -> bytes:
        if self.free is None:
            self.free = asyncio.Queue()
            for _ in range(self.size):
                self.free.put_nowait(await self.connect())
        relay = await self.free.get()
        try:
            assert relay.transport is not None
            relay.waiter = asyncio.get_running_loop().create_future()
            relay.transport.write(PREFIX.pack(len(event)) + event)
            return await relay.waiter
        finally:
            self.free.put_nowait(relay)


class Hop(asyncio.Protocol):
    """The upstream end of a two-hop relay: each frame goes to this connection's child,
    its answer back, as a worker server passes an invocation to its handler process."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.child: Relay | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        asyncio.ensure_future(self.attach())

    async def attach(self) -> None:
        loop = asyncio.get_running_loop()
        self.child = (await loop.create_connection(Relay, sock=spawn()))[1]
        self.data_received(b"")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.child is None or len(self.buffer) < PREFIX.size:
            return
        end = PREFIX.size + PREFIX.unpack_from(self.buffer)[0]
        if len(self.buffer) < end:
            return
        frame = bytes(self.buffer[:end])
        del self.buffer[:end]
        child = self.child
        child.waiter = asyncio.get_running_loop().create_future()
        child.waiter.add_done_callback(self.answer)
        assert child.transport is not None
        child.transport.write(frame)

    def answer(self, done: asyncio.Future[bytes]) -> None:
        body = done.result()
        assert self.transport is not None
        self.transport.write(PREFIX.pack(len(body)) + body)


async def serve_upstream(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Hop, "0.0.0.0", port)
    await server.serve_forever()


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


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    asyncio.run(serve_upstream(int(sys.argv[2])))
