"""Framing between a supervisor and its handler process (standard library only).

A frame is ``!II`` (header length, body length), a JSON header, then raw body bytes.
The body carries the event (to the handler) or the serialised result (back), so a
payload is encoded once by whoever produced it and never re-encoded in transit.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

PREFIX = struct.Struct("!II")


def encode(header: dict[str, Any], body: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return PREFIX.pack(len(head), len(body)) + head + body


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            raise EOFError("peer closed the connection")
        chunks += chunk
    return bytes(chunks)


def recv_frame(sock: socket.socket) -> tuple[dict[str, Any], bytes]:
    """Blocking read of one frame; raises EOFError when the peer is gone."""
    head_len, body_len = PREFIX.unpack(_recv_exactly(sock, PREFIX.size))
    header = json.loads(_recv_exactly(sock, head_len))
    body = _recv_exactly(sock, body_len) if body_len else b""
    return header, body
