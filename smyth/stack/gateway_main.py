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
from smyth.runtime.remote import RemoteReplica
from smyth.server import build_gateway, run_loop, serve

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
        port: int = PORT) -> int:
    def replicas_for(handler: HandlerConfig, position: int) -> list[RemoteReplica]:
        return [RemoteReplica(handler.name, index, url)
                for index, url in enumerate(workers[handler.name])]

    gateway = build_gateway(config, replicas_for)

    def banner(bound_host: str, bound_port: int) -> None:
        print(f"Smyth gateway serving {len(config.handlers)} handler(s) on "
              f"{bound_host}:{bound_port}", flush=True)

    return run_loop(serve(gateway, host, port, log_level=config.log_level, reload=False,
                          banner=banner))
