"""Review items and human verdicts on the server: what stations sent, who claimed it, what was decided.

Every decided part a station announces becomes a row; parts that wait for a human are `pending`
until an inspector claims (a lease), resolves or escalates them, or their deadline passes
(`expired`: the station applied its fail-safe). Verdicts are rows of their own, delivered to the
owning station through an outbox (`delivered`), so a server restart loses none. Under the two-person
rule (`review.second_approver`) a release stays `awaiting_second` and out of the outbox until a
different user signs it too (`approve`); the station meanwhile waits and applies its fail-safe.

Concurrent deciders are arbitrated by conditional UPDATEs (`... WHERE human_verdict IS NULL`), and
`lock_item` lets a route take the item's row lock before any other (the audit head's), so two
transactions never wait on each other's locks in opposite order.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    false,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from inspection.link.messages import DecisionMessage, DispositionMessage
from review_ui.db import metadata, utc_now, utc_text

ItemState = Literal["info", "pending", "claimed", "awaiting_second", "resolved", "expired"]
Choice = Literal["reject", "pass", "escalate"]

items = Table(
    "review_items",
    metadata,
    Column("part_id", String(160), primary_key=True),
    Column("station_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("score", Float),
    Column("regions", Text, nullable=False),
    Column("model_id", String(64), nullable=False),
    Column("thresholds_version", String(128), nullable=False),
    Column("calibration_id", String(128)),
    Column("captured_utc", String(32), nullable=False),
    Column("deadline_utc", String(32), nullable=False),
    Column("received_utc", String(32), nullable=False),
    Column("review", Boolean, nullable=False),
    Column("action", String(16)),
    Column("heatmap_box", String(64)),
    Column("frame_sha", String(64)),
    Column("heatmap_sha", String(64)),
    Column("state", String(16), nullable=False),
    Column("claimed_by", String(64)),
    Column("claim_until", String(32)),
    Column("escalated", Boolean, nullable=False, default=False),
    Column("human_verdict", String(16)),
    Column("resolved_by", String(64)),
    Column("resolved_utc", String(32)),
    Column("late", Boolean, nullable=False, default=False),
    Column("disposition", String(16)),
    Column("disposition_origin", String(16)),
    Column("disposition_utc", String(32)),
)
Index("review_items_queue", items.c.state, items.c.deadline_utc)
Index("review_items_captured", items.c.captured_utc)

verdicts = Table(
    "review_verdicts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("part_id", String(160), nullable=False, index=True),
    Column("station_id", String(64), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("by", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("utc", String(32), nullable=False),
    Column("late", Boolean, nullable=False),
    Column("signature_id", String(64)),
    Column("delivered", Boolean, nullable=False, default=False),
    # the two-person rule: a release waits here, undeliverable, until a different user signs it
    Column("awaiting_second", Boolean, nullable=False, default=False, server_default=false()),
    Column("second_by", String(64)),
    Column("second_utc", String(32)),
    Column("second_signature_id", String(64)),
)
Index("review_verdicts_outbox", verdicts.c.delivered)
LIVE = ("pending", "claimed")  # a human may still decide in the window
OPEN = (*LIVE, "awaiting_second")  # the station still waits for the server

AWAITING = and_(verdicts.c.part_id == items.c.part_id, verdicts.c.awaiting_second.is_(True))
# Joined onto every item row, so the API can show who released an item that waits for a second signer.
RELEASE_COLUMNS = (
    select(verdicts.c.by).where(AWAITING).limit(1).scalar_subquery().label("released_by"),
    select(verdicts.c.second_by)
    .where(verdicts.c.part_id == items.c.part_id, verdicts.c.second_by.is_not(None))
    .limit(1)
    .scalar_subquery()
    .label("approved_by"),
)

seen = Table(
    "review_seen",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("part_id", String(160), primary_key=True),
)


class ItemError(Exception):
    """A verdict or claim that cannot be applied; the message says why (HTTP 409/404)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Stored:
    item: DecisionMessage
    frame_sha: str | None
    heatmap_sha: str | None


