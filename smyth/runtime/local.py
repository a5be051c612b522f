"""Replicas as local child processes: the placement ``smyth run`` uses."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from smyth.config import Config, HandlerConfig
from smyth.runtime.launch import Launched, ProcessSpec

if TYPE_CHECKING:
    from smyth.runtime.supervisor import Supervisor

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


def local_specs(config: Config, handler: HandlerConfig, *, color: int | None = None,
                debug_port: int | None = None, debug_wait: bool = False) -> list[ProcessSpec]:
    """One spec per replica (``concurrency``); a debugged handler's replicas listen on
    consecutive ports."""
    return [process_spec(config, handler, index, color=color,
                         debug_port=None if debug_port is None else debug_port + index,
                         debug_wait=debug_wait)
            for index in range(handler.concurrency)]


def local_replicas(config: Config, handler: HandlerConfig, *, color: int | None = None,
                   debug_port: int | None = None, debug_wait: bool = False) -> list[Supervisor]:
    """``concurrency`` supervisors, each spawning its process when it starts."""
    return supervisors(local_specs(config, handler, color=color, debug_port=debug_port,
                                   debug_wait=debug_wait))


def supervisors(specs: Sequence[ProcessSpec],
                launched: Sequence[Launched] | None = None) -> list[Supervisor]:
    """A supervisor per spec; each adopts its process from ``launched`` when given."""
    from smyth.runtime.supervisor import Supervisor  # asyncio: after any launch, not before

    return [Supervisor(spec, index, launched[index] if launched else None)
            for index, spec in enumerate(specs)]
