"""The stack model as a compose file that ``docker-compose`` 1.29 and ``docker compose`` run.

Written without a ``version`` key (the Compose Specification, which both accept) and using
only keys both know. Every string is escaped for compose's ``$`` interpolation: a value such
as ``$LATEST`` must reach the container as written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from smyth.stack.model import ContainerSpec, PortBinding, StackModel

NETWORK_KEY = "smyth"
HEADER = """\
# Written by `smyth up` from {config}
# and rewritten on every `smyth up`: edit the config, not this file.
# It starts the same stack as `smyth up`:
#   docker-compose -f {path} -p {project} up
"""


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escape(v) for v in value]
    return value


def _port(binding: PortBinding) -> str:
    host = f"{binding.host_ip}:" if binding.host_ip else ""
    host_port = "" if binding.host_port is None else str(binding.host_port)
    if not host and not host_port:
        return str(binding.container_port)
    return f"{host}{host_port}:{binding.container_port}"


def service(spec: ContainerSpec, model: StackModel, build_context: str) -> dict[str, Any]:
    check = spec.healthcheck
    data: dict[str, Any] = {
        "image": spec.image,
        "build": {"context": build_context, "args": {"BASE_IMAGE": model.image.base_image},
                  "labels": dict(model.image.labels)},
        "container_name": spec.name,
        "command": list(spec.command),
        "environment": dict(sorted(spec.environment.items())),
        "labels": dict(sorted(spec.labels.items())),
        "user": spec.user,
        "working_dir": spec.working_dir,
        "volumes": [f"{m.source}:{m.target}:{'ro' if m.read_only else 'rw'}"
                    for m in spec.mounts],
        "healthcheck": {"test": list(check.test), "interval": f"{check.interval_s}s",
                        "timeout": f"{check.timeout_s}s", "retries": check.retries,
                        "start_period": f"{check.start_period_s}s"},
        "restart": spec.restart,
        "init": spec.init,
        "networks": [NETWORK_KEY],
    }
    if spec.memory_mb is not None:
        # No swap, as on Lambda: the limit is the memory the handler can have.
        data["mem_limit"] = data["memswap_limit"] = f"{spec.memory_mb}m"
    if spec.cpus is not None:
        data["cpus"] = spec.cpus
    if spec.ports:
        data["ports"] = [_port(p) for p in spec.ports]
    if spec.depends_on:
        data["depends_on"] = list(spec.depends_on)
    return data


def compose_dict(model: StackModel, build_context: str = "./build") -> dict[str, Any]:
    """``build_context`` is relative to the compose file's directory."""
    escaped: dict[str, Any] = _escape({
        "services": {spec.service: service(spec, model, build_context)
                     for spec in model.containers},
        "networks": {NETWORK_KEY: {"name": model.network, "labels": dict(model.network_labels)}},
    })
    return escaped


def render(model: StackModel, *, config_path: str, compose_path: str) -> str:
    header = HEADER.format(config=config_path, path=compose_path, project=model.project)
    return header + str(yaml.safe_dump(compose_dict(model), sort_keys=False, width=100))


def write(model: StackModel, path: Path, *, config_path: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render(model, config_path=config_path, compose_path=str(path))
    if not path.is_file() or path.read_text() != text:
        # It holds the real environment values, the env file's included: readable by its
        # owner only (mkstemp's 0600), and replaced whole, never seen half written.
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".compose-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as file:
                file.write(text)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    path.chmod(0o600)  # a file written by an older Smyth may be world-readable
    return path
