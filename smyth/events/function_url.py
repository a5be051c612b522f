"""Lambda function URLs: payload 2.0 as Lambda itself sends it (aws-contracts.md §4).

The schema is the HTTP API's, with the differences the Lambda guide lists: no routes
(``routeKey`` is the ``$default`` placeholder, no ``pathParameters``), no stage variables,
and for the ``NONE`` auth type (the only one Smyth serves) ``accountId`` is ``anonymous``
and there is no ``authorizer``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, ClassVar

from smyth.events.base import (
    HEADER_LIMIT,
    SYNC_PAYLOAD_LIMIT,
    HttpRequest,
    HttpResponse,
    json_response,
)
from smyth.events.http_api import HttpApiFormat, is_inferred


def url_id(function_name: str) -> str:
    """A stable 32-character id in the shape of a function URL's ``<url-id>``."""
    digest = hashlib.sha256(function_name.encode()).digest()
    return base64.b32encode(digest).decode().lower()[:32]


class FunctionUrlFormat(HttpApiFormat):
    name = "function-url"
    # A function URL is Lambda itself: Lambda's 6 MB limit is the only one, and the only
    # timeout is the function's own.
    max_request_body = SYNC_PAYLOAD_LIMIT
    integration_timeout: ClassVar[float | None] = None
    max_request_headers: ClassVar[int] = HEADER_LIMIT  # not API Gateway's quota

    def route_key(self, request: HttpRequest) -> str:
        return "$default"

    def request_context(self, request: HttpRequest, now: float, key: str) -> dict[str, Any]:
        uid = url_id(self.options.function_name)
        context = super().request_context(request, now, key)
        context["accountId"] = "anonymous"  # what Lambda sends for the NONE auth type
        context["apiId"] = uid
        return context

    def build_event(self, request: HttpRequest, request_id: str, now: float) -> dict[str, Any]:
        event = super().build_event(request, request_id, now)
        event.pop("pathParameters", None)  # a function URL has no routes
        return event

    def response_for(self, payload: bytes) -> HttpResponse:
        if is_inferred(self.decode(payload)):
            # Lambda's guide: the function's JSON is the body as it is, so a string keeps
            # its quotes ("Hello, world!" is 15 bytes on the wire).
            return HttpResponse(200, [("content-type", "application/json")], payload)
        return super().response_for(payload)

    def inferred_body(self, result: Any) -> bytes:
        return json.dumps(result).encode()

    def function_error(self) -> HttpResponse:
        # AWS does not document this body; users report a 502 reading "Internal Server Error".
        return HttpResponse(502, [("content-type", "text/plain; charset=utf-8")],
                            b"Internal Server Error")

    def request_too_large(self) -> HttpResponse:
        # The function URL front end is Lambda's, so it refuses as the Invoke API does.
        return json_response(413, {"Message": f"Request must be smaller than {SYNC_PAYLOAD_LIMIT} "
                                              "bytes for the InvokeFunction operation"},
                             compact=True)

    def invoke_rejected(self) -> HttpResponse:
        return self.request_too_large()
