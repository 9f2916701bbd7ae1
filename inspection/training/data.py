"""Rendered training data, preprocessed by the runtime's own preprocessing."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from camera.sim import SceneParams, render_part
from inspection.model_card import InputSpec
from inspection.preprocess import Preprocessor, roi_box
from inspection.progress import progress

TARGET_STRIDE = 4  # the network predicts at 1/4 of its input resolution


@dataclass
class Dataset:
    inputs: np.ndarray  # float32 (N, C, H, W), ready for the network
    targets: np.ndarray  # float32 (N, 1, H/4, W/4), 1 where any defect pixel falls in the cell
    labels: np.ndarray  # float32 (N,), 1 for defective parts
    kinds: list[tuple[str, ...]]


def mask_target(mask: np.ndarray, spec: InputSpec) -> np.ndarray:
    x, y, w, h = roi_box(spec.roi, mask.shape[0], mask.shape[1])
    height, width = spec.size
    cells = cv2.resize(
        mask[y : y + h, x : x + w].astype(np.float32) / 255.0,
        (width // TARGET_STRIDE, height // TARGET_STRIDE),
        interpolation=cv2.INTER_AREA,
    )
    return (cells > 0.01).astype(np.float32)


def _render_one(args: tuple[int, InputSpec, tuple[str, ...] | None]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    seed, spec, kinds = args
    part = render_part(seed, kinds=kinds, params=SceneParams())
    return Preprocessor(spec)(part.image).copy()[0], mask_target(part.mask, spec), part.defects


def render_dataset(
    seeds: range, spec: InputSpec, label: str, kinds: tuple[str, ...] | None = None, workers: int = 2
) -> Dataset:
    n = len(seeds)
    height, width = spec.size
    inputs = np.zeros((n, spec.channels, height, width), dtype=np.float32)
    targets = np.zeros((n, 1, height // TARGET_STRIDE, width // TARGET_STRIDE), dtype=np.float32)
    kinds_out: list[tuple[str, ...]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool, progress(f"render {label}", n) as advance:
        jobs = pool.map(_render_one, [(s, spec, kinds) for s in seeds], chunksize=16)
        for i, (tensor, target, defects) in enumerate(jobs):
            inputs[i], targets[i, 0] = tensor, target
            kinds_out.append(defects)
            advance()
    labels = np.array([1.0 if k else 0.0 for k in kinds_out], dtype=np.float32)
    return Dataset(inputs, targets, labels, kinds_out)
