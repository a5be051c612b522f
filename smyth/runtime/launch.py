"""Starting a handler process: what it needs (``ProcessSpec``) and the exec itself.

Standard library only, and no asyncio: ``smyth run`` starts its handler processes with this
before it has imported asyncio, let alone uvicorn, so the interpreter of each child comes
up on the other core while the gateway loads. The supervisor adopts what this starts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from smyth.runtime import memory


@dataclass
class ProcessSpec:
    """Everything needed to start one handler process."""

    handler_name: str
    handler_path: str
    project_root: str
    environment: dict[str, str]
    memory: int = 128
    fake_coldstart: bool = False
    log_level: str = "INFO"
    label: str = ""
    color: int | None = None
    init_timeout: float | None = 30.0
    debug_port: int | None = None
    debug_host: str = "127.0.0.1"
    debug_wait: bool = False
    # Enforce ``memory`` as an address-space limit of the process (``smyth run``); in a
    # container its memory cgroup enforces it instead.
    limit_memory: bool = False
    # Stdout and stderr on one pipe to the supervisor, which passes them on in order
    # (``output_relay``: a worker container); otherwise the process writes to ours.
    pipe_output: bool = False
    python: str = field(default_factory=lambda: sys.executable)


@dataclass
class Launched:
    """A handler process just started, not yet adopted by a supervisor."""

    popen: subprocess.Popen[bytes]
    sock: socket.socket  # our end of the socket pair; the child has the other

    def abandon(self) -> None:
        """Nobody will adopt it (a signal came first): it must not outlive us."""
        self.popen.kill()
        self.popen.wait()
        self.sock.close()


def launch(spec: ProcessSpec) -> Launched:
    """Exec ``python -m smyth.runtime.bootstrap`` for ``spec``, connected by a socket pair."""
    parent_sock, child_sock = socket.socketpair()
    options = {
        "name": spec.handler_name, "handler_path": spec.handler_path,
        "project_root": spec.project_root, "parent_pid": os.getpid(), "memory": spec.memory,
        "fake_coldstart": spec.fake_coldstart, "log_level": spec.log_level,
        "label": spec.label, "color": spec.color, "debug_port": spec.debug_port,
        "debug_host": spec.debug_host, "debug_wait": spec.debug_wait,
        "limit_memory": spec.limit_memory,
        "spawned_at": time.time(),  # Init Duration counts the interpreter's start-up too
    }
    # Frozen stdlib modules would hide some of their lines from the debugger.
    flags = ("-X", "frozen_modules=off") if spec.debug_port is not None else ()
    env = {**memory.ENVIRONMENT, **spec.environment} if spec.limit_memory else spec.environment
    try:
        popen = subprocess.Popen(
            [spec.python, *flags, "-m", "smyth.runtime.bootstrap", str(child_sock.fileno()),
             json.dumps(options)], pass_fds=(child_sock.fileno(),), cwd=spec.project_root,
            env=env, stdout=subprocess.PIPE if spec.pipe_output else None,
            stderr=subprocess.STDOUT if spec.pipe_output else None)
    except BaseException:
        parent_sock.close()
        raise
    finally:
        child_sock.close()
    return Launched(popen, parent_sock)
