"""The access log: uvicorn's line for each response, written once the response has left.

uvicorn writes its line through ``logging`` before it sends the response headers; that was
about 50 µs of CPU per request here (a LogRecord, a copy of it, two formatters), on the
path of every response. The gateway turns uvicorn's off and writes the same line itself,
after the response: same text, same colours on a terminal, same stream, and, as before,
only at log level info or below.
"""

from __future__ import annotations

import http
import sys
from typing import TextIO

from smyth.asgi import Scope

GREEN, BOLD, RESET = "\033[32m", "\033[1m", "\033[0m"
STATUS_COLOURS = {1: "\033[97m", 2: "\033[32m", 3: "\033[33m", 4: "\033[31m", 5: "\033[91m"}


def _status_text(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} "


class AccessLog:
    def __init__(self, level: str, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.enabled = level.lower() in ("info", "debug", "trace")
        self.colours = self.stream.isatty()  # as uvicorn decides it
        self.prefix = f"{GREEN}INFO{RESET}:     " if self.colours else "INFO:     "
        self._statuses: dict[int, str] = {}

    def __call__(self, scope: Scope, status: int) -> None:
        """One line for a response sent to ``scope``'s request."""
        if not self.enabled:
            return
        client = scope.get("client")
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            path = f"{path}?{scope['query_string'].decode('ascii', 'replace')}"
        request = f"{scope['method']} {path.replace(chr(34), '%22')} HTTP/{scope['http_version']}"
        text = self._statuses.get(status)
        if text is None:
            text = self._statuses[status] = self._style_status(status)
        if self.colours:
            request = f"{BOLD}{request}{RESET}"
        address = f"{client[0]}:{client[1]}" if client else ""
        self.stream.write(f'{self.prefix}{address} - "{request}" {text}\n')
        self.stream.flush()

    def _style_status(self, status: int) -> str:
        text = _status_text(status)
        colour = STATUS_COLOURS.get(status // 100) if self.colours else None
        return f"{colour}{text}{RESET}" if colour else text
