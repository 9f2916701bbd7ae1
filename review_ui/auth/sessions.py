"""Server-side login sessions: the browser holds an opaque token, the database only its sha256.

A stolen database therefore yields no usable cookie; revoking is one UPDATE and takes effect on the
very next request, because every request looks its session up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Index, String, Table, select, update

from review_ui.db import metadata, parse_utc, utc_text

# A page polling every second would otherwise write on every request; the idle timeout is minutes.
TOUCH_EVERY = dt.timedelta(seconds=10)

sessions_table = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("address", String(64), nullable=False, default=""),
    Column("created_utc", String(32), nullable=False),
    Column("last_seen_utc", String(32), nullable=False),
    Column("revoked_utc", String(32), nullable=True),
    Column("revoked_reason", String(64), nullable=True),
    Index("ix_sessions_username", "username"),
)


@dataclass(frozen=True)
class Session:
    token_hash: str
    username: str
    csrf_token: str
    created_utc: str


@dataclass(frozen=True)
class Timeouts:
    idle: dt.timedelta
    absolute: dt.timedelta


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(
    connection: Connection, username: str, *, now: dt.datetime, address: str = ""
) -> tuple[str, Session]:
    """Returns the token for the cookie (never stored) and the session row."""
    token = secrets.token_urlsafe(32)
    session = Session(token_hash(token), username, secrets.token_urlsafe(32), utc_text(now))
    connection.execute(
        sessions_table.insert().values(
            token_hash=session.token_hash,
            username=username,
            csrf_token=session.csrf_token,
            address=address[:64],
            created_utc=session.created_utc,
            last_seen_utc=session.created_utc,
        )
    )
    return token, session


def lookup_session(connection: Connection, token: str, *, now: dt.datetime, timeouts: Timeouts) -> Session | None:
    """The live session for `token`, marked as used now; an expired one is revoked and gives None."""
    hashed = token_hash(token)
    row = connection.execute(select(sessions_table).where(sessions_table.c.token_hash == hashed)).one_or_none()
    if row is None or row.revoked_utc is not None:
        return None
    if now - parse_utc(row.created_utc) > timeouts.absolute:
        _revoke(connection, hashed, now, "absolute timeout")
        return None
    if now - parse_utc(row.last_seen_utc) > timeouts.idle:
        _revoke(connection, hashed, now, "idle timeout")
        return None
    if now - parse_utc(row.last_seen_utc) >= TOUCH_EVERY:
        connection.execute(
            update(sessions_table).where(sessions_table.c.token_hash == hashed).values(last_seen_utc=utc_text(now))
        )
    return Session(row.token_hash, row.username, row.csrf_token, row.created_utc)


def revoke_session(connection: Connection, hashed: str, *, now: dt.datetime, reason: str = "logout") -> bool:
    """True if a live session was revoked."""
    return _revoke(connection, hashed, now, reason)


def revoke_user_sessions(
    connection: Connection, username: str, *, now: dt.datetime, reason: str, keep: str | None = None
) -> int:
    """Ends every live session of `username` (except the one hashed `keep`); returns how many."""
    statement = update(sessions_table).where(
        sessions_table.c.username == username, sessions_table.c.revoked_utc.is_(None)
    )
    if keep is not None:
        statement = statement.where(sessions_table.c.token_hash != keep)
    result = connection.execute(statement.values(revoked_utc=utc_text(now), revoked_reason=reason[:64]))
    return result.rowcount


def _revoke(connection: Connection, hashed: str, now: dt.datetime, reason: str) -> bool:
    result = connection.execute(
        update(sessions_table)
        .where(sessions_table.c.token_hash == hashed, sessions_table.c.revoked_utc.is_(None))
        .values(revoked_utc=utc_text(now), revoked_reason=reason[:64])
    )
    return result.rowcount > 0
