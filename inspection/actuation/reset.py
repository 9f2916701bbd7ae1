"""An operator's reset of 'cannot reject': the answer, and its record in the station database.

The line stop latches: the scheduler never releases it on its own when a fault input clears,
because somebody has to have looked at the bin. `inspection actuator reset` asks the running
station (a same-machine POST on its monitoring port); the scheduler reads the fault inputs afresh
and refuses, naming them, while any is active. Every attempt, refused ones included, is a row.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from inspection.timebase import utc_now_text

TABLE = """CREATE TABLE IF NOT EXISTS gate_resets (
    utc TEXT NOT NULL, by TEXT NOT NULL, reason TEXT NOT NULL,
    accepted INTEGER NOT NULL, before TEXT, message TEXT NOT NULL
)"""


@dataclass(frozen=True, slots=True)
class Reset:
    accepted: bool
    before: str | None  # why the station could not reject; None: it could
    message: str  # what was done, or why it was refused


def record(database: Path, by: str, reason: str, reset: Reset) -> None:
    """A second connection beside the station's store: WAL lets it write while the store does."""
    with sqlite3.connect(database, timeout=10) as db:
        db.execute(TABLE)
        db.execute(
            "INSERT INTO gate_resets (utc, by, reason, accepted, before, message) VALUES (?, ?, ?, ?, ?, ?)",
            (utc_now_text(), by, reason, reset.accepted, reset.before, reset.message),
        )
    db.close()
