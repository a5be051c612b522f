"""Watching the project and reloading only the handlers whose imported files changed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import PythonFilter, awatch

logger = logging.getLogger("smyth.reload")

IGNORED_DIRS = (".smyth",)


class SourceFilter(PythonFilter):
    ignore_dirs = (*PythonFilter.ignore_dirs, *IGNORED_DIRS)


async def watch(root: Path, on_change: Callable[[set[str]], Awaitable[object]],
                stop: asyncio.Event) -> None:
    """Call ``on_change`` with the changed source files until ``stop`` is set."""
    async for changes in awatch(root, watch_filter=SourceFilter(), stop_event=stop,
                                step=20, rust_timeout=500, yield_on_timeout=False):
        try:
            await on_change({path for _, path in changes})
        except Exception:  # a failed reload must never end the watcher
            logger.exception("reload failed")
