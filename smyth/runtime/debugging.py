"""Debuggers inside the handler process (standard library only; debugpy only when asked for).

A debugger gets hold of an invocation in one of three ways:

- ``breakpoint()``, ``pdb.set_trace()``, ``ipdb.set_trace()``: a debugger in the terminal of
  ``smyth run``. Every handler process shares that terminal, so they take turns (see
  ``terminal``).
- debugpy listening on the handler's own port (``smyth run --debug NAME``, ``debug = true``),
  for an IDE to attach to.
- debugpy following the gateway into this process, when an IDE launched ``smyth run``.

Whichever holds an invocation tells the supervisor with a ``debug`` frame, and the supervisor
stops the invocation's clock: nobody reading variables should be killed by a timeout.
"""

from __future__ import annotations

import bdb
import os
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any, Protocol

from smyth.runtime import terminal

PORT_WAIT = 5.0  # seconds a new process waits for the debug port its predecessor still holds
SKIP = ("smyth.*", "__main__")  # our frames (bootstrap runs as __main__): never stepped into


class DebuggerError(Exception):
    """The debugger asked for cannot be set up; the handler's init fails with this message."""


class Process(Protocol):
    """What this module uses of the handler process (``bootstrap.HandlerProcess``)."""

    name: str
    request_id: str | None
    stdout: Any
    stderr: Any

    def send(self, header: dict[str, Any], body: bytes = b"") -> None: ...

    def wait_for_ack(self) -> None: ...


class _Session:
    """What a debugger holds during one invocation (or during init)."""

    def __init__(self) -> None:
        self.notified = False  # the supervisor knows: the clock is stopped
        self.tracing = False  # a pdb-style debugger runs in this process
        self.saved_trace: Any = None  # the trace function before it (debugpy's, or None)
        self.terminal: terminal.Lease | None = None


_process: Process | None = None
_options: dict[str, Any] = {}
_session = _Session()
_invocations = 0


def install(process: Process, options: dict[str, Any]) -> None:
    """Called once at start-up, before the handler is imported."""
    global _process, _options
    _process, _options = process, options
    followed = "pydevd" in sys.modules  # an IDE launched smyth run and followed it here
    bdb.Bdb.set_trace = _wrap_set_trace(bdb.Bdb.set_trace)  # type: ignore[method-assign]
    port = options.get("debug_port")
    if port is not None and followed:
        _say(f"not listening on debug port {port}: the debugger that launched smyth run "
             "already debugs this process")
    elif port is not None:
        _listen(options.get("debug_host") or "127.0.0.1", int(port))
    if "pydevd" in sys.modules:
        _share_breakpoint_hook()


# -- debugpy --------------------------------------------------------------------------

def _listen(host: str, port: int) -> None:
    _wait_for_port(host, port)
    try:
        import debugpy  # only a debugged handler process needs it
    except ImportError as exc:
        raise DebuggerError(f"cannot listen for a debugger: debugpy is not installed for "
                            f"{sys.executable} (pip install debugpy)") from exc
    # The adapter runs inside this process, so the port is ours alone and is freed the moment
    # we exit: the next process of this replica (after a reload) can listen on it again, and
    # no adapter daemon outlives us.
    debugpy.listen((host, port), in_process_debug_adapter=True)


def _wait_for_port(host: str, port: int) -> None:
    """debugpy hangs forever when its port is taken, so find out first; a predecessor that
    is exiting may hold the port a moment longer."""
    deadline = time.monotonic() + PORT_WAIT
    while True:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                return
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise DebuggerError(
                        f"cannot listen for a debugger on {host}:{port}: {exc.strerror}; "
                        "set another debug_port for this handler or stop what uses it") from exc
        time.sleep(0.05)


def _share_breakpoint_hook() -> None:
    """debugpy takes over breakpoint(); give it back to the terminal while no IDE is attached."""
    ide_hook = sys.breakpointhook

    def breakpointhook(*args: Any, **kwargs: Any) -> Any:
        import debugpy

        if debugpy.is_client_connected():
            return ide_hook(*args, **kwargs)
        return sys.__breakpointhook__(*args, **kwargs)  # pdb, or what PYTHONBREAKPOINT names

    sys.breakpointhook = breakpointhook


