"""What an event format is: HTTP request → Lambda event, handler result → HTTP response.

Formats are pure: they see plain dataclasses, not Starlette objects, so each one can be
tested dict-in/dict-out against AWS's published sample events.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from smyth.exceptions import SmythError

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024  # Lambda's limit for a synchronous request or response


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


def json_response(status: int, data: Any, extra: list[tuple[str, str]] | None = None) -> HttpResponse:
    body = json.dumps(data).encode()
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

    def __init__(self, options: FormatOptions | None = None) -> None:
        self.options = options or FormatOptions()

    @abstractmethod
    def build_event(self, request: HttpRequest, request_id: str, now: float) -> dict[str, Any]:
        """The event a handler behind this integration receives. ``now`` is epoch seconds."""

    @abstractmethod
    def build_response(self, result: Any) -> HttpResponse:
        """The HTTP response for the handler's (JSON-decoded) result.

        Raises MalformedResponseError when the integration would reject the result."""

    @abstractmethod
    def function_error(self) -> HttpResponse:
        """The response when the function failed: exception, timeout, crash or bad result."""

    def request_too_large(self) -> HttpResponse:
        return json_response(413, {"message": "Request Entity Too Large"})

    def not_found(self) -> HttpResponse:
        return json_response(404, {"message": "Not Found"})
