"""``smyth debug NAME``: VS Code attach configurations for a running handler's replicas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import httpx

from smyth.cli.common import CONFIG_OPTION, fail, load
from smyth.config import Config
from smyth.vscode import LaunchJsonError, attach_configurations, merge


def gateway_url(config: Config) -> str:
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    return f"http://{f'[{host}]' if ':' in host else host}:{config.port}"


def replica_status(url: str, name: str) -> list[dict[str, Any]]:
    """The status of ``name``'s replicas, as the running gateway reports them."""
    try:
        response = httpx.get(f"{url.rstrip('/')}/__/status", timeout=10)
        response.raise_for_status()
        handlers = response.json()["handlers"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        fail(f"no Smyth gateway answers at {url} ({exc}): start it with "
             f"`smyth run --debug {name}`, or pass the gateway's address with --url", 1)
    if name not in handlers:
        fail(f"the gateway at {url} serves no handler {name!r}; it serves "
             f"{', '.join(handlers) or 'none'}", 2)
    return handlers[name]["replicas"]  # type: ignore[no-any-return]


@click.command()
@click.argument("name")
@click.option("--write", is_flag=True,
              help="Merge the configurations into the project's .vscode/launch.json.")
@click.option("--url", default=None, metavar="URL",
              help="The running gateway (default: host and port from [tool.smyth]).")
@CONFIG_OPTION
def debug(name: str, write: bool, url: str | None, config_path: str | None) -> None:
    """Print VS Code "attach" configurations for handler NAME's running replicas."""
    config = load(config_path)
    replicas = replica_status(url or gateway_url(config), name)
    configurations = attach_configurations(name, replicas, str(config.root))
    if not configurations:
        fail(f"handler {name!r} is not running under debugpy: restart it with "
             f"`smyth run --debug {name}`, or set debug = true in "
             f"[tool.smyth.handlers.{name}]", 1)
    if not write:
        click.echo(json.dumps({"version": "0.2.0", "configurations": configurations}, indent=4))
        return
    path = Path(config.root) / ".vscode" / "launch.json"
    try:
        text = merge(path.read_text(encoding="utf-8") if path.exists() else None, configurations)
    except LaunchJsonError as exc:
        fail(f"{path}: {exc}; fix it, or print the configurations with `smyth debug {name}` "
             "and paste them in", 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    names = ", ".join(c["name"] for c in configurations)
    click.echo(f"{path}: wrote {names}", err=True)
