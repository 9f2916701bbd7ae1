"""Calibration records as the calibrate commands write them, built quickly for tests of their users."""

from __future__ import annotations

import numpy as np

from calibration.thresholds import Counts, ThresholdsCalibration, bootstrap_rates, choose_thresholds, estimate_rates


def thresholds_file(model_id: str) -> ThresholdsCalibration:
    """A thresholds file as `inspection calibrate thresholds` writes it, from beta-distributed scores."""
    rng = np.random.default_rng(1)
    scores = np.concatenate([rng.beta(2, 8, 300), rng.beta(8, 2, 300)])
    labels = np.repeat([False, True], 300)
    choice = choose_thresholds(scores, labels, 0.05, 0.05)
    boot = bootstrap_rates(scores, labels, 0.05, 0.05, rng=rng, resamples=200)
    return ThresholdsCalibration(
        model_id=model_id,
        model_name="flange",
        pass_below=choice.pass_below,
        reject_above=choice.reject_above,
        region_threshold=0.5,
        min_region_px=4,
        escape_rate_target=0.05,
        false_reject_rate_target=0.05,
        crossed=choice.crossed,
        false_reject_target_met=choice.false_reject_met,
        rates=estimate_rates(scores, labels, choice, boot),
        counts=Counts(good=300, defect=300, failsafe=0, skipped=0),
        confidence=0.95,
        resamples=200,
        seed=1,
        source_folder="synthetic",
    ).stamped()
