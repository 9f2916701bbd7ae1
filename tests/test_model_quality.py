"""The bundled model on parts it never saw: the quality acceptance of the shipped model."""

from __future__ import annotations

import pytest

from camera.sim import NOVEL_KINDS, TRAINING_KINDS
from inspection.config import StationConfig
from inspection.evaluation import evaluate, rendered_samples
from inspection.factory import build_inspector
from inspection.inspector import Inspector

# Fresh parts: renderer seeds far above every range the recipe used (checked below).
FRESH_START = 1_000_000_000
FRESH_PARTS = 300
NOVEL_PARTS = 60


@pytest.fixture(scope="module")
def inspector() -> Inspector:
    return build_inspector(StationConfig())  # loads the bundled model and checks golden parity


def test_fresh_seeds_were_never_used_in_training(inspector: Inspector) -> None:
    training = inspector.runtime.card.training
    for key in ("train_seeds", "validation_seeds", "golden_seeds"):
        seeds = training[key]
        assert isinstance(seeds, list)
        start, stop = seeds
        assert stop <= FRESH_START or start >= FRESH_START + FRESH_PARTS + NOVEL_PARTS, key


@pytest.mark.slow
def test_bundled_model_meets_quality_targets_on_fresh_parts(inspector: Inspector) -> None:
    report = evaluate(inspector, rendered_samples(range(FRESH_START, FRESH_START + FRESH_PARTS)))
    assert report.n_defect > 100 and report.n_good > 100
    assert report.auroc >= 0.99, report.summary()
    assert report.escape_rate <= 0.01, (report.summary(), report.escapes)
    assert report.false_reject_rate <= 0.02, (report.summary(), report.false_rejects)
    assert report.uncertain_share <= 0.05, report.summary()
    assert report.failsafe == 0
    assert set(report.detection_by_kind) == set(TRAINING_KINDS)


@pytest.mark.slow
def test_novel_defect_kind_detection_is_reported_and_meets_target(inspector: Inspector) -> None:
    start = FRESH_START + FRESH_PARTS
    report = evaluate(inspector, rendered_samples(range(start, start + NOVEL_PARTS), kinds=NOVEL_KINDS, defective=True))
    rates = report.detection_by_kind
    print(f"novel kinds detection: {rates}")
    assert set(rates) == set(NOVEL_KINDS)
    assert all(rate >= 0.9 for rate in rates.values()), rates
