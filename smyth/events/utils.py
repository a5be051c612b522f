"""Small pure helpers shared by the event formats."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from urllib.parse import parse_qsl

TEXT_TYPES = ("application/json", "application/javascript", "application/xml",
              "application/graphql", "application/x-yaml", "application/yaml")


def is_text_content_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return (mime.startswith("text/") or mime in TEXT_TYPES or mime.endswith("+json")
            or mime.endswith("+xml"))


def encode_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """The event's ``body`` and ``isBase64Encoded``: text stays text, anything else is base64."""
    if not body:
        return None, False
    if is_text_content_type(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def decode_body(body: object, is_base64: bool) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        raise TypeError(f"body must be a string, not {type(body).__name__}")
    return base64.b64decode(body) if is_base64 else body.encode("utf-8")


def fold_headers(headers: list[tuple[str, str]], sep: str = ",") -> dict[str, str]:
    """Repeated header names become one value joined by ``sep``, as API Gateway 2.0 does."""
    folded: dict[str, str] = {}
    for name, value in headers:
        folded[name] = f"{folded[name]}{sep}{value}" if name in folded else value
    return folded


def multi_value(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def query_pairs(query_string: str) -> list[tuple[str, str]]:
    return parse_qsl(query_string, keep_blank_values=True)


def apigw_route_path(template: str) -> str:
    """A Starlette path template in API Gateway's syntax: ``{rest:path}`` → ``{rest+}``."""
    out = []
    for part in template.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name, _, convertor = part[1:-1].partition(":")
            part = "{" + name + ("+" if convertor == "path" else "") + "}"
        out.append(part)
    return "/".join(out)


def apigw_request_id() -> str:
    """An API Gateway-style request id (unique per request)."""
    return base64.b64encode(secrets.token_bytes(10)).decode()


def lambda_request_id() -> str:
    return str(uuid.uuid4())


def trace_id(now: float) -> str:
    return f"Root=1-{int(now):08x}-{secrets.token_hex(12)}"


def clf_time(now: float) -> str:
    """``12/Mar/2020:19:03:58 +0000``, the time format of API Gateway events."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
