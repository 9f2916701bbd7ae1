"""`inspection audit verify`: proves the review server's audit trail has not been edited, cut or spliced."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from inspection.cli.common import EXIT_FAILED, config_option, exits_on_errors, station_config
from inspection.config.review import database_url
from inspection.errors import ConfigError
from review_ui.audit import AuditReport
from review_ui.audit import verify as verify_chain
from review_ui.db import Database


@click.group()
def audit() -> None:
    """The review server's hash-chained audit trail."""


@audit.command()
@config_option
@exits_on_errors
def verify(config_file: Path | None) -> None:
    """Check every audit record; exit 0 intact, 1 problems found, 2 bad config or no database."""
    cfg = station_config(config_file)
    url = database_url(cfg.review, cfg.storage.data_dir)
    _require_sqlite_file(url)
    database = Database(url)
    try:
        report = verify_chain(database.engine)
    finally:
        database.close()
    _print(report, database.url.render_as_string(hide_password=True))
    if not report.intact:
        sys.exit(EXIT_FAILED)


def _require_sqlite_file(url: str) -> None:
    """Verifying must not create an empty database and call it intact."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # Database names the bad URL
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    if not Path(parsed.database).is_file():
        raise ConfigError(
            f"review database {parsed.database} does not exist; check storage.data_dir or review.database_url"
        )


def _print(report: AuditReport, where: str) -> None:
    console = Console(highlight=False)
    if report.problems:
        table = Table("seq", "kind", "what", title="audit trail problems")
        for problem in report.problems:
            table.add_row(str(problem.seq), problem.kind, problem.detail)
        console.print(table)
    if report.intact:
        console.print(f"[green]audit trail intact[/]: {report.rows_checked} records checked\n  in {where}")
        return
    shown = len(report.problems)
    more = f" ({shown} shown)" if shown < report.problems_found else ""
    console.print(
        f"[red]audit trail broken[/]: {report.problems_found} problems{more} in {report.rows_checked} records "
        f"checked\n  in {where}"
    )
