"""Starting replicas, and which init errors stop the gateway: shared by ``smyth run`` and the
gateway container of ``smyth up``.

A handler whose code fails to import is served anyway, as Lambda would: its requests answer
with the init error (and retry the init), and saving the fix reloads it. Only a
configuration error (a ``handler_path`` naming nothing, a debugger that cannot listen)
stops the gateway, because no edit of the code can fix it.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Sequence
from typing import Any

from smyth.types import Replica


async def start_replicas(replicas: Sequence[Replica]) -> dict[str, dict[str, Any]]:
    """Start every replica at once; return the init errors that stop the gateway, by handler."""
    errors = await asyncio.gather(*(replica.start() for replica in replicas))
    failed: dict[str, dict[str, Any]] = {}
    for replica, error in zip(replicas, errors):
        if error is not None:
            failed.setdefault(replica.handler_name, error)
    for name, error in list(failed.items()):
        # A process that SIGINT ended while importing: serve() stops on it, as on Ctrl-C.
        if not (names_nothing(error) or interrupted(error)):
            del failed[name]
            print(f"smyth: {name}: {error['errorType']}: {error['errorMessage']} "
                  "(serving it anyway: its requests answer with this error until its "
                  "code imports)", file=sys.stderr, flush=True)
    return failed


def names_nothing(error: dict[str, Any]) -> bool:
    """Is this init error the configuration's (``handler_path`` names no module or function,
    a debugger cannot listen), rather than the code's (an exception or syntax error at import,
    a missing dependency, a slow init)?"""
    error_type, message = error.get("errorType"), str(error.get("errorMessage", ""))
    if error_type in ("Runtime.HandlerNotFound", "Runtime.DebuggerError"):
        return True
    missing = re.fullmatch(r"Unable to import module '([^']*)': No module named '([^']*)'",
                           message)
    if missing is None or error_type != "Runtime.ImportModuleError":
        return False
    module, absent = missing.groups()
    return f"{module}.".startswith(f"{absent}.")  # the module itself or a package above it


def interrupted(error: dict[str, Any]) -> bool:
    """Did this init error come from a handler process that SIGINT ended?"""
    return error.get("errorType") == "Runtime.ExitError" and \
        str(error.get("errorMessage", "")).endswith("signal: int")
