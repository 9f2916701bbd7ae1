"""The contracts between the station's parts (DESIGN.md); one module owns them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from inspection.decide import Verdict
from inspection.strict import StrictModel


class Region(StrictModel):
    x: int = Field(description="bbox left, frame px")
    y: int = Field(description="bbox top, frame px")
    width: int = Field(ge=1, description="bbox width, frame px")
    height: int = Field(ge=1, description="bbox height, frame px")
    area_px: float = Field(ge=0, description="defect area, frame px")
    peak: float = Field(description="highest defect-map value in the region")
    width_mm: float | None = Field(default=None, description="bbox width on the part, once a scale is calibrated")
    height_mm: float | None = Field(default=None, description="bbox height on the part, once a scale is calibrated")
    area_mm2: float | None = Field(default=None, description="area on the part, once a scale is calibrated")


class Decision(StrictModel):
    """One part's decision with everything needed to trace it."""

    part_id: str
    station_id: str
    verdict: Verdict
    reason: str
    detail: str
    score: float | None = Field(description="model score, None when there was none to trust")
    regions: tuple[Region, ...] = ()
    model_id: str = Field(description="sha256 of the ONNX file")
    thresholds_version: str
    calibration_id: str | None = None
    latency_ms: dict[str, float] = Field(default_factory=dict, description="per stage, and 'total'")
    gate_deadline_ns: int | None = Field(default=None, description="host monotonic time the part reaches the gate")


class ActuatorCommand(StrictModel):
    """What the reject gate must do for one part, when, and on whose authority."""

    part_id: str
    action: Literal["reject", "divert", "stop_line"]
    fire_at_ns: int = Field(description="host monotonic time the part reaches the gate")
    origin: Literal["auto", "human", "failsafe"]
    reason: str = Field(description="why: the verdict, or why the fail-safe acted")


class ActuatorResult(StrictModel):
    """What the gate did for one part: every part gets exactly one, passes included."""

    part_id: str
    action: Literal["reject", "divert", "stop_line", "pass"]
    origin: Literal["auto", "human", "failsafe"]
    planned_ns: int = Field(description="host monotonic time the output was due: arrival at the gate - lead")
    fired_ns: int | None = Field(description="host monotonic time the output was written; None when it was not")
    outcome: Literal["fired", "passed", "accepted", "withheld", "diverted", "missed", "failed", "reject_unconfirmed"]
    confirmed: bool | None = Field(default=None, description="the bin saw the part; None without that input")
    reason: str


class AuditEvent(StrictModel):
    """One record of the hash-chained audit trail (DESIGN.md invariant 4); `hash` seals it to its predecessor."""

    sequence: int = Field(ge=1, description="position in the chain: 1, 2, 3... with no gaps")
    utc: str = Field(description="when it was recorded, UTC ISO-8601 text")
    actor: str = Field(description="who acted: a user name, or a process such as 'station:<id>'")
    action: str = Field(description="what happened, e.g. 'login', 'login_failed', 'role_change', 'verdict'")
    subject: str = Field(description="what it happened to, e.g. 'user:alice' or 'part:<id>'")
    before: dict[str, JsonValue] | None = Field(default=None, description="the state before the change")
    after: dict[str, JsonValue] | None = Field(default=None, description="the state after the change")
    reason: str = Field(default="", description="why, in the actor's words")
    prev_hash: str = Field(description="hash of the previous record; 64 zeros for the first")
    hash: str = Field(description="hex sha256 over prev_hash and the canonical serialisation of the other fields")
