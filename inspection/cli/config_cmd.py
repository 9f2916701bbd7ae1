"""`inspection config check`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from inspection.cli.common import EXIT_BAD_INPUT
from inspection.config import load_config
from inspection.config.loader import ConfigFileError


@click.group()
def config() -> None:
    """Station configuration."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def check(file: Path) -> None:
    """Validate FILE and name every invalid field (exit 2 if any)."""
    try:
        cfg = load_config(file)
    except ConfigFileError as exc:
        click.secho(f"{file}: {len(exc.issues)} problem(s)", fg="red", err=True)
        for issue in exc.issues:
            click.echo(f"  {issue}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"{file}: ok (station {cfg.station_id}, model {cfg.model.path})")
