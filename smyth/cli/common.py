"""Helpers shared by the commands: loading config with errors printed the same way."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

import click

from smyth.config import Config, load_config, select_handlers
from smyth.exceptions import ConfigError

CONFIG_OPTION = click.option("--config", "config_path", type=click.Path(dir_okay=True),
                             default=None, help="pyproject.toml to read (default: ./pyproject.toml).")


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"smyth: error: {message}", err=True)
    sys.exit(code)


def load(config_path: str | None, only: Sequence[str] = ()) -> Config:
    try:
        config = load_config(config_path)
        select_handlers(config, list(only))
    except ConfigError as exc:
        fail(str(exc))
    for notice in config.notices:
        click.echo(f"smyth: notice: {notice}", err=True)
    return config
