"""Small pure helpers shared by the event formats."""

from __future__ import annotations

import base64
import binascii
import functools
import random
import time
from typing import Any
from urllib.parse import parse_qsl

from smyth.events.base import MalformedResponseError

TEXT_TYPES = ("application/json", "application/javascript", "application/xml",
              "application/graphql", "application/x-yaml", "application/yaml")


def is_text_content_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime in TEXT_TYPES or mime.endswith(("+json", "+xml"))


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
    if not is_base64:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"isBase64Encoded is true but the body is not base64: {exc}") from None


def fold_headers(headers: list[tuple[str, str]], sep: str = ",") -> dict[str, str]:
    """Repeated header names become one value joined by ``sep``, as API Gateway 2.0 does."""
    folded: dict[str, str] = {}
    for name, value in headers:
        folded[name] = f"{folded[name]}{sep}{value}" if name in folded else value
    return folded


def last_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """One value per name, the last one sent: the single-value view of payload 1.0 and ALB."""
    return dict(pairs)


def multi_value(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def query_pairs(query_string: str) -> list[tuple[str, str]]:
    return parse_qsl(query_string, keep_blank_values=True) if query_string else []


def raw_query_pairs(query_string: str) -> list[tuple[str, str]]:
    """Query pairs left percent-encoded, as an ALB passes them on."""
    pairs = []
    for part in query_string.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


@functools.lru_cache(maxsize=256)  # one template per handler, asked on every request
def apigw_route_path(template: str) -> str:
    """A Starlette path template in API Gateway's syntax: ``{rest:path}`` → ``{rest+}``."""
    out = []
    for part in template.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name, _, convertor = part[1:-1].partition(":")
            part = "{" + name + ("+" if convertor == "path" else "") + "}"
        out.append(part)
    return "/".join(out)


# Ids here need to be unique, not secret: a PRNG seeded once from the OS, instead of an
# os.urandom() call per id, which was a tenth of the gateway's CPU under load.
_random = random.Random()


def random_hex(nbytes: int) -> str:
    return f"{_random.getrandbits(nbytes * 8):0{nbytes * 2}x}"


def apigw_request_id() -> str:
    """An API Gateway-style request id such as ``JKJaXmPLvHcESHA=`` (unique per request)."""
    return base64.b64encode(_random.getrandbits(88).to_bytes(11, "big")).decode()


def lambda_request_id() -> str:
    """A random (version 4) UUID in its canonical text form, as Lambda's request ids."""
    value = _random.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)
    text = f"{value | 4 << 76 | 0x8000 << 48:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def trace_id(now: float) -> str:
    return f"Root=1-{int(now):08x}-{random_hex(12)}"


def clf_time(now: float) -> str:
    """``12/Mar/2020:19:03:58 +0000``, the time format of API Gateway events."""
    return _clf_second(int(now))


@functools.lru_cache(maxsize=2)  # the text changes once a second, not per request
def _clf_second(second: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))


# -- reading handler results ---------------------------------------------------------

def status_code(value: Any) -> int:
    """An HTTP status from a result's ``statusCode``: an integer, or a string of digits."""
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit():  # "²" is a digit to str.isdigit(), not to int()
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise MalformedResponseError(f"statusCode must be an integer HTTP status, not {value!r}")
    return value


def header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise MalformedResponseError(f"header values must be strings, not {value!r}")


def single_headers(raw: Any, key: str = "headers") -> list[tuple[str, str]]:
    """``headers`` of a result: an object of name → value, names lowercased."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise MalformedResponseError(f"{key} must be an object of name → value")
    return [(str(name).lower(), header_value(value)) for name, value in raw.items()
            if value is not None]


def multi_headers(raw: Any, key: str = "multiValueHeaders") -> list[tuple[str, str]]:
    """``multiValueHeaders`` of a result: an object of name → list of values."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise MalformedResponseError(f"{key} must be an object of name → list of values")
    pairs = []
    for name, values in raw.items():
        if values is None:
            continue
        if not isinstance(values, list):
            raise MalformedResponseError(f"{key}[{name!r}] must be a list, not {values!r}")
        pairs += [(str(name).lower(), header_value(value)) for value in values]
    return pairs


def body_bytes(result: dict[str, Any], flag: str = "isBase64Encoded") -> bytes:
    """The response body a result describes, base64-decoded when ``flag`` says so."""
    body = result.get("body")
    if isinstance(body, (int, float)) and not isinstance(body, bool):
        body = str(body)  # a number is read as its text, as the services' JSON readers do
    is_base64 = result.get(flag, False)
    if isinstance(is_base64, str) and is_base64.lower() in ("true", "false"):
        is_base64 = is_base64.lower() == "true"
    if not isinstance(is_base64, bool) and is_base64 is not None:
        raise MalformedResponseError(f"{flag} must be true or false, not {is_base64!r}")
    try:
        return decode_body(body, bool(is_base64))
    except (TypeError, ValueError) as exc:
        raise MalformedResponseError(f"body: {exc}") from exc


def with_default_content_type(headers: list[tuple[str, str]],
                              default: str = "application/json") -> list[tuple[str, str]]:
    if any(name == "content-type" for name, _ in headers):
        return headers
    return [*headers, ("content-type", default)]
