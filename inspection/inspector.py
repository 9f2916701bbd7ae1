"""Frame -> traceable decision: preprocessing, model, decision function and regions, timed.

Replay, evaluation and the inline station all decide parts through `Inspector.inspect`, so the
paths cannot drift apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from calibration.correction import NONE, FrameCalibration
from inspection.contracts import Decision, Region
from inspection.decide import Judgement, decide, failsafe
from inspection.errors import ImageError
from inspection.model_card import Thresholds
from inspection.outputs import ModelOutput, interpret
from inspection.regions import find_regions
from inspection.runtime import ModelRuntime


@dataclass(frozen=True)
class Inspection:
    decision: Decision
    output: ModelOutput | None  # None when the model never ran
    image: np.ndarray  # the frame as decided: corrected by the calibration (regions are in its pixels)


def _ms(start_ns: int, end_ns: int) -> float:
    return round((end_ns - start_ns) / 1e6, 3)


class Inspector:
    def __init__(
        self,
        runtime: ModelRuntime,
        thresholds: Thresholds,
        station_id: str = "offline",
        calibration: FrameCalibration = NONE,
    ) -> None:
        self.runtime = runtime
        self.thresholds = thresholds
        self.station_id = station_id
        self.calibration = calibration

    def inspect(self, image: np.ndarray, part_id: str) -> Inspection:
        thresholds = self.thresholds  # one set per part, even if a supervisor changes them meanwhile
        t0 = time.perf_counter_ns()
        output: ModelOutput | None = None
        latency: dict[str, float] = {}
        regions: list[Region] = []
        try:
            t_pre = t0
            if self.calibration.corrections:
                image = self.calibration.correct(image)
                t_pre = time.perf_counter_ns()
                latency["correct"] = _ms(t0, t_pre)
            tensor = self.runtime.preprocess(image)
            t1 = time.perf_counter_ns()
            latency["preprocess"] = _ms(t_pre, t1)
            raw = self.runtime.infer(tensor)
            t2 = time.perf_counter_ns()
            latency["model"] = _ms(t1, t2)
            output = interpret(raw, self.runtime.card.output)
            judgement = decide(output, thresholds)
            if output.heatmap is not None and judgement.verdict != "failsafe":
                roi = self.runtime.preprocess.spec.roi  # the card's, or the config's override
                found = find_regions(output.heatmap, thresholds, image.shape[:2], roi)
                regions = [self.calibration.measure(region) for region in found]
            latency["decide"] = _ms(t2, time.perf_counter_ns())
        except ImageError as exc:
            judgement = failsafe("bad_image", str(exc))
        except Exception as exc:  # a model crash must become a fail-safe decision, not a lost part
            judgement = failsafe("model_error", f"{type(exc).__name__}: {exc}")
        latency["total"] = _ms(t0, time.perf_counter_ns())
        return Inspection(self.record(part_id, judgement, regions, latency, thresholds), output, image)

    def record(
        self,
        part_id: str,
        judgement: Judgement,
        regions: list[Region],
        latency: dict[str, float],
        thresholds: Thresholds | None = None,
    ) -> Decision:
        score = judgement.score
        return Decision(
            part_id=part_id,
            station_id=self.station_id,
            verdict=judgement.verdict,
            reason=judgement.reason,
            detail=judgement.detail,
            score=score if np.isfinite(score) else None,
            regions=tuple(regions),
            model_id=self.runtime.model_id,
            thresholds_version=(thresholds or self.thresholds).version,
            calibration_id=self.calibration.id,
            latency_ms=latency,
        )
