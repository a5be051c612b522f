"""The ``smyth`` command line: thin click commands that call the layers."""

from __future__ import annotations

import importlib
from typing import Any

import click

from smyth import __version__

# Each command's module is imported when that command runs (or --help lists them all), so
# that ``smyth run`` does not pay for the docker SDK and ``smyth up`` not for uvicorn.
COMMANDS = {
    "run": "smyth.cli.run:run",
    "invoke": "smyth.cli.invoke:invoke",
    "debug": "smyth.cli.debug:debug",
    "up": "smyth.cli.stack:up",
    "down": "smyth.cli.stack:down",
    "ps": "smyth.cli.stack:ps",
    "logs": "smyth.cli.stack:logs_command",
    "gateway": "smyth.cli.stack:gateway",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module, _, attr = COMMANDS[name].partition(":")
            command: Any = getattr(importlib.import_module(module), attr)
            self.add_command(command, name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["--help"]})
@click.version_option(__version__, prog_name="smyth")
def main() -> None:
    """Serve AWS Lambda handlers over HTTP: warm, reloading and debuggable."""
