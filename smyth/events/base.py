"""What an event format is: HTTP request → Lambda event, handler result → HTTP response.

Formats are pure: they see plain dataclasses, not Starlette objects, so each one can be
tested dict-in/dict-out against AWS's published sample events. Each also owns the answers
its AWS front door gives when something goes wrong (function error, oversized request,
integration timeout), because those differ between API Gateway, function URLs and ALB.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from smyth.exceptions import SmythError

MB = 1024 * 1024
SYNC_PAYLOAD_LIMIT = 6 * MB  # Lambda's limit for a synchronous request or response
API_GATEWAY_PAYLOAD_LIMIT = 10 * MB  # API Gateway's own quota, REST and HTTP APIs alike
# API Gateway's quota on the request line and headers together, REST and HTTP APIs alike.
API_GATEWAY_HEADER_LIMIT = 10240
HEADER_LIMIT = 64 * 1024  # ALB's whole-header limit, and the default for the others
# Smyth's own guard, as HTTP servers have one (Node's is 2,000): no AWS front door passes
# thousands of headers on to a function's event.
HEADER_COUNT_LIMIT = 1000


class MalformedResponseError(SmythError):
    """The handler's result does not follow the format's response rules."""


@dataclass
class HttpRequest:
    method: str
    path: str  # decoded
    query_string: str  # raw, without the '?'
    headers: list[tuple[str, str]]  # in arrival order, names lowercased, repeats kept
    body: bytes
    source_ip: str = "127.0.0.1"
    scheme: str = "http"
    server_port: int = 80
    http_version: str = "1.1"
    route_template: str = "/"  # the handler's url_path, in Starlette syntax
    path_params: dict[str, str] = field(default_factory=dict)
    raw_path: str | None = None  # as sent, still percent-encoded (ALB passes it on so)

    def header(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return default


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_response(status: int, data: Any, extra: list[tuple[str, str]] | None = None,
                  compact: bool = False) -> HttpResponse:
    # API Gateway's own bodies differ in spacing between products; ``compact`` keeps them exact.
    body = json.dumps(data, separators=(",", ":") if compact else None).encode()
    return HttpResponse(status, [("content-type", "application/json"), *(extra or [])], body)


@dataclass
class FormatOptions:
    """Per-handler settings a format may need."""

    function_name: str = "function"
    region: str = "us-east-1"
    account_id: str = "123456789012"
    multi_value_headers: bool = False  # ALB target groups' switch


class EventFormat(ABC):
    name: ClassVar[str]
    # The largest request body the front door passes on (API Gateway 10 MB, ALB 1 MB).
    max_request_body: ClassVar[int] = API_GATEWAY_PAYLOAD_LIMIT
    # The largest request line plus headers it takes (names, values and the request target).
    max_request_headers: ClassVar[int] = HEADER_LIMIT
    # The largest handler result it accepts.
    max_response_payload: ClassVar[int] = SYNC_PAYLOAD_LIMIT
    # Seconds the front door waits for Lambda before answering on its own; None: as long
    # as the function's own timeout.
    integration_timeout: ClassVar[float | None] = None

    def __init__(self, options: FormatOptions | None = None) -> None:
        self.options = options or FormatOptions()

    @abstractmethod
    def build_event(self, request: HttpRequest, request_id: str, now: float) -> dict[str, Any]:
        """The event a handler behind this integration receives. ``now`` is epoch seconds."""

    @abstractmethod
    def build_response(self, result: Any) -> HttpResponse:
        """The HTTP response for the handler's (JSON-decoded) result.

        Raises MalformedResponseError when the integration would reject the result."""

    def response_for(self, payload: bytes) -> HttpResponse:
        """The HTTP response for the handler's result as the runtime serialised it."""
        return self.build_response(self.decode(payload))

    def decode(self, payload: bytes) -> Any:
        if len(payload) > self.max_response_payload:
            raise MalformedResponseError(f"response of {len(payload)} bytes exceeds the "
                                         f"{self.max_response_payload}-byte limit")
        try:
            return json.loads(payload) if payload else None
        except ValueError as exc:
            raise MalformedResponseError(f"result is not JSON: {exc}") from exc
        except RecursionError:  # deeper than this interpreter's parser goes
            raise MalformedResponseError("result is nested too deeply to parse") from None

    @abstractmethod
    def function_error(self) -> HttpResponse:
        """The response when the function failed: exception, timeout, crash or bad result."""

    def request_too_large(self) -> HttpResponse:
        """The front door's answer to a body over ``max_request_body``."""
        return json_response(413, {"message": "Request Entity Too Large"})

    def headers_too_large(self) -> HttpResponse:
        """The front door's answer to a request over ``max_request_headers``."""
        return json_response(431, {"message": "Request Header Fields Too Large"})

    def invoke_rejected(self) -> HttpResponse:
        """The answer when Lambda refuses the invoke itself (an event over 6 MB)."""
        return self.function_error()

    def integration_timed_out(self) -> HttpResponse:
        """The answer when ``integration_timeout`` passes before the function returns."""
        return self.function_error()

    def not_found(self) -> HttpResponse:
        return json_response(404, {"message": "Not Found"})
