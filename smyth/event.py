"""The default event generator, at the path the original smyth used.

A custom generator (``event_data_generator_path``) may call it and add to its result::

    from smyth.event import generate_event_data

    async def my_event(request):
        event = await generate_event_data(request)
        event["my_custom_data"] = "data"
        return event
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from smyth.events import HttpRequest

if TYPE_CHECKING:
    from starlette.requests import Request

    from smyth.asgi import Receive, Scope


class ScopeView:
    """The request as Smyth's own generators see it: only its ASGI scope, which is all they
    read. The gateway hands a custom generator Starlette's ``Request``, which it was written
    against, and imports Starlette for it; a project on the defaults never does."""

    __slots__ = ("scope",)

    def __init__(self, scope: Scope, receive: Receive | None = None) -> None:
        self.scope = scope


def http_request(request: Request | ScopeView) -> HttpRequest:
    """The format-independent view of a request (its body already read)."""
    scope = request.scope
    client = scope.get("client") or ("127.0.0.1", 0)
    server = scope.get("server") or ("127.0.0.1", 80)
    return HttpRequest(
        method=scope["method"],
        path=scope["path"],
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=[(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]],
        body=scope["smyth.body"],
        source_ip=client[0],
        scheme=scope.get("scheme", "http"),
        server_port=server[1] or 80,
        http_version=scope.get("http_version", "1.1"),
        route_template=scope["smyth.handler"].config.url_path,
        path_params={k: str(v) for k, v in (scope.get("path_params") or {}).items()},
        raw_path=scope["raw_path"].decode("latin-1") if scope.get("raw_path") else None,
    )


async def generate_event_data(request: Request | ScopeView, handler: Any = None) -> dict[str, Any]:
    """The event the handler's ``event_format`` builds for this request."""
    runtime = handler if handler is not None and hasattr(handler, "event_format") else request.scope["smyth.handler"]
    return runtime.event_format.build_event(  # type: ignore[no-any-return]
        http_request(request), request.scope["smyth.request_id"], time.time())
