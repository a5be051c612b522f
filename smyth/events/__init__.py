"""Event formats, one module each, chosen by name from this registry."""

from __future__ import annotations

from smyth.events.alb import AlbFormat
from smyth.events.base import EventFormat, FormatOptions, HttpRequest, HttpResponse
from smyth.events.function_url import FunctionUrlFormat
from smyth.events.http_api import HttpApiFormat
from smyth.events.rest_api import RestApiFormat

FORMATS: dict[str, type[EventFormat]] = {
    cls.name: cls for cls in (HttpApiFormat, RestApiFormat, FunctionUrlFormat, AlbFormat)
}


def get_format(name: str, options: FormatOptions | None = None) -> EventFormat:
    return FORMATS[name](options)


__all__ = ["FORMATS", "EventFormat", "FormatOptions", "HttpRequest", "HttpResponse", "get_format"]
