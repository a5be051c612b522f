"""The ``smyth`` command line: thin click commands that call the layers."""

from __future__ import annotations

import click

from smyth import __version__
from smyth.cli.debug import debug
from smyth.cli.invoke import invoke
from smyth.cli.run import run
from smyth.cli.stack import down, gateway, logs_command, ps, up


@click.group(context_settings={"help_option_names": ["--help"]})
@click.version_option(__version__, prog_name="smyth")
def main() -> None:
    """Serve AWS Lambda handlers over HTTP: warm, reloading and debuggable."""


main.add_command(run)
main.add_command(invoke)
main.add_command(debug)
main.add_command(up)
main.add_command(down)
main.add_command(ps)
main.add_command(logs_command)
main.add_command(gateway)
