"""``smyth up``, ``down`` and ``ps`` as plain functions: build if missing, converge the
containers on the model, wait until every replica is ready, and clean up by label.

These are also what a benchmark or a test calls to bring a stack up and down.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import docker
import httpx

from smyth.config import Config
from smyth.exceptions import StackError
from smyth.stack import compose, engine
from smyth.stack import image as images
from smyth.stack.model import (
    LABEL_HANDLER,
    LABEL_ROLE,
    LABEL_SPEC,
    PORT,
    SMYTH_PYTHON,
    StackModel,
    build_model,
    default_user,
    replica_label,
)

READY_TIMEOUT = 120.0
STATE_DIR = ".smyth"
LOCK_FILE = "lock"
Output = Callable[[str], None]


class NotReadyError(StackError):
    """The stack started but a replica never became ready; ``exit_code`` 2 for an init
    error in the handler's code (as ``smyth run`` exits), 1 otherwise."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class UpOptions:
    base_image: str | None = None
    build: bool | None = None  # True: always; False: never; None: when the tag is missing
    debug_ports: dict[str, int] | None = None
    debug_wait: bool = False
    ready_timeout: float = READY_TIMEOUT


@dataclass
class Stack:
    model: StackModel
    url: str  # the gateway, as the host reaches it
    built: bool
    compose_file: Path
    client: docker.DockerClient


