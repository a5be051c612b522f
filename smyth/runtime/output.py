"""Line-prefixed, optionally captured output for the handler process (standard library only)."""

from __future__ import annotations

import io
from typing import TextIO

COLORS = (36, 33, 32, 35, 34, 91, 92, 93, 94, 95, 96)
TAIL_BYTES = 4096


def make_prefix(label: str, color_index: int | None, stream: TextIO) -> str:
    if not label:
        return ""
    if color_index is not None and stream.isatty():
        color = COLORS[color_index % len(COLORS)]
        return f"\x1b[{color}m{label}\x1b[0m | "
    return f"{label} | "


class PrefixedStream(io.TextIOBase):
    """Writes whole lines to ``target`` with a prefix; keeps a copy while capturing.

    Lambda collects a function's output line by line, so a partial line waits for its
    newline (or the end of the invocation) before it is shown.
    """

    def __init__(self, target: TextIO, prefix: str) -> None:
        self._target = target
        self._prefix = prefix
        self._pending = ""
        self._capture: list[str] | None = None

    # -- capture of one invocation's log, for X-Amz-Log-Result --------------
    def start_capture(self) -> None:
        self._capture = []

    def stop_capture(self) -> str:
        self.flush_partial()
        captured = "".join(self._capture or [])
        self._capture = None
        return captured

    # -- the TextIO interface that print() and logging use --------------------
    def write(self, text: str) -> int:
        if self._capture is not None:
            self._capture.append(text)
        data = self._pending + text
        lines = data.split("\n")
        self._pending = lines.pop()
        if lines:
            prefix = self._prefix
            self._target.write("".join(f"{prefix}{line}\n" for line in lines))
            self._target.flush()
        return len(text)

    def flush_partial(self) -> None:
        if self._pending:
            self._target.write(f"{self._prefix}{self._pending}\n")
            self._pending = ""
        self._target.flush()

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    def fileno(self) -> int:
        return self._target.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")


def last_bytes(text: str, limit: int = TAIL_BYTES) -> str:
    """The last ``limit`` bytes of ``text`` as UTF-8, cut on a character boundary."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[-limit:].decode("utf-8", errors="ignore")
