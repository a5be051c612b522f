"""The few ASGI pieces Smyth's servers share, so that the request path needs no framework.

The gateway's handler routes and the worker server are bare ASGI apps: importing Starlette
(and its anyio, email, multipart …) costs a process more at startup than everything else
Smyth loads, and a route whose path is fixed needs none of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def read_body(receive: Receive) -> bytes | None:
    """The request's whole body; None when the client disconnects first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)

