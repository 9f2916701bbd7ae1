"""Raw ONNX outputs -> one score and an optional heatmap, for each supported output convention.

Never raises: an output that cannot be read becomes a `ModelOutput` with a `problem`, which the
decision function turns into a fail-safe decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspection.model_card import AnomalyOutput, ClassifierOutput, SegmentationOutput


@dataclass(frozen=True)
class ModelOutput:
    score: float
    heatmap: np.ndarray | None  # float32 (h, w) over the model input, 0..1 where valid
    problem: str | None = None


def _as_map(name: str, value: np.ndarray) -> np.ndarray | str:
    if value.size == 0:
        return f"output {name!r} is empty (shape {value.shape})"
    if value.ndim == 4 and value.shape[:2] == (1, 1):
        return np.asarray(value[0, 0])
    if value.ndim == 3 and value.shape[0] == 1:
        return np.asarray(value[0])
    return f"output {name!r} has shape {value.shape}; expected (1, 1, H, W) or (1, H, W)"


def _as_scalar(name: str, value: np.ndarray) -> float | str:
    if value.size != 1:
        return f"output {name!r} has shape {value.shape}; expected a single score"
    return float(value.reshape(-1)[0])


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x))
    return np.asarray(e / np.sum(e))


def interpret(raw: dict[str, np.ndarray], spec: SegmentationOutput | AnomalyOutput | ClassifierOutput) -> ModelOutput:
    if isinstance(spec, ClassifierOutput):
        logits = raw[spec.logits]
        if logits.ndim != 2 or logits.shape[0] != 1 or logits.shape[1] <= spec.defect_class:
            return ModelOutput(
                float("nan"), None, f"output {spec.logits!r} has shape {logits.shape}; expected (1, classes)"
            )
        row = logits[0].astype(np.float64)
        if spec.activation == "softmax":
            row = _softmax(row)
        elif spec.activation == "sigmoid":
            row = 1.0 / (1.0 + np.exp(-row))
        return ModelOutput(float(row[spec.defect_class]), None)

    heatmap = _as_map(spec.map, raw[spec.map])
    if isinstance(heatmap, str):
        return ModelOutput(float("nan"), None, heatmap)
    score: float | str
    if isinstance(spec, AnomalyOutput):
        lo, hi = spec.score_range
        score = _as_scalar(spec.score, raw[spec.score])
        heatmap = np.clip((heatmap - lo) / (hi - lo), 0.0, 1.0)
        if isinstance(score, float):
            score = (score - lo) / (hi - lo)
    elif spec.score is not None:
        score = _as_scalar(spec.score, raw[spec.score])
    else:
        score = float(np.max(heatmap))
    if isinstance(score, str):
        return ModelOutput(float("nan"), heatmap, score)
    return ModelOutput(score, heatmap)
