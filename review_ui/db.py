"""The review server's database: one SQLAlchemy Core schema that runs on SQLite (WAL) and PostgreSQL.

Every module that owns tables defines them on `metadata`; `Database` creates them all. Times are
stored as UTC ISO-8601 text (`utc_now`), which sorts correctly and hashes identically on both
engines, so the audit chain verifies the same wherever it lives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from inspection.errors import ConfigError
from inspection.timebase import parse_utc, utc_now_text, utc_text

metadata = MetaData()
__all__ = ["Database", "metadata", "parse_utc", "sqlite_url", "utc_now", "utc_text"]


def utc_now() -> str:
    return utc_now_text()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _sqlite_pragmas(connection: Any, record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _missing_columns(engine: Engine) -> list[str]:
    """Tables created by an older schema: `create_all` never alters a table that exists."""
    found = inspect(engine)
    missing = []
    for table in metadata.sorted_tables:
        have = {column["name"] for column in found.get_columns(table.name)}
        lacking = [column.name for column in table.columns if column.name not in have]
        if lacking:
            missing.append(f"table {table.name} lacks {', '.join(lacking)}")
    return missing


class Database:
    """An engine with the schema in place; the URL picks SQLite (default) or PostgreSQL."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except Exception as exc:
            raise ConfigError(f"review.database_url: {url!r} is not a database URL ({exc})") from exc
        self.url = parsed
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(parsed, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        shown = parsed.render_as_string(hide_password=True)
        try:
            metadata.create_all(self.engine)
            missing = _missing_columns(self.engine)
        except SQLAlchemyError as exc:
            raise ConfigError(f"review.database_url: cannot open {shown}: {exc.__class__.__name__}: {exc}") from exc
        if missing:
            raise ConfigError(
                f"review.database_url: {shown} was made by an older version ({'; '.join(missing)}): "
                "move it aside to start a new one, or add the columns"
            )

    def close(self) -> None:
        self.engine.dispose()
