"""What the gate did and what it alarmed: one result per part, counted, handed to the station's callables."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from inspection.contracts import ActuatorResult

log = logging.getLogger(__name__)


class Part(Protocol):
    @property
    def part_id(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def origin(self) -> str: ...


class Ledger:
    """A failing record or alarm callable is logged, never raised into the scheduler thread."""

    def __init__(self, record: Callable[[ActuatorResult], object], alarm: Callable[[str, str], None]) -> None:
        self._record = record
        self._alarm = alarm
        self.counts: Counter[str] = Counter()  # outcomes
        self.alarms: Counter[str] = Counter()  # by kind

    def result(
        self,
        part: Part,
        planned_ns: int,
        fired_ns: int | None,
        outcome: str,
        *,
        reason: str,
        origin: str | None = None,
        confirmed: bool | None = None,
    ) -> None:
        result = ActuatorResult.model_validate(
            {
                "part_id": part.part_id,
                "action": part.action,
                "origin": origin or part.origin,
                "planned_ns": planned_ns,
                "fired_ns": fired_ns,
                "outcome": outcome,
                "confirmed": confirmed,
                "reason": reason,
            }
        )
        self.counts[result.outcome] += 1
        try:
            self._record(result)
        except Exception:
            log.exception("cannot record the gate result of %s", result.part_id)

    def part_alarm(self, kind: str, part: Part, why: str) -> None:
        self.alarm(kind, f"part {part.part_id} ({part.action}, {part.origin}): {why}")

    def alarm(self, kind: str, message: str) -> None:
        self.alarms[kind] += 1
        try:
            self._alarm(kind, message)
        except Exception:
            log.exception("alarm handler failed on: %s", message)
