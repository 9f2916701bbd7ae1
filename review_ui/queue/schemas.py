"""The queue API's bodies, so that the OpenAPI document describes them."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from inspection.contracts import Region
from review_ui.queue.lines import QUEUE_LINE


class Item(BaseModel):
    part_id: str
    station_id: str
    seq: int
    verdict: str = Field(description="the model's verdict")
    reason: str
    detail: str
    score: float | None
    regions: list[Region]
    model_id: str
    thresholds_version: str
    calibration_id: str | None = Field(default=None, description="calibration files the station decided with")
    captured_utc: str
    deadline_utc: str = Field(description="a verdict after this is late: the station has applied its fail-safe")
    review: bool
    action: str | None = Field(description="the station's fail-safe (or automatic) gate action")
    heatmap_box: tuple[int, int, int, int] | None
    has_frame: bool
    has_heatmap: bool
    state: str
    claimed_by: str | None
    claim_until: str | None
    escalated: bool
    human_verdict: str | None
    resolved_by: str | None
    late: bool
    disposition: str | None
    disposition_origin: str | None
    awaiting_second: bool = Field(
        default=False, description="released as good, waiting for a different user's signature (two-person rule)"
    )
    released_by: str | None = Field(default=None, description="who signed the release that awaits a second signer")
    approved_by: str | None = Field(default=None, description="the second signer of the release")
    seen: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Item:
        return cls(
            **{
                k: v
                for k, v in row.items()
                if k in cls.model_fields and k not in ("regions", "heatmap_box", "seen", "awaiting_second")
            },
            regions=[Region(**r) for r in json.loads(row["regions"])],
            heatmap_box=None if row["heatmap_box"] is None else tuple(json.loads(row["heatmap_box"])),
            has_frame=row["frame_sha"] is not None,
            has_heatmap=row["heatmap_sha"] is not None,
            seen=bool(row.get("seen_by_me")),
            awaiting_second=row.get("released_by") is not None,
        )


class QueueEntry(BaseModel):
    """One line of the queue: enough to order, count down and choose; the item itself is fetched when opened."""

    part_id: str
    station_id: str
    verdict: str
    score: float | None
    deadline_utc: str
    state: str
    claimed_by: str | None
    escalated: bool
    seen: bool
    awaiting_second: bool
    released_by: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QueueEntry:
        return cls.model_construct(
            **{k: row[k] for k in QUEUE_LINE},
            seen=bool(row.get("seen_by_me")),
            awaiting_second=row.get("released_by") is not None,
            released_by=row.get("released_by"),
        )


class QueueView(BaseModel):
    server_utc: str = Field(description="the server's clock, so browsers can count down without trusting theirs")
    items: list[QueueEntry]


class VerdictRequest(BaseModel):
    verdict: Literal["reject", "pass", "escalate"]
    reason: str = Field(min_length=1, max_length=500, description="one of the offered reasons, or free text")
    comment: str = Field(default="", max_length=2000)
    password: str | None = Field(
        default=None, max_length=1024, description="required to release a part the model did not pass (e-signature)"
    )


class VerdictResult(BaseModel):
    item: Item
    verdict_id: str
    late: bool
    message: str = Field(description="what the inspector must know, e.g. to retrieve a part from the reject bin")


class ApprovalRequest(BaseModel):
    password: str = Field(max_length=1024, description="the second signer's own password (e-signature)")
    reason: str = Field(min_length=1, max_length=500, description="why the release is right, e.g. the reason seen")


class ApprovalResult(BaseModel):
    item: Item
    verdict_id: str = Field(description="the release now signed twice")
    released_by: str
    approved_by: str
    late: bool
    message: str


class HistoryEntry(BaseModel):
    sequence: int
    utc: str
    actor: str
    action: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
