"""Standard streams that leave in batches, for the gateway and worker containers.

Their output goes to Docker's log driver: every write wakes the container's shim and then
dockerd's log copier, which here cost about 50 µs of their CPU per line, more than Smyth's
own work per request. Lines written within ``WINDOW`` of each other leave in one write
(20 lines in a write cost dockerd a seventh), at most that late, and in order.
"""

from __future__ import annotations

import atexit
import io
import threading
import time
from typing import TextIO

WINDOW = 0.02  # seconds a line may wait for company: too short for a person to notice
LIMIT = 256 * 1024  # characters held at most: a burst beyond it leaves at once


class BatchedStream(io.TextIOBase):
    def __init__(self, target: TextIO, window: float = WINDOW) -> None:
        self._target = target
        self._window = window
        self._pending: list[str] = []
        self._size = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        threading.Thread(target=self._run, name="smyth-batched-output", daemon=True).start()
        atexit.register(self.drain)

    def write(self, text: str) -> int:
        with self._lock:
            first = not self._pending
            self._pending.append(text)
            self._size += len(text)
            full = self._size > LIMIT
        if full:
            self.drain()
        elif first:
            self._wake.set()
        return len(text)

    def flush(self) -> None:
        """Nothing to do now: what was written leaves within the window (``drain`` forces)."""

    def drain(self) -> None:
        """Write out what waits, now."""
        with self._lock:
            text = "".join(self._pending)
            self._pending.clear()
            self._size = 0
            if text:  # under the lock: batches cannot overtake each other
                self._target.write(text)
                self._target.flush()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(self._window)  # the batching window: let the lines that follow join
            self.drain()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._target.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")


def batch_standard_streams(merge: bool = False) -> None:
    """From now on, ``sys.stdout`` and ``sys.stderr`` leave in batches (the loggers that
    uvicorn configures later take them as they are then). ``merge``: both go to stdout as
    one stream, so that lines written to either keep their order across a batch."""
    import sys

    sys.stdout = BatchedStream(sys.stdout)
    sys.stderr = sys.stdout if merge else BatchedStream(sys.stderr)
