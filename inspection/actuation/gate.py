"""Gate logic, pure: what the outputs do for one part on a pulse-to-reject or a pulse-to-accept gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GateType = Literal["pulse_to_reject", "pulse_to_accept"]
Action = Literal["reject", "divert", "stop_line", "pass"]
Outcome = Literal["fired", "passed", "accepted", "withheld", "missed", "failed", "reject_unconfirmed"]


@dataclass(frozen=True, slots=True)
class Plan:
    pulse: bool  # pulse the gate output
    line_stop: bool  # set the line-stop output
    outcome: Outcome  # recorded when the plan is carried out
    removes: bool  # the part should end in the reject bin (a confirmation is expected)

    @property
    def needs_output(self) -> bool:
        """A plan without output changes is carried out by doing nothing, so it can never be late."""
        return self.pulse or self.line_stop


def plan(gate: GateType, action: Action) -> Plan:
    """A divert uses the reject output (no divert output yet); stop_line also removes the part."""
    if gate == "pulse_to_reject":
        if action == "pass":
            return Plan(pulse=False, line_stop=False, outcome="passed", removes=False)
        return Plan(pulse=True, line_stop=action == "stop_line", outcome="fired", removes=True)
    if action == "pass":
        return Plan(pulse=True, line_stop=False, outcome="accepted", removes=False)
    return Plan(pulse=False, line_stop=action == "stop_line", outcome="withheld", removes=True)
