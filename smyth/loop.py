"""Running the gateway's event loop. Light on purpose: ``smyth run`` installs its signal
handling and starts its handler processes before asyncio (let alone uvicorn) is imported,
so asyncio is imported where it is used."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine, Generator
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Shutdown:
    """SIGINT and SIGTERM over the whole life of a server process, so that a signal at any
    moment — reading the config, spawning handler processes, importing uvicorn, serving,
    stopping — means one thing: stop in order and exit 0.

    ``install()`` (main thread, before the event loop) only records the signal; ``attach()``
    on the running loop moves the handling onto the loop, where it sets an event and calls
    the callbacks registered with ``on_signal`` (uvicorn's ``handle_exit``, for one)."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._event: asyncio.Event | None = None
        self._callbacks: list[Callable[[int], object]] = []

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def install(self) -> Shutdown:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._record)
        return self

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.trigger(signum)

    def trigger(self, signum: int) -> None:
        if self.signal is None:
            self.signal = signum
        if self._event is not None:
            self._event.set()
        for callback in list(self._callbacks):
            callback(signum)

    def attach(self) -> None:
        """On the running loop: from now on a signal is handled there."""
        if self._event is not None:
            return
        import asyncio

        loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.trigger, sig)
        if self.signal is not None:
            self._event.set()

    def on_signal(self, callback: Callable[[int], object]) -> None:
        self._callbacks.append(callback)
        if self.signal is not None:
            callback(self.signal)

    async def unless_stopped(self, work: asyncio.Future[T]) -> T | None:
        """``work``'s result, or None if a signal came first (``work`` is left running)."""
        import asyncio

        self.attach()
        assert self._event is not None
        if self._event.is_set():
            return None
        stop = asyncio.ensure_future(self._event.wait())
        either: set[asyncio.Future[Any]] = {work, stop}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        return work.result() if work.done() and not self.requested else None

    def detach(self) -> None:
        """The loop is ending: a late signal changes nothing any more (we are exiting 0)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


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
    # Handler processes are started with subprocess.Popen on either loop (runtime/launch.py),
    # so a debugger that launched us (debugpy from VS Code, PyCharm's pydevd) follows them.
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