def _row(stored: Stored) -> dict[str, Any]:
    m, d = stored.item, stored.item.decision
    return {
        "part_id": m.id,
        "station_id": m.station_id,
        "seq": m.seq,
        "verdict": d.verdict,
        "reason": d.reason,
        "detail": d.detail,
        "score": d.score,
        "regions": json.dumps([r.model_dump() for r in d.regions]),
        "model_id": d.model_id,
        "thresholds_version": d.thresholds_version,
        "calibration_id": d.calibration_id,
        "captured_utc": m.captured_utc,
        "deadline_utc": m.deadline_utc,
        "received_utc": utc_now(),
        "review": m.review,
        "action": m.action,
        "heatmap_box": None if m.heatmap_box is None else json.dumps(m.heatmap_box),
        "frame_sha": stored.frame_sha,
        "heatmap_sha": stored.heatmap_sha,
        "state": "pending" if m.review else "info",
        "escalated": False,
        "late": False,
    }


def add_item(connection: Connection, stored: Stored) -> bool:
    """Idempotent by part id: a resent message changes nothing. True when it was new."""
    return bool(add_items(connection, [stored]))


def add_items(connection: Connection, batch: list[Stored]) -> set[str]:
    """Stores what arrived together in one statement; returns the part ids that were new (resends are not)."""
    if not batch:
        return set()
    dialect = connection.dialect.name
    insert = postgresql.insert(items) if dialect == "postgresql" else sqlite.insert(items)
    statement = insert.on_conflict_do_nothing(index_elements=[items.c.part_id]).returning(items.c.part_id)
    return {row[0] for row in connection.execute(statement, [_row(stored) for stored in batch])}


def add_disposition(connection: Connection, message: DispositionMessage) -> None:
    connection.execute(
        items.update()
        .where(items.c.part_id == message.part_id)
        .values(disposition=message.action, disposition_origin=message.origin, disposition_utc=message.utc)
    )
    connection.execute(
        items.update()
        .where(and_(items.c.part_id == message.part_id, items.c.state.in_(OPEN)))
        .values(state="expired" if message.origin == "failsafe" else "resolved", claimed_by=None, claim_until=None)
    )


def expire_due(connection: Connection, now: dt.datetime) -> int:
    """Items whose deadline passed without a verdict: the station has applied its fail-safe."""
    result = connection.execute(
        items.update()
        .where(and_(items.c.state.in_(OPEN), items.c.deadline_utc < utc_text(now)))
        .values(state="expired", claimed_by=None, claim_until=None)
    )
    return int(result.rowcount or 0)


def get_item(connection: Connection, part_id: str) -> dict[str, Any]:
    row = connection.execute(select(items, *RELEASE_COLUMNS).where(items.c.part_id == part_id)).mappings().first()
    if row is None:
        raise ItemError(f"no review item {part_id!r}", status=404)
    return dict(row)


def lock_item(connection: Connection, part_id: str) -> None:
    """Takes the item's row lock first (PostgreSQL), so that a route locking the item and then the audit head
    never deadlocks with one that signs first; on SQLite the database-wide write lock already orders writers.
    """
    if connection.dialect.name != "sqlite":
        connection.execute(select(items.c.part_id).where(items.c.part_id == part_id).with_for_update()).first()


def claim(connection: Connection, part_id: str, username: str, now: dt.datetime, lease_s: float) -> dict[str, Any]:
    """Leases an item to one inspector; another's live lease wins. Expired items need no claim."""
    until = utc_text(now + dt.timedelta(seconds=lease_s))
    free = or_(items.c.claimed_by.is_(None), items.c.claimed_by == username, items.c.claim_until < utc_text(now))
    result = connection.execute(
        items.update()
        .where(and_(items.c.part_id == part_id, items.c.state.in_(LIVE), free))
        .values(state="claimed", claimed_by=username, claim_until=until)
    )
    mark_seen(connection, part_id, username)
    item = get_item(connection, part_id)
    if not result.rowcount and item["state"] in LIVE:
        raise ItemError(f"{part_id} is being reviewed by {item['claimed_by']} until {item['claim_until']}")
    return item


def mark_seen(connection: Connection, part_id: str, username: str) -> None:
    if (
        connection.execute(
            select(seen.c.part_id).where(and_(seen.c.part_id == part_id, seen.c.username == username))
        ).first()
        is None
    ):
        connection.execute(seen.insert().values(part_id=part_id, username=username))


