"""`inspection verify golden`: the station's whole decision chain judged on known good and bad samples."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from calibration.golden_report import save_report
from calibration.golden_set import GoldenReport, judge_golden
from inspection.cli.common import EXIT_FAILED, config_option, exits_on_errors, model_option, station_config
from inspection.errors import ConfigError
from inspection.factory import build_inspector

console = Console()


@click.group()
def verify() -> None:
    """Checks the station must pass before production."""


@verify.command("golden")
@click.argument("folder", required=False, type=click.Path(path_type=Path, file_okay=False))
@config_option
@model_option
@click.option("--margin", type=float, help="Score clearance each sample needs (default: the config's).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Report folder [<data_dir>/golden].")
@exits_on_errors
def golden(
    folder: Path | None, config_file: Path | None, model_path: Path | None, margin: float | None, out: Path | None
) -> None:
    """Decide the golden samples in FOLDER (good/ and defect/) with the station's config; exit 1 on any miss.

    FOLDER defaults to the config's calibration.golden.folder. The report (JSON and a PNG of every
    score against the thresholds) is written to --out.
    """
    cfg = station_config(config_file, model_path)
    configured = cfg.calibration.golden
    folder = folder or (configured.folder if configured else None)
    if folder is None:
        raise ConfigError("no golden sample folder: give FOLDER or set calibration.golden.folder in the config")
    margin = margin if margin is not None else (configured.margin if configured else 0.0)
    inspector = build_inspector(cfg)
    report = judge_golden(folder, inspector, margin)
    paths = save_report(
        report,
        out or cfg.storage.data_dir / "golden",
        inspector.thresholds.pass_below,
        inspector.thresholds.reject_above,
    )
    console.print(_table(report))
    console.print(f"report: {paths[0]}  plot: {paths[1]}")
    if not report.ok:
        click.secho(f"golden check FAILED: {report.summary()}; production must not start", fg="red", err=True)
        sys.exit(EXIT_FAILED)
    click.secho(f"golden check passed: {report.summary()}", fg="green")


def _table(report: GoldenReport) -> Table:
    table = Table(title=f"golden samples ({report.thresholds_version})", title_justify="left")
    for column in ("sample", "expected", "verdict", "score", "clearance", ""):
        table.add_column(column)
    for j in report.judgements:
        score = "-" if j.score is None else f"{j.score:.3f}"
        clearance = "-" if j.clearance is None else f"{j.clearance:+.3f}"
        mark = "[green]ok[/]" if j.ok else "[red]MISJUDGED[/]"
        table.add_row(j.image, j.expected, j.verdict, score, clearance, mark)
    for u in report.unreadable:
        table.add_row(u, "-", "-", "-", "-", "[red]UNREADABLE[/]")
    return table
