"""``smyth up``, ``down``, ``ps``, ``logs`` (Docker mode) and ``gateway`` (its container's
entrypoint): option parsing and printing around ``smyth.stack``."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from smyth.cli.common import CONFIG_OPTION, fail, load
from smyth.cli.run import debug_ports
from smyth.config import Config
from smyth.exceptions import ConfigError, StackError
from smyth.stack import engine, logs, workflow
from smyth.stack.model import LABEL_HANDLER, LABEL_ROLE, project_name


def _stack_error(exc: StackError) -> NoReturn:
    fail(str(exc), getattr(exc, "exit_code", 1))


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in rows]


def _echo(line: str) -> None:
    click.echo(line, err=True)


class _Interrupted(Exception):
    pass


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise _Interrupted


@click.command()
@click.option("--only", multiple=True, metavar="NAME", help="Start only this handler (repeatable).")
@click.option("-d", "--detach", is_flag=True, help="Return once the stack is ready.")
@click.option("--build/--no-build", default=None,
              help="Always build the image / never build it (default: when missing).")
@click.option("--base-image", metavar="IMAGE", default=None,
              help="Base image for the build (default: [tool.smyth.docker] base_image).")
@click.option("-p", "--port", type=int, default=None,
              help="Publish the gateway on this host port; 0 picks a free one.")
@click.option("-h", "--host", default=None, help="Publish on this host address (default 127.0.0.1).")
@click.option("--debug", "debug_names", multiple=True, metavar="NAME",
              help="Run this handler under debugpy, published on 127.0.0.1 (repeatable).")
@click.option("--debug-wait", is_flag=True,
              help="Debugged handlers hold their first invocation until a client attaches.")
@CONFIG_OPTION
def up(only: tuple[str, ...], detach: bool, build: bool | None, base_image: str | None,
       port: int | None, host: str | None, debug_names: tuple[str, ...], debug_wait: bool,
       config_path: str | None) -> None:
    """Start the handlers in Docker: a gateway container and worker containers."""
    config = load(config_path, only)
    config.port = config.port if port is None else port
    config.host = host or config.host
    try:
        debug = debug_ports(config, debug_names)
    except ConfigError as exc:
        fail(str(exc))
    options = workflow.UpOptions(base_image=base_image, build=build, ready_timeout=float(
        os.environ.get("SMYTH_UP_TIMEOUT", workflow.READY_TIMEOUT)), debug_ports=debug,
        debug_wait=debug_wait)
    # Ctrl-C or SIGTERM at any point from here on takes the stack down again. SIGINT is set
    # explicitly: a shell starting us in the background without job control ignores it, and
    # Python then never raises KeyboardInterrupt.
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    locked = False
    try:
        with workflow.project_lock(config, _echo):
            locked = True  # from here on, an interrupted up has started things: stop them
            stack = workflow.up(config, options, _echo)
        _banner(config, stack)
        for name, first in debug.items():  # replica i publishes first + i
            last = first + config.handlers[name].concurrency - 1
            ports = f"{first}" if last == first else f"{first}-{last}"
            _echo(f"  {name}: debugpy on 127.0.0.1:{ports}; attach with `smyth debug {name}`")
        if not detach:
            _echo("Streaming logs; Ctrl-C stops the stack")
            containers = engine.containers(stack.client, stack.model.project)
            logs.follow(containers, click.echo, threading.Event(), color=sys.stdout.isatty())
    except (KeyboardInterrupt, _Interrupted):
        if not locked:  # interrupted while waiting for another up/down: we started nothing
            _echo("Interrupted while waiting; nothing was started")
            raise SystemExit(130) from None
        _stop(config)
    except ConfigError as exc:
        fail(str(exc))
    except StackError as exc:
        if not detach:
            _stop(config, after_error=True)
        elif isinstance(exc, workflow.NotReadyError):  # left for smyth logs and ps to explain
            _echo("The stack is left as it is: see smyth ps and smyth logs; smyth down "
                  "removes it.")
        _stack_error(exc)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(config: Config, after_error: bool = False) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not strand containers
    try:
        project = project_name(config)
        _echo(f"Stopping stack {project}")
        with workflow.project_lock(config, _echo):
            workflow.down(engine.connect(), project)
    except StackError as exc:
        if not after_error:
            _stack_error(exc)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _banner(config: Config, stack: workflow.Stack) -> None:
    _echo(f"Smyth stack {stack.model.project!r} is up on {stack.url} "
          f"(compose file: {stack.compose_file})")
    rows = [("HANDLER", "URL", "REPLICAS", "LIMITS"),
            *workflow.replica_table(config, stack.model, stack.url)]
    for line in _table(rows):
        _echo("  " + line)


@click.command()
@CONFIG_OPTION
def down(config_path: str | None) -> None:
    """Remove the project's containers and network."""
    config = load(config_path)
    try:
        project = project_name(config)
        with workflow.project_lock(config, _echo):
            containers, networks = workflow.down(engine.connect(), project)
    except ConfigError as exc:
        fail(str(exc))
    except StackError as exc:
        _stack_error(exc)
    _echo(f"Removed {len(containers)} container(s) and {len(networks)} network(s) "
          f"of project {project}")


