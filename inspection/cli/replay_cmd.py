"""`inspection replay`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from inspection.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    config_option,
    exits_on_errors,
    model_option,
    station_config,
)
from inspection.replay.main import run_replay
from inspection.replay.run import ReplayOptions

EXIT_INTERRUPTED = 130


@click.command("replay")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@config_option
@model_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Default: <data_dir>/replay/<FOLDER name>.",
)
@click.option(
    "--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True, help="Worker processes."
)
@click.option(
    "--compare",
    "challenger",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Second model to compare.",
)
@click.option(
    "--labels",
    "labels_csv",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="CSV with path,label columns.",
)
@click.option("--force", is_flag=True, help="Decide every file again instead of resuming.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@exits_on_errors
def replay(  # noqa: PLR0917 -- click passes options positionally by name
    folder: Path,
    config_file: Path | None,
    model_path: Path | None,
    out_dir: Path | None,
    jobs: int,
    challenger: Path | None,
    labels_csv: Path | None,
    force: bool,
    quiet: bool,
) -> None:
    """Decide every image below FOLDER with the station's own code; write decisions and a report.

    Reads png, jpg, bmp and tif files (8/16-bit, mono or colour) recursively. Labels come from
    folder names (good/ok/pass vs defect/ng/bad/reject) or --labels. Re-running into the same
    OUT resumes: files already decided with the same model and thresholds are skipped.

    Exit codes: 0 every file decided, 1 some files could not be decided (listed in the report),
    2 bad arguments, config or model, 130 interrupted (OUT stays consistent; run again to resume).
    """
    config = station_config(config_file, model_path)
    out = out_dir or config.storage.data_dir / "replay" / folder.resolve().name
    challenger_config = station_config(config_file, challenger) if challenger else None
    if challenger_config and challenger_config.model.path.resolve() == config.model.path.resolve():
        click.secho("error: --compare names the same model as the one being replayed", fg="red", err=True)
        sys.exit(EXIT_BAD_INPUT)
    options = ReplayOptions(folder, out, config, challenger_config, jobs, force, quiet, labels_csv)
    result = run_replay(options)
    s, stats = result.summary, result.stats
    v = s.primary.verdicts
    click.echo(
        f"{s.files} files: {s.decided} decided (pass {v['pass']}, reject {v['reject']}, uncertain {v['uncertain']}, "
        f"failsafe {v['failsafe']}), {s.failed} failed; this run {stats.decided} decided at {stats.per_second:.1f}/s, "
        f"{stats.skipped} resumed"
    )
    click.echo(f"report: {result.report}")
    click.echo(f"decisions: {result.csv}")
    if stats.interrupted:
        click.secho("interrupted: run the same command again to finish", fg="yellow", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if s.failed:
        sys.exit(EXIT_FAILED)
