"""The one decision function: model output + thresholds -> verdict. Every path calls this.

It is pure and total: any output it cannot vouch for is `failsafe`, never `pass`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from inspection.model_card import Thresholds
from inspection.outputs import ModelOutput

Verdict = Literal["pass", "reject", "uncertain", "failsafe"]


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str  # a stable code, counted and filtered on
    detail: str  # the same, for a person
    score: float


def failsafe(reason: str, detail: str, score: float = float("nan")) -> Judgement:
    return Judgement("failsafe", reason, detail, score)


def decide(output: ModelOutput, thresholds: Thresholds) -> Judgement:
    s = output.score
    if output.problem is not None:
        return failsafe("invalid_output", output.problem, s)
    if not math.isfinite(s):
        return failsafe("non_finite_score", f"model score is {s}", s)
    if not 0.0 <= s <= 1.0:
        return failsafe("score_out_of_range", f"model score {s:.6g} is outside 0..1", s)
    if output.heatmap is not None and not np.isfinite(output.heatmap).all():
        return failsafe("non_finite_map", "defect map holds NaN or infinite values", s)
    if s < thresholds.pass_below:
        return Judgement("pass", "below_pass_threshold", f"score {s:.3f} < pass_below {thresholds.pass_below}", s)
    if s >= thresholds.reject_above:
        return Judgement(
            "reject", "above_reject_threshold", f"score {s:.3f} >= reject_above {thresholds.reject_above}", s
        )
    return Judgement(
        "uncertain",
        "between_thresholds",
        f"score {s:.3f} between pass_below {thresholds.pass_below} and reject_above {thresholds.reject_above}",
        s,
    )
