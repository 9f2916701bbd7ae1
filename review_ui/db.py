"""The review server's database: one SQLAlchemy Core schema that runs on SQLite (WAL) and PostgreSQL.

Every module that owns tables defines them on `metadata`; `Database` creates them all. Times are
stored as UTC ISO-8601 text (`utc_now`), which sorts correctly and hashes identically on both
engines, so the audit chain verifies the same wherever it lives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
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
        try:
            metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            shown = parsed.render_as_string(hide_password=True)
            raise ConfigError(f"review.database_url: cannot open {shown}: {exc.__class__.__name__}: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()
