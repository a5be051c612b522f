"""A minimal HTTP/1.1 client for the one request the gateway sends most: an invocation.

``RemoteReplica`` posts every invocation to its worker container. httpx costs about 2 ms of
CPU per request on a small machine (its connection pool, anyio streams and h11 parser in
pure Python), more than the worker and the handler together. A replica has one invocation
in flight at a time, so one keep-alive connection with a hand-written request and a
content-length (or chunked) response is all it needs.
"""

from __future__ import annotations

import asyncio
import time

CONNECT_TIMEOUT = 5.0
# A server closes an idle keep-alive connection after a while (uvicorn: 5 s); reconnecting
# a little before that avoids sending a request into a connection being closed.
IDLE_REUSE = 4.0


class TransportError(ConnectionError):
    """The worker could not be reached, or closed the connection before answering."""


class Response:
    __slots__ = ("content", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], content: bytes) -> None:
        self.status = status
        self.headers = headers  # names lowercased
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0

    async def _connect(self) -> None:
        self.close()
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=2**26), CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as exc:
            raise TransportError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc

    def _reusable(self) -> bool:
        return (self._writer is not None and not self._writer.is_closing()
                and self._reader is not None and not self._reader.at_eof()
                and time.monotonic() - self._last_used < IDLE_REUSE)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Response:
        if not self._reusable():
            await self._connect()
        assert self._reader is not None and self._writer is not None
        head = (f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                f"content-length: {len(body)}\r\n"
                + "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n")
        try:
            self._writer.write(head.encode("latin-1") + body)
            response = await self._read_response(self._reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError) as exc:
            self.close()
            raise TransportError(f"{self.host}:{self.port} closed the connection "
                                 f"without an answer: {exc!r}") from exc
        except BaseException:  # cancelled mid-response: the connection's state is unknown
            self.close()
            raise
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        self._last_used = time.monotonic()
        return response

    @staticmethod
    async def _read_response(reader: asyncio.StreamReader) -> Response:
        block = await reader.readuntil(b"\r\n\r\n")
        lines = block.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")  # the empty trailer
            content = b"".join(chunks)
        else:
            content = await reader.read()
            headers["connection"] = "close"
        return Response(status, headers, content)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
