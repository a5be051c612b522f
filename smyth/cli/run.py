"""``smyth run``: every handler in local processes behind one gateway."""

from __future__ import annotations

import contextlib
import importlib
import socket
from collections.abc import Callable, Sequence

import click

from smyth.cli.common import CONFIG_OPTION, fail, load
from smyth.config import Config
from smyth.exceptions import ConfigError
from smyth.loop import Shutdown, run_loop, terminal_preserved
from smyth.runtime.launch import Launched, launch
from smyth.runtime.local import local_specs, supervisors
from smyth.types import Replica

# Nothing above imports asyncio: the handler processes are launched first (see run()).

DEBUG_PORT_BASE = 5678


def free_port_range(count: int, start: int = DEBUG_PORT_BASE, taken: set[int] | None = None) -> int:
    """The first port from ``start`` such that ``count`` consecutive ports are free."""
    taken = taken or set()
    port = start
    while port + count < 65535:
        ports = range(port, port + count)
        if not taken.intersection(ports) and all(_free(p) for p in ports):
            return port
        port += count
    raise ConfigError("no free port range for debugpy")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def debug_ports(config: Config, names: tuple[str, ...]) -> dict[str, int]:
    """The first debugpy port of each debugged handler: ``debug_port`` or a free range."""
    for name in names:
        if name not in config.handlers:
            raise ConfigError(f"--debug {name!r}: no such handler; handlers are "
                              f"{', '.join(config.handlers)}", file=str(config.path))
    ports: dict[str, int] = {}
    taken: set[int] = set()
    for name, handler in config.handlers.items():
        if handler.debug or name in names:
            port = handler.debug_port or free_port_range(handler.concurrency, taken=taken)
            ports[name] = port
            taken.update(range(port, port + handler.concurrency))
    return ports


def banner(config: Config, debug: dict[str, int]) -> callable:  # type: ignore[valid-type]
    def show(host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}"
        click.echo(f"Smyth serving {len(config.handlers)} handler(s) on {base}", err=True)
        if host in ("127.0.0.1", "localhost", "::1"):
            click.echo("  (loopback only; set host in [tool.smyth] or pass --host 0.0.0.0 to "
                       "expose it)", err=True)
        width = max(len(n) for n in config.handlers)
        for name, handler in config.handlers.items():
            extra = f"  debugpy :{debug[name]}" if name in debug else ""
            click.echo(f"  {name:<{width}}  {base}{handler.url_path}  "
                       f"x{handler.concurrency} {handler.event_format}{extra}", err=True)
    return show


def abandon(launched: dict[str, list[Launched]]) -> None:
    for group in launched.values():
        for process in group:
            process.abandon()


@click.command()
@click.option("-h", "--host", default=None, help="Bind to this host (default 127.0.0.1).")
@click.option("-p", "--port", type=int, default=None, help="Bind to this port; 0 picks a free one.")
@click.option("--only", multiple=True, metavar="NAME", help="Run only this handler (repeatable).")
@click.option("--log-level", default=None, help="Log level of the gateway.")
@click.option("--reload/--no-reload", default=None, help="Reload handlers when their code changes.")
@click.option("--debug", "debug_names", multiple=True, metavar="NAME",
              help="Run this handler under debugpy, listening for an IDE (repeatable).")
@click.option("--debug-wait", is_flag=True, help="Debugged handlers wait for a client before starting.")
@CONFIG_OPTION
def run(host: str | None, port: int | None, only: tuple[str, ...], log_level: str | None,
        reload: bool | None, debug_names: tuple[str, ...], debug_wait: bool,
        config_path: str | None) -> None:
    """Serve the handlers of [tool.smyth] from local processes."""
    # From here on SIGINT and SIGTERM mean "stop in order and exit 0", whatever the moment.
    shutdown = Shutdown().install()
    config = load(config_path, only)
    config.host = host or config.host
    config.port = config.port if port is None else port
    config.log_level = (log_level or config.log_level).upper()
    config.reload = config.reload if reload is None else reload
    try:
        debug = debug_ports(config, debug_names)
    except ConfigError as exc:
        fail(str(exc))

    specs = {name: local_specs(config, handler, color=position, debug_port=debug.get(name),
                               debug_wait=debug_wait and name in debug)
             for position, (name, handler) in enumerate(config.handlers.items())}
    # The handler processes start before asyncio and the gateway's modules load: each child's
    # interpreter comes up on another core meanwhile. Their supervisors adopt them.
    launched: dict[str, list[Launched]] = {name: [] for name in specs}
    try:
        for name, group in specs.items():
            for spec in group:
                launched[name].append(launch(spec))
    except BaseException:
        abandon(launched)
        raise
    replicas: dict[str, Sequence[Replica]] = {
        name: supervisors(group, launched[name]) for name, group in specs.items()}
    if shutdown.requested:  # nothing serves yet: stop what was launched
        abandon(launched)
        raise SystemExit(0)
    with terminal_preserved():
        try:
            code = run_loop(start_and_serve(config, replicas, banner(config, debug), shutdown))
        finally:
            shutdown.detach()
    raise SystemExit(code)


async def start_and_serve(config: Config, replicas: dict[str, Sequence[Replica]],
                          show: Callable[[str, int], None], shutdown: Shutdown) -> int:
    """The handler processes are already starting; the gateway's own modules (uvicorn …)
    load in a thread while they import their handlers, so startup takes the longer of the
    two, not the sum."""
    import asyncio

    from smyth.startup import start_replicas

    shutdown.attach()
    everyone = [replica for group in replicas.values() for replica in group]
    starting = asyncio.ensure_future(start_replicas(everyone))
    try:
        server = await asyncio.to_thread(importlib.import_module, "smyth.server")
        gateway = server.build_gateway(config, lambda handler, _: replicas[handler.name])
    except BaseException as exc:  # serve() does not take the replicas over: stop them here
        await asyncio.gather(*(replica.stop() for replica in everyone), return_exceptions=True)
        starting.cancel()
        with contextlib.suppress(BaseException):
            await starting
        if not isinstance(exc, ConfigError):
            raise
        click.echo(f"smyth: error: {exc}", err=True)
        return 2
    return await server.serve(gateway, config.host, config.port,  # type: ignore[no-any-return]
                              log_level=config.log_level, reload=config.reload, banner=show,
                              started=starting, shutdown=shutdown)
