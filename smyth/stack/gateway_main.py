"""The gateway container's entrypoint (``smyth gateway``): the same gateway as ``smyth run``,
whose replicas are the worker containers named in ``SMYTH_WORKERS``.

``SMYTH_WORKERS`` is a JSON object from handler name to the URLs of its workers, in replica
order, e.g. ``{"hello": ["http://hello-0:8080"]}``; the config is the project's, mounted.
The gateway never reloads: each worker watches the project and reloads its own handler.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from smyth.config import Config, HandlerConfig, load_config, select_handlers
from smyth.exceptions import ConfigError
from smyth.loop import run_loop
from smyth.runtime.remote import RemoteReplica
from smyth.server import build_gateway, serve
from smyth.stack.model import TASK_ROOT

HOST = "0.0.0.0"
PORT = 8080


def parse_workers(text: str) -> dict[str, list[str]]:
    try:
        workers = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"SMYTH_WORKERS is not JSON: {exc}") from exc
    if not (isinstance(workers, dict) and all(
            isinstance(urls, list) and urls and all(isinstance(u, str) for u in urls)
            for urls in workers.values())):
        raise ConfigError('SMYTH_WORKERS must map each handler to a list of worker URLs, '
                          'e.g. {"hello": ["http://hello-0:8080"]}')
    return workers


def parse_debug_ports(text: str | None) -> dict[str, int]:
    """``SMYTH_DEBUG_PORTS``: handler name to the host port of its replica 0's debugpy."""
    try:
        ports = json.loads(text) if text else {}
    except ValueError as exc:
        raise ConfigError(f"SMYTH_DEBUG_PORTS is not JSON: {exc}") from exc
    if not (isinstance(ports, dict) and all(isinstance(p, int) for p in ports.values())):
        raise ConfigError('SMYTH_DEBUG_PORTS must map handlers to ports, e.g. {"hello": 5678}')
    return ports


def load(config_path: str | None, workers: Mapping[str, list[str]]) -> Config:
    config = load_config(config_path)
    select_handlers(config, list(workers))
    for name, handler in config.handlers.items():
        if len(workers[name]) != handler.concurrency:
            # The stack was made from another version of the config: say so, not misroute.
            raise ConfigError(f"{name!r} has concurrency {handler.concurrency} but "
                              f"SMYTH_WORKERS lists {len(workers[name])} workers; run "
                              "smyth up again", file=str(config.path),
                              key=f"tool.smyth.handlers.{name}.concurrency")
    return config


def run(config: Config, workers: Mapping[str, list[str]], host: str = HOST,
        port: int = PORT, debug_ports: Mapping[str, int] | None = None) -> int:
    debug_ports = debug_ports or {}

    def replicas_for(handler: HandlerConfig, position: int) -> list[RemoteReplica]:
        base = debug_ports.get(handler.name)
        return [RemoteReplica(handler.name, index, url,
                              debug_port=None if base is None else base + index,
                              debug_remote_root=None if base is None else TASK_ROOT)
                for index, url in enumerate(workers[handler.name])]

    gateway = build_gateway(config, replicas_for)

    def banner(bound_host: str, bound_port: int) -> None:
        print(f"Smyth gateway serving {len(config.handlers)} handler(s) on "
              f"{bound_host}:{bound_port}", flush=True)

    return run_loop(serve(gateway, host, port, log_level=config.log_level, reload=False,
                          banner=banner))
