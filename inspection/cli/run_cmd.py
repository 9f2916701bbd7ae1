"""`inspection run`: the inline station, until SIGINT/SIGTERM (or a part count, for trials)."""

from __future__ import annotations

from pathlib import Path

import click

from inspection.cli.common import config_option, exits_on_errors, station_config
from inspection.station.build import DATABASE, run_station, stop_on_signals


@click.command()
@config_option
@click.option("--parts", type=click.IntRange(min=1), help="Stop after this many parts (default: run until stopped).")
@exits_on_errors
def run(config_file: Path | None, parts: int | None) -> None:
    """Run the inline station: frames in, one decision per part out, recorded in the data folder.

    With no config: the simulated line, the bundled model and a SQLite store under data/.
    Ctrl-C or SIGTERM stops it cleanly: every part in flight is decided and recorded first.
    """
    config = station_config(config_file)
    with stop_on_signals() as stop:
        snapshot = run_station(config, stop, parts)
    verdicts = ", ".join(f"{verdict} {count}" for verdict, count in sorted(snapshot.decided.items()))
    click.echo(f"{snapshot.acquired} parts acquired: {verdicts or 'none decided'}")
    if snapshot.failsafe:
        click.echo("failsafe: " + ", ".join(f"{reason} {n}" for reason, n in sorted(snapshot.failsafe.items())))
    if snapshot.dropped:
        click.echo("dropped frames: " + ", ".join(f"{reason} {n}" for reason, n in sorted(snapshot.dropped.items())))
    click.echo(f"decisions: {config.storage.data_dir / DATABASE}")
