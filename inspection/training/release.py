"""Turns an exported ONNX file into a released model: thresholds, golden images, metrics, card.

Everything here goes through the production runtime, so the card describes the model exactly
as the station will run it.
"""

from __future__ import annotations

import logging
import platform
from pathlib import Path

import cv2
import numpy as np

from camera.sim import NOVEL_KINDS, render_part
from inspection.evaluation import evaluate, rendered_samples
from inspection.images import read_image
from inspection.inspector import Inspector
from inspection.model_card import GoldenSample, ModelCard, SegmentationOutput, card_path_for, save_card
from inspection.progress import progress
from inspection.runtime import ModelRuntime, file_sha256
from inspection.training.recipe import Recipe

log = logging.getLogger(__name__)

NOVEL_SEED_OFFSET = 500_000  # novel-kind parts come from their own slice of the release range
NOVEL_COUNT = 100


def choose_thresholds(good: np.ndarray, defect: np.ndarray, recipe: Recipe) -> tuple[float, float]:
    """reject_above keeps false rejects under target; pass_below then spends the review budget.

    Escapes are the costly error, so pass_below goes as low as the budget of parts sent to a
    human allows on the validation set (never higher than the escape target alone would put it).
    When the classes separate, reject_above sits in the upper half of the gap.
    """
    defect_low = float(np.quantile(defect, recipe.target_escape_rate))
    good_high = float(np.quantile(good, 1.0 - recipe.target_false_reject_rate))
    if good_high < defect_low:
        mid, gap = (good_high + defect_low) / 2, defect_low - good_high
        pass_below, reject_above = mid - gap / 4, mid + gap / 4
    else:
        pass_below, reject_above = defect_low, good_high
    scores = np.concatenate([good, defect])
    below = np.sort(scores[scores < reject_above])[::-1]
    allowed = int(recipe.review_budget * len(scores))
    if allowed and len(below) >= allowed:
        pass_below = min(pass_below, float(below[allowed - 1]))
    return round(pass_below, 4), round(max(reject_above, pass_below), 4)


def validation_scores(runtime: ModelRuntime, recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    good: list[float] = []
    defect: list[float] = []
    with progress("validate", recipe.validation.count) as advance:
        for seed in recipe.validation.seeds():
            part = render_part(seed)
            (defect if part.is_defective else good).append(runtime.run(part.image).score)
            advance()
    return np.array(good), np.array(defect)


def write_golden(runtime: ModelRuntime, recipe: Recipe, out_dir: Path) -> tuple[GoldenSample, ...]:
    """Alternating good and defective reference parts, scored after a PNG round trip."""
    folder = out_dir / "golden"
    folder.mkdir(exist_ok=True)
    samples = []
    for i, seed in enumerate(recipe.golden.seeds()):
        part = render_part(seed, defective=bool(i % 2))
        label = "defect" if part.is_defective else "good"
        name = f"golden/{label}_{seed}.png"
        cv2.imwrite(str(out_dir / name), part.image)
        score = runtime.run(read_image(out_dir / name)).score
        samples.append(GoldenSample(image=name, expected_score=round(score, 6), label=label))
    return tuple(samples)


def release(onnx_path: Path, recipe: Recipe, training: dict[str, object]) -> ModelCard:
    out_dir = onnx_path.parent
    card = ModelCard(
        name=recipe.name,
        version=recipe.version,
        description=recipe.description,
        file=onnx_path.name,
        sha256=file_sha256(onnx_path),
        input=recipe.input,
        output=SegmentationOutput(map="defect_map", score="score"),
        thresholds=recipe.thresholds(0.5, 0.5),
    )
    runtime = ModelRuntime(onnx_path, card)
    good, defect = validation_scores(runtime, recipe)
    thresholds = recipe.thresholds(*choose_thresholds(good, defect, recipe))
    log.info("thresholds: pass below %.4f, reject at or above %.4f", thresholds.pass_below, thresholds.reject_above)
    golden = write_golden(runtime, recipe, out_dir)

    inspector = Inspector(runtime, thresholds)
    test = recipe.release_test
    report = evaluate(inspector, rendered_samples(test.seeds()), total=test.count)
    novel_seeds = range(test.start + NOVEL_SEED_OFFSET, test.start + NOVEL_SEED_OFFSET + NOVEL_COUNT)
    novel = evaluate(inspector, rendered_samples(novel_seeds, kinds=NOVEL_KINDS, defective=True), total=NOVEL_COUNT)
    metrics: dict[str, object] = {
        "release_test": {"seeds": [test.start, test.start + test.count], **report.summary()},
        "detection_by_kind": {k: round(v, 4) for k, v in report.detection_by_kind.items()},
        "novel_kinds": {"kinds": list(NOVEL_KINDS), "parts": NOVEL_COUNT, "detection_rate": novel.detection_by_kind},
        "validation": {
            "good_score_max": round(float(good.max()), 4),
            "defect_score_min": round(float(defect.min()), 4),
        },
    }
    card = card.model_copy(
        update={
            "thresholds": thresholds,
            "golden": golden,
            "training": {
                **training,
                "recipe": "models/flange_defect/recipe.toml",
                "seed": recipe.seed,
                "train_seeds": [recipe.train.start, recipe.train.start + recipe.train.count],
                "validation_seeds": [recipe.validation.start, recipe.validation.start + recipe.validation.count],
                "golden_seeds": [recipe.golden.start, recipe.golden.start + recipe.golden.count],
                "platform": f"{platform.machine()} {platform.python_version()}",
            },
            "metrics": metrics,
        }
    )
    save_card(card, card_path_for(onnx_path))
    return card
