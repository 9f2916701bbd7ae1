"""The queue's lines, read once per change for all inspectors instead of once per browser.

Every live event makes each open browser reload the queue, so ten browsers sent ten identical
queries, each building the same list, within a few milliseconds of one another; that burst set the
API's p99 (benchmarks/review_ingest.py). The lines are the same for everyone except "seen by me",
looked up per request. Every change to items reaches the browsers through `Hub.publish`, which
calls `QueueLines.invalidate` first, so a reload prompted by an event never gets older lines. This
holds for one web process per database, which is how `inspection review` runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, and_, exists, or_, select

from review_ui import items

QUEUE_LINE = ("part_id", "station_id", "verdict", "score", "deadline_utc", "state", "claimed_by", "escalated")
WAITING = 100
EXPIRED = 30
T = TypeVar("T")


def shared_lines(connection: Connection) -> list[dict[str, Any]]:
    """Waiting items by deadline (claims of others marked), then expired ones still without a verdict."""
    table = items.items
    columns = (*(table.c[name] for name in QUEUE_LINE), *items.RELEASE_COLUMNS)
    waiting = connection.execute(
        select(*columns).where(table.c.state.in_(items.OPEN)).order_by(table.c.deadline_utc).limit(WAITING)
    ).mappings()
    unanswered = or_(table.c.human_verdict.is_(None), exists().where(items.AWAITING))
    expired = connection.execute(
        select(*columns)
        .where(and_(table.c.state == "expired", unanswered))
        .order_by(table.c.deadline_utc.desc())
        .limit(EXPIRED)
    ).mappings()
    return [dict(row) for row in [*waiting, *expired]]


def seen_by(connection: Connection, username: str, part_ids: Sequence[str]) -> set[str]:
    """Which of `part_ids` this inspector has opened."""
    if not part_ids:
        return set()
    seen = items.seen
    rows = connection.execute(select(seen.c.part_id).where(seen.c.username == username, seen.c.part_id.in_(part_ids)))
    return set(rows.scalars())


def queue(connection: Connection, username: str) -> list[dict[str, Any]]:
    """The lines with `seen_by_me`, read now: for tools and tests (the API reads through `QueueLines`)."""
    rows = shared_lines(connection)
    seen = seen_by(connection, username, [row["part_id"] for row in rows])
    return [{**row, "seen_by_me": row["part_id"] in seen} for row in rows]


class QueueLines(Generic[T]):
    """The lines as built by `read`, kept until the next change; one request reads, those arriving meanwhile wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the two fields; never held while reading the database
        self._reading = threading.Lock()  # one reader at a time, so a burst of reloads reads once
        self._generation = 0
        self._lines: list[T] | None = None

    def invalidate(self) -> None:
        """Called from any thread on every change (before browsers hear of it)."""
        with self._lock:
            self._generation += 1
            self._lines = None

    def get(self, read: Callable[[], list[T]]) -> list[T]:
        with self._reading:
            with self._lock:
                if self._lines is not None:
                    return self._lines
                generation = self._generation
            lines = read()
            with self._lock:
                if generation == self._generation:  # nothing changed while reading: good until the next change
                    self._lines = lines
            return lines
