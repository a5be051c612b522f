"""The stack model: what ``smyth up`` starts, built from the config by pure functions.

One model, two outputs: ``smyth.stack.engine`` turns it into docker SDK calls and
``smyth.stack.compose`` into ``.smyth/compose.yaml``, so the two cannot drift. Nothing here
touches Docker, the network or the clock; the caller passes in what depends on the machine
(the image tag, the user to run as).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from smyth.config import Config, HandlerConfig
from smyth.exceptions import ConfigError

LABEL_PROJECT = "dev.smyth.project"
LABEL_ROLE = "dev.smyth.role"
LABEL_HANDLER = "dev.smyth.handler"
LABEL_REPLICA = "dev.smyth.replica"
LABEL_REPLICAS = "dev.smyth.replicas"  # the handler's concurrency, for naming replicas
LABEL_SPEC = "dev.smyth.spec"  # hash of the container's spec: unchanged → keep the container

TASK_ROOT = "/var/task"
PORT = 8080  # inside each container; workers answer where RIE does
SMYTH_PYTHON = "/opt/smyth/venv/bin/python"  # the image's interpreter for Smyth's servers
WORKER_DIR = "/opt/smyth"  # not the project: a project file must not shadow a server module
DEBUG_PORT = 5678
LAMBDA_MB_PER_VCPU = 1769  # "At 1,769 MB, a function has the equivalent of one vCPU"
MIN_CPUS = 0.01  # Docker's smallest CPU quota
NOBODY = "65534:65534"

Role = Literal["gateway", "worker"]


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval_s: int = 10
    timeout_s: int = 3
    retries: int = 3
    start_period_s: int = 60


@dataclass(frozen=True)
class PortBinding:
    host_ip: str  # "" means every interface
    host_port: int | None  # None: Docker picks a free one
    container_port: int


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ImageSpec:
    tag: str
    context: str  # the build context directory
    base_image: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerSpec:
    service: str  # compose service name, and the container's alias on the stack's network
    name: str
    role: Role
    image: str
    command: tuple[str, ...]
    environment: dict[str, str]
    labels: dict[str, str]
    user: str
    working_dir: str
    mounts: tuple[Mount, ...]
    healthcheck: Healthcheck
    handler: str | None = None
    replica: int | None = None
    memory_mb: int | None = None
    cpus: float | None = None
    ports: tuple[PortBinding, ...] = ()
    depends_on: tuple[str, ...] = ()
    restart: str = "unless-stopped"  # a worker that dies is replaced by the engine
    # A real PID 1 (docker-init): SIGTERM ends a server even before it installs its own
    # handlers (PID 1 ignores signals it has no handler for), and orphans are reaped.
    init: bool = True

    @property
    def label(self) -> str:
        return replica_label(self.labels)

    @property
    def nano_cpus(self) -> int | None:
        # docker-compose 1.29 computes int(cpus * 1e9); doing the same keeps both outputs equal.
        return None if self.cpus is None else int(self.cpus * 1_000_000_000)


@dataclass(frozen=True)
class StackModel:
    project: str
    network: str
    network_labels: dict[str, str]
    image: ImageSpec
    gateway: ContainerSpec
    workers: tuple[ContainerSpec, ...]

    @property
    def containers(self) -> tuple[ContainerSpec, ...]:
        return (*self.workers, self.gateway)

    def workers_of(self, handler: str) -> tuple[ContainerSpec, ...]:
        return tuple(w for w in self.workers if w.handler == handler)


# -- pure helpers ---------------------------------------------------------------------

def slug(name: str) -> str:
    """A name Docker and DNS accept: lower case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"


def project_name(config: Config) -> str:
    """``[tool.smyth.docker] project_name``, else the project directory's name, as
    docker-compose normalises a ``-p`` name."""
    name = config.docker.project_name or config.root.name
    normal = re.sub(r"[^-_a-z0-9]", "", name.lower()).lstrip("-_")
    if not normal:
        raise ConfigError(f"{name!r} makes no valid Docker project name; set one with "
                          "project_name (letters, digits, '-' and '_')", file=str(config.path),
                          key="tool.smyth.docker.project_name")
    return normal


def worker_cpus(handler: HandlerConfig) -> float:
    """``cpus``, else Lambda's share of a vCPU for the memory size, in thousandths."""
    cpus = handler.cpus if handler.cpus is not None else handler.memory / LAMBDA_MB_PER_VCPU
    return max(round(cpus, 3), MIN_CPUS)


def default_user(uid: int, gid: int, environ: dict[str, str] | os._Environ[str]) -> str:
    """The host user, so files a handler writes are the developer's; never root, as Lambda
    never runs a handler as root: under sudo the invoking user, else nobody."""
    if uid != 0:
        return f"{uid}:{gid}"
    sudo_uid, sudo_gid = environ.get("SUDO_UID", ""), environ.get("SUDO_GID", "")
    if sudo_uid.isdigit() and sudo_gid.isdigit() and sudo_uid != "0":
        return f"{sudo_uid}:{sudo_gid}"
    return NOBODY


def publish_host(host: str) -> str:
    return {"0.0.0.0": "", "::": "", "localhost": "127.0.0.1"}.get(host, host)


def probe(path: str | None) -> tuple[str, ...]:
    """A healthcheck that needs only the interpreter (no curl in slim images) and starts
    fast (-S), as it runs inside the container's CPU quota. Without a path it only
    connects: the gateway listens once every worker is ready, and an HTTP probe would
    fill its access log."""
    code = f"import socket,sys;s=socket.create_connection(('127.0.0.1',{PORT}),2)"
    if path is not None:  # the escapes are for the probe's own bytes literal
        code += (f";s.sendall(b'GET {path} HTTP/1.0\\r\\n\\r\\n')"
                 ";sys.exit(0 if s.recv(12)[9:12]==b'200' else 1)")
    return ("CMD", SMYTH_PYTHON, "-S", "-c", code)


