"""Watching the project and reloading only the handlers whose imported files changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import watchfiles

logger = logging.getLogger("smyth.reload")

IGNORED_DIRS = (".smyth",)


class SourceFilter(watchfiles.PythonFilter):
    ignore_dirs = (*watchfiles.PythonFilter.ignore_dirs, *IGNORED_DIRS)


async def watch(root: Path, on_change: Callable[[set[str]], Awaitable[object]],
                stop: asyncio.Event) -> None:
    """Call ``on_change`` with the changed source files until ``stop`` is set.

    The watcher runs in a thread of its own, with watchfiles' blocking ``watch``: its
    ``awatch`` goes through anyio, whose asyncio backend costs the gateway ~15 ms to import
    at startup, right when the first request comes."""
    loop = asyncio.get_running_loop()
    batches: asyncio.Queue[set[str] | None] = asyncio.Queue()
    halt = threading.Event()  # watchfiles polls it every `step` ms

    def notice() -> None:
        try:
            for changes in watchfiles.watch(root, watch_filter=SourceFilter(), stop_event=halt,
                                            step=20, rust_timeout=500, raise_interrupt=False):
                loop.call_soon_threadsafe(batches.put_nowait, {path for _, path in changes})
        except Exception:  # the root vanished, inotify ran out of watches …
            logger.exception("watching %s for changes failed; reload is off", root)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is closed: no one to tell
                loop.call_soon_threadsafe(batches.put_nowait, None)

    threading.Thread(target=notice, name="smyth-reload-watch", daemon=True).start()
    def stopping(_: object) -> None:
        halt.set()
        batches.put_nowait(None)

    stopped = asyncio.ensure_future(stop.wait())
    stopped.add_done_callback(stopping)
    try:
        while (changed := await batches.get()) is not None:
            try:
                await on_change(changed)
            except Exception:  # a failed reload must never end the watcher
                logger.exception("reload failed")
    finally:
        halt.set()
        stopped.cancel()