@contextlib.contextmanager
def project_lock(config: Config, out: Output) -> Generator[None, None, None]:
    """One ``smyth up`` or ``down`` at a time on a project: two at once would both create
    the network and the containers. The second waits for the first (an exclusive flock on
    ``.smyth/lock``, which the kernel releases however its holder ends)."""
    state = config.root / STATE_DIR
    try:
        state.mkdir(exist_ok=True)
        if not (state / ".gitignore").exists():
            (state / ".gitignore").write_text("*\n")
        lock = open(state / LOCK_FILE, "a")  # noqa: SIM115  (closed below)
    except OSError:  # a read-only project: go on without the lock
        yield
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            out("Waiting for another smyth up/down on this project to finish "
                f"(it holds {state / LOCK_FILE})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def plan(config: Config, options: UpOptions) -> tuple[StackModel, Path]:
    """Write the build context and ``.smyth/compose.yaml``; return the model. No Docker."""
    state = config.root / STATE_DIR
    state.mkdir(exist_ok=True)
    (state / ".gitignore").write_text("*\n")  # generated, and may hold .env values
    image = images.prepare(config, options.base_image or config.docker.base_image,
                           state / "build")
    model = build_model(config, image=image,
                        user=default_user(os.getuid(), os.getgid(), os.environ),
                        debug_ports=options.debug_ports, debug_wait=options.debug_wait)
    path = compose.write(model, state / "compose.yaml", config_path=str(config.path))
    return model, path


def up(config: Config, options: UpOptions, out: Output) -> Stack:
    model, compose_file = plan(config, options)
    client = engine.connect()
    built = ensure_image(client, model, options.build, out)
    engine.ensure_network(client, model)
    converge(client, model, out)
    stack = Stack(model, gateway_url(client, model), built, compose_file, client)
    status = wait_ready(stack, options.ready_timeout, config)
    for name, handler in status["handlers"].items():
        errors = [r["init_error"] for r in handler["replicas"] if r.get("init_error")]
        if errors:  # served anyway, as by smyth run: a fix to the code reloads it
            out(f"{name}: {errors[0]['errorType']}: {errors[0]['errorMessage']} (serving it "
                "anyway: its requests answer with this error until its code imports)")
    return stack


def ensure_image(client: docker.DockerClient, model: StackModel, build: bool | None,
                 out: Output) -> bool:
    tag = model.image.tag
    present = images.exists(client, tag)
    if build is False and not present:
        raise StackError(f"image {tag} does not exist and --no-build was given; "
                         "run smyth up --build")
    if present and not build:
        out(f"Image {tag} is up to date")
        return False
    out(f"Building image {tag} from {model.image.base_image}")
    images.build(client, model.image, lambda line: out(f"build | {line}"))
    images.prune(client, model.image)
    return True


def _parallel(function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
        return list(pool.map(function, items))


def converge(client: docker.DockerClient, model: StackModel, out: Output) -> None:
    """Make the project's containers those of the model: keep a running container whose
    spec is unchanged (warm, no restart), replace the rest, remove the extras."""
    wanted = {spec.name: spec for spec in model.containers}
    existing = {c.name: c for c in engine.containers(client, model.project)}
    keep = {name for name, c in existing.items()
            if name in wanted and c.labels.get(LABEL_SPEC) == wanted[name].labels[LABEL_SPEC]
            and c.status == "running"}
    stale = [c for name, c in existing.items() if name not in keep]
    if stale:
        out(f"Removing {len(stale)} outdated container(s)")
        _parallel(engine.remove_container, stale)
    missing = [spec for spec in model.workers if spec.name not in keep]
    if missing:
        out(f"Starting {len(missing)} worker container(s)")
    gateway = [] if model.gateway.name in keep else [model.gateway]
    if gateway:
        out("Starting the gateway container")
    # All at once: the gateway waits for its workers itself (it polls their health until
    # they answer), so it can start its interpreter while theirs start.
    _parallel(lambda spec: engine.create_and_start(client, spec, model.network),
              missing + gateway)


def gateway_url(client: docker.DockerClient, model: StackModel) -> str:
    [container] = engine.containers(client, model.project, role="gateway") or [None]
    if container is None:
        raise StackError(f"the gateway container {model.gateway.name!r} is missing")
    attrs = engine.reload_attrs(container)
    bindings = (attrs["NetworkSettings"].get("Ports") or {}).get(f"{PORT}/tcp") or []
    if not bindings:
        raise StackError(f"the gateway container {model.gateway.name!r} publishes no port")
    host = bindings[0]["HostIp"]
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    host = f"[{host}]" if ":" in host else host
    port: str = bindings[0]["HostPort"]
    return f"http://{host}:{port}"


# -- readiness ---------------------------------------------------------------------------

def _gateway_failure(container: Any, restarts: int, config: Config | None) -> NotReadyError | None:
    attrs = engine.reload_attrs(container)
    state = attrs["State"]
    if state["Status"] == "running" and attrs.get("RestartCount", 0) == restarts:
        return None
    logs = container.logs(tail=40).decode("utf-8", "replace")
    errors = [line for line in logs.splitlines() if line.startswith("smyth: error:")]
    if config is not None:  # show the user's paths, not the container's
        errors = [line.replace("/var/task", str(config.root)) for line in errors]
    detail = "\n".join(errors) or logs.strip()
    code = 2 if errors else 1
    return NotReadyError(f"the gateway container {container.name} exited "
                         f"(exit code {state.get('ExitCode')}):\n{detail}", code)


def _replicas_ready(status: dict[str, Any]) -> bool:
    # A replica whose code failed to import is started: the gateway serves its init error
    # (a configuration error would have stopped the gateway instead).
    return all(replica["state"] != "starting"
               for handler in status["handlers"].values() for replica in handler["replicas"])


def wait_ready(stack: Stack, timeout: float, config: Config | None = None) -> dict[str, Any]:
    """Until the gateway answers with every replica started (its status), or a clear error."""
    client, model = stack.client, stack.model
    deadline = time.monotonic() + timeout
    [gateway] = engine.containers(client, model.project, role="gateway")
    restarts = engine.reload_attrs(gateway).get("RestartCount", 0)
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            failure = _gateway_failure(gateway, restarts, config)
            if failure is not None:
                raise failure
            try:
                response = http.get(f"{stack.url}/__/status")
                if response.status_code == 200 and _replicas_ready(status := response.json()):
                    return status  # type: ignore[no-any-return]
            except (httpx.TransportError, ValueError):
                pass  # the gateway binds its port once every worker has started
            time.sleep(0.05)
    raise NotReadyError(f"the stack was not ready within {timeout:.0f} s: "
                        f"{not_ready(client, model)}")


def _health_state(answer: str) -> str | None:
    """The ``state`` in a worker's health answer; None when it is not one."""
    try:
        health = json.loads(answer)
    except ValueError:
        return None
    return health.get("state") if isinstance(health, dict) else None


def not_ready(client: docker.DockerClient, model: StackModel) -> str:
    """Name the first replica that is not ready, and why."""
    by_name = {c.name: c for c in engine.containers(client, model.project)}
    for spec in model.workers:
        container = by_name.get(spec.name)
        if container is None:
            return f"replica {spec.label} (container {spec.name}) does not exist"
        attrs = engine.reload_attrs(container)
        if attrs["State"]["Status"] != "running":
            tail: bytes = container.logs(tail=10)
            return (f"replica {spec.label} (container {spec.name}) is "
                    f"{attrs['State']['Status']}; its last log lines:\n"
                    + tail.decode("utf-8", "replace"))
        probe = ("import json,urllib.request as u\ntry: print(u.urlopen('http://127.0.0.1:"
                 f"{PORT}/__/health',timeout=3).read().decode())\n"
                 "except Exception as e: print(getattr(e,'read',lambda:str(e).encode())().decode())")
        with engine.translated(f"probing {spec.name}"):
            result = container.exec_run([SMYTH_PYTHON, "-c", probe])
        answer = result.output.decode("utf-8", "replace").strip()
        if _health_state(answer) not in ("cold", "warm", "busy"):
            return f"replica {spec.label} (container {spec.name}) answers: {answer}"
    return f"the gateway container {model.gateway.name} does not answer on its port"


# -- down and ps ---------------------------------------------------------------------------

def down(client: docker.DockerClient, project: str) -> tuple[list[str], list[str]]:
    """Remove every container and network labelled with the project; return their names."""
    containers = engine.containers(client, project)
    # Workers first would make the gateway log failures; the gateway goes first.
    gateways = [c for c in containers if c.labels.get(LABEL_ROLE) == "gateway"]
    _parallel(engine.remove_container, gateways)
    _parallel(engine.remove_container, [c for c in containers if c not in gateways])
    networks = engine.networks(client, project)
    for network in networks:
        engine.remove_network(network)
    return [c.name for c in containers], [n.name for n in networks]


@dataclass
class Row:
    handler: str
    replica: str
    state: str
    container: str
    uptime: str
    restarts: int
    memory: str
    cpus: str
    ports: str


def _uptime(started: str, now: datetime) -> str:
    try:
        moment = datetime.fromisoformat(started[:26].rstrip("Z") + "+00:00")
    except ValueError:
        return "-"
    seconds = int((now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def ps(client: docker.DockerClient, project: str) -> list[Row]:
    rows = []
    now = datetime.now(timezone.utc)
    for container in engine.containers(client, project):
        attrs = container.attrs
        state, host = attrs["State"], attrs["HostConfig"]
        status = state["Status"]
        if state.get("Health"):
            status += f" ({state['Health']['Status']})"
        ports = ", ".join(f"{b['HostIp'] or '0.0.0.0'}:{b['HostPort']}->{port.split('/')[0]}"
                          for port, binds in (attrs["NetworkSettings"].get("Ports") or {}).items()
                          for b in binds or [])
        labels = container.labels
        rows.append(Row(
            handler=labels.get(LABEL_HANDLER, "(gateway)"),
            replica=replica_label(labels),
            state=status,
            container=container.short_id,
            uptime=_uptime(state.get("StartedAt", ""), now) if state.get("Running") else "-",
            restarts=attrs.get("RestartCount", 0),
            memory=f"{host['Memory'] // 2**20} MB" if host.get("Memory") else "-",
            cpus=f"{host['NanoCpus'] / 1e9:g}" if host.get("NanoCpus") else "-",
            ports=ports,
        ))
    return sorted(rows, key=lambda r: (r.handler == "(gateway)", r.handler, r.replica))


def replica_table(config: Config, model: StackModel, url: str) -> list[tuple[str, ...]]:
    """handler, URL, replicas, limits: what ``smyth up`` prints once the stack is ready."""
    rows: list[tuple[str, ...]] = []
    for name, handler in config.handlers.items():
        specs = model.workers_of(name)
        if specs:
            limits = f"{specs[0].memory_mb} MB, {specs[0].cpus:g} CPU"
            rows.append((name, f"{url}{handler.url_path}", str(len(specs)), limits))
    return rows
