"""Turning format-level responses into Starlette ones, and the gateway's own errors."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from smyth.events import HttpResponse


def to_starlette(response: HttpResponse) -> Response:
    result = Response(content=response.body, status_code=response.status)
    # Raw headers keep repeats (several set-cookie) exactly as the format produced them.
    result.raw_headers += [(k.encode("latin-1"), v.encode("latin-1"))
                           for k, v in response.headers if k != "content-length"]
    return result


def json_error(status: int, data: dict[str, Any], error_type: str | None = None) -> Response:
    headers = {"x-amzn-ErrorType": error_type} if error_type else None
    return Response(json.dumps(data), status, headers=headers, media_type="application/json")
