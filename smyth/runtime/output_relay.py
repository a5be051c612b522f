"""A handler process's output, read from a pipe and passed on by its supervisor.

A worker container starts its handler process with stdout and stderr on one pipe and writes
what comes through it to its own output, which leaves in batches (``smyth.batched``): Docker's
log path is then woken once per batch instead of twice per invocation, and the handler's
lines stay in the order they were written, stdout and stderr together, as CloudWatch keeps
them. ``smyth run`` does not use this: there the handler writes to the terminal itself.
"""

from __future__ import annotations

import asyncio
import codecs
import os
from typing import IO, TextIO

CHUNK = 65536
# After passing output on, the relay stops listening this long: output that follows waits for
# the supervisor's next drain (each result) or the window's end, so that a busy handler does
# not wake the worker for every line it writes.
WINDOW = 0.02


class OutputRelay:
    def __init__(self, pipe: IO[bytes], target: TextIO) -> None:
        self._pipe = pipe  # owns the descriptor
        self._fd = pipe.fileno()
        os.set_blocking(self._fd, False)
        self._target = target
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._loop = asyncio.get_running_loop()
        self._open = True
        self._listening = False
        self._listen()

    def drain(self) -> None:
        """Pass on what the pipe holds now, without waiting for more. The supervisor calls
        it after each result and before it writes about the process itself, so that its
        lines come after the handler's; the loop calls it when the pipe becomes readable,
        at most once per ``WINDOW``."""
        while self._open and (data := self._read()) is not None:
            if not data:  # every writer is gone
                self.close()
                return
            self._target.write(self._decoder.decode(data))
            if self._listening:
                self._loop.remove_reader(self._fd)
                self._listening = False
                self._loop.call_later(WINDOW, self._listen)
            if len(data) < CHUNK:  # that was all it held: spare the read that says so
                return

    def _read(self) -> bytes | None:
        """The next chunk; None when nothing is there yet, b"" when no writer is left."""
        try:
            return os.read(self._fd, CHUNK)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def _listen(self) -> None:
        if self._open and not self._listening:
            self._loop.add_reader(self._fd, self.drain)
            self._listening = True

    def close(self) -> None:
        """Stop reading; what the pipe still holds is passed on first."""
        if not self._open:
            return
        self._open = False
        if self._listening:
            self._loop.remove_reader(self._fd)
            self._listening = False
        while data := self._read():
            self._target.write(self._decoder.decode(data))
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._target.write(tail)
        self._pipe.close()
