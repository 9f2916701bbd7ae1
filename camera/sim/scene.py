"""One seeded camera frame of a flange: layers, defects, dust, light and sensor noise."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from camera.sim.defects import DEFECT_KINDS, TRAINING_KINDS
from camera.sim.part import Layers, pixel_grid, render_layers


@dataclass(frozen=True)
class SceneParams:
    """What the simulated camera sees; the defaults match the bundled model's training data."""

    width: int = 800
    height: int = 600
    jitter_px: float = 24.0
    defect_probability: float = 0.5
    kinds: tuple[str, ...] = TRAINING_KINDS
    min_contrast_sigma: float = 3.0
    max_contrast_sigma: float = 12.0
    second_defect_probability: float = 0.15
    dust_probability: float = 0.5


@dataclass(frozen=True)
class RenderedPart:
    """A mono8 frame with its ground truth."""

    seed: int
    image: np.ndarray  # uint8 (H, W)
    mask: np.ndarray  # uint8 (H, W), 255 on defect pixels
    defects: tuple[str, ...]
    noise_sigma: float

    @property
    def is_defective(self) -> bool:
        return bool(self.defects)


def add_dust(image: np.ndarray, rng: np.random.Generator, sigma: float) -> None:
    """Specks of 1-2 px anywhere in the frame: harmless, and the model must learn to ignore them.

    They stay smaller and fainter than the smallest pit (radius 2.5 px), as real dust does.
    """
    height, width = image.shape
    yy, xx = pixel_grid(height, width)
    for _ in range(int(rng.integers(1, 6))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.5, 1.0)
        x0, x1 = max(0, int(x) - 3), min(width, int(x) + 4)
        y0, y1 = max(0, int(y) - 3), min(height, int(y) + 4)
        d = np.hypot(xx[y0:y1, x0:x1] - x, yy[y0:y1, x0:x1] - y)
        sign = 1.0 if rng.random() < 0.3 else -1.0
        image[y0:y1, x0:x1] += sign * rng.uniform(3.0, 8.0) * sigma * np.clip(r + 0.5 - d, 0.0, 1.0)


def light_and_sense(image: np.ndarray, rng: np.random.Generator, read_sigma: float, shot_gain: float) -> np.ndarray:
    """Illumination drift (gain and gradient), then read and shot noise, then 8-bit quantisation."""
    height, width = image.shape
    yy, xx = pixel_grid(height, width)
    gain = rng.uniform(0.88, 1.12)
    gx, gy = rng.uniform(-0.08, 0.08, size=2)
    lit = image * (gain * (1.0 + gx * (xx / width - 0.5) + gy * (yy / height - 0.5)))
    noise_sigma = np.sqrt(read_sigma**2 + shot_gain * np.maximum(lit, 0.0))
    noisy = lit + rng.standard_normal(lit.shape, dtype=np.float32) * noise_sigma
    return np.asarray(np.clip(np.rint(noisy), 0, 255), dtype=np.uint8)


def render_part(
    seed: int,
    defective: bool | None = None,
    kinds: tuple[str, ...] | None = None,
    params: SceneParams = SceneParams(),
) -> RenderedPart:
    """Renders frame `seed`; the same seed and params always give the same pixels."""
    rng = np.random.default_rng(seed)
    if defective is None:
        defective = bool(rng.random() < params.defect_probability)
    pool = kinds or params.kinds
    chosen: list[str] = []
    if defective:
        chosen.append(str(rng.choice(pool)))
        if rng.random() < params.second_defect_probability:
            chosen.append(str(rng.choice([k for k in pool if k not in chosen] or pool)))

    omitted = {int(rng.integers(0, 6))} if "missing_hole" in chosen else set()
    layers: Layers = render_layers(rng, params.width, params.height, params.jitter_px, omitted)

    read_sigma = float(rng.uniform(1.5, 3.0))
    shot_gain = float(rng.uniform(0.01, 0.04))
    sigma = math.sqrt(read_sigma**2 + shot_gain * 150.0)  # noise on bare metal
    lo, hi = math.log(params.min_contrast_sigma), math.log(params.max_contrast_sigma)

    mask = np.zeros((params.height, params.width), dtype=bool)
    for kind in chosen:
        contrast = math.exp(rng.uniform(lo, hi)) * sigma
        mask |= DEFECT_KINDS[kind](layers, rng, contrast)

    c = layers.coverage
    image = c * layers.surface + (1.0 - c) * layers.belt
    if rng.random() < params.dust_probability:
        add_dust(image, rng, sigma)
    return RenderedPart(
        seed=seed,
        image=light_and_sense(image, rng, read_sigma, shot_gain),
        mask=(mask.astype(np.uint8) * 255),
        defects=tuple(chosen),
        noise_sigma=sigma,
    )
