"""The stack model as docker SDK calls: thin, and the only place that sees docker's errors.

``container_args`` is pure (spec → keyword arguments of ``containers.create``); the rest
are small calls on a client, each translating the SDK's exceptions into ``StackError``
with what was being done, so nothing above this module sees a docker exception.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import docker
import docker.errors
import requests

from smyth.exceptions import StackError
from smyth.stack.model import LABEL_PROJECT, ContainerSpec, StackModel

SECOND_NS = 1_000_000_000


@contextlib.contextmanager
def translated(doing: str) -> Generator[None, None, None]:
    """Turn any docker SDK failure while ``doing`` into a StackError saying so."""
    try:
        yield
    except docker.errors.APIError as exc:
        detail = exc.explanation or str(exc)
        raise StackError(f"{doing}: {detail}") from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise StackError(f"{doing}: {exc}") from exc


def connect() -> docker.DockerClient:
    with translated("cannot reach the Docker engine (is it running? DOCKER_HOST set?)"):
        client = docker.from_env(timeout=120)
        client.ping()
    return client


# -- pure ----------------------------------------------------------------------------

def container_args(spec: ContainerSpec, network: str) -> dict[str, Any]:
    check = spec.healthcheck
    args: dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "command": list(spec.command),
        "environment": dict(spec.environment),
        "labels": dict(spec.labels),
        "user": spec.user,
        "working_dir": spec.working_dir,
        "volumes": {m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
                    for m in spec.mounts},
        "healthcheck": {"test": list(check.test), "interval": check.interval_s * SECOND_NS,
                        "timeout": check.timeout_s * SECOND_NS, "retries": check.retries,
                        "start_period": check.start_period_s * SECOND_NS},
        "restart_policy": {"Name": spec.restart},
        "init": spec.init,
        "network": network,
        # The service name is the container's DNS name on the network, as under compose.
        "networking_config": {network: {"Aliases": [spec.service]}},
    }
    if spec.memory_mb is not None:
        args["mem_limit"] = args["memswap_limit"] = f"{spec.memory_mb}m"
    if spec.nano_cpus is not None:
        args["nano_cpus"] = spec.nano_cpus
    if spec.ports:
        args["ports"] = {f"{p.container_port}/tcp": (p.host_ip, p.host_port)
                         for p in spec.ports}
    return args


def project_filter(project: str, **labels: str) -> dict[str, list[str]]:
    return {"label": [f"{LABEL_PROJECT}={project}",
                      *(f"dev.smyth.{k}={v}" for k, v in labels.items())]}


# -- calls ---------------------------------------------------------------------------

def containers(client: docker.DockerClient, project: str, **labels: str) -> list[Any]:
    with translated(f"listing the containers of project {project!r}"):
        return client.containers.list(all=True, filters=project_filter(project, **labels))  # type: ignore[no-any-return]


def networks(client: docker.DockerClient, project: str) -> list[Any]:
    with translated(f"listing the networks of project {project!r}"):
        return client.networks.list(filters=project_filter(project))  # type: ignore[no-any-return]


def ensure_network(client: docker.DockerClient, model: StackModel) -> None:
    with translated(f"creating network {model.network!r}"):
        if not client.networks.list(names=[model.network]):
            client.networks.create(model.network, driver="bridge",
                                   labels=dict(model.network_labels))


def create_and_start(client: docker.DockerClient, spec: ContainerSpec, network: str) -> Any:
    with translated(f"creating container {spec.name!r}"):
        container = client.containers.create(**container_args(spec, network))
    try:
        with translated(f"starting container {spec.name!r}"):
            container.start()
    except StackError as exc:
        with contextlib.suppress(docker.errors.DockerException):
            container.remove(force=True)
        if "address already in use" in str(exc) or "port is already allocated" in str(exc):
            raise StackError(f"{exc}. Pick another port with --port (0 picks a free one).") from exc
        raise
    return container


def remove_container(container: Any, grace: int = 10) -> None:
    with translated(f"removing container {container.name!r}"):
        try:
            container.stop(timeout=grace)
        except docker.errors.NotFound:
            return
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def remove_network(network: Any) -> None:
    with translated(f"removing network {network.name!r}"), \
            contextlib.suppress(docker.errors.NotFound):
        network.remove()


def reload_attrs(container: Any) -> dict[str, Any]:
    with translated(f"inspecting container {container.name!r}"):
        container.reload()
    return container.attrs  # type: ignore[no-any-return]