def resolve(  # noqa: PLR0917 - one verdict's facts
    connection: Connection,
    part_id: str,
    username: str,
    choice: Choice,
    reason: str,
    now: dt.datetime,
    verdict_id: str,
    signature_id: str | None = None,
    *,
    awaiting_second: bool = False,
) -> dict[str, Any]:
    """Records a verdict. In the window it needs this inspector's claim (or none); after it, it is late.

    `awaiting_second`: a release under the two-person rule; it is kept from the station until `approve`.
    """
    item = get_item(connection, part_id)
    if not item["review"]:
        raise ItemError(f"{part_id} was decided automatically ({item['verdict']}); there is nothing to review")
    if item["human_verdict"] is not None:
        raise ItemError(f"{part_id} already has a verdict: {item['human_verdict']} by {item['resolved_by']}")
    late = item["state"] == "expired" or item["deadline_utc"] < utc_text(now)
    if not late and item["claimed_by"] not in (None, username) and item["claim_until"] >= utc_text(now):
        raise ItemError(f"{part_id} is being reviewed by {item['claimed_by']}")
    if choice == "escalate":
        connection.execute(
            items.update()
            .where(items.c.part_id == part_id)
            .values(escalated=True, claimed_by=None, claim_until=None, state="expired" if late else "pending")
        )
    else:
        done = connection.execute(
            items.update()
            .where(and_(items.c.part_id == part_id, items.c.human_verdict.is_(None)))
            .values(
                human_verdict=choice,
                resolved_by=username,
                resolved_utc=utc_text(now),
                late=late,
                state="expired" if late else "awaiting_second" if awaiting_second else "resolved",
                claimed_by=None,
                claim_until=None,
            )
        )
        if not done.rowcount:
            raise ItemError(f"{part_id} was decided by someone else a moment ago")
    connection.execute(
        verdicts.insert().values(
            id=verdict_id,
            part_id=part_id,
            station_id=item["station_id"],
            verdict=choice,
            by=username,
            reason=reason,
            utc=utc_text(now),
            late=late,
            signature_id=signature_id,
            delivered=choice == "escalate",  # an escalation stays on the server
            awaiting_second=awaiting_second and choice != "escalate",
        )
    )
    return get_item(connection, part_id)


def awaiting_release(connection: Connection, part_id: str, username: str) -> dict[str, Any]:
    """The release of `part_id` that waits for a second signer, if `username` may be that signer."""
    get_item(connection, part_id)  # 404 first
    row = (
        connection.execute(select(verdicts).where(verdicts.c.part_id == part_id, verdicts.c.awaiting_second.is_(True)))
        .mappings()
        .first()
    )
    if row is None:
        raise ItemError(f"{part_id} has no release awaiting a second approval")
    if row["by"] == username:
        raise _own_release(username, part_id)
    return dict(row)


def approve(
    connection: Connection, verdict_id: str, username: str, now: dt.datetime, signature_id: str
) -> dict[str, Any]:
    """The second signature: the release becomes deliverable (late after the deadline, like any verdict)."""
    row = connection.execute(select(verdicts).where(verdicts.c.id == verdict_id)).mappings().first()
    if row is None:
        raise ItemError(f"no verdict {verdict_id!r}", status=404)
    if row["by"] == username:
        raise _own_release(username, row["part_id"])
    item = get_item(connection, row["part_id"])
    late = bool(row["late"]) or item["state"] == "expired" or item["deadline_utc"] < utc_text(now)
    done = connection.execute(
        verdicts.update()
        .where(verdicts.c.id == verdict_id, verdicts.c.awaiting_second.is_(True))
        .values(
            awaiting_second=False,
            second_by=username,
            second_utc=utc_text(now),
            second_signature_id=signature_id,
            late=late,
        )
    )
    if not done.rowcount:
        raise ItemError(f"the release of {row['part_id']} was approved by someone else a moment ago")
    connection.execute(
        items.update()
        .where(items.c.part_id == row["part_id"])
        .values(state="expired" if late else "resolved", late=late)
    )
    return get_item(connection, row["part_id"])


def _own_release(username: str, part_id: str) -> ItemError:
    return ItemError(f"{username} released {part_id}: a second, different person must approve the release")


def undelivered(connection: Connection, limit: int = 100) -> list[dict[str, Any]]:
    """The outbox; a release that waits for its second signer is not deliverable yet."""
    rows = connection.execute(
        select(verdicts)
        .where(verdicts.c.delivered.is_(False), verdicts.c.awaiting_second.is_(False))
        .order_by(verdicts.c.utc)
        .limit(limit)
    ).mappings()
    return [dict(row) for row in rows]


def delivered(connection: Connection, ids: tuple[str, ...]) -> None:
    connection.execute(verdicts.update().where(verdicts.c.id.in_(ids)).values(delivered=True))


def history(connection: Connection, part_id: str) -> list[dict[str, Any]]:
    rows = connection.execute(select(verdicts).where(verdicts.c.part_id == part_id).order_by(verdicts.c.utc))
    return [dict(row) for row in rows.mappings()]
