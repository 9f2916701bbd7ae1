"""Gate logic, pure: what the outputs do for one part on a pulse-to-reject or a pulse-to-accept gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GateType = Literal["pulse_to_reject", "pulse_to_accept"]
Action = Literal["reject", "divert", "stop_line", "pass"]
Outcome = Literal["fired", "passed", "accepted", "withheld", "diverted", "missed", "failed", "reject_unconfirmed"]


@dataclass(frozen=True, slots=True)
class Plan:
    pulse: bool  # pulse the gate output
    line_stop: bool  # set the line-stop output
    outcome: Outcome  # recorded when the plan is carried out
    removes: bool  # the part should end in the reject bin (a confirmation is expected)
    divert: bool = False  # pulse the divert output (the part leaves by the divert chute, not the reject bin)

    @property
    def needs_output(self) -> bool:
        """A plan without output changes is carried out by doing nothing, so it can never be late."""
        return self.pulse or self.line_stop or self.divert


def plan(gate: GateType, action: Action, *, divert_output: bool = False) -> Plan:
    """Without a divert output a divert uses the reject path; stop_line also removes the part.

    With one, a divert pulses it and nothing else: on a pulse-to-accept gate that is "do not
    accept" (the gate stays shut) plus the divert pulse.
    """
    if action == "divert" and divert_output:
        return Plan(pulse=False, line_stop=False, outcome="diverted", removes=False, divert=True)
    if gate == "pulse_to_reject":
        if action == "pass":
            return Plan(pulse=False, line_stop=False, outcome="passed", removes=False)
        return Plan(pulse=True, line_stop=action == "stop_line", outcome="fired", removes=True)
    if action == "pass":
        return Plan(pulse=True, line_stop=False, outcome="accepted", removes=False)
    return Plan(pulse=False, line_stop=action == "stop_line", outcome="withheld", removes=True)
