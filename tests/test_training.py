"""The training recipe end to end on a tiny budget: render, fit, export, parity, release."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspection.golden import require_golden
from inspection.model_card import load_card
from inspection.paths import PROJECT_ROOT
from inspection.runtime import ModelRuntime
from inspection.training.pipeline import train_model
from inspection.training.recipe import SeedRange, load_recipe

BUNDLED_RECIPE = PROJECT_ROOT / "models" / "flange_defect" / "recipe.toml"


@pytest.mark.slow
@pytest.mark.train
def test_tiny_recipe_releases_a_loadable_model_with_golden_parity(tmp_path: Path) -> None:
    recipe = load_recipe(BUNDLED_RECIPE).model_copy(
        update={
            "iterations": 3,
            "batch_size": 2,
            "train": SeedRange(start=1_000_000, count=8),
            "validation": SeedRange(start=2_000_000, count=8),
            "release_test": SeedRange(start=3_000_000, count=4),
            "golden": SeedRange(start=4_000_000, count=2),
        }
    )
    card = train_model(recipe, tmp_path)

    onnx_path = tmp_path / "flange_defect.onnx"
    assert load_card(tmp_path / "flange_defect.card.json") == card
    runtime = ModelRuntime.load(onnx_path)
    assert [r.ok for r in require_golden(runtime)] == [True, True]
    assert card.thresholds.pass_below <= card.thresholds.reject_above
    assert card.training["export_parity_max_abs"] <= 1e-4  # type: ignore[operator]
    assert {"release_test", "novel_kinds", "detection_by_kind"} <= set(card.metrics)


def test_bundled_recipe_seed_ranges_are_disjoint() -> None:
    recipe = load_recipe(BUNDLED_RECIPE)
    ranges = [recipe.train, recipe.validation, recipe.release_test, recipe.golden]
    seen: set[int] = set()
    for r in ranges:
        seeds = set(r.seeds())
        assert not seeds & seen, f"seed range starting {r.start} overlaps another"
        seen |= seeds
