"""Debugger support inside the handler process (standard library only, debugpy on demand).

A debugger that stops an invocation tells the supervisor, which then stops counting the
invocation's timeout: a developer reading variables should not be killed by the clock.
"""

from __future__ import annotations

import bdb
import sys
from typing import Any

_state: dict[str, Any] = {"active": False, "process": None}


def install(process: Any, options: dict[str, Any]) -> None:
    _state["process"] = process
    original = bdb.Bdb.set_trace

    def set_trace(self: bdb.Bdb, frame: Any = None) -> None:
        _enter(process)
        # pdb reads and writes the terminal itself, not through our prefixed streams.
        if getattr(self, "stdout", None) is process.stdout:
            self.stdout = sys.__stdout__  # type: ignore[attr-defined]
        if frame is None:
            frame = sys._getframe().f_back
        original(self, frame)

    bdb.Bdb.set_trace = set_trace  # type: ignore[method-assign]
    port = options.get("debug_port")
    if port:
        import debugpy  # only a debugged handler process needs it

        debugpy.listen((options.get("debug_host", "127.0.0.1"), int(port)))
        if options.get("debug_wait"):
            print(f"debugpy listening on port {port}; waiting for a client to attach")
            debugpy.wait_for_client()


def _enter(process: Any) -> None:
    if _state["active"] or process.request_id is None:
        return
    _state["active"] = True
    process.stdout.flush_partial()
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    process.send({"type": "debug", "state": "enter", "request_id": process.request_id})


def end_of_invocation(process: Any) -> None:
    if _state["active"]:
        _state["active"] = False
        sys.settrace(None)
        sys.stdout, sys.stderr = process.stdout, process.stderr
