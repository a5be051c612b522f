"""Line-prefixed, optionally captured output for the handler process (standard library only)."""

from __future__ import annotations

import io
import math
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
        self._pass_through = False

    # -- capture of one invocation's log, for X-Amz-Log-Result --------------
    def start_capture(self, into: list[str] | None = None) -> None:
        """Keep what is written from now on; streams given the same list (stdout and
        stderr) capture into one log, in the order it was written."""
        self._capture = [] if into is None else into

    def stop_capture(self) -> str:
        self.flush_partial()
        captured = "".join(self._capture or [])
        self._capture = None
        return captured

    # -- the TextIO interface that print() and logging use --------------------
    def pass_through(self, on: bool) -> None:
        """Write unprefixed, as is, while a debugger owns the terminal (its prompt, its
        screen drawing), and line-prefixed again afterwards."""
        self.flush_partial()
        self._pass_through = on

    def write(self, text: str) -> int:
        if self._capture is not None:
            self._capture.append(text)
        if self._pass_through:
            self._target.write(text)
            self._target.flush()
            return len(text)
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

    @property
    def errors(self) -> str:  # type: ignore[override]
        # input() hands the prompt to readline (line editing, history: what pdb's prompt
        # needs) only when stdout has an encoding and an error policy.
        return getattr(self._target, "errors", None) or "strict"


def report_line(request_id: str, duration_ms: float, memory_mb: int | str, max_memory_mb: int,
                init_ms: float | None = None, status: str | None = None,
                error_type: str | None = None) -> str:
    """The REPORT line CloudWatch shows after each invocation. Since August 2025 Lambda
    bills the INIT phase too, so on a cold start the billed time covers both."""
    billed = max(1, math.ceil(duration_ms + (init_ms or 0.0)))
    fields = [f"REPORT RequestId: {request_id}", f"Duration: {duration_ms:.2f} ms",
              f"Billed Duration: {billed} ms", f"Memory Size: {memory_mb} MB",
              f"Max Memory Used: {max_memory_mb} MB"]
    if init_ms is not None:
        fields.append(f"Init Duration: {init_ms:.2f} ms")
    if status is not None:  # how Lambda marks an invocation its runtime did not finish
        fields.append(f"Status: {status}")
    if error_type is not None:
        fields.append(f"Error Type: {error_type}")
    return "\t".join(fields)


def last_bytes(text: str, limit: int = TAIL_BYTES) -> str:
    """The last ``limit`` bytes of ``text`` as UTF-8, cut on a character boundary."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[-limit:].decode("utf-8", errors="ignore")
