"""Plant inputs between pulses: reject confirmations matched in order, and faults that stop the line."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from inspection.actuation.driver import FAULT_INPUTS, InputName


@dataclass(frozen=True, slots=True)
class Awaiting:
    """A part sent to the bin, recorded once the bin confirms it or the window closes."""

    part_id: str
    action: str
    origin: str
    reason: str
    planned_ns: int
    fired_ns: int | None
    outcome: str
    deadline_ns: int


class Plant:
    def __init__(self, window_ns: int) -> None:
        self.window_ns = window_ns
        self.awaiting: deque[Awaiting] = deque()
        self._seen = False  # the confirmation input at the last poll: a rising edge is one part
        self.stray_confirmations = 0  # confirmations with no part awaiting one

    def confirmed(self, inputs: Mapping[InputName, bool], now_ns: int) -> Awaiting | None:
        """The part a rising edge of the confirmation input confirms (the oldest awaiting), if any."""
        seen = inputs.get("reject_confirmation", False)
        rising, self._seen = seen and not self._seen, seen
        if not rising:
            return None
        if self.awaiting and self.awaiting[0].planned_ns <= now_ns:
            return self.awaiting.popleft()
        self.stray_confirmations += 1
        return None

    def expired(self, now_ns: int) -> list[Awaiting]:
        done = []
        while self.awaiting and self.awaiting[0].deadline_ns < now_ns:
            done.append(self.awaiting.popleft())
        return done

    @staticmethod
    def fault(inputs: Mapping[InputName, bool]) -> str | None:
        active = [name for name in FAULT_INPUTS if inputs.get(name, False)]
        return ", ".join(active) or None
