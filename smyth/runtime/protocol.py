"""Framing between a supervisor and its handler process (standard library only).

A frame is ``!II`` (header length, body length), a JSON header, then raw body bytes.
The body carries the event (to the handler) or the serialised result (back), so a
payload is encoded once by whoever produced it and never re-encoded in transit.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

PREFIX = struct.Struct("!II")


def encode(header: dict[str, Any], body: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return PREFIX.pack(len(head), len(body)) + head + body


def read_frame(reader: BinaryIO) -> tuple[dict[str, Any], bytes]:
    """Blocking read of one frame from a buffered reader; EOFError when the peer is gone."""
    prefix = reader.read(PREFIX.size)
    if len(prefix) < PREFIX.size:
        raise EOFError("peer closed the connection")
    head_len, body_len = PREFIX.unpack(prefix)
    head = reader.read(head_len)
    body = reader.read(body_len) if body_len else b""
    if len(head) < head_len or len(body) < body_len:
        raise EOFError("peer closed the connection")
    return json.loads(head), body
