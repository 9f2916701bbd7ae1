"""One replayed file: its identity, ground truth and decision (or why it could not be decided)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from inspection.contracts import Decision
from inspection.strict import StrictModel

Label = Literal["good", "defect"]


class ReplayRow(StrictModel):
    path: str = Field(description="file path relative to the replayed folder")
    sha256: str = Field(description="content hash of the file")
    label: Label | None = Field(default=None, description="ground truth from folder names or labels CSV")
    status: Literal["decided", "failed"]
    failure: str | None = Field(default=None, description="why the file could not be decided")
    decision: Decision | None = None
    challenger: Decision | None = Field(default=None, description="the --compare model's decision")

    @property
    def key(self) -> tuple[str, str, str, str]:
        return run_key(self.path, self.sha256, self.decision, self.challenger)

    @property
    def misclassified(self) -> bool:
        if self.decision is None or self.label is None:
            return False
        v = self.decision.verdict
        return (self.label == "defect" and v == "pass") or (self.label == "good" and v == "reject")


def decision_id(decision: Decision | None) -> str:
    return f"{decision.model_id}/{decision.thresholds_version}" if decision else "-"


def run_key(
    path: str, sha256: str, decision: Decision | None, challenger: Decision | None
) -> tuple[str, str, str, str]:
    """What makes a row reusable on resume: same file content, same model(s) and thresholds."""
    return (path, sha256, decision_id(decision), decision_id(challenger))


CSV_COLUMNS = (
    "path",
    "sha256",
    "label",
    "status",
    "failure",
    "verdict",
    "reason",
    "score",
    "regions",
    "largest_defect_mm2",
    "latency_ms",
    "model_id",
    "thresholds_version",
    "calibration_id",
    "challenger_verdict",
    "challenger_score",
    "challenger_model_id",
)


def largest_mm2(decision: Decision | None) -> str:
    """Area of the largest region on the part; empty without regions or without a scale calibration."""
    if decision is None or not decision.regions or decision.regions[0].area_mm2 is None:
        return ""
    return f"{decision.regions[0].area_mm2:g}"


def csv_record(row: ReplayRow) -> dict[str, object]:
    d, c = row.decision, row.challenger
    return {
        "path": row.path,
        "sha256": row.sha256,
        "label": row.label or "",
        "status": row.status,
        "failure": row.failure or "",
        "verdict": d.verdict if d else "",
        "reason": d.reason if d else "",
        "score": "" if d is None or d.score is None else f"{d.score:.6f}",
        "regions": ";".join(f"{r.x},{r.y},{r.width},{r.height},{r.area_px:g}" for r in d.regions) if d else "",
        "largest_defect_mm2": largest_mm2(d),
        "latency_ms": d.latency_ms.get("total", "") if d else "",
        "model_id": d.model_id if d else "",
        "thresholds_version": d.thresholds_version if d else "",
        "calibration_id": (d.calibration_id or "") if d else "",
        "challenger_verdict": c.verdict if c else "",
        "challenger_score": "" if c is None or c.score is None else f"{c.score:.6f}",
        "challenger_model_id": c.model_id if c else "",
    }
