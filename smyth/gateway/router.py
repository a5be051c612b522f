"""The Starlette app behind every route that is not a handler's fixed path: Smyth's status,
the Invoke API, handler paths with parameters, and the 404 and 405 answers.

The gateway imports this module the first time such a request comes, not at startup: a
project whose routes are all fixed paths serves its first request without Starlette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smyth.events import HttpResponse
from smyth.gateway import invoke_api
from smyth.gateway.http import Endpoint
from smyth.gateway.responses import raw_response

if TYPE_CHECKING:
    from smyth.asgi import ASGIApp
    from smyth.gateway.app import Gateway


def to_starlette(response: HttpResponse) -> Response:
    """The Starlette response for a format's response (see ``raw_response``)."""
    status, headers, body = raw_response(response)
    result = Response(content=body, status_code=status)
    result.raw_headers += headers
    return result


def build(gateway: Gateway, endpoints: dict[str, Endpoint], methods: list[str]) -> ASGIApp:
    async def status(request: Request) -> Response:
        return JSONResponse(gateway.status())

    # An unknown route is answered as the integration would when every handler uses the
    # same one (a REST API's 403); a mixed project gets a plain 404.
    formats = {type(h.event_format): h.event_format for h in gateway.handlers.values()}
    unrouted = to_starlette(next(iter(formats.values())).not_found()) if len(formats) == 1 \
        else JSONResponse({"message": "Not Found"}, status_code=404)

    async def not_found(request: Request, exc: Exception) -> Response:
        return unrouted

    routes = [Route("/__/status", status, methods=["GET"]), *invoke_api.routes(gateway)]
    routes += [Route(h.config.url_path, endpoints[name], methods=methods, name=name)
               for name, h in gateway.handlers.items()]
    return Starlette(routes=routes, exception_handlers={404: not_found})  # type: ignore[return-value]
