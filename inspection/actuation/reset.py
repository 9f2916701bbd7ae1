"""An operator's reset of 'cannot reject': the answer, its record in the station database, and the request.

The line stop latches: the scheduler never releases it on its own when a fault input clears,
because somebody has to have looked at the bin. `inspection actuator reset` asks the running
station (a POST to `/actuator/reset` on its monitoring port, accepted from the same machine only);
the scheduler reads the fault inputs afresh and refuses, naming them, while any is active. Every
attempt, refused ones included, is a row in `gate_resets`. `by` is the OS user the command ran as,
as the command reports it: the endpoint has no login of its own.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from inspection.timebase import utc_now_text

log = logging.getLogger(__name__)
ROUTE = "/actuator/reset"
TABLE = """CREATE TABLE IF NOT EXISTS gate_resets (
    utc TEXT NOT NULL, by TEXT NOT NULL, reason TEXT NOT NULL,
    accepted INTEGER NOT NULL, before TEXT, message TEXT NOT NULL
)"""


@dataclass(frozen=True, slots=True)
class Reset:
    accepted: bool
    before: str | None  # why the station could not reject; None: it could
    message: str  # what was done, or why it was refused


class ResetRequestError(Exception):
    """The station would not take the request at all (not this machine, no gate, a malformed request)."""


class Resettable(Protocol):
    def reset(self) -> Reset: ...


class GateReset:
    """The station's side: asks the gate, records the attempt, counts it for /metrics; one at a time."""

    def __init__(self, gate: Resettable | None, database: Path) -> None:
        """gate: None for the logging gate, which has no line stop."""
        self._gate = gate
        self._database = database
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # accepted / refused

    def __call__(self, by: str, reason: str) -> Reset:
        with self._lock:
            answer = (
                Reset(False, None, "the logging driver has no line stop") if self._gate is None else self._gate.reset()
            )
            self.counts["accepted" if answer.accepted else "refused"] += 1
            try:
                record(self._database, by, reason, answer)
            except sqlite3.Error as exc:
                log.exception("gate reset by %s not recorded", by)
                answer = Reset(answer.accepted, answer.before, f"{answer.message}; NOT recorded: {exc}")
        return answer


def record(database: Path, by: str, reason: str, reset: Reset) -> None:
    """A second connection beside the station's store: WAL lets it write while the store does."""
    db = sqlite3.connect(database, timeout=10)
    try:
        with db:
            db.execute(TABLE)
            db.execute(
                "INSERT INTO gate_resets (utc, by, reason, accepted, before, message) VALUES (?, ?, ?, ?, ?, ?)",
                (utc_now_text(), by, reason, reset.accepted, reset.before, reset.message),
            )
    finally:
        db.close()


def ask_station(url: str, by: str, reason: str, timeout_s: float = 10.0) -> Reset:
    """Raises ResetRequestError (the station said no to the request itself) or OSError (no station answers)."""
    body = json.dumps({"by": by, "reason": reason}).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}{ROUTE}", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        answer = json.load(exc)
        if exc.code != 409:  # 409: the gate refused the reset, with the same document as a 200
            raise ResetRequestError(f"{url}: {exc.code} {answer.get('error', exc.reason)}") from None
    return Reset(bool(answer["accepted"]), answer["before"], str(answer["message"]))
