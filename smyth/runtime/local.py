"""Replicas as local child processes: the placement ``smyth run`` uses."""

from __future__ import annotations

import os

from smyth.config import Config, HandlerConfig
from smyth.runtime.supervisor import ProcessSpec, Supervisor

INIT_TIMEOUT = 30.0


def process_spec(config: Config, handler: HandlerConfig, index: int, *, color: int | None,
                 debug_port: int | None = None, debug_wait: bool = False) -> ProcessSpec:
    label = handler.name if handler.concurrency == 1 else f"{handler.name}[{index}]"
    return ProcessSpec(
        handler_name=handler.name,
        handler_path=handler.handler_path,
        project_root=str(config.root),
        environment=config.handler_environment(handler),
        memory=handler.memory,
        fake_coldstart=handler.fake_coldstart_time,
        log_level=handler.log_level,
        label=label,
        color=color,
        # A handler waiting for a debugger to attach may take as long as the developer does.
        init_timeout=None if debug_wait else max(INIT_TIMEOUT, handler.timeout or 0),
        debug_port=debug_port,
        debug_wait=debug_wait,
        # No container here to hold ``memory``: the process holds itself to it.
        limit_memory=os.environ.get("SMYTH_MEMORY_LIMIT", "on").strip().lower()
        not in ("0", "off", "false", "no"),
    )


def local_replicas(config: Config, handler: HandlerConfig, *, color: int | None = None,
                   debug_port: int | None = None, debug_wait: bool = False) -> list[Supervisor]:
    """``concurrency`` supervisors; a debugged handler's replicas listen on consecutive ports."""
    return [
        Supervisor(process_spec(config, handler, index, color=color,
                                debug_port=None if debug_port is None else debug_port + index,
                                debug_wait=debug_wait), index)
        for index in range(handler.concurrency)
    ]
