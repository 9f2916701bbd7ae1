"""Geometry and clean rendering of a turned steel flange lying on a conveyor belt."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np


@dataclass(frozen=True)
class FlangeGeometry:
    """Where the flange sits in the image and the size of its features, in pixels."""

    cx: float
    cy: float
    angle: float
    r_outer: float
    r_bore: float
    r_bolt_circle: float
    r_hole: float
    n_holes: int

    def hole_centres(self) -> list[tuple[float, float]]:
        step = 2 * math.pi / self.n_holes
        return [
            (
                self.cx + self.r_bolt_circle * math.cos(self.angle + k * step),
                self.cy + self.r_bolt_circle * math.sin(self.angle + k * step),
            )
            for k in range(self.n_holes)
        ]


@dataclass
class Layers:
    """The scene before it is lit and sensed; defects edit these layers in place."""

    geometry: FlangeGeometry
    surface: np.ndarray  # float32 grey level of the metal, everywhere
    belt: np.ndarray  # float32 grey level of the belt, shadow included
    coverage: np.ndarray  # float32 0..1, how much of each pixel is metal
    omitted_holes: set[int] = field(default_factory=set)


@lru_cache(maxsize=4)
def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates, cached because every render of a size needs the same grid."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def edge(distance_inside: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage from a signed distance (positive inside), one pixel wide."""
    return np.clip(distance_inside + 0.5, 0.0, 1.0)


def sample_geometry(rng: np.random.Generator, width: int, height: int, jitter: float) -> FlangeGeometry:
    r_outer = float(rng.uniform(168.0, 180.0))
    return FlangeGeometry(
        cx=width / 2 + float(rng.uniform(-jitter, jitter)),
        cy=height / 2 + float(rng.uniform(-jitter, jitter)),
        angle=float(rng.uniform(0.0, 2 * math.pi)),
        r_outer=r_outer,
        r_bore=r_outer * float(rng.uniform(0.36, 0.40)),
        r_bolt_circle=r_outer * float(rng.uniform(0.67, 0.70)),
        r_hole=r_outer * float(rng.uniform(0.075, 0.085)),
        n_holes=6,
    )


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Low-frequency noise in -1..1: a coarse random grid upsampled smoothly."""
    coarse = rng.uniform(-1.0, 1.0, size=(cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def render_belt(rng: np.random.Generator, geom: FlangeGeometry, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    height, width = yy.shape
    base = float(rng.uniform(40.0, 70.0))
    period = float(rng.uniform(5.0, 7.0))
    weave = 2.5 * np.sin(xx * (2 * math.pi / period)) * np.sin(yy * (2 * math.pi / period))
    belt = base + weave + 6.0 * smooth_noise(rng, height, width, 6)
    # The part casts a soft shadow down-right of itself.
    dx, dy = 4.0, 5.0
    r_shadow = np.hypot(xx - (geom.cx + dx), yy - (geom.cy + dy))
    shadow = cv2.GaussianBlur(edge(geom.r_outer - r_shadow), (0, 0), 3.0)
    return (belt * (1.0 - 0.35 * shadow)).astype(np.float32)


def render_surface(rng: np.random.Generator, geom: FlangeGeometry, r: np.ndarray, theta: np.ndarray) -> np.ndarray:
    base = float(rng.uniform(135.0, 165.0))
    turning_period = float(rng.uniform(2.5, 4.0))
    turning = float(rng.uniform(1.0, 2.0)) * np.sin(r * (2 * math.pi / turning_period) + rng.uniform(0, 6.3))
    # Turned surfaces reflect in a bow-tie streak across the centre.
    light = float(rng.uniform(0.0, math.pi))
    streak = float(rng.uniform(12.0, 35.0)) * np.exp(-(np.sin(theta - light) ** 2) / (2 * 0.15**2))
    shading = 8.0 * (r / geom.r_outer)
    surface = base + turning + streak + shading
    # Chamfers: a bright bevel just inside the rim, a dark one at the bore.
    surface += 25.0 * np.exp(-((r - (geom.r_outer - 2.5)) ** 2) / 2.0)
    surface -= 30.0 * np.exp(-((r - (geom.r_bore + 2.0)) ** 2) / 2.0)
    return surface.astype(np.float32)


def render_layers(rng: np.random.Generator, width: int, height: int, jitter: float, omitted_holes: set[int]) -> Layers:
    yy, xx = pixel_grid(height, width)
    geom = sample_geometry(rng, width, height, jitter)
    dx, dy = xx - geom.cx, yy - geom.cy
    r = np.hypot(dx, dy)
    theta = np.arctan2(dy, dx)
    coverage = edge(geom.r_outer - r) * edge(r - geom.r_bore)
    for k, (hx, hy) in enumerate(geom.hole_centres()):
        if k not in omitted_holes:
            coverage *= edge(np.hypot(xx - hx, yy - hy) - geom.r_hole)
    return Layers(
        geometry=geom,
        surface=render_surface(rng, geom, r, theta),
        belt=render_belt(rng, geom, yy, xx),
        coverage=coverage.astype(np.float32),
        omitted_holes=omitted_holes,
    )