def begin_invocation(process: Process) -> None:
    """Before the handler runs: an attached IDE may stop it anywhere, so stop the clock."""
    global _invocations
    _invocations += 1
    if "debugpy" not in sys.modules:
        return
    import debugpy

    if debugpy.is_client_connected():
        _notify("a debugger is attached")
    elif _options.get("debug_wait") and _invocations == 1:
        where = f"{_options.get('debug_host') or '127.0.0.1'}:{_options.get('debug_port')}"
        _notify(f"waiting for a debugger to attach on {where} (--debug-wait)")
        _say(f"waiting for a debugger to attach on {where}")
        debugpy.wait_for_client()


# -- pdb, ipdb and every other bdb debugger ------------------------------------------

def _wrap_set_trace(original: Any) -> Any:
    def set_trace(self: bdb.Bdb, frame: FrameType | None = None, *args: Any, **kwargs: Any) -> None:
        if frame is None:
            frame = sys._getframe().f_back
        assert frame is not None
        if _enter(self, frame):
            original(self, frame, *args, **kwargs)

    return set_trace


def _enter(debugger: bdb.Bdb, frame: FrameType) -> bool:
    """Prepare a bdb debugger that is about to stop; False if it must not stop."""
    where = _location(frame)
    # A debugger reading a socket (remote-pdb and the like) needs no terminal.
    on_terminal = getattr(debugger, "stdin", sys.stdin) in (sys.stdin, sys.__stdin__)
    if on_terminal and not _session.terminal:
        problem = terminal.unavailable()
        if problem:
            name = _process.name if _process else "NAME"
            _say(f"breakpoint at {where} skipped: {problem}. To debug this handler, run "
                 f"it with --debug {name} and attach an IDE (smyth debug {name})")
            return False
    # pdb's SIGINT handler (installed on `continue`) would take the Ctrl-C meant for the gateway.
    debugger.nosigint = True  # type: ignore[attr-defined]
    debugger.skip = set(debugger.skip or ()) | set(SKIP)
    if not _session.tracing:
        _session.tracing = True
        _session.saved_trace = sys.gettrace()
    _notify(f"stopped at a breakpoint at {where}")
    if on_terminal and not _session.terminal:
        _session.terminal = terminal.acquire(
            lambda: _say(f"stopped at {where}; waiting for the terminal, which another "
                         "handler's debugger is using"))
        if terminal.in_background():
            _say("smyth run is in the background: bring it to the foreground (fg) to debug")
        _streams_pass_through(True)
    return True


def _location(frame: FrameType | None) -> str:
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("smyth."):
        frame = frame.f_back  # the breakpoint hook above: name the user's line instead
    if frame is None:
        return "?"
    path = frame.f_code.co_filename
    root = _options.get("project_root") or os.getcwd()
    if path.startswith(root.rstrip(os.sep) + os.sep):
        path = os.path.relpath(path, root)
    return f"{path}:{frame.f_lineno}"


def end_session(process: Process) -> None:
    """After an invocation (or init): the debugger lets go of the process and the terminal."""
    global _session
    if _session.tracing:
        # A debugger still stepping would walk into Smyth's own loop: stop it here, and give
        # the thread back the tracer it had (debugpy's, when it listens too).
        frame: FrameType | None = sys._getframe()
        while frame is not None:
            if isinstance(getattr(frame.f_trace, "__self__", None), bdb.Bdb):
                frame.f_trace = None
            frame = frame.f_back
        sys.settrace(_session.saved_trace)
        # Whatever the debugger did to SIGINT, Ctrl-C is for the gateway again.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _session.terminal is not None:
        _streams_pass_through(False)
        _session.terminal.release()
    process.stdout.flush()
    process.stderr.flush()
    _session = _Session()


def _streams_pass_through(on: bool) -> None:
    """While a debugger has the terminal, the handler's output is not line-prefixed: its
    prompt, and an IDE-less ``print`` while stepping, reach the terminal as written."""
    if _process is not None:
        _process.stdout.pass_through(on)
        _process.stderr.pass_through(on)


# -- telling the supervisor and the developer ----------------------------------------

def _notify(reason: str) -> None:
    if _session.notified or _process is None:
        return
    _session.notified = True
    _process.send({"type": "debug", "state": "enter", "request_id": _process.request_id,
                   "reason": reason})
    _process.wait_for_ack()


def _say(message: str) -> None:
    stream = _process.stderr if _process is not None else sys.stderr
    stream.write(f"smyth: {message}\n")
    stream.flush()
