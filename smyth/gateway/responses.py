"""Turning format-level responses into what HTTP/1.1 sends, and the gateway's own errors."""

from __future__ import annotations

import re
from typing import Any

from smyth.events import HttpResponse
from smyth.events.base import MalformedResponseError, json_response

# RFC 9110 §5.1 field names are tokens; values hold no control characters but tab (§5.5).
# The HTTP server refuses anything else in the middle of sending, so it is caught here.
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# Framing is the HTTP server's business: a result's own values would contradict its body.
FRAMING = ("content-length", "transfer-encoding")


def header_bytes(name: str, value: str) -> tuple[bytes, bytes]:
    """A result's header as sent: latin-1 when it fits (HTTP's historical charset), else
    UTF-8. Raises MalformedResponseError for what HTTP/1.1 cannot carry."""
    raw_name = name.encode("utf-8", "replace")
    if not TOKEN.fullmatch(raw_name):
        raise MalformedResponseError(f"header name {name!r} is not an HTTP token")
    try:
        raw_value = value.encode("latin-1")
    except UnicodeEncodeError:
        try:
            raw_value = value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the result's JSON)
            raise MalformedResponseError(f"header {name!r}: {value!r} is not text") from None
    if BAD_VALUE.search(raw_value):
        raise MalformedResponseError(f"header {name!r} holds control characters: {value!r}")
    return raw_name, raw_value


def raw_response(response: HttpResponse) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, raw headers and body of a format's response, as HTTP/1.1 sends them. Raises
    MalformedResponseError when the result asks for what HTTP cannot send (an interim 1xx
    status, a broken header)."""
    if response.status < 200:
        raise MalformedResponseError(f"statusCode {response.status} is not a final HTTP status")
    # 204 and 304 have no body on the wire (RFC 9110 §15.3.5, §15.4.5): a result's is dropped.
    body = b"" if response.status in (204, 304) else response.body
    # Raw headers keep repeats (several set-cookie) exactly as the format produced them.
    headers = [header_bytes(k, v) for k, v in response.headers if k.lower() not in FRAMING]
    return response.status, headers, body


def json_error(status: int, data: dict[str, Any], error_type: str | None = None) -> HttpResponse:
    """The gateway's own JSON answer, with Lambda's ``x-amzn-ErrorType`` when it has one."""
    return json_response(status, data, [("x-amzn-ErrorType", error_type)] if error_type else None)
