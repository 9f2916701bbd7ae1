"""Golden samples: known good and known bad parts that the station must judge right before production.

A model card's golden images prove the model file is the one released (scores unchanged); golden
samples prove the whole station (calibration, thresholds, model) still judges known parts right.
They are decided by the station's own `Inspector`, with its calibration and thresholds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from calibration.record import CalibrationError
from inspection.errors import GoldenSampleError, ImageError
from inspection.images import iter_image_files, read_image
from inspection.inspector import Inspector
from inspection.labels import label_of
from inspection.timebase import utc_now_text

Expected = Literal["pass", "reject"]


@dataclass(frozen=True)
class GoldenJudgement:
    image: str
    expected: Expected
    verdict: str
    score: float | None
    threshold: float  # what the score must clear: pass_below for a good sample, reject_above for a bad one
    margin: float

    @property
    def clearance(self) -> float | None:
        """How far the score is on the expected side of its threshold (negative: on the wrong side)."""
        if self.score is None:
            return None
        return self.threshold - self.score if self.expected == "pass" else self.score - self.threshold

    @property
    def ok(self) -> bool:
        clearance = self.clearance
        return self.verdict == self.expected and clearance is not None and clearance >= self.margin

    def __str__(self) -> str:
        if self.score is None:
            return f"{self.image}: expected {self.expected}, judged {self.verdict} (no score)"
        name = "pass_below" if self.expected == "pass" else "reject_above"
        clearance = self.clearance or 0.0
        side = "below" if self.score < self.threshold else "above"
        needed = f", {self.margin:.3f} needed" if self.margin else ""
        return (
            f"{self.image}: expected {self.expected}, judged {self.verdict} "
            f"(score {self.score:.3f}, {abs(self.score - self.threshold):.3f} {side} {name} {self.threshold:.3f}; "
            f"clearance {clearance:+.3f}{needed})"
        )


@dataclass
class GoldenReport:
    folder: str
    model_id: str
    thresholds_version: str
    calibration_id: str | None
    utc: str = field(default_factory=utc_now_text)
    judgements: list[GoldenJudgement] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # a golden sample that cannot be read is a failed check

    @property
    def misjudged(self) -> list[GoldenJudgement]:
        return [j for j in self.judgements if not j.ok]

    @property
    def ok(self) -> bool:
        return not self.misjudged and not self.unreadable

    def summary(self) -> str:
        good = sum(j.expected == "pass" for j in self.judgements)
        return (
            f"{len(self.judgements) - len(self.misjudged)} of {len(self.judgements)} golden samples judged right "
            f"({good} good, {len(self.judgements) - good} bad), {len(self.unreadable)} unreadable"
        )

    def as_dict(self) -> dict[str, object]:
        rows = [{**asdict(j), "clearance": j.clearance, "ok": j.ok} for j in self.judgements]
        return {**asdict(self), "judgements": rows, "ok": self.ok}


def judge_golden(folder: Path, inspector: Inspector, margin: float = 0.0) -> GoldenReport:
    """Decides every labelled image below `folder` (good/ and defect/ as in replay) with the station's code."""
    if not folder.is_dir():
        raise CalibrationError(f"golden sample folder {folder} does not exist; point calibration.golden.folder at it")
    thresholds = inspector.thresholds
    report = GoldenReport(str(folder), inspector.runtime.model_id, thresholds.version, inspector.calibration.id)
    for path in iter_image_files(folder):
        name = path.relative_to(folder).as_posix()
        defective = label_of(path, folder)
        if defective is None:
            continue  # notes, masks and unsorted files are not samples
        try:
            image = read_image(path)
        except ImageError as exc:
            report.unreadable.append(f"{name}: {exc}")
            continue
        decision = inspector.inspect(image, f"golden:{name}").decision
        expected: Expected = "reject" if defective else "pass"
        threshold = thresholds.reject_above if defective else thresholds.pass_below
        report.judgements.append(GoldenJudgement(name, expected, decision.verdict, decision.score, threshold, margin))
    kinds = {j.expected for j in report.judgements}
    if kinds != {"pass", "reject"}:
        raise CalibrationError(
            f"golden sample folder {folder} needs known good images (in good/) and known bad ones (in defect/); "
            f"found {len(report.judgements)} labelled image(s), expecting only {sorted(kinds) or 'nothing'}"
        )
    return report


def require_golden(report: GoldenReport) -> None:
    """Raises naming each misjudged sample and by how much."""
    if report.ok:
        return
    problems = [str(j) for j in report.misjudged] + [f"unreadable {u}" for u in report.unreadable]
    raise GoldenSampleError(
        f"golden samples in {report.folder}: {report.summary()}; production must not start: " + "; ".join(problems)
    )
