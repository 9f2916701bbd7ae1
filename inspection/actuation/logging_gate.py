"""The gate of the demo and of development: no output to move, so nothing to time.

Each part's result is recorded when its command arrives, as if the gate had acted exactly on
time (`fired_ns == planned_ns`, reason says no output moved). A timed scheduler here only
competed with inference for the CPU (`inspection bench`: 372 -> 191 parts/s in-process, 118/s
in a real-time process at full load); real drivers get `GateProcess`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Literal

from inspection.actuation.scheduler import Record
from inspection.config.actuation import ActuatorConfig
from inspection.contracts import ActuatorCommand, ActuatorResult

log = logging.getLogger(__name__)
NOTE = "logging driver: no gate output"


class LoggingGate:
    cannot_reject: str | None = None

    def __init__(self, config: ActuatorConfig, record: Record) -> None:
        self._lead_ns = round(config.lead_ms * 1e6)
        self._accepting = config.gate == "pulse_to_accept"
        self._record = record
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.alarms: Counter[str] = Counter()

    def submit(self, command: ActuatorCommand) -> None:
        outcome: Literal["withheld", "fired"] = "withheld" if self._accepting else "fired"
        self._keep(command.part_id, command.action, command.origin, command.fire_at_ns, outcome, command.reason)
        log.debug("gate: %s %s (%s, %s)", command.action, command.part_id, command.origin, command.reason)

    def passed(self, part_id: str, arrival_ns: int, origin: Literal["auto", "human"] = "auto") -> None:
        self._keep(part_id, "pass", origin, arrival_ns, "accepted" if self._accepting else "passed", "pass")

    def close(self, drain_s: float = 0.0) -> None: ...

    def _keep(  # noqa: PLR0917 - one result's fields
        self,
        part_id: str,
        action: Literal["reject", "divert", "stop_line", "pass"],
        origin: Literal["auto", "human", "failsafe"],
        arrival_ns: int,
        outcome: Literal["fired", "passed", "accepted", "withheld"],
        reason: str,
    ) -> None:
        planned = arrival_ns - self._lead_ns
        with self._lock:
            self.counts[outcome] += 1
        self._record(
            ActuatorResult(
                part_id=part_id,
                action=action,
                origin=origin,
                planned_ns=planned,
                fired_ns=planned if outcome in ("fired", "accepted") else None,
                outcome=outcome,
                reason=f"{reason}; {NOTE}",
            )
        )
