"""Typed messages on the link: JSON frames validated on receipt, never pickle.

A ZeroMQ message is `[json, name, bytes, name, bytes...]`: the JSON is one of the models below,
followed by named attachments (a decided part's `frame` and `heatmap`, as TIFF files). `id` makes every
message idempotent; the receiver acknowledges durable messages by id.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, model_validator

from inspection.contracts import Decision
from inspection.strict import StrictModel

GateAction = Literal["reject", "divert", "stop_line"]


class DecisionMessage(StrictModel):
    """A decided part; `review` says whether a human verdict is awaited before the gate."""

    kind: Literal["decision"] = "decision"
    id: str = Field(description="the part id: unique across stations and restarts")
    station_id: str
    seq: int
    decision: Decision
    captured_utc: str
    deadline_utc: str = Field(description="a human verdict after this cannot reach the gate in time: it is late")
    review: bool
    action: GateAction | None = Field(description="what the gate does without a human (None: the part passes)")
    heatmap_box: tuple[int, int, int, int] | None = Field(
        default=None, description="x, y, width, height of the frame area the heatmap covers"
    )


class DispositionMessage(StrictModel):
    """What finally happened at the gate to a part that waited for a human."""

    kind: Literal["disposition"] = "disposition"
    id: str
    station_id: str
    part_id: str
    action: GateAction | Literal["pass", "missed"]
    origin: Literal["auto", "human", "failsafe"]
    verdict_id: str | None = None
    reason: str
    utc: str


class AlarmMessage(StrictModel):
    kind: Literal["alarm"] = "alarm"
    id: str
    station_id: str
    utc: str
    text: str


class HealthMessage(StrictModel):
    """Sent every second; the server answers with an ack, which is how each side knows the link is up."""

    kind: Literal["health"] = "health"
    id: str
    station_id: str
    utc: str
    healthy: bool
    problems: tuple[str, ...] = ()
    counters: dict[str, float] = Field(default_factory=dict)
    settings: StationSettings | None = Field(default=None, description="thresholds and policy in force")


class StationSettings(StrictModel):
    """What a supervisor may change on a running station: the decision thresholds and the gate policy."""

    version: str = Field(description="thresholds version recorded with every decision from now on")
    pass_below: float = Field(ge=0.0, le=1.0)
    reject_above: float = Field(ge=0.0, le=1.0)
    reject: Literal["auto", "confirm"]
    uncertain: Literal["review", "auto"]

    @model_validator(mode="after")
    def _ordered(self) -> StationSettings:
        if self.pass_below > self.reject_above:
            raise ValueError(f"pass_below ({self.pass_below}) must be <= reject_above ({self.reject_above})")
        return self


class SettingsMessage(StrictModel):
    """A supervisor's change, from the review server to one station; applied, persisted, then acked."""

    kind: Literal["settings"] = "settings"
    id: str
    station_id: str
    settings: StationSettings
    by: str
    reason: str
    utc: str


class VerdictMessage(StrictModel):
    """A human verdict for one part, from the review server to the station that owns the part."""

    kind: Literal["verdict"] = "verdict"
    id: str = Field(description="verdict id")
    part_id: str
    verdict: Literal["reject", "pass"]
    by: str
    reason: str
    utc: str


class AckMessage(StrictModel):
    kind: Literal["ack"] = "ack"
    ids: tuple[str, ...]


Message = Annotated[
    DecisionMessage | DispositionMessage | AlarmMessage | HealthMessage | SettingsMessage | VerdictMessage | AckMessage,
    Field(discriminator="kind"),
]
MESSAGE: TypeAdapter[Message] = TypeAdapter(Message)


def encode(message: Message) -> bytes:
    return message.model_dump_json().encode()


def decode(data: bytes) -> Message:
    """Raises pydantic.ValidationError for anything that is not one of our messages."""
    return MESSAGE.validate_json(data)
