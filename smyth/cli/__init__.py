"""The ``smyth`` command line: thin click commands that call the layers."""

from __future__ import annotations

import click

from smyth import __version__
from smyth.cli.debug import debug
from smyth.cli.invoke import invoke
from smyth.cli.run import run


@click.group(context_settings={"help_option_names": ["--help"]})
@click.version_option(__version__, prog_name="smyth")
def main() -> None:
    """Serve AWS Lambda handlers over HTTP: warm, reloading and debuggable."""


main.add_command(run)
main.add_command(invoke)
main.add_command(debug)
