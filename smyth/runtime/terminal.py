"""The terminal of ``smyth run``, shared by every handler process: one debugger at a time.

The terminal itself is the lock: each process opens the tty anew, so each holds its own open
file description, and ``flock`` on one excludes the others. The kernel drops the lock when a
holder exits or is killed, no lock file is left behind, and two ``smyth run`` sharing one
terminal take turns as well. Standard library only: this runs in handler processes.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable

STDIN = 0


def unavailable() -> str | None:
    """Why a debugger cannot use the terminal, or None when it can."""
    if not os.isatty(STDIN):
        return "smyth's standard input is not a terminal"
    return None


class Lease:
    """The terminal, held until ``release`` (or until this process ends)."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def acquire(on_wait: Callable[[], None]) -> Lease:
    """Take the terminal, calling ``on_wait`` first if another process has it."""
    try:
        fd = os.open(os.ttyname(STDIN), os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return Lease(None)  # a terminal we cannot reopen: go ahead without turns
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        on_wait()
        fcntl.flock(fd, fcntl.LOCK_EX)
    return Lease(fd)


def in_background() -> bool:
    """Whether ``smyth run`` runs as a background job: reading the terminal then stops us
    (SIGTTIN) until the developer brings it back with ``fg``."""
    try:
        return os.tcgetpgrp(STDIN) != os.getpgrp()
    except OSError:
        return False
