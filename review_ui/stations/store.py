"""Versioned threshold and policy changes, kept until the station acknowledges them (the link's outbox)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Column, Connection, String, Table, Text, func, select

from inspection.link.messages import SettingsMessage, StationSettings
from review_ui import audit
from review_ui.db import metadata, utc_text

changes = Table(
    "station_settings",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("station_id", String(64), nullable=False, index=True),
    Column("version", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("by", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("utc", String(32), nullable=False),
    Column("delivered", Boolean, nullable=False, default=False),
)


def propose(  # noqa: PLR0917 - one change's facts
    connection: Connection,
    station_id: str,
    wanted: dict[str, Any],
    before: StationSettings | None,
    by: str,
    reason: str,
    now: dt.datetime,
    calibrated: str | None = None,
) -> SettingsMessage:
    """A new version for one station, audited with what was in force before; the link delivers it.

    Thresholds from a calibration file carry its id in the version, so decisions trace back to it.
    """
    number = connection.execute(select(func.count()).where(changes.c.station_id == station_id)).scalar_one() + 1
    version = f"{station_id}-supervisor-{number}" + (f":{calibrated}" if calibrated else "")
    settings = StationSettings.model_validate({**wanted, "version": version})
    message = SettingsMessage(
        id=f"{station_id}/settings/{number}",
        station_id=station_id,
        settings=settings,
        by=by,
        reason=reason,
        utc=utc_text(now),
    )
    connection.execute(
        changes.insert().values(
            id=message.id,
            station_id=station_id,
            version=version,
            body=settings.model_dump_json(),
            by=by,
            reason=reason,
            utc=message.utc,
            delivered=False,
        )
    )
    audit.record(
        connection,
        actor=by,
        action="settings_change",
        subject=f"station:{station_id}",
        before=None if before is None else before.model_dump(),
        after=settings.model_dump(),
        reason=reason,
    )
    return message


def undelivered(connection: Connection) -> list[SettingsMessage]:
    rows = connection.execute(select(changes).where(changes.c.delivered.is_(False)).order_by(changes.c.utc)).mappings()
    return [
        SettingsMessage(
            id=r["id"],
            station_id=r["station_id"],
            settings=StationSettings.model_validate_json(r["body"]),
            by=r["by"],
            reason=r["reason"],
            utc=r["utc"],
        )
        for r in rows
    ]


def delivered(connection: Connection, ids: tuple[str, ...]) -> None:
    connection.execute(changes.update().where(changes.c.id.in_(ids)).values(delivered=True))


def history(connection: Connection, station_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = select(changes).order_by(changes.c.utc.desc()).limit(limit)
    if station_id is not None:
        query = query.where(changes.c.station_id == station_id)
    return [dict(row) for row in connection.execute(query).mappings()]