def replica_label(labels: Mapping[str, str]) -> str:
    """How logs and tables name a container: ``gateway``, ``hello``, or ``hello[1]`` when
    the handler has several replicas (as ``smyth run`` names its processes)."""
    handler = labels.get(LABEL_HANDLER)
    if handler is None:
        return labels.get(LABEL_ROLE, "?")
    if labels.get(LABEL_REPLICAS) == "1":
        return handler
    return f"{handler}[{labels.get(LABEL_REPLICA, '?')}]"


def spec_hash(spec: ContainerSpec) -> str:
    data = dataclasses.asdict(spec)
    data["labels"] = {k: v for k, v in spec.labels.items() if k != LABEL_SPEC}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _sealed(spec: ContainerSpec) -> ContainerSpec:
    return dataclasses.replace(spec, labels={**spec.labels, LABEL_SPEC: spec_hash(spec)})


# -- the model --------------------------------------------------------------------------

def worker_environment(config: Config, handler: HandlerConfig, name: str) -> dict[str, str]:
    env = config.handler_environment(handler, base={})
    # Values that describe the host, not the container, are the worker's to set.
    for key in ("AWS_EXECUTION_ENV", "AWS_LAMBDA_RUNTIME_API"):
        env.pop(key, None)
    env.update({
        "LAMBDA_TASK_ROOT": TASK_ROOT,
        "HOME": "/tmp",  # the only writable place, as on Lambda
        "SMYTH_LOG_LEVEL": handler.log_level,
        "SMYTH_INIT_TIMEOUT": str(int(max(30.0, handler.timeout or 0))),
        "SMYTH_REPLICA": name,
    })
    if handler.fake_coldstart_time:
        env["SMYTH_FAKE_COLDSTART"] = "1"
    if not config.reload:
        env["SMYTH_RELOAD"] = "0"
    return env


def build_model(config: Config, *, image: ImageSpec, user: str,
                debug_ports: dict[str, int] | None = None,
                debug_wait: bool = False) -> StackModel:
    """The stack for ``config``: one gateway, ``concurrency`` workers per handler.

    ``debug_ports`` maps a handler to the first host port of its debugpy listeners: replica
    ``i`` publishes ``127.0.0.1:port+i`` to its handler process's debugpy. ``debug_wait``
    holds their first invocation until a debugger attaches."""
    project = project_name(config)
    base_labels = {LABEL_PROJECT: project}
    mount = (Mount(str(config.root), TASK_ROOT, read_only=True),)
    workers: list[ContainerSpec] = []
    urls: dict[str, list[str]] = {}
    services: dict[str, str] = {}
    for handler in config.handlers.values():
        for index in range(handler.concurrency):
            service = f"{slug(handler.name)}-{index}"
            if service in services or service == "gateway":
                raise ConfigError(f"handlers {services.get(service, 'gateway')!r} and "
                                  f"{handler.name!r} map to the same container name "
                                  f"{service!r}; rename one", file=str(config.path),
                                  key=f"tool.smyth.handlers.{handler.name}")
            services[service] = handler.name
            name = f"{project}-{service}"
            env = worker_environment(config, handler, name)
            ports: tuple[PortBinding, ...] = ()
            if debug_ports and handler.name in debug_ports:
                env["SMYTH_DEBUG_PORT"] = str(DEBUG_PORT)
                if debug_wait:
                    env["SMYTH_DEBUG_WAIT"] = "1"
                ports = (PortBinding("127.0.0.1", debug_ports[handler.name] + index,
                                     DEBUG_PORT),)
            workers.append(_sealed(ContainerSpec(
                service=service, name=name, role="worker", image=image.tag,
                command=(SMYTH_PYTHON, "-m", "smyth.runtime.worker"), environment=env,
                labels={**base_labels, LABEL_ROLE: "worker", LABEL_HANDLER: handler.name,
                        LABEL_REPLICA: str(index),
                        LABEL_REPLICAS: str(handler.concurrency)},
                user=user, working_dir=WORKER_DIR, mounts=mount,
                healthcheck=Healthcheck(probe("/__/health")), handler=handler.name,
                replica=index, memory_mb=handler.memory, cpus=worker_cpus(handler),
                ports=ports,
            )))
            urls.setdefault(handler.name, []).append(f"http://{service}:{PORT}")
    gateway = _sealed(ContainerSpec(
        service="gateway", name=f"{project}-gateway", role="gateway", image=image.tag,
        command=(SMYTH_PYTHON, "-m", "smyth", "gateway"),
        environment={
            "SMYTH_CONFIG": f"{TASK_ROOT}/{config.path.name}",
            "SMYTH_WORKERS": json.dumps(urls, separators=(",", ":")),
            "SMYTH_LOG_LEVEL": config.log_level,
            "HOME": "/tmp",
            # The host ports of the debuggers, for the status that `smyth debug` reads.
            **({"SMYTH_DEBUG_PORTS": json.dumps(debug_ports, separators=(",", ":"))}
               if debug_ports else {}),
        },
        labels={**base_labels, LABEL_ROLE: "gateway"}, user=user, working_dir=TASK_ROOT,
        mounts=mount, healthcheck=Healthcheck(probe(None)),
        ports=(PortBinding(publish_host(config.host), config.port or None, PORT),),
        depends_on=tuple(w.service for w in workers),
    ))
    return StackModel(project=project, network=f"smyth-{project}", network_labels=base_labels,
                      image=image, gateway=gateway, workers=tuple(workers))
