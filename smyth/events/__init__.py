"""Event formats, one module each, chosen by name from this registry."""

from __future__ import annotations

from smyth.events.base import EventFormat, FormatOptions, HttpRequest, HttpResponse
from smyth.events.http_api import HttpApiFormat

FORMATS: dict[str, type[EventFormat]] = {cls.name: cls for cls in (HttpApiFormat,)}


def get_format(name: str, options: FormatOptions | None = None) -> EventFormat:
    return FORMATS[name](options)


__all__ = ["EventFormat", "FormatOptions", "HttpRequest", "HttpResponse", "FORMATS", "get_format"]
