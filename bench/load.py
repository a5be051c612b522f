"""The load generator: a raw-socket HTTP/1.1 keep-alive client, run as its own process.

    python bench/load.py URL --clients N --seconds S      # throughput
    python bench/load.py URL --requests N                  # sequential latency

It prints one JSON object on stdout. Each client is one connection issuing one request at
a time (no pipelining), like a browser tab or a service calling an API. The client is a
bare asyncio Protocol on uvloop when installed, a few microseconds of Python per request,
so that it is not the bottleneck of the servers it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit


class ResponseError(Exception):
    pass


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``request()`` returns the status of one response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.needed = -1
        self.status = 0
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ResponseError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.needed < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            self.status = int(head[9:12])
            start = head.find(b"\r\ncontent-length:")
            if start < 0:
                self._fail("response without content-length")
                return
            stop = head.find(b"\r\n", start + 2)
            length = int(head[start + 17:stop if stop > 0 else None])
            self.needed = end + 4 + length
        if len(buffer) >= self.needed:
            del buffer[:self.needed]
            self.needed = -1
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(self.status)

    def _fail(self, message: str) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ResponseError(message))
        if self.transport is not None:
            self.transport.close()

    async def request(self, data: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


def request_bytes(url: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    data = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: smyth-bench\r\n\r\n"
    return host, port, data.encode()


async def connect(host: str, port: int) -> Connection:
    _, conn = await asyncio.get_running_loop().create_connection(Connection, host, port)
    return conn


async def client_loop(url: str, stop_at: float, counts: dict[str, int]) -> None:
    host, port, data = request_bytes(url)
    conn: Connection | None = None
    clock = time.perf_counter
    while clock() < stop_at:
        try:
            if conn is None or conn.closed:
                conn = await connect(host, port)
            status = await conn.request(data)
        except (OSError, ResponseError) as exc:
            counts["errors"] += 1
            counts.setdefault("first_error", str(exc))  # type: ignore[arg-type]
            conn = None
            await asyncio.sleep(0.01)
            continue
        if status == 200:
            counts["ok"] += 1
        else:
            counts["errors"] += 1
            key = f"status_{status}"
            counts[key] = counts.get(key, 0) + 1
    if conn is not None and conn.transport is not None:
        conn.transport.close()


async def throughput(url: str, clients: int, seconds: float) -> dict[str, Any]:
    counts: dict[str, int] = {"ok": 0, "errors": 0}
    started = time.perf_counter()
    await asyncio.gather(*(client_loop(url, started + seconds, counts) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {**counts, "seconds": elapsed, "rps": counts["ok"] / elapsed}


async def latency(url: str, requests: int, warmup: int) -> dict[str, Any]:
    host, port, data = request_bytes(url)
    conn = await connect(host, port)
    clock = time.perf_counter
    samples: list[float] = []
    errors = 0
    for i in range(warmup + requests):
        started = clock()
        status = await conn.request(data)
        elapsed = clock() - started
        if status != 200:
            errors += 1
        if i >= warmup:
            samples.append(elapsed * 1e6)
    assert conn.transport is not None
    conn.transport.close()
    samples.sort()
    return {"ok": requests - errors, "errors": errors, "samples": [round(s, 1) for s in samples],
            "p50_us": percentile(samples, 50), "p99_us": percentile(samples, 99)}


def percentile(sorted_samples: list[float], pct: float) -> float:
    if not sorted_samples:
        return float("nan")
    index = min(len(sorted_samples) - 1, round(pct / 100 * (len(sorted_samples) - 1)))
    return sorted_samples[index]


def run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--requests", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args(argv)
    if args.requests:
        result = run(latency(args.url, args.requests, args.warmup))
    else:
        result = run(throughput(args.url, args.clients, args.seconds or 2.0))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
