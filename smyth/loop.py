"""Running the gateway's event loop. Light on purpose: ``smyth run`` starts its handler
processes on this loop before uvicorn and Starlette are even imported."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Coroutine, Generator
from typing import Any


@contextlib.contextmanager
def terminal_preserved() -> Generator[None, None, None]:
    """Whatever a handler's debugger did to the terminal, leave it as we found it."""
    try:
        import termios

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except Exception:  # noqa: BLE001 (not a terminal: CI, a pipe; or not POSIX)
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    # uvloop starts handler processes through libuv, out of sight of the subprocess patching
    # by which a debugger that launched us (debugpy from VS Code, PyCharm's pydevd) follows
    # them: under one, asyncio's own loop starts them through the subprocess module.
    if "pydevd" in sys.modules:
        return asyncio.run(main)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
