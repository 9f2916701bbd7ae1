"""Response models of the supervisor API, apart from the tables, so the OpenAPI documents what clients get."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ModelVerdict = Literal["pass", "reject", "uncertain", "failsafe"]
Origin = Literal["auto", "human", "failsafe", "pending"]
DisagreementKind = Literal[
    "model_reject_human_pass", "model_uncertain_human_pass", "model_pass_human_reject", "model_unsure"
]


class HistoryRow(BaseModel):
    part_id: str
    station_id: str
    captured_utc: str
    verdict: str = Field(description="the model's verdict: pass, reject, uncertain or failsafe")
    reason: str
    score: float | None
    model_id: str
    state: str = Field(description="info, pending, claimed, resolved or expired")
    human_verdict: str | None = Field(description="reject or pass when an inspector decided")
    resolved_by: str | None
    resolved_utc: str | None
    late: bool = Field(description="the human verdict came after the gate deadline")
    disposition: str | None = Field(description="what the gate did: reject, divert, stop_line, pass or missed")
    disposition_origin: str | None
    origin: Origin = Field(description="who decided: the model alone, a human, the fail-safe, or nobody yet")


class HistoryPage(BaseModel):
    total: int = Field(description="rows matching the filters, over all pages")
    limit: int
    offset: int
    items: list[HistoryRow] = Field(description="newest capture first")


class DisagreementRow(BaseModel):
    part_id: str
    station_id: str
    captured_utc: str
    model_verdict: str
    human_verdict: str
    kind: DisagreementKind
    inspector: str
    model_id: str
    score: float | None


class DisagreementCount(BaseModel):
    key: str = Field(description="the inspector's user name or the model id")
    reviewed: int = Field(description="human verdicts given (the denominator)")
    disagreements: int = Field(description="the human overruled the model's reject/uncertain/pass")
    model_unsure: int = Field(description="the model said uncertain and the human rejected: agreement, but unsure")


class Disagreements(BaseModel):
    reviewed: int
    disagreements: int
    model_unsure: int
    by_kind: dict[str, int]
    by_inspector: list[DisagreementCount]
    by_model: list[DisagreementCount]
    items: list[DisagreementRow] = Field(description="newest capture first, disagreements and unsure ones")


class InspectorCounts(BaseModel):
    inspector: str
    reject: int
    pass_: int = Field(alias="pass", serialization_alias="pass")
    escalate: int
    late: int

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class StationCounts(BaseModel):
    station_id: str
    parts: int
    passed: int = Field(description="model verdict pass")
    rejected: int = Field(description="model verdict reject")
    uncertain: int
    failsafe: int = Field(description="model verdict failsafe, or the fail-safe acted at the gate")


class Kpis(BaseModel):
    since_utc: str = Field(description="start of the window: parts captured at or after this")
    until_utc: str
    parts: int
    first_minute: str = Field(description="UTC minute (YYYY-MM-DDTHH:MM) of parts_per_minute[0]")
    parts_per_minute: list[int] = Field(
        description="parts captured in each minute from first_minute to now, zeros included (a plain list: "
        "a week is 10,080 minutes)"
    )
    yield_: float | None = Field(
        alias="yield", serialization_alias="yield", description="share of parts whose final verdict is pass"
    )
    reject_rate: float | None = Field(description="share of parts the model rejected")
    uncertain_rate: float | None = Field(description="share of parts the model was uncertain about")
    failsafe_rate: float | None = Field(description="share with a failsafe verdict or a fail-safe gate action")
    backlog: int = Field(description="items waiting for a human now (pending + claimed), any age")
    verdict_p50_s: float | None = Field(description="median seconds from receipt to human verdict")
    verdict_p90_s: float | None
    verdicts_timed: int = Field(description="human verdicts in the window the percentiles cover")
    late_verdicts: int = Field(description="human verdicts in the window that came after the gate deadline")
    by_inspector: list[InspectorCounts]
    by_station: list[StationCounts]

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ExportSummary(BaseModel):
    out_dir: str
    good: int = Field(description="frames written to good/ (human verdict pass)")
    defect: int = Field(description="frames written to defect/ (human verdict reject)")
    heatmaps: int
    skipped: list[str] = Field(description="part ids with a human verdict but no stored frame")
    labels_csv: str