@click.command()
@CONFIG_OPTION
def ps(config_path: str | None) -> None:
    """List the project's gateway and replicas."""
    config = load(config_path)
    try:
        rows = workflow.ps(engine.connect(), project_name(config))
    except ConfigError as exc:
        fail(str(exc))
    except StackError as exc:
        _stack_error(exc)
    if not rows:
        _echo(f"No containers of project {project_name(config)}; start them with smyth up")
        return
    header = ("HANDLER", "REPLICA", "STATE", "CONTAINER", "UPTIME", "RESTARTS", "MEMORY",
              "CPUS", "PORTS")
    body = [(r.handler, r.replica, r.state, r.container, r.uptime, str(r.restarts), r.memory,
             r.cpus, r.ports) for r in rows]
    for line in _table([header, *body]):
        click.echo(line)


@click.command("logs")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines.")
@click.option("--tail", type=int, default=None, help="Only the last N lines of each replica.")
@click.option("--since", default=None, help="Only lines since a time: 10m, 2h, a Unix time or ISO.")
@CONFIG_OPTION
def logs_command(names: tuple[str, ...], follow: bool, tail: int | None, since: str | None,
                 config_path: str | None) -> None:
    """Show the logs of every replica of the named handlers (all when none is named)."""
    config = load(config_path)
    try:
        start = logs.parse_since(since)
    except ValueError as exc:
        fail(str(exc))
    try:
        containers = engine.containers(engine.connect(), project_name(config))
        chosen = _select(containers, names)
        color = sys.stdout.isatty()
        if follow:
            stop = threading.Event()
            try:
                logs.follow(chosen, click.echo, stop, tail=tail, since=start, color=color)
            except KeyboardInterrupt:
                stop.set()
        else:
            logs.show(chosen, click.echo, tail=tail, since=start, color=color)
    except ConfigError as exc:
        fail(str(exc))
    except StackError as exc:
        _stack_error(exc)


def _select(containers: list[Any], names: tuple[str, ...]) -> list[Any]:
    if not containers:
        raise StackError("the stack is not running; start it with smyth up")
    if not names:
        return containers
    known = {c.labels.get(LABEL_HANDLER) for c in containers} - {None}
    chosen = []
    for name in names:
        matches = [c for c in containers if c.labels.get(LABEL_HANDLER) == name]
        if not matches and name == "gateway":
            matches = [c for c in containers if c.labels.get(LABEL_ROLE) == "gateway"]
        if not matches:
            raise StackError(f"no running handler {name!r}; the stack has "
                             f"{', '.join(sorted(known)) or 'no handlers'} (and gateway)")
        chosen += matches
    return chosen


@click.command(hidden=True)
@CONFIG_OPTION
def gateway(config_path: str | None) -> None:
    """Serve the gateway of a Docker stack (the gateway container's command).

    Replicas are the workers in SMYTH_WORKERS; the config is SMYTH_CONFIG or --config."""
    from smyth.batched import batch_standard_streams
    from smyth.stack import gateway_main

    batch_standard_streams()  # its output goes to Docker's log driver: see smyth/batched.py

    try:
        workers = gateway_main.parse_workers(os.environ.get("SMYTH_WORKERS", ""))
        config = gateway_main.load(config_path or os.environ.get("SMYTH_CONFIG"), workers)
        debug_ports = gateway_main.parse_debug_ports(os.environ.get("SMYTH_DEBUG_PORTS"))
    except ConfigError as exc:
        fail(str(exc))
    raise SystemExit(gateway_main.run(config, workers, debug_ports=debug_ports))
