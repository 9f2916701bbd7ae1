"""Verdict -> gate action: the one place that says which parts leave the line, and on whose authority.

Parts that need a human (rejects on confirming lines, uncertain parts) are routed to the configured
fail-safe action; with a review link, that command is held (`ReviewGate`) until a human answers or
the part's time runs out. Nothing that is not a trusted `pass` goes through the gate untouched.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Literal, Protocol

from inspection.config.station import PolicyConfig
from inspection.contracts import ActuatorCommand, Decision

log = logging.getLogger(__name__)


class Actuator(Protocol):
    """Both calls are made on the hot path: they queue, never wait for the gate."""

    def submit(self, command: ActuatorCommand) -> None: ...

    def passed(self, part_id: str, arrival_ns: int, origin: Literal["auto", "human"] = "auto") -> None:
        """A pass reaching the gate at `arrival_ns` (a pulse-to-accept gate must let it through)."""


class LoggingActuator:
    """The default driver: logs each command and counts it; real outputs come with the PLC drivers."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()  # commands, by (action, origin)
        self.passes = 0
        self._lock = threading.Lock()

    def submit(self, command: ActuatorCommand) -> None:
        with self._lock:
            self.counts[command.action, command.origin] += 1
        log.info("gate: %s %s (%s, %s)", command.action, command.part_id, command.origin, command.reason)

    def passed(self, part_id: str, arrival_ns: int, origin: Literal["auto", "human"] = "auto") -> None:
        with self._lock:
            self.passes += 1


def needs_human(decision: Decision, policy: PolicyConfig) -> bool:
    confirm = decision.verdict == "reject" and policy.reject == "confirm"
    return confirm or (decision.verdict == "uncertain" and policy.uncertain == "review")


def route(decision: Decision, fire_at_ns: int, policy: PolicyConfig) -> ActuatorCommand | None:
    """None only for a trusted pass."""
    verdict = decision.verdict
    if verdict == "pass":
        return None
    automatic = (verdict == "reject" and policy.reject == "auto") or (
        verdict == "uncertain" and policy.uncertain == "auto"
    )
    if automatic:
        return ActuatorCommand(
            part_id=decision.part_id, action="reject", fire_at_ns=fire_at_ns, origin="auto", reason=verdict
        )
    why = decision.reason if verdict == "failsafe" else f"{verdict}: no human verdict before the gate"
    return ActuatorCommand(
        part_id=decision.part_id, action=policy.failsafe_action, fire_at_ns=fire_at_ns, origin="failsafe", reason=why
    )
