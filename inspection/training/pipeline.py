"""`inspection model train`: render data, fit, export, check export parity, release."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from inspection.errors import ModelLoadError
from inspection.model_card import ModelCard, card_path_for, save_card
from inspection.runtime import SessionSettings, make_session
from inspection.training.data import render_dataset
from inspection.training.fit import export_onnx, fit, torch_scores
from inspection.training.recipe import Recipe
from inspection.training.release import release

PARITY_IMAGES = 64
PARITY_TOLERANCE = 1e-4


def export_parity(onnx_path: Path, net_scores: np.ndarray, inputs: np.ndarray, recipe: Recipe) -> float:
    """Largest |torch - onnxruntime| score difference; refuses an export that scores differently."""
    session = make_session(onnx_path, SessionSettings())
    onnx_scores = np.array([session.run(["score"], {recipe.input.name: x[None]})[0][0] for x in inputs])
    drift = float(np.max(np.abs(onnx_scores - net_scores)))
    if drift > PARITY_TOLERANCE:
        raise ModelLoadError(f"exported {onnx_path} scores differ from torch by up to {drift:.2e}")
    return drift


def train_model(recipe: Recipe, out_dir: Path) -> ModelCard:
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    data = render_dataset(recipe.train.seeds(), recipe.input, "render training parts")
    render_seconds = time.perf_counter() - started
    net, stats = fit(data, recipe)
    onnx_path = out_dir / f"{recipe.name}.onnx"
    export_onnx(net, recipe, onnx_path)
    probe = data.inputs[:PARITY_IMAGES]
    drift = export_parity(onnx_path, torch_scores(net, probe), probe, recipe)
    del data
    training = {
        **stats,
        "render_seconds": round(render_seconds, 1),
        "export_parity_max_abs": drift,
        "iterations": recipe.iterations,
        "batch_size": recipe.batch_size,
    }
    card = release(onnx_path, recipe, training)
    card = card.model_copy(
        update={"training": {**card.training, "total_seconds": round(time.perf_counter() - started, 1)}}
    )
    save_card(card, card_path_for(onnx_path))
    return card
